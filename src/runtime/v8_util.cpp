#include "runtime/v8_util.h"

#include "common/error.h"

namespace pie::runtime {

v8::Local<v8::String> v8_str(v8::Isolate* isolate, std::string_view text) {
  v8::Local<v8::String> result;
  if (!v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                               static_cast<int>(text.size()))
           .ToLocal(&result)) {
    throw Error("string too long for V8");
  }
  return result;
}

std::string to_utf8(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value text(isolate, value);
  return *text == nullptr ? std::string("<unprintable value>") : std::string(*text, text.length());
}

std::string describe_exception(v8::Isolate* isolate, const v8::TryCatch& try_catch) {
  if (try_catch.HasTerminated()) return "execution terminated";
  std::string text = to_utf8(isolate, try_catch.Exception());
  v8::Local<v8::Message> message = try_catch.Message();
  // Script locations help in JavaScript; Wasm frames have no useful line.
  if (!message.IsEmpty() && !message->GetScriptOrigin().Options().IsWasm()) {
    v8::Local<v8::Value> resource = message->GetScriptResourceName();
    const v8::Maybe<int> line = message->GetLineNumber(isolate->GetCurrentContext());
    if (!resource.IsEmpty() && resource->IsString() && line.IsJust() && line.FromJust() > 0) {
      text += " (at " + to_utf8(isolate, resource) + ":" + std::to_string(line.FromJust()) + ")";
    }
  }
  return text;
}

v8::Local<v8::Value> get_property(v8::Local<v8::Context> context, v8::Local<v8::Object> object,
                                  std::string_view name) {
  v8::Local<v8::Value> value;
  if (!object->Get(context, v8_str(context->GetIsolate(), name)).ToLocal(&value)) {
    throw Error("cannot read property " + std::string(name));
  }
  return value;
}

}  // namespace pie::runtime
