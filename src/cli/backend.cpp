// `pie backend`: a model in this process, served to an engine elsewhere over ZeroMQ.
#include <cstdio>

#include "backend/cpu/cpu_backend.h"
#include "backend/model/model_file.h"
#include "commands.h"
#include "engine/backend_process.h"

namespace pie::cli {

namespace {

struct BackendFlags {
  ModelFlags model;
  std::string engine = "ws://127.0.0.1:8080";
  std::string token;
  std::string listen = "tcp://127.0.0.1:*";
  std::string advertise;
};

void backend(const BackendFlags& flags) {
  const app::ModelConfig config = flags.model.model();
  model::OpenOptions open;
  open.tokenizer_path = config.tokenizer;
  std::fprintf(stderr, "pie: loading %s\n", config.path.c_str());
  auto file = std::make_shared<const model::ModelFile>(model::open_model(config.path, open));
  cpu::CpuBackend backend(file, config.backend);
  engine::BackendProcessOptions options;
  options.engine_url = flags.engine;
  options.token = flags.token;
  options.service_name = config.name;
  options.listen = flags.listen;
  options.advertise = flags.advertise;
  const std::string why = engine::run_backend_process(backend, options);
  std::fprintf(stderr, "pie: backend stopped: %s\n", why.c_str());
}

}  // namespace

void add_backend(CLI::App& app) {
  auto flags = std::make_shared<BackendFlags>();
  CLI::App* command = app.add_subcommand(
      "backend",
      "Load a model and serve it to an engine over ZeroMQ: bind --listen, register with the engine "
      "(attach_remote_service), and serve until the engine stops sending heartbeats.");
  command->add_option("--model", flags->model.path, "The model file")->required();
  flags->model.add_to(*command, /*path_flag=*/false);
  command->add_option("--engine", flags->engine, "The engine's WebSocket address")
      ->capture_default_str();
  command->add_option("--token", flags->token, "Token for the engine (when it runs with auth)");
  command
      ->add_option("--listen", flags->listen,
                   "ZeroMQ endpoint to bind (tcp://host:port, * for any port)")
      ->capture_default_str();
  command->add_option("--advertise", flags->advertise,
                      "Endpoint the engine should connect to, when not the bound one");
  command->callback([flags] { backend(*flags); });
}

}  // namespace pie::cli
