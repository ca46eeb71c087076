// A conversation with the client: each message the client sends is a user turn, answered with one
// reply message. The context keeps every earlier turn in its KV pages, so a turn computes only its
// own new tokens. After each reply it sends
// "turn <n>: prefilled <p> tokens, new <m>, context <t> tokens".
// Ends after --turns turns, or when the client sends "/bye".
//
//   pie run chat.wasm -- [--system "You are helpful."] [--turns 0 (no limit)] [--max-tokens 64]
#include <cstdlib>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::string system;
  uint32_t turns = 0;
  uint32_t max_tokens = 64;
  if (args.size() % 2 != 0) return pie::Error{"chat: " + args.back() + " needs a value"};
  for (size_t i = 0; i < args.size(); i += 2) {
    const std::string& value = args[i + 1];
    if (args[i] == "--system") {
      system = value;
    } else if (args[i] == "--turns") {
      turns = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else if (args[i] == "--max-tokens") {
      max_tokens = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else {
      return pie::Error{"chat: unknown option " + args[i] +
                        " (options: --system, --turns, --max-tokens)"};
    }
  }

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
