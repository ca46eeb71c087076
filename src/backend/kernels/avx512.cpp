// AVX-512 kernels (F, BW, VL, DQ, VNNI). Compiled with those flags only; see table.h for the rules
// this file follows so that none of its code runs on a CPU without them.
//
// Matrix products. Every output y[m][n] is computed by the same sequence of instructions whatever
// the number of rows m in the call, the tile it falls in, or the thread that computes it. That is
// what makes a sequence's results independent of the batch it runs in.
//
//  - Float weights (F32, F16, BF16): tiles of MR x NR outputs, x and w read as floats (F16 and BF16
//    rows converted into a per-thread panel first), one FMA per 16 products; lane j of an output's
//    accumulator sums the products of the elements k = j (mod 16) in increasing k, and the lanes
//    are added in a fixed order at the end.
//  - Quantised weights: activations are quantised to int8 in blocks of 32 (pack_acts), weights
//    become unsigned 8-bit values, VPDPBUSD forms exact integer sums of 4 products per lane (the
//    weight offset, w = q - offset, is folded in by starting each sum at -offset * sum(x)), and the
//    integer sums are converted and scaled by weight scale x activation scale. Q8_0 and Q4_0 put
//    16 outputs in a vector (output lanes, lane_matmul); Q4_K and Q6_K, whose scales change every
//    16 or 32 elements in a super-block, put 64 elements of one row in a vector (row lanes,
//    int_matmul).
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/kernels/table.h"
#include "backend/model/quant.h"

namespace pie::kernels::detail {
namespace avx512 {
namespace {

using model::GgmlType;

inline uint64_t round_up(uint64_t a, uint64_t b) {
  return (a + b - 1) / b * b;
}
inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}
inline __mmask16 tail_mask(size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1U << n) - 1);
}

// ---------------------------------------------------------------------------------------------
// Integer path: packed activations.
//
// A packed row holds round_up(k, 64) int8 values (zero padded) followed by one ActMeta per step of
// 64 elements: the activation scale and the negated integer sums of its 16- and 32-element parts.

constexpr uint64_t kStep = 64;

struct ActMeta {
  float d[4];
  int32_t ns[4];   // negated sum of each 16-element group
  int32_t nsb[2];  // negated sum of each 32-element block (ns[0] + ns[1], ns[2] + ns[3])
};

// Only Int8Blocks reaches the packing: int8_or_float_acts gives no other packed format.
size_t packed_act_bytes(ActFormat /*format*/, uint64_t k) {
  const uint64_t kp = round_up(k, kStep);
  return kp + kp / kStep * sizeof(ActMeta);
}

void pack_acts(ActFormat /*format*/, const float* x, uint64_t k, std::byte* out) {
  const uint64_t kp = round_up(k, kStep);
  auto* q = reinterpret_cast<int8_t*>(out);
  auto* meta = reinterpret_cast<ActMeta*>(out + kp);
  for (uint64_t b = 0; b < kp / 32; ++b) {
    ActMeta& mt = meta[b / 2];
    const int h = static_cast<int>(b % 2);
    if (b * 32 >= k) {
      memset(q + b * 32, 0, 32);
      mt.d[2 * h] = mt.d[2 * h + 1] = 0;
      mt.ns[2 * h] = mt.ns[2 * h + 1] = 0;
      mt.nsb[h] = 0;
      continue;
    }
    const __m512 x0 = _mm512_loadu_ps(x + b * 32);
    const __m512 x1 = _mm512_loadu_ps(x + b * 32 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.0F;
    const float inv = d != 0 ? 1.0F / d : 0.0F;
    const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, _mm512_set1_ps(inv)));
    const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, _mm512_set1_ps(inv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32), _mm512_cvtsepi32_epi8(i0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16), _mm512_cvtsepi32_epi8(i1));
    mt.d[2 * h] = mt.d[2 * h + 1] = d;
    mt.ns[2 * h] = -_mm512_reduce_add_epi32(i0);
    mt.ns[2 * h + 1] = -_mm512_reduce_add_epi32(i1);
    mt.nsb[h] = mt.ns[2 * h] + mt.ns[2 * h + 1];
  }
}

bool reads_lanes16(GgmlType type) {
  return type == GgmlType::Q8_0 || type == GgmlType::F16 || type == GgmlType::BF16;
}

// ---------------------------------------------------------------------------------------------
// Integer path, row lanes (Q4_K, Q6_K): each step of 64 elements of a row unpacks into 64
// unsigned 8-bit values, 16 float scales (lane j covers elements 4j..4j+3) and, for Q4_K, 16
// float mins.

struct IntBlock {
  __m512i q;
  __m512 ws;
  __m512 wm;
};

inline __m512 two_scales(float lo, float hi) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(lo), _mm512_set1_ps(hi));
}

struct Q4_K {
  static constexpr int kShift = 0;  // no offset: the mins are a separate term
  static constexpr bool kMin = true;
  static constexpr uint64_t kStepBytes = sizeof(model::BlockQ4_K) / 4;
  static IntBlock load(const std::byte* row, uint64_t /*k*/, uint64_t s) {
    const auto& blk = reinterpret_cast<const model::BlockQ4_K*>(row)[s / 4];
    const int i = static_cast<int>(s % 4);
    const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * i));
    __m512i v = _mm512_broadcast_i64x4(packed);
    v = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0));
    uint8_t sc_a = 0, m_a = 0, sc_b = 0, m_b = 0;
    model::scale_min_k4(2 * i, blk.scales, &sc_a, &m_a);
    model::scale_min_k4(2 * i + 1, blk.scales, &sc_b, &m_b);
    const float d = _cvtsh_ss(blk.d);
    const float dmin = _cvtsh_ss(blk.dmin);
    return {_mm512_and_si512(v, _mm512_set1_epi8(0x0F)), two_scales(d * sc_a, d * sc_b),
            two_scales(dmin * m_a, dmin * m_b)};
  }
};

