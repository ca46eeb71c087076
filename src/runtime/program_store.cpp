#include "runtime/program_store.h"

#include <v8.h>

#include <fstream>
#include <iterator>
#include <system_error>

#include "common/blake3.h"
#include "common/error.h"
#include "common/log.h"
#include "runtime/v8_util.h"

namespace pie::runtime {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kWasmMagic("\0asm", 4);
constexpr std::string_view kCodeSuffix = ".code";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Receives the compiled module when streaming compilation had to compile (the serialised code
// was rejected), so that such a fallback is counted and the cache rewritten.
class CompiledNotice : public v8::WasmStreaming::Client {
 public:
  void OnModuleCompiled(v8::CompiledWasmModule) override { compiled = true; }
  bool compiled = false;
};

}  // namespace

// The isolate that compiles and checks programs. Used by one thread at a time (under the store's
// compile mutex), from whichever thread calls the store.
struct ProgramStore::Compiler {
  explicit Compiler(V8Process& v8) : v8(v8), isolate(v8.new_isolate()) {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handles(isolate);
    isolate->SetData(0, this);
    isolate->SetWasmStreamingCallback([](const v8::FunctionCallbackInfo<v8::Value>& info) {
      auto* self = static_cast<Compiler*>(info.GetIsolate()->GetData(0));
      self->streaming = v8::WasmStreaming::Unpack(info.GetIsolate(), info.Data());
    });
    context.Reset(isolate, v8::Context::New(isolate));
  }
  ~Compiler() {
    {
      v8::Locker locker(isolate);
      context.Reset();
      streaming.reset();
    }
    isolate->Dispose();
  }

  v8::Local<v8::Object> webassembly(v8::Local<v8::Context> ctx) {
    return get_property(ctx, ctx->Global(), "WebAssembly").As<v8::Object>();
  }

  // Compiles wire bytes, throwing pie::Error with V8's reason.
  v8::Local<v8::WasmModuleObject> compile(std::string_view bytes) {
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::WasmModuleObject> module;
    const v8::MemorySpan<const uint8_t> wire(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             bytes.size());
    if (!v8::WasmModuleObject::Compile(isolate, wire).ToLocal(&module)) {
      throw Error(describe_exception(isolate, try_catch));
    }
    return module;
  }

