// `pie serve` as a child process on a free port, for tests that must see the real command: its
// flags, its output and its shutdown. Stopped with SIGTERM when destroyed.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace pie::testing {

class ServeProcess {
 public:
  // Starts `pie serve --port 0 <flags>` with PIE_HOME=`home` and waits for its "serving on" line.
  ServeProcess(const std::vector<std::string>& flags, const std::filesystem::path& home);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  // Sends SIGTERM and returns the exit status (-1: killed after 20 s without exiting).
  int stop();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;  // kept open: a closed pipe would kill the engine on its next output
  uint16_t port_ = 0;
};

// A command running in the background (e.g. `pie backend`), killed with SIGKILL when destroyed.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env = {});
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  void kill();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

// Runs a command to completion; returns its exit code and stdout (stderr goes to stderr).
struct CommandResult {
  int code = -1;
  std::string out;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env = {});

}  // namespace pie::testing
