// A FIFO of messages from a client to one instance (reference §3.5.4, §3.5.6). A pull that comes
// before any message waits for the next one; waiting pulls are served in the order they came.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace pie::services {

class Mailbox {
 public:
  using Receiver = std::function<void(std::string)>;

  // Delivers to the oldest waiting pull (on this thread), else queues the message. Discarded once
  // the mailbox is closed.
  void push(std::string message);
  // Hands the next message to `receiver`: at once, on this thread, when one is queued; otherwise
  // later, on the thread of the push that brings it.
  void pull(Receiver receiver);
  // Drops queued messages and waiting pulls; later pushes and pulls are ignored.
  void close();

  size_t queued() const;
  size_t waiting() const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> messages_;
  std::deque<Receiver> receivers_;
  bool closed_ = false;
};

}  // namespace pie::services
