// Holding forward passes back, for tests that need passes to pile up while one batch is in flight
// whatever the thread scheduling: PassGate is the mechanism (FakeBackend has one), GatedBackend
// puts one in front of any real backend.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>

#include "backend/backend.h"

namespace pie::engine::testing {

class PassGate {
 public:
  // While held, passes wait in enter() (they still count as started).
  void hold();
  void release();
  // Waits until `count` passes have entered; false after `timeout`.
  bool wait_started(size_t count, std::chrono::milliseconds timeout);
  // Called by a backend at the start of every forward pass.
  void enter();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  size_t started_ = 0;
};

class GatedBackend final : public backend::Backend {
 public:
  explicit GatedBackend(std::unique_ptr<backend::Backend> inner) : inner_(std::move(inner)) {}

  PassGate& gate() { return gate_; }

  protocol::HandshakeResponse handshake(const protocol::HandshakeRequest& request) override {
    return inner_->handshake(request);
  }
  std::vector<protocol::ForwardPassResponse> forward_pass(
      std::span<const protocol::ForwardPassRequest> batch) override {
    gate_.enter();
    return inner_->forward_pass(batch);
  }
  protocol::QueryResponse query(const protocol::QueryRequest& request) override {
    return inner_->query(request);
  }
  void embed_image(const protocol::EmbedImageRequest& request) override {
    inner_->embed_image(request);
  }
  void initialize_adapter(const protocol::InitializeAdapterRequest& request) override {
    inner_->initialize_adapter(request);
  }
  void update_adapter(const protocol::UpdateAdapterRequest& request) override {
    inner_->update_adapter(request);
  }

 private:
  std::unique_ptr<backend::Backend> inner_;
  PassGate gate_;
};

}  // namespace pie::engine::testing
