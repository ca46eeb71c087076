#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "backend/kernels/kernels.h"
#include "backend/kernels/test_util.h"
#include "backend/model/quant.h"
#include "common/error.h"

namespace pie::kernels {
namespace {

using model::GgmlType;
using testing::IsaScope;
using testing::random_vector;

// A weight matrix of `rows` x `cols` random values stored as `type`, with the values it decodes to.
struct TestWeights {
  std::vector<std::byte> bytes;
  std::vector<float> decoded;  // rows x cols, what the stored bytes stand for
  WeightMatrix w;
};

TestWeights make_weights(GgmlType type, size_t rows, size_t cols, uint32_t seed) {
  const std::vector<float> values = random_vector(rows * cols, seed, 0.05F);
  TestWeights t;
  const uint64_t rb = model::row_bytes(type, cols);
  t.bytes.resize(rb * rows);
  t.decoded.resize(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    std::byte* dst = t.bytes.data() + r * rb;
    const float* src = values.data() + r * cols;
    switch (type) {
      case GgmlType::F32:
        std::memcpy(dst, src, cols * sizeof(float));
        break;
      case GgmlType::F16:
      case GgmlType::BF16:
        for (size_t i = 0; i < cols; ++i) {
          const uint16_t h =
              type == GgmlType::F16 ? model::fp32_to_fp16(src[i]) : model::fp32_to_bf16(src[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      default:
        model::quantize_row(type, src, dst, static_cast<int64_t>(cols));
        break;
    }
    model::dequantize_row(type, dst, t.decoded.data() + r * cols, static_cast<int64_t>(cols));
  }
  t.w = WeightMatrix{type, t.bytes.data(), rows, cols, rb};
  return t;
}

std::vector<float> run_matmul(ThreadPool& pool, const WeightMatrix& w, const std::vector<float>& x,
                              size_t m) {
  std::vector<float> y(m * w.rows, -1.0F);
  matmul(pool, w, x.data(), w.cols, m, y.data(), w.rows);
  return y;
}

bool quantised(GgmlType type) {
  return type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16;
}

// (type, rows, cols): shapes exercising tails in every dimension and the K chunking.
using Case = std::tuple<GgmlType, size_t, size_t>;

std::vector<Case> cases() {
  std::vector<Case> out;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (auto [n, k] : {std::pair<size_t, size_t>{13, 172}, {64, 64}, {7, 1100}, {33, 4096}}) {
      out.emplace_back(t, n, k);
    }
  }
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    for (auto [n, k] : {std::pair<size_t, size_t>{13, 96}, {64, 64}, {9, 2080}, {17, 4096}}) {
      out.emplace_back(t, n, k);
    }
  }
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K}) {
    for (auto [n, k] : {std::pair<size_t, size_t>{13, 256}, {9, 2304}, {6, 8192}}) {
      out.emplace_back(t, n, k);
    }
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<Isa, Case>>& info) {
  const auto& [isa, c] = info.param;
  const auto& [type, n, k] = c;
  return std::string(isa_name(isa)) + "_" + model::type_name(type) + "_" + std::to_string(n) + "x" +
         std::to_string(k);
}

class Matmul : public ::testing::TestWithParam<std::tuple<Isa, Case>> {
 protected:
  void SetUp() override { scope_ = std::make_unique<IsaScope>(std::get<0>(GetParam())); }
  void TearDown() override { scope_.reset(); }
  GgmlType type() const { return std::get<0>(std::get<1>(GetParam())); }
  size_t n() const { return std::get<1>(std::get<1>(GetParam())); }
  size_t k() const { return std::get<2>(std::get<1>(GetParam())); }

