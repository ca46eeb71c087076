// `pie serve`: an engine with its models, until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>

#include "app/engine.h"
#include "commands.h"
#include "common/error.h"

namespace pie::cli {

namespace {

struct ServeFlags {
  std::string config;
  std::string host;
  int port = -1;
  bool no_auth = false;
  std::string cache_dir;
  std::string kvs_file;
  uint32_t cpu_time_limit_ms = 0;
  ModelFlags model;
};

void serve(const ServeFlags& flags, CLI::App& command) {
  app::EngineConfig config = app::default_config();
  if (!flags.config.empty()) app::apply_config_file(config, flags.config);
  if (!flags.host.empty()) config.server.host = flags.host;
  if (flags.port >= 0) config.server.port = static_cast<uint16_t>(flags.port);
  if (flags.no_auth) config.server.enable_auth = false;
  if (!flags.cache_dir.empty()) config.runtime.cache_dir = flags.cache_dir;
  if (!flags.kvs_file.empty()) config.runtime.kvs_file = flags.kvs_file;
  if (command.count("--cpu-time-limit-ms") > 0) {
    config.runtime.cpu_time_limit_ms = flags.cpu_time_limit_ms;
  }
  if (!flags.model.path.empty()) config.models.push_back(flags.model.model());
  if (config.models.empty()) {
    std::fprintf(stderr,
                 "pie: warning: no model (--model or [[model]] in --config); inferlets "
                 "can run but not generate until a backend attaches\n");
  }

  // Signals are taken by sigwait below, so every thread the engine starts must block them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  app::Engine engine(config);
  std::printf("pie: serving on %s (auth %s)\n", engine.url().c_str(),
              config.server.enable_auth ? "on: mint a token with `pie token`" : "off");
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  std::fprintf(stderr, "pie: %s received, shutting down\n",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  engine.stop();
}

}  // namespace

void add_serve(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* command = app.add_subcommand("serve",
                                         "Run an engine: load the models into the CPU backend and "
                                         "serve Pie's WebSocket protocol until "
                                         "SIGINT/SIGTERM. Flags override the config file.");
  command->add_option("--config", flags->config, "TOML config file (see docs/configuration.md)")
      ->check(CLI::ExistingFile);
  command->add_option("--host", flags->host, "Address to listen on (default 127.0.0.1)");
  command->add_option("--port", flags->port, "Port to listen on (default 8080; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  command->add_flag("--no-auth", flags->no_auth, "Accept clients without a token");
  command->add_option("--cache-dir", flags->cache_dir,
                      "Where uploaded programs and their compiled code are kept (default "
                      "$PIE_HOME/cache)");
  command->add_option("--kvs-file", flags->kvs_file,
                      "File that keeps the inferlets' key-value store across restarts (default: "
                      "memory only)");
  command->add_option("--cpu-time-limit-ms", flags->cpu_time_limit_ms,
                      "CPU time an instance may use before it is terminated (0: unlimited)");
  flags->model.add_to(*command, /*path_flag=*/true);
  command->callback([flags, command] { serve(*flags, *command); });
}

}  // namespace pie::cli
