// A backend process serving the fake model, for tests that need a backend they can kill.
// Prints the bound endpoint on the first line of stdout, then serves until the engine stops
// sending heartbeats.
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/backend_server.h"
#include "engine/testing/fake_backend.h"

int main(int argc, char** argv) {
  CLI::App app{"Serves the engine tests' fake model over ZeroMQ"};
  pie::engine::BackendServerOptions options;
  bool hold = false;
  int64_t heartbeat_timeout_ms = options.heartbeat_timeout.count();
  app.add_option("--endpoint", options.endpoint, "where to bind");
  app.add_flag("--hold", hold, "forward passes never complete");
  app.add_option("--heartbeat-timeout-ms", heartbeat_timeout_ms, "exit after this much silence");
  CLI11_PARSE(app, argc, argv);
  options.heartbeat_timeout = std::chrono::milliseconds(heartbeat_timeout_ms);

  pie::engine::testing::FakeBackend backend;
  if (hold) backend.hold();
  pie::engine::BackendServer server(backend, options);
  std::cout << server.endpoint() << std::endl;
  std::cerr << server.run() << std::endl;
  if (hold) backend.release();
  return 0;
}
