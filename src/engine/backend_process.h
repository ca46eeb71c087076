// `pie backend`: serve a backend over ZeroMQ and register it with an engine (reference §4.1):
// bind, connect to the engine's WebSocket, authenticate, attach_remote_service{service_type:
// "model", service_name, endpoint}, then serve until the engine stops sending heartbeats.
#pragma once

#include <chrono>
#include <string>

#include "backend/backend.h"

namespace pie::engine {

struct BackendProcessOptions {
  std::string engine_url;    // ws://host:port of the engine
  std::string token;         // JWT to authenticate with; empty: the engine runs without auth
  std::string service_name;  // the model's name in the engine; empty: the name it announces
  std::string listen = "tcp://127.0.0.1:*";  // where to bind (tcp://*:5555, ipc://path, ...)
  std::string advertise;  // the endpoint the engine should connect to; empty: the bound one
  std::chrono::milliseconds heartbeat_timeout{7000};  // exit after this much silence; 0: never
  std::chrono::milliseconds register_timeout{10000};  // for each registration request
};

// Serves `backend` until the engine goes silent; returns why it stopped. Throws pie::Error when
// the endpoint cannot be bound or the engine refuses the registration (with the engine's text).
std::string run_backend_process(backend::Backend& backend, const BackendProcessOptions& options);

}  // namespace pie::engine
