#include "runtime/runtime.h"

#include <pthread.h>

#include <future>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "common/uuid.h"
#include "runtime/wasi.h"
#include "runtime/wasm_abi.h"

namespace pie::runtime {

namespace {

WasmLinkRules link_rules() {
  WasmLinkRules rules;
  for (auto table : {pie_functions(), wasi_functions()}) {
    for (const HostFunction& f : table) rules.imports[f.module].insert(f.name);
  }
  rules.abi_version = abi_version();
  return rules;
}

}  // namespace

Runtime::Runtime(RuntimeOptions options, engine::ModelRegistry& models)
    : options_(std::move(options)), models_(models) {
  v8_ = V8Process::acquire(V8Options{options_.max_wasm_memory_pages});
  programs_ = std::make_unique<ProgramStore>(v8_, link_rules(), options_.cache_dir);
  kvs_ = options_.kvs_file.empty() ? std::make_unique<services::KeyValueStore>()
                                   : std::make_unique<services::KeyValueStore>(options_.kvs_file);
  HostServices services;
  services.models = &models_;
  services.pubsub = &pubsub_;
  services.kvs = kvs_.get();
  services.debug_query = [this](std::string_view q) { return debug_query(q); };
  services.version = kVersion;
  api_ = std::make_unique<HostApi>(std::move(services));
  pool_ = std::make_unique<WorkerPool>(v8_, *api_, options_.warm_workers, options_.max_workers);
  if (options_.cpu_time_limit_ms > 0) watchdog_ = std::thread([this] { watchdog_loop(); });
  models_.set_terminator([this](engine::InstanceKey key, uint32_t code, std::string message) {
    terminate_key(key, code, std::move(message));
  });
}

Runtime::~Runtime() {
  models_.set_terminator(nullptr);
  std::list<std::unique_ptr<services::HttpServer>> servers;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [key, live] : live_) {
      live.instance->request_termination(server::TerminationCode::Signal,
                                         "the engine is shutting down");
    }
    servers.swap(http_servers_);
  }
  servers.clear();  // waits for requests in progress, which were just terminated
  pool_.reset();    // runs what is queued (each ends at once) and joins the workers
  {
    std::lock_guard lock(watchdog_mutex_);
    watchdog_cv_.notify_all();
  }
  if (watchdog_.joinable()) watchdog_.join();
}

// ---- Programs -----------------------------------------------------------------------------------

bool Runtime::program_exists(const std::string& hash) {
  return programs_->contains(hash);
}

void Runtime::add_program(const std::string& hash, std::string bytes) {
  programs_->add(hash, std::move(bytes));
}

// ---- Instances ----------------------------------------------------------------------------------

std::shared_ptr<Instance> Runtime::create(const std::string& hash,
                                          std::vector<std::string> arguments,
                                          std::shared_ptr<server::InstanceOwner> owner,
                                          bool served) {
  std::shared_ptr<const Program> program = programs_->find(hash);
  if (!program) throw Error("No such program with hash=" + hash);
  auto instance = std::make_shared<Instance>(random_uuid_v4(), next_key_++, std::move(program),
                                             std::move(arguments), std::move(owner));
  std::lock_guard lock(mutex_);
  if (stopping_) throw Error("the engine is shutting down");
  // Registered before it runs, so nothing it does can be missed.
  live_.emplace(instance->key(), Live{instance, served});
  by_id_.emplace(instance->id(), instance->key());
  return instance;
}

std::string Runtime::launch_instance(const std::string& hash, std::vector<std::string> arguments,
                                     std::shared_ptr<server::InstanceOwner> owner) {
  std::shared_ptr<Instance> instance = create(hash, std::move(arguments), std::move(owner), false);
  pool_->submit([this, instance](IsolateHost& host) { execute(host, instance); });
  return instance->id();
}

Termination Runtime::execute(IsolateHost& host, const std::shared_ptr<Instance>& instance) {
  Termination outcome{server::TerminationCode::Exception, "terminated before it started"};
  if (!instance->terminating()) {
    clockid_t cpu_clock{};
    pthread_getcpuclockid(pthread_self(), &cpu_clock);
    instance->attach(host.isolate(), cpu_clock);
    outcome = host.run(*instance);
    instance->detach();
    // Any termination requested for this instance is over; the isolate goes on to the next.
    host.isolate()->CancelTerminateExecution();
  }
  const Termination end = instance->finish(std::move(outcome));

  for (const auto& model : models_.models()) model.service->cleanup(instance->key());
  instance->messages().close();
  instance->blobs().close();
  {
    std::lock_guard lock(mutex_);
    live_.erase(instance->key());
    by_id_.erase(instance->id());
  }
  if (instance->owner() != nullptr) {
    instance->owner()->on_terminated(instance->id(), end.code, end.message);
  }
  return end;
}

