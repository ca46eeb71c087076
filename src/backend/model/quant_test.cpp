#include "backend/model/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/error.h"

namespace pie::model {
namespace {

TEST(Quant, HalfPrecisionConversions) {
  EXPECT_EQ(fp32_to_fp16(1.0F), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(-2.0F), 0xC000);
  EXPECT_EQ(fp32_to_fp16(65504.0F), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(1e6F), 0x7C00);                // overflow to infinity
  EXPECT_EQ(fp32_to_fp16(5.960464477539063e-08F), 1);   // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(1.0F + 1.0F / 2048), 0x3C00);  // tie: rounds to even
  EXPECT_EQ(fp32_to_fp16(1.0F + 3.0F / 2048), 0x3C02);  // tie: rounds to even (up)
  EXPECT_FLOAT_EQ(fp16_to_fp32(0x3555), 0.333251953125F);
  EXPECT_FLOAT_EQ(fp16_to_fp32(0x0001), 5.960464477539063e-08F);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(NAN))));
  for (uint32_t h = 0; h < 0x7C00; ++h) {  // every finite positive half survives a round trip
    ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h);
  }
  EXPECT_EQ(fp32_to_bf16(1.0F), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(1.00390625F), 0x3F80);  // tie: rounds to even
  EXPECT_EQ(fp32_to_bf16(1.01171875F), 0x3F82);  // tie: rounds to even (up)
  EXPECT_FLOAT_EQ(bf16_to_fp32(0xC040), -3.0F);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(Quant, Q8_0Layout) {
  BlockQ8_0 block{};
  block.d = fp32_to_fp16(0.5F);
  for (int j = 0; j < 32; ++j) block.qs[j] = static_cast<int8_t>(j - 16);
  float out[32];
  dequantize_row(GgmlType::Q8_0, &block, out, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.5F * static_cast<float>(j - 16));
}

TEST(Quant, Q4_0NibbleOrder) {
  BlockQ4_0 block{};
  block.d = fp32_to_fp16(2.0F);
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[32];
  dequantize_row(GgmlType::Q4_0, &block, out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 2.0F * static_cast<float>(j - 8));       // low nibbles: first half
    EXPECT_EQ(out[j + 16], 2.0F * static_cast<float>(7 - j));  // high nibbles: second half
  }
}

TEST(Quant, Q4_KScalePacking) {
  BlockQ4_K block{};
  block.d = fp32_to_fp16(1.0F);
  block.dmin = fp32_to_fp16(0.5F);
  // Sub-block j gets scale 10 + j and min 40 + j (6-bit values, the high two bits of sub-blocks
  // 4..7 stored in the top bits of bytes 0..7).
  for (int j = 0; j < 8; ++j) {
    const int sc = 10 + j;
    const int m = 40 + j;
    if (j < 4) {
      block.scales[j] = static_cast<uint8_t>(sc);
      block.scales[j + 4] = static_cast<uint8_t>(m);
    } else {
      block.scales[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
      block.scales[j - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
      block.scales[j] |= static_cast<uint8_t>((m >> 4) << 6);
    }
  }
  for (int i = 0; i < 128; ++i) block.qs[i] = static_cast<uint8_t>(3 | (5 << 4));
  float out[256];
  dequantize_row(GgmlType::Q4_K, &block, out, 256);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc = 0;
    uint8_t m = 0;
    scale_min_k4(j, block.scales, &sc, &m);
    EXPECT_EQ(sc, 10 + j);
    EXPECT_EQ(m, 40 + j);
    const float q = j % 2 == 0 ? 3.0F : 5.0F;  // even sub-blocks: low nibbles
    for (int l = 0; l < 32; ++l) {
      EXPECT_FLOAT_EQ(out[32 * j + l],
                      1.0F * static_cast<float>(10 + j) * q - 0.5F * static_cast<float>(40 + j));
    }
  }
}

// The fifth bits: bit j of qh belongs to x[j], bit j + 16 to x[j + 16].
TEST(Quant, Q5_0HighBits) {
  BlockQ5_0 block{};
  block.d = fp32_to_fp16(1.0F);
  const uint32_t qh = (1u << 3) | (1u << 20);
  std::memcpy(block.qh, &qh, 4);
  float out[32];
  dequantize_row(GgmlType::Q5_0, &block, out, 32);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(out[j], (j == 3 || j == 20) ? 0.0F : -16.0F) << j;
  }
}

