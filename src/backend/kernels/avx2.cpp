// AVX2 + FMA + F16C kernels, for CPUs without AVX-512. Compiled with those flags only; see table.h
// for the rules this file follows. The algorithms are avx512.cpp's with 8-lane vectors; the
// integer path forms its sums with VPMADDUBSW + VPMADDWD (pairs of u8 x s8 products in 16 bits,
// then pairs of those in 32 bits) instead of VPDPBUSD. Q8_0 weights are signed, and their
// unsigned form (w + 128) would overflow the 16-bit pair sums, so they use the sign trick instead:
// |w| times x with w's sign.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/kernels/table.h"
#include "backend/model/quant.h"

namespace pie::kernels::detail {
namespace avx2 {
namespace {

using model::GgmlType;

inline uint64_t round_up(uint64_t a, uint64_t b) {
  return (a + b - 1) / b * b;
}
inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

// Lanes [0, n) of 8 set (n clamped to 8), for masked loads and stores.
inline __m256i tail_mask(size_t n) {
  const int k = n >= 8 ? 8 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

inline float hmax(__m256 v) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}

inline int32_t hsum_epi32(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1)));
}

// ---------------------------------------------------------------------------------------------
// Integer path: packed activations. A packed row holds round_up(k, 32) int8 values followed by
// one ActMeta per block of 32: its scale and the negated sums of its two 16-element halves.

constexpr uint64_t kStep = 32;

struct ActMeta {
  float d;
  int32_t ns[2];
  int32_t pad;
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
  const __m256 sign_bit = _mm256_set1_ps(-0.0F);
  for (uint64_t b = 0; b < kp / kStep; ++b) {
    const float* xb = x + b * 32;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[i]));
    }
    const float d = hmax(amax) / 127.0F;
    const float inv = d != 0 ? 1.0F / d : 0.0F;
    __m256i iv[4];
    for (int i = 0; i < 4; ++i)
      iv[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], _mm256_set1_ps(inv)));
    // Pack 32 int32 to 32 int8 in order (the packs work per 128-bit lane, hence the permute).
    const __m256i w01 = _mm256_packs_epi32(iv[0], iv[1]);
    const __m256i w23 = _mm256_packs_epi32(iv[2], iv[3]);
    __m256i bytes = _mm256_packs_epi16(w01, w23);
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32), bytes);
    meta[b].d = d;
    meta[b].ns[0] = -hsum_epi32(_mm256_add_epi32(iv[0], iv[1]));
    meta[b].ns[1] = -hsum_epi32(_mm256_add_epi32(iv[2], iv[3]));
    meta[b].pad = 0;
  }
}

bool reads_lanes16(GgmlType /*type*/) {
  return false;
}

// ---------------------------------------------------------------------------------------------
// Integer path: weights. Per block of 32 elements of a row: 32 weight bytes, 8 float scales (lane
// j covers elements 4j..4j+3) and, for Q4_K, 8 float mins.

struct IntBlock {
  __m256i q;
  __m256 ws;
  __m256 wm;
};

struct Q8_0 {
  static constexpr int kShift = 0;
  static constexpr bool kMin = false;
  static constexpr bool kSigned = true;
  static constexpr uint64_t kStepBytes = sizeof(model::BlockQ8_0);
  static IntBlock load(const std::byte* row, uint64_t s) {
    const auto& blk = reinterpret_cast<const model::BlockQ8_0*>(row)[s];
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs)),
            _mm256_set1_ps(_cvtsh_ss(blk.d)), _mm256_setzero_ps()};
  }
};

struct Q4_0 {
  static constexpr int kShift = 3;
  static constexpr bool kMin = false;
  static constexpr bool kSigned = false;
  static constexpr uint64_t kStepBytes = sizeof(model::BlockQ4_0);
  static IntBlock load(const std::byte* row, uint64_t s) {
    const auto& blk = reinterpret_cast<const model::BlockQ4_0*>(row)[s];
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
    __m256i v = _mm256_set_m128i(packed, packed);
    v = _mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0));
    return {_mm256_and_si256(v, _mm256_set1_epi8(0x0F)), _mm256_set1_ps(_cvtsh_ss(blk.d)),
            _mm256_setzero_ps()};
  }
};

