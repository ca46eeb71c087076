// A scripted EnginePort for testing the server and the clients without a runtime or a model.
//
// Programs are stored as given; one whose bytes start with "bad" fails to compile. A launched
// instance runs its arguments as a script, in order, inside launch_instance (so its first output
// races the launch reply, as a fast real inferlet's would):
//   send:<text>   send <text> to the client          blob:<n>   send an n-byte blob
//   exit:<text>   complete with return value <text>  fail:<text> end with an exception
//   error:<text>  end with a system error            oom        end as an out-of-resources victim
//   block         wait inside launch until release() is called
// After the script, an instance that has not ended keeps running: each signal is echoed back as a
// message ("exit" completes it with "bye"), and each blob pushed to it is echoed back as a blob.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "server/engine_port.h"

namespace pie::server::testing {

class FakeEngine : public EnginePort {
 public:
  struct Termination {
    std::string instance_id;
    TerminationCode code;
    std::string message;
  };

  bool program_exists(const std::string& hash) override;
  void add_program(const std::string& hash, std::string bytes) override;
  std::string launch_instance(const std::string& hash, std::vector<std::string> arguments,
                              std::shared_ptr<InstanceOwner> owner) override;
  void launch_server_instance(uint32_t port, const std::string& hash,
                              std::vector<std::string> arguments) override;
  void signal_instance(const std::string& instance_id, std::string message) override;
  void push_blob(const std::string& instance_id, std::string data) override;
  void terminate_instance(const std::string& instance_id, TerminationCode code,
                          std::string message) override;
  std::string attach_remote_service(const std::string& endpoint, const std::string& service_type,
                                    const std::string& service_name) override;
  std::map<std::string, std::string> model_status() override;

  // Lets launches waiting on "block" go on.
  void release();
  // Blocks until `count` instances have been terminated through terminate_instance (or 10 s
  // pass); returns what those calls were.
  std::vector<Termination> wait_for_terminations(size_t count);
  size_t running() const;
  std::vector<uint32_t> server_ports() const;

 private:
  void end(const std::string& id, TerminationCode code, std::string message);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> programs_;
  std::map<std::string, std::shared_ptr<InstanceOwner>> instances_;
  std::set<std::string> models_;
  std::vector<Termination> terminations_;
  std::vector<uint32_t> server_ports_;
  bool released_ = false;
};

}  // namespace pie::server::testing