struct Q6_K {
  static constexpr int kShift = 5;  // offset 32
  static constexpr bool kMin = false;
  static constexpr uint64_t kStepBytes = sizeof(model::BlockQ6_K) / 4;
  static IntBlock load(const std::byte* row, uint64_t /*k*/, uint64_t s) {
    const auto& blk = reinterpret_cast<const model::BlockQ6_K*>(row)[s / 4];
    const int i = static_cast<int>(s % 4);
    const int g = i / 2;  // which half of 128 elements
    const int h = i % 2;  // low or high nibbles of ql
    __m512i lo = _mm512_loadu_si512(blk.ql + 64 * g);
    if (h != 0) lo = _mm512_srli_epi16(lo, 4);
    lo = _mm512_and_si512(lo, _mm512_set1_epi8(0x0F));
    const __m512i qh = _mm512_broadcast_i64x4(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * g)));
    const int64_t s0 = 4 * h;
    const int64_t s1 = 4 * h + 2;
    __m512i hi = _mm512_srlv_epi64(qh, _mm512_set_epi64(s1, s1, s1, s1, s0, s0, s0, s0));
    hi = _mm512_slli_epi16(_mm512_and_si512(hi, _mm512_set1_epi8(0x03)), 4);
    const int8_t* sc = blk.scales + 4 * i;
    const __m512 scales = _mm512_permutexvar_ps(
        _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
            _mm_cvtsi32_si128(static_cast<int>(static_cast<uint8_t>(sc[0])) |
                              static_cast<int>(static_cast<uint8_t>(sc[1])) << 8 |
                              static_cast<int>(static_cast<uint8_t>(sc[2])) << 16 |
                              static_cast<int>(static_cast<uint8_t>(sc[3])) << 24))));
    return {_mm512_or_si512(lo, hi), _mm512_mul_ps(scales, _mm512_set1_ps(_cvtsh_ss(blk.d))),
            _mm512_setzero_ps()};
  }
};

constexpr int kIntMR = 4;
constexpr int kIntNR = 4;
constexpr uint64_t kIntChunkSteps = 32;  // 2048 elements per K chunk

template <class T>
constexpr size_t int_row_bytes() {
  return 64 + 64 + (T::kMin ? 64 : 0);
}

// Where a tile's weight blocks come from: unpacked once into a per-thread panel (when several
// m-tiles reuse them), or straight from the rows (one m-tile: decode), with the rows of the next
// panel prefetched. Both give the same blocks, hence the same results.
template <class T>
struct PanelBlocks {
  const uint8_t* panel;
  uint64_t s0;
  IntBlock get(int r, uint64_t s) const {
    const uint8_t* p = panel + ((s - s0) * kIntNR + r) * int_row_bytes<T>();
    IntBlock b{_mm512_loadu_si512(p), _mm512_loadu_ps(reinterpret_cast<const float*>(p + 64)),
               _mm512_setzero_ps()};
    if constexpr (T::kMin) b.wm = _mm512_loadu_ps(reinterpret_cast<const float*>(p + 128));
    return b;
  }
};

template <class T>
struct RowBlocks {
  const std::byte* rows[kIntNR];
  uint64_t k;
  // Bytes from a row to the same row of the next panel: up to 35 KB ahead for long rows, more than
  // L1 holds, so the prefetch goes to L2.
  uint64_t ahead;
  IntBlock get(int r, uint64_t s) const {
    const std::byte* row = rows[r];
    _mm_prefetch(reinterpret_cast<const char*>(row + s * T::kStepBytes + ahead), _MM_HINT_T1);
    return T::load(row, k, s);
  }
};

// Unpacks rows [n, n + NR) (rows past n_end are zero) for steps [s0, s1) into the panel layout
// [step][row][q | scales | mins].
template <class T>
void pack_int_panel(const MatmulArgs& a, size_t n, size_t n_end, uint64_t s0, uint64_t s1,
                    uint8_t* panel) {
  constexpr size_t rb = int_row_bytes<T>();
  for (uint64_t s = s0; s < s1; ++s) {
    for (int r = 0; r < kIntNR; ++r) {
      uint8_t* dst = panel + ((s - s0) * kIntNR + r) * rb;
      if (n + r >= n_end) {
        memset(dst, 0, rb);
        continue;
      }
      const std::byte* row = a.w + (n + r) * a.w_row_bytes;
      // The same part of the rows of the next panel, into L2: with K chunked, L1 would lose it
      // before that panel is packed.
      _mm_prefetch(reinterpret_cast<const char*>(row + s * T::kStepBytes + kIntNR * a.w_row_bytes),
                   _MM_HINT_T1);
      const IntBlock b = T::load(row, a.k, s);
      _mm512_storeu_si512(dst, b.q);
      _mm512_storeu_ps(reinterpret_cast<float*>(dst + 64), b.ws);
      if constexpr (T::kMin) _mm512_storeu_ps(reinterpret_cast<float*>(dst + 128), b.wm);
    }
  }
}

// As in float_tile, the accumulators live in locals during the loop so that they stay in
// registers; each activation vector is loaded once per step for all weight rows.
template <class T, int MR, class Blocks>
void int_tile(const Blocks& blocks, const std::byte* const* xrow, uint64_t kp, uint64_t s0,
              uint64_t s1, __m512 (&acc)[kIntMR][kIntNR]) {
  const __m512i lane_group = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 c[MR][kIntNR];
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int r = 0; r < kIntNR; ++r) c[m][r] = acc[m][r];
  }
  for (uint64_t s = s0; s < s1; ++s) {
    __m512 dv[MR];
    __m512i init[MR];
    __m512i xq[MR];
    [[maybe_unused]] __m512 xs[MR];
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      const auto* meta = reinterpret_cast<const ActMeta*>(xrow[m] + kp) + s;
      dv[m] = _mm512_permutexvar_ps(lane_group, _mm512_broadcast_f32x4(_mm_loadu_ps(meta->d)));
      const __m512i ns = _mm512_maskz_permutexvar_epi32(
          0x1111, lane_group,
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(meta->ns))));
      init[m] = T::kShift != 0 ? _mm512_slli_epi32(ns, T::kShift) : _mm512_setzero_si512();
      if constexpr (T::kMin) xs[m] = _mm512_mul_ps(_mm512_cvtepi32_ps(ns), dv[m]);
      xq[m] = _mm512_loadu_si512(xrow[m] + s * kStep);
    }
#pragma GCC unroll 4
    for (int r = 0; r < kIntNR; ++r) {
      const IntBlock b = blocks.get(r, s);
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m) {
        const __m512i isum = _mm512_dpbusd_epi32(init[m], b.q, xq[m]);
        const __m512 scale = _mm512_mul_ps(b.ws, dv[m]);
        c[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, c[m][r]);
      }
      if constexpr (T::kMin) {
#pragma GCC unroll 4
        for (int m = 0; m < MR; ++m) c[m][r] = _mm512_fmadd_ps(b.wm, xs[m], c[m][r]);
      }
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int r = 0; r < kIntNR; ++r) acc[m][r] = c[m][r];
  }
}

// Writes the finished outputs of a tile.
template <int NR_ALLOC, int MR_ALLOC>
void store_tile(const MatmulArgs& a, size_t m0, int mr, size_t n0, int nr,
                const __m512 (&acc)[MR_ALLOC][NR_ALLOC]) {
  for (int m = 0; m < mr; ++m) {
    for (int r = 0; r < nr; ++r) {
      float& y = a.y[(m0 + m) * a.ldy + n0 + r];
      const float v = _mm512_reduce_add_ps(acc[m][r]);
      y = a.accumulate ? y + v : v;
    }
  }
}

