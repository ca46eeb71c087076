#include "runtime/wasm_abi.h"

#include <cstring>

#include "pie/abi.h"
#include "protocol/backend_messages.h"

namespace pie::runtime {

namespace {

using protocol::SamplerKind;

// Writes a list of u32 as the result of the call.
uint32_t put_ids(Guest& g, uint32_t out, uint32_t cap, const std::vector<uint32_t>& ids) {
  return g.result(out, cap,
                  std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * 4));
}

uint32_t put_list(Guest& g, uint32_t out, uint32_t cap, const std::vector<std::string>& items) {
  return g.result(out, cap, Encoder::string_list(items));
}

// ---- Results, handles, waiting ------------------------------------------------------------------

void result_fetch(Guest& g, HostCall& c) {
  std::string& pending = g.instance->pending_result();
  const uint32_t n = std::min<uint32_t>(c.u32(1), static_cast<uint32_t>(pending.size()));
  g.write(c.u32(0), pending.data(), n);
  c.ret(static_cast<uint32_t>(pending.size()));
}

void drop(Guest& g, HostCall& c) {
  g.api->drop(*g.instance, c.u32(0));
}

void wait(Guest& g, HostCall& c) {
  const std::vector<uint32_t> handles = g.u32s(c.u32(0), c.u32(1));
  c.ret(g.api->wait(*g.instance, handles, c.i64(2)));
}

// ---- Runtime ------------------------------------------------------------------------------------

void runtime_version(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(0), c.u32(1), g.api->version()));
}

void instance_id(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(0), c.u32(1), g.instance->id()));
}

void arguments(Guest& g, HostCall& c) {
  c.ret(put_list(g, c.u32(0), c.u32(1), g.instance->arguments()));
}

void set_return(Guest& g, HostCall& c) {
  g.instance->set_return(std::string(g.text(c.u32(0), c.u32(1))));
}

void fail(Guest& g, HostCall& c) {
  g.exit = Termination{server::TerminationCode::Exception, std::string(g.text(c.u32(0), c.u32(1)))};
  throw GuestExit{};
}

void debug_query(Guest& g, HostCall& c) {
  c.ret(g.api->debug_query(*g.instance, g.text(c.u32(0), c.u32(1))));
}

// ---- Models -------------------------------------------------------------------------------------

void model_get(Guest& g, HostCall& c) {
  c.ret(g.api->model_get(*g.instance, g.text(c.u32(0), c.u32(1))));
}

void models(Guest& g, HostCall& c) {
  c.ret(put_list(g, c.u32(0), c.u32(1), g.api->models()));
}

void models_with_traits(Guest& g, HostCall& c) {
  const auto traits = decode_string_list(g.text(c.u32(0), c.u32(1)));
  c.ret(put_list(g, c.u32(2), c.u32(3), g.api->models_with_traits(traits)));
}

void model_name(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(1), c.u32(2), g.api->model_info(*g.instance, c.u32(0)).name));
}

void model_description(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(1), c.u32(2), g.api->model_info(*g.instance, c.u32(0)).description));
}

void model_prompt_template(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(1), c.u32(2), g.api->model_info(*g.instance, c.u32(0)).prompt_template));
}

void model_render_chat(Guest& g, HostCall& c) {
  const uint32_t flags = c.u32(3);
  const auto prompt = g.api->model_render_chat(*g.instance, c.u32(0), g.text(c.u32(1), c.u32(2)),
                                               (flags & PIE_CHAT_ADD_GENERATION_PROMPT) != 0,
                                               (flags & PIE_CHAT_BEGIN_OF_SEQUENCE) != 0);
  c.ret(prompt ? g.result(c.u32(4), c.u32(5), *prompt) : PIE_NONE);
}

void model_traits(Guest& g, HostCall& c) {
  c.ret(put_list(g, c.u32(1), c.u32(2), g.api->model_info(*g.instance, c.u32(0)).traits));
}

void model_stop_tokens(Guest& g, HostCall& c) {
  c.ret(put_list(g, c.u32(1), c.u32(2), g.api->model_info(*g.instance, c.u32(0)).stop_tokens));
}

void model_service_id(Guest& g, HostCall& c) {
  c.ret(g.api->model_service_id(*g.instance, c.u32(0)));
}

void model_kv_page_size(Guest& g, HostCall& c) {
  c.ret(g.api->model_info(*g.instance, c.u32(0)).kv_page_size);
}

