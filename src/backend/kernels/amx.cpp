// The AMX level: the AVX-512 kernels, except that F16 and BF16 weights in the Lanes16 layout are
// multiplied on the tile unit. TDPBF16PS multiplies bf16 values (products exact in float) and sums
// them into float tiles, 16 x 16 x 32 multiply-adds an instruction: 13 times the f32 FMA rate of
// the AVX-512 units on a Sapphire Rapids core.
//
// Neither operand is bf16 as it comes, so both are split into bf16 pieces that sum to the value:
//  - an input x (float, 24 significant bits) into hi + mid + lo, 8 bits each: hi is x truncated to
//    bf16, mid the remainder truncated, lo what is left (each remainder is exact in float, the last
//    has at most 8 bits);
//  - an F16 weight w (11 bits) into hi + lo, lo the 3 bits past bf16's 8 (a BF16 weight is one).
// Products of pieces are exact. BF16 weights take all three (x w exactly); F16 weights take five,
// every one but lo_x lo_w, which is below 2^-22 |x w|: the float rounding of a sum of two products.
//
// Batch invariance: each output is a float sum over k in a fixed order (block by block of 32 k,
// the pieces' products in the order of multiply_block), and a tile computes each of its rows from
// that row alone. Up to 16 rows, tiles are configured with that many rows; beyond, a last tile
// overlaps the one before instead of running past the rows. So a row's outputs are the same bits
// alone and in any batch, and the same as from the AVX-512 level's kernels up to float rounding.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/kernels/table.h"

namespace pie::kernels::detail {
namespace amx {
namespace {

using model::GgmlType;

constexpr uint64_t kTileK = 32;  // bf16 elements in a tile row (64 bytes)
constexpr int kMaxTileRows = 16;
constexpr size_t kTileElems = 16 * kTileK;  // bf16 elements of a full tile: 1 KB
// k per chunk of converted weights: 16 KB of bf16 pieces per group of F16 weights, so that the
// chunk of the two groups that tile_matmul multiplies stays in L1 while the input rows go by.
constexpr uint64_t kChunk = 256;
constexpr uint64_t kChunkBlocks = kChunk / kTileK;
// Prefetch distance in each group's stream of weights (measured: 1-4 KB alike for decode).
constexpr uint64_t kPrefetchBytes = 2048;

uint64_t padded(uint64_t k) {
  return (k + kTileK - 1) / kTileK * kTileK;
}

inline __m512i bf16_bits() {
  return _mm512_set1_epi32(static_cast<int>(0xFFFF0000U));
}

// v with the significand cut to bf16's 8 bits (toward zero): a float whose low 16 bits are zero.
inline __m512 truncated(__m512 v) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), bf16_bits()));
}

// The bf16 of floats whose low 16 bits are zero.
inline __m256i upper_halves(__m512 v) {
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
}

ActFormat act_format(GgmlType type, WeightLayout layout) {
  if ((type == GgmlType::F16 || type == GgmlType::BF16) && layout == WeightLayout::Lanes16) {
    return ActFormat::Bf16Pieces;
  }
  return avx512_table().act_format(type, layout);
}

// Bf16Pieces row: hi, mid and lo of the row, each padded with zeros to a multiple of 32 elements,
// then 64 unused bytes: a tile load reads 16 rows at this stride, which must not be a multiple of
// 4 KB (rows that map to one L1 set evict each other).
size_t packed_act_bytes(ActFormat format, uint64_t k) {
  if (format != ActFormat::Bf16Pieces) return avx512_table().packed_act_bytes(format, k);
  return 3 * padded(k) * sizeof(uint16_t) + 64;
}