  // Rebuilds a module from serialised code through streaming compilation, the one public V8 API
  // that accepts it. Sets `compiled` when V8 rejected the code and compiled the wire bytes.
  v8::Local<v8::WasmModuleObject> deserialize(v8::Local<v8::Context> ctx, std::string_view bytes,
                                              const std::string& code, bool& compiled) {
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Object> wasm = webassembly(ctx);
    v8::Local<v8::Function> compile_streaming =
        get_property(ctx, wasm, "compileStreaming").As<v8::Function>();
    v8::Local<v8::Value> arg = v8::Undefined(isolate);
    v8::Local<v8::Value> result;
    if (!compile_streaming->Call(ctx, wasm, 1, &arg).ToLocal(&result) || !streaming) {
      throw Error("streaming compilation unavailable: " + describe_exception(isolate, try_catch));
    }
    auto promise = result.As<v8::Promise>();
    auto notice = std::make_shared<CompiledNotice>();
    streaming->SetClient(notice);
    const bool accepted = streaming->SetCompiledModuleBytes(
        reinterpret_cast<const uint8_t*>(code.data()), code.size());
    streaming->OnBytesReceived(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    streaming->Finish();
    while (promise->State() == v8::Promise::kPending) {
      v8.pump(isolate);
      isolate->PerformMicrotaskCheckpoint();
    }
    streaming.reset();
    if (promise->State() == v8::Promise::kRejected) {
      throw Error(to_utf8(isolate, promise->Result()));
    }
    compiled = !accepted || notice->compiled;
    return promise->Result().As<v8::WasmModuleObject>();
  }

  // Checks imports and exports against `rules` and asks the module for its ABI version.
  void check_link(v8::Local<v8::Context> ctx, v8::Local<v8::WasmModuleObject> module,
                  const WasmLinkRules& rules) {
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Object> wasm = webassembly(ctx);
    auto module_ctor = get_property(ctx, wasm, "Module").As<v8::Object>();
    auto list = [&](const char* what) {
      auto fn = get_property(ctx, module_ctor, what).As<v8::Function>();
      v8::Local<v8::Value> arg = module;
      v8::Local<v8::Value> out;
      if (!fn->Call(ctx, module_ctor, 1, &arg).ToLocal(&out)) {
        throw Error(describe_exception(isolate, try_catch));
      }
      return out.As<v8::Array>();
    };
    auto field = [&](v8::Local<v8::Value> entry, const char* name) {
      return to_utf8(isolate, get_property(ctx, entry.As<v8::Object>(), name));
    };

    // Imports are satisfied with functions that throw: only pie_abi_version is called here.
    v8::Local<v8::Object> stubs = v8::Object::New(isolate);
    v8::Local<v8::Function> stub =
        v8::Function::New(ctx, [](const v8::FunctionCallbackInfo<v8::Value>& info) {
          info.GetIsolate()->ThrowException(
              v8_str(info.GetIsolate(), "host functions are unavailable while checking a program"));
        }).ToLocalChecked();
    v8::Local<v8::Array> imports = list("imports");
    for (uint32_t i = 0; i < imports->Length(); ++i) {
      v8::Local<v8::Value> entry = imports->Get(ctx, i).ToLocalChecked();
      const std::string from = field(entry, "module");
      const std::string name = field(entry, "name");
      const std::string kind = field(entry, "kind");
      auto provided = rules.imports.find(from);
      if (provided == rules.imports.end() || !provided->second.contains(name) ||
          kind != "function") {
        throw Error("the program imports " + kind + " " + from + "." + name +
                    ", which this engine does not provide (pie ABI version " +
                    std::to_string(rules.abi_version) + ")");
      }
      v8::Local<v8::Value> ns;
      if (!stubs->Get(ctx, v8_str(isolate, from)).ToLocal(&ns) || !ns->IsObject()) {
        ns = v8::Object::New(isolate);
        stubs->Set(ctx, v8_str(isolate, from), ns).Check();
      }
      ns.As<v8::Object>()->Set(ctx, v8_str(isolate, name), stub).Check();
    }

    bool has_start = false;
    bool has_memory = false;
    bool has_version = false;
    v8::Local<v8::Array> exports = list("exports");
    for (uint32_t i = 0; i < exports->Length(); ++i) {
      v8::Local<v8::Value> entry = exports->Get(ctx, i).ToLocalChecked();
      const std::string name = field(entry, "name");
      const std::string kind = field(entry, "kind");
      has_start |= name == "_start" && kind == "function";
      has_memory |= name == "memory" && kind == "memory";
      has_version |= name == "pie_abi_version" && kind == "function";
    }
    if (!has_version) {
      throw Error("the program does not export pie_abi_version: it was not built with the pie SDK");
    }
    if (!has_start || !has_memory) {
      throw Error("the program must export _start and memory (a WASI command module)");
    }

    auto instance_ctor = get_property(ctx, wasm, "Instance").As<v8::Function>();
    v8::Local<v8::Value> args[] = {module, stubs};
    v8::Local<v8::Object> instance;
    if (!instance_ctor->NewInstance(ctx, 2, args).ToLocal(&instance)) {
      throw Error(describe_exception(isolate, try_catch));
    }
    auto exported = get_property(ctx, instance, "exports").As<v8::Object>();
    auto version_fn = get_property(ctx, exported, "pie_abi_version").As<v8::Function>();
    v8::Local<v8::Value> version;
    if (!version_fn->Call(ctx, exported, 0, nullptr).ToLocal(&version)) {
      throw Error("pie_abi_version failed: " + describe_exception(isolate, try_catch));
    }
    const uint32_t got = version->Uint32Value(ctx).FromMaybe(0);
    if (got != rules.abi_version) {
      throw Error("the program was built for pie ABI version " + std::to_string(got) +
                  "; this engine speaks version " + std::to_string(rules.abi_version));
    }
  }

  // Parses a JavaScript module, throwing pie::Error with the syntax error.
  void check_javascript(const std::string& hash, const std::string& source) {
    v8::TryCatch try_catch(isolate);
    v8::ScriptOrigin origin(isolate, v8_str(isolate, hash + ".js"), 0, 0, false, -1, {}, false,
                            false, true);
    v8::ScriptCompiler::Source src(v8_str(isolate, source), origin);
    v8::Local<v8::Module> module;
    if (!v8::ScriptCompiler::CompileModule(isolate, &src).ToLocal(&module)) {
      throw Error(describe_exception(isolate, try_catch));
    }
  }

  V8Process& v8;
  v8::Isolate* isolate;
  v8::Global<v8::Context> context;
  std::shared_ptr<v8::WasmStreaming> streaming;
};

ProgramStore::ProgramStore(std::shared_ptr<V8Process> v8, WasmLinkRules rules, fs::path cache_dir)
    : v8_(std::move(v8)), cache_dir_(std::move(cache_dir)), rules_(std::move(rules)) {
  compiler_ = std::make_unique<Compiler>(*v8_);
  if (cache_dir_.empty()) return;
  std::error_code ec;
  fs::create_directories(cache_dir_ / "programs", ec);
  if (ec) throw Error("cannot create " + (cache_dir_ / "programs").string() + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(cache_dir_ / "programs")) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && valid_hash(name)) on_disk_.insert(name);
  }
  PIE_LOG(Info) << "program cache " << (cache_dir_ / "programs").string() << ": " << on_disk_.size()
                << " programs";
}

