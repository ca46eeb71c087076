// Block layouts of the quantised GGML types, with reference (scalar) row conversions. The kernels
// use these as the ground truth their vectorised versions are tested against. Layouts and the
// dequantisation formulas are exactly ggml's (ggml-common.h, ggml-quants.c); the quantisers are
// simpler than ggml's (no iterative error search) but produce valid blocks of the same format.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/model/ggml_type.h"

namespace pie::model {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even, NaN stays NaN

constexpr int kQK4_0 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK_K = 256;

// x[j] = ((qs[j] & 0xF) - 8) * d, x[j + 16] = ((qs[j] >> 4) - 8) * d
struct BlockQ4_0 {
  uint16_t d;  // fp16
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// x[j] = (qs[j] & 0xF) * d + m, x[j + 16] = (qs[j] >> 4) * d + m
struct BlockQ4_1 {
  uint16_t d;  // fp16
  uint16_t m;  // fp16
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// As Q4_0 with a fifth bit per value in qh (bit j for x[j], bit j + 16 for x[j + 16]), offset 16.
struct BlockQ5_0 {
  uint16_t d;  // fp16
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

// As Q4_1 with a fifth bit per value in qh.
struct BlockQ5_1 {
  uint16_t d;  // fp16
  uint16_t m;  // fp16
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// x[j] = qs[j] * d
struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], with 6-bit sc / m packed in `scales`
// (see scale_min_k4) and 4-bit q: sub-blocks 2i and 2i+1 share qs[32i .. 32i+31] (low, high
// nibble).
struct BlockQ4_K {
  uint16_t d;     // fp16 super-block scale of the sub-block scales
  uint16_t dmin;  // fp16 super-block scale of the sub-block mins
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// As Q4_K with 5-bit q: the fifth bit of sub-block 2i's value l is bit 2i of qh[l], of sub-block
// 2i+1's bit 2i+1.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q 6-bit: low 4 bits in ql, high 2 in qh.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ6_K) == 210);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
void scale_min_k4(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min);

// One row of n elements (a multiple of the type's block size): F32, F16, BF16, Q8_0, Q4_0, Q4_K,
// Q6_K.
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_k(const void* src, float* dst, int64_t n);
void dequantize_row_q6_k(const void* src, float* dst, int64_t n);
void quantize_row_q4_0(const float* src, void* dst, int64_t n);
void quantize_row_q4_1(const float* src, void* dst, int64_t n);
void quantize_row_q5_0(const float* src, void* dst, int64_t n);
void quantize_row_q5_1(const float* src, void* dst, int64_t n);
void quantize_row_q5_k(const float* src, void* dst, int64_t n);
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
void quantize_row_q4_k(const float* src, void* dst, int64_t n);
void quantize_row_q6_k(const float* src, void* dst, int64_t n);

// Whether the row functions below handle `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K, Q6_K.
bool can_convert(GgmlType type);
// Dispatch on the type; throw pie::Error for a type not handled or a length not a block multiple.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace pie::model
