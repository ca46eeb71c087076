// Speculative decoding with an n-gram drafter (prompt lookup): the drafter guesses the next tokens
// from an earlier occurrence of the last few tokens, one forward pass verifies all the guesses,
// and the longest confirmed prefix is kept (plus the model's own next token). The text is exactly
// greedy decoding's, in fewer forward passes. Reports the passes and the draft tokens accepted.
//
//   pie run speculative-decoding.wasm -- --prompt "Once upon a time" [--max-tokens 120]
//       [--draft 4] [--ngram 3]
#include <cstdlib>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::string prompt;
  uint32_t max_tokens = 120;
  uint32_t draft = 4;
  uint32_t ngram = 3;
  if (args.size() % 2 != 0) {
    return pie::Error{"speculative-decoding: " + args.back() + " needs a value"};
  }
  for (size_t i = 0; i < args.size(); i += 2) {
    const std::string& value = args[i + 1];
    const auto number = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    if (args[i] == "--prompt") {
      prompt = value;
    } else if (args[i] == "--max-tokens") {
      max_tokens = number;
    } else if (args[i] == "--draft") {
      draft = number;
    } else if (args[i] == "--ngram") {
      ngram = number;
    } else {
      return pie::Error{"speculative-decoding: unknown option " + args[i] +
                        " (options: --prompt, --max-tokens, --draft, --ngram)"};
    }
  }
  if (prompt.empty()) return pie::Error{"speculative-decoding: --prompt is required"};
  if (ngram == 0) return pie::Error{"speculative-decoding: --ngram must be at least 1"};

  const pie::Model model = pie::Model::first();
  pie::Context context = model.create_context();
  context.fill(pie::ChatFormatter::begin_of_sequence(model));
  context.fill(prompt);
  pie::NgramDrafter drafter(ngram);
  const pie::DraftedGeneration out =
      context.generate_with_drafter(drafter, pie::StopCondition::max(max_tokens), draft);
  pie::send("tokens: " + std::to_string(out.tokens.size()));
  pie::send("forward passes: " + std::to_string(out.forward_passes));
  pie::send("draft tokens accepted: " + std::to_string(out.accepted) + " of " +
            std::to_string(out.drafted));
  return out.text;
}
