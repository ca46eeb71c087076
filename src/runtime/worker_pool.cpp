#include "runtime/worker_pool.h"

#include "common/log.h"

namespace pie::runtime {

WorkerPool::WorkerPool(std::shared_ptr<V8Process> v8, HostApi& api, size_t warm, size_t max_workers,
                       std::chrono::milliseconds idle_timeout)
    : v8_(std::move(v8)),
      api_(api),
      warm_(warm),
      max_workers_(std::max<size_t>(1, max_workers)),
      idle_timeout_(idle_timeout) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < std::min(warm_, max_workers_); ++i) start_worker();
}

WorkerPool::~WorkerPool() {
  std::map<std::thread::id, std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  // Workers leave the map as they retire; wait until every one has.
  for (;;) {
    std::unique_lock lock(mutex_);
    join_retired();
    if (threads_.empty()) break;
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void WorkerPool::start_worker() {
  ++starting_;
  std::thread t([this] { worker_loop(); });
  const auto id = t.get_id();
  threads_.emplace(id, std::move(t));
}

void WorkerPool::join_retired() {
  for (auto& t : retired_) t.join();
  retired_.clear();
}

void WorkerPool::submit(Job job) {
  std::lock_guard lock(mutex_);
  join_retired();
  jobs_.push_back(std::move(job));
  // Keep one worker ready beyond the jobs waiting, so the next launch does not pay for an isolate.
  if (idle_ + starting_ <= jobs_.size() && threads_.size() < max_workers_) start_worker();
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
      const bool woken =
          cv_.wait_for(lock, idle_timeout_, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      const bool retire = jobs_.empty() && (stopping_ || (!woken && threads_.size() > warm_));
      if (retire) {
        // The isolate is disposed on its own thread, then the thread hands itself over to be
        // joined.
        lock.unlock();
        host.reset();
        lock.lock();
        auto self = threads_.find(std::this_thread::get_id());
        retired_.push_back(std::move(self->second));
        threads_.erase(self);
        return;
      }
      if (jobs_.empty()) continue;  // idle timeout, but needed to stay warm
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job(*host);
  }
}

}  // namespace pie::runtime
