// The engine's configuration: what `pie serve` reads from its TOML file and flags, with defaults
// that run a useful engine on this machine. See docs/configuration.md for the file format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "engine/model_service.h"
#include "runtime/runtime.h"
#include "server/server.h"

namespace pie::app {

// A model served by the CPU backend inside the engine process.
struct ModelConfig {
  std::filesystem::path path;       // GGUF file, Hugging Face folder or llama2.c checkpoint
  std::filesystem::path tokenizer;  // llama2.c only; empty: looked up beside the checkpoint
  std::string name;                 // the name inferlets see; empty: the model's own
  cpu::CpuBackendOptions backend;
};

struct EngineConfig {
  server::ServerOptions server;
  runtime::RuntimeOptions runtime;
  engine::ModelServiceOptions service;
  std::vector<ModelConfig> models;
  // Where the generated auth secret is kept so that `pie token` can mint tokens for this engine.
  std::filesystem::path secret_file;
};

// $PIE_HOME, else ~/.pie (else ./.pie without a home): the program cache, the model cache, the
// key-value store and the auth secret live there.
std::filesystem::path pie_home();

// The defaults: 127.0.0.1:8080, auth on, caches under pie_home().
EngineConfig default_config();

// Applies a TOML file over `config`. Throws pie::Error naming the file, the key and what is wrong
// (syntax errors with their line, unknown keys, wrong types, out-of-range values).
void apply_config_file(EngineConfig& config, const std::filesystem::path& file);

// The secret tokens are signed with: the configured one, else the one kept in secret_file, else a
// new random one written there (readable by its owner only).
std::string resolve_secret(EngineConfig& config);

}  // namespace pie::app
