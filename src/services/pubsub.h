// Topic broadcast between instances (reference §2.3 broadcast/subscribe, with the recommended
// streaming semantics): a subscription receives every message published on its topic after it
// was made, in order, through a bounded queue; when the queue is full, new messages are dropped
// for that subscriber only.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pie::services {

class PubSub {
 public:
  static constexpr size_t kQueueDepth = 64;

  class Subscription {
   public:
    // The oldest waiting message, if any.
    std::optional<std::string> take();
    bool has_message() const;
    const std::string& topic() const { return topic_; }
    // Messages lost because the queue was full.
    size_t dropped() const;

   private:
    friend class PubSub;
    Subscription(std::string topic, std::function<void()> on_message)
        : topic_(std::move(topic)), on_message_(std::move(on_message)) {}
    // Queues a message; false when the queue is full or the subscription ended.
    bool offer(const std::string& message);

    const std::string topic_;
    const std::function<void()> on_message_;
    mutable std::mutex mutex_;
    std::deque<std::string> queue_;
    size_t dropped_ = 0;
    bool active_ = true;
  };

  // Subscribes to `topic`. `on_message` is called (on the publisher's thread, no lock held) each
  // time a message is queued for this subscription. The subscription ends when unsubscribed or
  // when the last reference to it is dropped.
  std::shared_ptr<Subscription> subscribe(const std::string& topic,
                                          std::function<void()> on_message);
  void unsubscribe(const std::shared_ptr<Subscription>& subscription);
  // Delivers `message` to every current subscriber of `topic`; returns how many queued it.
  size_t publish(const std::string& topic, const std::string& message);
  size_t subscriber_count(const std::string& topic);

 private:
  std::mutex mutex_;
  std::map<std::string, std::vector<std::weak_ptr<Subscription>>> topics_;
};

}  // namespace pie::services
