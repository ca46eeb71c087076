#include "backend/cpu/plan.h"

#include "backend/sampling/sampler.h"
#include "common/brle.h"

namespace pie::cpu {

namespace {

std::string str(uint64_t v) {
  return std::to_string(v);
}

// The inputs in pass order: tokens in order, each embedding before the first token with a greater
// position.
std::vector<Input> merge_inputs(const protocol::ForwardPassRequest& r) {
  std::vector<Input> inputs;
  inputs.reserve(r.input_tokens.size() + r.input_embed_ptrs.size());
  size_t e = 0;
  for (size_t t = 0; t < r.input_tokens.size(); ++t) {
    while (e < r.input_embed_ptrs.size() &&
           r.input_embed_positions[e] < r.input_token_positions[t]) {
      inputs.push_back({Input::kNone, r.input_embed_ptrs[e], r.input_embed_positions[e]});
      ++e;
    }
    inputs.push_back({r.input_tokens[t], Input::kNone, r.input_token_positions[t]});
  }
  for (; e < r.input_embed_ptrs.size(); ++e) {
    inputs.push_back({Input::kNone, r.input_embed_ptrs[e], r.input_embed_positions[e]});
  }
  return inputs;
}

}  // namespace

std::variant<Plan, std::string> plan_request(const protocol::ForwardPassRequest& r,
                                             const Limits& limits) {
  if (r.adapter.has_value())
    return "this backend has no adapters (adapter " + str(*r.adapter) + ")";
  if (r.input_token_positions.size() != r.input_tokens.size()) {
    return "input_token_positions has " + str(r.input_token_positions.size()) + " entries for " +
           str(r.input_tokens.size()) + " input tokens";
  }
  if (r.input_embed_positions.size() != r.input_embed_ptrs.size()) {
    return "input_embed_positions has " + str(r.input_embed_positions.size()) + " entries for " +
           str(r.input_embed_ptrs.size()) + " input embeddings";
  }
  for (uint32_t t : r.input_tokens) {
    if (t >= limits.vocab_size) {
      return "input token " + str(t) + " is outside the vocabulary (size " +
             str(limits.vocab_size) + ")";
    }
  }
  for (uint32_t e : r.input_embed_ptrs) {
    if (e >= limits.embed_slots) {
      return "input embedding slot " + str(e) + " does not exist (" + str(limits.embed_slots) +
             " slots)";
    }
  }

  Plan plan;
  plan.inputs = merge_inputs(r);
  const size_t n = plan.inputs.size();

  // Pages: L = page_size * (pages - 1) + last_len slots, the last n of them written now.
  if (n > 0 && r.kv_page_ptrs.empty()) return "kv_page_ptrs is empty but the pass has inputs";
  for (uint32_t p : r.kv_page_ptrs) {
    if (p >= limits.kv_pages) {
      return "KV page " + str(p) + " does not exist (" + str(limits.kv_pages) + " pages)";
    }
  }
  uint64_t length = 0;
  if (!r.kv_page_ptrs.empty()) {
    if (r.kv_page_last_len < 1 || r.kv_page_last_len > limits.page_size) {
      return "kv_page_last_len " + str(r.kv_page_last_len) + " is outside 1.." +
             str(limits.page_size);
    }
    length = uint64_t{limits.page_size} * (r.kv_page_ptrs.size() - 1) + r.kv_page_last_len;
  }
  if (length < n) {
    return "the pages hold " + str(length) + " slots, fewer than the " + str(n) + " inputs";
  }
  plan.context = length - n;
  plan.pages = r.kv_page_ptrs;

  if (r.mask.size() != n) {
    return "mask has " + str(r.mask.size()) + " rows for " + str(n) + " inputs";
  }
  plan.masks.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t expected = plan.context + i + 1;
    const uint64_t got = brle::length(r.mask[i]);
    if (got != expected) {
      return "mask row " + str(i) + " covers " + str(got) + " slots, expected " + str(expected);
    }
    plan.masks.emplace_back(r.mask[i]);
  }

  if (r.output_token_samplers.size() != r.output_token_indices.size()) {
    return "output_token_samplers has " + str(r.output_token_samplers.size()) + " entries for " +
           str(r.output_token_indices.size()) + " output indices";
  }
  for (size_t i = 0; i < r.output_token_indices.size(); ++i) {
    if (r.output_token_indices[i] >= n) {
      return "output token index " + str(r.output_token_indices[i]) + " is not below the " +
             str(n) + " inputs";
    }
    if (auto why = sampling::check(r.output_token_samplers[i])) {
      return "output " + str(i) + ": " + *why;
    }
  }
  if (r.output_embed_indices.size() != r.output_embed_ptrs.size()) {
    return "output_embed_indices has " + str(r.output_embed_indices.size()) + " entries for " +
           str(r.output_embed_ptrs.size()) + " output embeddings";
  }
  for (size_t i = 0; i < r.output_embed_ptrs.size(); ++i) {
    if (r.output_embed_ptrs[i] >= limits.embed_slots) {
      return "output embedding slot " + str(r.output_embed_ptrs[i]) + " does not exist (" +
             str(limits.embed_slots) + " slots)";
    }
    if (r.output_embed_indices[i] >= n) {
      return "output embedding index " + str(r.output_embed_indices[i]) + " is not below the " +
             str(n) + " inputs";
    }
  }
  return plan;
}

}  // namespace pie::cpu
