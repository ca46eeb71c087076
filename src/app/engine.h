// A running engine: models loaded into CPU backends and registered with their model services, the
// runtime that hosts inferlets, and the WebSocket server in front of them. `pie serve` and `pie
// run` (in-process mode) use it, and so do the end-to-end tests.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/config.h"
#include "engine/model_registry.h"
#include "runtime/runtime.h"
#include "server/server.h"

namespace pie::app {

class Engine {
 public:
  // Loads every model (logging each as it loads), starts the runtime and binds the server. Throws
  // pie::Error with the cause (a model that does not open, a port in use, ...).
  explicit Engine(EngineConfig config);
  // Stops the server (ending every instance) and the runtime.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  uint16_t port() const;
  // ws://host:port of the server.
  std::string url() const;
  const EngineConfig& config() const { return config_; }
  runtime::Runtime& runtime() { return *runtime_; }
  engine::ModelRegistry& models() { return *models_; }

  // Stops accepting clients and ends every instance. Idempotent.
  void stop();

 private:
  EngineConfig config_;
  std::unique_ptr<engine::ModelRegistry> models_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<server::Server> server_;
};

}  // namespace pie::app
