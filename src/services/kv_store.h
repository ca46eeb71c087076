// The key-value store shared by all instances (reference §2.3 store-*). In memory by default;
// given a file, every change is appended to it and the store is rebuilt from it at start, so its
// contents survive restarts.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pie::services {

class KeyValueStore {
 public:
  KeyValueStore() = default;
  // Loads `file` when it exists (a torn last record, left by a crash, is ignored), then keeps
  // appending to it. Throws pie::Error when the file cannot be read or written.
  explicit KeyValueStore(std::filesystem::path file);
  ~KeyValueStore();
  KeyValueStore(const KeyValueStore&) = delete;
  KeyValueStore& operator=(const KeyValueStore&) = delete;

  std::optional<std::string> get(std::string_view key) const;
  void set(std::string_view key, std::string_view value);
  void erase(std::string_view key);
  bool exists(std::string_view key) const;
  std::vector<std::string> keys() const;
  size_t size() const;

 private:
  void append(char op, std::string_view key, std::string_view value);
  void load();
  void rewrite();

  std::filesystem::path path_;
  std::FILE* log_ = nullptr;
  mutable std::mutex mutex_;
  std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace pie::services
