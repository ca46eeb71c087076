#include "runtime/worker_pool.h"

#include "common/log.h"

namespace pie::runtime {

WorkerPool::WorkerPool(std::shared_ptr<V8Process> v8, HostApi& api, size_t warm, size_t max_workers)
    : v8_(std::move(v8)), api_(api), max_workers_(std::max<size_t>(1, max_workers)) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < std::min(warm, max_workers_); ++i) start_worker();
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::start_worker() {
  ++starting_;
  threads_.emplace_back([this] { worker_loop(); });
}

void WorkerPool::submit(Job job) {
  std::lock_guard lock(mutex_);
  jobs_.push_back(std::move(job));
  // Keep one worker ready beyond the jobs waiting, so the next launch does not pay for an isolate.
  const size_t ready = idle_ + starting_;
  if (ready <= jobs_.size() && threads_.size() < max_workers_) start_worker();
  cv_.notify_one();
}

size_t WorkerPool::workers() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

size_t WorkerPool::idle() const {
  std::lock_guard lock(mutex_);
  return idle_;
}

void WorkerPool::worker_loop() {
  std::unique_ptr<IsolateHost> host;
  bool started = false;
  for (;;) {
    if (!host || !host->healthy()) {
      host.reset();  // an isolate that ran out of heap is replaced
      host = std::make_unique<IsolateHost>(v8_, api_);
    }
    Job job;
    {
      std::unique_lock lock(mutex_);
      ++idle_;
      if (!started) {
        --starting_;
        started = true;
      }
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping with nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job(*host);
  }
}

}  // namespace pie::runtime