template <class T>
void int_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  constexpr size_t rb = int_row_bytes<T>();
  const uint64_t kp = round_up(a.k, kStep);
  const uint64_t steps = kp / kStep;
  const size_t m_tiles = (a.m + kIntMR - 1) / kIntMR;
  auto rows_of = [&](size_t m0, int mr, const std::byte*(&xrow)[kIntMR]) {
    for (int m = 0; m < kIntMR; ++m) {
      xrow[m] = a.packed_x + (m0 + (m < mr ? m : 0)) * a.packed_x_row_bytes;
    }
  };
  if (m_tiles == 1) {  // a single m-tile: nothing to reuse, read the weights directly
    const int mr = static_cast<int>(a.m);
    const std::byte* xrow[kIntMR];
    rows_of(0, mr, xrow);
    for (size_t n = n_begin; n < n_end; n += kIntNR) {
      const int nr = static_cast<int>(min_size(kIntNR, n_end - n));
      RowBlocks<T> blocks{{}, a.k, kIntNR * a.w_row_bytes};
      for (int r = 0; r < kIntNR; ++r)
        blocks.rows[r] = a.w + (n + (r < nr ? r : 0)) * a.w_row_bytes;
      __m512 acc[kIntMR][kIntNR];
      for (auto& row : acc) {
        for (auto& v : row) v = _mm512_setzero_ps();
      }
      with_rows<kIntMR>(mr, [&]<int MR>() { int_tile<T, MR>(blocks, xrow, kp, 0, steps, acc); });
      store_tile(a, 0, mr, n, nr, acc);
    }
    return;
  }
  const bool chunked = steps > kIntChunkSteps;
  auto* panel = reinterpret_cast<uint8_t*>(thread_scratch(0, kIntChunkSteps * kIntNR * rb));
  auto* saved =
      chunked
          ? reinterpret_cast<__m512*>(thread_scratch(1, m_tiles * kIntMR * kIntNR * sizeof(__m512)))
          : nullptr;
  for (size_t n = n_begin; n < n_end; n += kIntNR) {
    const int nr = static_cast<int>(min_size(kIntNR, n_end - n));
    for (uint64_t s0 = 0; s0 < steps; s0 += kIntChunkSteps) {
      const uint64_t s1 = s0 + kIntChunkSteps < steps ? s0 + kIntChunkSteps : steps;
      pack_int_panel<T>(a, n, n_end, s0, s1, panel);
      const PanelBlocks<T> blocks{panel, s0};
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kIntMR;
        const int mr = static_cast<int>(min_size(kIntMR, a.m - m0));
        __m512 acc[kIntMR][kIntNR];
        __m512* state = chunked ? saved + t * kIntMR * kIntNR : nullptr;
        for (int m = 0; m < kIntMR; ++m) {
          for (int r = 0; r < kIntNR; ++r) {
            acc[m][r] = s0 == 0 ? _mm512_setzero_ps() : state[m * kIntNR + r];
          }
        }
        const std::byte* xrow[kIntMR];
        rows_of(m0, mr, xrow);
        with_rows<kIntMR>(mr, [&]<int MR>() { int_tile<T, MR>(blocks, xrow, kp, s0, s1, acc); });
        if (s1 == steps) {
          store_tile(a, m0, mr, n, nr, acc);
        } else {
          for (int m = 0; m < kIntMR; ++m) {
            for (int r = 0; r < kIntNR; ++r) state[m * kIntNR + r] = acc[m][r];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Integer path, output lanes (Q8_0, Q4_0: one scale per block of 32 elements).
//
// A vector holds 16 outputs (16 weight rows) instead of 16 slices of one row. The blocks of 16 rows
// are transposed into a panel in which dword j of a block holds elements 4j..4j+3 of every row, so
// VPDPBUSD with the activation's 4 bytes of that dword broadcast adds 4 products to every row's
// sum; after the 8 dwords of a block each lane holds its row's exact integer sum over the block,
// which is scaled once (weight scale x activation scale) into the float accumulator. That is 3
// instructions per block beside the 8 VPDPBUSD, where row lanes need 3 per 64 products and a
// reduction at the end. Every output is computed by the same sequence whatever the tile, the
// number of input rows or the thread: per block in order, the exact integer sum, then
// acc = fma(float(sum), w_scale * x_scale, acc).

// Loads block b of a row as 32 bytes in element order: signed values (kSigned), stored unsigned
// as value + 128 once in the panel, or unsigned values = value + 2^kShift. The fp16 scale is the
// first field of the block.
struct Q8_0 {
  static constexpr int kShift = 7;
  static constexpr bool kSigned = true;
  static constexpr uint64_t kBlockBytes = sizeof(model::BlockQ8_0);
  static __m256i quants(const std::byte* row, uint64_t b) {
    const auto* blk = reinterpret_cast<const model::BlockQ8_0*>(row) + b;
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
  }
};

struct Q4_0 {
  static constexpr int kShift = 3;
  static constexpr bool kSigned = false;
  static constexpr uint64_t kBlockBytes = sizeof(model::BlockQ4_0);
  static __m256i quants(const std::byte* row, uint64_t b) {
    const auto* blk = reinterpret_cast<const model::BlockQ4_0*>(row) + b;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
    const __m128i nibble = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), nibble), _mm_and_si128(q, nibble));
  }
};

constexpr int kLaneMR = 4;                 // input rows per tile
constexpr int kLaneGroups = 2;             // groups of 16 weight rows per tile
constexpr uint64_t kLaneChunkBlocks = 16;  // K chunk: 512 elements, a 17 KB panel
// Per block and group: 8 dwords x 16 rows of quants, then 16 fp16 scales (the Lanes16 block).
constexpr size_t kLaneGroupBytes = 8 * 64 + 32;
static_assert(kLaneGroupBytes == kLanes16Q8BlockBytes, "a panel group block is a packed block");
constexpr size_t kLaneBlockBytes = kLaneGroups * kLaneGroupBytes;
// Prefetch distance in the weights (measured best between 16 and 32 KB for decode).
constexpr uint64_t kLanePrefetchBytes = 16384;

// Rows [n0, n0 + 32) (rows from n_end on repeat the last row: computed, never stored), blocks
// [b0, b1), into the panel [block][group][dword j: 16 rows x 4 bytes ... | 16 fp16 scales].
//
// A tile's 32 rows are one contiguous region, and the tiles of a task follow one another. Each
// block packed here prefetches into L2 the same share of that region, kLanePrefetchBytes further
// on, so the whole region passes through the prefetcher at the pace it is consumed, whatever the
// row length (a prefetch ahead within each row misses the start of short rows).
template <class T>
void pack_lane_panel(const MatmulArgs& a, size_t n0, size_t n_end, uint64_t b0, uint64_t b1,
                     uint8_t* panel) {
  const std::byte* ahead_of_tile = a.w + n0 * a.w_row_bytes + kLanePrefetchBytes;
  constexpr uint64_t kStepBytes = 16 * T::kBlockBytes;  // of the region, per block and group
  const __m512i lo_pairs = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
  const __m512i hi_pairs = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  for (int g = 0; g < kLaneGroups; ++g) {
    const size_t first = n0 + 16 * static_cast<size_t>(g);
    const std::byte* rows[16];
    int32_t offsets[16];
    for (int r = 0; r < 16; ++r) {
      const size_t n = first + r < n_end ? first + r : n_end - 1;
      rows[r] = a.w + n * a.w_row_bytes;
      offsets[r] = static_cast<int32_t>(rows[r] - rows[0]);
    }
    const __m512i scale_offsets = _mm512_loadu_si512(offsets);
    // Steps of this tile before block b0 of group g: earlier chunks (both groups), then group 0.
    const uint64_t step0 = b0 * kLaneGroups + static_cast<uint64_t>(g) * (b1 - b0);
    for (uint64_t b = b0; b < b1; ++b) {
      const uint64_t done = (step0 + b - b0) * kStepBytes;
      for (uint64_t line = done / 64 * 64; line < done + kStepBytes; line += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead_of_tile + line), _MM_HINT_T1);
      }
      uint8_t* dst = panel + (b - b0) * kLaneBlockBytes + g * kLaneGroupBytes;
      // z[i]: row i in the low half, row i + 8 in the high half. An 8 x 8 dword transpose per
      // half (two unpack rounds, then pairs of 128-bit lanes) gives dword j of all 16 rows.
      __m512i z[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(T::quants(rows[i], b)),
                                  T::quants(rows[i + 8], b), 1);
        if constexpr (T::kSigned) {
          z[i] = _mm512_xor_si512(z[i], _mm512_set1_epi8(static_cast<char>(0x80)));
        }
      }
      __m512i t[8];
#pragma GCC unroll 4
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(z[i], z[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(z[i], z[i + 1]);
      }
      // u[0..3]: dwords 0-3 (and 4-7) of rows 0-3 / 8-11; u[4..7]: of rows 4-7 / 12-15.
      __m512i u[8];
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        u[4 * h + 0] = _mm512_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
      }
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        _mm512_storeu_si512(dst + 64 * j, _mm512_permutex2var_epi64(u[j], lo_pairs, u[4 + j]));
        _mm512_storeu_si512(dst + 64 * (j + 4),
                            _mm512_permutex2var_epi64(u[j], hi_pairs, u[4 + j]));
      }
      const __m512i scale_words =
          _mm512_i32gather_epi32(scale_offsets, rows[0] + b * T::kBlockBytes, 1);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 512),
                          _mm512_cvtepi32_epi16(scale_words));
    }
  }
}

