#include "backend/model/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/error.h"

namespace pie::model {
namespace {

uint32_t bits_of(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float float_of(uint32_t u) {
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

int nearest_int(float x) {
  return static_cast<int>(std::lrintf(x));
}

}  // namespace

// The two fp16 conversions are the branch-free IEEE ones ggml uses (from the FP16 library).
float fp16_to_fp32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = float_of((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = float_of((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t result = sign | (two_w < (1u << 27) ? bits_of(denormalized) : bits_of(normalized));
  return float_of(result);
}

uint16_t fp32_to_fp16(float f) {
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = bits_of(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = float_of((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = bits_of(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

float bf16_to_fp32(uint16_t h) {
  return float_of(static_cast<uint32_t>(h) << 16);
}

uint16_t fp32_to_bf16(float f) {
  const uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);  // quiet NaN
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

void scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      dst[i * kQK4_0 + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      dst[i * kQK4_0 + j + kQK4_0 / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    float amax = 0;
    float max = 0;  // the value of largest magnitude, with its sign
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1.0F / d : 0.0F;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const auto q0 = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j] * id + 8.5F)));
      const auto q1 =
          static_cast<uint8_t>(std::min(15, static_cast<int>(x[j + kQK4_0 / 2] * id + 8.5F)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0F / d : 0.0F;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    float* y = dst + i * kQK_K;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
      uint8_t sc = 0;
      uint8_t m = 0;
      scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

namespace {

// The shared half of the Q4_K / Q5_K quantisers: 8 sub-blocks of 32 map [min(x, 0), max(x)] onto
// 0..nmax (ggml's starting point, without its iterative refinement); fills d, dmin, the packed
// 6-bit scales and mins, and the levels.
void quantize_k_scales(const float* x, int nmax, uint16_t& d_out, uint16_t& dmin_out,
                       uint8_t* packed, uint8_t* levels) {
  float scales[kQK_K / 32];
  float mins[kQK_K / 32];
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < kQK_K / 32; ++j) {
    float lo = x[32 * j];
    float hi = x[32 * j];
    for (int l = 1; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    lo = std::min(lo, 0.0F);
    scales[j] = (hi - lo) / static_cast<float>(nmax);
    mins[j] = -lo;
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0F / max_scale : 0.0F;
  const float inv_min = max_min > 0 ? 63.0F / max_min : 0.0F;
  std::memset(packed, 0, 12);
  for (int j = 0; j < kQK_K / 32; ++j) {
    const auto ls = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    const auto lm = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  d_out = fp32_to_fp16(max_scale / 63);
  dmin_out = fp32_to_fp16(max_min / 63);
  std::memset(levels, 0, kQK_K);
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc = 0;
    uint8_t m = 0;
    scale_min_k4(j, packed, &sc, &m);
    const float d = fp16_to_fp32(d_out) * sc;
    if (d == 0) continue;
    const float dm = fp16_to_fp32(dmin_out) * m;
    for (int l = 0; l < 32; ++l) {
      levels[32 * j + l] =
          static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

void quantize_row_q4_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t levels[kQK_K];
    quantize_k_scales(src + i * kQK_K, 15, y[i].d, y[i].dmin, y[i].scales, levels);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) {
        q[l] = static_cast<uint8_t>(levels[j + l] | (levels[j + l + 32] << 4));
      }
    }
  }
}

void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    float* y = dst + i * kQK_K;
    uint8_t u1 = 1;
    uint8_t u2 = 2;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, ql += 32) {
      uint8_t sc = 0;
      uint8_t m = 0;
      scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) {
        *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - m2;
      }
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

void quantize_row_q5_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t levels[kQK_K];
    quantize_k_scales(src + i * kQK_K, 31, y[i].d, y[i].dmin, y[i].scales, levels);
    uint8_t* qh = y[i].qh;
    uint8_t* ql = y[i].qs;
    std::memset(qh, 0, kQK_K / 8);
    uint8_t m1 = 1;
    uint8_t m2 = 2;
    for (int j = 0; j < kQK_K; j += 64, ql += 32) {
      for (int l = 0; l < 32; ++l) {
        int l1 = levels[j + l];
        int l2 = levels[j + l + 32];
        if (l1 > 15) {
          l1 -= 16;
          qh[l] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          qh[l] |= m2;
        }
        ql[l] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
    }
  }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      dst[i * kQK4_0 + j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      dst[i * kQK4_0 + j + kQK4_0 / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    const auto [lo, hi] = std::minmax_element(x, x + kQK4_0);
    const float d = (*hi - *lo) / 15;
    const float id = d != 0 ? 1.0F / d : 0.0F;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(*lo);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const auto q0 =
          static_cast<uint8_t>(std::min(15, static_cast<int>((x[j] - *lo) * id + 0.5F)));
      const auto q1 = static_cast<uint8_t>(
          std::min(15, static_cast<int>((x[j + kQK4_0 / 2] - *lo) * id + 0.5F)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

namespace {

// The 5-bit values of a Q5_0 / Q5_1 block, 0..31, in element order.
void unpack_q5(const uint8_t* qh_bytes, const uint8_t* qs, int* out) {
  uint32_t qh = 0;
  std::memcpy(&qh, qh_bytes, sizeof qh);
  for (int j = 0; j < kQK4_0 / 2; ++j) {
    out[j] = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) << 4) & 0x10);
    out[j + kQK4_0 / 2] = (qs[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
  }
}

void pack_q5(const int* levels, uint8_t* qh_bytes, uint8_t* qs) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK4_0 / 2; ++j) {
    const int a = levels[j];
    const int b = levels[j + kQK4_0 / 2];
    qs[j] = static_cast<uint8_t>((a & 0x0F) | ((b & 0x0F) << 4));
    qh |= static_cast<uint32_t>((a & 0x10) >> 4) << j;
    qh |= static_cast<uint32_t>((b & 0x10) >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, sizeof qh);
}

}  // namespace

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    int q[kQK4_0];
    unpack_q5(x[i].qh, x[i].qs, q);
    for (int j = 0; j < kQK4_0; ++j) dst[i * kQK4_0 + j] = static_cast<float>(q[j] - 16) * d;
  }
}

void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    float amax = 0;
    float max = 0;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d != 0 ? 1.0F / d : 0.0F;
    y[i].d = fp32_to_fp16(d);
    int levels[kQK4_0];
    for (int j = 0; j < kQK4_0; ++j) {
      levels[j] = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5F)));
    }
    pack_q5(levels, y[i].qh, y[i].qs);
  }
}

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    int q[kQK4_0];
    unpack_q5(x[i].qh, x[i].qs, q);
    for (int j = 0; j < kQK4_0; ++j) dst[i * kQK4_0 + j] = static_cast<float>(q[j]) * d + m;
  }
}

void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    const auto [lo, hi] = std::minmax_element(x, x + kQK4_0);
    const float d = (*hi - *lo) / 31;
    const float id = d != 0 ? 1.0F / d : 0.0F;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(*lo);
    int levels[kQK4_0];
    for (int j = 0; j < kQK4_0; ++j) {
      levels[j] = std::min(31, static_cast<int>((x[j] - *lo) * id + 0.5F));
    }
    pack_q5(levels, y[i].qh, y[i].qs);
  }
}

void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    float* y = dst + i * kQK_K;
    for (int k = 0; k < kQK_K; k += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
    }
  }
}