void pack_acts(ActFormat format, const float* x, uint64_t k, std::byte* out) {
  if (format != ActFormat::Bf16Pieces) return avx512_table().pack_acts(format, x, k, out);
  const uint64_t kp = padded(k);
  auto* hi = reinterpret_cast<uint16_t*>(out);
  uint16_t* mid = hi + kp;
  uint16_t* lo = mid + kp;
  for (uint64_t i = 0; i < kp; i += 16) {
    const __mmask16 valid = i + 16 <= k ? 0xFFFF : i < k ? (1U << (k - i)) - 1 : 0;
    const __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
    const __m512 h = truncated(v);
    const __m512 r = _mm512_sub_ps(v, h);
    const __m512 m = truncated(r);
    const __m512 l = _mm512_sub_ps(r, m);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi + i), upper_halves(h));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(mid + i), upper_halves(m));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo + i), upper_halves(l));
  }
}

// Tiles of tile_matmul: 0-3 the float outputs of two row tiles x two groups of 16 weight rows, 4-5
// the inputs of the two row tiles, 6-7 the weights of the two groups.
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles below `weight_tiles` hold outputs or inputs (`rows` rows), the others weights (16 pairs of
// k).
void configure_tiles(int rows, int weight_tiles) {
  TileConfig c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = static_cast<uint8_t>(t < weight_tiles ? rows : 16);
  }
  _tile_loadconfig(&c);
}

// The weights of one group (16 rows, Lanes16) from element k0 on, as B tiles of 32 k: tile row j
// (row j % 16 of block j / 16) holds, for each of the 16 weight rows, elements k and k + 1
// (k = k0 + 2 j) side by side as bf16, zero past the row length. F16: the hi pieces at hi + 32 j,
// the lo pieces at lo + 32 j. Converts tile rows [j_begin, j_end).
template <bool kBf16>
void convert_group(const uint16_t* group, uint64_t k, uint64_t k0, uint64_t j_begin, uint64_t j_end,
                   uint16_t* hi, uint16_t* lo) {
  const __m512i pairs =  // bf16 words of rows k and k + 1 into dwords (word n, word 16 + n)
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const bool inside = k0 + 2 * j_end <= k;  // no element past the row: plain loads
  for (uint64_t j = j_begin; j < j_end; ++j) {
    const uint64_t kk = k0 + 2 * j;
    const uint16_t* src = group + kk * 16;
    _mm_prefetch(reinterpret_cast<const char*>(src) + kPrefetchBytes, _MM_HINT_T0);
    const __mmask16 valid0 = inside || kk < k ? 0xFFFF : 0;
    const __mmask16 valid1 = inside || kk + 1 < k ? 0xFFFF : 0;
    if constexpr (kBf16) {
      const __m512i both =
          inside ? _mm512_loadu_si512(src)
                 : _mm512_maskz_loadu_epi16(valid0 | static_cast<__mmask32>(valid1) << 16, src);
      _mm512_storeu_si512(hi + j * 32, _mm512_permutexvar_epi16(pairs, both));
    } else {
      const __m512 a =
          _mm512_cvtph_ps(inside ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))
                                 : _mm256_maskz_loadu_epi16(valid0, src));
      const __m512 b =
          _mm512_cvtph_ps(inside ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 16))
                                 : _mm256_maskz_loadu_epi16(valid1, src + 16));
      const __m512i ai = _mm512_castps_si512(a);
      const __m512i bi = _mm512_castps_si512(b);
      // (a >> 16) | (b & 0xFFFF0000): the upper halves of a and b as one dword.
      _mm512_storeu_si512(
          hi + j * 32, _mm512_ternarylogic_epi32(_mm512_srli_epi32(ai, 16), bi, bf16_bits(), 0xF8));
      const __m512i la = _mm512_castps_si512(_mm512_sub_ps(a, truncated(a)));
      const __m512i lb = _mm512_castps_si512(_mm512_sub_ps(b, truncated(b)));
      _mm512_storeu_si512(lo + j * 32, _mm512_or_si512(_mm512_srli_epi32(la, 16), lb));
    }
  }
}

// Where the operands of one block of 32 k lie: the input pieces of the two row tiles (row-major,
// stride a_stride), the weight pieces of the two groups (1 KB tiles, stride 64).
struct BlockOperands {
  const uint16_t* a[2][3];  // [row tile][hi, mid, lo]
  const uint16_t* b[2][2];  // [group][hi, lo]
  size_t a_stride;
};