void model_create_queue(Guest& g, HostCall& c) {
  c.ret(g.api->model_create_queue(*g.instance, c.u32(0)));
}

void model_tokenizer(Guest& g, HostCall& c) {
  c.ret(g.api->model_tokenizer(*g.instance, c.u32(0)));
}

// ---- Queues -------------------------------------------------------------------------------------

void queue_service_id(Guest& g, HostCall& c) {
  c.ret(g.api->queue_service_id(*g.instance, c.u32(0)));
}

void queue_synchronize(Guest& g, HostCall& c) {
  c.ret(g.api->queue_synchronize(*g.instance, c.u32(0)));
}

void queue_set_priority(Guest& g, HostCall& c) {
  g.api->queue_set_priority(*g.instance, c.u32(0), c.u32(1));
}

void queue_debug_query(Guest& g, HostCall& c) {
  c.ret(g.api->queue_debug_query(*g.instance, c.u32(0), g.text(c.u32(1), c.u32(2))));
}

// ---- Resources ----------------------------------------------------------------------------------

void allocate(Guest& g, HostCall& c) {
  c.ret(g.api->allocate(*g.instance, c.u32(0), c.u32(1), c.u32(2)));
}

void deallocate(Guest& g, HostCall& c) {
  g.api->deallocate(*g.instance, c.u32(0), c.u32(1), g.u32s(c.u32(2), c.u32(3)));
}

void export_resources(Guest& g, HostCall& c) {
  g.api->export_resources(*g.instance, c.u32(0), c.u32(1), g.u32s(c.u32(2), c.u32(3)),
                          g.text(c.u32(4), c.u32(5)));
}

void import_resources(Guest& g, HostCall& c) {
  const auto ids =
      g.api->import_resources(*g.instance, c.u32(0), c.u32(1), g.text(c.u32(2), c.u32(3)));
  c.ret(put_ids(g, c.u32(4), c.u32(5), ids));
}

void exported_resources(Guest& g, HostCall& c) {
  const auto exports = g.api->exported_resources(*g.instance, c.u32(0), c.u32(1));
  Encoder e;
  e.u32(static_cast<uint32_t>(exports.size()));
  for (const auto& [name, slots] : exports) e.bytes(name).u32(slots);
  c.ret(g.result(c.u32(2), c.u32(3), e.str()));
}

void release_exported(Guest& g, HostCall& c) {
  g.api->release_exported(*g.instance, c.u32(0), c.u32(1), g.text(c.u32(2), c.u32(3)));
}

// ---- Images and adapters ------------------------------------------------------------------------

void embed_image(Guest& g, HostCall& c) {
  g.api->embed_image(*g.instance, c.u32(0), g.u32s(c.u32(1), c.u32(2)),
                     std::string(g.text(c.u32(3), c.u32(4))), c.u32(5));
}

void initialize_adapter(Guest& g, HostCall& c) {
  g.api->initialize_adapter(*g.instance, c.u32(0), c.u32(1), c.u32(2), c.f32(3), c.u32(4), c.f32(5),
                            c.f32(6));
}

void update_adapter(Guest& g, HostCall& c) {
  const uint32_t n = c.u32(4);
  std::vector<float> scores(n);
  std::vector<int64_t> seeds(n);
  if (n != 0) {
    std::memcpy(scores.data(), g.bytes(c.u32(2), uint64_t{n} * 4).data(), size_t{n} * 4);
    std::memcpy(seeds.data(), g.bytes(c.u32(3), uint64_t{n} * 8).data(), size_t{n} * 8);
  }
  g.api->update_adapter(*g.instance, c.u32(0), c.u32(1), scores, seeds, c.f32(5));
}

// ---- Forward passes -----------------------------------------------------------------------------

void fp_create(Guest& g, HostCall& c) {
  c.ret(g.api->fp_create(*g.instance, c.u32(0)));
}

void fp_input_tokens(Guest& g, HostCall& c) {
  const uint32_t n = c.u32(3);
  g.api->fp_input_tokens(*g.instance, c.u32(0), g.u32s(c.u32(1), n), g.u32s(c.u32(2), n));
}

void fp_input_embeddings(Guest& g, HostCall& c) {
  const uint32_t n = c.u32(3);
  g.api->fp_input_embeddings(*g.instance, c.u32(0), g.u32s(c.u32(1), n), g.u32s(c.u32(2), n));
}

