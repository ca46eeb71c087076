// Helpers shared by the kernel tests: run a test once per instruction-set level the CPU has, and
// random data.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "backend/kernels/isa.h"

namespace pie::kernels::testing {

// Switches to `isa` for its lifetime.
class IsaScope {
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { force_isa(isa); }
  ~IsaScope() { force_isa(saved_); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;

 private:
  Isa saved_;
};

// Base of tests parameterised by instruction-set level: the level is active during the test.
class PerIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override { scope_ = std::make_unique<IsaScope>(GetParam()); }
  void TearDown() override { scope_.reset(); }

 private:
  std::unique_ptr<IsaScope> scope_;
};

inline std::string isa_test_name(const ::testing::TestParamInfo<Isa>& info) {
  return std::string(isa_name(info.param));
}

inline std::vector<float> random_vector(size_t n, uint32_t seed, float stddev = 1.0F) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0F, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace pie::kernels::testing

#define PIE_INSTANTIATE_PER_ISA(suite)                                                        \
  INSTANTIATE_TEST_SUITE_P(Isa, suite, ::testing::ValuesIn(::pie::kernels::available_isas()), \
                           ::pie::kernels::testing::isa_test_name)
