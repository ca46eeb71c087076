#include "runtime/host_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "backend/chat/chat.h"
#include "backend/tokenizer/tokenizer.h"
#include "common/error.h"

namespace pie::runtime {

namespace {

constexpr uint32_t kKvPage = 0;
constexpr uint32_t kEmbed = 1;
constexpr uint32_t kAdapter = 2;
constexpr uint32_t kResourceTypes = 3;

void check_type(uint32_t type) {
  if (type >= kResourceTypes) {
    throw Error("unknown resource type " + std::to_string(type) +
                " (0: KV page, 1: embedding, 2: adapter)");
  }
}

protocol::ResourceType resource_type(uint32_t type) {
  check_type(type);
  return static_cast<protocol::ResourceType>(type);
}

void check_same_length(size_t a, size_t b, const char* what) {
  if (a != b) {
    throw Error(std::string(what) + " have different lengths (" + std::to_string(a) + " and " +
                std::to_string(b) + ")");
  }
}

void check_temperature(float t) {
  if (!(t >= 0) || !std::isfinite(t)) {
    throw Error("temperature must be a finite number >= 0, not " + std::to_string(t));
  }
}

void check_probability(float p, const char* name) {
  if (!(p >= 0 && p <= 1)) {
    throw Error(std::string(name) + " must be between 0 and 1, not " + std::to_string(p));
  }
}

}  // namespace

// ---- Handles and waiting ------------------------------------------------------------------------

void HostApi::drop(Instance& inst, uint32_t handle) {
  inst.handles().erase(handle);
}

int32_t HostApi::wait(Instance& inst, std::span<const uint32_t> handles, int64_t timeout_ns) {
  // What each handle is ready on; checked with the notifier's mutex held.
  std::vector<const FutureCore*> futures(handles.size(), nullptr);
  std::vector<const services::PubSub::Subscription*> subscriptions(handles.size(), nullptr);
  for (size_t i = 0; i < handles.size(); ++i) {
    switch (inst.handles().kind(handles[i])) {
      case HandleKind::Future:
        futures[i] = inst.handles().get<FutureObject>(handles[i]).core.get();
        break;
      case HandleKind::Subscription:
        subscriptions[i] = inst.handles().get<SubscriptionObject>(handles[i]).subscription.get();
        break;
      default:
        throw Error("handle " + std::to_string(handles[i]) + " (a " +
                    handle_kind_name(inst.handles().kind(handles[i])) +
                    ") cannot be waited on: only futures and subscriptions can");
    }
  }
  Notifier& n = *inst.notifier();
  std::unique_lock lock(n.mutex);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
  for (;;) {
    if (n.terminating) throw Error("the instance is being terminated");
    for (size_t i = 0; i < handles.size(); ++i) {
      if ((futures[i] != nullptr && futures[i]->ready()) ||
          (subscriptions[i] != nullptr && subscriptions[i]->has_message())) {
        return static_cast<int32_t>(i);
      }
    }
    if (timeout_ns == 0) return -1;
    if (timeout_ns < 0) {
      n.cv.wait(lock);
    } else if (n.cv.wait_until(lock, deadline) == std::cv_status::timeout) {
      timeout_ns = 0;  // one last look, then report the timeout
    }
  }
}

uint32_t HostApi::new_future(Instance& inst, FutureKind kind, std::shared_ptr<FutureCore>& core) {
  core = std::make_shared<FutureCore>(inst.notifier());
  return inst.handles().insert(std::make_unique<FutureObject>(kind, core));
}

// ---- Runtime ------------------------------------------------------------------------------------

uint32_t HostApi::debug_query(Instance& inst, std::string_view query) {
  std::shared_ptr<FutureCore> core;
  const uint32_t h = new_future(inst, FutureKind::Text, core);
  core->complete(services_.debug_query(query));
  return h;
}

// ---- Models -------------------------------------------------------------------------------------

uint32_t HostApi::model_get(Instance& inst, std::string_view name) {
  const auto all = services_.models->models();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].name == name) {
      return inst.handles().insert(
          std::make_unique<ModelObject>(ModelRef{static_cast<uint32_t>(i), all[i].service.get()}));
    }
  }
  return 0;
}

