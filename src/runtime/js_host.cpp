#include "runtime/js_host.h"

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "runtime/v8_util.h"

namespace pie::runtime {

// The event loop's state for one run.
struct JsRun {
  // Promises waiting for an engine handle to become ready, in registration order.
  std::vector<std::pair<uint32_t, v8::Global<v8::Promise::Resolver>>> watchers;
  v8::Global<v8::Module> pie_module;
  v8::Global<v8::Module> native_module;
};

namespace {

using Info = v8::FunctionCallbackInfo<v8::Value>;

// ---- Argument conversion ------------------------------------------------------------------------

class Args {
 public:
  explicit Args(const Info& info) : info_(info), isolate_(info.GetIsolate()) {}

  v8::Local<v8::Value> at(int i) const { return info_[i]; }
  v8::Local<v8::Context> context() const { return isolate_->GetCurrentContext(); }
  v8::Isolate* isolate() const { return isolate_; }

  double number(int i) const {
    if (!info_[i]->IsNumber())
      throw Error("argument " + std::to_string(i + 1) + " must be a number");
    return info_[i].As<v8::Number>()->Value();
  }
  uint32_t u32(int i) const { return to_u32(info_[i], i); }
  float f32(int i) const { return static_cast<float>(number(i)); }
  int64_t i64(int i) const {
    if (info_[i]->IsBigInt()) return info_[i].As<v8::BigInt>()->Int64Value();
    const double d = number(i);
    if (d != std::floor(d))
      throw Error("argument " + std::to_string(i + 1) + " must be an integer");
    return static_cast<int64_t>(d);
  }
  std::string str(int i) const {
    if (!info_[i]->IsString())
      throw Error("argument " + std::to_string(i + 1) + " must be a string");
    return to_utf8(isolate_, info_[i]);
  }
  // A Uint8Array, ArrayBuffer or string (as UTF-8).
  std::string bytes(int i) const {
    v8::Local<v8::Value> v = info_[i];
    if (v->IsString()) return to_utf8(isolate_, v);
    if (v->IsArrayBufferView()) {
      auto view = v.As<v8::ArrayBufferView>();
      std::string out(view->ByteLength(), '\0');
      view->CopyContents(out.data(), out.size());
      return out;
    }
    if (v->IsArrayBuffer()) {
      auto buffer = v.As<v8::ArrayBuffer>();
      return std::string(static_cast<const char*>(buffer->Data()), buffer->ByteLength());
    }
    throw Error("argument " + std::to_string(i + 1) + " must be a Uint8Array or a string");
  }
  // An array of numbers or a Uint32Array.
  std::vector<uint32_t> u32s(int i) const { return to_u32s(info_[i], i); }
  std::vector<std::string> strs(int i) const {
    auto array = array_at(info_[i], i);
    std::vector<std::string> out;
    for (uint32_t k = 0; k < array->Length(); ++k) {
      out.push_back(to_utf8(isolate_, array->Get(context(), k).ToLocalChecked()));
    }
    return out;
  }
  std::vector<std::vector<uint32_t>> rows(int i) const {
    auto array = array_at(info_[i], i);
    std::vector<std::vector<uint32_t>> out;
    for (uint32_t k = 0; k < array->Length(); ++k) {
      out.push_back(to_u32s(array->Get(context(), k).ToLocalChecked(), i));
    }
    return out;
  }

 private:
  uint32_t to_u32(v8::Local<v8::Value> v, int i) const {
    const double d = v->IsNumber() ? v.As<v8::Number>()->Value() : -1;
    if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
      throw Error("argument " + std::to_string(i + 1) + " must be an integer from 0 to 2^32-1");
    }
    return static_cast<uint32_t>(d);
  }
  v8::Local<v8::Array> array_at(v8::Local<v8::Value> v, int i) const {
    if (!v->IsArray()) throw Error("argument " + std::to_string(i + 1) + " must be an array");
    return v.As<v8::Array>();
  }
  std::vector<uint32_t> to_u32s(v8::Local<v8::Value> v, int i) const {
    if (v->IsUint32Array()) {
      auto typed = v.As<v8::Uint32Array>();
      std::vector<uint32_t> out(typed->Length());
      typed->CopyContents(out.data(), out.size() * 4);
      return out;
    }
    auto array = array_at(v, i);
    std::vector<uint32_t> out(array->Length());
    for (uint32_t k = 0; k < out.size(); ++k) {
      out[k] = to_u32(array->Get(context(), k).ToLocalChecked(), i);
    }
    return out;
  }

