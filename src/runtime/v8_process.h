// Process-wide V8: platform, flags, the Wasm trap handler. V8 can be initialised once per process
// and never again after it is disposed, so every user holds a shared reference and the last one to
// let go disposes it (after all isolates, which hold references too, are gone).
#pragma once

#include <v8-array-buffer.h>

#include <cstdint>
#include <memory>

namespace v8 {
class Platform;
class Isolate;
}  // namespace v8

namespace pie::runtime {

struct V8Options {
  // Cap on the memory of one instance, in 64 KiB pages: the linear memory of a Wasm instance
  // (memory.grow past it fails, which the C++ SDK turns into a trap) and the heap of the isolate
  // running a JavaScript instance.
  uint32_t max_wasm_memory_pages = 16384;  // 1 GiB
};

class V8Process {
 public:
  // The process's V8, initialised with `options` on first use. Later calls return the same one;
  // their options must agree with the first (a differing memory cap is logged and ignored).
  // Throws pie::Error once V8 has been disposed.
  static std::shared_ptr<V8Process> acquire(const V8Options& options = {});

  ~V8Process();
  V8Process(const V8Process&) = delete;
  V8Process& operator=(const V8Process&) = delete;

  v8::Platform& platform() { return *platform_; }
  const V8Options& options() const { return options_; }
  // Whether out-of-bounds Wasm accesses are caught by signal handlers (guard regions): then a
  // Wasm memory grows in place and its base address never changes.
  bool trap_handler() const { return trap_handler_; }

  // A new isolate with this process's settings; dispose it with isolate->Dispose() while this
  // object is alive.
  v8::Isolate* new_isolate();

  // Runs the platform's pending foreground tasks of `isolate` (async compilation steps, ...).
  void pump(v8::Isolate* isolate);

 private:
  explicit V8Process(const V8Options& options);

  V8Options options_;
  std::unique_ptr<v8::Platform> platform_;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator_;
  bool trap_handler_ = false;
};

}  // namespace pie::runtime
