#include "backend/cpu/transformer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "backend/model/quant.h"
#include "common/error.h"

namespace pie::cpu {

namespace {

using model::Tensor;

std::string shape_text(const Tensor& t) {
  std::string s = "{";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(t.shape[i]);
  return s + "}";
}

// A matrix of `rows` rows of `cols` elements (GGUF shape {cols, rows}).
kernels::WeightMatrix matrix(const Tensor& t, uint64_t cols, uint64_t rows) {
  if (t.shape.size() != 2 || t.shape[0] != cols || t.shape[1] != rows) {
    throw Error("tensor " + t.name + " has shape " + shape_text(t) + ", expected {" +
                std::to_string(cols) + ", " + std::to_string(rows) + "}");
  }
  return kernels::weight_matrix(t);
}

// A vector of n elements, converted to floats.
std::vector<float> vector_of(const Tensor& t, uint64_t n) {
  if (t.elements() != n) {
    throw Error("tensor " + t.name + " has " + std::to_string(t.elements()) +
                " elements, expected " + std::to_string(n));
  }
  if (!model::can_convert(t.type)) {
    throw Error("tensor " + t.name + " has type " + model::type_name(t.type) +
                ", which cannot be converted to floats");
  }
  std::vector<float> out(n);
  model::dequantize_row(t.type, t.data, out.data(), static_cast<int64_t>(n));
  return out;
}

template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

Transformer::Transformer(const model::ModelFile& model, ThreadPool& pool)
    : model_(model), config_(model.config()), token_embd_(&model.tensor("token_embd.weight")) {
  const model::ModelConfig& c = config_;
  if (c.n_layers == 0 || c.dim == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.head_dim == 0 ||
      c.ffn_dim == 0 || c.vocab_size == 0) {
    throw Error("model " + c.name + ": a dimension is zero");
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    throw Error("model " + c.name + ": " + std::to_string(c.n_heads) +
                " query heads are not a multiple of " + std::to_string(c.n_kv_heads) + " KV heads");
  }
  if (c.head_dim > 256) throw Error("model " + c.name + ": head size above 256 is not supported");
  if (c.rope.dims % 2 != 0 || c.rope.dims > c.head_dim) {
    throw Error("model " + c.name + ": RoPE dimensions must be even and at most the head size");
  }
  const uint64_t q_rows = uint64_t{c.n_heads} * c.head_dim;
  const uint64_t kv_rows = uint64_t{c.n_kv_heads} * c.head_dim;
  for (uint32_t i = 0; i < c.n_layers; ++i) {
    auto t = [&](const char* suffix) -> const Tensor& { return model.layer_tensor(i, suffix); };
    Layer l;
    l.q = prepare(pool, matrix(t("attn_q.weight"), c.dim, q_rows));
    l.k = prepare(pool, matrix(t("attn_k.weight"), c.dim, kv_rows));
    l.v = prepare(pool, matrix(t("attn_v.weight"), c.dim, kv_rows));
    l.o = prepare(pool, matrix(t("attn_output.weight"), q_rows, c.dim));
    l.gate = prepare(pool, matrix(t("ffn_gate.weight"), c.dim, c.ffn_dim));
    l.up = prepare(pool, matrix(t("ffn_up.weight"), c.dim, c.ffn_dim));
    l.down = prepare(pool, matrix(t("ffn_down.weight"), c.ffn_dim, c.dim));
    l.attn_norm = vector_of(t("attn_norm.weight"), c.dim);
    l.ffn_norm = vector_of(t("ffn_norm.weight"), c.dim);
    if (c.qkv_bias) {
      l.q_bias = vector_of(t("attn_q.bias"), q_rows);
      l.k_bias = vector_of(t("attn_k.bias"), kv_rows);
      l.v_bias = vector_of(t("attn_v.bias"), kv_rows);
    }
    if (c.qk_norm) {
      l.q_norm = vector_of(t("attn_q_norm.weight"), c.head_dim);
      l.k_norm = vector_of(t("attn_k_norm.weight"), c.head_dim);
    }
    layers_.push_back(std::move(l));
  }
  output_ = prepare(pool, matrix(model.output_weight(), c.dim, c.vocab_size));
  output_norm_ = vector_of(model.tensor("output_norm.weight"), c.dim);
  if (token_embd_->shape.size() != 2 || token_embd_->shape[0] != c.dim ||
      token_embd_->shape[1] != c.vocab_size || !model::can_convert(token_embd_->type)) {
    throw Error("tensor token_embd.weight has shape " + shape_text(*token_embd_) + " and type " +
                model::type_name(token_embd_->type) + ", expected {" + std::to_string(c.dim) +
                ", " + std::to_string(c.vocab_size) + "} of a convertible type");
  }
  inv_freq_ = model::rope_inverse_frequencies(c.rope);
}

uint64_t Transformer::packed_bytes() const {
  uint64_t total = 0;
  for (const std::vector<std::byte>& bytes : packed_) total += bytes.size();
  return total;
}

kernels::WeightMatrix Transformer::prepare(ThreadPool& pool, const kernels::WeightMatrix& w) {
  std::optional<kernels::PackedWeights> packed = kernels::pack_weights(pool, w);
  if (!packed) return w;
  packed_.push_back(std::move(packed->bytes));  // moving keeps the buffer the matrix points into
  return packed->matrix;
}

void Transformer::embed_token(uint32_t token, float* out) const {
  const uint64_t rb = model::row_bytes(token_embd_->type, config_.dim);
  model::dequantize_row(token_embd_->type, token_embd_->data + rb * token, out, config_.dim);
}

void Transformer::run_layers(ThreadPool& pool, const kv::KvCache& cache,
                             std::span<const Sequence> sequences, float* x, size_t rows) {
  const model::ModelConfig& c = config_;
  grow(xn_, rows * c.dim);
  grow(q_, rows * c.n_heads * c.head_dim);
  grow(att_, rows * c.n_heads * c.head_dim);
  grow(k_, rows * c.n_kv_heads * c.head_dim);
  grow(v_, rows * c.n_kv_heads * c.head_dim);
  grow(gate_, rows * c.ffn_dim);
  grow(up_, rows * c.ffn_dim);
  positions_.assign(rows, 0);
  for (const Sequence& s : sequences) {
    for (size_t i = 0; i < s.plan->inputs.size(); ++i) {
      positions_[s.first_row + i] = s.plan->inputs[i].position;
    }
  }
  for (uint32_t layer = 0; layer < c.n_layers; ++layer) {
    attention_block(pool, cache, layer, sequences, x, rows);
    feed_forward(pool, layers_[layer], x, rows);
  }
}

void Transformer::attention_block(ThreadPool& pool, const kv::KvCache& cache, uint32_t layer,
                                  std::span<const Sequence> sequences, float* x, size_t rows) {
  const model::ModelConfig& c = config_;
  const Layer& l = layers_[layer];
  const size_t q_width = size_t{c.n_heads} * c.head_dim;
  const size_t kv_width = size_t{c.n_kv_heads} * c.head_dim;

  kernels::rmsnorm(pool, x, c.dim, rows, l.attn_norm.data(), c.dim, c.rms_eps, xn_.data(), c.dim);
  const kernels::MatmulOutput qkv[] = {
      {&l.q, q_.data(), q_width}, {&l.k, k_.data(), kv_width}, {&l.v, v_.data(), kv_width}};
  kernels::matmul(pool, xn_.data(), c.dim, rows, qkv);
  if (!l.q_bias.empty()) {
    for (size_t r = 0; r < rows; ++r) {
      for (size_t i = 0; i < q_width; ++i) q_[r * q_width + i] += l.q_bias[i];
      for (size_t i = 0; i < kv_width; ++i) {
        k_[r * kv_width + i] += l.k_bias[i];
        v_[r * kv_width + i] += l.v_bias[i];
      }
    }
  }
  if (!l.q_norm.empty()) {
    kernels::rmsnorm_heads(pool, q_.data(), q_width, rows, c.n_heads, c.head_dim, l.q_norm.data(),
                           c.rms_eps);
    kernels::rmsnorm_heads(pool, k_.data(), kv_width, rows, c.n_kv_heads, c.head_dim,
                           l.k_norm.data(), c.rms_eps);
  }
  kernels::rope(q_.data(), q_width, rows, c.n_heads, c.head_dim, positions_, inv_freq_,
                c.rope.style);
  kernels::rope(k_.data(), kv_width, rows, c.n_kv_heads, c.head_dim, positions_, inv_freq_,
                c.rope.style);

  // Store this pass's keys and values, then attend. Page tables as pointer lists per sequence.
  const uint32_t ps = cache.shape().page_size;
  std::vector<std::vector<const std::byte*>> k_pages(sequences.size());
  std::vector<std::vector<const std::byte*>> v_pages(sequences.size());
  std::vector<kernels::AttentionSequence> att_seqs;
  att_seqs.reserve(sequences.size());
  for (size_t s = 0; s < sequences.size(); ++s) {
    const Plan& p = *sequences[s].plan;
    const size_t r0 = sequences[s].first_row;
    for (size_t i = 0; i < p.inputs.size(); ++i) {
      const size_t slot = p.context + i;
      cache.store(layer, p.pages[slot / ps], static_cast<uint32_t>(slot % ps),
                  k_.data() + (r0 + i) * kv_width, v_.data() + (r0 + i) * kv_width);
    }
    for (uint32_t page : p.pages) {
      k_pages[s].push_back(cache.keys(layer, page));
      v_pages[s].push_back(cache.values(layer, page));
    }
    att_seqs.push_back({k_pages[s], v_pages[s], p.context, p.inputs.size(),
                        q_.data() + r0 * q_width, att_.data() + r0 * q_width, p.masks});
  }
  const kernels::AttentionShape shape{c.n_heads,
                                      c.n_kv_heads,
                                      c.head_dim,
                                      ps,
                                      cache.shape().type,
                                      q_width,
                                      q_width,
                                      1.0F / std::sqrt(static_cast<float>(c.head_dim))};
  kernels::attention(pool, shape, att_seqs);
  kernels::matmul(pool, l.o, att_.data(), q_width, rows, x, c.dim, /*accumulate=*/true);
}

void Transformer::feed_forward(ThreadPool& pool, const Layer& l, float* x, size_t rows) {
  const model::ModelConfig& c = config_;
  kernels::rmsnorm(pool, x, c.dim, rows, l.ffn_norm.data(), c.dim, c.rms_eps, xn_.data(), c.dim);
  const kernels::MatmulOutput gate_up[] = {{&l.gate, gate_.data(), c.ffn_dim},
                                           {&l.up, up_.data(), c.ffn_dim}};
  kernels::matmul(pool, xn_.data(), c.dim, rows, gate_up);
  kernels::swiglu(pool, gate_.data(), up_.data(), gate_.data(), c.ffn_dim, rows, c.ffn_dim);
  kernels::matmul(pool, l.down, gate_.data(), c.ffn_dim, rows, x, c.dim, /*accumulate=*/true);
}

void Transformer::final_norm(ThreadPool& pool, const float* x, std::span<const size_t> rows,
                             float* out) const {
  const size_t dim = config_.dim;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(x + rows[i] * dim, x + (rows[i] + 1) * dim, out + i * dim);
  }
  kernels::rmsnorm(pool, out, dim, rows.size(), output_norm_.data(), dim, config_.rms_eps, out,
                   dim);
}

void Transformer::logits(ThreadPool& pool, const float* hidden, size_t rows, float* out) const {
  kernels::matmul(pool, output_, hidden, config_.dim, rows, out, config_.vocab_size);
}

}  // namespace pie::cpu
