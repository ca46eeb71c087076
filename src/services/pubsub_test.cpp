#include "services/pubsub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace pie::services {
namespace {

// Written without operator+ on a literal, which trips a false -Wrestrict in GCC 12.
std::string msg(int i) {
  std::string s = "m";
  s += std::to_string(i);
  return s;
}

TEST(PubSub, EverySubscriberGetsEveryMessageInOrder) {
  PubSub bus;
  std::atomic<int> notified{0};
  auto a = bus.subscribe("t", [&] { ++notified; });
  auto b = bus.subscribe("t", nullptr);
  auto other = bus.subscribe("u", nullptr);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bus.publish("t", msg(i)), 2u);
  EXPECT_EQ(notified.load(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(a->take(), msg(i));
    EXPECT_EQ(b->take(), msg(i));
  }
  EXPECT_FALSE(a->take().has_value());
  EXPECT_FALSE(other->has_message());
}

TEST(PubSub, MessagesBeforeSubscribingAreNotDelivered) {
  PubSub bus;
  EXPECT_EQ(bus.publish("t", "early"), 0u);
  auto s = bus.subscribe("t", nullptr);
  EXPECT_FALSE(s->has_message());
  bus.publish("t", "late");
  EXPECT_EQ(s->take(), "late");
}

TEST(PubSub, FullQueueDropsNewMessagesForThatSubscriberOnly) {
  PubSub bus;
  auto slow = bus.subscribe("t", nullptr);
  auto fast = bus.subscribe("t", nullptr);
  for (size_t i = 0; i < PubSub::kQueueDepth + 10; ++i) {
    bus.publish("t", std::to_string(i));
    EXPECT_EQ(fast->take(), std::to_string(i));
  }
  EXPECT_EQ(slow->dropped(), 10u);
  for (size_t i = 0; i < PubSub::kQueueDepth; ++i) EXPECT_EQ(slow->take(), std::to_string(i));
  EXPECT_FALSE(slow->take().has_value());
}

TEST(PubSub, UnsubscribeStopsDeliveryAndClearsTheQueue) {
  PubSub bus;
  auto s = bus.subscribe("t", nullptr);
  bus.publish("t", "one");
  bus.unsubscribe(s);
  EXPECT_FALSE(s->has_message());
  EXPECT_EQ(bus.publish("t", "two"), 0u);
  EXPECT_EQ(bus.subscriber_count("t"), 0u);
}

TEST(PubSub, DroppedSubscriptionsArePruned) {
  PubSub bus;
  auto kept = bus.subscribe("t", nullptr);
  bus.subscribe("t", nullptr);  // dropped at once
  EXPECT_EQ(bus.subscriber_count("t"), 1u);
  EXPECT_EQ(bus.publish("t", "x"), 1u);
}

}  // namespace
}  // namespace pie::services