std::vector<std::string> HostApi::models() const {
  std::vector<std::string> names;
  for (const auto& m : services_.models->models()) names.push_back(m.name);
  return names;
}

std::vector<std::string> HostApi::models_with_traits(std::span<const std::string> traits) const {
  std::vector<std::string> names;
  for (const auto& m : services_.models->models()) {
    const auto& have = m.service->info().traits;
    bool all = true;
    for (const auto& t : traits) {
      all = all && std::find(have.begin(), have.end(), t) != have.end();
    }
    if (all) names.push_back(m.name);
  }
  return names;
}

const engine::ModelInfo& HostApi::model_info(Instance& inst, uint32_t model) {
  return inst.handles().get<ModelObject>(model).model.service->info();
}

uint32_t HostApi::model_service_id(Instance& inst, uint32_t model) {
  return inst.handles().get<ModelObject>(model).model.service_id;
}

uint32_t HostApi::model_create_queue(Instance& inst, uint32_t model) {
  const ModelRef m = inst.handles().get<ModelObject>(model).model;
  return inst.handles().insert(std::make_unique<QueueObject>(m, m.service->create_stream()));
}

std::optional<std::string> HostApi::model_render_chat(Instance& inst, uint32_t model,
                                                      std::string_view messages_json,
                                                      bool add_generation_prompt,
                                                      bool begin_of_sequence) {
  const engine::ModelInfo& info = model_info(inst, model);
  const chat::Value parsed = chat::Value::parse_json(messages_json);
  if (parsed.kind() != chat::Value::Kind::Array) {
    throw Error("the messages must be a JSON array of {role, content}");
  }
  std::vector<chat::ChatMessage> messages;
  for (const chat::Value& m : parsed.array()) {
    if (m.kind() != chat::Value::Kind::Object || !m.get("role").is_string() ||
        !m.get("content").is_string()) {
      throw Error("each message must be an object with string fields role and content");
    }
    messages.push_back({m.get("role").as_string(), m.get("content").as_string(), std::nullopt, {}});
  }
  // No messages: what a raw text sequence starts with, as the tokenizer would add it.
  if (messages.empty()) {
    const auto& tok = info.tokenizer;
    if (!begin_of_sequence || !tok || !tok->bos() || !tok->spec().add_bos) return std::string();
    return tok->token_bytes(*tok->bos());
  }
  if (info.prompt_template.empty()) return std::nullopt;
  chat::ChatOptions options;
  options.add_generation_prompt = add_generation_prompt;
  if (info.tokenizer) {
    if (begin_of_sequence && info.tokenizer->bos()) {
      options.bos_token = info.tokenizer->token_bytes(*info.tokenizer->bos());
    }
    if (info.tokenizer->eos())
      options.eos_token = info.tokenizer->token_bytes(*info.tokenizer->eos());
  }
  // Parsed per call: conversations are rendered a few times per turn, and parsing is cheap next to
  // the forward passes that follow.
  return chat::render_chat(chat::Template(info.prompt_template), messages, options);
}

uint32_t HostApi::model_tokenizer(Instance& inst, uint32_t model) {
  const ModelRef m = inst.handles().get<ModelObject>(model).model;
  auto tok = m.service->info().tokenizer;
  if (!tok) throw Error("model has no tokenizer");
  return inst.handles().insert(std::make_unique<TokenizerObject>(std::move(tok)));
}

// ---- Queues -------------------------------------------------------------------------------------

uint32_t HostApi::queue_service_id(Instance& inst, uint32_t queue) {
  return inst.handles().get<QueueObject>(queue).model.service_id;
}

