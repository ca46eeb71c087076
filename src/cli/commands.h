// The subcommands of `pie`. Each add_* registers one subcommand, its flags and its action; actions
// throw pie::Error for anything the user should hear about, and main() prints it.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "app/config.h"
#include "client/client.h"

namespace pie::cli {

// Exit codes of `pie run`, from the instance's fate; 1 is any other failure.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitException = 2,
  kExitAborted = 3,
  kExitServerError = 4,
  kExitOutOfResources = 5,
};

// Thrown by an action to end `pie` with this exit code (after it printed what happened).
struct ExitRequest {
  int code;
};

void add_serve(CLI::App& app);
void add_run(CLI::App& app);
void add_token(CLI::App& app);
void add_status(CLI::App& app);
void add_model(CLI::App& app);
void add_backend(CLI::App& app);

// Flags that describe one model served in-process (serve, run); applied with apply().
struct ModelFlags {
  std::string path;
  std::string tokenizer;
  std::string name;
  uint32_t kv_pages = cpu::CpuBackendOptions{}.kv_pages;
  uint32_t kv_page_size = cpu::CpuBackendOptions{}.kv_page_size;
  std::string kv_type = "f32";
  unsigned threads = 0;
  int64_t seed = -1;

  void add_to(CLI::App& command, bool path_flag);
  // The model these flags describe (path must be set).
  app::ModelConfig model() const;
};

// Where a command that talks to an engine connects, and how it authenticates.
struct ConnectFlags {
  std::string url = "ws://127.0.0.1:8080";
  std::string token;  // empty: $PIE_TOKEN, else one minted with the local secret when it exists

  void add_to(CLI::App& command);
  std::unique_ptr<client::Client> connect() const;
};

}  // namespace pie::cli
