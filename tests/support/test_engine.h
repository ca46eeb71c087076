// A real engine in the test process — CPU backend, model service, runtime and WebSocket server on
// a free port — and a connected C++ client. End-to-end tests drive everything through the real
// protocol with it, as a user would.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"

namespace pie::app {
class Engine;
}

namespace pie::testing {

struct TestEngineOptions {
  std::filesystem::path model;  // empty: no model registered
  uint32_t kv_pages = 256;
  uint32_t kv_page_size = 16;
  bool auth = false;
  // Extra time limits for instances (0: none).
  uint32_t cpu_time_limit_ms = 0;
};

struct RunResult {
  std::vector<std::string> messages;                       // Message events, in order
  std::vector<std::string> blobs;                          // Blob events, in order
  client::EventKind end = client::EventKind::ServerError;  // the terminal event
  std::string result;  // its text (the return value of a Completed instance)
};

class TestEngine {
 public:
  explicit TestEngine(TestEngineOptions options = {});
  ~TestEngine();
  TestEngine(const TestEngine&) = delete;
  TestEngine& operator=(const TestEngine&) = delete;

  uint16_t port() const;
  std::string url() const;
  // A token the engine accepts (auth on).
  std::string token() const;
  // Connected, and authenticated when auth is on.
  client::Client& client() { return *client_; }
  std::unique_ptr<client::Client> connect();

  // Uploads inferlet `name` from the build's inferlet folder (<name>.wasm, else <name>.js) unless
  // the engine has it already; returns its hash.
  std::string upload(const std::string& name);
  client::Instance launch(const std::string& name, const std::vector<std::string>& args = {});
  // Launches and collects the instance's events up to its terminal one.
  RunResult run(const std::string& name, const std::vector<std::string>& args = {},
                std::chrono::seconds timeout = std::chrono::seconds(120));
  // Collects events up to the terminal one; a timeout fails the test and terminates the instance.
  static RunResult collect(client::Instance& instance,
                           std::chrono::seconds timeout = std::chrono::seconds(120));
  // The model_status query, parsed.
  std::map<std::string, std::string> model_status();

  app::Engine& engine() { return *engine_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<app::Engine> engine_;
  std::unique_ptr<client::Client> client_;
};

// The bytes of a built inferlet (<name>.wasm or <name>.js); empty when it was not built.
std::string read_inferlet(const std::string& name);

}  // namespace pie::testing