uint32_t HostApi::queue_synchronize(Instance& inst, uint32_t queue) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  std::shared_ptr<FutureCore> core;
  const uint32_t h = new_future(inst, FutureKind::Done, core);
  q.model.service->synchronize(q.stream, [core](Status result) {
    if (result.ok()) {
      core->complete(std::monostate{});
    } else {
      core->fail(result.error().what());
    }
  });
  return h;
}

void HostApi::queue_set_priority(Instance& inst, uint32_t queue, uint32_t priority) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  if (priority > 2) {
    throw Error("unknown priority " + std::to_string(priority) + " (0: low, 1: normal, 2: high)");
  }
  q.model.service->set_priority(q.stream, static_cast<engine::Priority>(priority));
}

uint32_t HostApi::queue_debug_query(Instance& inst, uint32_t queue, std::string_view query) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  std::shared_ptr<FutureCore> core;
  const uint32_t h = new_future(inst, FutureKind::Text, core);
  q.model.service->query(q.stream, std::string(query), [core](Result<std::string> result) {
    if (result.ok()) {
      core->complete(std::move(result).value());
    } else {
      core->fail(result.error().what());
    }
  });
  return h;
}

// ---- Resources ----------------------------------------------------------------------------------

uint32_t HostApi::allocate(Instance& inst, uint32_t queue, uint32_t type, uint32_t count) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  const protocol::ResourceType rt = resource_type(type);
  std::shared_ptr<FutureCore> core;
  const uint32_t h = new_future(inst, FutureKind::Allocation, core);
  auto& future = inst.handles().get<FutureObject>(h);
  future.model = q.model;
  future.resource_type = type;
  q.model.service->allocate(inst.key(), rt, count, [core](Result<std::vector<uint32_t>> result) {
    if (result.ok()) {
      core->complete(std::move(result).value());
    } else {
      core->fail(result.error().what());
    }
  });
  return h;
}

void HostApi::deallocate(Instance& inst, uint32_t queue, uint32_t type,
                         std::span<const uint32_t> ids) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  const protocol::ResourceType rt = resource_type(type);
  const std::vector<uint32_t> physical = inst.ids(q.model.service_id, type).unmap(ids);
  if (!physical.empty()) q.model.service->deallocate(inst.key(), rt, physical);
}

void HostApi::export_resources(Instance& inst, uint32_t queue, uint32_t type,
                               std::span<const uint32_t> ids, std::string_view name) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  const protocol::ResourceType rt = resource_type(type);
  const std::vector<uint32_t> physical = inst.ids(q.model.service_id, type).physical(ids);
  q.model.service->export_resources(inst.key(), rt, physical, std::string(name));
}

std::vector<uint32_t> HostApi::import_resources(Instance& inst, uint32_t queue, uint32_t type,
                                                std::string_view name) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  const protocol::ResourceType rt = resource_type(type);
  const std::vector<uint32_t> physical =
      q.model.service->import_resources(inst.key(), rt, std::string(name));
  return inst.ids(q.model.service_id, type).map(physical);
}

std::vector<std::pair<std::string, uint32_t>> HostApi::exported_resources(Instance& inst,
                                                                          uint32_t queue,
                                                                          uint32_t type) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  return q.model.service->list_exported(resource_type(type));
}

void HostApi::release_exported(Instance& inst, uint32_t queue, uint32_t type,
                               std::string_view name) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  q.model.service->release_exported(resource_type(type), std::string(name));
}

// ---- Images and adapters ------------------------------------------------------------------------

void HostApi::embed_image(Instance& inst, uint32_t queue, std::span<const uint32_t> embeds,
                          std::string image, uint32_t position_offset) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  protocol::EmbedImageRequest request;
  request.embed_ptrs = inst.ids(q.model.service_id, kEmbed).physical(embeds);
  request.image_blob = std::move(image);
  request.position_offset = position_offset;
  q.model.service->embed_image(inst.key(), q.stream, std::move(request));
}

