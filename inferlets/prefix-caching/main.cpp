// Prefix caching: a long shared prefix (a system prompt, a document) is computed once and exported
// under a name; later instances import its KV pages instead of computing it again, then continue
// with their own prompt. Reports whether the cache was hit, how many prompt tokens were computed
// (and of how many) and the time to the first generated token; returns the completion.
//
//   pie run prefix-caching.wasm -- --prefix "<long text>" --prompt "<question>"
//       [--name <cache name>] [--max-tokens 32]
#include <chrono>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  auto parsed = pie::Flags::parse(
      "prefix-caching", args,
      {{"--prefix"}, {"--prompt"}, {"--name"}, {"--max-tokens", pie::FlagType::Count}});
  if (!parsed) return parsed.error();
  const pie::Flags& flags = parsed.value();
  const std::string prefix = flags.text("--prefix");
  const std::string prompt = flags.text("--prompt");
  const std::string name = flags.text("--name", "prefix-caching");
  const uint32_t max_tokens = flags.count("--max-tokens", 32);
  if (prefix.empty()) return pie::Error{"prefix-caching: --prefix is required"};

  const auto start = std::chrono::steady_clock::now();
  const pie::Model model = pie::Model::first();
  std::optional<pie::Context> cached = pie::Context::from_imported(model, name);
  const bool hit = cached.has_value();
  pie::Context context = hit ? std::move(*cached) : model.create_context();
  if (!hit) {
    context.fill(pie::ChatFormatter::begin_of_sequence(model));
    context.fill(prefix);
    context.export_prefix(name);
  }
  context.fill(prompt);
  const auto prompt_tokens = static_cast<uint64_t>(context.token_ids().size());
  const uint64_t before = context.tokens_computed();
  // On a miss this instance computed the prefix too (before exporting it).
  const uint64_t computed = before + context.pending_token_ids().size();
  uint64_t first_token_us = 0;
  const std::string completion = context.generate_streaming(
      pie::Sampler::greedy(), pie::StopCondition::max(max_tokens), [&](std::string_view) {
        if (first_token_us != 0) return;
        first_token_us =
            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - start)
                                      .count());
      });
  pie::send(hit ? "cache: hit" : "cache: miss");
  pie::send("prompt tokens computed: " + std::to_string(computed) + " of " +
            std::to_string(prompt_tokens) + " (saved " + std::to_string(prompt_tokens - computed) +
            ")");
  pie::send("time to first token: " + std::to_string(first_token_us) + " us");
  return completion;
}
