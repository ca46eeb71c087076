// Flags shared by several subcommands.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "common/error.h"
#include "server/auth.h"

namespace pie::cli {

void ModelFlags::add_to(CLI::App& command, bool path_flag) {
  if (path_flag) {
    command.add_option(
        "--model", path,
        "Model to serve: a GGUF file, a Hugging Face folder or a llama2.c checkpoint");
  }
  command.add_option("--tokenizer", tokenizer,
                     "Tokenizer of a llama2.c checkpoint (default: tok<vocab>.bin or tokenizer.bin "
                     "beside it)");
  command.add_option("--name", name, "Name the model gets in the engine (default: its own)");
  command.add_option("--kv-pages", kv_pages, "KV-cache pages in the pool")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--kv-page-size", kv_page_size, "Tokens per KV-cache page")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--kv-type", kv_type, "KV-cache storage: f32 or f16")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16"}));
  command.add_option("--threads", threads, "Compute threads (0: one per core)")
      ->capture_default_str();
  command.add_option("--seed", seed,
                     "Seed of the sampling generator, for reproducible runs (default: random)");
}

app::ModelConfig ModelFlags::model() const {
  app::ModelConfig m;
  m.path = path;
  m.tokenizer = tokenizer;
  m.name = name;
  m.backend.kv_pages = kv_pages;
  m.backend.kv_page_size = kv_page_size;
  m.backend.kv_type = kv_type == "f16" ? model::GgmlType::F16 : model::GgmlType::F32;
  m.backend.threads = threads;
  if (seed >= 0) m.backend.seed = static_cast<uint64_t>(seed);
  return m;
}

void ConnectFlags::add_to(CLI::App& command) {
  command.add_option("--server", url, "The engine's address")->capture_default_str();
  command.add_option("--token", token,
                     "Token to authenticate with (default: $PIE_TOKEN, else one minted with this "
                     "machine's engine secret)");
}

std::unique_ptr<client::Client> ConnectFlags::connect() const {
  std::string t = token;
  if (t.empty()) {
    if (const char* env = std::getenv("PIE_TOKEN"); env != nullptr) t = env;
  }
  if (t.empty()) {
    // An engine on this machine keeps its generated secret here: mint a token with it.
    std::ifstream in(app::default_config().secret_file);
    std::string secret;
    if (in && std::getline(in, secret) && !secret.empty())
      t = server::mint_token(secret, "default");
  }
  auto client = std::make_unique<client::Client>(url, std::chrono::seconds(120));
  if (!t.empty()) {
    try {
      client->authenticate(t);
    } catch (const Error& e) {
      throw Error(std::string("authentication failed: ") + e.what() +
                  " (pass --token, or mint one with `pie token` on the engine's machine)");
    }
  }
  return client;
}

}  // namespace pie::cli