void HostApi::initialize_adapter(Instance& inst, uint32_t queue, uint32_t adapter, uint32_t rank,
                                 float alpha, uint32_t population_size, float mu_fraction,
                                 float initial_sigma) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  if (population_size == 0) throw Error("the population size must be at least 1");
  check_probability(mu_fraction, "mu_fraction");
  protocol::InitializeAdapterRequest request;
  request.adapter_ptr = inst.ids(q.model.service_id, kAdapter).physical(adapter);
  request.rank = rank;
  request.alpha = alpha;
  request.population_size = population_size;
  request.mu_fraction = mu_fraction;
  request.initial_sigma = initial_sigma;
  q.model.service->initialize_adapter(inst.key(), q.stream, request);
}

void HostApi::update_adapter(Instance& inst, uint32_t queue, uint32_t adapter,
                             std::span<const float> scores, std::span<const int64_t> seeds,
                             float max_sigma) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  check_same_length(scores.size(), seeds.size(), "scores and seeds");
  protocol::UpdateAdapterRequest request;
  request.adapter_ptr = inst.ids(q.model.service_id, kAdapter).physical(adapter);
  request.scores.assign(scores.begin(), scores.end());
  request.seeds.assign(seeds.begin(), seeds.end());
  request.max_sigma = max_sigma;
  q.model.service->update_adapter(inst.key(), q.stream, std::move(request));
}

// ---- Forward passes -----------------------------------------------------------------------------

uint32_t HostApi::fp_create(Instance& inst, uint32_t queue) {
  const QueueObject& q = inst.handles().get<QueueObject>(queue);
  return inst.handles().insert(std::make_unique<ForwardPassObject>(q.model, q.stream));
}

void HostApi::fp_input_tokens(Instance& inst, uint32_t pass, std::span<const uint32_t> tokens,
                              std::span<const uint32_t> positions) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  check_same_length(tokens.size(), positions.size(), "tokens and positions");
  auto& r = fp.request;
  r.input_tokens.insert(r.input_tokens.end(), tokens.begin(), tokens.end());
  r.input_token_positions.insert(r.input_token_positions.end(), positions.begin(), positions.end());
}

void HostApi::fp_input_embeddings(Instance& inst, uint32_t pass, std::span<const uint32_t> embeds,
                                  std::span<const uint32_t> positions) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  check_same_length(embeds.size(), positions.size(), "embeddings and positions");
  const auto physical = inst.ids(fp.model.service_id, kEmbed).physical(embeds);
  auto& r = fp.request;
  r.input_embed_ptrs.insert(r.input_embed_ptrs.end(), physical.begin(), physical.end());
  r.input_embed_positions.insert(r.input_embed_positions.end(), positions.begin(), positions.end());
}

void HostApi::fp_output_embeddings(Instance& inst, uint32_t pass, std::span<const uint32_t> embeds,
                                   std::span<const uint32_t> indices) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  check_same_length(embeds.size(), indices.size(), "embeddings and indices");
  const auto physical = inst.ids(fp.model.service_id, kEmbed).physical(embeds);
  auto& r = fp.request;
  r.output_embed_ptrs.insert(r.output_embed_ptrs.end(), physical.begin(), physical.end());
  r.output_embed_indices.insert(r.output_embed_indices.end(), indices.begin(), indices.end());
}

void HostApi::fp_kv_cache(Instance& inst, uint32_t pass, std::span<const uint32_t> pages,
                          uint32_t last_page_len) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  fp.request.kv_page_ptrs = inst.ids(fp.model.service_id, kKvPage).physical(pages);
  fp.request.kv_page_last_len = last_page_len;
}

void HostApi::fp_attention_mask(Instance& inst, uint32_t pass,
                                std::vector<std::vector<uint32_t>> rows) {
  inst.handles().get<ForwardPassObject>(pass).request.mask = std::move(rows);
}