// Where lane_tile finds block b0 + i of group g: group[g] + i * stride (a panel filled by
// pack_lane_panel, or weights packed in the Lanes16 layout).
struct LaneBlocks {
  const uint8_t* group[kLaneGroups];
  size_t stride;
};

// As in int_tile, the accumulators are locals during the loop so that they stay in registers.
template <int MR>
void lane_tile(const LaneBlocks& blocks, const std::byte* const* xrow, uint64_t kp, int shift,
               uint64_t b0, uint64_t b1, __m512 (&acc)[kLaneMR][kLaneGroups]) {
  __m512 c[MR][kLaneGroups];
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 2
    for (int g = 0; g < kLaneGroups; ++g) c[m][g] = acc[m][g];
  }
  for (uint64_t b = b0; b < b1; ++b) {
    const uint8_t* p[kLaneGroups];
#pragma GCC unroll 2
    for (int g = 0; g < kLaneGroups; ++g) p[g] = blocks.group[g] + (b - b0) * blocks.stride;
    const ActMeta* meta[MR];
    __m512i sum[MR][kLaneGroups];
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      meta[m] = reinterpret_cast<const ActMeta*>(xrow[m] + kp) + b / 2;
      // Each sum starts at -offset * sum(x) so that the offset of the weights cancels.
      const __m512i init = _mm512_set1_epi32(meta[m]->nsb[b % 2] * (1 << shift));
#pragma GCC unroll 2
      for (int g = 0; g < kLaneGroups; ++g) sum[m][g] = init;
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i w[kLaneGroups];
#pragma GCC unroll 2
      for (int g = 0; g < kLaneGroups; ++g) w[g] = _mm512_loadu_si512(p[g] + 64 * j);
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m) {
        int32_t xq = 0;
        memcpy(&xq, xrow[m] + b * 32 + 4 * j, sizeof xq);
        const __m512i xv = _mm512_set1_epi32(xq);
#pragma GCC unroll 2
        for (int g = 0; g < kLaneGroups; ++g) sum[m][g] = _mm512_dpbusd_epi32(sum[m][g], w[g], xv);
      }
    }
    __m512 ws[kLaneGroups];
#pragma GCC unroll 2
    for (int g = 0; g < kLaneGroups; ++g) {
      ws[g] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[g] + 512)));
    }
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      const __m512 xd = _mm512_set1_ps(meta[m]->d[2 * (b % 2)]);
#pragma GCC unroll 2
      for (int g = 0; g < kLaneGroups; ++g) {
        c[m][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[m][g]), _mm512_mul_ps(ws[g], xd), c[m][g]);
      }
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 2
    for (int g = 0; g < kLaneGroups; ++g) acc[m][g] = c[m][g];
  }
}

// Writes outputs [n0, min(n0 + 16 * GROUPS, n_end)) of rows m0 .. m0 + mr - 1.
template <int MR_ALLOC, int GROUPS>
void store_lane_tile(const MatmulArgs& a, size_t m0, int mr, size_t n0, size_t n_end,
                     const __m512 (&acc)[MR_ALLOC][GROUPS]) {
  for (int g = 0; g < GROUPS; ++g) {
    const size_t first = n0 + 16 * static_cast<size_t>(g);
    if (first >= n_end) break;
    const __mmask16 mask = tail_mask(n_end - first);
    for (int m = 0; m < mr; ++m) {
      float* y = a.y + (m0 + m) * a.ldy + first;
      __m512 v = acc[m][g];
      if (a.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), v);
      _mm512_mask_storeu_ps(y, mask, v);
    }
  }
}

