// The engine's side of one backend: in process (in_process_link.h) or remote over ZeroMQ
// (remote_link.h). Thread-safe. Every call returns at once (except handshake); its callback runs
// later on the link's own thread, never inside the call, and the link keeps the order of calls:
// the backend sees commands in the order they were made.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/ids.h"
#include "protocol/backend_messages.h"

namespace pie::engine {

class BackendLink {
 public:
  virtual ~BackendLink() = default;

  // Model metadata and capacities; blocks. Throws pie::Error when the backend cannot be reached
  // or answers badly.
  virtual protocol::HandshakeResponse handshake() = 0;

  // One response per request, in request order.
  virtual void forward_pass(std::vector<protocol::ForwardPassRequest> batch,
                            Callback<std::vector<protocol::ForwardPassResponse>> done) = 0;
  virtual void query(protocol::QueryRequest request, Callback<protocol::QueryResponse> done) = 0;
  // Commands the backend does not answer (reference §4.3). `done` runs once later commands are
  // sure to see their effect: after the call ran (in process) or was sent (remote); an Error when
  // the link knows it failed.
  virtual void embed_image(protocol::EmbedImageRequest request, Callback<Done> done) = 0;
  virtual void initialize_adapter(protocol::InitializeAdapterRequest request,
                                  Callback<Done> done) = 0;
  virtual void update_adapter(protocol::UpdateAdapterRequest request, Callback<Done> done) = 0;

  // Why the backend cannot be used ("backend <name> is unavailable: ..."), or nothing while it
  // can. Once unavailable, a link stays so and fails every call with that text.
  virtual std::optional<std::string> unavailable() const = 0;
};

}  // namespace pie::engine
