#include "test_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "app/engine.h"
#include "common/blake3.h"
#include "server/auth.h"
#include "shared_data.h"

namespace pie::testing {

namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

std::string read_inferlet(const std::string& name) {
  for (const char* ext : {".wasm", ".js"}) {
    if (const fs::path path = inferlet_dir() / (name + ext); fs::exists(path)) return slurp(path);
  }
  return "";
}

TestEngine::TestEngine(TestEngineOptions options) {
  static std::atomic<int> counter{0};
  dir_ = fs::temp_directory_path() /
         ("pie_test_engine_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(dir_);
  app::EngineConfig config = app::default_config();
  config.server.port = 0;
  config.server.enable_auth = options.auth;
  config.server.auth_secret = options.auth ? server::random_secret() : "";
  config.runtime.cache_dir = dir_ / "cache";
  config.runtime.cpu_time_limit_ms = options.cpu_time_limit_ms;
  config.secret_file = dir_ / "auth_secret";
  if (!options.model.empty()) {
    app::ModelConfig model;
    model.path = options.model;
    model.backend.kv_pages = options.kv_pages;
    model.backend.kv_page_size = options.kv_page_size;
    model.backend.threads = 2;
    model.backend.seed = 1;
    config.models.push_back(model);
  }
  engine_ = std::make_unique<app::Engine>(config);
  client_ = connect();
}

TestEngine::~TestEngine() {
  client_.reset();
  engine_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

uint16_t TestEngine::port() const {
  return engine_->port();
}
std::string TestEngine::url() const {
  return engine_->url();
}

std::string TestEngine::token() const {
  return server::mint_token(engine_->config().server.auth_secret, "test");
}

std::unique_ptr<client::Client> TestEngine::connect() {
  auto c = std::make_unique<client::Client>(url(), std::chrono::seconds(60));
  if (engine_->config().server.enable_auth) c->authenticate(token());
  return c;
}

std::string TestEngine::upload(const std::string& name) {
  const std::string bytes = read_inferlet(name);
  if (bytes.empty()) {
    ADD_FAILURE() << "inferlet " << name << " was not built (looked in " << inferlet_dir() << ")";
    return "";
  }
  const std::string hash = blake3_hex(bytes);
  if (!client_->program_exists(hash)) client_->upload_program(bytes);
  return hash;
}

client::Instance TestEngine::launch(const std::string& name, const std::vector<std::string>& args) {
  return client_->launch_instance(upload(name), args);
}

RunResult TestEngine::run(const std::string& name, const std::vector<std::string>& args,
                          std::chrono::seconds timeout) {
  client::Instance instance = launch(name, args);
  return collect(instance, timeout);
}

RunResult TestEngine::collect(client::Instance& instance, std::chrono::seconds timeout) {
  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<client::Event> event = left.count() > 0 ? instance.recv_for(left) : std::nullopt;
    if (!event) {
      ADD_FAILURE() << "instance " << instance.id() << " did not end within " << timeout.count()
                    << " s";
      instance.terminate();
      return result;
    }
    if (event->kind == client::EventKind::Message) {
      result.messages.push_back(std::move(event->data));
    } else if (event->kind == client::EventKind::Blob) {
      result.blobs.push_back(std::move(event->data));
    } else {
      result.end = event->kind;
      result.result = std::move(event->data);
      return result;
    }
  }
}

std::map<std::string, std::string> TestEngine::model_status() {
  const auto json = nlohmann::json::parse(client_->query("model_status", ""));
  return json.get<std::map<std::string, std::string>>();
}

}  // namespace pie::testing
