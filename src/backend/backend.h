// The inference layer's interface: what a model service asks of a backend, in process or behind the
// ZeroMQ protocol of reference §4. Calls come from one thread at a time.
#pragma once

#include <span>
#include <vector>

#include "protocol/backend_messages.h"

namespace pie::backend {

class Backend {
 public:
  virtual ~Backend() = default;

  // Model metadata, tokenizer and resource capacities.
  virtual protocol::HandshakeResponse handshake(const protocol::HandshakeRequest& request) = 0;

  // Runs one batch of forward passes over the shared paged KV cache and returns one response per
  // request, in request order. A request that is invalid (unknown page, mask row of the wrong length,
  // ...) gets a response whose `error` says why; the other requests of the batch are unaffected.
  virtual std::vector<protocol::ForwardPassResponse> forward_pass(
      std::span<const protocol::ForwardPassRequest> batch) = 0;

  virtual protocol::QueryResponse query(const protocol::QueryRequest& request) = 0;

  // Optional capabilities; the defaults throw pie::Error saying the backend lacks them.
  virtual void embed_image(const protocol::EmbedImageRequest& request);
  virtual void initialize_adapter(const protocol::InitializeAdapterRequest& request);
  virtual void update_adapter(const protocol::UpdateAdapterRequest& request);
};

}  // namespace pie::backend