void fp_output_embeddings(Guest& g, HostCall& c) {
  const uint32_t n = c.u32(3);
  g.api->fp_output_embeddings(*g.instance, c.u32(0), g.u32s(c.u32(1), n), g.u32s(c.u32(2), n));
}

void fp_kv_cache(Guest& g, HostCall& c) {
  g.api->fp_kv_cache(*g.instance, c.u32(0), g.u32s(c.u32(1), c.u32(2)), c.u32(3));
}

void fp_attention_mask(Guest& g, HostCall& c) {
  const std::vector<uint32_t> lens = g.u32s(c.u32(1), c.u32(2));
  uint64_t total = 0;
  for (uint32_t len : lens) total += len;
  if (total > UINT32_MAX / 4) throw Error("attention mask too large");
  const std::vector<uint32_t> runs = g.u32s(c.u32(3), static_cast<uint32_t>(total));
  std::vector<std::vector<uint32_t>> rows;
  rows.reserve(lens.size());
  size_t at = 0;
  for (uint32_t len : lens) {
    rows.emplace_back(runs.begin() + static_cast<ptrdiff_t>(at),
                      runs.begin() + static_cast<ptrdiff_t>(at + len));
    at += len;
  }
  g.api->fp_attention_mask(*g.instance, c.u32(0), std::move(rows));
}

void fp_output_distributions(Guest& g, HostCall& c) {
  const uint32_t top_k = c.u32(4);
  g.api->fp_output_distributions(*g.instance, c.u32(0), g.u32s(c.u32(1), c.u32(2)), c.f32(3),
                                 top_k == 0 ? std::nullopt : std::optional<uint32_t>(top_k));
}

void output_tokens(Guest& g, HostCall& c, const SamplerChoice& s) {
  g.api->fp_output_tokens(*g.instance, c.u32(0), g.u32s(c.u32(1), c.u32(2)), s);
}

void fp_output_tokens(Guest& g, HostCall& c) {
  output_tokens(g, c, {SamplerKind::Multinomial, c.f32(3)});
}

void fp_output_tokens_top_k(Guest& g, HostCall& c) {
  output_tokens(g, c, {SamplerKind::TopK, c.f32(3), c.u32(4)});
}

void fp_output_tokens_top_p(Guest& g, HostCall& c) {
  output_tokens(g, c, {SamplerKind::TopP, c.f32(3), 0, c.f32(4)});
}

void fp_output_tokens_min_p(Guest& g, HostCall& c) {
  output_tokens(g, c, {SamplerKind::MinP, c.f32(3), 0, 1.0F, c.f32(4)});
}

void fp_output_tokens_top_k_top_p(Guest& g, HostCall& c) {
  output_tokens(g, c, {SamplerKind::TopKTopP, c.f32(3), c.u32(4), c.f32(5)});
}

void fp_set_adapter(Guest& g, HostCall& c) {
  g.api->fp_set_adapter(*g.instance, c.u32(0), c.u32(1));
}

void fp_set_adapter_seed(Guest& g, HostCall& c) {
  g.api->fp_set_adapter_seed(*g.instance, c.u32(0), c.i64(1));
}

void fp_execute(Guest& g, HostCall& c) {
  c.ret(g.api->fp_execute(*g.instance, c.u32(0)));
}

// ---- Futures ------------------------------------------------------------------------------------

void future_bytes(Guest& g, HostCall& c) {
  const uint32_t h = c.u32(0);
  FutureObject& f = g.api->ready_future(*g.instance, h);
  if (f.kind == FutureKind::Allocation) {
    c.ret(put_ids(g, c.u32(1), c.u32(2), g.api->future_ids(*g.instance, h)));
  } else {
    c.ret(g.result(c.u32(1), c.u32(2), g.api->future_text(*g.instance, h)));
  }
}

void future_tokens(Guest& g, HostCall& c) {
  c.ret(put_ids(g, c.u32(1), c.u32(2), g.api->future_tokens(*g.instance, c.u32(0))));
}

void future_distributions(Guest& g, HostCall& c) {
  const auto dists = g.api->future_distributions(*g.instance, c.u32(0));
  Encoder e;
  e.u32(static_cast<uint32_t>(dists.size()));
  for (const auto& d : dists) {
    const size_t k = std::min(d.ids.size(), d.probs.size());
    e.u32(static_cast<uint32_t>(k));
    for (size_t i = 0; i < k; ++i) e.u32(d.ids[i]);
    for (size_t i = 0; i < k; ++i) e.f32(d.probs[i]);
  }
  c.ret(g.result(c.u32(1), c.u32(2), e.str()));
}

