// A deterministic stand-in for a model, for the engine's tests and benchmarks. Its "KV cache"
// stores the tokens themselves: a forward pass writes each input token into its slot, and the
// output for input token i is
//     (sum of the tokens in the slots it attends to + position of i) mod vocab
// so an output depends on what earlier passes wrote: ordering and chunking are observable.
// Requests of one batch run one after the other. It records every batch and call.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/testing/gated_backend.h"

namespace pie::engine::testing {

struct FakeBackendOptions {
  std::string name = "fake";
  uint32_t page_size = 4;
  std::map<uint32_t, uint32_t> capacities = {{0, 64}, {1, 8}, {2, 2}};
  uint32_t vocab = 1000;
  std::optional<uint32_t> max_dist_size = 8;
  bool record_requests = false;  // keep every forward-pass request (see requests())
  std::string prompt_template;   // the chat template of the handshake (none: empty)
};

// What a batch looked like.
struct BatchRecord {
  size_t requests = 0;
  uint32_t tokens = 0;
};

class FakeBackend final : public backend::Backend {
 public:
  explicit FakeBackend(FakeBackendOptions options = {});

  protocol::HandshakeResponse handshake(const protocol::HandshakeRequest& request) override;
  std::vector<protocol::ForwardPassResponse> forward_pass(
      std::span<const protocol::ForwardPassRequest> batch) override;
  // "ping" -> "pong"; anything else -> "echo: <query>".
  protocol::QueryResponse query(const protocol::QueryRequest& request) override;
  void embed_image(const protocol::EmbedImageRequest& request) override;
  void initialize_adapter(const protocol::InitializeAdapterRequest& request) override;
  void update_adapter(const protocol::UpdateAdapterRequest& request) override;

  // While held, forward passes wait before running (they still count as started).
  void hold() { gate_.hold(); }
  void release() { gate_.release(); }
  // Waits until `count` batches have started; false after `timeout`.
  bool wait_started(size_t count, std::chrono::milliseconds timeout) {
    return gate_.wait_started(count, timeout);
  }

  std::vector<BatchRecord> batches() const;
  // One line per call, in order: "forward <first input token>", "query <text>",
  // "embed_image <first slot>", "initialize_adapter <slot>", "update_adapter <slot>".
  std::vector<std::string> calls() const;
  // Every forward-pass request received, when options.record_requests.
  std::vector<protocol::ForwardPassRequest> requests() const;

  // The outputs a pass would produce, given the current cache (for expectations).
  static uint32_t output_of(uint64_t attended_sum, uint32_t position, uint32_t vocab) {
    return static_cast<uint32_t>((attended_sum + position) % vocab);
  }

 private:
  protocol::ForwardPassResponse run(const protocol::ForwardPassRequest& r);

  const FakeBackendOptions options_;
  PassGate gate_;
  mutable std::mutex mutex_;
  std::vector<std::vector<uint64_t>> pages_;  // page -> slot -> token
  std::vector<BatchRecord> batches_;
  std::vector<std::string> calls_;
  std::vector<protocol::ForwardPassRequest> requests_;
};

}  // namespace pie::engine::testing