struct Q4_K {
  static constexpr int kShift = 0;
  static constexpr bool kMin = true;
  static constexpr bool kSigned = false;
  static constexpr uint64_t kStepBytes = sizeof(model::BlockQ4_K) / 8;
  static IntBlock load(const std::byte* row, uint64_t s) {
    const auto& blk = reinterpret_cast<const model::BlockQ4_K*>(row)[s / 8];
    const int j = static_cast<int>(s % 8);
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * (j / 2)));
    if (j % 2 != 0) v = _mm256_srli_epi16(v, 4);
    uint8_t sc = 0;
    uint8_t mn = 0;
    model::scale_min_k4(j, blk.scales, &sc, &mn);
    return {_mm256_and_si256(v, _mm256_set1_epi8(0x0F)), _mm256_set1_ps(_cvtsh_ss(blk.d) * sc),
            _mm256_set1_ps(_cvtsh_ss(blk.dmin) * mn)};
  }
};

struct Q6_K {
  static constexpr int kShift = 5;
  static constexpr bool kMin = false;
  static constexpr bool kSigned = false;
  static constexpr uint64_t kStepBytes = sizeof(model::BlockQ6_K) / 8;
  static IntBlock load(const std::byte* row, uint64_t s) {
    const auto& blk = reinterpret_cast<const model::BlockQ6_K*>(row)[s / 8];
    const int i = static_cast<int>(s % 8);  // elements 32i .. 32i + 31 of the super-block
    const int g = i / 4;
    const int quarter = i % 4;
    __m256i lo =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * g + 32 * (quarter % 2)));
    if (quarter >= 2) lo = _mm256_srli_epi16(lo, 4);
    lo = _mm256_and_si256(lo, _mm256_set1_epi8(0x0F));
    __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * g));
    hi = _mm256_srl_epi16(hi, _mm_cvtsi32_si128(2 * quarter));
    hi = _mm256_slli_epi16(_mm256_and_si256(hi, _mm256_set1_epi8(0x03)), 4);
    const float d = _cvtsh_ss(blk.d);
    const float s0 = d * blk.scales[2 * i];
    const float s1 = d * blk.scales[2 * i + 1];
    return {_mm256_or_si256(lo, hi), _mm256_setr_ps(s0, s0, s0, s0, s1, s1, s1, s1),
            _mm256_setzero_ps()};
  }
};

constexpr int kIntMR = 2;
constexpr int kIntNR = 3;
constexpr uint64_t kIntChunkSteps = 64;  // 2048 elements per K chunk

template <class T>
constexpr size_t int_row_bytes() {
  return 32 + 32 + (T::kMin ? 32 : 0);
}

// Weight blocks from a per-thread panel (several m-tiles) or straight from the rows (one m-tile),
// as in avx512.cpp; both give the same blocks.
template <class T>
struct PanelBlocks {
  const uint8_t* panel;
  uint64_t s0;
  IntBlock get(int r, uint64_t s) const {
    const uint8_t* p = panel + ((s - s0) * kIntNR + r) * int_row_bytes<T>();
    IntBlock b{_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
               _mm256_loadu_ps(reinterpret_cast<const float*>(p + 32)), _mm256_setzero_ps()};
    if constexpr (T::kMin) b.wm = _mm256_loadu_ps(reinterpret_cast<const float*>(p + 64));
    return b;
  }
};

template <class T>
struct RowBlocks {
  const std::byte* rows[kIntNR];
  uint64_t ahead;  // bytes from a row to the same row of the next panel
  IntBlock get(int r, uint64_t s) const {
    const std::byte* row = rows[r];
    _mm_prefetch(reinterpret_cast<const char*>(row + s * T::kStepBytes + ahead), _MM_HINT_T0);
    return T::load(row, s);
  }
};

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
      const IntBlock b = T::load(a.w + (n + r) * a.w_row_bytes, s);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), b.q);
      _mm256_storeu_ps(reinterpret_cast<float*>(dst + 32), b.ws);
      if constexpr (T::kMin) _mm256_storeu_ps(reinterpret_cast<float*>(dst + 64), b.wm);
    }
  }
}