 private:
  std::unique_ptr<IsaScope> scope_;
};

// The level under test agrees with the scalar reference: the same quantised integer sums and the
// same float values, up to float rounding in the accumulation.
TEST_P(Matmul, MatchesScalarReference) {
  ThreadPool pool(2);
  const TestWeights t = make_weights(type(), n(), k(), 1);
  const size_t m = 11;
  const std::vector<float> x = random_vector(m * k(), 2);
  const std::vector<float> y = run_matmul(pool, t.w, x, m);
  std::vector<float> ref;
  {
    IsaScope scalar(Isa::Scalar);
    ref = run_matmul(pool, t.w, x, m);
  }
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n(); ++j) {
      double bound = 0;  // sum of |x w|: the scale of the rounding error
      for (size_t c = 0; c < k(); ++c) {
        bound += std::fabs(x[i * k() + c] * t.decoded[j * k() + c]);
      }
      ASSERT_NEAR(y[i * n() + j], ref[i * n() + j], 2e-5 * bound + 1e-6)
          << "row " << i << " col " << j;
    }
  }
}

// The reference itself computes the product of the weights as stored: exactly for float types, and
// within the error of quantising the activations to 8 bits for quantised types.
TEST_P(Matmul, ReferenceMatchesDecodedWeights) {
  if (std::get<0>(GetParam()) != Isa::Scalar) return;  // a property of the reference alone
  ThreadPool pool(1);
  const TestWeights t = make_weights(type(), n(), k(), 3);
  const size_t m = 5;
  const std::vector<float> x = random_vector(m * k(), 4);
  const std::vector<float> y = run_matmul(pool, t.w, x, m);
  double err2 = 0;
  double ref2 = 0;
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n(); ++j) {
      double exact = 0;
      double wnorm = 0;
      for (size_t c = 0; c < k(); ++c) {
        exact += static_cast<double>(x[i * k() + c]) * t.decoded[j * k() + c];
        wnorm += static_cast<double>(t.decoded[j * k() + c]) * t.decoded[j * k() + c];
      }
      const double diff = y[i * n() + j] - exact;
      err2 += diff * diff;
      ref2 += exact * exact;
      if (quantised(type())) {
        // Activation rounding error has a standard deviation of about 0.007 |w| for N(0,1) inputs.
        ASSERT_LE(std::fabs(diff), 0.05 * std::sqrt(wnorm)) << "row " << i << " col " << j;
      } else {
        ASSERT_NEAR(y[i * n() + j], exact, 1e-5 * std::sqrt(wnorm * k()));
      }
    }
  }
  if (quantised(type())) {
    EXPECT_LT(std::sqrt(err2 / ref2), 0.02);
  }
}

// A row's outputs are bit-identical whatever else is computed with it and however many threads
// share the work.
TEST_P(Matmul, RowsAreBatchInvariant) {
  const TestWeights t = make_weights(type(), n(), k(), 5);
  const size_t m = 9;
  const std::vector<float> x = random_vector(m * k(), 6);
  ThreadPool two(2);
  const std::vector<float> together = run_matmul(two, t.w, x, m);
  ThreadPool one(1);
  for (size_t i = 0; i < m; ++i) {
    const std::vector<float> row(x.begin() + i * k(), x.begin() + (i + 1) * k());
    const std::vector<float> alone = run_matmul(i % 2 == 0 ? one : two, t.w, row, 1);
    for (size_t j = 0; j < n(); ++j) {
      ASSERT_EQ(alone[j], together[i * n() + j]) << "row " << i << " col " << j;
    }
  }
  // Rows 3..7 as their own batch.
  const std::vector<float> part(x.begin() + 3 * k(), x.begin() + 8 * k());
  const std::vector<float> sub = run_matmul(one, t.w, part, 5);
  for (size_t i = 0; i < 5 * n(); ++i) ASSERT_EQ(sub[i], together[3 * n() + i]);
}

TEST_P(Matmul, AccumulatesIntoOutput) {
  ThreadPool pool(2);
  const TestWeights t = make_weights(type(), n(), k(), 7);
  const size_t m = 3;
  const std::vector<float> x = random_vector(m * k(), 8);
  const std::vector<float> base = random_vector(m * n(), 9);
  const std::vector<float> plain = run_matmul(pool, t.w, x, m);
  std::vector<float> y = base;
  matmul(pool, t.w, x.data(), k(), m, y.data(), n(), /*accumulate=*/true);
  for (size_t i = 0; i < m * n(); ++i) ASSERT_EQ(y[i], base[i] + plain[i]);
}

