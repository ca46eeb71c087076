// The inferlet API (reference §2) in C++ terms, shared by the Wasm ABI bindings (wasm_abi.cpp) and
// the JavaScript bindings (js_api.cpp): one implementation of every call, taking the calling
// instance. Every misuse throws pie::Error; the bindings turn it into a trap of the instance.
// All calls run on the instance's own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/model_registry.h"
#include "engine/model_service.h"
#include "runtime/host_objects.h"
#include "runtime/instance.h"
#include "services/kv_store.h"
#include "services/pubsub.h"

namespace pie::runtime {

// What the API reaches beyond the calling instance.
struct HostServices {
  // The models, in registration order (a model's service id is its position). Models are never
  // removed, so handles may keep raw pointers to them.
  engine::ModelRegistry* models = nullptr;
  services::PubSub* pubsub = nullptr;
  services::KeyValueStore* kvs = nullptr;
  // Runtime-level debug queries ("ping", "get_instance_count", ...).
  std::function<std::string(std::string_view)> debug_query;
  std::string version;
};

// Sampler of a token output.
struct SamplerChoice {
  protocol::SamplerKind kind = protocol::SamplerKind::Multinomial;
  float temperature = 1.0F;
  uint32_t top_k = 0;
  float top_p = 1.0F;
  float min_p = 0.0F;
};

class HostApi {
 public:
  // Distribution size when the guest asks for none (reference §2.5).
  static constexpr uint32_t kDefaultTopK = 32;

  explicit HostApi(HostServices services) : services_(std::move(services)) {}

  // Handles and waiting.
  void drop(Instance& inst, uint32_t handle);
  // Index of a ready handle, or -1 after `timeout_ns` (< 0: none). Throws when the instance is
  // being terminated.
  int32_t wait(Instance& inst, std::span<const uint32_t> handles, int64_t timeout_ns);

  // Runtime.
  const std::string& version() const { return services_.version; }
  uint32_t debug_query(Instance& inst, std::string_view query);

  // Models.
  uint32_t model_get(Instance& inst, std::string_view name);
  std::vector<std::string> models() const;
  std::vector<std::string> models_with_traits(std::span<const std::string> traits) const;
  const engine::ModelInfo& model_info(Instance& inst, uint32_t model);
  uint32_t model_service_id(Instance& inst, uint32_t model);
  uint32_t model_create_queue(Instance& inst, uint32_t model);
  uint32_t model_tokenizer(Instance& inst, uint32_t model);
  // The conversation `messages_json` (a JSON array of {role, content}) rendered with the model's
  // chat template; nothing when the model has none. `begin_of_sequence` passes the tokenizer's
  // begin-of-sequence text as bos_token (else it is empty). No messages render, with or without a
  // template, as the begin-of-sequence text when the tokenizer adds one to a text (else "").
  std::optional<std::string> model_render_chat(Instance& inst, uint32_t model,
                                               std::string_view messages_json,
                                               bool add_generation_prompt, bool begin_of_sequence);

  // Queues.
  uint32_t queue_service_id(Instance& inst, uint32_t queue);
  uint32_t queue_synchronize(Instance& inst, uint32_t queue);
  void queue_set_priority(Instance& inst, uint32_t queue, uint32_t priority);
  uint32_t queue_debug_query(Instance& inst, uint32_t queue, std::string_view query);

  // Resources.
  uint32_t allocate(Instance& inst, uint32_t queue, uint32_t type, uint32_t count);
  void deallocate(Instance& inst, uint32_t queue, uint32_t type, std::span<const uint32_t> ids);
  void export_resources(Instance& inst, uint32_t queue, uint32_t type,
                        std::span<const uint32_t> ids, std::string_view name);
  std::vector<uint32_t> import_resources(Instance& inst, uint32_t queue, uint32_t type,
                                         std::string_view name);
  std::vector<std::pair<std::string, uint32_t>> exported_resources(Instance& inst, uint32_t queue,
                                                                   uint32_t type);
  void release_exported(Instance& inst, uint32_t queue, uint32_t type, std::string_view name);

