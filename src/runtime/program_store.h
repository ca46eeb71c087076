// Programs (inferlets) keyed by the BLAKE3 hex of their bytes. Wasm modules are validated and
// compiled once, at upload, and the compiled module is shared by every instance in the process.
// With a cache folder, the raw bytes and V8's serialised compiled code are kept under
// <cache_dir>/programs/ so a restarted engine launches them without compiling again.
#pragma once

#include <v8-wasm.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/v8_process.h"

namespace pie::runtime {

enum class ProgramKind { Wasm, JavaScript };

struct Program {
  std::string hash;
  ProgramKind kind = ProgramKind::Wasm;
  std::string bytes;                           // Wasm wire bytes or JavaScript source
  std::optional<v8::CompiledWasmModule> wasm;  // set for Wasm programs
};

// What a Wasm program may import and must export to run on this engine.
struct WasmLinkRules {
  // module name -> the functions the host provides under it
  std::map<std::string, std::set<std::string>, std::less<>> imports;
  // Value the program's `pie_abi_version` export must return.
  uint32_t abi_version = 0;
};

class ProgramStore {
 public:
  // `cache_dir` empty: programs live in memory only.
  ProgramStore(std::shared_ptr<V8Process> v8, WasmLinkRules rules, std::filesystem::path cache_dir);
  ~ProgramStore();
  ProgramStore(const ProgramStore&) = delete;
  ProgramStore& operator=(const ProgramStore&) = delete;

  static ProgramKind detect_kind(std::string_view bytes);
  // True for 64 lowercase hex digits (hashes name files, so nothing else is accepted).
  static bool valid_hash(std::string_view hash);

  // Known in memory or in the cache folder.
  bool contains(const std::string& hash);
  // Validates and compiles `bytes` (whose hash the caller has verified) unless the program is
  // already known. Throws pie::Error("Failed to compile: <reason>").
  std::shared_ptr<const Program> add(const std::string& hash, std::string bytes);
  // The program, loaded from the cache folder if needed; null when unknown.
  std::shared_ptr<const Program> find(const std::string& hash);

  std::vector<std::string> in_memory_hashes();
  const std::filesystem::path& cache_dir() const { return cache_dir_; }
  // How many times a Wasm module was compiled from its wire bytes (cache hits do not count).
  uint64_t compilations() const { return compilations_.load(); }

 private:
  struct Compiler;

  std::shared_ptr<Program> build(const std::string& hash, std::string bytes,
                                 const std::string* cached_code);
  std::filesystem::path program_path(const std::string& hash) const;
  std::filesystem::path code_path(const std::string& hash) const;
  void write_file(const std::filesystem::path& path, std::string_view data);

  std::shared_ptr<V8Process> v8_;
  std::filesystem::path cache_dir_;
  WasmLinkRules rules_;
  std::unique_ptr<Compiler> compiler_;  // guarded by compile_mutex_
  std::mutex compile_mutex_;
  std::mutex mutex_;  // guards programs_ and on_disk_
  std::map<std::string, std::shared_ptr<const Program>> programs_;
  std::set<std::string> on_disk_;
  std::atomic<uint64_t> compilations_{0};
};

}  // namespace pie::runtime
