#include "common/thread_pool.h"

#include <chrono>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PIE_CPU_RELAX() _mm_pause()
#else
#define PIE_CPU_RELAX() std::this_thread::yield()
#endif

namespace pie {

namespace {

// How long a thread polls before sleeping: long enough to cover the gap between two kernels of a
// forward pass, short enough not to burn a core when the pool goes idle.
constexpr auto kSpin = std::chrono::microseconds(200);

}  // namespace

uint32_t ThreadPool::wait_change(const std::atomic<uint32_t>& value, uint32_t old,
                                 std::condition_variable& cv) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; ++i) {
    const uint32_t now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    PIE_CPU_RELAX();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  std::unique_lock lock(sleep_mutex_);
  cv.wait(lock, [&] { return value.load(std::memory_order_acquire) != old; });
  return value.load(std::memory_order_acquire);
}

// Taking the mutex orders the change before a sleeper's check, so no wake-up is lost.
void ThreadPool::notify(std::condition_variable& cv) {
  { std::lock_guard lock(sleep_mutex_); }
  cv.notify_all();
}

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0) threads = std::max(1U, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  notify(job_started_);
  for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  error_ = nullptr;
  task_ = &task;
  count_ = count;
  next_.store(0, std::memory_order_relaxed);
  if (workers_.empty() || count == 1) {
    drain();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return;
  }
  inside_.store(0, std::memory_order_release);  // open: publishes the job to joining workers
  generation_.fetch_add(1, std::memory_order_release);
  notify(job_started_);
  drain();
  // Close the job and wait for the workers inside it only: a worker that wakes up later (on a
  // loaded machine, long after the work was taken) finds it closed and leaves it alone.
  for (uint32_t in = inside_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
       in != kClosed;) {
    in = wait_change(inside_, in, job_finished_);
  }
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ThreadPool::drain() {
  for (size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < count_;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    try {
      (*task_)(i);
    } catch (...) {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;  // the generation at construction, whenever this thread gets to run
  for (;;) {
    seen = wait_change(generation_, seen, job_started_);
    if (stop_.load(std::memory_order_relaxed)) return;
    uint32_t in = inside_.load(std::memory_order_acquire);
    bool joined = false;
    while (!joined && (in & kClosed) == 0) {
      joined = inside_.compare_exchange_weak(in, in + 1, std::memory_order_acq_rel,
                                             std::memory_order_acquire);
    }
    if (!joined) continue;
    drain();
    if (inside_.fetch_sub(1, std::memory_order_acq_rel) == (kClosed | 1)) notify(job_finished_);
  }
}

}  // namespace pie
