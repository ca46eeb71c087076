// The scheduler alone, with the clock in the test's hands: the gather window.
#include "engine/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pie::engine {
namespace {

using namespace std::chrono_literals;
using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using ::testing::ElementsAre;
using T = Scheduler::Clock::time_point;

ForwardPassRequest pass(uint32_t token) {
  ForwardPassRequest r;
  r.input_tokens = {token};
  r.input_token_positions = {0};
  r.kv_page_ptrs = {0};
  r.kv_page_last_len = 1;
  return r;
}

std::vector<uint32_t> tokens_of(const Work& w) {
  std::vector<uint32_t> out;
  for (const ForwardPassRequest& r : w.batch) out.push_back(r.input_tokens[0]);
  return out;
}

class GatherTest : public ::testing::Test {
 protected:
  GatherTest() : scheduler_(SchedulerOptions{4, 64, 10ms}) {}

  // A pass whose caller waits for the result (or not).
  void submit(StreamId s, uint32_t token, bool waited = true) {
    Callback<ForwardPassResponse> done;
    if (waited) done = [](Result<ForwardPassResponse>) {};
    scheduler_.submit(s, 1, ForwardCommand{pass(token), done});
  }
  void complete(size_t n, T at) {
    Work w;
    scheduler_.batch_done(std::vector<ForwardPassResponse>(n), w, at);
  }

  Scheduler scheduler_;
  const T t0 = Scheduler::Clock::now();
};

TEST_F(GatherTest, TheNextBatchWaitsForTheCallerThatJustGotItsResult) {
  const StreamId a = scheduler_.create_stream();
  const StreamId b = scheduler_.create_stream();
  submit(a, 1);
  Work first;
  scheduler_.pump(first, t0);
  EXPECT_THAT(tokens_of(first), ElementsAre(1));
  submit(b, 2);
  complete(1, t0 + 40ms);  // a batch of 40 ms: a window of 5 ms
  Work waiting;
  scheduler_.pump(waiting, t0 + 40ms);
  EXPECT_TRUE(waiting.batch.empty());
  EXPECT_EQ(scheduler_.wake_at(), t0 + 45ms);
  submit(a, 3);  // a comes back
  Work together;
  scheduler_.pump(together, t0 + 41ms);
  EXPECT_THAT(tokens_of(together), ElementsAre(2, 3));
  EXPECT_EQ(scheduler_.wake_at(), std::nullopt);
}

TEST_F(GatherTest, TheWindowEndsWithoutTheCallersThatDoNotComeBack) {
  const StreamId a = scheduler_.create_stream();
  const StreamId b = scheduler_.create_stream();
  submit(a, 1);
  Work first;
  scheduler_.pump(first, t0);
  submit(b, 2);
  complete(1, t0 + 400ms);  // a long batch: the window is capped at 10 ms
  Work waiting;
  scheduler_.pump(waiting, t0 + 405ms);
  EXPECT_TRUE(waiting.batch.empty());
  EXPECT_EQ(scheduler_.wake_at(), t0 + 410ms);
  Work alone;
  scheduler_.pump(alone, t0 + 410ms);
  EXPECT_THAT(tokens_of(alone), ElementsAre(2));
}

TEST_F(GatherTest, PassesNobodyWaitsForOpenNoWindow) {
  const StreamId a = scheduler_.create_stream();
  const StreamId b = scheduler_.create_stream();
  submit(a, 1, false);
  Work first;
  scheduler_.pump(first, t0);
  submit(b, 2);
  complete(1, t0 + 40ms);
  Work next;
  scheduler_.pump(next, t0 + 40ms);
  EXPECT_THAT(tokens_of(next), ElementsAre(2));
}

TEST(Gather, AZeroCapSendsAtOnce) {
  Scheduler scheduler(SchedulerOptions{4, 64, 0ms});
  const T t0 = Scheduler::Clock::now();
  const StreamId a = scheduler.create_stream();
  const StreamId b = scheduler.create_stream();
  scheduler.submit(a, 1, ForwardCommand{pass(1), [](Result<ForwardPassResponse>) {}});
  Work first;
  scheduler.pump(first, t0);
  scheduler.submit(b, 1, ForwardCommand{pass(2), [](Result<ForwardPassResponse>) {}});
  Work done;
  scheduler.batch_done(std::vector<ForwardPassResponse>(1), done, t0 + 40ms);
  Work next;
  scheduler.pump(next, t0 + 40ms);
  EXPECT_THAT(tokens_of(next), ElementsAre(2));
}

}  // namespace
}  // namespace pie::engine
