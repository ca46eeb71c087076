// Programmable vs plain serving, and the inferlet's cost per generated token, through one engine:
//
// patterns: for speculative decoding, prefix caching, a prefix tree and beam search, the catalogue
//   inferlet (launch to Completed) against what a non-programmable server forces on its client:
//   round trips to a stateless completion endpoint (inferlets/plain-completion, kept running in
//   --serve mode) that re-send the whole prompt every time, concurrently where the pattern allows.
//   The outputs must agree (greedy equalities).
// overhead: text-completion through the engine against the CPU backend's own loop (direct forward
//   passes, one token per pass, same model, same page size): wall and CPU time per token, end to
//   end for 8 and 8 + 8 x --tokens tokens, and the marginal cost of the extra ones.
//
//   catalogue_bench [--model <file>] [--only patterns|overhead] [--tokens N] [--rounds N]
//                   [--threads N]
//
// Every figure is the best of --rounds runs, the two sides interleaved (the machine is shared).
// The bench exits with 1 when outputs disagree.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "app/engine.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/model/model_file.h"
#include "backend/tokenizer/tokenizer.h"
#include "client/client.h"
#include "common/blake3.h"
#include "common/error.h"
#include "common/log.h"
#include "plain_reply.h"

namespace {

using namespace pie;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr uint32_t kPageSize = 16;

struct Settings {
  fs::path model;
  unsigned threads = 2;
  uint32_t tokens = 32;
  int rounds = 3;
};

// ---- The engine and its client ------------------------------------------------------------------

struct Outcome {
  std::vector<std::string> messages;
  std::string result;
};

class Bench {
 public:
  explicit Bench(const Settings& s)
      : dir_(fs::temp_directory_path() / ("pie_catalogue_bench_" + std::to_string(::getpid()))) {
    app::EngineConfig config = app::default_config();
    config.server.port = 0;
    config.server.enable_auth = false;
    config.runtime.cache_dir = dir_ / "cache";
    config.secret_file = dir_ / "auth_secret";
    app::ModelConfig model;
    model.path = s.model;
    model.backend.kv_page_size = kPageSize;
    model.backend.kv_pages = 4096;
    model.backend.threads = s.threads;
    model.backend.seed = 1;
    config.models.push_back(model);
    engine_ = std::make_unique<app::Engine>(config);
    client_ = std::make_unique<client::Client>(engine_->url());
    tokenizer_ = std::make_unique<tokenizer::Tokenizer>(model::open_model(s.model).tokenizer());
  }
  ~Bench() {
    client_.reset();
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  client::Client& client() { return *client_; }

  // The text of `tokens` following the begin-of-sequence token and `prompt`, decoded as the SDK
  // decodes a continuation (against the last few tokens before it).
  std::string continuation(const std::string& prompt, const std::vector<uint32_t>& tokens) const {
    std::vector<uint32_t> before;
    if (tokenizer_->bos()) before.push_back(*tokenizer_->bos());
    for (uint32_t id : tokenizer_->encode(prompt)) before.push_back(id);
    std::vector<uint32_t> all(before.end() - std::min<size_t>(before.size(), 4), before.end());
    const std::string anchor = tokenizer_->decode(all);
    all.insert(all.end(), tokens.begin(), tokens.end());
    const std::string full = tokenizer_->decode(all);
    return full.starts_with(anchor) ? full.substr(anchor.size()) : tokenizer_->decode(tokens);
  }

  // Uploads inferlet `name` once; its hash.
  std::string program(const std::string& name) {
    const fs::path path = fs::path(PIE_BENCH_INFERLET_DIR) / (name + ".wasm");
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (bytes.empty()) throw Error("inferlet " + path.string() + " was not built");
    const std::string hash = blake3_hex(bytes);
    if (!client_->program_exists(hash)) client_->upload_program(bytes);
    return hash;
  }

  // Launches `name` and collects its messages up to Completed (anything else throws).
  Outcome run(const std::string& name, const std::vector<std::string>& args) {
    client::Instance instance = client_->launch_instance(program(name), args);
    Outcome out;
    while (true) {
      client::Event event = instance.recv();
      if (event.kind == client::EventKind::Message) {
        out.messages.push_back(std::move(event.data));
      } else if (event.kind == client::EventKind::Completed) {
        out.result = std::move(event.data);
        return out;
      } else if (event.terminal()) {
        throw Error(name + " ended with " + std::string(client::to_string(event.kind)) + ": " +
                    event.data);
      }
    }
  }

 private:
  fs::path dir_;
  std::unique_ptr<app::Engine> engine_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

// ---- The plain side: a stateless completion endpoint and its client -----------------------------

// What one request asks: the whole prompt (text segments, then token ids), tokens, top-k.
struct PlainRequest {
  std::vector<std::string> texts;
  std::vector<uint32_t> ids;
  uint32_t max_tokens = 1;
  uint32_t top_k = 0;

  std::string message() const {
    std::string m;
    for (const std::string& t : texts) m += "--prompt\n" + t + "\n";
    if (!ids.empty()) {
      m += "--tokens\n";
      for (uint32_t id : ids) m += std::to_string(id) + " ";
      m += "\n";
    }
    m += "--max-tokens\n" + std::to_string(max_tokens);
    if (top_k > 0) m += "\n--top-k\n" + std::to_string(top_k);
    return m;
  }
};

PlainReply parse_reply(const std::string& reply) {
  if (reply.starts_with("error ")) throw Error("plain-completion: " + reply);
  return parse_plain_reply(reply);
}

// `width` plain-completion instances in --serve mode: up to `width` requests are in flight at once
// (the engine batches them, as a serving system batches concurrent requests).
class PlainServer {
 public:
  PlainServer(Bench& bench, size_t width) {
    const std::string hash = bench.program("plain-completion");
    for (size_t i = 0; i < width; ++i) {
      instances_.push_back(bench.client().launch_instance(hash, {"--serve"}));
    }
  }
  ~PlainServer() {
    for (client::Instance& i : instances_) i.send("quit");
    for (client::Instance& i : instances_) {
      while (!i.recv().terminal()) {
      }
    }
  }

  // Sends the requests, `width` at a time, and returns the replies in order.
  std::vector<PlainReply> ask(const std::vector<PlainRequest>& requests) {
    std::vector<PlainReply> replies;
    for (size_t start = 0; start < requests.size(); start += instances_.size()) {
      const size_t n = std::min(instances_.size(), requests.size() - start);
      for (size_t i = 0; i < n; ++i) instances_[i].send(requests[start + i].message());
      for (size_t i = 0; i < n; ++i) {
        client::Event event = instances_[i].recv();
        if (event.kind != client::EventKind::Message) {
          throw Error("plain-completion ended: " + event.data);
        }
        replies.push_back(parse_reply(event.data));
      }
    }
    return replies;
  }
  PlainReply ask(const PlainRequest& request) { return ask(std::vector{request}).front(); }

 private:
  std::vector<client::Instance> instances_;
};

// ---- The four patterns --------------------------------------------------------------------------

struct Row {
  std::string pattern;
  std::string detail;
  double inferlet_s = 1e30;
  double plain_s = 1e30;
  std::string inferlet_passes;
  std::string plain_passes;
  bool agree = true;
};

// The value after `label` in the messages ("forward passes: 12" -> "12").
std::string reported(const std::vector<std::string>& messages, const std::string& label) {
  for (const std::string& m : messages) {
    if (m.starts_with(label)) return m.substr(label.size());
  }
  return "?";
}

const char* const kStory = "Once upon a time, there was a little girl named Lily.";

// A long prompt that several requests share (a document, a system prompt): ~190 tokens.
std::string shared_document() {
  std::string document;
  for (int i = 0; i < 6; ++i) {
    document += std::string(kStory) +
                " She loved to play outside in the park. One day, she saw a big, red ball. ";
  }
  return document;
}

// The tokens of greedy decoding with an n-gram drafter against one plain request decoding them.
void speculative(Bench& bench, const Settings& s, Row& row) {
  // Long enough for the story to repeat itself, which is when the drafter's guesses come true.
  const uint32_t tokens = 4 * s.tokens;
  const std::string n = std::to_string(tokens);
  row.pattern = "speculative decoding";
  row.detail = n + " tokens, draft 4, 3-gram";
  PlainServer plain(bench, 1);
  const auto t0 = Clock::now();
  const Outcome o =
      bench.run("speculative-decoding", {"--prompt", kStory, "--max-tokens", n, "--draft", "4"});
  row.inferlet_s = std::min(row.inferlet_s, seconds_since(t0));
  const auto t1 = Clock::now();
  const PlainReply r = plain.ask(PlainRequest{{kStory}, {}, tokens, 0});
  row.plain_s = std::min(row.plain_s, seconds_since(t1));
  row.inferlet_passes = reported(o.messages, "forward passes: ");
  row.plain_passes = std::to_string(r.passes);
  row.agree = row.agree && o.result == r.text;
}

// Questions about one long document: the inferlet computes the document once (the first run
// exports it, the others import it); plain requests each re-send and re-prefill it.
void prefix_caching(Bench& bench, const Settings& s, int round, Row& row) {
  const std::string document = shared_document();
  const std::vector<std::string> questions = {"Lily said,", "The ball was", "Her mom",
                                              "The next day,"};
  const std::string n = std::to_string(s.tokens / 4);
  row.pattern = "prefix caching";
  row.detail = std::to_string(questions.size()) + " prompts x " + n + " tokens on a shared prefix";
  PlainServer plain(bench, 1);
  std::vector<std::string> cached;
  const std::string name = "catalogue-bench-" + std::to_string(round);
  const auto t0 = Clock::now();
  for (const std::string& q : questions) {
    cached.push_back(bench
                         .run("prefix-caching", {"--prefix", document, "--prompt", q, "--name",
                                                 name, "--max-tokens", n})
                         .result);
  }
  row.inferlet_s = std::min(row.inferlet_s, seconds_since(t0));
  const auto t1 = Clock::now();
  uint32_t passes = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    const PlainReply r = plain.ask(PlainRequest{{document, questions[i]}, {}, s.tokens / 4, 0});
    passes += r.passes;
    row.agree = row.agree && r.text == cached[i];
  }
  row.plain_s = std::min(row.plain_s, seconds_since(t1));
  row.plain_passes = std::to_string(passes);
}

// 1 -> 2 -> 4 -> 8 forks below a long shared prompt: the inferlet computes every node once and
// generates the leaves together; plain sends one request per leaf with its whole prompt, all 8 at
// once.
void prefix_tree(Bench& bench, const Settings& s, Row& row) {
  const std::vector<std::pair<std::string, std::string>> levels = {
      {" She loved", " One day"}, {" to play", " her mom"}, {" in the park.", " with a ball."}};
  const std::string n = std::to_string(s.tokens / 2);
  row.pattern = "prefix tree";
  row.detail = "8 leaves x " + n + " tokens below a shared prefix";
  const std::string root = shared_document();
  std::vector<std::string> args = {"--prompt", root, "--max-tokens", n};
  for (const auto& [a, b] : levels) args.insert(args.end(), {"--level", a, b});
  std::vector<PlainRequest> requests;
  for (int leaf = 0; leaf < 8; ++leaf) {
    PlainRequest r{{root}, {}, s.tokens / 2, 0};
    for (int level = 0; level < 3; ++level) {
      const bool second = ((leaf >> (2 - level)) & 1) != 0;
      r.texts.push_back(second ? levels[level].second : levels[level].first);
    }
    requests.push_back(r);
  }
  PlainServer plain(bench, requests.size());
  const auto t0 = Clock::now();
  const Outcome o = bench.run("prefix-tree", args);
  row.inferlet_s = std::min(row.inferlet_s, seconds_since(t0));
  const auto t1 = Clock::now();
  const std::vector<PlainReply> replies = plain.ask(requests);
  row.plain_s = std::min(row.plain_s, seconds_since(t1));
  row.agree = row.agree && o.messages.size() == replies.size();
  for (size_t i = 0; row.agree && i < replies.size(); ++i) {
    const std::string& m = o.messages[i];
    row.agree = m.substr(m.find('\t') + 1) == replies[i].text;
  }
}

// Beam search: the inferlet forks beams that share the prompt's pages; plain sends, every step,
// one request per beam (prompt plus the beam's tokens, one new token, top-k distribution), all
// beams at once, and ranks the candidates itself exactly as Context::beam_search does (it decodes
// the final beams with the model's tokenizer, as a client of a token-level API does).
void beam_search(Bench& bench, const Settings& s, Row& row) {
  constexpr uint32_t kBeams = 3;
  const uint32_t steps = s.tokens / 2;
  row.pattern = "beam search";
  row.detail = std::to_string(kBeams) + " beams x " + std::to_string(steps) + " tokens";
  PlainServer plain(bench, kBeams);
  const auto t0 = Clock::now();
  const Outcome o = bench.run("beam-search", {"--prompt", kStory, "--beams", std::to_string(kBeams),
                                              "--max-tokens", std::to_string(steps)});
  row.inferlet_s = std::min(row.inferlet_s, seconds_since(t0));

  struct Beam {
    std::vector<uint32_t> tokens;
    float score = 0.0F;
  };
  const auto t1 = Clock::now();
  std::vector<Beam> beams(1);
  uint32_t passes = 0;
  for (uint32_t step = 0; step < steps; ++step) {
    std::vector<PlainRequest> requests;
    for (const Beam& b : beams) requests.push_back(PlainRequest{{kStory}, b.tokens, 1, kBeams});
    const std::vector<PlainReply> replies = plain.ask(requests);
    struct Candidate {
      float score;
      size_t beam;
      uint32_t token;
    };
    std::vector<Candidate> candidates;
    for (size_t b = 0; b < beams.size(); ++b) {
      passes += replies[b].passes;
      if (replies[b].tops.empty()) throw Error("plain-completion returned no distribution");
      for (const auto& [id, p] : replies[b].tops[0]) {
        candidates.push_back({beams[b].score + std::log(std::max(p, 1e-30F)), b, id});
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    candidates.resize(std::min<size_t>(candidates.size(), kBeams));
    std::vector<Beam> next;
    for (const Candidate& c : candidates) {
      Beam child = beams[c.beam];
      child.tokens.push_back(c.token);
      child.score = c.score;
      next.push_back(std::move(child));
    }
    beams = std::move(next);
  }
  row.plain_s = std::min(row.plain_s, seconds_since(t1));
  row.plain_passes = std::to_string(passes);
  // Same beams, same order, same scores (as the inferlet prints them).
  row.agree = row.agree && o.messages.size() == beams.size();
  for (size_t i = 0; row.agree && i < beams.size(); ++i) {
    char score[32];
    std::snprintf(score, sizeof score, "%.6f", static_cast<double>(beams[i].score));
    row.agree =
        o.messages[i] == std::string(score) + "\t" + bench.continuation(kStory, beams[i].tokens);
  }
}

void patterns(const Settings& s) {
  Bench bench(s);
  // Uploaded (and compiled) before anything is timed.
  for (const char* name : {"helloworld", "plain-completion", "speculative-decoding",
                           "prefix-caching", "prefix-tree", "beam-search"}) {
    bench.program(name);
  }
  std::vector<Row> rows(4);
  double launch_s = 1e30;  // the fixed cost every inferlet run pays, measured on helloworld
  for (int round = 0; round < s.rounds; ++round) {
    const auto t0 = Clock::now();
    bench.run("helloworld", {});
    launch_s = std::min(launch_s, seconds_since(t0));
    speculative(bench, s, rows[0]);
    prefix_caching(bench, s, round, rows[1]);
    prefix_tree(bench, s, rows[2]);
    beam_search(bench, s, rows[3]);
  }
  std::printf("programmable vs plain serving, %s, %u threads, best of %d\n",
              s.model.filename().c_str(), s.threads, s.rounds);
  std::printf("  %-21s %-46s %10s %10s %7s %9s %7s\n", "pattern", "work", "inferlet", "plain",
              "ratio", "passes", "agree");
  for (const Row& r : rows) {
    const std::string passes =
        r.inferlet_passes.empty() ? r.plain_passes : r.inferlet_passes + "/" + r.plain_passes;
    std::printf("  %-21s %-46s %8.1fms %8.1fms %6.2fx %9s %7s\n", r.pattern.c_str(),
                r.detail.c_str(), r.inferlet_s * 1e3, r.plain_s * 1e3, r.plain_s / r.inferlet_s,
                passes.c_str(), r.agree ? "yes" : "NO");
  }
  std::printf("  (ratio = plain / inferlet; passes: inferlet/plain forward passes, or plain's)\n");
  std::printf(
      "  launch -> Completed of helloworld, the fixed cost of each inferlet run: %.2f ms\n\n",
      launch_s * 1e3);
  std::fflush(stdout);
  for (const Row& r : rows) {
    if (!r.agree) throw Error(r.pattern + ": the inferlet and the plain requests disagree");
  }
}

// ---- Per-token overhead -------------------------------------------------------------------------

// Greedy decoding with the backend's own loop: the prompt in one pass, then one token per pass;
// `tokens` generated (the last is not fed back, as Context::generate leaves it pending).
std::vector<uint32_t> raw_generate(cpu::CpuBackend& backend, const std::vector<uint32_t>& prompt,
                                   uint32_t tokens) {
  protocol::SamplerSpec greedy;
  greedy.kind = protocol::SamplerKind::Multinomial;
  greedy.temperature = 0;
  const uint32_t total = static_cast<uint32_t>(prompt.size()) + tokens;
  std::vector<uint32_t> pages;
  for (uint32_t p = 0; p < (total + kPageSize - 1) / kPageSize; ++p) pages.push_back(p);
  std::vector<uint32_t> out;
  std::vector<uint32_t> input = prompt;
  uint32_t length = 0;
  while (out.size() < tokens) {
    protocol::ForwardPassRequest r;
    for (uint32_t t : input) {
      r.input_tokens.push_back(t);
      r.input_token_positions.push_back(length);
      r.mask.push_back({length + 1});  // causal: attends to every earlier slot
      ++length;
    }
    const uint32_t used = (length + kPageSize - 1) / kPageSize;
    r.kv_page_ptrs.assign(pages.begin(), pages.begin() + used);
    r.kv_page_last_len = length - kPageSize * (used - 1);
    r.output_token_indices = {static_cast<uint32_t>(input.size() - 1)};
    r.output_token_samplers = {greedy};
    const auto response = backend.forward_pass(std::vector{r});
    out.push_back(response.at(0).tokens.at(0));
    input = {out.back()};
  }
  return out;
}

void overhead(const Settings& s) {
  const char* const prompt_text = "Once upon a time";
  auto model = std::make_shared<const model::ModelFile>(model::open_model(s.model));
  const tokenizer::Tokenizer tokenizer(model->tokenizer());
  // text-completion's prompt on a model without a chat template: begin-of-sequence, then the text.
  std::vector<uint32_t> prompt;
  if (tokenizer.bos()) prompt.push_back(*tokenizer.bos());
  for (uint32_t id : tokenizer.encode(prompt_text)) prompt.push_back(id);
  cpu::CpuBackendOptions options;
  options.kv_page_size = kPageSize;
  options.kv_pages = 4096;
  options.threads = s.threads;
  options.seed = 1;
  cpu::CpuBackend backend(model, options);
  Bench bench(s);
  bench.program("text-completion");

  // Two lengths: the difference is the cost of the extra tokens alone (launch and prefill cancel).
  const uint32_t short_n = 8;
  const uint32_t long_n = short_n + 8 * s.tokens;
  // Wall time and CPU time of the whole process (every thread: engine, runtime, client), each the
  // best of the rounds. CPU time is what the inferlet path adds in work; it moves much less than
  // wall time when other programs share the cores.
  struct Cost {
    double wall = 1e30;
    double cpu = 1e30;
  };
  Cost raw[2];
  Cost engine[2];
  const auto measure = [](Cost& cost, const auto& work) {
    const auto t0 = Clock::now();
    const std::clock_t c0 = std::clock();
    work();
    cost.cpu = std::min(cost.cpu, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    cost.wall = std::min(cost.wall, seconds_since(t0));
  };
  bool agree = true;
  for (int round = 0; round < s.rounds; ++round) {
    for (int i = 0; i < 2; ++i) {
      const uint32_t n = i == 0 ? short_n : long_n;
      std::vector<uint32_t> ids;
      measure(raw[i], [&] { ids = raw_generate(backend, prompt, n); });
      Outcome o;
      measure(engine[i], [&] {
        o = bench.run("text-completion", {"--prompt", prompt_text, "--max-tokens",
                                          std::to_string(n), "--temperature", "0"});
      });
      std::vector<uint32_t> all = prompt;
      all.insert(all.end(), ids.begin(), ids.end());
      agree = agree && !o.result.empty() && tokenizer.decode(all).ends_with(o.result);
    }
  }
  std::printf(
      "inferlet overhead per token: text-completion vs the backend's loop, %s, %u threads, "
      "page %u, best of %d\n",
      s.model.filename().c_str(), s.threads, kPageSize, s.rounds);
  std::printf("  %-34s %12s %12s %9s %12s %12s %9s\n", "per token", "loop wall", "engine wall",
              "overhead", "loop cpu", "engine cpu", "overhead");
  const auto line = [](const std::string& label, double raw_wall, double engine_wall,
                       double raw_cpu, double engine_cpu) {
    std::printf("  %-34s %10.1fus %10.1fus %8.1f%% %10.1fus %10.1fus %8.1f%%\n", label.c_str(),
                raw_wall * 1e6, engine_wall * 1e6, (engine_wall / raw_wall - 1) * 100,
                raw_cpu * 1e6, engine_cpu * 1e6, (engine_cpu / raw_cpu - 1) * 100);
  };
  for (int i = 0; i < 2; ++i) {
    const double n = i == 0 ? short_n : long_n;
    line(std::to_string(static_cast<int>(n)) + " tokens, end to end", raw[i].wall / n,
         engine[i].wall / n, raw[i].cpu / n, engine[i].cpu / n);
  }
  const double extra = long_n - short_n;
  line("marginal (the " + std::to_string(static_cast<int>(extra)) + " extra tokens)",
       (raw[1].wall - raw[0].wall) / extra, (engine[1].wall - engine[0].wall) / extra,
       (raw[1].cpu - raw[0].cpu) / extra, (engine[1].cpu - engine[0].cpu) / extra);
  std::printf("  same text: %s\n\n", agree ? "yes" : "NO");
  std::fflush(stdout);
  if (!agree) throw Error("text-completion and the backend's greedy loop generate different text");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Catalogue inferlets against plain serving, and the inferlet's per-token overhead"};
  Settings s;
  const char* shared = std::getenv("PIE_SHARED");
  s.model = fs::path(shared != nullptr ? shared : PIE_SHARED_DEFAULT) / "models" / "stories260K" /
            "stories260K.bin";
  std::string only;
  app.add_option("--model", s.model, "model file (default: stories260K of the shared data)");
  app.add_option("--only", only, "run one part")->check(CLI::IsMember({"patterns", "overhead"}));
  app.add_option("--tokens", s.tokens, "tokens to generate (patterns divide it among requests)")
      ->check(CLI::Range(4, 4096));
  app.add_option("--rounds", s.rounds, "runs per figure (the best is kept)")
      ->check(CLI::Range(1, 100));
  app.add_option("--threads", s.threads, "CPU backend threads (more than the idle cores skews)");
  CLI11_PARSE(app, argc, argv);
  log::set_level(log::Level::Warn);
  try {
    if (only.empty() || only == "patterns") patterns(s);
    if (only.empty() || only == "overhead") overhead(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "catalogue_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
