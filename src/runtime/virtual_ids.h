// An instance's private names for the physical slots (KV pages, embeddings, adapters) it holds on
// one model (reference §5.2): virtual ids are handed out smallest-free-first, and only ids mapped
// here can be used, so an instance can never name another instance's slots.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <span>
#include <vector>

namespace pie::runtime {

class VirtualIds {
 public:
  // Maps physical ids to new virtual ids, in the same order.
  std::vector<uint32_t> map(std::span<const uint32_t> physical);
  // The physical id behind `virtual_id`; throws pie::Error when the instance does not hold it.
  uint32_t physical(uint32_t virtual_id) const;
  std::vector<uint32_t> physical(std::span<const uint32_t> virtual_ids) const;
  // Unmaps the ids the instance holds (others are ignored) and returns their physical ids.
  std::vector<uint32_t> unmap(std::span<const uint32_t> virtual_ids);
  size_t size() const { return mapped_; }

 private:
  static constexpr uint32_t kFree = UINT32_MAX;
  std::vector<uint32_t> physical_;  // indexed by virtual id; kFree when unmapped
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> free_;
  size_t mapped_ = 0;
};

}  // namespace pie::runtime