template <class T>
void lane_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  const uint64_t kp = round_up(a.k, kStep);
  const uint64_t blocks = a.k / 32;
  const size_t m_tiles = (a.m + kLaneMR - 1) / kLaneMR;
  const bool chunked = blocks > kLaneChunkBlocks;
  auto* panel = reinterpret_cast<uint8_t*>(thread_scratch(0, kLaneChunkBlocks * kLaneBlockBytes));
  auto* saved = chunked ? reinterpret_cast<__m512*>(
                              thread_scratch(1, m_tiles * kLaneMR * kLaneGroups * sizeof(__m512)))
                        : nullptr;
  for (size_t n0 = n_begin; n0 < n_end; n0 += 16 * kLaneGroups) {
    for (uint64_t b0 = 0; b0 < blocks; b0 += kLaneChunkBlocks) {
      const uint64_t b1 = b0 + kLaneChunkBlocks < blocks ? b0 + kLaneChunkBlocks : blocks;
      LaneBlocks blocks_of_tile{};
      if (a.layout == WeightLayout::Lanes16) {
        // Packed at load: the blocks are read in place (a group past the end repeats the first).
        for (int g = 0; g < kLaneGroups; ++g) {
          const size_t group = n0 + 16 * static_cast<size_t>(g) < n_end ? n0 / 16 + g : n0 / 16;
          blocks_of_tile.group[g] =
              reinterpret_cast<const uint8_t*>(a.w) + (group * blocks + b0) * kLanes16Q8BlockBytes;
        }
        blocks_of_tile.stride = kLanes16Q8BlockBytes;
      } else {
        pack_lane_panel<T>(a, n0, n_end, b0, b1, panel);
        for (int g = 0; g < kLaneGroups; ++g) blocks_of_tile.group[g] = panel + g * kLaneGroupBytes;
        blocks_of_tile.stride = kLaneBlockBytes;
      }
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kLaneMR;
        const int mr = static_cast<int>(min_size(kLaneMR, a.m - m0));
        __m512 acc[kLaneMR][kLaneGroups];
        __m512* state = chunked ? saved + t * kLaneMR * kLaneGroups : nullptr;
        for (int m = 0; m < kLaneMR; ++m) {
          for (int g = 0; g < kLaneGroups; ++g) {
            acc[m][g] = b0 == 0 ? _mm512_setzero_ps() : state[m * kLaneGroups + g];
          }
        }
        const std::byte* xrow[kLaneMR];
        for (int m = 0; m < kLaneMR; ++m) {
          xrow[m] = a.packed_x + (m0 + (m < mr ? m : 0)) * a.packed_x_row_bytes;
        }
        with_rows<kLaneMR>(
            mr, [&]<int MR>() { lane_tile<MR>(blocks_of_tile, xrow, kp, T::kShift, b0, b1, acc); });
        if (b1 == blocks) {
          store_lane_tile(a, m0, mr, n0, n_end, acc);
        } else {
          for (int m = 0; m < kLaneMR; ++m) {
            for (int g = 0; g < kLaneGroups; ++g) state[m * kLaneGroups + g] = acc[m][g];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float path. Weight rows are read as floats: F32 in place, F16 and BF16 converted either into a
// per-thread panel (several m-tiles) or as they are loaded (one m-tile), which gives the same
// values.

constexpr int kFloatMR = 4;
constexpr int kFloatNR = 6;
// Up to this many m-tiles read the weight rows directly instead of through a panel.
constexpr size_t kFloatDirectTiles = 4;
constexpr uint64_t kFloatChunk = 512;  // elements of K per chunk

inline __m512 load_weights(GgmlType type, const std::byte* row, uint64_t k, __mmask16 mask) {
  switch (type) {
    case GgmlType::F16:
      return _mm512_cvtph_ps(
          _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(row) + k));
    case GgmlType::BF16:
      return _mm512_castsi512_ps(
          _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
                                mask, reinterpret_cast<const uint16_t*>(row) + k)),
                            16));
    default:
      return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + k);
  }
}

// Rows of a tile as floats: w[r] + k is element k (relative to the chunk start for a panel).
struct FloatPanel {
  const float* w[kFloatNR];
  uint64_t k0;
  __m512 get(int r, uint64_t k, __mmask16 mask) const {
    return _mm512_maskz_loadu_ps(mask, w[r] + (k - k0));
  }
};

struct FloatRows {
  const std::byte* rows[kFloatNR];
  GgmlType type;
  uint64_t ahead;  // bytes from a row to the same row of the next panel (prefetched to L2)
  size_t elem;
  __m512 get(int r, uint64_t k, __mmask16 mask) const {
    if (k % 32 == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(rows[r] + k * elem + ahead), _MM_HINT_T1);
    }
    return load_weights(type, rows[r], k, mask);
  }
};

// The accumulators are copied into locals for the loop so that the compiler keeps all MR x NR of
// them in registers (through the reference it spilled them at every step). Full vectors and the
// masked tail load the same values, so the split does not change any result.
template <int MR, class Rows>
void float_tile(const Rows& w, const float* const* x, uint64_t k0, uint64_t k1,
                __m512 (&acc)[kFloatMR][kFloatNR]) {
  __m512 c[MR][kFloatNR];
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 6
    for (int r = 0; r < kFloatNR; ++r) c[m][r] = acc[m][r];
  }
  const float* xp[MR];
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) xp[m] = x[m];
  auto step = [&](uint64_t k, __mmask16 mask) __attribute__((always_inline)) {
    __m512 xv[MR];
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      // With many m-tiles the inputs of a chunk come from L2; fetch them 1 KB ahead into L1.
      _mm_prefetch(reinterpret_cast<const char*>(xp[m] + k + 256), _MM_HINT_T0);
      xv[m] = _mm512_maskz_loadu_ps(mask, xp[m] + k);
    }
#pragma GCC unroll 6
    for (int r = 0; r < kFloatNR; ++r) {
      const __m512 wv = w.get(r, k, mask);
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m) c[m][r] = _mm512_fmadd_ps(xv[m], wv, c[m][r]);
    }
  };
  uint64_t k = k0;
  for (; k + 16 <= k1; k += 16) step(k, static_cast<__mmask16>(0xFFFF));
  if (k < k1) step(k, tail_mask(k1 - k));
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 6
    for (int r = 0; r < kFloatNR; ++r) acc[m][r] = c[m][r];
  }
}

inline void convert_to_f32(GgmlType type, const std::byte* src, float* dst, uint64_t n) {
  for (uint64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    _mm512_mask_storeu_ps(dst + i, mask, load_weights(type, src, i, mask));
  }
}

