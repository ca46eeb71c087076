#include "runtime/guest.h"

#include "common/log.h"
#include "runtime/v8_util.h"

namespace pie::runtime {

namespace {
constexpr uint32_t kGuestSlot = 0;
}

Guest& current_guest(v8::Isolate* isolate) {
  return *static_cast<Guest*>(isolate->GetData(kGuestSlot));
}

void set_current_guest(v8::Isolate* isolate, Guest* guest) {
  isolate->SetData(kGuestSlot, guest);
}

std::span<uint8_t> Guest::bytes(uint32_t ptr, uint64_t len) {
  if (!memory) throw Error("the program has no linear memory");
  if (memory_may_move) {
    // Without guard regions a grown memory may have moved: take the current buffer.
    v8::Isolate* isolate = v8::Isolate::GetCurrent();
    memory = memory_object.Get(isolate)->Buffer()->GetBackingStore();
  }
  const uint64_t size = memory->ByteLength();
  if (ptr > size || len > size - ptr) {
    throw Error("buffer [" + std::to_string(ptr) + ", " + std::to_string(ptr + len) +
                ") is outside the program's memory of " + std::to_string(size) + " bytes");
  }
  return {static_cast<uint8_t*>(memory->Data()) + ptr, static_cast<size_t>(len)};
}

uint32_t Guest::result(uint32_t out, uint32_t cap, std::string_view data) {
  auto buffer = bytes(out, cap);
  if (data.size() > UINT32_MAX - 1) throw Error("result too large");
  if (data.size() <= cap) {
    if (!data.empty()) std::memcpy(buffer.data(), data.data(), data.size());
  } else {
    instance->pending_result().assign(data);
  }
  return static_cast<uint32_t>(data.size());
}

void Guest::write_stdout(std::string_view data) {
  out.write(data, [&](std::string line) { api->send(*instance, std::move(line)); });
}

void Guest::write_stderr(std::string_view data) {
  err.write(data, [&](const std::string& line) {
    PIE_LOG(Info) << "[" << instance->id().substr(0, 8) << "] " << line;
  });
}

void Guest::flush_output() {
  out.flush([&](std::string line) { api->send(*instance, std::move(line)); });
  err.flush([&](const std::string& line) {
    PIE_LOG(Info) << "[" << instance->id().substr(0, 8) << "] " << line;
  });
}

int64_t HostCall::i64(int i) const {
  v8::Local<v8::Value> v = info_[i];
  if (v->IsBigInt()) return v.As<v8::BigInt>()->Int64Value();
  return static_cast<int64_t>(v.As<v8::Number>()->Value());
}

void HostCall::ret_u64(uint64_t v) const {
  info_.GetReturnValue().Set(v8::BigInt::NewFromUnsigned(info_.GetIsolate(), v));
}

namespace {

void dispatch(const v8::FunctionCallbackInfo<v8::Value>& info) {
  auto* function = static_cast<const HostFunction*>(info.Data().As<v8::External>()->Value());
  v8::Isolate* isolate = info.GetIsolate();
  std::string failure;
  try {
    HostCall call(info);
    function->impl(current_guest(isolate), call);
    return;
  } catch (const GuestExit&) {
    failure = "exit";
  } catch (const std::exception& e) {
    failure = std::string(function->module) + "." + function->name + ": " + e.what();
  }
  // Thrown outside the catch blocks: V8 must not see a live C++ exception.
  isolate->ThrowException(v8::Exception::Error(v8_str(isolate, failure)));
}

}  // namespace

void install_host_functions(v8::Local<v8::Context> context, v8::Local<v8::Object> target,
                            std::span<const HostFunction> functions) {
  v8::Isolate* isolate = context->GetIsolate();
  for (const HostFunction& f : functions) {
    // The tables are static, so V8 may keep pointers into them.
    v8::Local<v8::Function> fn =
        v8::Function::New(context, dispatch,
                          v8::External::New(isolate, const_cast<HostFunction*>(&f)), 0,
                          v8::ConstructorBehavior::kThrow)
            .ToLocalChecked();
    target->Set(context, v8_str(isolate, f.name), fn).Check();
  }
}

std::string Encoder::string_list(std::span<const std::string> items) {
  Encoder e;
  e.u32(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) e.bytes(s);
  return std::move(e.str());
}

std::vector<std::string> decode_string_list(std::string_view data) {
  auto take_u32 = [&](size_t& pos) {
    if (data.size() - pos < 4) throw Error("malformed string list");
    uint32_t v;
    std::memcpy(&v, data.data() + pos, 4);
    pos += 4;
    return v;
  };
  size_t pos = 0;
  const uint32_t count = take_u32(pos);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t len = take_u32(pos);
    if (data.size() - pos < len) throw Error("malformed string list");
    out.emplace_back(data.substr(pos, len));
    pos += len;
  }
  return out;
}

}  // namespace pie::runtime
