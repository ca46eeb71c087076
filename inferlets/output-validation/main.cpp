// Output validation by likelihood: scores each candidate answer by the log-probability the model
// gives it after the prompt, and normalises the scores over the candidates, so that a caller can
// pick (or reject) answers by how much the model believes them.
//
//   output-validation <prompt> <candidate>...
//
// One message per candidate, in order: "p=<normalised probability> logp=<log-probability> <text>";
// completes with the most likely candidate. The prompt is computed once; each candidate continues
// a fork of it (full KV pages shared).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

// The engine returns at most this many of the most likely tokens per distribution.
constexpr uint32_t kTopK = 64;

// The tokens `candidate` adds after `prompt`, as the tokenizer splits the joined text (a
// candidate's first token often merges with the prompt's spacing), else the candidate alone.
std::vector<uint32_t> continuation_tokens(const pie::Tokenizer& tokenizer,
                                          const std::vector<uint32_t>& prompt,
                                          const std::string& prompt_text,
                                          const std::string& candidate) {
  const std::vector<uint32_t> joined = tokenizer.tokenize(prompt_text + candidate);
  if (joined.size() > prompt.size() && std::equal(prompt.begin(), prompt.end(), joined.begin())) {
    return {joined.begin() + static_cast<ptrdiff_t>(prompt.size()), joined.end()};
  }
  return tokenizer.tokenize(candidate);
}

// log P(tokens | the context), one forward pass per token.
double log_probability(pie::Context& context, const std::vector<uint32_t>& tokens,
                       size_t vocabulary_size) {
  double total = 0.0;
  for (const uint32_t token : tokens) {
    double p = 0.0;
    const auto pick = [&](const pie::Distribution& d) {
      const auto at = std::find(d.ids.begin(), d.ids.end(), token);
      if (at != d.ids.end()) {
        p = d.probs[static_cast<size_t>(at - d.ids.begin())];
      } else {
        // Outside the top k: share the remaining mass evenly over the tokens not listed.
        double listed = 0.0;
        for (float q : d.probs) listed += q;
        const size_t unlisted = vocabulary_size > d.ids.size() ? vocabulary_size - d.ids.size() : 1;
        p = std::max(1.0 - listed, 1e-12) / static_cast<double>(unlisted);
      }
      return token;
    };
    context.decode_step(pie::Sampler::custom(1.0F, pick, kTopK));
    context.fill_token(token);
    total += std::log(std::max(p, 1e-30));
  }
  return total;
}

}  // namespace

PIE_MAIN(args) {
  if (args.size() < 2) return pie::Error{"usage: output-validation <prompt> <candidate>..."};
  const std::string& prompt_text = args[0];
  const std::vector<std::string> candidates(args.begin() + 1, args.end());

  pie::Context prompt(pie::Model::first());
  prompt.fill(prompt_text);
  if (prompt.token_ids().empty()) return pie::Error{"the prompt is empty"};
  prompt.flush();
  const pie::Tokenizer& tokenizer = prompt.tokenizer();
  const size_t vocabulary_size = tokenizer.vocabulary().size();

  std::vector<double> scores;
  for (const auto& candidate : candidates) {
    const auto tokens = continuation_tokens(tokenizer, prompt.token_ids(), prompt_text, candidate);
    if (tokens.empty()) return pie::Error{"candidate '" + candidate + "' has no tokens"};
    pie::Context answer = prompt.fork();
    scores.push_back(log_probability(answer, tokens, vocabulary_size));
  }

  // Softmax over the candidates' log-probabilities.
  const double best = *std::max_element(scores.begin(), scores.end());
  double sum = 0.0;
  for (double s : scores) sum += std::exp(s - best);
  for (size_t i = 0; i < candidates.size(); ++i) {
    char line[96];
    std::snprintf(line, sizeof line, "p=%.6g logp=%.4f ", std::exp(scores[i] - best) / sum,
                  scores[i]);
    pie::send(line + candidates[i]);
  }
  return candidates[static_cast<size_t>(std::max_element(scores.begin(), scores.end()) -
                                        scores.begin())];
}