void HostApi::fp_output_distributions(Instance& inst, uint32_t pass,
                                      std::span<const uint32_t> indices, float temperature,
                                      std::optional<uint32_t> top_k) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  check_temperature(temperature);
  protocol::SamplerSpec spec;
  spec.kind = protocol::SamplerKind::Distribution;
  spec.temperature = temperature;
  spec.top_k = top_k.value_or(kDefaultTopK);
  if (*spec.top_k == 0) throw Error("a distribution needs top_k >= 1");
  for (uint32_t i : indices) {
    fp.request.output_token_indices.push_back(i);
    fp.request.output_token_samplers.push_back(spec);
  }
}

void HostApi::fp_output_tokens(Instance& inst, uint32_t pass, std::span<const uint32_t> indices,
                               const SamplerChoice& sampler) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  check_temperature(sampler.temperature);
  check_probability(sampler.top_p, "top_p");
  check_probability(sampler.min_p, "min_p");
  protocol::SamplerSpec spec;
  spec.kind = sampler.kind;
  spec.temperature = sampler.temperature;
  if (sampler.kind == protocol::SamplerKind::TopK ||
      sampler.kind == protocol::SamplerKind::TopKTopP) {
    if (sampler.top_k == 0) throw Error("top-k sampling needs top_k >= 1");
    spec.top_k = sampler.top_k;
  }
  spec.top_p = sampler.top_p;
  spec.min_p = sampler.min_p;
  for (uint32_t i : indices) {
    fp.request.output_token_indices.push_back(i);
    fp.request.output_token_samplers.push_back(spec);
  }
}

void HostApi::fp_set_adapter(Instance& inst, uint32_t pass, uint32_t adapter) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  fp.request.adapter = inst.ids(fp.model.service_id, kAdapter).physical(adapter);
}

void HostApi::fp_set_adapter_seed(Instance& inst, uint32_t pass, int64_t seed) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  if (!fp.request.adapter) throw Error("set an adapter before its seed");
  fp.request.adapter_seed = seed;
}

uint32_t HostApi::fp_execute(Instance& inst, uint32_t pass) {
  auto& fp = inst.handles().get<ForwardPassObject>(pass);
  protocol::ForwardPassRequest& r = fp.request;
  const size_t inputs = r.input_tokens.size();
  for (uint32_t i : r.output_token_indices) {
    if (i >= inputs) {
      throw Error("output index " + std::to_string(i) + " is outside the " +
                  std::to_string(inputs) + " input tokens of the pass");
    }
  }
  for (uint32_t i : r.output_embed_indices) {
    if (i >= inputs) {
      throw Error("output embedding index " + std::to_string(i) + " is outside the " +
                  std::to_string(inputs) + " input tokens of the pass");
    }
  }
  if (!r.mask.empty() && r.mask.size() != inputs) {
    throw Error("the attention mask has " + std::to_string(r.mask.size()) + " rows for " +
                std::to_string(inputs) + " input tokens");
  }
  if (r.mask.empty() && inputs > 0 && !r.kv_page_ptrs.empty()) {
    // No mask given: causal, the common case (the backend requires one row per input). Input i
    // sees every slot before it in the pages and itself; a bad page length is the backend's to
    // report.
    const uint64_t slots =
        uint64_t{fp.model.service->info().kv_page_size} * (r.kv_page_ptrs.size() - 1) +
        r.kv_page_last_len;
    if (slots >= inputs) {
      for (size_t i = 0; i < inputs; ++i) {
        r.mask.push_back({static_cast<uint32_t>(slots - inputs + i + 1)});
      }
    }
  }
  // What persists into the next pass of this builder (reference §2.5).
  protocol::ForwardPassRequest next;
  next.adapter = r.adapter;
  next.adapter_seed = r.adapter_seed;
  next.kv_page_last_len = r.kv_page_last_len;
  protocol::ForwardPassRequest request = std::exchange(r, std::move(next));

  if (request.output_token_indices.empty()) {
    fp.model.service->forward_pass(inst.key(), fp.stream, std::move(request), nullptr);
    return 0;
  }
  std::shared_ptr<FutureCore> core;
  const ModelRef model = fp.model;
  const engine::StreamId stream = fp.stream;
  const uint32_t h = new_future(inst, FutureKind::ForwardPass, core);
  model.service->forward_pass(inst.key(), stream, std::move(request),
                              [core](Result<protocol::ForwardPassResponse> result) {
                                if (!result.ok()) {
                                  core->fail(result.error().what());
                                } else if (result.value().error) {
                                  core->fail(*result.value().error);
                                } else {
                                  core->complete(std::move(result).value());
                                }
                              });
  return h;
}