void future_blob(Guest& g, HostCall& c) {
  const auto blob = g.api->future_blob(*g.instance, c.u32(0));
  c.ret(blob ? *blob : PIE_NONE);
}

// ---- Tokenizer ----------------------------------------------------------------------------------

void tokenize(Guest& g, HostCall& c) {
  const auto ids = g.api->tokenize(*g.instance, c.u32(0), g.text(c.u32(1), c.u32(2)));
  c.ret(put_ids(g, c.u32(3), c.u32(4), ids));
}

void detokenize(Guest& g, HostCall& c) {
  const std::string text = g.api->detokenize(*g.instance, c.u32(0), g.u32s(c.u32(1), c.u32(2)));
  c.ret(g.result(c.u32(3), c.u32(4), text));
}

void vocabulary(Guest& g, HostCall& c) {
  const auto vocab = g.api->vocabulary(*g.instance, c.u32(0));
  Encoder e;
  e.u32(static_cast<uint32_t>(vocab.size()));
  for (const auto& [id, bytes] : vocab) e.u32(id).bytes(bytes);
  c.ret(g.result(c.u32(1), c.u32(2), e.str()));
}

// ---- Messages -----------------------------------------------------------------------------------

void send(Guest& g, HostCall& c) {
  g.api->send(*g.instance, std::string(g.text(c.u32(0), c.u32(1))));
}

void receive(Guest& g, HostCall& c) {
  c.ret(g.api->receive(*g.instance));
}

void send_blob(Guest& g, HostCall& c) {
  g.api->send_blob(*g.instance, c.u32(0));
}

void receive_blob(Guest& g, HostCall& c) {
  c.ret(g.api->receive_blob(*g.instance));
}

// ---- Blobs --------------------------------------------------------------------------------------

void blob_create(Guest& g, HostCall& c) {
  c.ret(g.api->blob_create(*g.instance, std::string(g.text(c.u32(0), c.u32(1)))));
}

void blob_write(Guest& g, HostCall& c) {
  g.api->blob_write(*g.instance, c.u32(0), g.text(c.u32(1), c.u32(2)));
}

void blob_read(Guest& g, HostCall& c) {
  const uint32_t n = c.u32(3);
  const std::string_view data = g.api->blob_read(*g.instance, c.u32(0), c.u64(1), n);
  g.write(c.u32(2), data.data(), data.size());
}

void blob_size(Guest& g, HostCall& c) {
  c.ret_u64(g.api->blob_size(*g.instance, c.u32(0)));
}

// ---- Broadcast ----------------------------------------------------------------------------------

void broadcast(Guest& g, HostCall& c) {
  g.api->broadcast(*g.instance, std::string(g.text(c.u32(0), c.u32(1))),
                   std::string(g.text(c.u32(2), c.u32(3))));
}

void subscribe(Guest& g, HostCall& c) {
  c.ret(g.api->subscribe(*g.instance, std::string(g.text(c.u32(0), c.u32(1)))));
}

void subscription_take(Guest& g, HostCall& c) {
  g.bytes(c.u32(1), c.u32(2));  // a bad buffer is an error even when no message waits
  const auto message = g.api->subscription_take(*g.instance, c.u32(0));
  c.ret(message ? g.result(c.u32(1), c.u32(2), *message) : PIE_NONE);
}

void unsubscribe(Guest& g, HostCall& c) {
  g.api->unsubscribe(*g.instance, c.u32(0));
}

// ---- Key-value store ----------------------------------------------------------------------------

void store_get(Guest& g, HostCall& c) {
  g.bytes(c.u32(2), c.u32(3));
  const auto value = g.api->store_get(g.text(c.u32(0), c.u32(1)));
  c.ret(value ? g.result(c.u32(2), c.u32(3), *value) : PIE_NONE);
}

void store_set(Guest& g, HostCall& c) {
  g.api->store_set(g.text(c.u32(0), c.u32(1)), g.text(c.u32(2), c.u32(3)));
}

void store_delete(Guest& g, HostCall& c) {
  g.api->store_delete(g.text(c.u32(0), c.u32(1)));
}

void store_exists(Guest& g, HostCall& c) {
  c.ret(static_cast<uint32_t>(g.api->store_exists(g.text(c.u32(0), c.u32(1)))));
}

