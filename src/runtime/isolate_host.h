// One V8 isolate and what it needs to run instances, owned and used by one worker thread: the
// context with the Wasm imports (`pie` and `wasi_snapshot_preview1`) built once, so launching a
// Wasm instance is only "re-create the module from compiled code, instantiate, call _start".
#pragma once

#include <v8.h>

#include <memory>

#include "runtime/host_api.h"
#include "runtime/instance.h"
#include "runtime/v8_process.h"

namespace pie::runtime {

class IsolateHost {
 public:
  IsolateHost(std::shared_ptr<V8Process> v8, HostApi& api);
  ~IsolateHost();
  IsolateHost(const IsolateHost&) = delete;
  IsolateHost& operator=(const IsolateHost&) = delete;

  v8::Isolate* isolate() const { return isolate_; }

  // Runs the instance's program to its end: Normal with the return value, or Exception with the
  // reason. (A termination requested from outside takes precedence; see Instance::finish.)
  Termination run(Instance& instance);

  // False once the isolate ran out of heap: it must not run anything else.
  bool healthy() const { return healthy_; }

 private:
  Termination run_wasm(Instance& instance, struct Guest& guest);
  Termination run_javascript(Instance& instance, struct Guest& guest);
  static size_t near_heap_limit(void* data, size_t current, size_t initial);

  std::shared_ptr<V8Process> v8_;
  HostApi& api_;
  v8::Isolate* isolate_;
  v8::Global<v8::Context> wasm_context_;
  v8::Global<v8::Object> wasm_imports_;
  v8::Global<v8::Function> wasm_instance_ctor_;
  Instance* running_ = nullptr;
  bool healthy_ = true;
};

}  // namespace pie::runtime
