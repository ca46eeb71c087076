// Attention sink (StreamingLLM): generation attends to the first --sink tokens and the last
// --window tokens only; the tokens between are masked, and the KV pages holding only masked
// tokens are freed, so memory stops growing however long the generation runs. Every 16 tokens it
// sends "tokens <n> pages <p>"; returns the generated text.
//
//   pie run attention-sink.wasm -- --prompt "Once upon a time" [--max-tokens 256] [--sink 4]
//       [--window 32]
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  auto parsed = pie::Flags::parse("attention-sink", args,
                                  {{"--prompt"},
                                   {"--max-tokens", pie::FlagType::Count},
                                   {"--sink", pie::FlagType::Count},
                                   {"--window", pie::FlagType::Count}});
  if (!parsed) return parsed.error();
  const pie::Flags& flags = parsed.value();
  const std::string prompt = flags.text("--prompt");
  const uint32_t max_tokens = flags.count("--max-tokens", 256);
  const uint32_t sink = flags.count("--sink", 4);
  const uint32_t window = flags.count("--window", 32);
  if (prompt.empty()) return pie::Error{"attention-sink: --prompt is required"};
  if (window == 0) return pie::Error{"attention-sink: --window must be at least 1"};

  const pie::Model model = pie::Model::first();
  pie::Context context = model.create_context();
  context.fill(pie::ChatFormatter::begin_of_sequence(model));
  context.fill(prompt);
  std::vector<uint32_t> generated;
  while (generated.size() < max_tokens) {
    const uint32_t token = context.decode_step(pie::Sampler::greedy());
    generated.push_back(token);
    // The next token sees the sink and the window; what lies between is masked, then freed.
    const uint32_t length = context.sequence_length();
    if (length > sink + window) context.mask_token_range(sink, length - window, true);
    context.fill_token(token);
    context.drop_masked_kv_pages();
    if (generated.size() % 16 == 0) {
      pie::send("tokens " + std::to_string(generated.size()) + " pages " +
                std::to_string(context.kv_page_count()));
    }
  }
  return context.tokenizer().detokenize(generated);
}