std::vector<std::tuple<Isa, Case>> all_params() {
  std::vector<std::tuple<Isa, Case>> out;
  for (Isa isa : available_isas()) {
    for (const Case& c : cases()) out.emplace_back(isa, c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kernels, Matmul, ::testing::ValuesIn(all_params()), case_name);

class MatmulCalls : public testing::PerIsa {};

// Several outputs in one call give the same values as one call each.
TEST_P(MatmulCalls, SharedInputEqualsSeparateCalls) {
  ThreadPool pool(2);
  const size_t k = 256;
  const TestWeights a = make_weights(GgmlType::Q8_0, 40, k, 10);
  const TestWeights b = make_weights(GgmlType::F16, 24, k, 11);
  const TestWeights c = make_weights(GgmlType::Q4_K, 8, k, 12);
  const size_t m = 6;
  const std::vector<float> x = random_vector(m * k, 13);
  std::vector<float> ya(m * 40), yb(m * 24), yc(m * 8);
  const MatmulOutput outs[] = {{&a.w, ya.data(), 40}, {&b.w, yb.data(), 24}, {&c.w, yc.data(), 8}};
  matmul(pool, x.data(), k, m, outs);
  EXPECT_EQ(ya, run_matmul(pool, a.w, x, m));
  EXPECT_EQ(yb, run_matmul(pool, b.w, x, m));
  EXPECT_EQ(yc, run_matmul(pool, c.w, x, m));
}

TEST_P(MatmulCalls, RejectsMismatchedShapes) {
  ThreadPool pool(1);
  const TestWeights a = make_weights(GgmlType::F32, 4, 64, 14);
  const TestWeights b = make_weights(GgmlType::F32, 4, 32, 15);
  std::vector<float> x(64), ya(4), yb(4);
  const MatmulOutput outs[] = {{&a.w, ya.data(), 4}, {&b.w, yb.data(), 4}};
  EXPECT_THROW(matmul(pool, x.data(), 64, 1, outs), Error);
  EXPECT_THROW(matmul(pool, a.w, x.data(), 32, 1, ya.data(), 4), Error);  // stride < row length
  EXPECT_THROW(matmul(pool, a.w, x.data(), 64, 1, ya.data(), 2), Error);  // output stride too short
}

PIE_INSTANTIATE_PER_ISA(MatmulCalls);

// Weights packed at load (pack_weights): results agree with the scalar reference, are bit for bit
// the same for a row alone and in batches of every size the kernels tile differently (Q8_0: and
// the same as from the file's rows), with row counts that leave the last group of 16 part empty.
// Levels that do not read a packed layout get no copy, and refuse one packed for another level;
// avx512 and amx share theirs.
class PackedWeightsTest : public testing::PerIsa {};

TEST_P(PackedWeightsTest, AgreeWithTheReferenceAndAreBatchInvariant) {
  ThreadPool pool(2);
  bool packed_any = false;
  for (const GgmlType type :
       {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::F16, GgmlType::BF16, GgmlType::F32}) {
    for (auto [n, k] : {std::pair<size_t, size_t>{13, 96}, {64, 64}, {49, 2080}, {17, 4096}}) {
      const TestWeights t = make_weights(type, n, k, 20);
      const std::optional<PackedWeights> packed = pack_weights(pool, t.w);
      if (!packed) continue;
      packed_any = true;
      const std::string name =
          std::string(model::type_name(type)) + " " + std::to_string(n) + "x" + std::to_string(k);
      ASSERT_EQ(packed->matrix.layout, WeightLayout::Lanes16) << name;
      // Over a hundred rows: more than one block of row tiles for amx, with a last block of
      // 22 rows (an overlapping tile) after 128 rows (four pairs of tiles).
      const size_t m = 150;
      const std::vector<float> x = random_vector(m * k, 21);
      const std::vector<float> y = run_matmul(pool, packed->matrix, x, m);
      // Float weights: only float rounding of the sums (amx: of products of bf16 pieces, which
      // would miss this bound by far if one of them were left out). Quantised: the activations'.
      const double tolerance = quantised(type) ? 2e-5 : 5e-7;
      std::vector<float> ref;
      {
        const IsaScope scalar(Isa::Scalar);
        ref = run_matmul(pool, t.w, x, m);
      }
      for (size_t i = 0; i < m; ++i) {
        for (size_t j = 0; j < n; ++j) {
          double bound = 0;
          for (size_t c = 0; c < k; ++c) bound += std::fabs(x[i * k + c] * t.decoded[j * k + c]);
          ASSERT_NEAR(y[i * n + j], ref[i * n + j], tolerance * bound + 1e-7) << name;
        }
      }
      if (type == GgmlType::Q8_0) {
        EXPECT_EQ(y, run_matmul(pool, t.w, x, m)) << name;
      }
      for (const auto [first, rows] :
           {std::pair<size_t, size_t>{0, 1}, {0, 5}, {0, 13}, {37, 1}, {37, 23}, {100, 50}}) {
        const std::vector<float> part(x.begin() + first * k, x.begin() + (first + rows) * k);
        const std::vector<float> alone = run_matmul(pool, packed->matrix, part, rows);
        ASSERT_TRUE(std::equal(alone.begin(), alone.end(), y.begin() + first * n))
            << name << ", rows " << first << " + " << rows;
      }
      std::vector<float> sum(m * n, 1.5F);
      matmul(pool, packed->matrix, x.data(), k, m, sum.data(), n, /*accumulate=*/true);
      for (size_t i = 0; i < m * n; ++i) ASSERT_EQ(sum[i], 1.5F + y[i]) << name;
    }
  }
  if (!packed_any) {
    EXPECT_LT(active_isa(), Isa::Avx512) << "avx512 and amx pack Q8_0, F16 and BF16";
    return;
  }
  const TestWeights t = make_weights(GgmlType::Q8_0, 16, 64, 22);
  const std::optional<PackedWeights> packed = pack_weights(pool, t.w);
  std::vector<float> x(64, 1.0F), y(16);
  const std::vector<float> here = run_matmul(pool, packed->matrix, x, 1);
  for (Isa other : available_isas()) {
    if (other == active_isa()) continue;
    const IsaScope scope(other);
    if (other >= Isa::Avx512) {  // avx512 and amx read the same layouts
      EXPECT_TRUE(pack_weights(pool, t.w).has_value()) << isa_name(other);
      EXPECT_EQ(run_matmul(pool, packed->matrix, x, 1), here) << isa_name(other);
      continue;
    }
    EXPECT_FALSE(pack_weights(pool, t.w).has_value()) << isa_name(other);
    EXPECT_THROW(matmul(pool, packed->matrix, x.data(), 64, 1, y.data(), 16), Error)
        << isa_name(other);
  }
}

PIE_INSTANTIATE_PER_ISA(PackedWeightsTest);

TEST(WeightMatrix, RejectsUnsupportedTensors) {
  std::vector<std::byte> data(1024);
  model::Tensor t{"blk.0.attn_q.weight", GgmlType::Q5_K, {256, 2}, data.data(), data.size()};
  EXPECT_THROW(weight_matrix(t), Error);
  t.type = GgmlType::F32;
  t.shape = {4, 4, 4};
  EXPECT_THROW(weight_matrix(t), Error);
  t.shape = {64, 8};  // needs 2048 bytes
  EXPECT_THROW(weight_matrix(t), Error);
  t.shape = {64, 4};
  const WeightMatrix w = weight_matrix(t);
  EXPECT_EQ(w.rows, 4U);
  EXPECT_EQ(w.cols, 64U);
  EXPECT_EQ(w.row_bytes, 256U);
}

}  // namespace
}  // namespace pie::kernels
