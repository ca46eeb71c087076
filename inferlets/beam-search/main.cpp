// Beam search: keeps the `--beams` most likely continuations (by the sum of their tokens'
// log-probabilities), extending each by its most likely next tokens at every step. Beams are
// forks of one context, so they share the prompt's KV pages. Sends one message per beam, best
// first, as "<score>\t<text>", and returns the best beam's text.
//
//   pie run beam-search.wasm -- --prompt "Once upon a time" [--beams 3] [--max-tokens 24]
#include <cstdio>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  auto parsed = pie::Flags::parse(
      "beam-search", args,
      {{"--prompt"}, {"--beams", pie::FlagType::Count}, {"--max-tokens", pie::FlagType::Count}});
  if (!parsed) return parsed.error();
  const pie::Flags& flags = parsed.value();
  const std::string prompt = flags.text("--prompt");
  const uint32_t beams = flags.count("--beams", 3);
  const uint32_t max_tokens = flags.count("--max-tokens", 24);
  if (prompt.empty()) return pie::Error{"beam-search: --prompt is required"};
  if (beams == 0) return pie::Error{"beam-search: --beams must be at least 1"};

  const pie::Model model = pie::Model::first();
  pie::Context context = model.create_context();
  context.fill(pie::ChatFormatter::begin_of_sequence(model));
  context.fill(prompt);
  const std::vector<pie::Beam> found = context.beam_search(beams, max_tokens);
  for (const pie::Beam& beam : found) {
    char score[32];
    std::snprintf(score, sizeof score, "%.6f", static_cast<double>(beam.score));
    pie::send(std::string(score) + "\t" + beam.text);
  }
  return found.front().text;
}