void quantize_row_q6_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float scales[kQK_K / 16];
    float max_scale = 0;
    float max_abs_scale = 0;
    // Each sub-block maps its value of largest magnitude onto -32 (ggml's starting estimate).
    for (int j = 0; j < kQK_K / 16; ++j) {
      float amax = 0;
      float max = 0;
      for (int l = 0; l < 16; ++l) {
        if (std::fabs(x[16 * j + l]) > amax) {
          amax = std::fabs(x[16 * j + l]);
          max = x[16 * j + l];
        }
      }
      scales[j] = max / -32;
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(&y[i], 0, sizeof y[i]);
    if (max_abs_scale < 1e-15F) continue;  // an all-zero block
    const float iscale = -128.0F / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    for (int j = 0; j < kQK_K / 16; ++j) {
      y[i].scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    }
    uint8_t levels[kQK_K];
    std::fill(std::begin(levels), std::end(levels), uint8_t{32});
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        levels[16 * j + l] =
            static_cast<uint8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* L = levels + j + l;
        ql[l] = static_cast<uint8_t>((L[0] & 0xF) | ((L[64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((L[32] & 0xF) | ((L[96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((L[0] >> 4) | ((L[32] >> 4) << 2) | ((L[64] >> 4) << 4) |
                                     ((L[96] >> 4) << 6));
      }
    }
  }
}

bool can_convert(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

namespace {
void check_row(GgmlType type, int64_t n) {
  if (!can_convert(type)) {
    throw Error("tensor type " + type_name(type) +
                " cannot be converted (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                "Q4_K, Q5_K, Q6_K)");
  }
  row_bytes(type, static_cast<uint64_t>(n));  // throws for a length that is not a block multiple
}
}  // namespace

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  check_row(type, n);
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      return;
    case GgmlType::Q8_0:
      return dequantize_row_q8_0(src, dst, n);
    case GgmlType::Q4_0:
      return dequantize_row_q4_0(src, dst, n);
    case GgmlType::Q4_1:
      return dequantize_row_q4_1(src, dst, n);
    case GgmlType::Q5_0:
      return dequantize_row_q5_0(src, dst, n);
    case GgmlType::Q5_1:
      return dequantize_row_q5_1(src, dst, n);
    case GgmlType::Q5_K:
      return dequantize_row_q5_k(src, dst, n);
    case GgmlType::Q4_K:
      return dequantize_row_q4_k(src, dst, n);
    case GgmlType::Q6_K:
      return dequantize_row_q6_k(src, dst, n);
    default:
      return;
  }
}

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  check_row(type, n);
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = fp32_to_fp16(src[i]);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = fp32_to_bf16(src[i]);
      return;
    case GgmlType::Q8_0:
      return quantize_row_q8_0(src, dst, n);
    case GgmlType::Q4_0:
      return quantize_row_q4_0(src, dst, n);
    case GgmlType::Q4_1:
      return quantize_row_q4_1(src, dst, n);
    case GgmlType::Q5_0:
      return quantize_row_q5_0(src, dst, n);
    case GgmlType::Q5_1:
      return quantize_row_q5_1(src, dst, n);
    case GgmlType::Q5_K:
      return quantize_row_q5_k(src, dst, n);
    case GgmlType::Q4_K:
      return quantize_row_q4_k(src, dst, n);
    case GgmlType::Q6_K:
      return quantize_row_q6_k(src, dst, n);
    default:
      return;
  }
}

}  // namespace pie::model