void float_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  const size_t elem = a.type == GgmlType::F32 ? 4 : 2;
  const size_t m_tiles = (a.m + kFloatMR - 1) / kFloatMR;
  auto rows_of = [&](size_t m0, int mr, const float*(&x)[kFloatMR]) {
    for (int m = 0; m < kFloatMR; ++m) x[m] = a.x + (m0 + (m < mr ? m : 0)) * a.ldx;
  };
  // Few m-tiles (decode, small batches): each reads and converts the weights as it uses them, the
  // first from memory, the others from cache. A panel would be filled in a burst of loads that
  // leaves memory idle while the few tiles compute.
  if (m_tiles <= kFloatDirectTiles) {
    for (size_t n = n_begin; n < n_end; n += kFloatNR) {
      const int nr = static_cast<int>(min_size(kFloatNR, n_end - n));
      FloatRows rows{{}, a.type, kFloatNR * a.w_row_bytes, elem};
      for (int r = 0; r < kFloatNR; ++r)
        rows.rows[r] = a.w + (n + (r < nr ? r : 0)) * a.w_row_bytes;
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kFloatMR;
        const int mr = static_cast<int>(min_size(kFloatMR, a.m - m0));
        const float* x[kFloatMR];
        rows_of(m0, mr, x);
        __m512 acc[kFloatMR][kFloatNR];
        for (auto& row : acc) {
          for (auto& v : row) v = _mm512_setzero_ps();
        }
        with_rows<kFloatMR>(mr, [&]<int MR>() { float_tile<MR>(rows, x, 0, a.k, acc); });
        store_tile(a, m0, mr, n, nr, acc);
      }
    }
    return;
  }
  const bool convert = a.type != GgmlType::F32;
  const uint64_t chunks = (a.k + kFloatChunk - 1) / kFloatChunk;
  float* panel =
      convert ? reinterpret_cast<float*>(thread_scratch(0, kFloatNR * kFloatChunk * sizeof(float)))
              : nullptr;
  auto* saved = chunks > 1 ? reinterpret_cast<__m512*>(
                                 thread_scratch(1, m_tiles * kFloatMR * kFloatNR * sizeof(__m512)))
                           : nullptr;
  for (size_t n = n_begin; n < n_end; n += kFloatNR) {
    const int nr = static_cast<int>(min_size(kFloatNR, n_end - n));
    for (uint64_t c = 0; c < chunks; ++c) {
      const uint64_t k0 = c * kFloatChunk;
      const uint64_t k1 = k0 + kFloatChunk < a.k ? k0 + kFloatChunk : a.k;
      // Missing rows repeat the last one: their outputs are computed but never stored.
      FloatPanel w{{}, k0};
      for (int r = 0; r < kFloatNR; ++r) {
        const size_t row = n + (r < nr ? r : nr - 1);
        if (convert) {
          float* dst = panel + r * kFloatChunk;
          if (r < nr) {
            const std::byte* src = a.w + row * a.w_row_bytes + k0 * elem;
            // The same part of the rows of the next panel, into L2 (as in pack_int_panel).
            for (uint64_t b = 0; b < (k1 - k0) * elem; b += 64) {
              _mm_prefetch(reinterpret_cast<const char*>(src + kFloatNR * a.w_row_bytes + b),
                           _MM_HINT_T1);
            }
            convert_to_f32(a.type, src, dst, k1 - k0);
          }
          w.w[r] = r < nr ? dst : panel + (nr - 1) * kFloatChunk;
        } else {
          w.w[r] = reinterpret_cast<const float*>(a.w + row * a.w_row_bytes) + k0;
        }
      }
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kFloatMR;
        const int mr = static_cast<int>(min_size(kFloatMR, a.m - m0));
        __m512 acc[kFloatMR][kFloatNR];
        __m512* state = chunks > 1 ? saved + t * kFloatMR * kFloatNR : nullptr;
        for (int m = 0; m < kFloatMR; ++m) {
          for (int r = 0; r < kFloatNR; ++r) {
            acc[m][r] = c == 0 ? _mm512_setzero_ps() : state[m * kFloatNR + r];
          }
        }
        const float* x[kFloatMR];
        rows_of(m0, mr, x);
        with_rows<kFloatMR>(mr, [&]<int MR>() { float_tile<MR>(w, x, k0, k1, acc); });
        if (c + 1 == chunks) {
          store_tile(a, m0, mr, n, nr, acc);
        } else {
          for (int m = 0; m < kFloatMR; ++m) {
            for (int r = 0; r < kFloatNR; ++r) state[m * kFloatNR + r] = acc[m][r];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// F16 and BF16 weights packed in the Lanes16 layout (table.h): output lanes in floats. Each output
// is one FMA chain over k in increasing order, acc = fma(x[m][k], w[n][k], acc), whatever the tile:
// the same for one input row (decode) as in any batch. A k-step of a tile reads the 16 weights of
// each group once and broadcasts each input once: 6 x 4 FMAs for 4 weight vectors and 6
// broadcasts. Row lanes keep 16-lane partial sums per output, which for a long batch do not stay
// in cache between K chunks; here the partial sums are the outputs. (Measured on a 2-core
// Sapphire Rapids guest: 6 x 4 groups 72% of the FMA peak on a 128-row prefill, 12 x 2 64%, 8 x 2
// 67%; chunks of 1024 elements 71%, of 128 62%.)

constexpr int kHalfMR = 6;
constexpr int kHalfGroups = 4;  // 64 weight rows per tile
// Up to this many m-tiles convert the weights as they use them, the first reading them from
// memory, the others from cache; more convert each chunk once into a panel of floats.
constexpr size_t kHalfDirectTiles = 3;
constexpr uint64_t kHalfChunk = 1024;  // k per panel chunk: 256 KB of floats, read from L2
// Prefetch distance in each group's stream of weights (as kLanePrefetchBytes).
constexpr uint64_t kHalfPrefetchBytes = 4096;

// 16 packed 16-bit weights as floats (F16 or BF16; both conversions are exact).
template <bool kBf16>
inline __m512 halves_to_floats(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (kBf16) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(h);
  }
}

// The weights of a tile's groups at element k: converted from the packed halves as they are read,
// or from a panel of floats [k - k0][group][16] (one stream of loads for the tile).
template <bool kBf16>
struct HalfDirect {
  const uint16_t* group[kHalfGroups];
  __m512 get(int g, uint64_t k) const {
    const uint16_t* p = group[g] + 16 * k;
    if (k % 2 == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(p) + kHalfPrefetchBytes, _MM_HINT_T0);
    }
    return halves_to_floats<kBf16>(p);
  }
};

struct HalfPanel {
  const float* group[kHalfGroups];
  uint64_t k0;
  __m512 get(int g, uint64_t k) const {
    return _mm512_loadu_ps(group[g] + 16 * kHalfGroups * (k - k0));
  }
};

template <int MR, class Weights>
void half_tile(const Weights& w, const float* const* x, uint64_t k0, uint64_t k1,
               __m512 (&acc)[kHalfMR][kHalfGroups]) {
  __m512 c[MR][kHalfGroups];
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int g = 0; g < kHalfGroups; ++g) c[m][g] = acc[m][g];
  }
#pragma GCC unroll 2
  for (uint64_t k = k0; k < k1; ++k) {
    __m512 wv[kHalfGroups];
#pragma GCC unroll 4
    for (int g = 0; g < kHalfGroups; ++g) wv[g] = w.get(g, k);
#pragma GCC unroll 6
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_set1_ps(x[m][k]);
#pragma GCC unroll 4
      for (int g = 0; g < kHalfGroups; ++g) c[m][g] = _mm512_fmadd_ps(xv, wv[g], c[m][g]);
    }
  }
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int g = 0; g < kHalfGroups; ++g) acc[m][g] = c[m][g];
  }
}

