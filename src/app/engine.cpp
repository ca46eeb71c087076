#include "app/engine.h"

#include <chrono>

#include "backend/cpu/cpu_backend.h"
#include "backend/model/model_file.h"
#include "common/error.h"
#include "common/log.h"

namespace pie::app {

namespace {

std::unique_ptr<backend::Backend> load_cpu_backend(const ModelConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  PIE_LOG(Info) << "loading model " << config.path.string();
  model::OpenOptions open;
  open.tokenizer_path = config.tokenizer;
  auto file = std::make_shared<const model::ModelFile>(model::open_model(config.path, open));
  auto backend = std::make_unique<cpu::CpuBackend>(file, config.backend);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PIE_LOG(Info) << "model " << file->config().name << " ready in " << seconds << " s";
  return backend;
}

}  // namespace

Engine::Engine(EngineConfig config) : config_(std::move(config)) {
  if (config_.server.enable_auth) resolve_secret(config_);
  models_ = std::make_unique<engine::ModelRegistry>(config_.service);
  for (const auto& model : config_.models) {
    try {
      models_->add_local(load_cpu_backend(model), model.name);
    } catch (const Error& e) {
      throw Error("model " + model.path.string() + ": " + e.what());
    }
  }
  runtime_ = std::make_unique<runtime::Runtime>(config_.runtime, *models_);
  server_ = std::make_unique<server::Server>(config_.server, *runtime_);
  server_->start();
}

Engine::~Engine() {
  stop();
}

void Engine::stop() {
  if (server_) server_->stop();
}

uint16_t Engine::port() const {
  return server_->port();
}

std::string Engine::url() const {
  return "ws://" + config_.server.host + ":" + std::to_string(port());
}

}  // namespace pie::app
