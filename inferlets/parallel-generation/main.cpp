// Parallel generation from one prefix: the prefix is computed once, the context is forked into one
// branch per continuation (the branches share the prefix's full KV pages), and all branches are
// generated together, one batched step at a time. With --independent every branch is computed
// from scratch instead, which gives the same text (the fork is only a saving).
//
//   pie run parallel-generation.wasm -- --prompt "Once upon a time" --branch " there was a dog"
//       --branch " there was a cat" [--max-tokens 32] [--independent]
#include <cstdlib>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  std::string prompt;
  std::vector<std::string> branches;
  uint32_t max_tokens = 32;
  bool independent = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--independent") {
      independent = true;
      continue;
    }
    if (i + 1 >= args.size())
      return pie::Error{"parallel-generation: " + args[i] + " needs a value"};
    const std::string& value = args[++i];
    if (args[i - 1] == "--prompt") {
      prompt = value;
    } else if (args[i - 1] == "--branch") {
      branches.push_back(value);
    } else if (args[i - 1] == "--max-tokens") {
      max_tokens = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else {
      return pie::Error{"parallel-generation: unknown option " + args[i - 1] +
                        " (options: --prompt, --branch (repeated), --max-tokens, --independent)"};
    }
  }
  if (prompt.empty() || branches.empty()) {
    return pie::Error{"parallel-generation: needs --prompt and at least one --branch"};
  }

  const pie::Model model = pie::Model::first();
  std::vector<pie::Context> contexts;
  if (independent) {
    for (const auto& branch : branches) {
      pie::Context& c = contexts.emplace_back(model);
      c.fill(pie::ChatFormatter::begin_of_sequence(model));
      c.fill(prompt);
      c.fill(branch);
    }
  } else {
    pie::Context prefix = model.create_context();
    prefix.fill(pie::ChatFormatter::begin_of_sequence(model));
    prefix.fill(prompt);
    prefix.flush();
    for (const auto& branch : branches) {
      contexts.push_back(prefix.fork());
      contexts.back().fill(branch);
    }
  }
  std::vector<pie::Context*> pointers;
  for (auto& c : contexts) pointers.push_back(&c);
  const auto texts = pie::Context::generate_all(pointers, pie::Sampler::greedy(),
                                                pie::StopCondition::max(max_tokens));
  std::string result;
  for (size_t i = 0; i < texts.size(); ++i) {
    pie::send(branches[i] + texts[i]);
    result += (i > 0 ? "\n" : "") + branches[i] + texts[i];
  }
  return result;
}
