// The objects behind an instance's handles.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model_service.h"
#include "protocol/backend_messages.h"
#include "runtime/future.h"
#include "runtime/handle_table.h"
#include "services/pubsub.h"

namespace pie::tokenizer {
class Tokenizer;
}

namespace pie::runtime {

// A model as an instance sees it: its service id (registration index) and service.
struct ModelRef {
  uint32_t service_id = 0;
  engine::ModelService* service = nullptr;
};

struct ModelObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::Model;
  explicit ModelObject(ModelRef m) : model(m) {}
  ModelRef model;
};

struct QueueObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::Queue;
  QueueObject(ModelRef m, engine::StreamId s) : model(m), stream(s) {}
  ModelRef model;
  engine::StreamId stream;
};

struct ForwardPassObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::ForwardPass;
  ForwardPassObject(ModelRef m, engine::StreamId s) : model(m), stream(s) {}
  ModelRef model;
  engine::StreamId stream;
  protocol::ForwardPassRequest request;  // physical ids
};

// What a future's value means, and how the guest reads it.
enum class FutureKind : uint8_t { Done, Text, Allocation, ForwardPass, Blob };

struct FutureObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::Future;
  FutureObject(FutureKind k, std::shared_ptr<FutureCore> c) : kind(k), core(std::move(c)) {}
  FutureKind kind;
  std::shared_ptr<FutureCore> core;
  // Allocation: where the ids live, and their virtual ids once mapped (on first read).
  ModelRef model;
  uint32_t resource_type = 0;
  std::optional<std::vector<uint32_t>> virtual_ids;
  // Blob: taken by the first read.
  bool taken = false;
};

struct TokenizerObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::Tokenizer;
  explicit TokenizerObject(std::shared_ptr<const tokenizer::Tokenizer> t)
      : tokenizer(std::move(t)) {}
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
};

struct BlobObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::Blob;
  explicit BlobObject(std::string d) : data(std::move(d)) {}
  std::string data;
};

// Unsubscribes when the handle is dropped.
struct SubscriptionObject : HostObject {
  static constexpr HandleKind kKind = HandleKind::Subscription;
  SubscriptionObject(services::PubSub& b, std::shared_ptr<services::PubSub::Subscription> s)
      : bus(b), subscription(std::move(s)) {}
  ~SubscriptionObject() override { bus.unsubscribe(subscription); }
  services::PubSub& bus;
  std::shared_ptr<services::PubSub::Subscription> subscription;
};

}  // namespace pie::runtime
