#include "runtime/virtual_ids.h"

#include <string>

#include "common/error.h"

namespace pie::runtime {

std::vector<uint32_t> VirtualIds::map(std::span<const uint32_t> physical) {
  std::vector<uint32_t> out;
  out.reserve(physical.size());
  for (uint32_t p : physical) {
    uint32_t v;
    if (!free_.empty()) {
      v = free_.top();
      free_.pop();
    } else {
      v = static_cast<uint32_t>(physical_.size());
      physical_.push_back(kFree);
    }
    physical_[v] = p;
    out.push_back(v);
  }
  mapped_ += physical.size();
  return out;
}

uint32_t VirtualIds::physical(uint32_t virtual_id) const {
  if (virtual_id >= physical_.size() || physical_[virtual_id] == kFree) {
    throw Error("id " + std::to_string(virtual_id) + " is not held by this instance");
  }
  return physical_[virtual_id];
}

std::vector<uint32_t> VirtualIds::physical(std::span<const uint32_t> virtual_ids) const {
  std::vector<uint32_t> out;
  out.reserve(virtual_ids.size());
  for (uint32_t v : virtual_ids) out.push_back(physical(v));
  return out;
}

std::vector<uint32_t> VirtualIds::unmap(std::span<const uint32_t> virtual_ids) {
  std::vector<uint32_t> out;
  for (uint32_t v : virtual_ids) {
    if (v >= physical_.size() || physical_[v] == kFree) continue;
    out.push_back(physical_[v]);
    physical_[v] = kFree;
    free_.push(v);
    --mapped_;
  }
  return out;
}

}  // namespace pie::runtime
