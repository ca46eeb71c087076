// Beam search: keeps the `--beams` most likely continuations (by the sum of their tokens'
// log-probabilities), extending each by its most likely next tokens at every step. Beams are
// forks of one context, so they share the prompt's KV pages. Sends one message per beam, best
// first, as "<score>\t<text>", and returns the best beam's text.
//
//   pie run beam-search.wasm -- --prompt "Once upon a time" [--beams 3] [--max-tokens 24]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::string prompt;
  uint32_t beams = 3;
  uint32_t max_tokens = 24;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string& value = args[i + 1];
    if (args[i] == "--prompt") {
      prompt = value;
    } else if (args[i] == "--beams") {
      beams = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else if (args[i] == "--max-tokens") {
      max_tokens = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else {
      return pie::Error{"beam-search: unknown option " + args[i] +
                        " (options: --prompt, --beams, --max-tokens)"};
    }
  }
  if (args.size() % 2 != 0) return pie::Error{"beam-search: " + args.back() + " needs a value"};
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
