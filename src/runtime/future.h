// Host-side futures: the value of a long operation (a forward pass, an allocation, a message from
// the client, ...), filled in by whichever thread completes it and read by the instance after
// pie_wait. Completions may arrive after the instance is gone; they then change nothing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/backend_messages.h"

namespace pie::runtime {

// Wakes an instance blocked in pie_wait. Shared with completion callbacks.
struct Notifier {
  std::mutex mutex;
  std::condition_variable cv;
  bool terminating = false;  // guarded by mutex

  // Runs `change` under the mutex, then wakes the waiter.
  template <class F>
  void update(F&& change) {
    std::lock_guard lock(mutex);
    change();
    cv.notify_all();
  }
};

// What a completed operation produced.
using FutureValue = std::variant<std::monostate,                  // synchronize
                                 std::string,                     // strings and blobs
                                 std::vector<uint32_t>,           // allocated physical ids
                                 protocol::ForwardPassResponse>;  // forward pass outputs

class FutureCore {
 public:
  explicit FutureCore(std::shared_ptr<Notifier> notifier) : notifier_(std::move(notifier)) {}

  // Called once, from any thread.
  void complete(FutureValue value);
  void fail(std::string error);

  // Read with the notifier's mutex held (pie_wait), or after ready() was seen by this thread.
  bool ready() const { return ready_; }
  const std::optional<std::string>& error() const { return error_; }
  FutureValue& value() { return value_; }

 private:
  std::shared_ptr<Notifier> notifier_;
  bool ready_ = false;
  std::optional<std::string> error_;
  FutureValue value_;
};

}  // namespace pie::runtime
