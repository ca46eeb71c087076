// Skeleton-of-thought (Ning et al., 2023): first a skeleton of the answer, then every point of it
// expanded independently, and the points put together. Here the skeleton is the model's own: the
// `points` most likely first tokens after the prompt open the points. Each point continues a fork
// of the prompt's context (the prompt's full KV pages are shared, not recomputed), greedily.
//
//   skeleton-of-thought <prompt> [points=3] [tokens=16] [only=<k>]
//
// Sends "<k>: <point text>" for each point and completes with the points joined by newlines.
// With a fourth argument k, only point k is expanded, in a fresh context without forking (the
// sequential baseline).
#include <optional>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

// Greedy continuation of `context` after `opener`, the point's text (opener included).
std::string expand(pie::Context& context, uint32_t opener, uint32_t tokens) {
  const std::vector<uint32_t> before = context.token_ids();
  context.fill_token(opener);
  context.generate(pie::Sampler::greedy(), pie::StopCondition::max(tokens));
  // The point as it reads after the prompt.
  const pie::Tokenizer& tokenizer = context.tokenizer();
  const std::string prompt_text = tokenizer.detokenize(before);
  const std::string all = context.text();
  return all.starts_with(prompt_text) ? all.substr(prompt_text.size()) : all;
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage =
      "usage: skeleton-of-thought <prompt> [points=3] [tokens=16] [only]";
  if (args.empty()) return pie::Error{kUsage};
  const auto points = pie::parse_count(args.size() > 1 ? args[1] : "3");
  const auto tokens = pie::parse_count(args.size() > 2 ? args[2] : "16");
  const auto only = args.size() > 3 ? pie::parse_count(args[3]) : std::nullopt;
  if (!points || *points == 0 || !tokens || *tokens == 0 || (args.size() > 3 && !only)) {
    return pie::Error{"bad number; " + std::string(kUsage)};
  }
  if (only && (*only == 0 || *only > *points)) {
    return pie::Error{"point " + args[3] + " is not among the " + std::to_string(*points)};
  }

  const pie::Model model = pie::Model::first();
  pie::Context prompt(model);
  prompt.fill(args[0]);
  if (prompt.token_ids().empty()) return pie::Error{"the prompt is empty"};
  // The skeleton: the most likely openers, best first.
  std::vector<uint32_t> openers;
  prompt.decode_step(pie::Sampler::custom(
      1.0F,
      [&](const pie::Distribution& d) {
        openers.assign(d.ids.begin(), d.ids.begin() + std::min<size_t>(*points, d.ids.size()));
        return d.ids.at(0);
      },
      *points));
  if (openers.size() < *points) return pie::Error{"the model offers fewer openers than points"};

  std::string answer;
  for (uint32_t k = 1; k <= *points; ++k) {
    if (only && k != *only) continue;
    std::string text;
    if (only) {
      pie::Context alone(model);  // the baseline: no shared pages
      alone.fill(args[0]);
      text = expand(alone, openers[k - 1], *tokens);
    } else {
      pie::Context point = prompt.fork();
      text = expand(point, openers[k - 1], *tokens);
    }
    pie::send(std::to_string(k) + ": " + text);
    answer += (answer.empty() ? "" : "\n") + text;
  }
  return answer;
}
