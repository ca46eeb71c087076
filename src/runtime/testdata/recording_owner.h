// Test helper: an InstanceOwner that records what an instance produces and lets a test wait for
// its end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/engine_port.h"

namespace pie::runtime::testing {

class RecordingOwner : public server::InstanceOwner {
 public:
  struct End {
    server::TerminationCode code;
    std::string message;
  };

  void on_message(const std::string&, std::string message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(message));
    cv_.notify_all();
  }
  void on_blob(const std::string&, std::string data) override {
    std::lock_guard lock(mutex_);
    blobs_.push_back(std::move(data));
    cv_.notify_all();
  }
  void on_terminated(const std::string&, server::TerminationCode code,
                     std::string message) override {
    std::lock_guard lock(mutex_);
    ++terminations_;
    end_ = End{code, std::move(message)};
    cv_.notify_all();
  }

  // The end of the instance; fails the test after `timeout`.
  End wait_end(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return end_.has_value(); })) {
      return End{server::TerminationCode::SystemError, "<test timed out waiting for the end>"};
    }
    return *end_;
  }
  // Waits until `n` messages arrived; false after `timeout`.
  bool wait_messages(size_t n, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }
  std::vector<std::string> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<std::string> blobs() {
    std::lock_guard lock(mutex_);
    return blobs_;
  }
  int terminations() {
    std::lock_guard lock(mutex_);
    return terminations_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;
  std::vector<std::string> blobs_;
  std::optional<End> end_;
  int terminations_ = 0;
};

}  // namespace pie::runtime::testing
