#include "serve_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "shared_data.h"

namespace pie::testing {

namespace {

// fork + exec with stdout on a pipe; returns the pid and the pipe's read end.
std::pair<pid_t, int> spawn(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads from `fd` until `stop` returns true for what was read, EOF, or the timeout.
std::string read_until(int fd, std::chrono::seconds timeout, bool (*stop)(const std::string&)) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!stop(out) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int wait_exit(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string pie_binary() {
  return (bin_dir() / "pie").string();
}

}  // namespace

ServeProcess::ServeProcess(const std::vector<std::string>& flags,
                           const std::filesystem::path& home) {
  std::vector<std::string> argv = {pie_binary(), "serve", "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto [pid, fd] = spawn(argv, {"PIE_HOME=" + home.string()});
  pid_ = pid;
  stdout_fd_ = fd;
  const std::string out = read_until(fd, std::chrono::seconds(60), [](const std::string& s) {
    return s.find('\n', s.find("serving on ")) != std::string::npos &&
           s.find("serving on ") != std::string::npos;
  });
  const size_t at = out.find("serving on ws://127.0.0.1:");
  if (at == std::string::npos) {
    stop();
    throw std::runtime_error("pie serve did not start: " + out);
  }
  port_ = static_cast<uint16_t>(
      std::stoi(out.substr(at + std::string("serving on ws://127.0.0.1:").size())));
}

ServeProcess::~ServeProcess() {
  stop();
}

int ServeProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int code = wait_exit(pid_, std::chrono::seconds(20));
  ::close(stdout_fd_);
  pid_ = -1;
  return code;
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env) {
  std::vector<std::string> full = argv;
  if (!full.empty() && full[0] == "pie") full[0] = pie_binary();
  std::tie(pid_, stdout_fd_) = spawn(full, env);
}

BackgroundCommand::~BackgroundCommand() {
  kill();
}

void BackgroundCommand::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  ::close(stdout_fd_);
  pid_ = -1;
}

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env) {
  std::vector<std::string> full = argv;
  if (!full.empty() && full[0] == "pie") full[0] = pie_binary();
  auto [pid, fd] = spawn(full, env);
  CommandResult result;
  result.out = read_until(fd, std::chrono::seconds(120), [](const std::string&) { return false; });
  ::close(fd);
  result.code = wait_exit(pid, std::chrono::seconds(10));
  return result;
}

}  // namespace pie::testing
