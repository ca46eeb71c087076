// Wakes a thread blocked in zmq_poll from any other thread: an eventfd polled next to the sockets.
#pragma once

namespace pie::engine {

class Wakeup {
 public:
  Wakeup();  // throws pie::Error when the kernel refuses an eventfd
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  int fd() const { return fd_; }
  // Thread-safe.
  void notify();
  // Called by the polling thread once woken.
  void clear();

 private:
  int fd_;
};

}  // namespace pie::engine