  // Images and adapters (fire and forget: a failure ends the instance later).
  void embed_image(Instance& inst, uint32_t queue, std::span<const uint32_t> embeds,
                   std::string image, uint32_t position_offset);
  void initialize_adapter(Instance& inst, uint32_t queue, uint32_t adapter, uint32_t rank,
                          float alpha, uint32_t population_size, float mu_fraction,
                          float initial_sigma);
  void update_adapter(Instance& inst, uint32_t queue, uint32_t adapter,
                      std::span<const float> scores, std::span<const int64_t> seeds,
                      float max_sigma);

  // Forward passes.
  uint32_t fp_create(Instance& inst, uint32_t queue);
  void fp_input_tokens(Instance& inst, uint32_t pass, std::span<const uint32_t> tokens,
                       std::span<const uint32_t> positions);
  void fp_input_embeddings(Instance& inst, uint32_t pass, std::span<const uint32_t> embeds,
                           std::span<const uint32_t> positions);
  void fp_output_embeddings(Instance& inst, uint32_t pass, std::span<const uint32_t> embeds,
                            std::span<const uint32_t> indices);
  void fp_kv_cache(Instance& inst, uint32_t pass, std::span<const uint32_t> pages,
                   uint32_t last_page_len);
  void fp_attention_mask(Instance& inst, uint32_t pass, std::vector<std::vector<uint32_t>> rows);
  void fp_output_distributions(Instance& inst, uint32_t pass, std::span<const uint32_t> indices,
                               float temperature, std::optional<uint32_t> top_k);
  void fp_output_tokens(Instance& inst, uint32_t pass, std::span<const uint32_t> indices,
                        const SamplerChoice& sampler);
  void fp_set_adapter(Instance& inst, uint32_t pass, uint32_t adapter);
  void fp_set_adapter_seed(Instance& inst, uint32_t pass, int64_t seed);
  // A future handle, or 0 when the pass requests no token output.
  uint32_t fp_execute(Instance& inst, uint32_t pass);

  // Reading ready futures.
  FutureObject& ready_future(Instance& inst, uint32_t future);
  const std::string& future_text(Instance& inst, uint32_t future);
  const std::vector<uint32_t>& future_ids(Instance& inst, uint32_t future);
  std::vector<uint32_t> future_tokens(Instance& inst, uint32_t future);
  std::vector<protocol::Distribution> future_distributions(Instance& inst, uint32_t future);
  // A blob handle, or nothing after the first call.
  std::optional<uint32_t> future_blob(Instance& inst, uint32_t future);

  // Tokenizer.
  std::vector<uint32_t> tokenize(Instance& inst, uint32_t tokenizer, std::string_view text);
  std::string detokenize(Instance& inst, uint32_t tokenizer, std::span<const uint32_t> ids);
  std::vector<std::pair<uint32_t, std::string>> vocabulary(Instance& inst, uint32_t tokenizer);

  // Messages with the client.
  void send(Instance& inst, std::string message);
  uint32_t receive(Instance& inst);
  void send_blob(Instance& inst, uint32_t blob);
  uint32_t receive_blob(Instance& inst);

  // Blobs.
  uint32_t blob_create(Instance& inst, std::string data);
  void blob_write(Instance& inst, uint32_t blob, std::string_view data);
  std::string_view blob_read(Instance& inst, uint32_t blob, uint64_t offset, uint64_t n);
  uint64_t blob_size(Instance& inst, uint32_t blob);

  // Broadcast.
  void broadcast(Instance& inst, const std::string& topic, const std::string& message);
  uint32_t subscribe(Instance& inst, const std::string& topic);
  std::optional<std::string> subscription_take(Instance& inst, uint32_t subscription);
  void unsubscribe(Instance& inst, uint32_t subscription);

  // Key-value store.
  std::optional<std::string> store_get(std::string_view key);
  void store_set(std::string_view key, std::string_view value);
  void store_delete(std::string_view key);
  bool store_exists(std::string_view key);
  std::vector<std::string> store_keys();

  // HTTP server instances.
  HttpExchange& http(Instance& inst);

 private:
  uint32_t new_future(Instance& inst, FutureKind kind, std::shared_ptr<FutureCore>& core);

  HostServices services_;
};

}  // namespace pie::runtime