template <class T, int MR, class Blocks>
void int_tile(const Blocks& blocks, const std::byte* const* xrow, uint64_t kp, uint64_t s0,
              uint64_t s1, __m256 (&acc)[kIntMR][kIntNR]) {
  const __m256i ones = _mm256_set1_epi16(1);
  // Accumulators in locals during the loop, so that they stay in registers.
  __m256 c[MR][kIntNR];
  for (int m = 0; m < MR; ++m) {
    for (int r = 0; r < kIntNR; ++r) c[m][r] = acc[m][r];
  }
  for (uint64_t s = s0; s < s1; ++s) {
    __m256 dv[MR];
    __m256i init[MR];
    [[maybe_unused]] __m256 xs[MR];
    __m256i xq[MR];
    for (int m = 0; m < MR; ++m) {
      const auto* meta = reinterpret_cast<const ActMeta*>(xrow[m] + kp) + s;
      dv[m] = _mm256_set1_ps(meta->d);
      const __m256i ns = _mm256_setr_epi32(meta->ns[0], 0, 0, 0, meta->ns[1], 0, 0, 0);
      init[m] = T::kShift != 0 ? _mm256_slli_epi32(ns, T::kShift) : _mm256_setzero_si256();
      if constexpr (T::kMin) xs[m] = _mm256_mul_ps(_mm256_cvtepi32_ps(ns), dv[m]);
      xq[m] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xrow[m] + s * kStep));
    }
    for (int r = 0; r < kIntNR; ++r) {
      const IntBlock b = blocks.get(r, s);
      const __m256i wu = T::kSigned ? _mm256_sign_epi8(b.q, b.q) : b.q;
      for (int m = 0; m < MR; ++m) {
        const __m256i xs8 = T::kSigned ? _mm256_sign_epi8(xq[m], b.q) : xq[m];
        const __m256i pairs = _mm256_maddubs_epi16(wu, xs8);
        const __m256i isum = _mm256_add_epi32(_mm256_madd_epi16(pairs, ones), init[m]);
        const __m256 scale = _mm256_mul_ps(b.ws, dv[m]);
        c[m][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, c[m][r]);
      }
      if constexpr (T::kMin) {
        for (int m = 0; m < MR; ++m) c[m][r] = _mm256_fmadd_ps(b.wm, xs[m], c[m][r]);
      }
    }
  }
  for (int m = 0; m < MR; ++m) {
    for (int r = 0; r < kIntNR; ++r) acc[m][r] = c[m][r];
  }
}

