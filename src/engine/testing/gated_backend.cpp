#include "engine/testing/gated_backend.h"

namespace pie::engine::testing {

void PassGate::hold() {
  std::lock_guard lock(mutex_);
  held_ = true;
}

void PassGate::release() {
  {
    std::lock_guard lock(mutex_);
    held_ = false;
  }
  changed_.notify_all();
}

bool PassGate::wait_started(size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return started_ >= count; });
}

void PassGate::enter() {
  std::unique_lock lock(mutex_);
  ++started_;
  changed_.notify_all();
  changed_.wait(lock, [this] { return !held_; });
}

}  // namespace pie::engine::testing
