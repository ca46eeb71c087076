#include "runtime/handle_table.h"

namespace pie::runtime {

const char* handle_kind_name(HandleKind kind) {
  switch (kind) {
    case HandleKind::Model:
      return "model";
    case HandleKind::Queue:
      return "queue";
    case HandleKind::ForwardPass:
      return "forward pass";
    case HandleKind::Future:
      return "future";
    case HandleKind::Tokenizer:
      return "tokenizer";
    case HandleKind::Blob:
      return "blob";
    case HandleKind::Subscription:
      return "subscription";
  }
  return "unknown";
}

uint32_t HandleTable::insert_raw(std::unique_ptr<HostObject> object, HandleKind kind) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() >= kIndexMask) throw Error("too many live handles");
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.object = std::move(object);
  slot.kind = kind;
  ++live_;
  return (uint32_t{slot.generation} << kIndexBits) | (index + 1);
}

const HandleTable::Slot* HandleTable::find(uint32_t h) const {
  const uint32_t index = (h & kIndexMask);
  if (index == 0 || index > slots_.size()) return nullptr;
  const Slot& slot = slots_[index - 1];
  if (!slot.object || slot.generation != (h >> kIndexBits)) return nullptr;
  return &slot;
}

void HandleTable::invalid(uint32_t h, const char* expected) {
  const std::string kind = *expected == '\0' ? "" : std::string(expected) + " ";
  throw Error("handle " + std::to_string(h) + " is not a live " + kind + "handle");
}

HostObject& HandleTable::lookup(uint32_t h, HandleKind kind) {
  const Slot* slot = find(h);
  if (slot == nullptr || slot->kind != kind) invalid(h, handle_kind_name(kind));
  return *slot->object;
}

HandleKind HandleTable::kind(uint32_t h) const {
  const Slot* slot = find(h);
  if (slot == nullptr) invalid(h, "");
  return slot->kind;
}

void HandleTable::erase(uint32_t h) {
  const Slot* found = find(h);
  if (found == nullptr) invalid(h, "");
  const uint32_t index = (h & kIndexMask) - 1;
  Slot& slot = slots_[index];
  // Move out first: the object's destructor may not re-enter the table half-updated.
  std::unique_ptr<HostObject> object = std::move(slot.object);
  slot.generation = static_cast<uint8_t>(slot.generation == 255 ? 1 : slot.generation + 1);
  free_.push_back(index);
  --live_;
}

void HandleTable::clear() {
  std::vector<Slot> slots = std::move(slots_);
  slots_.clear();
  free_.clear();
  live_ = 0;
}

}  // namespace pie::runtime
