// One running inferlet instance: identity, arguments, owner, the handles and virtual ids it holds,
// and how it ends. Its guest code runs on one worker thread; other threads only deliver to it
// (mailboxes, future completions) and end it (request_termination).
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/model_service.h"
#include "runtime/future.h"
#include "runtime/handle_table.h"
#include "runtime/program_store.h"
#include "runtime/virtual_ids.h"
#include "server/engine_port.h"
#include "services/http_server.h"
#include "services/mailbox.h"

namespace v8 {
class Isolate;
}

namespace pie::runtime {

struct Termination {
  server::TerminationCode code = server::TerminationCode::Normal;
  std::string message;
};

// The request and response of an instance serving one HTTP request.
struct HttpExchange {
  services::HttpRequest request;
  services::HttpResponse response;
};

class Instance {
 public:
  Instance(std::string id, engine::InstanceKey key, std::shared_ptr<const Program> program,
           std::vector<std::string> arguments, std::shared_ptr<server::InstanceOwner> owner);

  const std::string& id() const { return id_; }
  engine::InstanceKey key() const { return key_; }
  const Program& program() const { return *program_; }
  const std::vector<std::string>& arguments() const { return arguments_; }
  // Null for instances nobody watches (server instances).
  server::InstanceOwner* owner() const { return owner_.get(); }

  // ---- Guest-thread state (touched only by the thread running the guest) ----
  HandleTable& handles() { return handles_; }
  // The instance's ids for resource `type` on model `service_id`.
  VirtualIds& ids(uint32_t service_id, uint32_t type) { return ids_[{service_id, type}]; }
  void set_return(std::string value) { return_value_ = std::move(value); }
  const std::string& return_value() const { return return_value_; }
  // A result that did not fit the guest's buffer, until pie_result_fetch takes it.
  std::string& pending_result() { return pending_result_; }
  // Guest stdout not yet ending in a newline.
  std::string& stdout_buffer() { return stdout_buffer_; }
  HttpExchange* http() const { return http_; }
  void set_http(HttpExchange* exchange) { http_ = exchange; }

  // ---- Shared with other threads ----
  const std::shared_ptr<Notifier>& notifier() const { return notifier_; }
  services::Mailbox& messages() { return messages_; }
  services::Mailbox& blobs() { return blobs_; }

  // Ends the instance with `code` and `message` unless it already ended (first call wins, also
  // against normal completion); wakes it from pie_wait and stops its guest code. Any thread.
  bool request_termination(server::TerminationCode code, std::string message);
  // The recorded end; `outcome` is recorded when nothing else was first. Worker thread, once.
  Termination finish(Termination outcome);
  bool terminating() const { return terminating_.load(std::memory_order_relaxed); }

  // The isolate running the guest, so that request_termination can interrupt it; and the CPU
  // clock of that thread, for the watchdog. Worker thread.
  void attach(v8::Isolate* isolate, clockid_t cpu_clock);
  void detach();
  // CPU time used by the guest so far, in milliseconds (0 when not running).
  double cpu_ms() const;

 private:
  const std::string id_;
  const engine::InstanceKey key_;
  const std::shared_ptr<const Program> program_;
  const std::vector<std::string> arguments_;
  const std::shared_ptr<server::InstanceOwner> owner_;

  HandleTable handles_;
  std::map<std::pair<uint32_t, uint32_t>, VirtualIds> ids_;
  std::string return_value_;
  std::string pending_result_;
  std::string stdout_buffer_;
  HttpExchange* http_ = nullptr;

  const std::shared_ptr<Notifier> notifier_ = std::make_shared<Notifier>();
  services::Mailbox messages_;
  services::Mailbox blobs_;

  mutable std::mutex end_mutex_;  // guards the fields below
  std::optional<Termination> end_;
  v8::Isolate* isolate_ = nullptr;
  clockid_t cpu_clock_{};
  double cpu_start_ms_ = 0;
  std::atomic<bool> terminating_{false};
};

// Milliseconds of CPU time on `clock`.
double cpu_clock_ms(clockid_t clock);

}  // namespace pie::runtime
