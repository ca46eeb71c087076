// `pie token` and `pie status`.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "app/config.h"
#include "commands.h"
#include "server/auth.h"

namespace pie::cli {

namespace {

struct TokenFlags {
  std::string config;
  std::string subject = "default";
  unsigned days = 365;
};

void token(const TokenFlags& flags) {
  app::EngineConfig config = app::default_config();
  if (!flags.config.empty()) app::apply_config_file(config, flags.config);
  const std::string secret = app::resolve_secret(config);
  std::printf("%s\n",
              server::mint_token(secret, flags.subject, "User", std::chrono::system_clock::now(),
                                 std::chrono::hours(24) * flags.days)
                  .c_str());
}

// model_status keys are "<model>.<entry>": one block per model, entries in order.
void status(const ConnectFlags& flags) {
  auto client = flags.connect();
  const auto json = nlohmann::json::parse(client->query("model_status", ""));
  std::map<std::string, std::map<std::string, std::string>> models;
  for (const auto& [key, value] : json.items()) {
    const size_t dot = key.find('.');
    const std::string model = dot == std::string::npos ? key : key.substr(0, dot);
    const std::string entry = dot == std::string::npos ? "" : key.substr(dot + 1);
    models[model][entry] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  if (models.empty()) std::printf("no models\n");
  for (const auto& [model, entries] : models) {
    std::printf("%s\n", model.c_str());
    for (const auto& [entry, value] : entries) {
      std::printf("  %-32s %s\n", entry.c_str(), value.c_str());
    }
  }
}

}  // namespace

void add_token(CLI::App& app) {
  auto flags = std::make_shared<TokenFlags>();
  CLI::App* command = app.add_subcommand(
      "token",
      "Print a token for the engine on this machine (signed with the secret of its config file, "
      "else the one the engine generated in $PIE_HOME/auth_secret, created if missing).");
  command->add_option("--config", flags->config, "The engine's TOML config file")
      ->check(CLI::ExistingFile);
  command->add_option("--subject", flags->subject, "Who the token is for")->capture_default_str();
  command->add_option("--days", flags->days, "Days until it expires")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->callback([flags] { token(*flags); });
}

void add_status(CLI::App& app) {
  auto flags = std::make_shared<ConnectFlags>();
  CLI::App* command = app.add_subcommand(
      "status",
      "Show the engine's models: KV pages and embedding slots used and free, exports, "
      "batches run and queue depth.");
  flags->add_to(*command);
  command->callback([flags] { status(*flags); });
}

}  // namespace pie::cli
