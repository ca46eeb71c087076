// Graph-of-thought (Besta et al., 2023): thoughts are vertices of a graph rather than of a tree,
// so several of them can be aggregated into one new thought. Here `thoughts` thoughts grow on
// forks of the prompt's context (the prompt's full KV pages shared), each opened by one of the
// model's most likely next tokens and continued greedily; a thought's score is the mean
// log-probability of its tokens. The `keep` best are aggregated: a new context whose prompt is the
// prompt followed by the chosen thoughts, one per line, which is refined once (greedily).
//
//   graph-of-thought <prompt> [thoughts=3] [keep=2] [tokens=8] [refine=8] [only=<k>]
//   graph-of-thought --merged <text> [refine=8]
//
// Sends "thought <k> <score>: <text>" per thought, then "aggregate <k1,k2,..>: <merged prompt>",
// and completes with the refinement. With `only`, thought k alone is grown in a fresh context
// without forking (the sequential baseline) and sent the same way. `--merged` runs the refinement
// of a given merged prompt directly, in a fresh context.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

struct Thought {
  std::string text;  // as it reads after the prompt
  double score = 0.0;
};

// Opens `context` with `opener` (of probability `opener_prob`) and continues greedily for `tokens`
// tokens, recording each token's probability for the score.
Thought grow(pie::Context& context, uint32_t opener, float opener_prob, uint32_t tokens,
             const std::string& prompt_text) {
  double log_prob_sum = std::log(opener_prob);
  uint32_t counted = 1;
  context.fill_token(opener);
  context.generate(pie::Sampler::custom(
                       1.0F,
                       [&](const pie::Distribution& d) {
                         log_prob_sum += std::log(d.probs.at(0));
                         ++counted;
                         return d.ids.at(0);
                       },
                       1),
                   pie::StopCondition::max(tokens));
  const std::string all = context.text();
  return {all.starts_with(prompt_text) ? all.substr(prompt_text.size()) : all,
          log_prob_sum / counted};
}

void report(uint32_t k, const Thought& thought) {
  char score[32];
  std::snprintf(score, sizeof score, " %.4f: ", thought.score);
  pie::send("thought " + std::to_string(k) + score + thought.text);
}

std::string refine(const pie::Model& model, const std::string& merged, uint32_t tokens) {
  pie::Context aggregate(model);
  aggregate.fill(merged);
  return aggregate.generate(pie::Sampler::greedy(), pie::StopCondition::max(tokens));
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage =
      "usage: graph-of-thought <prompt> [thoughts=3] [keep=2] [tokens=8] [refine=8] [only] | "
      "graph-of-thought --merged <text> [refine=8]";
  if (args.empty()) return pie::Error{kUsage};
  const pie::Model model = pie::Model::first();

  if (args[0] == "--merged") {
    const auto tokens = pie::parse_count(args.size() > 2 ? args[2] : "8", 1);
    if (args.size() < 2 || args[1].empty() || !tokens) return pie::Error{kUsage};
    return refine(model, args[1], *tokens);
  }

  const auto thoughts = pie::parse_count(args.size() > 1 ? args[1] : "3", 1);
  const auto keep = pie::parse_count(args.size() > 2 ? args[2] : "2", 1);
  const auto tokens = pie::parse_count(args.size() > 3 ? args[3] : "8", 1);
  const auto refine_tokens = pie::parse_count(args.size() > 4 ? args[4] : "8", 1);
  const auto only = args.size() > 5 ? pie::parse_count(args[5], 1) : std::nullopt;
  if (!thoughts || !keep || !tokens || !refine_tokens || (args.size() > 5 && !only)) {
    return pie::Error{"bad number; " + std::string(kUsage)};
  }
  if (*keep > *thoughts) return pie::Error{"cannot keep more thoughts than are grown"};
  if (only && *only > *thoughts) {
    return pie::Error{"thought " + args[5] + " is not among the " + std::to_string(*thoughts)};
  }

  pie::Context prompt(model);
  prompt.fill(args[0]);
  if (prompt.token_ids().empty()) return pie::Error{"the prompt is empty"};
  const std::string prompt_text = prompt.text();
  // The openers: the most likely next tokens, best first.
  pie::Distribution openers;
  prompt.decode_step(pie::Sampler::custom(
      1.0F,
      [&](const pie::Distribution& d) {
        openers = d;
        return d.ids.at(0);
      },
      *thoughts));
  if (openers.ids.size() < *thoughts) return pie::Error{"the model offers too few openers"};

  if (only) {  // the baseline: no shared pages
    pie::Context alone(model);
    alone.fill(args[0]);
    const Thought thought =
        grow(alone, openers.ids[*only - 1], openers.probs[*only - 1], *tokens, prompt_text);
    report(*only, thought);
    return thought.text;
  }

  std::vector<Thought> grown;
  for (uint32_t k = 1; k <= *thoughts; ++k) {
    pie::Context branch = prompt.fork();
    grown.push_back(grow(branch, openers.ids[k - 1], openers.probs[k - 1], *tokens, prompt_text));
    report(k, grown.back());
  }
  // The aggregation edge: the best `keep` thoughts (ties to the earlier) into one prompt.
  std::vector<uint32_t> order(grown.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return grown[a].score > grown[b].score; });
  order.resize(*keep);
  std::string chosen;
  std::string merged = args[0];
  for (uint32_t k : order) {
    chosen += (chosen.empty() ? "" : ",") + std::to_string(k + 1);
    merged += "\n" + grown[k].text;
  }
  pie::send("aggregate " + chosen + ": " + merged);
  return refine(model, merged, *refine_tokens);
}