template <int MR_ALLOC, int NR_ALLOC>
void store_tile(const MatmulArgs& a, size_t m0, int mr, size_t n0, int nr,
                const __m256 (&acc)[MR_ALLOC][NR_ALLOC]) {
  for (int m = 0; m < mr; ++m) {
    for (int r = 0; r < nr; ++r) {
      float& y = a.y[(m0 + m) * a.ldy + n0 + r];
      const float v = hsum(acc[m][r]);
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
      RowBlocks<T> blocks{{}, kIntNR * a.w_row_bytes};
      for (int r = 0; r < kIntNR; ++r) {
        blocks.rows[r] = a.w + (n + (r < nr ? r : 0)) * a.w_row_bytes;
      }
      __m256 acc[kIntMR][kIntNR];
      for (auto& row : acc) {
        for (auto& v : row) v = _mm256_setzero_ps();
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
          ? reinterpret_cast<__m256*>(thread_scratch(1, m_tiles * kIntMR * kIntNR * sizeof(__m256)))
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
        __m256 acc[kIntMR][kIntNR];
        __m256* state = chunked ? saved + t * kIntMR * kIntNR : nullptr;
        for (int m = 0; m < kIntMR; ++m) {
          for (int r = 0; r < kIntNR; ++r) {
            acc[m][r] = s0 == 0 ? _mm256_setzero_ps() : state[m * kIntNR + r];
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
// Float path, as in avx512.cpp: F16 and BF16 converted into a panel or as they are loaded.

constexpr int kFloatMR = 3;
constexpr int kFloatNR = 3;
constexpr uint64_t kFloatChunk = 512;

// Eight weights from element k of a row; `valid` of them (the rest 0).
inline __m256 load_weights(GgmlType type, const std::byte* row, uint64_t k, size_t valid) {
  if (type == GgmlType::F32) {
    return _mm256_maskload_ps(reinterpret_cast<const float*>(row) + k, tail_mask(valid));
  }
  const auto* h = reinterpret_cast<const uint16_t*>(row) + k;
  __m128i bits;
  if (valid >= 8) {
    bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
  } else {
    uint16_t tmp[8] = {};
    memcpy(tmp, h, valid * sizeof(uint16_t));
    bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp));
  }
  if (type == GgmlType::F16) return _mm256_cvtph_ps(bits);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}

struct FloatPanel {
  const float* w[kFloatNR];
  uint64_t k0;
  __m256 get(int r, uint64_t k, size_t valid) const {
    return _mm256_maskload_ps(w[r] + (k - k0), tail_mask(valid));
  }
};

struct FloatRows {
  const std::byte* rows[kFloatNR];
  GgmlType type;
  uint64_t ahead;
  size_t elem;
  __m256 get(int r, uint64_t k, size_t valid) const {
    if (k % 32 == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(rows[r] + k * elem + ahead), _MM_HINT_T0);
    }
    return load_weights(type, rows[r], k, valid);
  }
};

template <int MR, class Rows>
void float_tile(const Rows& w, const float* const* x, uint64_t k0, uint64_t k1,
                __m256 (&acc)[kFloatMR][kFloatNR]) {
  // Accumulators in locals during the loop, so that they stay in registers.
  __m256 c[MR][kFloatNR];
  for (int m = 0; m < MR; ++m) {
    for (int r = 0; r < kFloatNR; ++r) c[m][r] = acc[m][r];
  }
  for (uint64_t k = k0; k < k1; k += 8) {
    const size_t valid = k1 - k;
    const __m256i mask = tail_mask(valid);
    __m256 xv[MR];
    for (int m = 0; m < MR; ++m) xv[m] = _mm256_maskload_ps(x[m] + k, mask);
    for (int r = 0; r < kFloatNR; ++r) {
      const __m256 wv = w.get(r, k, valid);
      for (int m = 0; m < MR; ++m) c[m][r] = _mm256_fmadd_ps(xv[m], wv, c[m][r]);
    }
  }
  for (int m = 0; m < MR; ++m) {
    for (int r = 0; r < kFloatNR; ++r) acc[m][r] = c[m][r];
  }
}

void float_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  const size_t elem = a.type == GgmlType::F32 ? 4 : 2;
  const size_t m_tiles = (a.m + kFloatMR - 1) / kFloatMR;
  auto rows_of = [&](size_t m0, int mr, const float*(&x)[kFloatMR]) {
    for (int m = 0; m < kFloatMR; ++m) x[m] = a.x + (m0 + (m < mr ? m : 0)) * a.ldx;
  };
  if (m_tiles == 1) {
    const int mr = static_cast<int>(a.m);
    const float* x[kFloatMR];
    rows_of(0, mr, x);
    for (size_t n = n_begin; n < n_end; n += kFloatNR) {
      const int nr = static_cast<int>(min_size(kFloatNR, n_end - n));
      FloatRows rows{{}, a.type, kFloatNR * a.w_row_bytes, elem};
      for (int r = 0; r < kFloatNR; ++r) {
        rows.rows[r] = a.w + (n + (r < nr ? r : 0)) * a.w_row_bytes;
      }
      __m256 acc[kFloatMR][kFloatNR];
      for (auto& row : acc) {
        for (auto& v : row) v = _mm256_setzero_ps();
      }
      with_rows<kFloatMR>(mr, [&]<int MR>() { float_tile<MR>(rows, x, 0, a.k, acc); });
      store_tile(a, 0, mr, n, nr, acc);
    }
    return;
  }
  const bool convert = a.type != GgmlType::F32;
  const uint64_t chunks = (a.k + kFloatChunk - 1) / kFloatChunk;
  float* panel =
      convert ? reinterpret_cast<float*>(thread_scratch(0, kFloatNR * kFloatChunk * sizeof(float)))
              : nullptr;
  auto* saved = chunks > 1 ? reinterpret_cast<__m256*>(
                                 thread_scratch(1, m_tiles * kFloatMR * kFloatNR * sizeof(__m256)))
                           : nullptr;
  for (size_t n = n_begin; n < n_end; n += kFloatNR) {
    const int nr = static_cast<int>(min_size(kFloatNR, n_end - n));
    for (uint64_t c = 0; c < chunks; ++c) {
      const uint64_t k0 = c * kFloatChunk;
      const uint64_t k1 = k0 + kFloatChunk < a.k ? k0 + kFloatChunk : a.k;
      FloatPanel w{{}, k0};
      for (int r = 0; r < kFloatNR; ++r) {
        const size_t row = n + (r < nr ? r : nr - 1);
        if (convert) {
          float* dst = panel + r * kFloatChunk;
          if (r < nr) {
            const std::byte* src = a.w + row * a.w_row_bytes + k0 * elem;
            for (uint64_t i = 0; i < k1 - k0; i += 8) {
              const size_t valid = k1 - k0 - i;
              _mm256_maskstore_ps(dst + i, tail_mask(valid), load_weights(a.type, src, i, valid));
            }
          }
          w.w[r] = r < nr ? dst : panel + (nr - 1) * kFloatChunk;
        } else {
          w.w[r] = reinterpret_cast<const float*>(a.w + row * a.w_row_bytes) + k0;
        }
      }
      for (size_t t = 0; t < m_tiles; ++t) {
        const size_t m0 = t * kFloatMR;
        const int mr = static_cast<int>(min_size(kFloatMR, a.m - m0));
        __m256 acc[kFloatMR][kFloatNR];
        __m256* state = chunks > 1 ? saved + t * kFloatMR * kFloatNR : nullptr;
        for (int m = 0; m < kFloatMR; ++m) {
          for (int r = 0; r < kFloatNR; ++r) {
            acc[m][r] = c == 0 ? _mm256_setzero_ps() : state[m * kFloatNR + r];
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

void matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  switch (a.type) {
    case GgmlType::Q8_0:
      return int_matmul<Q8_0>(a, n_begin, n_end);
    case GgmlType::Q4_0:
      return int_matmul<Q4_0>(a, n_begin, n_end);
    case GgmlType::Q4_K:
      return int_matmul<Q4_K>(a, n_begin, n_end);
    case GgmlType::Q6_K:
      return int_matmul<Q6_K>(a, n_begin, n_end);
    default:
      return float_matmul(a, n_begin, n_end);
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels.

// exp(x) for 8 lanes, as in avx512.cpp; inputs are clamped to [-87.3, 88.7].
inline __m256 exp_ps(__m256 x) {
  const __m256 log2e = _mm256_set1_ps(1.44269504088896341F);
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.7F)), _mm256_set1_ps(-87.3F));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375F), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4F), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4F);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1F));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1F));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0F)));
  // 2^n in two steps, so that n = 128 (x near 88.7) does not overflow the exponent field.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256 f1 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
  const __m256 f2 = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
}

