// The compute kernels of the CPU backend: matrix products over weights in their file formats,
// normalisation, activation, RoPE and paged attention. Each runs on a ThreadPool and dispatches to
// the instruction-set level in use (isa.h).
//
// Batch invariance: every output row depends only on its own input row (and, for attention, on its
// own sequence), computed by the same instructions in the same order whatever else is in the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backend/kernels/weight_layout.h"
#include "backend/model/ggml_type.h"
#include "backend/model/model_file.h"
#include "common/thread_pool.h"

namespace pie::kernels {

// A weight matrix: `rows` rows of `cols` elements of `type`, as stored in the model file (row n at
// data + n * row_bytes) or repacked.
struct WeightMatrix {
  model::GgmlType type = model::GgmlType::F32;
  const std::byte* data = nullptr;
  uint64_t rows = 0;
  uint64_t cols = 0;
  uint64_t row_bytes = 0;
  WeightLayout layout = WeightLayout::Rows;
};

// Whether matmul reads weights of this type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K.
bool supported_weight_type(model::GgmlType type);
// The tensor as a matrix; throws pie::Error for an unsupported type or a tensor that is not 2-D.
WeightMatrix weight_matrix(const model::Tensor& tensor);

// A copy of a matrix in the layout the kernels in use read fastest; `matrix` points into `bytes`.
struct PackedWeights {
  WeightMatrix matrix;
  std::vector<std::byte> bytes;
};
// The packed copy of `w` (rows layout), made on `pool`, or nothing when the kernels in use read its
// rows as they are. Matrices packed for one instruction-set level cannot be multiplied on another
// (matmul throws pie::Error).
std::optional<PackedWeights> pack_weights(ThreadPool& pool, const WeightMatrix& w);

// One product of a matmul call: y[m][n] = sum_k x[m][k] * w[n][k] (plus y[m][n] when accumulate).
struct MatmulOutput {
  const WeightMatrix* w = nullptr;
  float* y = nullptr;
  size_t ldy = 0;
  bool accumulate = false;
};

// Computes every output for the `rows` rows of x (row length = the weights' cols, stride ldx).
// Outputs that share x (q/k/v, gate/up) go in one call: x is quantised once and the work of all
// of them is spread over the pool together.
void matmul(ThreadPool& pool, const float* x, size_t ldx, size_t rows,
            std::span<const MatmulOutput> outputs);
void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, size_t ldx, size_t rows,
            float* y, size_t ldy, bool accumulate = false);

// y = x / rms(x) * weight, per row of n elements (y may be x).
void rmsnorm(ThreadPool& pool, const float* x, size_t ldx, size_t rows, const float* weight,
             size_t n, float eps, float* y, size_t ldy);
// Per head: the same, over each head_dim-long slice of each row (Qwen3's Q/K norms), in place.
void rmsnorm_heads(ThreadPool& pool, float* x, size_t ldx, size_t rows, size_t heads,
                   size_t head_dim, const float* weight, float eps);
// out = silu(gate) * up, element-wise over rows x n (all with stride ld).
void swiglu(ThreadPool& pool, const float* gate, const float* up, float* out, size_t ld,
            size_t rows, size_t n);
// y += x, rows x n.
void add(ThreadPool& pool, const float* x, size_t ldx, float* y, size_t ldy, size_t rows, size_t n);

// Rotates the first rope.dims elements of each head of each row by the row's position, in the
// style the model uses. inv_freq: model::rope_inverse_frequencies(rope).
void rope(float* x, size_t ldx, size_t rows, size_t heads, size_t head_dim,
          std::span<const uint32_t> positions, std::span<const float> inv_freq,
          model::RopeStyle style);

// probs = softmax(x * scale) over n elements (the maximum subtracted first).
void softmax(const float* x, size_t n, float scale, float* probs);

// Stores a row of n floats as F32 or F16.
void store_row(const float* x, model::GgmlType type, std::byte* dst, size_t n);

// The keys and values of one sequence for attention: its pages for one layer, in sequence order.
// Within a page, kv head h, slot s starts at element (h * page_size + s) * head_dim.
struct AttentionSequence {
  std::span<const std::byte* const> k_pages;
  std::span<const std::byte* const> v_pages;
  size_t context = 0;  // C: slots before this pass's first token
  size_t tokens = 0;   // n: query tokens in this pass (their K/V already stored at C .. C+n-1)
  const float* q = nullptr;  // token t, query head h at q + t * ldq + h * head_dim
  float* out = nullptr;      // same layout, stride ldout
  // Mask row per token (BRLE runs attend, skip, ... over C + t + 1 slots), or empty for causal.
  std::span<const std::span<const uint32_t>> masks;
};

struct AttentionShape {
  size_t heads = 0;
  size_t kv_heads = 0;
  size_t head_dim = 0;
  size_t page_size = 0;
  model::GgmlType kv_type = model::GgmlType::F32;
  size_t ldq = 0;
  size_t ldout = 0;
  float scale = 1.0F;
};

// Attention of every sequence's tokens over its pages (mask rows honoured; rows that attend to
// every slot take the causal path).
void attention(ThreadPool& pool, const AttentionShape& shape,
               std::span<const AttentionSequence> sequences);

}  // namespace pie::kernels
