#include "runtime/isolate_host.h"

#include "common/log.h"
#include "runtime/guest.h"
#include "runtime/js_host.h"
#include "runtime/v8_util.h"
#include "runtime/wasi.h"
#include "runtime/wasm_abi.h"

namespace pie::runtime {

namespace {

// A guest whose memory grew past this is collected right after it ends, rather than whenever V8
// next feels memory pressure.
constexpr size_t kCollectAfterBytes = size_t{32} << 20;
// Extra heap granted to a JavaScript guest that hit the limit, so it can unwind.
constexpr size_t kHeapGrace = size_t{64} << 20;

}  // namespace

IsolateHost::IsolateHost(std::shared_ptr<V8Process> v8, HostApi& api)
    : v8_(std::move(v8)), api_(api), isolate_(v8_->new_isolate()) {
  isolate_->Enter();
  // JavaScript guests' promises run only when their event loop says so (js_host.cpp).
  isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate_->AddNearHeapLimitCallback(near_heap_limit, this);
  v8::HandleScope handles(isolate_);
  v8::Local<v8::Context> ctx = v8::Context::New(isolate_);
  v8::Context::Scope context_scope(ctx);
  v8::Local<v8::Object> imports = v8::Object::New(isolate_);
  v8::Local<v8::Object> pie = v8::Object::New(isolate_);
  v8::Local<v8::Object> wasi = v8::Object::New(isolate_);
  install_host_functions(ctx, pie, pie_functions());
  install_host_functions(ctx, wasi, wasi_functions());
  imports->Set(ctx, v8_str(isolate_, kPieModule), pie).Check();
  imports->Set(ctx, v8_str(isolate_, kWasiModule), wasi).Check();
  auto webassembly = get_property(ctx, ctx->Global(), "WebAssembly").As<v8::Object>();
  wasm_instance_ctor_.Reset(isolate_,
                            get_property(ctx, webassembly, "Instance").As<v8::Function>());
  wasm_imports_.Reset(isolate_, imports);
  wasm_context_.Reset(isolate_, ctx);
}

IsolateHost::~IsolateHost() {
  wasm_instance_ctor_.Reset();
  wasm_imports_.Reset();
  wasm_context_.Reset();
  isolate_->Exit();
  isolate_->Dispose();
}

size_t IsolateHost::near_heap_limit(void* data, size_t current, size_t) {
  auto* self = static_cast<IsolateHost*>(data);
  self->healthy_ = false;
  if (self->running_ != nullptr) {
    self->running_->request_termination(server::TerminationCode::Exception,
                                        "the program ran out of JavaScript heap memory");
  }
  return current + kHeapGrace;
}

Termination IsolateHost::run(Instance& instance) {
  Guest guest;
  guest.instance = &instance;
  guest.api = &api_;
  set_current_guest(isolate_, &guest);
  running_ = &instance;
  Termination outcome;
  try {
    outcome = instance.program().kind == ProgramKind::Wasm ? run_wasm(instance, guest)
                                                           : run_javascript(instance, guest);
  } catch (const std::exception& e) {
    outcome = {server::TerminationCode::SystemError, e.what()};
  }
  guest.flush_output();
  instance.handles().clear();
  running_ = nullptr;
  set_current_guest(isolate_, nullptr);
  const size_t memory_size = guest.memory ? guest.memory->ByteLength() : 0;
  guest.memory.reset();
  guest.memory_object.Reset();
  if (memory_size > kCollectAfterBytes) isolate_->LowMemoryNotification();
  return outcome;
}

Termination IsolateHost::run_wasm(Instance& instance, Guest& guest) {
  v8::HandleScope handles(isolate_);
  v8::Local<v8::Context> ctx = wasm_context_.Get(isolate_);
  v8::Context::Scope context_scope(ctx);
  v8::TryCatch try_catch(isolate_);
  auto failed = [&]() -> Termination {
    if (guest.exit) return *guest.exit;
    return {server::TerminationCode::Exception, describe_exception(isolate_, try_catch)};
  };

  v8::Local<v8::WasmModuleObject> module;
  if (!v8::WasmModuleObject::FromCompiledModule(isolate_, *instance.program().wasm)
           .ToLocal(&module)) {
    return failed();
  }
  v8::Local<v8::Value> args[] = {module, wasm_imports_.Get(isolate_)};
  v8::Local<v8::Object> wasm_instance;
  if (!wasm_instance_ctor_.Get(isolate_)->NewInstance(ctx, 2, args).ToLocal(&wasm_instance)) {
    return failed();
  }
  auto exports = get_property(ctx, wasm_instance, "exports").As<v8::Object>();
  auto memory = get_property(ctx, exports, "memory").As<v8::WasmMemoryObject>();
  guest.memory = memory->Buffer()->GetBackingStore();
  guest.memory_object.Reset(isolate_, memory);
  guest.memory_may_move = !v8_->trap_handler();
  auto start = get_property(ctx, exports, "_start").As<v8::Function>();
  if (start->Call(ctx, exports, 0, nullptr).IsEmpty()) return failed();
  return {server::TerminationCode::Normal, instance.return_value()};
}

Termination IsolateHost::run_javascript(Instance& instance, Guest& guest) {
  return run_js_program(isolate_, instance, guest);
}

}  // namespace pie::runtime
