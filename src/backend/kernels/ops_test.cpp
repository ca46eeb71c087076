#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/kernels/kernels.h"
#include "backend/kernels/test_util.h"
#include "backend/model/quant.h"

namespace pie::kernels {
namespace {

using model::GgmlType;
using testing::IsaScope;
using testing::random_vector;

class Ops : public testing::PerIsa {};

TEST_P(Ops, RmsNormMatchesDefinition) {
  ThreadPool pool(2);
  for (size_t n : {8UL, 64UL, 172UL, 2048UL}) {
    const size_t rows = 3;
    const std::vector<float> x = random_vector(rows * n, 1, 3.0F);
    const std::vector<float> w = random_vector(n, 2);
    std::vector<float> y(rows * n);
    rmsnorm(pool, x.data(), n, rows, w.data(), n, 1e-5F, y.data(), n);
    for (size_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[r * n + i]) * x[r * n + i];
      const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
      for (size_t i = 0; i < n; ++i) {
        const double expect = x[r * n + i] * inv * w[i];
        ASSERT_NEAR(y[r * n + i], expect, 1e-5 * (std::fabs(expect) + 1e-3)) << n << " " << i;
      }
    }
  }
}

TEST_P(Ops, RmsNormPerHeadNormalisesEachSlice) {
  ThreadPool pool(1);
  const size_t heads = 3;
  const size_t hd = 24;
  std::vector<float> x = random_vector(2 * heads * hd, 3);
  const std::vector<float> w = random_vector(hd, 4);
  std::vector<float> expect(x.size());
  for (size_t r = 0; r < 2; ++r) {
    for (size_t h = 0; h < heads; ++h) {
      const size_t off = (r * heads + h) * hd;
      rmsnorm(pool, x.data() + off, hd, 1, w.data(), hd, 1e-6F, expect.data() + off, hd);
    }
  }
  rmsnorm_heads(pool, x.data(), heads * hd, 2, heads, hd, w.data(), 1e-6F);
  EXPECT_EQ(x, expect);
}

TEST_P(Ops, SwigluMatchesDefinition) {
  ThreadPool pool(2);
  const size_t n = 173;
  std::vector<float> gate = random_vector(2 * n, 5, 4.0F);
  gate[0] = -120.0F;  // exp overflow side: silu -> -0
  gate[1] = 95.0F;    // silu(x) -> x
  const std::vector<float> up = random_vector(2 * n, 6);
  std::vector<float> out(2 * n);
  swiglu(pool, gate.data(), up.data(), out.data(), n, 2, n);
  for (size_t i = 0; i < 2 * n; ++i) {
    const double g = gate[i];
    const double expect = g / (1.0 + std::exp(-g)) * up[i];
    ASSERT_NEAR(out[i], expect, 2e-6 * std::fabs(expect) + 1e-30) << i;
  }
}

TEST_P(Ops, AddAddsRows) {
  ThreadPool pool(2);
  const std::vector<float> x = random_vector(3 * 21, 7);
  std::vector<float> y = random_vector(3 * 21, 8);
  std::vector<float> expect(y.size());
  for (size_t i = 0; i < y.size(); ++i) expect[i] = y[i] + x[i];
  add(pool, x.data(), 21, y.data(), 21, 3, 21);
  EXPECT_EQ(y, expect);
}

TEST_P(Ops, StoreRowRoundsToHalfLikeTheReference) {
  const std::vector<float> x = random_vector(77, 9, 10.0F);
  std::vector<std::byte> half(77 * 2);
  store_row(x.data(), GgmlType::F16, half.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    uint16_t h = 0;
    std::memcpy(&h, half.data() + 2 * i, 2);
    ASSERT_EQ(h, model::fp32_to_fp16(x[i])) << i;
  }
  std::vector<float> copy(77);
  store_row(x.data(), GgmlType::F32, reinterpret_cast<std::byte*>(copy.data()), x.size());
  EXPECT_EQ(copy, x);
}

TEST_P(Ops, SoftmaxMatchesDefinition) {
  for (size_t n : {1UL, 7UL, 100UL, 5000UL}) {
    for (float scale : {1.0F, 0.5F, 1e6F}) {
      const std::vector<float> x = random_vector(n, 12, 5.0F);
      std::vector<float> p(n);
      softmax(x.data(), n, scale, p.data());
      const double mx = *std::max_element(x.begin(), x.end());
      double sum = 0;
      for (float v : x) sum += std::exp((v - mx) * scale);
      double total = 0;
      for (size_t i = 0; i < n; ++i) {
        const double arg = (x[i] - mx) * scale;
        const double expect = std::exp(arg) / sum;
        // The argument is formed in float: its rounding error grows with its size.
        const double rel = 2e-6 + 2e-7 * std::fabs(arg);
        ASSERT_NEAR(p[i], expect, rel * expect + 1e-30) << n << " " << scale << " " << i;
        total += p[i];
      }
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
  }
}

PIE_INSTANTIATE_PER_ISA(Ops);

TEST(Rope, RotatesPairsInEitherStyle) {
  const size_t hd = 8;
  const std::vector<float> inv_freq = {1.0F, 0.1F, 0.01F, 0.001F};
  const std::vector<uint32_t> positions = {0, 7};
  const std::vector<float> x = random_vector(2 * 2 * hd, 10);  // 2 rows, 2 heads
  for (auto style : {model::RopeStyle::Interleaved, model::RopeStyle::HalfSplit}) {
    std::vector<float> y = x;
    rope(y.data(), 2 * hd, 2, 2, hd, positions, inv_freq, style);
    for (size_t r = 0; r < 2; ++r) {
      for (size_t h = 0; h < 2; ++h) {
        for (size_t i = 0; i < 4; ++i) {
          const size_t a = style == model::RopeStyle::Interleaved ? 2 * i : i;
          const size_t b = style == model::RopeStyle::Interleaved ? 2 * i + 1 : i + 4;
          const size_t off = (r * 2 + h) * hd;
          const double angle = static_cast<double>(positions[r]) * inv_freq[i];
          const double ea = x[off + a] * std::cos(angle) - x[off + b] * std::sin(angle);
          const double eb = x[off + a] * std::sin(angle) + x[off + b] * std::cos(angle);
          EXPECT_NEAR(y[off + a], ea, 1e-5);
          EXPECT_NEAR(y[off + b], eb, 1e-5);
        }
      }
    }
    // Position 0 is the identity.
    for (size_t i = 0; i < 2 * hd; ++i) EXPECT_EQ(y[i], x[i]);
  }
}

TEST(Rope, LeavesElementsPastRotatedDimsAlone) {
  const size_t hd = 8;
  const std::vector<float> inv_freq = {1.0F, 0.5F};  // rotates 4 of 8
  const std::vector<uint32_t> positions = {3};
  std::vector<float> x = random_vector(hd, 11);
  const std::vector<float> before = x;
  rope(x.data(), hd, 1, 1, hd, positions, inv_freq, model::RopeStyle::HalfSplit);
  for (size_t i = 4; i < hd; ++i) EXPECT_EQ(x[i], before[i]);
  EXPECT_NE(x[0], before[0]);
}

}  // namespace
}  // namespace pie::kernels
