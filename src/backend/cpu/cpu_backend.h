// The in-process CPU backend: a model loaded from disk, a paged KV cache, embedding slots, and
// batched forward passes on the CPU kernels (reference §4.4, §4.8). Requests are checked one by one
// (plan.h): a bad request gets an error response and the others of its batch still run. Responses
// come back in request order.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/plan.h"
#include "backend/cpu/transformer.h"
#include "backend/kv/kv_cache.h"
#include "backend/model/model_file.h"
#include "backend/sampling/sampler.h"
#include "common/thread_pool.h"

namespace pie::cpu {

struct CpuBackendOptions {
  uint32_t kv_page_size = 16;                      // token slots per KV page
  uint32_t kv_pages = 1024;                        // pages in the pool (resource 0)
  model::GgmlType kv_type = model::GgmlType::F32;  // KV storage: F32 or F16
  uint32_t embed_slots = 128;                      // embedding slots (resource 1)
  uint32_t max_dist_size = 64;                     // largest top-k of a distribution output
  unsigned threads = 0;                            // 0: one per hardware thread
  // Seed of the generator used by sampling outputs that carry no seed of their own; unset: random.
  std::optional<uint64_t> seed;
  std::string model_name;  // the name announced in the handshake; empty: the model's own
};

class CpuBackend final : public backend::Backend {
 public:
  // Prepares the model's weights and reserves the KV pool. Throws pie::Error for an unsupported
  // model (architecture, tensor type or shape) or bad options.
  CpuBackend(std::shared_ptr<const model::ModelFile> model, CpuBackendOptions options = {});

  protocol::HandshakeResponse handshake(const protocol::HandshakeRequest& request) override;
  std::vector<protocol::ForwardPassResponse> forward_pass(
      std::span<const protocol::ForwardPassRequest> batch) override;
  // "ping" -> "pong"; "stats" -> a JSON object of counters and settings.
  protocol::QueryResponse query(const protocol::QueryRequest& request) override;

  const CpuBackendOptions& options() const { return options_; }

  // Direct access to the embedding slots for in-process callers (tests, encoders that produce
  // embeddings): a slot's dim floats. Throws pie::Error for a slot out of range or a wrong size.
  std::span<const float> embedding(uint32_t slot) const;
  void write_embedding(uint32_t slot, std::span<const float> values);

 private:
  struct Stats {
    uint64_t batches = 0;
    uint64_t requests = 0;
    uint64_t rejected = 0;
    uint64_t input_tokens = 0;
    uint64_t outputs = 0;
    std::chrono::duration<double> busy{0};
  };

  void run(std::span<const protocol::ForwardPassRequest> batch, const std::vector<Plan>& plans,
           const std::vector<size_t>& requests, std::vector<protocol::ForwardPassResponse>& out);
  std::string stats_json() const;

  std::shared_ptr<const model::ModelFile> model_;
  CpuBackendOptions options_;
  ThreadPool pool_;
  Transformer transformer_;
  kv::KvCache cache_;
  std::vector<float> embeds_;  // embed_slots x dim
  sampling::Rng rng_;
  Limits limits_;
  Stats stats_;
  std::vector<float> x_, hidden_, logits_;
};

}  // namespace pie::cpu
