// The backend's side of the ZeroMQ protocol (reference §4.1-4.6): a ROUTER that decodes each
// message [identity, corr_id, handler_id, payload...], runs it on a Backend, and replies with the
// same identity and header frames followed by one response per request, in order (no reply for the
// handlers that have none). Heartbeats are answered at once by the socket thread; every other
// message runs on one worker thread, in arrival order, so a long forward pass never delays a
// heartbeat.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace pie::engine {

struct BackendServerOptions {
  // Where to bind: tcp://host:port (port * for any free one) or ipc://path.
  std::string endpoint = "tcp://127.0.0.1:*";
  // run() returns after this long without a heartbeat (counted from the bind); zero: never.
  std::chrono::milliseconds heartbeat_timeout{7000};
};

class BackendServer {
 public:
  // Binds the socket. Throws pie::Error when the endpoint cannot be bound.
  BackendServer(backend::Backend& backend, BackendServerOptions options);
  ~BackendServer();
  BackendServer(const BackendServer&) = delete;
  BackendServer& operator=(const BackendServer&) = delete;

  // The bound endpoint, with the port ZeroMQ chose (tcp://127.0.0.1:41234).
  const std::string& endpoint() const;

  // Serves until stop() or the heartbeat timeout; returns why it stopped.
  std::string run();
  // Makes run() return; callable from any thread, before or during run().
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Binds `endpoint` and serves `backend` until the engine stops sending heartbeats.
void serve_backend(backend::Backend& backend, const std::string& endpoint);

}  // namespace pie::engine
