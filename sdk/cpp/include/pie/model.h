// Models, queues, resources (KV pages, embeddings, adapters), forward passes and tokenizers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pie/core.h"

namespace pie {

enum class Resource : uint32_t {
  KvPage = PIE_RESOURCE_KV_PAGE,
  Embed = PIE_RESOURCE_EMBED,
  Adapter = PIE_RESOURCE_ADAPTER,
};

enum class Priority : uint32_t {
  Low = PIE_PRIORITY_LOW,
  Normal = PIE_PRIORITY_NORMAL,
  High = PIE_PRIORITY_HIGH,
};

class Queue;
class Tokenizer;
class ForwardPass;
class Context;

class Model {
 public:
  // The model registered under `name`, if any.
  static std::optional<Model> get(std::string_view name);
  // The first registered model; ends the instance when there is none.
  static Model first();
  // Names of all models, in registration order.
  static std::vector<std::string> names();
  // Names of the models having every one of `traits`.
  static std::vector<std::string> with_traits(std::span<const std::string> traits);

  std::string name() const;
  std::string description() const;
  std::string prompt_template() const;
  std::vector<std::string> traits() const;
  std::vector<std::string> stop_tokens() const;
  uint32_t service_id() const;
  uint32_t kv_page_size() const;
  Queue create_queue() const;
  Tokenizer tokenizer() const;
  // A new, empty Context (pie/context.h) with its own queue.
  Context create_context() const;
  pie_handle handle() const { return handle_->get(); }

 private:
  explicit Model(pie_handle h) : handle_(std::make_shared<Handle>(h)) {}
  std::shared_ptr<Handle> handle_;
};

// One slot (KV page, embedding or adapter) held by the instance, freed when the last copy of it
// is destroyed. Copies share the slot.
template <Resource R>
class Slot {
 public:
  uint32_t id() const { return state_->id; }

 private:
  friend class Queue;
  struct State {
    State(std::shared_ptr<Handle> q, uint32_t i) : queue(std::move(q)), id(i) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() { pie_deallocate(queue->get(), static_cast<uint32_t>(R), &id, 1); }
    std::shared_ptr<Handle> queue;
    uint32_t id;
  };
  Slot(std::shared_ptr<Handle> queue, uint32_t id)
      : state_(std::make_shared<State>(std::move(queue), id)) {}
  std::shared_ptr<const State> state_;
};

using KvPage = Slot<Resource::KvPage>;
using Embed = Slot<Resource::Embed>;
using Adapter = Slot<Resource::Adapter>;

template <Resource R>
std::vector<uint32_t> ids_of(std::span<const Slot<R>> slots) {
  std::vector<uint32_t> ids;
  ids.reserve(slots.size());
  for (const auto& s : slots) ids.push_back(s.id());
  return ids;
}

// A command queue on one model: commands on a queue run in submission order. Copies share it.
class Queue {
 public:
  uint32_t service_id() const;
  // Ready once every command submitted earlier on this queue has completed.
  Future<void> synchronize() const;
  void set_priority(Priority priority) const;
  // A query to the model's backend.
  Future<std::string> debug_query(std::string_view query) const;

  // Slots freed automatically (RAII). Allocation waits while the engine makes room.
  std::vector<KvPage> allocate_kv_pages(uint32_t count) const {
    return allocate<Resource::KvPage>(count);
  }
  std::vector<Embed> allocate_embeds(uint32_t count) const {
    return allocate<Resource::Embed>(count);
  }
  std::vector<Adapter> allocate_adapters(uint32_t count) const {
    return allocate<Resource::Adapter>(count);
  }
  template <Resource R>
  std::vector<Slot<R>> allocate(uint32_t count) const {
    return wrap<R>(allocate_ids(R, count).get());
  }
  // Maps the slots of export `name` into this instance (freed from this instance when dropped;
  // the export itself stays until released).
  template <Resource R>
  std::vector<Slot<R>> import(std::string_view name) const {
    return wrap<R>(import_ids(R, name));
  }

  // The raw calls, on ids (no RAII).
  Future<std::vector<uint32_t>> allocate_ids(Resource type, uint32_t count) const;
  void deallocate_ids(Resource type, std::span<const uint32_t> ids) const;
  std::vector<uint32_t> import_ids(Resource type, std::string_view name) const;
  // Publishes slots under `name`: they then outlive this instance (the ids stay usable here).
  void export_ids(Resource type, std::span<const uint32_t> ids, std::string_view name) const;
  template <Resource R>
  void export_slots(std::span<const Slot<R>> slots, std::string_view name) const {
    export_ids(R, ids_of<R>(slots), name);
  }
  // All exports of `type` on the model: (name, number of slots).
  std::vector<std::pair<std::string, uint32_t>> exported(Resource type) const;
  // Deletes an export and frees its slots.
  void release_exported(Resource type, std::string_view name) const;

