// Hierarchical attention: one KV sequence holds a tree of text, a shared root and several branches
// under it, and a non-causal attention mask keeps the branches apart. Every branch attends to the
// root and to itself, never to its siblings, and each branch's positions start right after the
// root, as if it were the only one. All branches are computed in the same forward passes (one
// prefill, then one pass per generated token for all branches together), yet each continues
// exactly as it would alone.
//
//   hierarchical-attention <tokens> <root> <branch>...
//
// Sends each branch's greedy continuation (in branch order); completes with the number of passes.
#include <charconv>
#include <string>
#include <vector>

#include "pie/pie.h"

namespace {

// BRLE row of a token in `slot`: runs alternating attend/skip over slots 0..slot, from `visible`.
std::vector<uint32_t> brle(const std::vector<bool>& visible, uint32_t slot) {
  std::vector<uint32_t> runs = {0};
  bool attending = true;
  for (uint32_t j = 0; j <= slot; ++j) {
    if (visible[j] != attending) {
      runs.push_back(0);
      attending = !attending;
    }
    ++runs.back();
  }
  return runs;
}

// Text of `generated` as it reads after `before` (decoding tokens alone drops SentencePiece's
// leading space).
std::string continuation(const pie::Tokenizer& tokenizer, const std::vector<uint32_t>& before,
                         const std::vector<uint32_t>& generated) {
  std::vector<uint32_t> anchor(before.end() - std::min<ptrdiff_t>(4, before.size()), before.end());
  const std::string anchor_text = tokenizer.detokenize(anchor);
  anchor.insert(anchor.end(), generated.begin(), generated.end());
  const std::string all = tokenizer.detokenize(anchor);
  return all.starts_with(anchor_text) ? all.substr(anchor_text.size())
                                      : tokenizer.detokenize(generated);
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage = "usage: hierarchical-attention <tokens> <root> <branch>...";
  if (args.size() < 3) return pie::Error{kUsage};
  uint32_t tokens = 0;
  const auto [end, error] =
      std::from_chars(args[0].data(), args[0].data() + args[0].size(), tokens);
  if (error != std::errc() || end != args[0].data() + args[0].size() || tokens == 0) {
    return pie::Error{"'" + args[0] + "' is not a token count; " + kUsage};
  }

  const pie::Model model = pie::Model::first();
  const pie::Queue queue = model.create_queue();
  const pie::Tokenizer tokenizer = model.tokenizer();
  const uint32_t page_size = model.kv_page_size();

  const std::vector<uint32_t> root = tokenizer.tokenize(args[1]);
  const auto root_size = static_cast<uint32_t>(root.size());
  struct Branch {
    std::vector<uint32_t> prompt;
    std::vector<uint32_t> slots;  // its slots in the sequence: prompt, then generated tokens
    std::vector<uint32_t> generated;
  };
  std::vector<Branch> branches;
  for (size_t i = 2; i < args.size(); ++i) {
    branches.push_back({tokenizer.tokenize(args[i]), {}, {}});
    if (branches.back().prompt.empty())
      return pie::Error{"branch " + std::to_string(i - 1) + " is empty"};
  }

  std::vector<pie::KvPage> pages;
  uint32_t in_kv = 0;
  uint32_t passes = 0;
  // Runs one pass over `inputs` (token, position, owning branch or -1 for the root) and returns
  // the greedy token after each input listed in `outputs`.
  struct Input {
    uint32_t token;
    uint32_t position;
    int branch;
  };
  const auto run_pass = [&](const std::vector<Input>& inputs,
                            const std::vector<uint32_t>& outputs) {
    const auto n = static_cast<uint32_t>(inputs.size());
    const uint32_t total = in_kv + n;
    while (pages.size() * page_size < total) pages.push_back(queue.allocate_kv_pages(1)[0]);
    std::vector<uint32_t> ids(n), positions(n);
    std::vector<std::vector<uint32_t>> mask(n);
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t slot = in_kv + i;
      ids[i] = inputs[i].token;
      positions[i] = inputs[i].position;
      // The root sees the root; a branch sees the root and its own slots.
      std::vector<bool> visible(slot + 1, false);
      for (uint32_t j = 0; j < root_size && j <= slot; ++j) visible[j] = true;
      if (inputs[i].branch >= 0) {
        Branch& b = branches[static_cast<size_t>(inputs[i].branch)];
        b.slots.push_back(slot);
        for (uint32_t s : b.slots) visible[s] = true;
      } else {
        visible[slot] = true;
      }
      mask[i] = brle(visible, slot);
    }
    in_kv = total;
    ++passes;
    return queue.forward_pass()
        .input_tokens(ids, positions)
        .kv_cache(pages, total - (total - 1) / page_size * page_size)
        .attention_mask(mask)
        .output_tokens(outputs, 0.0F)
        .execute()
        ->get()
        .tokens;
  };

  // Prefill: the root, then every branch at positions right after the root.
  std::vector<Input> inputs;
  std::vector<uint32_t> outputs;
  for (uint32_t i = 0; i < root_size; ++i) inputs.push_back({root[i], i, -1});
  for (size_t b = 0; b < branches.size(); ++b) {
    const auto& prompt = branches[b].prompt;
    for (uint32_t i = 0; i < prompt.size(); ++i) {
      inputs.push_back({prompt[i], root_size + i, static_cast<int>(b)});
    }
    outputs.push_back(static_cast<uint32_t>(inputs.size()) - 1);
  }
  std::vector<uint32_t> next = run_pass(inputs, outputs);
  // Decode: one token per branch per pass.
  for (uint32_t step = 1;; ++step) {
    for (size_t b = 0; b < branches.size(); ++b) branches[b].generated.push_back(next[b]);
    if (step == tokens) break;
    inputs.clear();
    outputs.clear();
    for (size_t b = 0; b < branches.size(); ++b) {
      const Branch& branch = branches[b];
      const auto position =
          static_cast<uint32_t>(root_size + branch.prompt.size() + branch.generated.size() - 1);
      inputs.push_back({branch.generated.back(), position, static_cast<int>(b)});
      outputs.push_back(static_cast<uint32_t>(b));
    }
    next = run_pass(inputs, outputs);
  }
  for (const auto& branch : branches) {
    pie::send(continuation(tokenizer, branch.prompt, branch.generated));
  }
  return std::to_string(passes) + " passes";
}
