// The interface between the ISA-independent drivers (matmul.cpp, ops.cpp) and the per-ISA
// translation units (scalar.cpp, avx2.cpp, avx512.cpp). Internal to the kernels folder.
//
// The per-ISA files are compiled with that level's instruction flags. So that no function compiled
// with AVX-512 instructions can be picked by the linker for a caller on another path, those files
// include only this header, <immintrin.h> and C headers, keep everything in an ISA-named namespace,
// and use no standard-library template: the only way in is the function table below.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/kernels/weight_layout.h"
#include "backend/model/ggml_type.h"

namespace pie::kernels::detail {

// The Lanes16 layout of Q8_0 weights: groups of 16 rows (the last padded with zero rows), group G
// at w + G * (k / 32) * 544, block b of a group at + b * 544: 8 x 64 bytes, dword j of which holds
// elements 4j..4j+3 of the block for each of the 16 rows (as value + 128), then the 16 rows' block
// scales (fp16, as in the file): 544 bytes, the size of the 16 rows' blocks in the file.
constexpr uint64_t kLanes16Q8BlockBytes = 8 * 64 + 16 * 2;
// The Lanes16 layout of F16 and BF16 weights: groups of 16 rows (the last padded with zero rows),
// group G at w + G * k * 32, element k of a group at + k * 32: that element of each of the 16 rows.

// How a matmul reads its input rows: as the floats, or packed once per call by pack_acts.
enum class ActFormat : uint8_t {
  Floats,
  Int8Blocks,  // quantised weight types: int8 in blocks of 32 with their scales (per level)
  Bf16Pieces,  // tile unit (amx): each row as three bf16 rows hi, mid, lo with hi + mid + lo == x
};
constexpr unsigned kActFormats = 3;

// y[m][n] (+)= sum_k x[m][k] * w[n][k] for the output rows n in [n_begin, n_end).
struct MatmulArgs {
  model::GgmlType type;  // of the weights
  WeightLayout layout;
  const std::byte* w;  // rows layout: row n starts at w + n * w_row_bytes
  uint64_t w_row_bytes;
  uint64_t k;  // row length
  // Inputs: the float rows, and the rows packed by pack_acts in this output's act_format.
  const float* x;
  size_t ldx;
  const std::byte* packed_x;
  size_t packed_x_row_bytes;
  size_t m;
  float* y;
  size_t ldy;
  bool accumulate;  // add to y instead of overwriting it
};

// One sequence's keys and values for one layer, in pages of `page_size` slots. Within a page the
// keys of kv head h, slot s start at k_pages[p] + (h * page_size + s) * head_dim elements.
struct PagedKvArgs {
  const std::byte* const* k_pages;
  const std::byte* const* v_pages;
  size_t page_size;
  model::GgmlType type;  // F32 or F16
};

// Attention of `count` query tokens of one sequence, for the query heads of one kv head.
struct AttentionArgs {
  PagedKvArgs kv;
  size_t head_dim;
  size_t kv_head;
  size_t group;    // query heads per kv head; query head of (kv_head, g) = kv_head * group + g
  size_t context;  // C: slots before the first token of the pass
  size_t first;    // index of the first query token in this call (within the pass)
  size_t count;    // query tokens in this call
  const float* q;  // token t, head h: q + t * ldq + h * head_dim (t relative to `first`)
  size_t ldq;
  float* out;  // same layout as q
  size_t ldout;
  float scale;  // applied to q.k
  // Mask row of token t (relative to `first`): runs alternating attend, skip over C + first + t + 1
  // slots; nullptr rows mean causal (attend to everything up to and including the token).
  const uint32_t* const* mask_runs;
  const size_t* mask_sizes;
  float* scratch;  // at least count * group * (context + first + count) floats
};

struct KernelTable {
  // The form in which matmul reads the inputs of these weights; for a format other than Floats,
  // the bytes of one packed row of length k (Int8Blocks: k a multiple of 32), and the packing of a
  // row of k floats.
  ActFormat (*act_format)(model::GgmlType type, WeightLayout layout);
  size_t (*packed_act_bytes)(ActFormat format, uint64_t k);
  void (*pack_acts)(ActFormat format, const float* x, uint64_t k, std::byte* out);
  // Whether matmul reads `type` in the Lanes16 layout (pack_weights produces it only then). With
  // Lanes16, n_begin is a multiple of 16.
  bool (*reads_lanes16)(model::GgmlType type);
  void (*matmul)(const MatmulArgs& args, size_t n_begin, size_t n_end);

  // y[i] = x[i] / rms(x) * w[i]
  void (*rmsnorm)(const float* x, const float* w, float eps, float* y, size_t n);
  // out[i] = silu(gate[i]) * up[i]
  void (*swiglu)(const float* gate, const float* up, float* out, size_t n);
  // y[i] += x[i]
  void (*add)(const float* x, float* y, size_t n);
  // out[i] = exp((x[i] - max(x)) * scale) / sum over i of the same.
  void (*softmax)(const float* x, size_t n, float scale, float* out);
  // Stores a row of n floats as `type` (F32 or F16).
  void (*store_row)(const float* x, model::GgmlType type, std::byte* dst, size_t n);
  void (*attention)(const AttentionArgs& args);
};

// The act_format of the levels without a format of their own: Int8Blocks for the quantised weight
// types (Q8_0, Q4_0, Q4_K, Q6_K), else Floats (defined in ops.cpp, compiled for any CPU).
ActFormat int8_or_float_acts(model::GgmlType type, WeightLayout layout);

// Calls f.template operator()<R>() with R = rows, clamped to [1, kMax]: the per-ISA tiles take
// their number of input rows as a template argument, so that their accumulators are fixed-size
// locals, and this picks the instantiation for a tile's row count.
template <int kMax, class F>
inline void with_rows(int rows, F&& f) {
  if constexpr (kMax > 1) {
    if (rows < kMax) return with_rows<kMax - 1>(rows, static_cast<F&&>(f));
  }
  f.template operator()<kMax>();
}

const KernelTable& scalar_table();
// The table of the level in use (active_isa()).
const KernelTable& active_table();
const KernelTable& avx2_table();
const KernelTable& avx512_table();
const KernelTable& amx_table();

// A per-thread buffer of at least `bytes` bytes, 64-byte aligned, reused across calls (never
// shrinks). `slot` picks one of a few independent buffers.
std::byte* thread_scratch(unsigned slot, size_t bytes);

}  // namespace pie::kernels::detail