#define PIE_AMX_PRODUCTS(kTwoRows) \
  _tile_dpbf16ps(0, 4, 6);         \
  _tile_dpbf16ps(1, 4, 7);         \
  if constexpr (kTwoRows) {        \
    _tile_dpbf16ps(2, 5, 6);       \
    _tile_dpbf16ps(3, 5, 7);       \
  }

#define PIE_AMX_LOAD_INPUTS(kTwoRows, piece)   \
  _tile_loadd(4, o.a[0][piece], o.a_stride);   \
  if constexpr (kTwoRows) {                    \
    _tile_loadd(5, o.a[1][piece], o.a_stride); \
  }

// Adds one block's products into tiles 0-3. Loads are ordered so that each operand pair is loaded
// once: (hi_x, hi_w) (mid_x, hi_w) (lo_x, hi_w), then for F16 (mid_x, lo_w) (hi_x, lo_w).
template <bool kBf16, bool kTwoRows>
inline void multiply_block(const BlockOperands& o) {
  _tile_loadd(6, o.b[0][0], 64);
  _tile_loadd(7, o.b[1][0], 64);
  PIE_AMX_LOAD_INPUTS(kTwoRows, 0)
  PIE_AMX_PRODUCTS(kTwoRows)
  PIE_AMX_LOAD_INPUTS(kTwoRows, 1)
  PIE_AMX_PRODUCTS(kTwoRows)
  PIE_AMX_LOAD_INPUTS(kTwoRows, 2)
  PIE_AMX_PRODUCTS(kTwoRows)
  if constexpr (!kBf16) {
    _tile_loadd(6, o.b[0][1], 64);
    _tile_loadd(7, o.b[1][1], 64);
    PIE_AMX_LOAD_INPUTS(kTwoRows, 1)
    PIE_AMX_PRODUCTS(kTwoRows)
    PIE_AMX_LOAD_INPUTS(kTwoRows, 0)
    PIE_AMX_PRODUCTS(kTwoRows)
  }
}

#undef PIE_AMX_PRODUCTS
#undef PIE_AMX_LOAD_INPUTS

void zero_output_tiles() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// Stores output tile t (0-3) at dst, 64 bytes a row (tile numbers are immediates, hence the
// switch).
void store_output_tile(int t, float* dst) {
  switch (t) {
    case 0:
      _tile_stored(0, dst, 64);
      break;
    case 1:
      _tile_stored(1, dst, 64);
      break;
    case 2:
      _tile_stored(2, dst, 64);
      break;
    default:
      _tile_stored(3, dst, 64);
      break;
  }
}

// Writes rows [first, rows) of an output tile (16 floats each, of which `cols` are outputs) into
// y, the tile's row 0 being row0 of y.
void write_tile(const MatmulArgs& a, const float* tile, size_t row0, size_t first, size_t rows,
                size_t n0, size_t cols) {
  const __mmask16 mask = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1U << cols) - 1);
  for (size_t r = first; r < rows; ++r) {
    float* y = a.y + (row0 + r) * a.ldy + n0;
    __m512 v = _mm512_load_ps(tile + 16 * r);
    if (a.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, y));
    _mm512_mask_storeu_ps(y, mask, v);
  }
}

// One product term of a block for four groups of one row tile: input piece xp (tile 4) times
// weight piece wp of each group (tiles 5-7 in turn) into output tiles 0-3.
#define PIE_AMX_TERM_4(x, x_stride, w, xp, wp) \
  _tile_loadd(4, (x)[xp], x_stride);           \
  _tile_loadd(5, (w)[0][wp], 64);              \
  _tile_dpbf16ps(0, 4, 5);                     \
  _tile_loadd(6, (w)[1][wp], 64);              \
  _tile_dpbf16ps(1, 4, 6);                     \
  _tile_loadd(7, (w)[2][wp], 64);              \
  _tile_dpbf16ps(2, 4, 7);                     \
  _tile_loadd(5, (w)[3][wp], 64);              \
  _tile_dpbf16ps(3, 4, 5);

