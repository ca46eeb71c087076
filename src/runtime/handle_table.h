// The handles an instance holds (u32, 0 never valid): models, queues, forward passes, futures,
// blobs, ... Each handle names its object's kind, so a handle of the wrong kind, a stale handle or
// a made-up number is rejected with a clear error instead of reaching the wrong object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace pie::runtime {

enum class HandleKind : uint8_t {
  Model,
  Queue,
  ForwardPass,
  Future,
  Tokenizer,
  Blob,
  Subscription,
};

const char* handle_kind_name(HandleKind kind);

class HostObject {
 public:
  virtual ~HostObject() = default;
};

class HandleTable {
 public:
  // Objects stored here derive from HostObject and declare `static constexpr HandleKind kKind`.
  template <class T>
  uint32_t insert(std::unique_ptr<T> object) {
    return insert_raw(std::move(object), T::kKind);
  }

  // The object of handle `h`; throws pie::Error when `h` is not a live handle of kind T.
  template <class T>
  T& get(uint32_t h) {
    return static_cast<T&>(lookup(h, T::kKind));
  }

  // The kind of a live handle; throws pie::Error otherwise.
  HandleKind kind(uint32_t h) const;

  // Releases a live handle; throws pie::Error otherwise.
  void erase(uint32_t h);
  // Releases every handle.
  void clear();
  size_t size() const { return live_; }

 private:
  // A handle is the slot index + 1 in its low 24 bits and the slot's generation in its high 8
  // bits, so a freed and reused slot does not answer to its old handle.
  static constexpr uint32_t kIndexBits = 24;
  static constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;

  struct Slot {
    std::unique_ptr<HostObject> object;
    HandleKind kind = HandleKind::Model;
    uint8_t generation = 1;
  };

  uint32_t insert_raw(std::unique_ptr<HostObject> object, HandleKind kind);
  HostObject& lookup(uint32_t h, HandleKind kind);
  const Slot* find(uint32_t h) const;
  [[noreturn]] static void invalid(uint32_t h, const char* expected);

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

}  // namespace pie::runtime
