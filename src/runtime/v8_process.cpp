#include "runtime/v8_process.h"

#include <libplatform/libplatform.h>
#include <v8.h>

#include <mutex>
#include <string>

#include "common/error.h"
#include "common/log.h"

namespace pie::runtime {

namespace {

std::mutex g_mutex;
bool g_disposed = false;

// Keeps V8 alive until exit, so that a second Runtime in the same process finds it initialised.
std::shared_ptr<V8Process>& process_holder() {
  static std::shared_ptr<V8Process> holder;
  return holder;
}

}  // namespace

std::shared_ptr<V8Process> V8Process::acquire(const V8Options& options) {
  std::lock_guard lock(g_mutex);
  if (g_disposed) throw Error("V8 was already shut down in this process");
  auto& holder = process_holder();
  if (!holder) {
    holder = std::shared_ptr<V8Process>(new V8Process(options));
  } else if (holder->options_.max_wasm_memory_pages != options.max_wasm_memory_pages) {
    PIE_LOG(Warn) << "V8 is already running with a Wasm memory cap of "
                  << holder->options_.max_wasm_memory_pages << " pages; ignoring "
                  << options.max_wasm_memory_pages;
  }
  return holder;
}

V8Process::V8Process(const V8Options& options) : options_(options) {
  // TurboFan only, no tier-up: a module is fully optimised once, at upload, and its serialised
  // code is then complete, so a cached program never compiles again.
  const std::string flags =
      "--wasm-max-mem-pages=" + std::to_string(options.max_wasm_memory_pages) +
      " --no-liftoff --no-wasm-tier-up --no-wasm-lazy-compilation";
  v8::V8::SetFlagsFromString(flags.c_str(), flags.size());
  platform_ = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(platform_.get());
  trap_handler_ = v8::V8::EnableWebAssemblyTrapHandler(true);
  if (!trap_handler_) {
    PIE_LOG(Warn) << "Wasm trap handler unavailable: Wasm memory accesses are bounds-checked";
  }
  v8::V8::Initialize();
  allocator_.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
}

V8Process::~V8Process() {
  v8::V8::Dispose();
  v8::V8::DisposePlatform();
  std::lock_guard lock(g_mutex);
  g_disposed = true;
}

v8::Isolate* V8Process::new_isolate() {
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator_.get();
  params.constraints.ConfigureDefaultsFromHeapSize(0,
                                                   size_t{options_.max_wasm_memory_pages} * 65536);
  return v8::Isolate::New(params);
}

void V8Process::pump(v8::Isolate* isolate) {
  while (v8::platform::PumpMessageLoop(platform_.get(), isolate)) {
  }
}

}  // namespace pie::runtime
