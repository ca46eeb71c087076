#include "services/mailbox.h"

#include <utility>

namespace pie::services {

void Mailbox::push(std::string message) {
  Receiver receiver;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (receivers_.empty()) {
      messages_.push_back(std::move(message));
      return;
    }
    receiver = std::move(receivers_.front());
    receivers_.pop_front();
  }
  // Outside the lock: the receiver may call back into this mailbox.
  receiver(std::move(message));
}

void Mailbox::pull(Receiver receiver) {
  std::string message;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (messages_.empty()) {
      receivers_.push_back(std::move(receiver));
      return;
    }
    message = std::move(messages_.front());
    messages_.pop_front();
  }
  receiver(std::move(message));
}

void Mailbox::close() {
  std::deque<Receiver> dropped;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    messages_.clear();
    dropped.swap(receivers_);
  }
}

size_t Mailbox::queued() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

size_t Mailbox::waiting() const {
  std::lock_guard lock(mutex_);
  return receivers_.size();
}

}  // namespace pie::services