std::shared_ptr<Instance> Runtime::find(const std::string& instance_id) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(instance_id);
  if (it == by_id_.end()) return nullptr;
  return live_.at(it->second).instance;
}

void Runtime::signal_instance(const std::string& instance_id, std::string message) {
  if (auto instance = find(instance_id)) instance->messages().push(std::move(message));
}

void Runtime::push_blob(const std::string& instance_id, std::string data) {
  if (auto instance = find(instance_id)) instance->blobs().push(std::move(data));
}

void Runtime::terminate_instance(const std::string& instance_id, server::TerminationCode code,
                                 std::string message) {
  if (auto instance = find(instance_id)) instance->request_termination(code, std::move(message));
}

void Runtime::terminate_key(engine::InstanceKey key, uint32_t code, std::string message) {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard lock(mutex_);
    auto it = live_.find(key);
    if (it == live_.end()) return;
    instance = it->second.instance;
  }
  const auto termination = code <= static_cast<uint32_t>(server::TerminationCode::OutOfResources)
                               ? static_cast<server::TerminationCode>(code)
                               : server::TerminationCode::SystemError;
  instance->request_termination(termination, std::move(message));
}

size_t Runtime::running_instances() {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [key, live] : live_) n += live.served ? 0 : 1;
  return n;
}

void Runtime::watchdog_loop() {
  const double limit = options_.cpu_time_limit_ms;
  std::unique_lock wait_lock(watchdog_mutex_);
  for (;;) {
    watchdog_cv_.wait_for(wait_lock, std::chrono::milliseconds(options_.watchdog_period_ms));
    std::vector<std::shared_ptr<Instance>> over;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      for (const auto& [key, live] : live_) {
        if (live.instance->cpu_ms() > limit) over.push_back(live.instance);
      }
    }
    for (const auto& instance : over) {
      instance->request_termination(server::TerminationCode::Exception,
                                    "the program exceeded its CPU time limit of " +
                                        std::to_string(options_.cpu_time_limit_ms) + " ms");
    }
  }
}

// ---- HTTP server instances ----------------------------------------------------------------------

void Runtime::launch_server_instance(uint32_t port, const std::string& hash,
                                     std::vector<std::string> arguments) {
  if (!programs_->find(hash)) throw Error("No such program with hash=" + hash);
  if (port > 65535) throw Error("invalid port " + std::to_string(port));
  auto handler = [this, hash, arguments](services::HttpRequest request) {
    std::shared_ptr<Instance> instance = create(hash, arguments, nullptr, true);
    HttpExchange exchange{std::move(request), {}};
    instance->set_http(&exchange);
    std::promise<Termination> done;
    pool_->submit([&](IsolateHost& host) { done.set_value(execute(host, instance)); });
    const Termination end = done.get_future().get();
    if (end.code != server::TerminationCode::Normal) {
      return services::HttpResponse{500, {{"Content-Type", "text/plain"}}, end.message};
    }
    return std::move(exchange.response);
  };
  auto server =
      std::make_unique<services::HttpServer>("127.0.0.1", static_cast<uint16_t>(port), handler);
  PIE_LOG(Info) << "serving program " << hash << " on 127.0.0.1:" << server->port();
  std::lock_guard lock(mutex_);
  http_servers_.push_back(std::move(server));
}

// ---- Engine -------------------------------------------------------------------------------------

std::string Runtime::attach_remote_service(const std::string& endpoint,
                                           const std::string& service_type,
                                           const std::string& service_name) {
  return models_.attach_remote_service(endpoint, service_type, service_name);
}

std::map<std::string, std::string> Runtime::model_status() {
  return models_.status();
}

std::string Runtime::debug_query(std::string_view query) {
  if (query == "ping") return "pong";
  if (query == "get_instance_count") return std::to_string(running_instances());
  if (query == "get_server_instance_count") {
    std::lock_guard lock(mutex_);
    return std::to_string(http_servers_.size());
  }
  if (query == "list_running_instances") {
    std::ostringstream out;
    std::lock_guard lock(mutex_);
    for (const auto& [key, live] : live_) {
      if (live.served) continue;
      out << "Instance ID: " << live.instance->id()
          << ", Program Hash: " << live.instance->program().hash << "\n";
    }
    std::string text = out.str();
    if (!text.empty()) text.pop_back();
    return text;
  }
  if (query == "list_in_memory_programs") {
    std::string text;
    for (const auto& hash : programs_->in_memory_hashes()) text += hash + "\n";
    if (!text.empty()) text.pop_back();
    return text;
  }
  if (query == "get_cache_dir") return programs_->cache_dir().string();
  return "Unknown query: " + std::string(query);
}

}  // namespace pie::runtime
