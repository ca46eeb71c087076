// A fork-join thread pool for data-parallel kernels. The calling thread takes part in the work, so
// a pool of N threads starts N - 1 workers. Workers spin briefly after a job (kernels come in quick
// succession during a forward pass) and then sleep until the next one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pie {

class ThreadPool {
 public:
  // `threads` counts the caller; 0 means one per hardware thread.
  explicit ThreadPool(unsigned threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls task(i) for every i in [0, count), spread over the pool; returns when all are done.
  // Which thread runs which index is unspecified: tasks must not depend on it. One caller at a
  // time; a task must not call back into the pool.
  void parallel_for(size_t count, const std::function<void(size_t)>& task);

 private:
  void worker_loop();
  void drain();
  // Polls `value` until it differs from `old`, then sleeps on `cv`; returns the new value.
  uint32_t wait_change(const std::atomic<uint32_t>& value, uint32_t old,
                       std::condition_variable& cv);
  void notify(std::condition_variable& cv);

  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<uint32_t> generation_{0};  // bumped for each job (and for shutdown)
  // Workers inside the current job, and kClosed once its caller has taken the last task: a
  // worker joins only an open job, so the caller waits for no one who arrives after the work.
  static constexpr uint32_t kClosed = 1U << 31;
  std::atomic<uint32_t> inside_{kClosed};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::mutex sleep_mutex_;
  std::condition_variable job_started_;
  std::condition_variable job_finished_;
};

}  // namespace pie