ProgramStore::~ProgramStore() = default;

ProgramKind ProgramStore::detect_kind(std::string_view bytes) {
  return bytes.starts_with(kWasmMagic) ? ProgramKind::Wasm : ProgramKind::JavaScript;
}

bool ProgramStore::valid_hash(std::string_view hash) {
  if (hash.size() != 64) return false;
  for (char c : hash) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool ProgramStore::contains(const std::string& hash) {
  std::lock_guard lock(mutex_);
  return programs_.contains(hash) || on_disk_.contains(hash);
}

std::shared_ptr<const Program> ProgramStore::add(const std::string& hash, std::string bytes) {
  if (!valid_hash(hash)) throw Error("Invalid program hash: " + hash);
  {
    std::lock_guard lock(mutex_);
    if (auto it = programs_.find(hash); it != programs_.end()) return it->second;
  }
  std::shared_ptr<Program> program;
  try {
    program = build(hash, std::move(bytes), nullptr);
  } catch (const Error& e) {
    throw Error(std::string("Failed to compile: ") + e.what());
  }
  if (!cache_dir_.empty()) write_file(program_path(hash), program->bytes);
  std::lock_guard lock(mutex_);
  on_disk_.insert(hash);
  return programs_.emplace(hash, std::move(program)).first->second;
}

std::shared_ptr<const Program> ProgramStore::find(const std::string& hash) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = programs_.find(hash); it != programs_.end()) return it->second;
    if (!on_disk_.contains(hash)) return nullptr;
  }
  std::string bytes = read_file(program_path(hash));
  if (blake3_hex(bytes) != hash) {
    PIE_LOG(Warn) << "cached program " << hash << " is corrupt; ignoring it";
    std::lock_guard lock(mutex_);
    on_disk_.erase(hash);
    return nullptr;
  }
  std::optional<std::string> code;
  if (std::error_code ec; fs::exists(code_path(hash), ec)) code = read_file(code_path(hash));
  std::shared_ptr<Program> program = build(hash, std::move(bytes), code ? &*code : nullptr);
  std::lock_guard lock(mutex_);
  return programs_.emplace(hash, std::move(program)).first->second;
}

std::shared_ptr<Program> ProgramStore::build(const std::string& hash, std::string bytes,
                                             const std::string* cached_code) {
  auto program = std::make_shared<Program>();
  program->hash = hash;
  program->kind = detect_kind(bytes);
  std::lock_guard lock(compile_mutex_);
  v8::Isolate* isolate = compiler_->isolate;
  v8::Locker locker(isolate);
  v8::Isolate::Scope isolate_scope(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> ctx = compiler_->context.Get(isolate);
  v8::Context::Scope context_scope(ctx);

  if (program->kind == ProgramKind::JavaScript) {
    compiler_->check_javascript(hash, bytes);
    program->bytes = std::move(bytes);
    return program;
  }

  v8::Local<v8::WasmModuleObject> module;
  bool compiled = true;
  if (cached_code != nullptr) {
    module = compiler_->deserialize(ctx, bytes, *cached_code, compiled);
  } else {
    module = compiler_->compile(bytes);
  }
  if (compiled) ++compilations_;
  compiler_->check_link(ctx, module, rules_);
  program->wasm.emplace(module->GetCompiledModule());
  if (compiled && !cache_dir_.empty()) {
    const v8::OwnedBuffer code = program->wasm->Serialize();
    write_file(code_path(hash),
               std::string_view(reinterpret_cast<const char*>(code.buffer.get()), code.size));
  }
  program->bytes = std::move(bytes);
  return program;
}

std::vector<std::string> ProgramStore::in_memory_hashes() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> hashes;
  for (const auto& [hash, program] : programs_) hashes.push_back(hash);
  return hashes;
}

fs::path ProgramStore::program_path(const std::string& hash) const {
  return cache_dir_ / "programs" / hash;
}

fs::path ProgramStore::code_path(const std::string& hash) const {
  return cache_dir_ / "programs" / (hash + std::string(kCodeSuffix));
}

void ProgramStore::write_file(const fs::path& path, std::string_view data) {
  // Write then rename, so a crash never leaves a truncated program behind.
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) throw Error("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error("cannot write " + path.string() + ": " + ec.message());
}

}  // namespace pie::runtime
