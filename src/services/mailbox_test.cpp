#include "services/mailbox.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace pie::services {
namespace {

TEST(Mailbox, MessagesBeforePullsAreDeliveredInOrder) {
  Mailbox box;
  box.push("a");
  box.push("b");
  EXPECT_EQ(box.queued(), 2u);
  std::vector<std::string> got;
  box.pull([&](std::string m) { got.push_back(std::move(m)); });
  box.pull([&](std::string m) { got.push_back(std::move(m)); });
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(box.queued(), 0u);
}

TEST(Mailbox, PullsBeforeMessagesAreServedInOrder) {
  Mailbox box;
  std::vector<std::string> got;
  box.pull([&](std::string m) { got.push_back("first:" + m); });
  box.pull([&](std::string m) { got.push_back("second:" + m); });
  EXPECT_EQ(box.waiting(), 2u);
  box.push("x");
  box.push("y");
  box.push("z");
  EXPECT_EQ(got, (std::vector<std::string>{"first:x", "second:y"}));
  EXPECT_EQ(box.queued(), 1u);
  EXPECT_EQ(box.waiting(), 0u);
}

TEST(Mailbox, CloseDropsEverythingAndIgnoresLaterUse) {
  Mailbox box;
  bool called = false;
  box.pull([&](std::string) { called = true; });
  box.close();
  box.push("late");
  box.pull([&](std::string) { called = true; });
  EXPECT_FALSE(called);
  EXPECT_EQ(box.queued(), 0u);
  EXPECT_EQ(box.waiting(), 0u);
}

TEST(Mailbox, ReceiverMayPullAgainFromInsideTheCallback) {
  Mailbox box;
  std::vector<std::string> got;
  std::function<void(std::string)> again = [&](std::string m) {
    got.push_back(std::move(m));
    if (got.size() < 3) box.pull(again);
  };
  box.pull(again);
  box.push("1");
  box.push("2");
  box.push("3");
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(Mailbox, ConcurrentProducerLosesNothing) {
  Mailbox box;
  constexpr int kCount = 10000;
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) box.push(std::to_string(i));
  });
  std::vector<std::string> got;
  std::mutex m;
  for (int i = 0; i < kCount; ++i) {
    box.pull([&](std::string s) {
      std::lock_guard lock(m);
      got.push_back(std::move(s));
    });
  }
  producer.join();
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

}  // namespace
}  // namespace pie::services
