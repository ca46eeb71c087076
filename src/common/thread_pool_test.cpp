#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

namespace pie {
namespace {

void expect_each_index_once(ThreadPool& pool, size_t count) {
  std::vector<std::atomic<int>> hits(count);
  pool.parallel_for(count, [&](size_t i) { hits[i].fetch_add(1); });
  for (size_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
}

TEST(ThreadPool, RunsEveryIndexExactlyOnce) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3U);
  for (size_t count : {0, 1, 2, 3, 7, 1000}) expect_each_index_once(pool, count);
}

TEST(ThreadPool, ManyJobsInQuickSuccession) {
  ThreadPool pool(2);
  std::atomic<uint64_t> sum{0};
  for (int job = 0; job < 5000; ++job) {
    pool.parallel_for(4, [&](size_t i) { sum.fetch_add(i + 1); });
  }
  EXPECT_EQ(sum.load(), 5000U * 10U);
}

TEST(ThreadPool, MoreThreadsThanCoresWithWorkersArrivingLate) {
  // With more threads than cores, workers often wake after the caller has taken every task: they
  // must leave that job alone and still join later ones correctly.
  ThreadPool pool(std::thread::hardware_concurrency() * 2 + 2);
  std::atomic<uint64_t> sum{0};
  for (int job = 0; job < 20000; ++job) {
    pool.parallel_for(3, [&](size_t i) { sum.fetch_add(i + 1); });
  }
  EXPECT_EQ(sum.load(), 20000U * 6U);
  expect_each_index_once(pool, 1000);
}

TEST(ThreadPool, UsesWorkerThreads) {
  ThreadPool pool(2);
  std::mutex m;
  std::set<std::thread::id> ids;
  // Enough slow tasks that the worker certainly picks some up.
  pool.parallel_for(64, [&](size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(m);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids.size(), 2U);
}

TEST(ThreadPool, RethrowsTheFirstTaskException) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(100,
                                 [&](size_t i) {
                                   ran.fetch_add(1);
                                   if (i % 10 == 3) throw std::runtime_error("task failed");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 100);  // the other tasks still ran
  // The pool stays usable.
  expect_each_index_once(pool, 50);
}

TEST(ThreadPool, SingleThreadPoolRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.size(), 1U);
  const auto caller = std::this_thread::get_id();
  pool.parallel_for(10, [&](size_t) { EXPECT_EQ(std::this_thread::get_id(), caller); });
}

TEST(ThreadPool, DefaultSizeIsHardwareThreads) {
  ThreadPool pool;
  EXPECT_EQ(pool.size(), std::max(1U, std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace pie
