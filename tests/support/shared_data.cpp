#include "shared_data.h"

#include <cstdlib>

namespace pie::testing {

namespace {
std::filesystem::path env_path(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return std::filesystem::path(v != nullptr && *v != '\0' ? v : fallback);
}
}  // namespace

std::filesystem::path shared_dir() {
  return env_path("PIE_SHARED", PIE_SHARED_DIR_DEFAULT);
}

std::filesystem::path shared_file(const std::string& relative) {
  auto p = shared_dir() / relative;
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

std::filesystem::path inferlet_dir() {
  return env_path("PIE_INFERLET_DIR", PIE_INFERLET_DIR_DEFAULT);
}

std::filesystem::path inferlet_file(const std::string& name) {
  auto p = inferlet_dir() / (name + ".wasm");
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

std::filesystem::path bin_dir() {
  return env_path("PIE_BIN_DIR", PIE_BIN_DIR_DEFAULT);
}

bool in_ci() {
  const char* v = std::getenv("CI");
  return v != nullptr && std::string(v) == "true";
}

}  // namespace pie::testing
