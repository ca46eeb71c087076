#include "app/config.h"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "server/auth.h"

namespace pie::app {

namespace fs = std::filesystem;

fs::path pie_home() {
  if (const char* home = std::getenv("PIE_HOME"); home != nullptr && *home != '\0') return home;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".pie";
  }
  return fs::current_path() / ".pie";
}

EngineConfig default_config() {
  EngineConfig config;
  config.runtime.cache_dir = pie_home() / "cache";
  config.secret_file = pie_home() / "auth_secret";
  return config;
}

namespace {

// Reads one table's keys, refusing unknown ones and wrong types with the key's full name.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, const fs::path& file)
      : table_(table), prefix_(std::move(prefix)), file_(file) {}

  template <class T>
  std::optional<T> get(const std::string& key) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return std::nullopt;
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
      if (auto v = node->value_exact<T>()) return *v;
      fail(key, std::is_same_v<T, bool> ? "a boolean" : "a string");
    } else {
      auto v = node->value_exact<int64_t>();
      if (!v) fail(key, "an integer");
      if (*v < 0 || static_cast<uint64_t>(*v) > std::numeric_limits<T>::max()) {
        fail(key, "an integer from 0 to " + std::to_string(std::numeric_limits<T>::max()));
      }
      return static_cast<T>(*v);
    }
  }
  // A path, relative to the config file's folder unless absolute.
  std::optional<fs::path> path(const std::string& key) {
    auto s = get<std::string>(key);
    if (!s) return std::nullopt;
    fs::path p(*s);
    return p.is_absolute() ? p : file_.parent_path() / p;
  }
  // Fails for every key that no get() asked for.
  void check_unknown(const std::string& allowed_tables = "") {
    for (const auto& [key, node] : table_) {
      const std::string k(key.str());
      if (known_.count(k) == 0 && (allowed_tables.find("|" + k + "|") == std::string::npos)) {
        throw Error(file_.string() + ": unknown key '" + prefix_ + k + "'");
      }
    }
  }
  [[noreturn]] void fail(const std::string& key, const std::string& expected) {
    throw Error(file_.string() + ": '" + prefix_ + key + "' must be " + expected);
  }

 private:
  const toml::table& table_;
  std::string prefix_;
  const fs::path& file_;
  std::set<std::string> known_;
};

void apply_model(ModelConfig& model, TableReader& t) {
  if (auto p = t.path("path")) model.path = *p;
  if (model.path.empty()) t.fail("path", "given (the model file or folder)");
  if (auto p = t.path("tokenizer")) model.tokenizer = *p;
  if (auto v = t.get<std::string>("name")) model.name = *v;
  auto& b = model.backend;
  if (auto v = t.get<uint32_t>("kv_pages")) b.kv_pages = *v;
  if (auto v = t.get<uint32_t>("kv_page_size")) b.kv_page_size = *v;
  if (auto v = t.get<uint32_t>("embed_slots")) b.embed_slots = *v;
  if (auto v = t.get<uint32_t>("threads")) b.threads = *v;
  if (auto v = t.get<uint64_t>("seed")) b.seed = *v;
  if (auto v = t.get<std::string>("kv_type")) {
    if (*v == "f32") {
      b.kv_type = model::GgmlType::F32;
    } else if (*v == "f16") {
      b.kv_type = model::GgmlType::F16;
    } else {
      t.fail("kv_type", "\"f32\" or \"f16\"");
    }
  }
  if (b.kv_pages == 0) t.fail("kv_pages", "at least 1");
  if (b.kv_page_size == 0) t.fail("kv_page_size", "at least 1");
  t.check_unknown();
}

}  // namespace

void apply_config_file(EngineConfig& config, const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read the config file " + file.string());
  std::stringstream text;
  text << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(text.str(), file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << file.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    throw Error(msg.str());
  }

  TableReader t(root, "", file);
  if (auto v = t.get<std::string>("host")) config.server.host = *v;
  if (auto v = t.get<uint16_t>("port")) config.server.port = *v;
  if (auto v = t.get<bool>("enable_auth")) config.server.enable_auth = *v;
  if (auto v = t.get<std::string>("auth_secret")) config.server.auth_secret = *v;
  if (auto p = t.path("cache_dir")) config.runtime.cache_dir = *p;
  if (auto p = t.path("kvs_file")) config.runtime.kvs_file = *p;
  if (auto v = t.get<uint32_t>("cpu_time_limit_ms")) config.runtime.cpu_time_limit_ms = *v;
  if (auto v = t.get<uint32_t>("max_wasm_memory_mib")) {
    if (*v == 0 || *v > 4096) t.fail("max_wasm_memory_mib", "from 1 to 4096");
    config.runtime.max_wasm_memory_pages = *v * 16;  // 64 KiB Wasm pages
  }
  t.check_unknown("|scheduler|model|");

  if (const toml::node* node = root.get("scheduler")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) throw Error(file.string() + ": 'scheduler' must be a table");
    TableReader s(*table, "scheduler.", file);
    if (auto v = s.get<std::string>("oom_policy")) {
      if (*v == "wait") {
        config.service.oom_policy = engine::OutOfResourcesPolicy::Wait;
      } else if (*v == "kill") {
        config.service.oom_policy = engine::OutOfResourcesPolicy::Kill;
      } else {
        s.fail("oom_policy", "\"wait\" or \"kill\"");
      }
    }
    if (auto v = s.get<uint32_t>("oom_wait_ms"))
      config.service.oom_wait = std::chrono::milliseconds(*v);
    if (auto v = s.get<uint32_t>("max_batch_tokens")) {
      if (*v == 0) s.fail("max_batch_tokens", "at least 1");
      config.service.max_batch_tokens = *v;
    }
    if (auto v = s.get<uint32_t>("max_gather_us")) {
      config.service.max_gather = std::chrono::microseconds(*v);
    }
    s.check_unknown();
  }

  if (const toml::node* node = root.get("model")) {
    const toml::array* models = node->as_array();
    if (models == nullptr) {
      throw Error(file.string() + ": 'model' must be an array of tables ([[model]])");
    }
    size_t index = 0;
    for (const auto& entry : *models) {
      const toml::table* table = entry.as_table();
      const std::string prefix = "model[" + std::to_string(index++) + "].";
      if (table == nullptr) throw Error(file.string() + ": " + prefix + " must be a table");
      ModelConfig model;
      TableReader m(*table, prefix, file);
      apply_model(model, m);
      config.models.push_back(std::move(model));
    }
  }
}

std::string resolve_secret(EngineConfig& config) {
  if (!config.server.auth_secret.empty()) return config.server.auth_secret;
  if (std::ifstream in(config.secret_file); in) {
    std::string secret;
    std::getline(in, secret);
    if (!secret.empty()) return config.server.auth_secret = secret;
  }
  const std::string secret = server::random_secret();
  std::error_code ec;
  fs::create_directories(config.secret_file.parent_path(), ec);
  // Created readable by its owner only: whoever reads it can mint tokens.
  const int fd = ::open(config.secret_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const std::string line = secret + "\n";
  const bool written =
      fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (fd >= 0) ::close(fd);
  if (!written) throw Error("cannot write the auth secret to " + config.secret_file.string());
  return config.server.auth_secret = secret;
}

}  // namespace pie::app
