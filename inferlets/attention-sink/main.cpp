// Attention sink (StreamingLLM): generation attends to the first --sink tokens and the last
// --window tokens only; the tokens between are masked, and the KV pages holding only masked
// tokens are freed, so memory stops growing however long the generation runs. Every 16 tokens it
// sends "tokens <n> pages <p>"; returns the generated text.
//
//   pie run attention-sink.wasm -- --prompt "Once upon a time" [--max-tokens 256] [--sink 4]
//       [--window 32]
#include <cstdlib>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::string prompt;
  uint32_t max_tokens = 256;
  uint32_t sink = 4;
  uint32_t window = 32;
  if (args.size() % 2 != 0) return pie::Error{"attention-sink: " + args.back() + " needs a value"};
  for (size_t i = 0; i < args.size(); i += 2) {
    const std::string& value = args[i + 1];
    const auto number = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    if (args[i] == "--prompt") {
      prompt = value;
    } else if (args[i] == "--max-tokens") {
      max_tokens = number;
    } else if (args[i] == "--sink") {
      sink = number;
    } else if (args[i] == "--window") {
      window = number;
    } else {
      return pie::Error{"attention-sink: unknown option " + args[i] +
                        " (options: --prompt, --max-tokens, --sink, --window)"};
    }
  }
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