// At most 16 input rows (decode): one row tile and four groups at a time, the products of a block
// in the order of multiply_block. The next block of each group is converted between the terms of
// this one, so that the vector units convert (and the loads wait for memory) while the tile unit
// multiplies.
template <bool kBf16>
void few_rows_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  constexpr int kPieces = kBf16 ? 1 : 2;
  constexpr size_t kSlot = 4 * kPieces * kTileElems;  // one block of four groups' pieces
  const uint64_t kp = padded(a.k);
  const uint64_t blocks = kp / kTileK;
  const size_t groups = (n_end - n_begin + 15) / 16;
  const int rows = static_cast<int>(a.m);
  configure_tiles(rows, 5);
  auto* slots = reinterpret_cast<uint16_t*>(thread_scratch(0, 2 * kSlot * 2));
  const auto* packed = reinterpret_cast<const uint16_t*>(a.w);
  const auto* inputs = reinterpret_cast<const uint16_t*>(a.packed_x);
  const size_t x_stride = a.packed_x_row_bytes;
  alignas(64) float out[kMaxTileRows * 16];
  for (size_t g0 = 0; g0 < groups; g0 += 4) {
    const size_t count = groups - g0 < 4 ? groups - g0 : 4;  // the others repeat group g0
    // Block b of group q (converted only for q < count).
    auto convert = [&](uint64_t b, size_t q) {
      if (b >= blocks || q >= count) return;
      uint16_t* dst = slots + (b % 2) * kSlot + q * kPieces * kTileElems;
      convert_group<kBf16>(packed + (n_begin / 16 + g0 + q) * a.k * 16, a.k, b * kTileK, 0, 16, dst,
                           dst + kTileElems);
    };
    zero_output_tiles();
    for (size_t q = 0; q < 4; ++q) convert(0, q);
    for (uint64_t b = 0; b < blocks; ++b) {
      asm volatile("" ::: "memory");  // the tile loads read what the vector stores wrote
      const uint16_t* slot = slots + (b % 2) * kSlot;
      const uint16_t* x[3];
      for (int p = 0; p < 3; ++p) x[p] = inputs + p * kp + b * kTileK;
      const uint16_t* w[4][2];
      for (size_t q = 0; q < 4; ++q) {
        const size_t from = q < count ? q : 0;
        w[q][0] = slot + from * kPieces * kTileElems;
        w[q][1] = w[q][0] + kTileElems;
      }
      PIE_AMX_TERM_4(x, x_stride, w, 0, 0)
      convert(b + 1, 0);
      PIE_AMX_TERM_4(x, x_stride, w, 1, 0)
      convert(b + 1, 1);
      PIE_AMX_TERM_4(x, x_stride, w, 2, 0)
      convert(b + 1, 2);
      if constexpr (!kBf16) {
        PIE_AMX_TERM_4(x, x_stride, w, 1, 1)
        convert(b + 1, 3);
        PIE_AMX_TERM_4(x, x_stride, w, 0, 1)
      } else {
        convert(b + 1, 3);
      }
    }
    for (size_t q = 0; q < count; ++q) {
      store_output_tile(static_cast<int>(q), out);
      const size_t n0 = n_begin + 16 * (g0 + q);
      write_tile(a, out, 0, 0, rows, n0, n_end - n0 < 16 ? n_end - n0 : 16);
    }
  }
}

#undef PIE_AMX_TERM_4