template <bool kBf16>
void half_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  const size_t m_tiles = (a.m + kHalfMR - 1) / kHalfMR;
  const auto* packed = reinterpret_cast<const uint16_t*>(a.w);
  // Group of the tile at n0 (a group past the end repeats the first: computed, never stored).
  auto group_of = [&](size_t n0, int g) {
    const size_t group = n0 + 16 * static_cast<size_t>(g) < n_end ? n0 / 16 + g : n0 / 16;
    return packed + group * a.k * 16;
  };
  auto rows_of = [&](size_t m0, int mr, const float*(&x)[kHalfMR]) {
    for (int m = 0; m < kHalfMR; ++m) x[m] = a.x + (m0 + (m < mr ? m : 0)) * a.ldx;
  };
  auto zero = [](__m512(&acc)[kHalfMR][kHalfGroups]) {
    for (auto& row : acc) {
      for (auto& v : row) v = _mm512_setzero_ps();
    }
  };
  if (m_tiles <= kHalfDirectTiles) {
    for (size_t n0 = n_begin; n0 < n_end; n0 += 16 * kHalfGroups) {
      HalfDirect<kBf16> w{};
      for (int g = 0; g < kHalfGroups; ++g) w.group[g] = group_of(n0, g);
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kHalfMR;
        const int mr = static_cast<int>(min_size(kHalfMR, a.m - m0));
        const float* x[kHalfMR];
        rows_of(m0, mr, x);
        __m512 acc[kHalfMR][kHalfGroups];
        zero(acc);
        with_rows<kHalfMR>(mr, [&]<int MR>() { half_tile<MR>(w, x, 0, a.k, acc); });
        store_lane_tile(a, m0, mr, n0, n_end, acc);
      }
    }
    return;
  }
  const uint64_t chunks = (a.k + kHalfChunk - 1) / kHalfChunk;
  auto* panel =
      reinterpret_cast<float*>(thread_scratch(0, kHalfGroups * kHalfChunk * 16 * sizeof(float)));
  auto* saved = chunks > 1 ? reinterpret_cast<__m512*>(thread_scratch(
                                 1, m_tiles * kHalfMR * kHalfGroups * sizeof(__m512)))
                           : nullptr;
  for (size_t n0 = n_begin; n0 < n_end; n0 += 16 * kHalfGroups) {
    for (uint64_t c = 0; c < chunks; ++c) {
      const uint64_t k0 = c * kHalfChunk;
      const uint64_t k1 = k0 + kHalfChunk < a.k ? k0 + kHalfChunk : a.k;
      HalfPanel w{{}, k0};
      for (int g = 0; g < kHalfGroups; ++g) {
        const uint16_t* src = group_of(n0, g) + 16 * k0;
        float* dst = panel + g * 16;
        for (uint64_t i = 0; i < (k1 - k0) * 16; i += 16) {
          _mm_prefetch(reinterpret_cast<const char*>(src + i) + kHalfPrefetchBytes, _MM_HINT_T0);
          _mm512_storeu_ps(dst + i * kHalfGroups, halves_to_floats<kBf16>(src + i));
        }
        w.group[g] = dst;
      }
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kHalfMR;
        const int mr = static_cast<int>(min_size(kHalfMR, a.m - m0));
        __m512 acc[kHalfMR][kHalfGroups];
        __m512* state = chunks > 1 ? saved + t * kHalfMR * kHalfGroups : nullptr;
        if (c == 0) {
          zero(acc);
        } else {
          for (int m = 0; m < kHalfMR; ++m) {
            for (int g = 0; g < kHalfGroups; ++g) acc[m][g] = state[m * kHalfGroups + g];
          }
        }
        const float* x[kHalfMR];
        rows_of(m0, mr, x);
        with_rows<kHalfMR>(mr, [&]<int MR>() { half_tile<MR>(w, x, k0, k1, acc); });
        if (c + 1 == chunks) {
          store_lane_tile(a, m0, mr, n0, n_end, acc);
        } else {
          for (int m = 0; m < kHalfMR; ++m) {
            for (int g = 0; g < kHalfGroups; ++g) state[m * kHalfGroups + g] = acc[m][g];
          }
        }
      }
    }
  }
}

void matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  switch (a.type) {
    case GgmlType::Q8_0:
      return lane_matmul<Q8_0>(a, n_begin, n_end);
    case GgmlType::Q4_0:
      return lane_matmul<Q4_0>(a, n_begin, n_end);
    case GgmlType::Q4_K:
      return int_matmul<Q4_K>(a, n_begin, n_end);
    case GgmlType::Q6_K:
      return int_matmul<Q6_K>(a, n_begin, n_end);
    default:
      if (a.layout == WeightLayout::Lanes16) {
        return a.type == GgmlType::BF16 ? half_matmul<true>(a, n_begin, n_end)
                                        : half_matmul<false>(a, n_begin, n_end);
      }
      return float_matmul(a, n_begin, n_end);
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels.

// exp(x) for 16 lanes: range reduction by ln 2 and a degree-6 polynomial (relative error ~2 ulp);
// exp(-inf) = 0, large x saturate to +inf.
inline __m512 exp_ps(__m512 x) {
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341F);
  const __m512 ln2_hi = _mm512_set1_ps(0.693359375F);
  const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4F);
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7F)), _mm512_set1_ps(-104.0F));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
  r = _mm512_fnmadd_ps(n, ln2_lo, r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4F);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1F));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1F));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0F)));
  return _mm512_scalef_ps(p, n);
}

void rmsnorm(const float* x, const float* w, float eps, float* y, size_t n) {
  __m512 ss = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    ss = _mm512_fmadd_ps(v, v, ss);
  }
  const float inv = 1.0F / sqrtf(_mm512_reduce_add_ps(ss) / static_cast<float>(n) + eps);
  const __m512 iv = _mm512_set1_ps(inv);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    _mm512_mask_storeu_ps(y + i, mask,
                          _mm512_mul_ps(_mm512_mul_ps(v, iv), _mm512_maskz_loadu_ps(mask, w + i)));
  }
}

void swiglu(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(mask, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(mask, up + i);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0F), e));
    _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(silu, u));
  }
}

void add(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    _mm512_mask_storeu_ps(
        y + i, mask,
        _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y + i), _mm512_maskz_loadu_ps(mask, x + i)));
  }
}

void softmax(const float* x, size_t n, float scale, float* out) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (size_t i = 0; i < n; i += 16) {
    mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, tail_mask(n - i), x + i));
  }
  const __m512 max_v = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  const __m512 scale_v = _mm512_set1_ps(scale);
  __m512 sum = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(
        mask,
        exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), max_v), scale_v)));
    _mm512_mask_storeu_ps(out + i, mask, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0F / _mm512_reduce_add_ps(sum));
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, out + i), inv));
  }
}