// ---- Futures ------------------------------------------------------------------------------------

FutureObject& HostApi::ready_future(Instance& inst, uint32_t future) {
  FutureObject& f = inst.handles().get<FutureObject>(future);
  {
    std::lock_guard lock(inst.notifier()->mutex);
    if (!f.core->ready()) {
      throw Error("future " + std::to_string(future) + " is not ready: wait for it first");
    }
  }
  if (f.core->error()) throw Error(*f.core->error());
  return f;
}

const std::string& HostApi::future_text(Instance& inst, uint32_t future) {
  FutureObject& f = ready_future(inst, future);
  if (f.kind != FutureKind::Text) throw Error("this future holds no string");
  return std::get<std::string>(f.core->value());
}

const std::vector<uint32_t>& HostApi::future_ids(Instance& inst, uint32_t future) {
  FutureObject& f = ready_future(inst, future);
  if (f.kind != FutureKind::Allocation) throw Error("this future holds no allocation");
  if (!f.virtual_ids) {
    f.virtual_ids = inst.ids(f.model.service_id, f.resource_type)
                        .map(std::get<std::vector<uint32_t>>(f.core->value()));
  }
  return *f.virtual_ids;
}

std::vector<uint32_t> HostApi::future_tokens(Instance& inst, uint32_t future) {
  FutureObject& f = ready_future(inst, future);
  if (f.kind != FutureKind::ForwardPass) throw Error("this future is not a forward pass");
  return std::move(std::get<protocol::ForwardPassResponse>(f.core->value()).tokens);
}

std::vector<protocol::Distribution> HostApi::future_distributions(Instance& inst, uint32_t future) {
  FutureObject& f = ready_future(inst, future);
  if (f.kind != FutureKind::ForwardPass) throw Error("this future is not a forward pass");
  return std::move(std::get<protocol::ForwardPassResponse>(f.core->value()).dists);
}

std::optional<uint32_t> HostApi::future_blob(Instance& inst, uint32_t future) {
  FutureObject& f = ready_future(inst, future);
  if (f.kind != FutureKind::Blob) throw Error("this future holds no blob");
  if (f.taken) return std::nullopt;
  f.taken = true;
  return inst.handles().insert(
      std::make_unique<BlobObject>(std::move(std::get<std::string>(f.core->value()))));
}

// ---- Tokenizer ----------------------------------------------------------------------------------

std::vector<uint32_t> HostApi::tokenize(Instance& inst, uint32_t tokenizer, std::string_view text) {
  return inst.handles().get<TokenizerObject>(tokenizer).tokenizer->encode(text);
}

std::string HostApi::detokenize(Instance& inst, uint32_t tokenizer, std::span<const uint32_t> ids) {
  return inst.handles().get<TokenizerObject>(tokenizer).tokenizer->decode(ids);
}

std::vector<std::pair<uint32_t, std::string>> HostApi::vocabulary(Instance& inst,
                                                                  uint32_t tokenizer) {
  return inst.handles().get<TokenizerObject>(tokenizer).tokenizer->vocabulary();
}

