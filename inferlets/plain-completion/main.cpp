// A stateless completion endpoint, as a non-programmable server offers one: every request carries
// its whole prompt, which is prefilled from scratch into a fresh context, generates greedily and
// returns the tokens; nothing is kept between requests. The benchmarks use it as the "plain
// serving" baseline that the catalogue inferlets are compared with.
//
//   pie run plain-completion.wasm -- [--prompt <text>] [--tokens "<id> <id> ..."]...
//       [--max-tokens 16] [--top-k 0]
//   pie run plain-completion.wasm -- --serve     (then one request per message, options one a line)
//
// The prompt is the begin-of-sequence text followed by the --prompt and --tokens segments in the
// order given (each text tokenized on its own, as Context::fill does). See README.md for the reply.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pie/pie.h"

namespace {

struct Segment {
  bool is_text = true;
  std::string text;
  std::vector<uint32_t> ids;
};

struct Request {
  std::vector<Segment> prompt;
  uint32_t max_tokens = 16;
  uint32_t top_k = 0;  // 0: no distributions in the reply
};

pie::Result<uint32_t> parse_count(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const unsigned long n = std::strtoul(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || n > 1'000'000) {
    return pie::Error{"plain-completion: " + flag + " takes a count, not '" + value + "'"};
  }
  return static_cast<uint32_t>(n);
}

pie::Result<std::vector<uint32_t>> parse_ids(const std::string& value) {
  std::vector<uint32_t> ids;
  const char* p = value.c_str();
  while (true) {
    while (*p == ' ' || *p == ',') ++p;
    if (*p == '\0') break;
    char* end = nullptr;
    const unsigned long id = std::strtoul(p, &end, 10);
    if (end == p)
      return pie::Error{"plain-completion: --tokens takes token ids, not '" + value + "'"};
    ids.push_back(static_cast<uint32_t>(id));
    p = end;
  }
  return ids;
}

pie::Result<Request> parse(const std::vector<std::string>& options) {
  Request r;
  for (size_t i = 0; i < options.size(); ++i) {
    const std::string& flag = options[i];
    if (i + 1 >= options.size()) return pie::Error{"plain-completion: " + flag + " needs a value"};
    const std::string& value = options[++i];
    if (flag == "--prompt") {
      r.prompt.push_back({true, value, {}});
    } else if (flag == "--tokens") {
      auto ids = parse_ids(value);
      if (!ids) return ids.error();
      r.prompt.push_back({false, "", std::move(ids.value())});
    } else if (flag == "--max-tokens" || flag == "--top-k") {
      auto n = parse_count(flag, value);
      if (!n) return n.error();
      (flag == "--max-tokens" ? r.max_tokens : r.top_k) = n.value();
    } else {
      return pie::Error{"plain-completion: unknown option " + flag +
                        " (options: --prompt, --tokens, --max-tokens, --top-k; or --serve alone)"};
    }
  }
  if (r.max_tokens == 0) return pie::Error{"plain-completion: --max-tokens must be at least 1"};
  return r;
}

// Runs one request on a fresh context (freed on return, as a stateless server forgets it).
std::string complete(const pie::Model& model, const Request& request) {
  pie::Context context = model.create_context();
  context.fill(pie::ChatFormatter::begin_of_sequence(model));
  for (const Segment& s : request.prompt) {
    if (s.is_text) {
      context.fill(s.text);
    } else {
      context.fill_tokens(s.ids);
    }
  }
  const size_t prompt_length = context.token_ids().size();
  // With --top-k the engine hands each step's top-k distribution (temperature 1) to this picker,
  // which records it and still decodes greedily.
  std::string distributions;
  const pie::Sampler sampler =
      request.top_k == 0 ? pie::Sampler::greedy()
                         : pie::Sampler::custom(
                               1.0F,
                               [&distributions](const pie::Distribution& d) {
                                 distributions += "top";
                                 for (size_t i = 0; i < d.ids.size(); ++i) {
                                   char entry[48];
                                   std::snprintf(entry, sizeof entry, " %u:%.9g", d.ids[i],
                                                 static_cast<double>(d.probs[i]));
                                   distributions += entry;
                                 }
                                 distributions += '\n';
                                 return d.ids.front();
                               },
                               request.top_k);
  const std::string text = context.generate(sampler, pie::StopCondition::max(request.max_tokens));
  std::string reply = "passes " + std::to_string(context.forward_passes()) + "\ntokens";
  const std::vector<uint32_t>& ids = context.token_ids();
  for (size_t i = prompt_length; i < ids.size(); ++i) reply += " " + std::to_string(ids[i]);
  reply += "\n" + distributions + "text " + text;
  return reply;
}

// Splits a request message into its options, one a line.
std::vector<std::string> lines(const std::string& message) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= message.size()) {
    const size_t end = std::min(message.find('\n', start), message.size());
    out.push_back(message.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

PIE_MAIN(args) {
  const pie::Model model = pie::Model::first();
  if (args.size() == 1 && args[0] == "--serve") {
    // Requests until "quit"; a bad request is answered with "error <why>" and serving goes on.
    uint64_t served = 0;
    while (true) {
      const std::string message = pie::receive().get();
      if (message == "quit") break;
      auto request = parse(lines(message));
      pie::send(request ? complete(model, request.value()) : "error " + request.error().message);
      ++served;
    }
    return std::to_string(served) + " requests";
  }
  auto request = parse(args);
  if (!request) return request.error();
  if (request.value().prompt.empty()) {
    return pie::Error{"plain-completion: needs --prompt or --tokens (or --serve)"};
  }
  return complete(model, request.value());
}
