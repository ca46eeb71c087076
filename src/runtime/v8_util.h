// Small helpers over the V8 API shared by the runtime's files.
#pragma once

#include <v8.h>

#include <string>
#include <string_view>

namespace pie::runtime {

// A V8 string from UTF-8 text (throws pie::Error when V8 cannot allocate it).
v8::Local<v8::String> v8_str(v8::Isolate* isolate, std::string_view text);

// The UTF-8 text of any value, as JavaScript's String(value) would give.
std::string to_utf8(v8::Isolate* isolate, v8::Local<v8::Value> value);

// A readable description of the exception caught by `try_catch`: "Error: message", plus
// " (at <resource>:<line>)" when V8 knows where it was thrown from script code.
std::string describe_exception(v8::Isolate* isolate, const v8::TryCatch& try_catch);

// Property `name` of `object`; throws pie::Error when the lookup itself throws.
v8::Local<v8::Value> get_property(v8::Local<v8::Context> context, v8::Local<v8::Object> object,
                                  std::string_view name);

}  // namespace pie::runtime
