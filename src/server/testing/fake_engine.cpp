#include "server/testing/fake_engine.h"

#include <chrono>

#include "common/error.h"
#include "common/uuid.h"

namespace pie::server::testing {

namespace {

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 % 251);
  return s;
}

}  // namespace

bool FakeEngine::program_exists(const std::string& hash) {
  std::lock_guard lock(mutex_);
  return programs_.contains(hash);
}

void FakeEngine::add_program(const std::string& hash, std::string bytes) {
  if (bytes.starts_with("bad")) throw Error("Failed to compile: not a WebAssembly module");
  std::lock_guard lock(mutex_);
  programs_[hash] = std::move(bytes);
}

std::string FakeEngine::launch_instance(const std::string& hash, std::vector<std::string> arguments,
                                        std::shared_ptr<InstanceOwner> owner) {
  const std::string id = random_uuid_v4();
  {
    std::lock_guard lock(mutex_);
    if (!programs_.contains(hash)) throw Error("No such program with hash=" + hash);
    instances_[id] = owner;
  }
  for (const std::string& arg : arguments) {
    const size_t colon = arg.find(':');
    const std::string verb = arg.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : arg.substr(colon + 1);
    if (verb == "send") {
      owner->on_message(id, value);
    } else if (verb == "blob") {
      owner->on_blob(id, pattern(std::stoul(value)));
    } else if (verb == "exit") {
      end(id, TerminationCode::Normal, value);
    } else if (verb == "fail") {
      end(id, TerminationCode::Exception, value);
    } else if (verb == "error") {
      end(id, TerminationCode::SystemError, value);
    } else if (verb == "oom") {
      end(id, TerminationCode::OutOfResources, "Terminated by OOM killer");
    } else if (verb == "block") {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return released_; });
    }
  }
  return id;
}

void FakeEngine::launch_server_instance(uint32_t port, const std::string& hash,
                                        std::vector<std::string>) {
  std::lock_guard lock(mutex_);
  if (!programs_.contains(hash)) throw Error("No such program with hash=" + hash);
  server_ports_.push_back(port);
}

void FakeEngine::signal_instance(const std::string& instance_id, std::string message) {
  std::shared_ptr<InstanceOwner> owner;
  {
    std::lock_guard lock(mutex_);
    const auto it = instances_.find(instance_id);
    if (it == instances_.end()) return;
    owner = it->second;
  }
  if (message == "exit") {
    end(instance_id, TerminationCode::Normal, "bye");
  } else {
    owner->on_message(instance_id, std::move(message));
  }
}

void FakeEngine::push_blob(const std::string& instance_id, std::string data) {
  std::shared_ptr<InstanceOwner> owner;
  {
    std::lock_guard lock(mutex_);
    const auto it = instances_.find(instance_id);
    if (it == instances_.end()) throw Error("instance " + instance_id + " has ended");
    owner = it->second;
  }
  owner->on_blob(instance_id, std::move(data));
}

void FakeEngine::terminate_instance(const std::string& instance_id, TerminationCode code,
                                    std::string message) {
  end(instance_id, code, message);
  {
    std::lock_guard lock(mutex_);
    terminations_.push_back({instance_id, code, std::move(message)});
  }
  changed_.notify_all();
}

std::string FakeEngine::attach_remote_service(const std::string& endpoint,
                                              const std::string& service_type,
                                              const std::string& service_name) {
  if (service_type != "model") throw Error("Unknown service type: " + service_type);
  if (!endpoint.starts_with("tcp://") && !endpoint.starts_with("ipc://")) {
    throw Error("Failed to attach to model backend");
  }
  std::lock_guard lock(mutex_);
  if (!models_.insert(service_name).second) throw Error("Failed to register model");
  return "Model service registered";
}

std::map<std::string, std::string> FakeEngine::model_status() {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::string> status;
  for (const auto& name : models_) {
    status[name + ".model.name"] = name;
    status[name + ".resource.0.capacity"] = "1024";
  }
  status["instances.running"] = std::to_string(instances_.size());
  return status;
}

void FakeEngine::release() {
  {
    std::lock_guard lock(mutex_);
    released_ = true;
  }
  changed_.notify_all();
}

std::vector<FakeEngine::Termination> FakeEngine::wait_for_terminations(size_t count) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(10), [&] { return terminations_.size() >= count; });
  return terminations_;
}

size_t FakeEngine::running() const {
  std::lock_guard lock(mutex_);
  return instances_.size();
}

std::vector<uint32_t> FakeEngine::server_ports() const {
  std::lock_guard lock(mutex_);
  return server_ports_;
}

void FakeEngine::end(const std::string& id, TerminationCode code, std::string message) {
  std::shared_ptr<InstanceOwner> owner;
  {
    std::lock_guard lock(mutex_);
    const auto it = instances_.find(id);
    if (it == instances_.end()) return;
    owner = std::move(it->second);
    instances_.erase(it);
  }
  owner->on_terminated(id, code, std::move(message));
}

}  // namespace pie::server::testing
