// Threads that run instances, each with its own isolate (IsolateHost). An instance occupies its
// worker until it ends, and a host call that waits blocks only that worker. Idle workers are
// kept warm so a launch only hands the job over; a spare is started in the background whenever the
// last idle worker is taken, up to the maximum (beyond it, launches queue). Workers beyond the
// warm count retire after idling for a while, so a burst does not keep its isolates forever.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/host_api.h"
#include "runtime/isolate_host.h"
#include "runtime/v8_process.h"

namespace pie::runtime {

class WorkerPool {
 public:
  using Job = std::function<void(IsolateHost&)>;

  WorkerPool(std::shared_ptr<V8Process> v8, HostApi& api, size_t warm, size_t max_workers,
             std::chrono::milliseconds idle_timeout = std::chrono::seconds(60));
  // Runs every queued job, then stops the workers.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(Job job);

  size_t workers() const;
  size_t idle() const;

 private:
  void start_worker();  // with mutex_ held
  void join_retired();  // with mutex_ held
  void worker_loop();

  std::shared_ptr<V8Process> v8_;
  HostApi& api_;
  const size_t warm_;
  const size_t max_workers_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::map<std::thread::id, std::thread> threads_;
  std::vector<std::thread> retired_;  // exited, not yet joined
  size_t idle_ = 0;
  size_t starting_ = 0;
  bool stopping_ = false;
};

}  // namespace pie::runtime
