// What the WebSocket server needs from the rest of the engine. The server knows nothing else about
// it, so it can be tested against a fake. Calls may block (compiling a program, attaching a
// backend): the server makes them off its network threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pie::server {

// Why an instance ended (reference §3.4). The server maps it to the client's event code:
// Normal -> Completed(1), Signal -> Aborted(2), Exception -> Exception(3),
// SystemError -> ServerError(4), OutOfResources -> OutOfResources(5).
enum class TerminationCode : uint32_t {
  Normal = 0,
  Signal = 1,
  Exception = 2,
  SystemError = 3,
  OutOfResources = 4,
};

// Receives what an instance produces. Implemented by the connection that launched it; called from
// any thread, at most once with on_terminated, and never after it.
class InstanceOwner {
 public:
  virtual ~InstanceOwner() = default;
  virtual void on_message(const std::string& instance_id, std::string message) = 0;
  virtual void on_blob(const std::string& instance_id, std::string data) = 0;
  virtual void on_terminated(const std::string& instance_id, TerminationCode code,
                             std::string message) = 0;
};

class EnginePort {
 public:
  virtual ~EnginePort() = default;

  // Known in memory or in the on-disk program cache.
  virtual bool program_exists(const std::string& hash) = 0;
  // Stores (and compiles) a program whose hash the server has verified; throws pie::Error with the
  // reply text ("Failed to compile: ...") on failure.
  virtual void add_program(const std::string& hash, std::string bytes) = 0;
  // Starts an instance owned by `owner` (registered before the instance runs, so no output is lost)
  // and returns its UUID; throws pie::Error("No such program with hash=<h>") and the like.
  virtual std::string launch_instance(const std::string& hash, std::vector<std::string> arguments,
                                      std::shared_ptr<InstanceOwner> owner) = 0;
  // Serves HTTP on 127.0.0.1:<port>, one fresh instance per request; throws on bind/lookup errors.
  virtual void launch_server_instance(uint32_t port, const std::string& hash,
                                      std::vector<std::string> arguments) = 0;
  // Deliveries to an instance's mailboxes (the server has checked ownership).
  virtual void signal_instance(const std::string& instance_id, std::string message) = 0;
  virtual void push_blob(const std::string& instance_id, std::string data) = 0;
  // Ends an instance; its owner then gets on_terminated with this code and message.
  virtual void terminate_instance(const std::string& instance_id, TerminationCode code,
                                  std::string message) = 0;
  // Registers a remote backend; returns the success text or throws pie::Error with the failure
  // text.
  virtual std::string attach_remote_service(const std::string& endpoint,
                                            const std::string& service_type,
                                            const std::string& service_name) = 0;
  // The `model_status` query (reference §3.5.5): flat key -> value map, rendered as JSON.
  virtual std::map<std::string, std::string> model_status() = 0;
};

}  // namespace pie::server
