// `pie run`: upload an inferlet (unless the engine has it), launch it, stream what it says, and
// exit with a code that tells how it ended. Against a running engine (--server) or one started in
// this process for the run (--model).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "app/engine.h"
#include "commands.h"
#include "common/blake3.h"
#include "common/error.h"
#include "common/log.h"

namespace pie::cli {

namespace {

struct RunFlags {
  std::string inferlet;
  std::vector<std::string> args;
  bool stream = false;
  bool verbose = false;
  bool detach = false;
  ConnectFlags connect;
  ModelFlags model;
};

std::string read_program(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read the inferlet " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void upload(client::Client& client, const std::string& path, const std::string& bytes,
            const std::string& hash) {
  const std::string name = std::filesystem::path(path).filename().string();
  if (client.program_exists(hash)) return;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  client.upload_program(bytes, [&](size_t sent, size_t total) {
    if (tty) {
      std::fprintf(stderr, "\rpie: uploading %s: %zu / %zu KiB", name.c_str(), sent >> 10,
                   total >> 10);
    }
  });
  if (tty) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "pie: uploaded %s (%zu KiB, %.12s)\n", name.c_str(), bytes.size() >> 10,
               hash.c_str());
}

// Prints the instance's events until it ends; returns the exit code of its fate.
int follow(client::Instance& instance, bool stream) {
  while (true) {
    const client::Event event = instance.recv();
    switch (event.kind) {
      case client::EventKind::Message:
        std::fwrite(event.data.data(), 1, event.data.size(), stdout);
        if (!stream) std::fputc('\n', stdout);
        std::fflush(stdout);
        break;
      case client::EventKind::Blob:
        std::fprintf(stderr, "pie: the instance sent a blob of %zu bytes\n", event.data.size());
        break;
      case client::EventKind::Completed:
        if (stream) {
          std::fputc('\n', stdout);
        } else if (!event.data.empty()) {
          std::printf("%s\n", event.data.c_str());
        }
        return kExitOk;
      case client::EventKind::Aborted:
        std::fprintf(stderr, "pie: instance aborted: %s\n", event.data.c_str());
        return kExitAborted;
      case client::EventKind::Exception:
        std::fprintf(stderr, "pie: instance failed: %s\n", event.data.c_str());
        return kExitException;
      case client::EventKind::ServerError:
        std::fprintf(stderr, "pie: server error: %s\n", event.data.c_str());
        return kExitServerError;
      case client::EventKind::OutOfResources:
        std::fprintf(stderr, "pie: instance ran out of resources: %s\n", event.data.c_str());
        return kExitOutOfResources;
    }
  }
}

// --detach: the engine ends the instances of a connection that closes, so a child process keeps
// the connection and writes the events to $PIE_HOME/logs/<instance id>.log, while this process
// prints the instance id and returns. Forked before any thread exists.
void run_detached(const RunFlags& flags, const std::string& bytes, const std::string& hash) {
  int fds[2];
  if (::pipe(fds) != 0) throw Error("cannot create a pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("cannot fork");
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    std::string report;
    int code = kExitFailure;
    try {
      auto client = flags.connect.connect();
      upload(*client, flags.inferlet, bytes, hash);
      client::Instance instance = client->launch_instance(hash, flags.args);
      const auto logs = app::pie_home() / "logs";
      std::filesystem::create_directories(logs);
      const auto log = logs / (instance.id() + ".log");
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0) throw Error("cannot write " + log.string());
      report = "ok\t" + instance.id() + "\t" + log.string();
      (void)!::write(fds[1], report.data(), report.size());
      ::close(fds[1]);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::close(out);
      code = follow(instance, flags.stream);
    } catch (const std::exception& e) {
      if (report.empty()) {
        report = std::string("error\t") + e.what();
        (void)!::write(fds[1], report.data(), report.size());
      } else {
        std::fprintf(stderr, "pie: %s\n", e.what());  // into the log
      }
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  if (report.rfind("ok\t", 0) != 0) {
    throw Error(report.empty() ? "the detached run ended before launching"
                               : report.substr(report.find('\t') + 1));
  }
  const size_t tab = report.find('\t', 3);
  std::printf("%s\n", report.substr(3, tab - 3).c_str());
  std::fprintf(stderr, "pie: detached; its events go to %s\n", report.substr(tab + 1).c_str());
}

void run(const RunFlags& flags, const CLI::App& command) {
  const std::string bytes = read_program(flags.inferlet);
  const std::string hash = blake3_hex(bytes);
  if (flags.detach) {
    if (!flags.model.path.empty()) {
      throw Error("--detach needs --server: an in-process engine ends with the command");
    }
    run_detached(flags, bytes, hash);
    return;
  }

  std::unique_ptr<app::Engine> engine;
  std::unique_ptr<client::Client> client;
  if (!flags.model.path.empty()) {
    if (command.count("--server") > 0) throw Error("give either --model or --server, not both");
    // The engine's log would drown the inferlet's output; warnings and errors still show.
    if (!flags.verbose) log::set_level(log::Level::Warn);
    app::EngineConfig config = app::default_config();
    config.server.port = 0;
    config.server.enable_auth = false;
    config.models.push_back(flags.model.model());
    engine = std::make_unique<app::Engine>(config);
    client = std::make_unique<client::Client>(engine->url());
  } else {
    client = flags.connect.connect();
  }
  upload(*client, flags.inferlet, bytes, hash);
  client::Instance instance = client->launch_instance(hash, flags.args);
  const int code = follow(instance, flags.stream);
  if (code != kExitOk) throw ExitRequest{code};
}

}  // namespace

void add_run(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* command = app.add_subcommand(
      "run",
      "Run an inferlet (.wasm or .js) and print its messages. With --model, an engine is started "
      "in this process for the run; otherwise it runs on the engine at --server.\n"
      "Exit codes: 0 completed, 2 exception, 3 aborted, 4 server error, 5 out of resources, 1 any "
      "other failure.\nExample: pie run --model stories260K.bin text-completion.wasm -- --prompt "
      "\"Once upon a time\"");
  command->add_option("inferlet", flags->inferlet, "The inferlet file")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("args", flags->args, "Arguments for the inferlet (after --)");
  command->add_flag("--stream", flags->stream,
                    "Print messages as one stream (no newline between them), for inferlets that "
                    "stream generated text; the return value is not repeated");
  command->add_flag("-d,--detach", flags->detach,
                    "Print the instance id and return at once; the instance goes on running and "
                    "its events are written to $PIE_HOME/logs/<id>.log");
  command->add_flag("-v,--verbose", flags->verbose, "Show the in-process engine's log");
  flags->connect.add_to(*command);
  flags->model.add_to(*command, /*path_flag=*/true);
  command->callback([flags, command] { run(*flags, *command); });
}

}  // namespace pie::cli
