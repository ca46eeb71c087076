// The TOML configuration of `pie serve`: values over the defaults, paths relative to the file,
// and a clear error for each kind of mistake.
#include "app/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"

namespace pie::app {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pie_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text) {
    const fs::path file = dir_ / "pie.toml";
    std::ofstream(file) << text;
    return file;
  }
  // The error text applying `text` gives.
  std::string error_of(const std::string& text) {
    EngineConfig config = default_config();
    try {
      apply_config_file(config, write(text));
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(ConfigTest, ValuesOverrideTheDefaults) {
  EngineConfig config = default_config();
  apply_config_file(config, write(R"(
host = "0.0.0.0"
port = 9123
enable_auth = false
cache_dir = "cache"
cpu_time_limit_ms = 5000
max_wasm_memory_mib = 64

[scheduler]
oom_policy = "kill"
max_batch_tokens = 512

[[model]]
path = "models/a.gguf"
name = "a"
kv_pages = 100
kv_page_size = 32
kv_type = "f16"
seed = 7

[[model]]
path = "/abs/b.bin"
)"));
  EXPECT_EQ(config.server.host, "0.0.0.0");
  EXPECT_EQ(config.server.port, 9123);
  EXPECT_FALSE(config.server.enable_auth);
  EXPECT_EQ(config.runtime.cache_dir, dir_ / "cache");
  EXPECT_EQ(config.runtime.cpu_time_limit_ms, 5000U);
  EXPECT_EQ(config.runtime.max_wasm_memory_pages, 64U * 16);
  EXPECT_EQ(config.service.oom_policy, engine::OutOfResourcesPolicy::Kill);
  EXPECT_EQ(config.service.max_batch_tokens, 512U);
  ASSERT_EQ(config.models.size(), 2U);
  EXPECT_EQ(config.models[0].path, dir_ / "models/a.gguf");
  EXPECT_EQ(config.models[0].name, "a");
  EXPECT_EQ(config.models[0].backend.kv_pages, 100U);
  EXPECT_EQ(config.models[0].backend.kv_page_size, 32U);
  EXPECT_EQ(config.models[0].backend.kv_type, model::GgmlType::F16);
  EXPECT_EQ(config.models[0].backend.seed, 7U);
  EXPECT_EQ(config.models[1].path, "/abs/b.bin");
  EXPECT_EQ(config.models[1].backend.kv_pages, cpu::CpuBackendOptions{}.kv_pages);
}

TEST_F(ConfigTest, MistakesAreNamed) {
  EXPECT_NE(error_of("port = ").find("pie.toml:1"), std::string::npos) << error_of("port = ");
  EXPECT_NE(error_of("prot = 1").find("unknown key 'prot'"), std::string::npos);
  EXPECT_NE(error_of("port = \"x\"").find("'port' must be an integer"), std::string::npos);
  EXPECT_NE(error_of("port = 70000").find("'port' must be an integer from 0 to 65535"),
            std::string::npos);
  EXPECT_NE(error_of("[scheduler]\noom_policy = \"maybe\"").find("'scheduler.oom_policy'"),
            std::string::npos);
  EXPECT_NE(error_of("[[model]]\nname = \"x\"").find("'model[0].path' must be given"),
            std::string::npos);
  EXPECT_NE(
      error_of("[[model]]\npath = \"m\"\nkv_typ = \"f16\"").find("unknown key 'model[0].kv_typ'"),
      std::string::npos);
  EXPECT_NE(error_of("model = 3").find("array of tables"), std::string::npos);
  EngineConfig config = default_config();
  try {
    apply_config_file(config, dir_ / "missing.toml");
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read the config file"), std::string::npos);
  }
}

TEST_F(ConfigTest, TheGeneratedSecretIsKeptAndReused) {
  EngineConfig config = default_config();
  config.secret_file = dir_ / "home" / "auth_secret";
  const std::string secret = resolve_secret(config);
  EXPECT_EQ(secret.size(), 32U);
  EXPECT_EQ(fs::status(config.secret_file).permissions() & fs::perms::group_all, fs::perms::none);
  EngineConfig again = default_config();
  again.secret_file = config.secret_file;
  EXPECT_EQ(resolve_secret(again), secret);
  EngineConfig configured = default_config();
  configured.server.auth_secret = "configured";
  configured.secret_file = config.secret_file;
  EXPECT_EQ(resolve_secret(configured), "configured");
}

}  // namespace
}  // namespace pie::app