  // Images and adapters, in queue order (fire and forget: a failure ends the instance).
  void embed_image(std::span<const Embed> embeds, std::string_view image,
                   uint32_t position_offset) const;
  void initialize_adapter(const Adapter& adapter, uint32_t rank, float alpha,
                          uint32_t population_size, float mu_fraction, float initial_sigma) const;
  // One evolution step: scores and noise seeds of the population (same length).
  void update_adapter(const Adapter& adapter, std::span<const float> scores,
                      std::span<const int64_t> seeds, float max_sigma) const;

  ForwardPass forward_pass() const;
  pie_handle handle() const { return handle_->get(); }

 private:
  friend class Model;
  explicit Queue(pie_handle h) : handle_(std::make_shared<Handle>(h)) {}
  template <Resource R>
  std::vector<Slot<R>> wrap(const std::vector<uint32_t>& ids) const {
    std::vector<Slot<R>> slots;
    slots.reserve(ids.size());
    for (uint32_t id : ids) slots.push_back(Slot<R>(handle_, id));
    return slots;
  }
  std::shared_ptr<Handle> handle_;
};

// A next-token distribution: token ids by decreasing probability.
struct Distribution {
  std::vector<uint32_t> ids;
  std::vector<float> probs;
};

struct ForwardResult {
  std::vector<uint32_t> tokens;             // sampled tokens, in request order
  std::vector<Distribution> distributions;  // distributions, in request order
};

// Builds and submits forward passes on a queue. After execute the builder is empty again, except
// for its adapter, adapter seed and last page length.
class ForwardPass {
 public:
  ForwardPass& input_tokens(std::span<const uint32_t> tokens, std::span<const uint32_t> positions);
  ForwardPass& input_embeddings(std::span<const uint32_t> embeds,
                                std::span<const uint32_t> positions);
  // Store the hidden state of input token indices[i] into embedding embeds[i].
  ForwardPass& output_embeddings(std::span<const uint32_t> embeds,
                                 std::span<const uint32_t> indices);
  // The sequence's KV pages in order, and how many slots of the last page hold tokens once this
  // pass has run (its own tokens included).
  ForwardPass& kv_cache(std::span<const uint32_t> pages, uint32_t last_page_len);
  ForwardPass& kv_cache(std::span<const KvPage> pages, uint32_t last_page_len);
  // One BRLE row per input token.
  ForwardPass& attention_mask(std::span<const std::vector<uint32_t>> rows);
  // Top-k distributions after input tokens `indices` (no top_k: the engine's default, 32).
  ForwardPass& output_distributions(std::span<const uint32_t> indices, float temperature,
                                    std::optional<uint32_t> top_k = std::nullopt);
  // Sampled tokens (temperature 0: greedy).
  ForwardPass& output_tokens(std::span<const uint32_t> indices, float temperature);
  ForwardPass& output_tokens_top_k(std::span<const uint32_t> indices, float temperature,
                                   uint32_t top_k);
  ForwardPass& output_tokens_top_p(std::span<const uint32_t> indices, float temperature,
                                   float top_p);
  ForwardPass& output_tokens_min_p(std::span<const uint32_t> indices, float temperature,
                                   float min_p);
  ForwardPass& output_tokens_top_k_top_p(std::span<const uint32_t> indices, float temperature,
                                         uint32_t top_k, float top_p);
  ForwardPass& adapter(const Adapter& adapter);
  ForwardPass& adapter_seed(int64_t seed);
  // Submits the pass: a future when it requests token outputs, else nothing (synchronize the
  // queue to wait for it).
  std::optional<Future<ForwardResult>> execute();
  pie_handle handle() const { return handle_.get(); }

 private:
  friend class Queue;
  explicit ForwardPass(pie_handle h) : handle_(h) {}
  Handle handle_;
};

class Tokenizer {
 public:
  // Special tokens written in the text are recognised.
  std::vector<uint32_t> tokenize(std::string_view text) const;
  std::string detokenize(std::span<const uint32_t> ids) const;
  // The ordinary vocabulary: (id, bytes), special tokens excluded.
  std::vector<std::pair<uint32_t, std::string>> vocabulary() const;
  pie_handle handle() const { return handle_->get(); }

 private:
  friend class Model;
  explicit Tokenizer(pie_handle h) : handle_(std::make_shared<Handle>(h)) {}
  std::shared_ptr<Handle> handle_;
};

}  // namespace pie
