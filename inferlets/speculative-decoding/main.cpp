// Speculative decoding with an n-gram drafter (prompt lookup): the drafter guesses the next tokens
// from an earlier occurrence of the last few tokens, one forward pass verifies all the guesses,
// and the longest confirmed prefix is kept (plus the model's own next token). The text is exactly
// greedy decoding's, in fewer forward passes. Reports the passes and the draft tokens accepted.
//
//   pie run speculative-decoding.wasm -- --prompt "Once upon a time" [--max-tokens 120]
//       [--draft 4] [--ngram 3]
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  auto parsed = pie::Flags::parse("speculative-decoding", args,
                                  {{"--prompt"},
                                   {"--max-tokens", pie::FlagType::Count},
                                   {"--draft", pie::FlagType::Count},
                                   {"--ngram", pie::FlagType::Count}});
  if (!parsed) return parsed.error();
  const pie::Flags& flags = parsed.value();
  const std::string prompt = flags.text("--prompt");
  const uint32_t max_tokens = flags.count("--max-tokens", 120);
  const uint32_t draft = flags.count("--draft", 4);
  const uint32_t ngram = flags.count("--ngram", 3);
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