void rmsnorm(const float* x, const float* w, float eps, float* y, size_t n) {
  __m256 ss = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 8) {
    const __m256 v = _mm256_maskload_ps(x + i, tail_mask(n - i));
    ss = _mm256_fmadd_ps(v, v, ss);
  }
  const float inv = 1.0F / sqrtf(hsum(ss) / static_cast<float>(n) + eps);
  const __m256 iv = _mm256_set1_ps(inv);
  for (size_t i = 0; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    const __m256 v = _mm256_maskload_ps(x + i, mask);
    _mm256_maskstore_ps(y + i, mask,
                        _mm256_mul_ps(_mm256_mul_ps(v, iv), _mm256_maskload_ps(w + i, mask)));
  }
}

void swiglu(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    const __m256 g = _mm256_maskload_ps(gate + i, mask);
    const __m256 u = _mm256_maskload_ps(up + i, mask);
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0F), e));
    _mm256_maskstore_ps(out + i, mask, _mm256_mul_ps(silu, u));
  }
}

void add(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    _mm256_maskstore_ps(
        y + i, mask,
        _mm256_add_ps(_mm256_maskload_ps(y + i, mask), _mm256_maskload_ps(x + i, mask)));
  }
}

void softmax(const float* x, size_t n, float scale, float* out) {
  float mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const __m256 max_v = _mm256_set1_ps(mx);
  const __m256 scale_v = _mm256_set1_ps(scale);
  __m256 sum = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    const __m256 e = _mm256_and_ps(
        _mm256_castsi256_ps(mask),
        exp_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), max_v), scale_v)));
    _mm256_maskstore_ps(out + i, mask, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0F / hsum(sum));
  for (size_t i = 0; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    _mm256_maskstore_ps(out + i, mask, _mm256_mul_ps(_mm256_maskload_ps(out + i, mask), inv));
  }
}

