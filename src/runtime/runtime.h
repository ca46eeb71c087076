// The engine side of the server (server::EnginePort): program store, instance lifecycle, HTTP
// server instances, and the services instances share. Owns the worker pool that runs instances
// and the CPU-time watchdog.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/model_registry.h"
#include "engine/model_service.h"
#include "runtime/host_api.h"
#include "runtime/instance.h"
#include "runtime/program_store.h"
#include "runtime/v8_process.h"
#include "runtime/worker_pool.h"
#include "server/engine_port.h"
#include "services/http_server.h"
#include "services/kv_store.h"
#include "services/pubsub.h"

namespace pie::runtime {

struct RuntimeOptions {
  std::filesystem::path cache_dir;  // programs and compiled code; empty: memory only
  std::filesystem::path kvs_file;   // the key-value store's file; empty: memory only
  uint32_t max_wasm_memory_pages = V8Options{}.max_wasm_memory_pages;
  uint32_t cpu_time_limit_ms = 0;  // CPU time an instance may use; 0: unlimited
  uint32_t watchdog_period_ms = 20;
  size_t warm_workers = 2;
  size_t max_workers = 256;
};

class Runtime : public server::EnginePort {
 public:
  // The version inferlets see (Pie's engine version at the reference commit).
  static constexpr const char* kVersion = "0.2.0";

  // Instances use the models of `models`, which must outlive the runtime; the runtime becomes the
  // registry's terminator (model services end instances through it).
  Runtime(RuntimeOptions options, engine::ModelRegistry& models);
  // Ends every instance (Aborted), stops HTTP servers and workers.
  ~Runtime() override;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // server::EnginePort
  bool program_exists(const std::string& hash) override;
  void add_program(const std::string& hash, std::string bytes) override;
  std::string launch_instance(const std::string& hash, std::vector<std::string> arguments,
                              std::shared_ptr<server::InstanceOwner> owner) override;
  void launch_server_instance(uint32_t port, const std::string& hash,
                              std::vector<std::string> arguments) override;
  void signal_instance(const std::string& instance_id, std::string message) override;
  void push_blob(const std::string& instance_id, std::string data) override;
  void terminate_instance(const std::string& instance_id, server::TerminationCode code,
                          std::string message) override;
  std::string attach_remote_service(const std::string& endpoint, const std::string& service_type,
                                    const std::string& service_name) override;
  std::map<std::string, std::string> model_status() override;

  ProgramStore& programs() { return *programs_; }
  services::KeyValueStore& kvs() { return *kvs_; }
  size_t running_instances();
  // Answers a runtime debug query (reference §2.3 debug-query).
  std::string debug_query(std::string_view query);

 private:
  std::shared_ptr<Instance> create(const std::string& hash, std::vector<std::string> arguments,
                                   std::shared_ptr<server::InstanceOwner> owner, bool served);
  // Runs the instance on `host`, then ends it: engine cleanup on every model, removal from the
  // live table, and the owner's termination event.
  Termination execute(IsolateHost& host, const std::shared_ptr<Instance>& instance);
  std::shared_ptr<Instance> find(const std::string& instance_id);
  // Ends an instance on behalf of a model service (out of resources, a failed command).
  void terminate_key(engine::InstanceKey key, uint32_t code, std::string message);
  void watchdog_loop();

  RuntimeOptions options_;
  engine::ModelRegistry& models_;
  std::shared_ptr<V8Process> v8_;
  std::unique_ptr<ProgramStore> programs_;
  services::PubSub pubsub_;
  std::unique_ptr<services::KeyValueStore> kvs_;
  std::unique_ptr<HostApi> api_;
  std::unique_ptr<WorkerPool> pool_;

  std::mutex mutex_;  // guards the tables below
  std::atomic<engine::InstanceKey> next_key_{1};
  struct Live {
    std::shared_ptr<Instance> instance;
    bool served;  // handles an HTTP request (not visible to clients)
  };
  std::unordered_map<engine::InstanceKey, Live> live_;
  std::unordered_map<std::string, engine::InstanceKey> by_id_;
  std::list<std::unique_ptr<services::HttpServer>> http_servers_;
  bool stopping_ = false;

  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_cv_;
  std::thread watchdog_;
};

}  // namespace pie::runtime
