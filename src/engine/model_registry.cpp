#include "engine/model_registry.h"

#include "common/log.h"
#include "engine/in_process_link.h"

namespace pie::engine {

// The terminator shared by every service, settable after they exist.
struct ModelRegistry::Terminator {
  std::mutex mutex;
  InstanceTerminator target;

  void operator()(InstanceKey instance, uint32_t code, std::string message) {
    InstanceTerminator t;
    {
      std::lock_guard lock(mutex);
      t = target;
    }
    if (t) {
      t(instance, code, std::move(message));
    } else {
      PIE_LOG(Warn) << "no runtime to terminate instance " << instance << ": " << message;
    }
  }
};

ModelRegistry::ModelRegistry(ModelServiceOptions options, RemoteLinkOptions remote)
    : options_(options), remote_(remote), terminator_(std::make_shared<Terminator>()) {}

void ModelRegistry::set_terminator(InstanceTerminator terminator) {
  std::lock_guard lock(terminator_->mutex);
  terminator_->target = std::move(terminator);
}

bool ModelRegistry::taken(const std::string& name) const {
  std::lock_guard lock(mutex_);
  for (const RegisteredService& m : models_) {
    if (m.name == name) return true;
  }
  return false;
}

void ModelRegistry::add(const std::string& name, std::shared_ptr<ModelService> service) {
  std::lock_guard lock(mutex_);
  for (const RegisteredService& m : models_) {
    if (m.name == name) throw Error("Failed to register model");
  }
  models_.push_back(RegisteredService{name, std::move(service)});
  PIE_LOG(Info) << "model '" << name << "' registered";
}

std::shared_ptr<ModelService> ModelRegistry::add_local(std::unique_ptr<backend::Backend> backend,
                                                       const std::string& name) {
  if (!name.empty() && taken(name)) throw Error("Failed to register model");
  auto forward = terminator_;
  auto service = std::make_shared<ModelService>(
      name, std::make_unique<InProcessLink>(std::move(backend), name.empty() ? "in-process" : name),
      options_,
      [forward](InstanceKey i, uint32_t c, std::string m) { (*forward)(i, c, std::move(m)); });
  add(service->info().name, service);
  return service;
}

std::string ModelRegistry::attach_remote_service(const std::string& endpoint,
                                                 const std::string& service_type,
                                                 const std::string& service_name) {
  if (service_type != "model") throw Error("Unknown service type: " + service_type);
  if (taken(service_name)) throw Error("Failed to register model");
  std::shared_ptr<ModelService> service;
  try {
    auto forward = terminator_;
    service = std::make_shared<ModelService>(
        service_name, std::make_unique<RemoteLink>(endpoint, remote_, service_name), options_,
        [forward](InstanceKey i, uint32_t c, std::string m) { (*forward)(i, c, std::move(m)); });
  } catch (const Error& e) {
    PIE_LOG(Error) << "attaching model '" << service_name << "' at " << endpoint
                   << " failed: " << e.what();
    throw Error("Failed to attach to model backend");
  }
  add(service_name, std::move(service));
  return "Model service registered";
}

std::shared_ptr<ModelService> ModelRegistry::find(const std::string& name) const {
  std::lock_guard lock(mutex_);
  for (const RegisteredService& m : models_) {
    if (m.name == name) return m.service;
  }
  return nullptr;
}

std::vector<RegisteredService> ModelRegistry::models() const {
  std::lock_guard lock(mutex_);
  return models_;
}

std::map<std::string, std::string> ModelRegistry::status() const {
  std::map<std::string, std::string> out;
  for (const RegisteredService& m : models()) out.merge(m.service->status());
  return out;
}

}  // namespace pie::engine