void store_row(const float* x, GgmlType type, std::byte* dst, size_t n) {
  if (type != GgmlType::F16) {
    memcpy(dst, x, n * sizeof(float));
    return;
  }
  auto* h = reinterpret_cast<uint16_t*>(dst);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) h[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

// ---------------------------------------------------------------------------------------------
// Attention, as in avx512.cpp.

inline __m256 load_kv(const std::byte* p, GgmlType type, size_t i, size_t valid) {
  if (type == GgmlType::F16) {
    const auto* h = reinterpret_cast<const uint16_t*>(p) + i;
    if (valid >= 8) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
    uint16_t tmp[8] = {};
    memcpy(tmp, h, valid * sizeof(uint16_t));
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp)));
  }
  return _mm256_maskload_ps(reinterpret_cast<const float*>(p) + i, tail_mask(valid));
}

constexpr size_t kMaxHeadVectors = 32;  // head_dim up to 256

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
  const size_t nv = (hd + 7) / 8;
  auto slot_ptr = [&](const std::byte* const* pages, size_t slot) {
    return pages[slot / ps] + (a.kv_head * ps + slot % ps) * hd * elem;
  };
  for (size_t t = 0; t < a.count; ++t) {
    const size_t len = a.context + a.first + t + 1;
    const size_t stride = round_up(len, 8);
    float* scores = a.scratch;
    for (size_t i = 0; i < a.group * stride; i += 8)
      _mm256_storeu_ps(scores + i, _mm256_setzero_ps());
    for (size_t g = 0; g < a.group; ++g) {
      const float* qp = a.q + t * a.ldq + (a.kv_head * a.group + g) * hd;
      __m256 q[kMaxHeadVectors];
      for (size_t v = 0; v < nv; ++v) q[v] = _mm256_maskload_ps(qp + 8 * v, tail_mask(hd - 8 * v));
      float* s = scores + g * stride;
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; ++j) {
          const std::byte* kp = slot_ptr(a.kv.k_pages, j);
          __m256 acc = _mm256_mul_ps(q[0], load_kv(kp, a.kv.type, 0, hd));
          for (size_t v = 1; v < nv; ++v) {
            acc = _mm256_fmadd_ps(q[v], load_kv(kp, a.kv.type, 8 * v, hd - 8 * v), acc);
          }
          s[j] = hsum(acc) * a.scale;
        }
      });
      __m256 mx = _mm256_set1_ps(-INFINITY);
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; ++j) mx = _mm256_max_ps(mx, _mm256_set1_ps(s[j]));
      });
      const __m256 max_v = _mm256_set1_ps(hmax(mx));
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        size_t j = b;
        for (; j + 8 <= e; j += 8) {
          _mm256_storeu_ps(s + j, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), max_v)));
        }
        if (j < e) {
          const __m256i mask = tail_mask(e - j);
          _mm256_maskstore_ps(s + j, mask,
                              exp_ps(_mm256_sub_ps(_mm256_maskload_ps(s + j, mask), max_v)));
        }
      });
      __m256 sum = _mm256_setzero_ps();
      for (size_t j = 0; j < stride; j += 8) sum = _mm256_add_ps(sum, _mm256_loadu_ps(s + j));
      const float total = hsum(sum);
      const float inv = total > 0 ? 1.0F / total : 0.0F;
      __m256 o[kMaxHeadVectors];
      for (size_t v = 0; v < nv; ++v) o[v] = _mm256_setzero_ps();
      for_each_attended(a, t, len, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; ++j) {
          const std::byte* vp = slot_ptr(a.kv.v_pages, j);
          const __m256 p = _mm256_set1_ps(s[j] * inv);
          for (size_t v = 0; v < nv; ++v) {
            o[v] = _mm256_fmadd_ps(p, load_kv(vp, a.kv.type, 8 * v, hd - 8 * v), o[v]);
          }
        }
      });
      float* op = a.out + t * a.ldout + (a.kv_head * a.group + g) * hd;
      for (size_t v = 0; v < nv; ++v) _mm256_maskstore_ps(op + 8 * v, tail_mask(hd - 8 * v), o[v]);
    }
  }
}

}  // namespace
}  // namespace avx2

const KernelTable& avx2_table() {
  static const KernelTable table{
      .act_format = int8_or_float_acts,
      .packed_act_bytes = avx2::packed_act_bytes,
      .pack_acts = avx2::pack_acts,
      .reads_lanes16 = avx2::reads_lanes16,
      .matmul = avx2::matmul,
      .rmsnorm = avx2::rmsnorm,
      .swiglu = avx2::swiglu,
      .add = avx2::add,
      .softmax = avx2::softmax,
      .store_row = avx2::store_row,
      .attention = avx2::attention,
  };
  return table;
}

}  // namespace pie::kernels::detail