  const Info& info_;
  v8::Isolate* isolate_;
};

// ---- Result conversion --------------------------------------------------------------------------

v8::Local<v8::Value> js(v8::Isolate* iso, const std::string& s) {
  return v8_str(iso, s);
}

v8::Local<v8::Value> js(v8::Isolate* iso, const std::vector<uint32_t>& ids) {
  v8::Local<v8::Array> a = v8::Array::New(iso, static_cast<int>(ids.size()));
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  for (uint32_t i = 0; i < ids.size(); ++i)
    a->Set(ctx, i, v8::Integer::NewFromUnsigned(iso, ids[i])).Check();
  return a;
}

v8::Local<v8::Value> js(v8::Isolate* iso, const std::vector<std::string>& items) {
  v8::Local<v8::Array> a = v8::Array::New(iso, static_cast<int>(items.size()));
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  for (uint32_t i = 0; i < items.size(); ++i) a->Set(ctx, i, v8_str(iso, items[i])).Check();
  return a;
}

v8::Local<v8::Value> bytes(v8::Isolate* iso, std::string_view data) {
  auto buffer = v8::ArrayBuffer::New(iso, data.size());
  if (!data.empty()) std::memcpy(buffer->Data(), data.data(), data.size());
  return v8::Uint8Array::New(buffer, 0, data.size());
}

v8::Local<v8::Value> nullable(v8::Isolate* iso, const std::optional<std::string>& s) {
  return s ? v8::Local<v8::Value>(v8_str(iso, *s)) : v8::Local<v8::Value>(v8::Null(iso));
}

void set(v8::Local<v8::Object> o, const char* key, v8::Local<v8::Value> value) {
  v8::Isolate* iso = o->GetIsolate();
  o->Set(iso->GetCurrentContext(), v8_str(iso, key), value).Check();
}

// ---- Natives ------------------------------------------------------------------------------------

struct Native {
  const char* name;
  void (*impl)(Guest&, const Args&, v8::ReturnValue<v8::Value>);
};

#define NATIVE(name) void name(Guest& g, const Args& a, v8::ReturnValue<v8::Value> r)

// Silences "unused parameter" for natives that use only some of them.
#define USE(...) (void)(__VA_ARGS__)

NATIVE(version) {
  USE(a);
  r.Set(js(a.isolate(), g.api->version()));
}
NATIVE(instanceId) {
  r.Set(js(a.isolate(), g.instance->id()));
}
NATIVE(arguments) {
  r.Set(js(a.isolate(), g.instance->arguments()));
}
NATIVE(setReturn) {
  USE(r);
  g.instance->set_return(a.str(0));
}
NATIVE(debugQuery) {
  r.Set(g.api->debug_query(*g.instance, a.str(0)));
}

NATIVE(watch) {
  const uint32_t h = a.u32(0);
  // Checked now, so that a bad handle fails here rather than in the event loop.
  const HandleKind kind = g.instance->handles().kind(h);
  if (kind != HandleKind::Future && kind != HandleKind::Subscription) {
    throw Error("handle " + std::to_string(h) + " cannot be waited on");
  }
  auto resolver = v8::Promise::Resolver::New(a.context()).ToLocalChecked();
  g.js->watchers.emplace_back(h, v8::Global<v8::Promise::Resolver>(a.isolate(), resolver));
  r.Set(resolver->GetPromise());
}

NATIVE(drop) {
  USE(r);
  const uint32_t h = a.u32(0);
  std::erase_if(g.js->watchers, [h](const auto& w) { return w.first == h; });
  g.api->drop(*g.instance, h);
}

NATIVE(futureCheck) {
  USE(r);
  g.api->ready_future(*g.instance, a.u32(0));
}
NATIVE(futureString) {
  r.Set(js(a.isolate(), g.api->future_text(*g.instance, a.u32(0))));
}
NATIVE(futureIds) {
  r.Set(js(a.isolate(), g.api->future_ids(*g.instance, a.u32(0))));
}
NATIVE(futureTokens) {
  r.Set(js(a.isolate(), g.api->future_tokens(*g.instance, a.u32(0))));
}

NATIVE(futureDistributions) {
  v8::Isolate* iso = a.isolate();
  const auto dists = g.api->future_distributions(*g.instance, a.u32(0));
  v8::Local<v8::Array> out = v8::Array::New(iso, static_cast<int>(dists.size()));
  for (uint32_t i = 0; i < dists.size(); ++i) {
    v8::Local<v8::Object> d = v8::Object::New(iso);
    set(d, "ids", js(iso, dists[i].ids));
    v8::Local<v8::Array> probs = v8::Array::New(iso, static_cast<int>(dists[i].probs.size()));
    for (uint32_t k = 0; k < dists[i].probs.size(); ++k) {
      probs->Set(a.context(), k, v8::Number::New(iso, dists[i].probs[k])).Check();
    }
    set(d, "probs", probs);
    out->Set(a.context(), i, d).Check();
  }
  r.Set(out);
}

NATIVE(futureBlob) {
  const auto blob = g.api->future_blob(*g.instance, a.u32(0));
  if (!blob) return r.SetNull();
  std::string data =
      std::string(g.api->blob_read(*g.instance, *blob, 0, g.api->blob_size(*g.instance, *blob)));
  g.api->drop(*g.instance, *blob);
  r.Set(bytes(a.isolate(), data));
}

NATIVE(modelGet) {
  r.Set(g.api->model_get(*g.instance, a.str(0)));
}
NATIVE(models) {
  r.Set(js(a.isolate(), g.api->models()));
}
NATIVE(modelsWithTraits) {
  r.Set(js(a.isolate(), g.api->models_with_traits(a.strs(0))));
}

NATIVE(modelInfo) {
  v8::Isolate* iso = a.isolate();
  const uint32_t h = a.u32(0);
  const engine::ModelInfo& info = g.api->model_info(*g.instance, h);
  v8::Local<v8::Object> o = v8::Object::New(iso);
  set(o, "name", js(iso, info.name));
  set(o, "description", js(iso, info.description));
  set(o, "promptTemplate", js(iso, info.prompt_template));
  set(o, "traits", js(iso, info.traits));
  set(o, "stopTokens", js(iso, info.stop_tokens));
  set(o, "kvPageSize", v8::Integer::NewFromUnsigned(iso, info.kv_page_size));
  set(o, "serviceId", v8::Integer::NewFromUnsigned(iso, g.api->model_service_id(*g.instance, h)));
  r.Set(o);
}

NATIVE(modelRenderChat) {
  const auto prompt =
      g.api->model_render_chat(*g.instance, a.u32(0), a.str(1), a.u32(2) != 0, a.u32(3) != 0);
  if (!prompt) return r.SetNull();
  r.Set(js(a.isolate(), *prompt));
}

NATIVE(modelCreateQueue) {
  r.Set(g.api->model_create_queue(*g.instance, a.u32(0)));
}
NATIVE(modelTokenizer) {
  r.Set(g.api->model_tokenizer(*g.instance, a.u32(0)));
}

NATIVE(queueServiceId) {
  r.Set(g.api->queue_service_id(*g.instance, a.u32(0)));
}
NATIVE(queueSynchronize) {
  r.Set(g.api->queue_synchronize(*g.instance, a.u32(0)));
}
NATIVE(queueSetPriority) {
  USE(r);
  g.api->queue_set_priority(*g.instance, a.u32(0), a.u32(1));
}
NATIVE(queueDebugQuery) {
  r.Set(g.api->queue_debug_query(*g.instance, a.u32(0), a.str(1)));
}

NATIVE(allocate) {
  r.Set(g.api->allocate(*g.instance, a.u32(0), a.u32(1), a.u32(2)));
}
NATIVE(deallocate) {
  USE(r);
  g.api->deallocate(*g.instance, a.u32(0), a.u32(1), a.u32s(2));
}
NATIVE(exportResources) {
  USE(r);
  g.api->export_resources(*g.instance, a.u32(0), a.u32(1), a.u32s(2), a.str(3));
}
NATIVE(importResources) {
  r.Set(js(a.isolate(), g.api->import_resources(*g.instance, a.u32(0), a.u32(1), a.str(2))));
}
NATIVE(exportedResources) {
  v8::Isolate* iso = a.isolate();
  const auto exports = g.api->exported_resources(*g.instance, a.u32(0), a.u32(1));
  v8::Local<v8::Array> out = v8::Array::New(iso, static_cast<int>(exports.size()));
  for (uint32_t i = 0; i < exports.size(); ++i) {
    v8::Local<v8::Value> pair[] = {v8_str(iso, exports[i].first),
                                   v8::Integer::NewFromUnsigned(iso, exports[i].second)};
    out->Set(a.context(), i, v8::Array::New(iso, pair, 2)).Check();
  }
  r.Set(out);
}
NATIVE(releaseExported) {
  USE(r);
  g.api->release_exported(*g.instance, a.u32(0), a.u32(1), a.str(2));
}

NATIVE(embedImage) {
  USE(r);
  g.api->embed_image(*g.instance, a.u32(0), a.u32s(1), a.bytes(2), a.u32(3));
}
NATIVE(initializeAdapter) {
  USE(r);
  g.api->initialize_adapter(*g.instance, a.u32(0), a.u32(1), a.u32(2), a.f32(3), a.u32(4), a.f32(5),
                            a.f32(6));
}
NATIVE(updateAdapter) {
  USE(r);
  std::vector<float> scores;
  std::vector<int64_t> seeds;
  v8::Local<v8::Context> ctx = a.context();
  for (int arg : {2, 3}) {
    if (!a.at(arg)->IsArray())
      throw Error("argument " + std::to_string(arg + 1) + " must be an array");
  }
  auto score_array = a.at(2).As<v8::Array>();
  auto seed_array = a.at(3).As<v8::Array>();
  for (uint32_t i = 0; i < score_array->Length(); ++i) {
    scores.push_back(static_cast<float>(
        score_array->Get(ctx, i).ToLocalChecked()->NumberValue(ctx).FromMaybe(0)));
  }
  for (uint32_t i = 0; i < seed_array->Length(); ++i) {
    v8::Local<v8::Value> v = seed_array->Get(ctx, i).ToLocalChecked();
    seeds.push_back(v->IsBigInt() ? v.As<v8::BigInt>()->Int64Value()
                                  : static_cast<int64_t>(v->NumberValue(ctx).FromMaybe(0)));
  }
  g.api->update_adapter(*g.instance, a.u32(0), a.u32(1), scores, seeds, a.f32(4));
}

NATIVE(fpCreate) {
  r.Set(g.api->fp_create(*g.instance, a.u32(0)));
}
NATIVE(fpInputTokens) {
  USE(r);
  g.api->fp_input_tokens(*g.instance, a.u32(0), a.u32s(1), a.u32s(2));
}
NATIVE(fpInputEmbeddings) {
  USE(r);
  g.api->fp_input_embeddings(*g.instance, a.u32(0), a.u32s(1), a.u32s(2));
}
NATIVE(fpOutputEmbeddings) {
  USE(r);
  g.api->fp_output_embeddings(*g.instance, a.u32(0), a.u32s(1), a.u32s(2));
}
NATIVE(fpKvCache) {
  USE(r);
  g.api->fp_kv_cache(*g.instance, a.u32(0), a.u32s(1), a.u32(2));
}
NATIVE(fpAttentionMask) {
  USE(r);
  g.api->fp_attention_mask(*g.instance, a.u32(0), a.rows(1));
}
NATIVE(fpOutputDistributions) {
  USE(r);
  const uint32_t top_k = a.u32(3);
  g.api->fp_output_distributions(*g.instance, a.u32(0), a.u32s(1), a.f32(2),
                                 top_k == 0 ? std::nullopt : std::optional<uint32_t>(top_k));
}
NATIVE(fpOutputTokens) {
  USE(r);
  const uint32_t kind = a.u32(2);
  if (kind < 1 || kind > 5) throw Error("unknown sampler " + std::to_string(kind));
  SamplerChoice s{static_cast<protocol::SamplerKind>(kind), a.f32(3), a.u32(4), a.f32(5), a.f32(6)};
  g.api->fp_output_tokens(*g.instance, a.u32(0), a.u32s(1), s);
}
NATIVE(fpSetAdapter) {
  USE(r);
  g.api->fp_set_adapter(*g.instance, a.u32(0), a.u32(1));
}
NATIVE(fpSetAdapterSeed) {
  USE(r);
  g.api->fp_set_adapter_seed(*g.instance, a.u32(0), a.i64(1));
}
NATIVE(fpExecute) {
  r.Set(g.api->fp_execute(*g.instance, a.u32(0)));
}

NATIVE(tokenize) {
  r.Set(js(a.isolate(), g.api->tokenize(*g.instance, a.u32(0), a.str(1))));
}
NATIVE(detokenize) {
  r.Set(js(a.isolate(), g.api->detokenize(*g.instance, a.u32(0), a.u32s(1))));
}
NATIVE(vocabulary) {
  v8::Isolate* iso = a.isolate();
  const auto vocab = g.api->vocabulary(*g.instance, a.u32(0));
  v8::Local<v8::Array> out = v8::Array::New(iso, static_cast<int>(vocab.size()));
  for (uint32_t i = 0; i < vocab.size(); ++i) {
    v8::Local<v8::Value> pair[] = {v8::Integer::NewFromUnsigned(iso, vocab[i].first),
                                   bytes(iso, vocab[i].second)};
    out->Set(a.context(), i, v8::Array::New(iso, pair, 2)).Check();
  }
  r.Set(out);
}

NATIVE(send) {
  USE(r);
  g.api->send(*g.instance, a.str(0));
}
NATIVE(receive) {
  USE(a);
  r.Set(g.api->receive(*g.instance));
}
NATIVE(sendBlob) {
  USE(r);
  const uint32_t blob = g.api->blob_create(*g.instance, a.bytes(0));
  g.api->send_blob(*g.instance, blob);
  g.api->drop(*g.instance, blob);
}
NATIVE(receiveBlob) {
  USE(a);
  r.Set(g.api->receive_blob(*g.instance));
}

NATIVE(broadcast) {
  USE(r);
  g.api->broadcast(*g.instance, a.str(0), a.str(1));
}
NATIVE(subscribe) {
  r.Set(g.api->subscribe(*g.instance, a.str(0)));
}
NATIVE(subscriptionTake) {
  r.Set(nullable(a.isolate(), g.api->subscription_take(*g.instance, a.u32(0))));
}
NATIVE(unsubscribe) {
  USE(r);
  g.api->unsubscribe(*g.instance, a.u32(0));
}

NATIVE(storeGet) {
  USE(g);
  r.Set(nullable(a.isolate(), g.api->store_get(a.str(0))));
}
NATIVE(storeSet) {
  USE(r);
  g.api->store_set(a.str(0), a.str(1));
}
NATIVE(storeDelete) {
  USE(r);
  g.api->store_delete(a.str(0));
}
NATIVE(storeExists) {
  r.Set(g.api->store_exists(a.str(0)));
}
NATIVE(storeKeys) {
  r.Set(js(a.isolate(), g.api->store_keys()));
}

NATIVE(httpRequest) {
  v8::Isolate* iso = a.isolate();
  const HttpExchange& ex = g.api->http(*g.instance);
  v8::Local<v8::Object> o = v8::Object::New(iso);
  set(o, "method", js(iso, ex.request.method));
  set(o, "target", js(iso, ex.request.target));
  v8::Local<v8::Array> headers = v8::Array::New(iso, static_cast<int>(ex.request.headers.size()));
  for (uint32_t i = 0; i < ex.request.headers.size(); ++i) {
    v8::Local<v8::Value> pair[] = {v8_str(iso, ex.request.headers[i].first),
                                   v8_str(iso, ex.request.headers[i].second)};
    headers->Set(a.context(), i, v8::Array::New(iso, pair, 2)).Check();
  }
  set(o, "headers", headers);
  set(o, "body", bytes(iso, ex.request.body));
  set(o, "text", js(iso, ex.request.body));
  r.Set(o);
}
NATIVE(httpSetStatus) {
  USE(r);
  const uint32_t status = a.u32(0);
  if (status < 100 || status > 999) throw Error("invalid HTTP status " + std::to_string(status));
  g.api->http(*g.instance).response.status = status;
}
NATIVE(httpAddHeader) {
  USE(r);
  g.api->http(*g.instance).response.headers.emplace_back(a.str(0), a.str(1));
}
NATIVE(httpWriteBody) {
  USE(r);
  g.api->http(*g.instance).response.body.append(a.bytes(0));
}

#define ENTRY(name) \
  { #name, name }

const Native kNatives[] = {
    ENTRY(version),
    ENTRY(instanceId),
    ENTRY(arguments),
    ENTRY(setReturn),
    ENTRY(debugQuery),
    ENTRY(watch),
    ENTRY(drop),
    ENTRY(futureCheck),
    ENTRY(futureString),
    ENTRY(futureIds),
    ENTRY(futureTokens),
    ENTRY(futureDistributions),
    ENTRY(futureBlob),
    ENTRY(modelGet),
    ENTRY(models),
    ENTRY(modelsWithTraits),
    ENTRY(modelInfo),
    ENTRY(modelRenderChat),
    ENTRY(modelCreateQueue),
    ENTRY(modelTokenizer),
    ENTRY(queueServiceId),
    ENTRY(queueSynchronize),
    ENTRY(queueSetPriority),
    ENTRY(queueDebugQuery),
    ENTRY(allocate),
    ENTRY(deallocate),
    ENTRY(exportResources),
    ENTRY(importResources),
    ENTRY(exportedResources),
    ENTRY(releaseExported),
    ENTRY(embedImage),
    ENTRY(initializeAdapter),
    ENTRY(updateAdapter),
    ENTRY(fpCreate),
    ENTRY(fpInputTokens),
    ENTRY(fpInputEmbeddings),
    ENTRY(fpOutputEmbeddings),
    ENTRY(fpKvCache),
    ENTRY(fpAttentionMask),
    ENTRY(fpOutputDistributions),
    ENTRY(fpOutputTokens),
    ENTRY(fpSetAdapter),
    ENTRY(fpSetAdapterSeed),
    ENTRY(fpExecute),
    ENTRY(tokenize),
    ENTRY(detokenize),
    ENTRY(vocabulary),
    ENTRY(send),
    ENTRY(receive),
    ENTRY(sendBlob),
    ENTRY(receiveBlob),
    ENTRY(broadcast),
    ENTRY(subscribe),
    ENTRY(subscriptionTake),
    ENTRY(unsubscribe),
    ENTRY(storeGet),
    ENTRY(storeSet),
    ENTRY(storeDelete),
    ENTRY(storeExists),
    ENTRY(storeKeys),
    ENTRY(httpRequest),
    ENTRY(httpSetStatus),
    ENTRY(httpAddHeader),
    ENTRY(httpWriteBody),
};

#undef ENTRY
#undef NATIVE
#undef USE

void call_native(const Info& info) {
  auto* native = static_cast<const Native*>(info.Data().As<v8::External>()->Value());
  v8::Isolate* isolate = info.GetIsolate();
  std::string failure;
  try {
    Args args(info);
    native->impl(current_guest(isolate), args, info.GetReturnValue());
    return;
  } catch (const std::exception& e) {
    failure = std::string("pie.") + native->name + ": " + e.what();
  }
  isolate->ThrowException(v8::Exception::Error(v8_str(isolate, failure)));
}

v8::Local<v8::Function> native_function(v8::Local<v8::Context> ctx, const Native& n) {
  return v8::Function::New(ctx, call_native,
                           v8::External::New(ctx->GetIsolate(), const_cast<Native*>(&n)), 0,
                           v8::ConstructorBehavior::kThrow)
      .ToLocalChecked();
}

v8::MaybeLocal<v8::Value> evaluate_natives(v8::Local<v8::Context> ctx,
                                           v8::Local<v8::Module> module) {
  v8::Isolate* iso = ctx->GetIsolate();
  for (const Native& n : kNatives) {
    if (module->SetSyntheticModuleExport(iso, v8_str(iso, n.name), native_function(ctx, n))
            .IsNothing()) {
      return {};
    }
  }
  auto resolver = v8::Promise::Resolver::New(ctx).ToLocalChecked();
  resolver->Resolve(ctx, v8::Undefined(iso)).Check();
  return resolver->GetPromise();
}

// ---- console ------------------------------------------------------------------------------------

void console_write(const Info& info) {
  v8::Isolate* iso = info.GetIsolate();
  std::string line;
  for (int i = 0; i < info.Length(); ++i) {
    if (i > 0) line += ' ';
    line += to_utf8(iso, info[i]);
  }
  line += '\n';
  Guest& g = current_guest(iso);
  if (info.Data()->IsTrue()) {
    g.write_stderr(line);
  } else {
    g.write_stdout(line);
  }
}

// console.log/info/debug print to stdout (message events), console.warn/error to the engine log.
void install_console(v8::Local<v8::Context> ctx) {
  v8::Isolate* iso = ctx->GetIsolate();
  v8::Local<v8::Object> console = v8::Object::New(iso);
  const std::pair<const char*, bool> methods[] = {
      {"log", false}, {"info", false}, {"debug", false}, {"warn", true}, {"error", true}};
  for (const auto& [name, to_stderr] : methods) {
    set(console, name,
        v8::Function::New(ctx, console_write, v8::Boolean::New(iso, to_stderr)).ToLocalChecked());
  }
  ctx->Global()->Set(ctx, v8_str(iso, "console"), console).Check();
}

// ---- Modules ------------------------------------------------------------------------------------

v8::MaybeLocal<v8::Module> compile_module(v8::Isolate* iso, const std::string& name,
                                          const std::string& source) {
  v8::ScriptOrigin origin(iso, v8_str(iso, name), 0, 0, false, -1, {}, false, false, true);
  v8::ScriptCompiler::Source src(v8_str(iso, source), origin);
  return v8::ScriptCompiler::CompileModule(iso, &src);
}

v8::MaybeLocal<v8::Module> resolve_module(v8::Local<v8::Context> ctx,
                                          v8::Local<v8::String> specifier,
                                          v8::Local<v8::FixedArray>, v8::Local<v8::Module>) {
  v8::Isolate* iso = ctx->GetIsolate();
  JsRun& run = *current_guest(iso).js;
  const std::string name = to_utf8(iso, specifier);
  if (name == "pie") {
    if (run.pie_module.IsEmpty()) {
      v8::Local<v8::Module> module;
      if (!compile_module(iso, "pie.js", kPieJsSource).ToLocal(&module)) return {};
      run.pie_module.Reset(iso, module);
    }
    return run.pie_module.Get(iso);
  }
  if (name == "pie:native") {
    if (run.native_module.IsEmpty()) {
      std::vector<v8::Local<v8::String>> names;
      for (const Native& n : kNatives) names.push_back(v8_str(iso, n.name));
      run.native_module.Reset(iso, v8::Module::CreateSyntheticModule(iso, v8_str(iso, "pie:native"),
                                                                     names, evaluate_natives));
    }
    return run.native_module.Get(iso);
  }
  iso->ThrowException(v8::Exception::Error(
      v8_str(iso, "cannot import '" + name + "': an inferlet can import only 'pie'")));
  return {};
}

// Runs microtasks and, while `promise` is pending, waits for the engine to complete what the
// program awaits. False when execution was terminated.
bool drive(v8::Isolate* iso, Guest& g, v8::Local<v8::Promise> promise, v8::TryCatch& try_catch) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  JsRun& run = *g.js;
  for (;;) {
    iso->PerformMicrotaskCheckpoint();
    if (try_catch.HasTerminated() || iso->IsExecutionTerminating()) return false;
    if (promise->State() != v8::Promise::kPending) return true;
    if (run.watchers.empty()) {
      throw Error("main is awaiting something that can never complete");
    }
    std::vector<uint32_t> handles;
    handles.reserve(run.watchers.size());
    for (const auto& w : run.watchers) handles.push_back(w.first);
    const int32_t ready = g.api->wait(*g.instance, handles, -1);
    v8::Local<v8::Promise::Resolver> resolver = run.watchers[ready].second.Get(iso);
    run.watchers.erase(run.watchers.begin() + ready);
    resolver->Resolve(ctx, v8::Undefined(iso)).Check();
  }
}

std::string describe_rejection(v8::Isolate* iso, v8::Local<v8::Value> reason) {
  if (reason->IsNativeError()) {
    v8::Local<v8::Value> stack;
    auto object = reason.As<v8::Object>();
    if (object->Get(iso->GetCurrentContext(), v8_str(iso, "stack")).ToLocal(&stack) &&
        stack->IsString()) {
      PIE_LOG(Debug) << to_utf8(iso, stack);
    }
  }
  return to_utf8(iso, reason);
}

Termination run_module(v8::Isolate* iso, Instance& instance, Guest& guest) {
  v8::HandleScope handles(iso);
  v8::Local<v8::Context> ctx = v8::Context::New(iso);
  v8::Context::Scope context_scope(ctx);
  install_console(ctx);
  JsRun run;
  guest.js = &run;
  struct Reset {
    Guest& g;
    ~Reset() { g.js = nullptr; }
  } reset{guest};
  v8::TryCatch try_catch(iso);
  auto exception = [&](std::string message) {
    return Termination{server::TerminationCode::Exception, std::move(message)};
  };
  auto caught = [&] { return exception(describe_exception(iso, try_catch)); };

  v8::Local<v8::Module> module;
  if (!compile_module(iso, instance.program().hash + ".js", instance.program().bytes)
           .ToLocal(&module) ||
      !module->InstantiateModule(ctx, resolve_module).FromMaybe(false)) {
    return caught();
  }
  v8::Local<v8::Value> evaluated;
  if (!module->Evaluate(ctx).ToLocal(&evaluated)) return caught();
  if (!drive(iso, guest, evaluated.As<v8::Promise>(), try_catch)) return exception("terminated");
  if (evaluated.As<v8::Promise>()->State() == v8::Promise::kRejected) {
    return exception(describe_rejection(iso, evaluated.As<v8::Promise>()->Result()));
  }

  auto ns = module->GetModuleNamespace().As<v8::Object>();
  v8::Local<v8::Value> main;
  if (!ns->Get(ctx, v8_str(iso, "main")).ToLocal(&main) || !main->IsFunction()) {
    return exception("the program does not export a main function");
  }
  v8::Local<v8::Value> args[] = {js(iso, instance.arguments())};
  v8::Local<v8::Value> result;
  if (!main.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 1, args).ToLocal(&result)) {
    return caught();
  }
  v8::Local<v8::Promise> promise;
  if (result->IsPromise()) {
    promise = result.As<v8::Promise>();
  } else {
    auto resolver = v8::Promise::Resolver::New(ctx).ToLocalChecked();
    resolver->Resolve(ctx, result).Check();
    promise = resolver->GetPromise();
  }
  if (!drive(iso, guest, promise, try_catch)) return exception("terminated");
  if (promise->State() == v8::Promise::kRejected) {
    return exception(describe_rejection(iso, promise->Result()));
  }
  v8::Local<v8::Value> value = promise->Result();
  if (value->IsString()) {
    instance.set_return(to_utf8(iso, value));
  } else if (!value->IsUndefined()) {
    v8::Local<v8::String> json;
    if (!v8::JSON::Stringify(ctx, value).ToLocal(&json)) return caught();
    instance.set_return(to_utf8(iso, json));
  }
  return {server::TerminationCode::Normal, instance.return_value()};
}

}  // namespace

Termination run_js_program(v8::Isolate* iso, Instance& instance, Guest& guest) {
  try {
    return run_module(iso, instance, guest);
  } catch (const Error& e) {
    return Termination{server::TerminationCode::Exception, e.what()};
  }
}

}  // namespace pie::runtime