void store_keys(Guest& g, HostCall& c) {
  c.ret(put_list(g, c.u32(0), c.u32(1), g.api->store_keys()));
}

// ---- HTTP ---------------------------------------------------------------------------------------

void http_request_method(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(0), c.u32(1), g.api->http(*g.instance).request.method));
}

void http_request_path(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(0), c.u32(1), g.api->http(*g.instance).request.target));
}

void http_request_headers(Guest& g, HostCall& c) {
  std::vector<std::string> flat;
  for (const auto& [name, value] : g.api->http(*g.instance).request.headers) {
    flat.push_back(name);
    flat.push_back(value);
  }
  c.ret(put_list(g, c.u32(0), c.u32(1), flat));
}

void http_request_body(Guest& g, HostCall& c) {
  c.ret(g.result(c.u32(0), c.u32(1), g.api->http(*g.instance).request.body));
}

void http_response_status(Guest& g, HostCall& c) {
  const uint32_t status = c.u32(0);
  if (status < 100 || status > 999) throw Error("invalid HTTP status " + std::to_string(status));
  g.api->http(*g.instance).response.status = status;
}

void http_response_header(Guest& g, HostCall& c) {
  g.api->http(*g.instance)
      .response.headers.emplace_back(g.text(c.u32(0), c.u32(1)), g.text(c.u32(2), c.u32(3)));
}

void http_response_body(Guest& g, HostCall& c) {
  g.api->http(*g.instance).response.body.append(g.text(c.u32(0), c.u32(1)));
}

#define PIE(name) \
  { kPieModule, #name, name }

const HostFunction kFunctions[] = {
    PIE(result_fetch),
    PIE(drop),
    PIE(wait),
    PIE(runtime_version),
    PIE(instance_id),
    PIE(arguments),
    PIE(set_return),
    PIE(fail),
    PIE(debug_query),
    PIE(model_get),
    PIE(models),
    PIE(models_with_traits),
    PIE(model_name),
    PIE(model_description),
    PIE(model_prompt_template),
    PIE(model_render_chat),
    PIE(model_traits),
    PIE(model_stop_tokens),
    PIE(model_service_id),
    PIE(model_kv_page_size),
    PIE(model_create_queue),
    PIE(model_tokenizer),
    PIE(queue_service_id),
    PIE(queue_synchronize),
    PIE(queue_set_priority),
    PIE(queue_debug_query),
    PIE(allocate),
    PIE(deallocate),
    PIE(export_resources),
    PIE(import_resources),
    PIE(exported_resources),
    PIE(release_exported),
    PIE(embed_image),
    PIE(initialize_adapter),
    PIE(update_adapter),
    PIE(fp_create),
    PIE(fp_input_tokens),
    PIE(fp_input_embeddings),
    PIE(fp_output_embeddings),
    PIE(fp_kv_cache),
    PIE(fp_attention_mask),
    PIE(fp_output_distributions),
    PIE(fp_output_tokens),
    PIE(fp_output_tokens_top_k),
    PIE(fp_output_tokens_top_p),
    PIE(fp_output_tokens_min_p),
    PIE(fp_output_tokens_top_k_top_p),
    PIE(fp_set_adapter),
    PIE(fp_set_adapter_seed),
    PIE(fp_execute),
    PIE(future_bytes),
    PIE(future_tokens),
    PIE(future_distributions),
    PIE(future_blob),
    PIE(tokenize),
    PIE(detokenize),
    PIE(vocabulary),
    PIE(send),
    PIE(receive),
    PIE(send_blob),
    PIE(receive_blob),
    PIE(blob_create),
    PIE(blob_write),
    PIE(blob_read),
    PIE(blob_size),
    PIE(broadcast),
    PIE(subscribe),
    PIE(subscription_take),
    PIE(unsubscribe),
    PIE(store_get),
    PIE(store_set),
    PIE(store_delete),
    PIE(store_exists),
    PIE(store_keys),
    PIE(http_request_method),
    PIE(http_request_path),
    PIE(http_request_headers),
    PIE(http_request_body),
    PIE(http_response_status),
    PIE(http_response_header),
    PIE(http_response_body),
};

#undef PIE

}  // namespace

std::span<const HostFunction> pie_functions() {
  return kFunctions;
}

uint32_t abi_version() {
  return PIE_ABI_VERSION;
}

}  // namespace pie::runtime