TEST(Quant, Q5_KHighBits) {
  BlockQ5_K block{};
  block.d = fp32_to_fp16(1.0F);
  for (int j = 0; j < 4; ++j) block.scales[j] = 1;  // sub-blocks 0..3: scale 1, min 0
  block.qh[5] = 0x01 | 0x08;                        // element 5 of sub-blocks 0 and 3
  float out[256];
  dequantize_row(GgmlType::Q5_K, &block, out, 256);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(out[i], (i == 5 || i == 96 + 5) ? 16.0F : 0.0F) << i;
}

TEST(Quant, Q6_KLayout) {
  BlockQ6_K block{};
  block.d = fp32_to_fp16(0.25F);
  for (int j = 0; j < 16; ++j) block.scales[j] = static_cast<int8_t>(j + 1);
  // Level 32 + 17 = 49 = 0b110001 everywhere: low nibble 1, high bits 3.
  std::memset(block.ql, 0x11, sizeof block.ql);
  std::memset(block.qh, 0xFF, sizeof block.qh);
  float out[256];
  dequantize_row(GgmlType::Q6_K, &block, out, 256);
  for (int i = 0; i < 256; ++i)
    EXPECT_FLOAT_EQ(out[i], 0.25F * static_cast<float>(i / 16 + 1) * 17);
}

// Quantise then dequantise random rows: the error stays within what each format allows.
TEST(Quant, RoundTripError) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0F, 0.02F);
  std::vector<float> x(4096);
  for (float& v : x) v = normal(rng);
  x[5] = 0.3F;  // an outlier
  const struct {
    GgmlType type;
    double max_relative_rms;
  } cases[] = {{GgmlType::F32, 0.0},   {GgmlType::F16, 1e-3},  {GgmlType::BF16, 5e-3},
               {GgmlType::Q8_0, 0.01}, {GgmlType::Q6_K, 0.05}, {GgmlType::Q4_K, 0.15},
               {GgmlType::Q4_0, 0.15}, {GgmlType::Q4_1, 0.15}, {GgmlType::Q5_0, 0.08},
               {GgmlType::Q5_1, 0.08}, {GgmlType::Q5_K, 0.08}};
  double signal = 0;
  for (float v : x) signal += static_cast<double>(v) * v;
  for (const auto& c : cases) {
    SCOPED_TRACE(type_name(c.type));
    std::vector<std::byte> q(row_bytes(c.type, x.size()));
    quantize_row(c.type, x.data(), q.data(), static_cast<int64_t>(x.size()));
    std::vector<float> y(x.size());
    dequantize_row(c.type, q.data(), y.data(), static_cast<int64_t>(x.size()));
    double noise = 0;
    for (size_t i = 0; i < x.size(); ++i) noise += (x[i] - y[i]) * static_cast<double>(x[i] - y[i]);
    EXPECT_LE(std::sqrt(noise / signal), c.max_relative_rms);
    // Quantising the dequantised row again changes nothing (the grid is stable) for blockwise
    // formats with a per-block absmax scale.
    if (c.type == GgmlType::Q8_0 || c.type == GgmlType::F16 || c.type == GgmlType::BF16) {
      std::vector<std::byte> q2(q.size());
      quantize_row(c.type, y.data(), q2.data(), static_cast<int64_t>(y.size()));
      EXPECT_EQ(q, q2);
    }
  }
}

TEST(Quant, ZeroRowsStayZero) {
  std::vector<float> x(256, 0.0F);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    std::vector<std::byte> q(row_bytes(t, 256));
    quantize_row(t, x.data(), q.data(), 256);
    std::vector<float> y(256, 1.0F);
    dequantize_row(t, q.data(), y.data(), 256);
    for (float v : y) ASSERT_EQ(v, 0.0F) << type_name(t);
  }
}

TEST(Quant, RejectsWhatItCannotDo) {
  float x[64] = {};
  std::byte out[256];
  EXPECT_THROW(quantize_row(GgmlType::Q4_K, x, out, 64), Error);  // not a multiple of 256
  EXPECT_THROW(dequantize_row(GgmlType::Q3_K, out, x, 256), Error);
  EXPECT_THROW(type_from_name("Q9_9"), Error);
  EXPECT_EQ(type_from_name("q4_k"), GgmlType::Q4_K);
}

}  // namespace
}  // namespace pie::model
