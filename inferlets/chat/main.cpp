// A conversation with the client: each message the client sends is a user turn, answered with one
// reply message. The context keeps every earlier turn in its KV pages, so a turn computes only its
// own new tokens. After each reply it sends
// "turn <n>: prefilled <p> tokens, new <m>, context <t> tokens".
// Ends after --turns turns, or when the client sends "/bye".
//
//   pie run chat.wasm -- [--system "You are helpful."] [--turns 0 (no limit)] [--max-tokens 64]
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  auto parsed = pie::Flags::parse(
      "chat", args,
      {{"--system"}, {"--turns", pie::FlagType::Count}, {"--max-tokens", pie::FlagType::Count}});
  if (!parsed) return parsed.error();
  const pie::Flags& flags = parsed.value();
  const std::string system = flags.text("--system");
  const uint32_t turns = flags.count("--turns", 0);
  const uint32_t max_tokens = flags.count("--max-tokens", 64);

  const pie::Model model = pie::Model::first();
  pie::Context context = model.create_context();
  if (!system.empty()) context.fill_system(system);
  pie::StopCondition stop = pie::StopCondition::max(max_tokens);
  // Without a chat template turns are "role: content" lines: the next user line ends a reply.
  if (model.prompt_template().empty()) stop.stop_strings = {"\nuser:", "\n"};

  uint32_t turn = 0;
  while (turns == 0 || turn < turns) {
    const std::string message = pie::receive().get();
    if (message == "/bye") break;
    ++turn;
    context.fill_user(message);
    // Tokens not in the KV cache yet: this turn's, and the last reply's final token.
    const uint64_t new_tokens = context.token_ids().size() - context.tokens_computed();
    const uint64_t computed_before = context.tokens_computed();
    const uint32_t passes_before = context.forward_passes();
    const std::string reply = context.generate(pie::Sampler::greedy(), stop);
    pie::send(reply);
    // What the engine was given: one pass with the prompt, then one token per later pass.
    const uint64_t passes = context.forward_passes() - passes_before;
    const uint64_t prefilled = context.tokens_computed() - computed_before - (passes - 1);
    pie::send("turn " + std::to_string(turn) + ": prefilled " + std::to_string(prefilled) +
              " tokens, new " + std::to_string(new_tokens) + ", context " +
              std::to_string(context.token_ids().size()) + " tokens");
  }
  return "conversation of " + std::to_string(turn) + " turns";
}
