// The engine's models: name -> ModelService, in registration order (a model's position is its
// service id). Thread-safe. Models come from a backend in this process (add_local) or from a
// backend that registers itself over the client protocol (attach_remote_service, reference
// §3.5.7). Models are never removed: a backend that dies stays registered and reports `.error`
// in model_status.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/model_service.h"
#include "engine/remote_link.h"

namespace pie::engine {

struct RegisteredService {
  std::string name;
  std::shared_ptr<ModelService> service;
};

class ModelRegistry {
 public:
  explicit ModelRegistry(ModelServiceOptions options = {}, RemoteLinkOptions remote = {});
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Where model services send the instances they end; set once the runtime exists (until then,
  // such terminations are logged and dropped).
  void set_terminator(InstanceTerminator terminator);

  // Registers `backend`, run in this process, under `name` (empty: the model name it announces).
  // Throws pie::Error when the name is taken or the handshake fails.
  std::shared_ptr<ModelService> add_local(std::unique_ptr<backend::Backend> backend,
                                          const std::string& name = "");

  // The attach_remote_service request. Returns "Model service registered", or throws pie::Error
  // with "Unknown service type: <t>", "Failed to register model" (name taken) or "Failed to attach
  // to model backend" (cannot connect or no handshake; the cause is logged).
  std::string attach_remote_service(const std::string& endpoint, const std::string& service_type,
                                    const std::string& service_name);

  // The model registered under `name`, or null.
  std::shared_ptr<ModelService> find(const std::string& name) const;
  // Every model, in registration order.
  std::vector<RegisteredService> models() const;
  // The model_status query (reference §3.5.5): every model's entries.
  std::map<std::string, std::string> status() const;

 private:
  struct Terminator;
  void add(const std::string& name, std::shared_ptr<ModelService> service);
  bool taken(const std::string& name) const;

  const ModelServiceOptions options_;
  const RemoteLinkOptions remote_;
  std::shared_ptr<Terminator> terminator_;
  mutable std::mutex mutex_;
  std::vector<RegisteredService> models_;
};

}  // namespace pie::engine
