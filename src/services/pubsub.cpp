#include "services/pubsub.h"

#include <algorithm>

namespace pie::services {

std::optional<std::string> PubSub::Subscription::take() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  std::string message = std::move(queue_.front());
  queue_.pop_front();
  return message;
}

bool PubSub::Subscription::has_message() const {
  std::lock_guard lock(mutex_);
  return !queue_.empty();
}

size_t PubSub::Subscription::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

bool PubSub::Subscription::offer(const std::string& message) {
  std::lock_guard lock(mutex_);
  if (!active_) return false;
  if (queue_.size() >= kQueueDepth) {
    ++dropped_;
    return false;
  }
  queue_.push_back(message);
  return true;
}

std::shared_ptr<PubSub::Subscription> PubSub::subscribe(const std::string& topic,
                                                        std::function<void()> on_message) {
  std::shared_ptr<Subscription> subscription(new Subscription(topic, std::move(on_message)));
  std::lock_guard lock(mutex_);
  topics_[topic].push_back(subscription);
  return subscription;
}

void PubSub::unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  {
    std::lock_guard lock(subscription->mutex_);
    subscription->active_ = false;
    subscription->queue_.clear();
  }
  std::lock_guard lock(mutex_);
  auto it = topics_.find(subscription->topic());
  if (it == topics_.end()) return;
  std::erase_if(it->second, [&](const std::weak_ptr<Subscription>& s) {
    auto live = s.lock();
    return !live || live == subscription;
  });
  if (it->second.empty()) topics_.erase(it);
}

size_t PubSub::publish(const std::string& topic, const std::string& message) {
  std::vector<std::shared_ptr<Subscription>> receivers;
  {
    std::lock_guard lock(mutex_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    // Subscriptions whose last reference is gone are pruned here.
    std::erase_if(it->second, [&](const std::weak_ptr<Subscription>& s) {
      auto live = s.lock();
      if (!live) return true;
      receivers.push_back(std::move(live));
      return false;
    });
    if (it->second.empty()) topics_.erase(it);
  }
  size_t delivered = 0;
  for (const auto& subscription : receivers) {
    if (subscription->offer(message)) {
      ++delivered;
      if (subscription->on_message_) subscription->on_message_();
    }
  }
  return delivered;
}

size_t PubSub::subscriber_count(const std::string& topic) {
  std::lock_guard lock(mutex_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return 0;
  return static_cast<size_t>(std::count_if(it->second.begin(), it->second.end(),
                                           [](const auto& s) { return !s.expired(); }));
}

}  // namespace pie::services