// ---- Messages -----------------------------------------------------------------------------------

void HostApi::send(Instance& inst, std::string message) {
  if (inst.owner() != nullptr) inst.owner()->on_message(inst.id(), std::move(message));
}

uint32_t HostApi::receive(Instance& inst) {
  std::shared_ptr<FutureCore> core;
  const uint32_t h = new_future(inst, FutureKind::Text, core);
  inst.messages().pull([core](std::string m) { core->complete(std::move(m)); });
  return h;
}

void HostApi::send_blob(Instance& inst, uint32_t blob) {
  std::string data = std::move(inst.handles().get<BlobObject>(blob).data);
  inst.handles().get<BlobObject>(blob).data.clear();
  if (inst.owner() != nullptr) inst.owner()->on_blob(inst.id(), std::move(data));
}

uint32_t HostApi::receive_blob(Instance& inst) {
  std::shared_ptr<FutureCore> core;
  const uint32_t h = new_future(inst, FutureKind::Blob, core);
  inst.blobs().pull([core](std::string m) { core->complete(std::move(m)); });
  return h;
}

// ---- Blobs --------------------------------------------------------------------------------------

uint32_t HostApi::blob_create(Instance& inst, std::string data) {
  return inst.handles().insert(std::make_unique<BlobObject>(std::move(data)));
}

void HostApi::blob_write(Instance& inst, uint32_t blob, std::string_view data) {
  inst.handles().get<BlobObject>(blob).data.append(data);
}

std::string_view HostApi::blob_read(Instance& inst, uint32_t blob, uint64_t offset, uint64_t n) {
  const std::string& data = inst.handles().get<BlobObject>(blob).data;
  if (offset > data.size() || n > data.size() - offset) {
    throw Error("bytes [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                ") are outside the blob of " + std::to_string(data.size()) + " bytes");
  }
  return std::string_view(data).substr(offset, n);
}

uint64_t HostApi::blob_size(Instance& inst, uint32_t blob) {
  return inst.handles().get<BlobObject>(blob).data.size();
}

// ---- Broadcast ----------------------------------------------------------------------------------

void HostApi::broadcast(Instance&, const std::string& topic, const std::string& message) {
  services_.pubsub->publish(topic, message);
}

uint32_t HostApi::subscribe(Instance& inst, const std::string& topic) {
  std::weak_ptr<Notifier> notifier = inst.notifier();
  auto subscription = services_.pubsub->subscribe(topic, [notifier] {
    if (auto n = notifier.lock()) n->update([] {});
  });
  return inst.handles().insert(
      std::make_unique<SubscriptionObject>(*services_.pubsub, std::move(subscription)));
}

std::optional<std::string> HostApi::subscription_take(Instance& inst, uint32_t subscription) {
  return inst.handles().get<SubscriptionObject>(subscription).subscription->take();
}

void HostApi::unsubscribe(Instance& inst, uint32_t subscription) {
  auto& s = inst.handles().get<SubscriptionObject>(subscription);
  s.bus.unsubscribe(s.subscription);
}

// ---- Key-value store ----------------------------------------------------------------------------

std::optional<std::string> HostApi::store_get(std::string_view key) {
  return services_.kvs->get(key);
}
void HostApi::store_set(std::string_view key, std::string_view value) {
  services_.kvs->set(key, value);
}
void HostApi::store_delete(std::string_view key) {
  services_.kvs->erase(key);
}
bool HostApi::store_exists(std::string_view key) {
  return services_.kvs->exists(key);
}
std::vector<std::string> HostApi::store_keys() {
  return services_.kvs->keys();
}

// ---- HTTP ---------------------------------------------------------------------------------------

HttpExchange& HostApi::http(Instance& inst) {
  if (inst.http() == nullptr) {
    throw Error("this instance is not serving an HTTP request (only server instances are)");
  }
  return *inst.http();
}

}  // namespace pie::runtime
