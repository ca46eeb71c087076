// The decoder stack of the supported architectures (Llama 2/3, Mistral, Qwen2/2.5, Qwen3) over a
// batch of sequences: weights prepared for the kernels at construction, then per layer RMSNorm,
// Q/K/V projections (+ bias, + per-head Q/K norm), RoPE at each input's position, K/V stored in the
// sequences' pages, masked paged attention, output projection, RMSNorm and the SwiGLU feed-forward.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu/plan.h"
#include "backend/kernels/kernels.h"
#include "backend/kv/kv_cache.h"
#include "backend/model/model_file.h"
#include "common/thread_pool.h"

namespace pie::cpu {

class Transformer {
 public:
  // Checks that every tensor has the shape and a type the kernels read; throws pie::Error naming
  // the tensor otherwise. `model` must outlive the Transformer. Weights the kernels in use read
  // faster repacked are repacked on `pool`.
  Transformer(const model::ModelFile& model, ThreadPool& pool);

  const model::ModelConfig& config() const { return config_; }
  // Bytes of the weight matrices repacked for the kernels in use (kernels::pack_weights).
  uint64_t packed_bytes() const;

  // A planned request and the batch row of its first input.
  struct Sequence {
    const Plan* plan;
    size_t first_row;
  };

  // The embedding of `token` (dim floats).
  void embed_token(uint32_t token, float* out) const;

  // Runs every layer over the batch. x: [rows][dim], the input embeddings of every sequence's
  // inputs in order; on return the residual stream after the last layer. Each input's K/V are
  // written to its sequence's pages before attention.
  void run_layers(ThreadPool& pool, const kv::KvCache& cache, std::span<const Sequence> sequences,
                  float* x, size_t rows);

  // out[i] = final RMSNorm of x[rows[i]] (the hidden state outputs and logits are computed from).
  void final_norm(ThreadPool& pool, const float* x, std::span<const size_t> rows, float* out) const;

  // logits[i] = output projection of hidden[i], vocab_size floats each.
  void logits(ThreadPool& pool, const float* hidden, size_t rows, float* out) const;

 private:
  struct Layer {
    kernels::WeightMatrix q, k, v, o, gate, up, down;
    std::vector<float> attn_norm, ffn_norm;
    std::vector<float> q_bias, k_bias, v_bias;  // empty without QKV bias
    std::vector<float> q_norm, k_norm;          // empty without Q/K norm
  };

  // `w`, or its copy packed for the kernels in use (kept in packed_).
  kernels::WeightMatrix prepare(ThreadPool& pool, const kernels::WeightMatrix& w);

  void attention_block(ThreadPool& pool, const kv::KvCache& cache, uint32_t layer,
                       std::span<const Sequence> sequences, float* x, size_t rows);
  void feed_forward(ThreadPool& pool, const Layer& l, float* x, size_t rows);

  const model::ModelFile& model_;
  model::ModelConfig config_;
  std::vector<Layer> layers_;
  const model::Tensor* token_embd_;
  kernels::WeightMatrix output_;
  std::vector<float> output_norm_;
  std::vector<float> inv_freq_;
  // The bytes of the matrices repacked by prepare, which layers_ and output_ point into.
  std::vector<std::vector<std::byte>> packed_;

  // Per-batch buffers, grown as needed.
  std::vector<float> xn_, q_, k_, v_, att_, gate_, up_;
  std::vector<uint32_t> positions_;
};

}  // namespace pie::cpu
