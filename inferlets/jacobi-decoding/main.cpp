// Jacobi decoding: greedy generation that guesses several tokens ahead and verifies them in the
// same forward pass (Santilli et al., 2023). Each pass feeds the next token and a window of
// guesses; the model's greedy prediction after every input comes back. Guesses that match the
// prediction before them are accepted, so one pass may commit several tokens; the predictions
// after the first mismatch become the next guesses (the fixed-point iteration). The output is
// exactly greedy decoding's, in fewer passes when the guesses converge.
//
//   jacobi-decoding <prompt> [tokens=64] [window=4]
//
// Sends "tokens=<n> passes=<p>"; completes with the generated text.
#include <charconv>
#include <string>
#include <vector>

#include "pie/pie.h"

namespace {

pie::Result<uint32_t> parse_count(const std::string& text, const char* what) {
  uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0) {
    return pie::Error{"'" + text + "' is not a valid " + what + " (a positive integer)"};
  }
  return value;
}

}  // namespace

PIE_MAIN(args) {
  if (args.empty()) return pie::Error{"usage: jacobi-decoding <prompt> [tokens=64] [window=4]"};
  auto max_tokens = parse_count(args.size() > 1 ? args[1] : "64", "token count");
  auto window = parse_count(args.size() > 2 ? args[2] : "4", "window");
  if (!max_tokens) return max_tokens.error();
  if (!window) return window.error();
  const uint32_t w = window.value();

  const pie::Model model = pie::Model::first();
  const pie::Queue queue = model.create_queue();
  const pie::Tokenizer tokenizer = model.tokenizer();
  const uint32_t page_size = model.kv_page_size();

  // Tokens to feed before the guesses: the prompt at first, then the last committed token.
  std::vector<uint32_t> pending = tokenizer.tokenize(args[0]);
  if (pending.empty()) return pie::Error{"the prompt is empty"};
  std::vector<uint32_t> guesses(w, pending.back());
  std::vector<pie::KvPage> pages;
  uint32_t in_kv = 0;  // tokens whose KV is final
  std::vector<uint32_t> generated;
  uint32_t passes = 0;

  while (generated.size() < max_tokens.value()) {
    std::vector<uint32_t> inputs = pending;
    inputs.insert(inputs.end(), guesses.begin(), guesses.end());
    const auto n = static_cast<uint32_t>(inputs.size());
    const uint32_t total = in_kv + n;
    while (pages.size() * page_size < total) pages.push_back(queue.allocate_kv_pages(1)[0]);
    std::vector<uint32_t> positions(n);
    std::vector<std::vector<uint32_t>> causal(n);  // BRLE: input i sees every slot up to itself
    for (uint32_t i = 0; i < n; ++i) {
      positions[i] = in_kv + i;
      causal[i] = {in_kv + i + 1};
    }
    // Predictions after the last pending token and after each guess.
    std::vector<uint32_t> outputs(w + 1);
    const auto first = static_cast<uint32_t>(pending.size()) - 1;
    for (uint32_t i = 0; i <= w; ++i) outputs[i] = first + i;
    const std::vector<uint32_t> predicted =
        queue.forward_pass()
            .input_tokens(inputs, positions)
            .kv_cache(std::span(pages).first((total + page_size - 1) / page_size),
                      total - (total - 1) / page_size * page_size)
            .attention_mask(causal)
            .output_tokens(outputs, 0.0F)
            .execute()
            ->get()
            .tokens;
    ++passes;

    // predicted[0] is certain; predicted[i] is too while guess i-1 equals predicted[i-1].
    uint32_t accepted = 1;
    while (accepted <= w && guesses[accepted - 1] == predicted[accepted - 1]) ++accepted;
    generated.insert(generated.end(), predicted.begin(), predicted.begin() + accepted);
    // KV is final for the pending tokens and the accepted guesses; the slots after them hold
    // rejected guesses, which the next pass overwrites.
    in_kv += static_cast<uint32_t>(pending.size()) + accepted - 1;
    pending = {predicted[accepted - 1]};
    guesses.assign(predicted.begin() + accepted, predicted.end());
    guesses.resize(w, predicted.back());
  }
  generated.resize(max_tokens.value());
  pie::send("tokens=" + std::to_string(generated.size()) + " passes=" + std::to_string(passes));
  return tokenizer.detokenize(generated);
}