template <bool kBf16>
void tile_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end, size_t m_begin, size_t m_end) {
  constexpr int kPieces = kBf16 ? 1 : 2;
  const uint64_t kp = padded(a.k);
  const size_t groups = (n_end - n_begin + 15) / 16;
  const size_t group_pairs = (groups + 1) / 2;
  const size_t m = m_end - m_begin;
  const int rows = m < kMaxTileRows ? static_cast<int>(m) : kMaxTileRows;
  const size_t row_tiles = (m + kMaxTileRows - 1) / kMaxTileRows;
  const size_t row_pairs = (row_tiles + 1) / 2;
  // Row tile t covers rows [start, start + rows): the last one overlaps its neighbour instead of
  // running past the rows.
  auto tile_start = [&](size_t t) {
    const size_t start = t * kMaxTileRows;
    return m_begin + (start + rows <= m ? start : m - rows);
  };
  configure_tiles(rows, 6);

  // Per pair of weight groups, chunk by chunk of k (a step): the chunk's weights are converted
  // once (each group read as one stream), then multiplied with every row tile while they are in
  // L1; the next step's weights are converted a few tile rows after each block's products, so that
  // the vector units and memory work while the tile unit multiplies. The output tiles of each row
  // pair wait between chunks in `saved`.
  const uint64_t chunks = kp > kChunk ? kp / kChunk + (kp % kChunk != 0 ? 1 : 0) : 1;  // k = 0 too
  const size_t steps = group_pairs * chunks;
  const size_t group_chunk = kPieces * kChunkBlocks * kTileElems;  // bf16 elements
  auto* weights = reinterpret_cast<uint16_t*>(thread_scratch(0, 2 * 2 * group_chunk * 2));
  auto* saved =
      chunks > 1 ? reinterpret_cast<float*>(thread_scratch(1, row_pairs * 4 * 256 * sizeof(float)))
                 : nullptr;
  const auto* packed = reinterpret_cast<const uint16_t*>(a.w);
  const auto* inputs = reinterpret_cast<const uint16_t*>(a.packed_x);
  const size_t a_stride = a.packed_x_row_bytes;
  alignas(64) float out[kMaxTileRows * 16];

  auto groups_of = [&](size_t step, size_t(&g)[2]) {
    const size_t gp = step / chunks;
    g[0] = 2 * gp;
    g[1] = 2 * gp + 1 < groups ? 2 * gp + 1 : 2 * gp;
  };
  auto blocks_of = [&](size_t step) {
    const uint64_t k0 = step % chunks * kChunk;
    return (kp - k0 < kChunk ? kp - k0 : kChunk) / kTileK;
  };
  // Tile rows of a step's conversion: those of its first group, then of its second.
  auto rows_to_convert = [&](size_t step) -> uint64_t {
    if (step >= steps) return 0;
    size_t g[2];
    groups_of(step, g);
    return (g[1] != g[0] ? 2 : 1) * blocks_of(step) * 16;
  };
  auto convert = [&](size_t step, uint64_t from, uint64_t to) {
    if (from >= to) return;
    size_t g[2];
    groups_of(step, g);
    const uint64_t per_group = blocks_of(step) * 16;
    uint16_t* slot = weights + (step % 2) * 2 * group_chunk;
    for (size_t h = 0; h < 2; ++h) {
      const uint64_t lo = from > h * per_group ? from - h * per_group : 0;
      const uint64_t hi = to - h * per_group < per_group ? to - h * per_group : per_group;
      if (to <= h * per_group || lo >= hi) continue;
      uint16_t* dst = slot + h * group_chunk;
      convert_group<kBf16>(packed + (n_begin / 16 + g[h]) * a.k * 16, a.k, step % chunks * kChunk,
                           lo, hi, dst, dst + kChunkBlocks * kTileElems);
    }
  };

  convert(0, 0, rows_to_convert(0));
  for (size_t step = 0; step < steps; ++step) {
    size_t g[2];
    groups_of(step, g);
    const uint64_t c = step % chunks;
    const uint64_t k0 = c * kChunk;
    const uint64_t blocks = blocks_of(step);
    const uint16_t* slot = weights + (step % 2) * 2 * group_chunk;
    const uint64_t next_rows = rows_to_convert(step + 1);
    const uint64_t products = row_pairs * blocks;  // multiply_block calls of this step
    const uint64_t per_block = products > 0 ? (next_rows + products - 1) / products : next_rows;
    uint64_t converted = 0;
    asm volatile("" ::: "memory");  // the tile loads read what the vector stores wrote
    for (size_t rp = 0; rp < row_pairs; ++rp) {
      const size_t r[2] = {tile_start(2 * rp),
                           tile_start(2 * rp + 1 < row_tiles ? 2 * rp + 1 : 2 * rp)};
      const bool two_rows = 2 * rp + 1 < row_tiles;
      float* state = saved != nullptr ? saved + rp * 4 * 256 : nullptr;
      if (c == 0) {
        zero_output_tiles();
      } else {
        _tile_loadd(0, state, 64);
        _tile_loadd(1, state + 256, 64);
        _tile_loadd(2, state + 512, 64);
        _tile_loadd(3, state + 768, 64);
      }
      BlockOperands o{};
      o.a_stride = a_stride;
      for (uint64_t b = 0; b < blocks; ++b) {
        for (int t = 0; t < 2; ++t) {
          for (int p = 0; p < 3; ++p) {
            o.a[t][p] = inputs + r[t] * a_stride / 2 + p * kp + k0 + b * kTileK;
          }
          const size_t h = g[t] == g[0] ? 0 : 1;
          for (int p = 0; p < kPieces; ++p) {
            o.b[t][p] = slot + h * group_chunk + (p * kChunkBlocks + b) * kTileElems;
          }
        }
        if (two_rows) {
          multiply_block<kBf16, true>(o);
        } else {
          multiply_block<kBf16, false>(o);
        }
        const uint64_t upto = converted + per_block < next_rows ? converted + per_block : next_rows;
        convert(step + 1, converted, upto);
        converted = upto;
      }
      if (c + 1 < chunks) {
        for (int t = 0; t < 4; ++t) store_output_tile(t, state + 256 * t);
        continue;
      }
      for (int t = 0; t < (two_rows ? 2 : 1); ++t) {
        for (int h = 0; h < (g[1] != g[0] ? 2 : 1); ++h) {
          store_output_tile(2 * t + h, out);
          // An overlapping last tile writes only the rows its neighbour did not (which matters
          // when adding into y).
          const size_t first = m_begin + (2 * rp + t) * kMaxTileRows - r[t];
          const size_t n0 = n_begin + 16 * g[h];
          write_tile(a, out, r[t], first, rows, n0, n_end - n0 < 16 ? n_end - n0 : 16);
        }
      }
    }
    convert(step + 1, converted, next_rows);
  }
}