void store_row(const float* x, GgmlType type, std::byte* dst, size_t n) {
  if (type != GgmlType::F16) {
    memcpy(dst, x, n * sizeof(float));
    return;
  }
  auto* h = reinterpret_cast<uint16_t*>(dst);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    const __m256i v =
        _mm512_cvtps_ph(_mm512_maskz_loadu_ps(mask, x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(h + i, mask, v);
  }
}

// ---------------------------------------------------------------------------------------------
// Attention. For each query token and head: scores of the attended slots, softmax over them, and
// the weighted sum of values, each computed in logical slot order so that the result does not
// depend on the page size or on which physical pages hold the sequence.

inline __m512 load_kv(const std::byte* p, GgmlType type, size_t i, __mmask16 mask) {
  if (type == GgmlType::F16) {
    return _mm512_cvtph_ps(
        _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i));
  }
  return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(p) + i);
}

constexpr size_t kMaxHeadVectors = 16;  // head_dim up to 256

template <class F>
void for_each_attended(const AttentionArgs& a, size_t t, size_t len, F&& f) {
  if (a.mask_runs == nullptr || a.mask_runs[t] == nullptr) {
    f(size_t{0}, len);
    return;
  }
  size_t pos = 0;
  for (size_t r = 0; r < a.mask_sizes[t]; ++r) {
    const size_t run = a.mask_runs[t][r];
    if (r % 2 == 0 && run > 0) f(pos, pos + run);
    pos += run;
  }
}

void attention(const AttentionArgs& a) {
  const size_t elem = a.kv.type == GgmlType::F16 ? 2 : 4;
  const size_t ps = a.kv.page_size;
  const size_t hd = a.head_dim;
  const size_t nv = (hd + 15) / 16;
  auto slot_ptr = [&](const std::byte* const* pages, size_t slot) {
    return pages[slot / ps] + (a.kv_head * ps + slot % ps) * hd * elem;
  };
  for (size_t t = 0; t < a.count; ++t) {
    const size_t len = a.context + a.first + t + 1;
    const size_t stride = round_up(len, 16);
    float* scores = a.scratch;  // [group][stride]
    for (size_t i = 0; i < a.group * stride; i += 16)
      _mm512_storeu_ps(scores + i, _mm512_setzero_ps());
    __m512 q[8][kMaxHeadVectors];
    const size_t groups_at_once = a.group < 8 ? a.group : 8;
    for (size_t g0 = 0; g0 < a.group; g0 += groups_at_once) {
      const size_t gn = min_size(groups_at_once, a.group - g0);
      for (size_t g = 0; g < gn; ++g) {
        const float* qp = a.q + t * a.ldq + (a.kv_head * a.group + g0 + g) * hd;
        for (size_t v = 0; v < nv; ++v)
          q[g][v] = _mm512_maskz_loadu_ps(tail_mask(hd - 16 * v), qp + 16 * v);
      }
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; ++j) {
          const std::byte* kp = slot_ptr(a.kv.k_pages, j);
          __m512 kv[kMaxHeadVectors];
          for (size_t v = 0; v < nv; ++v)
            kv[v] = load_kv(kp, a.kv.type, 16 * v, tail_mask(hd - 16 * v));
          for (size_t g = 0; g < gn; ++g) {
            __m512 acc = _mm512_mul_ps(q[g][0], kv[0]);
            for (size_t v = 1; v < nv; ++v) acc = _mm512_fmadd_ps(q[g][v], kv[v], acc);
            scores[(g0 + g) * stride + j] = _mm512_reduce_add_ps(acc) * a.scale;
          }
        }
      });
    }
    for (size_t g = 0; g < a.group; ++g) {
      float* s = scores + g * stride;
      __m512 mx = _mm512_set1_ps(-INFINITY);
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; j += 16) {
          mx = _mm512_max_ps(
              mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(e - j), s + j));
        }
      });
      const __m512 max_v = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; j += 16) {
          const __mmask16 mask = tail_mask(e - j);
          _mm512_mask_storeu_ps(s + j, mask,
                                exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + j), max_v)));
        }
      });
      // Masked slots hold 0, so the sum runs over the whole row in logical order.
      __m512 sum = _mm512_setzero_ps();
      for (size_t j = 0; j < stride; j += 16) sum = _mm512_add_ps(sum, _mm512_loadu_ps(s + j));
      const float total = _mm512_reduce_add_ps(sum);
      const float inv = total > 0 ? 1.0F / total : 0.0F;
      for (size_t j = 0; j < stride; j += 16) {
        _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), _mm512_set1_ps(inv)));
      }
    }
    for (size_t g0 = 0; g0 < a.group; g0 += groups_at_once) {
      const size_t gn = min_size(groups_at_once, a.group - g0);
      __m512(&o)[8][kMaxHeadVectors] = q;  // reuse the registers of q as output accumulators
      for (size_t g = 0; g < gn; ++g) {
        for (size_t v = 0; v < nv; ++v) o[g][v] = _mm512_setzero_ps();
      }
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; ++j) {
          const std::byte* vp = slot_ptr(a.kv.v_pages, j);
          __m512 vv[kMaxHeadVectors];
          for (size_t v = 0; v < nv; ++v)
            vv[v] = load_kv(vp, a.kv.type, 16 * v, tail_mask(hd - 16 * v));
          for (size_t g = 0; g < gn; ++g) {
            const __m512 p = _mm512_set1_ps(scores[(g0 + g) * stride + j]);
            for (size_t v = 0; v < nv; ++v) o[g][v] = _mm512_fmadd_ps(p, vv[v], o[g][v]);
          }
        }
      });
      for (size_t g = 0; g < gn; ++g) {
        float* op = a.out + t * a.ldout + (a.kv_head * a.group + g0 + g) * hd;
        for (size_t v = 0; v < nv; ++v)
          _mm512_mask_storeu_ps(op + 16 * v, tail_mask(hd - 16 * v), o[g][v]);
      }
    }
  }
}

}  // namespace
}  // namespace avx512

const KernelTable& avx512_table() {
  static const KernelTable table{
      .act_format = int8_or_float_acts,
      .packed_act_bytes = avx512::packed_act_bytes,
      .pack_acts = avx512::pack_acts,
      .reads_lanes16 = avx512::reads_lanes16,
      .matmul = avx512::matmul,
      .rmsnorm = avx512::rmsnorm,
      .swiglu = avx512::swiglu,
      .add = avx512::add,
      .softmax = avx512::softmax,
      .store_row = avx512::store_row,
      .attention = avx512::attention,
  };
  return table;
}

}  // namespace pie::kernels::detail
