// The state of the guest running on a worker thread, reachable from every host function through
// the isolate, and the helpers host functions use to read arguments and guest memory.
#pragma once

#include <v8.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "runtime/host_api.h"
#include "runtime/instance.h"

namespace pie::runtime {

// Output written by the guest, split into lines.
class LineBuffer {
 public:
  // Appends `data` and calls emit(line) for each completed line (without its newline).
  template <class Emit>
  void write(std::string_view data, Emit&& emit) {
    pending_.append(data);
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      emit(std::string(pending_, start, nl - start));
    }
    pending_.erase(0, start);
  }
  // Emits what is left, if anything.
  template <class Emit>
  void flush(Emit&& emit) {
    if (!pending_.empty()) emit(std::exchange(pending_, {}));
  }

 private:
  std::string pending_;
};

struct JsRun;

struct Guest {
  Instance* instance = nullptr;
  HostApi* api = nullptr;
  // Wasm guests: the linear memory. With the trap handler, memory grows in place, so the backing
  // store (and its base address) stays valid for the instance's life.
  std::shared_ptr<v8::BackingStore> memory;
  v8::Global<v8::WasmMemoryObject> memory_object;
  bool memory_may_move = false;
  // How the guest ended itself (WASI proc_exit, pie_fail), if it did.
  std::optional<Termination> exit;
  // JavaScript guests: the state of their event loop.
  JsRun* js = nullptr;
  LineBuffer out;
  LineBuffer err;

  // Guest bytes [ptr, ptr + len); throws pie::Error when outside memory.
  std::span<uint8_t> bytes(uint32_t ptr, uint64_t len);
  std::string_view text(uint32_t ptr, uint32_t len) {
    auto b = bytes(ptr, len);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  std::vector<uint32_t> u32s(uint32_t ptr, uint32_t n) {
    auto b = bytes(ptr, uint64_t{n} * 4);
    std::vector<uint32_t> out(n);
    if (n != 0) std::memcpy(out.data(), b.data(), b.size());
    return out;
  }
  void write(uint32_t ptr, const void* data, size_t len) {
    auto b = bytes(ptr, len);
    if (len != 0) std::memcpy(b.data(), data, len);
  }
  template <class T>
  void write_value(uint32_t ptr, T value) {
    write(ptr, &value, sizeof value);
  }
  // Writes a result of variable size into the guest buffer (out, cap) when it fits, else keeps it
  // for pie_result_fetch; returns its size.
  uint32_t result(uint32_t out, uint32_t cap, std::string_view data);

  // Guest stdout becomes message events for the owner; stderr goes to the engine log.
  void write_stdout(std::string_view data);
  void write_stderr(std::string_view data);
  void flush_output();
};

// The guest running on `isolate` (set by the runner for the duration of a run).
Guest& current_guest(v8::Isolate* isolate);
void set_current_guest(v8::Isolate* isolate, Guest* guest);

// The arguments and return value of one host call.
class HostCall {
 public:
  explicit HostCall(const v8::FunctionCallbackInfo<v8::Value>& info) : info_(info) {}
  uint32_t u32(int i) const { return static_cast<uint32_t>(info_[i].As<v8::Int32>()->Value()); }
  int32_t i32(int i) const { return info_[i].As<v8::Int32>()->Value(); }
  float f32(int i) const { return static_cast<float>(info_[i].As<v8::Number>()->Value()); }
  int64_t i64(int i) const;
  uint64_t u64(int i) const { return static_cast<uint64_t>(i64(i)); }
  void ret(uint32_t v) const { info_.GetReturnValue().Set(v); }
  void ret(int32_t v) const { info_.GetReturnValue().Set(v); }
  void ret_u64(uint64_t v) const;
  v8::Isolate* isolate() const { return info_.GetIsolate(); }

 private:
  const v8::FunctionCallbackInfo<v8::Value>& info_;
};

// A host function: its import module and name, and implementation.
struct HostFunction {
  const char* module;
  const char* name;
  void (*impl)(Guest&, HostCall&);
};

// Thrown by a host function that ends the guest (after setting Guest::exit) to unwind it.
struct GuestExit {};

// Adds `functions` (static tables) to `target` as JavaScript functions. An exception thrown by an
// implementation becomes a JavaScript exception "<module>.<name>: <message>", which traps the
// Wasm guest.
void install_host_functions(v8::Local<v8::Context> context, v8::Local<v8::Object> target,
                            std::span<const HostFunction> functions);

// Appends little-endian u32s and length-prefixed bytes: the ABI's result encodings.
class Encoder {
 public:
  Encoder& u32(uint32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);
    out_.append(b, 4);
    return *this;
  }
  Encoder& f32(float v) {
    char b[4];
    std::memcpy(b, &v, 4);
    out_.append(b, 4);
    return *this;
  }
  Encoder& bytes(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
    return *this;
  }
  Encoder& raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  std::string& str() { return out_; }

  static std::string string_list(std::span<const std::string> items);

 private:
  std::string out_;
};

// Parses a string list from the guest; throws pie::Error when malformed.
std::vector<std::string> decode_string_list(std::string_view data);

}  // namespace pie::runtime
