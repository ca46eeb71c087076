// Test helper: one sequence's KV pages and length, turned into forward-pass requests the way an
// inferlet's context does it (reference §2.10): pages grow as tokens are added, masks are causal
// unless given.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "protocol/backend_messages.h"

namespace pie::cpu::testing {

// Hands out physical page ids from a shuffled pool, so that sequences get pages in no particular
// order.
class PagePool {
 public:
  PagePool(uint32_t pages, uint32_t seed) : free_(pages) {
    for (uint32_t i = 0; i < pages; ++i) free_[i] = i;
    std::shuffle(free_.begin(), free_.end(), std::mt19937(seed));
  }
  uint32_t take() {
    const uint32_t p = free_.back();
    free_.pop_back();
    return p;
  }

 private:
  std::vector<uint32_t> free_;
};

class TestSequence {
 public:
  TestSequence(uint32_t page_size, PagePool& pool) : page_size_(page_size), pool_(&pool) {}

  // Shares the first `slots` slots (whole pages) of `other`: pages are reused, not copied.
  void share_prefix(const TestSequence& other, uint32_t slots) {
    pages_.assign(other.pages_.begin(), other.pages_.begin() + slots / page_size_);
    length_ = slots;
  }

  uint32_t length() const { return length_; }

  // A pass appending `tokens` at consecutive positions from the current length (or `positions`),
  // causal masks (or `masks`), and a distribution output at each of `dist_indices`.
  protocol::ForwardPassRequest append(const std::vector<uint32_t>& tokens,
                                      const std::vector<uint32_t>& dist_indices,
                                      std::vector<uint32_t> positions = {},
                                      std::vector<std::vector<uint32_t>> masks = {},
                                      uint32_t top_k = 16) {
    protocol::ForwardPassRequest r;
    r.input_tokens = tokens;
    if (positions.empty()) {
      for (size_t i = 0; i < tokens.size(); ++i)
        positions.push_back(length_ + static_cast<uint32_t>(i));
    }
    r.input_token_positions = positions;
    if (masks.empty()) {
      for (size_t i = 0; i < tokens.size(); ++i)
        masks.push_back({length_ + static_cast<uint32_t>(i) + 1});
    }
    r.mask = masks;
    length_ += static_cast<uint32_t>(tokens.size());
    while (pages_.size() * page_size_ < length_) pages_.push_back(pool_->take());
    r.kv_page_ptrs = pages_;
    r.kv_page_last_len = length_ - (static_cast<uint32_t>(pages_.size()) - 1) * page_size_;
    for (uint32_t i : dist_indices) {
      protocol::SamplerSpec s;
      s.kind = protocol::SamplerKind::Distribution;
      s.top_k = top_k;
      r.output_token_indices.push_back(i);
      r.output_token_samplers.push_back(s);
    }
    return r;
  }

 private:
  uint32_t page_size_;
  PagePool* pool_;
  std::vector<uint32_t> pages_;
  uint32_t length_ = 0;
};

}  // namespace pie::cpu::testing