// At most this many rows go through tile_matmul at once, so that their input pieces (6 bytes an
// element: 1.5 MB for rows of 2048) stay in L2 while each pair of groups goes through them
// (measured: 512 rows at once ran at 70% of the rate of 128).
constexpr size_t kRowBlock = 128;

template <bool kBf16>
void half_matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  if (a.m <= kMaxTileRows) {
    few_rows_matmul<kBf16>(a, n_begin, n_end);
  } else {
    for (size_t m0 = 0; m0 < a.m; m0 += kRowBlock) {
      tile_matmul<kBf16>(a, n_begin, n_end, m0, a.m - m0 < kRowBlock ? a.m : m0 + kRowBlock);
    }
  }
  _tile_release();  // leaves no tile state for the kernel to save at a context switch
}

void matmul(const MatmulArgs& a, size_t n_begin, size_t n_end) {
  if (a.layout == WeightLayout::Lanes16 && a.type == GgmlType::F16) {
    return half_matmul<false>(a, n_begin, n_end);
  }
  if (a.layout == WeightLayout::Lanes16 && a.type == GgmlType::BF16) {
    return half_matmul<true>(a, n_begin, n_end);
  }
  avx512_table().matmul(a, n_begin, n_end);
}

}  // namespace
}  // namespace amx

const KernelTable& amx_table() {
  static const KernelTable table = [] {
    KernelTable t = avx512_table();
    t.act_format = amx::act_format;
    t.packed_act_bytes = amx::packed_act_bytes;
    t.pack_acts = amx::pack_acts;
    t.matmul = amx::matmul;
    return t;
  }();
  return table;
}

}  // namespace pie::kernels::detail
