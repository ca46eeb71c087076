#include "common/brle.h"

#include <gtest/gtest.h>

#include <random>

namespace pie {
namespace {

using Runs = std::vector<uint32_t>;

TEST(Brle, EncodesStartingWithFalseRun) {
  EXPECT_EQ(Brle::from_bits({false, false, true, true, true, false}).runs(), (Runs{2, 3, 1}));
  EXPECT_EQ(Brle::from_bits({true, true, false}).runs(), (Runs{0, 2, 1}));
  EXPECT_EQ(Brle::from_bits({}).runs(), Runs{});
  EXPECT_EQ(Brle::filled(5, true).runs(), (Runs{0, 5}));
  EXPECT_EQ(Brle::filled(5, false).runs(), (Runs{5}));
}

TEST(Brle, DecodesAnyRunForm) {
  // Non-canonical input (zero runs inside, trailing zeros) decodes to the same bits.
  const Brle b = Brle::from_runs(Runs{0, 2, 0, 0, 3, 0});
  EXPECT_EQ(b.runs(), (Runs{0, 2, 3}));
  EXPECT_EQ(b.size(), 5U);
  EXPECT_EQ(b.to_bits(), (std::vector<bool>{true, true, false, false, false}));
  EXPECT_EQ(Brle::from_runs(Runs{1, 0, 1}).runs(), Runs{2});
}

TEST(Brle, RoundTripsRandomVectors) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<bool> bits(rng() % 70);
    for (size_t i = 0; i < bits.size(); ++i) bits[i] = (rng() % 3) == 0;
    const Brle b = Brle::from_bits(bits);
    EXPECT_EQ(b.to_bits(), bits);
    EXPECT_EQ(b.size(), bits.size());
    EXPECT_EQ(brle::length(b.runs()), bits.size());
    EXPECT_EQ(Brle::from_runs(b.runs()), b);
    for (size_t i = 0; i < bits.size(); ++i) ASSERT_EQ(b.get(i), bits[i]);
    for (size_t k = 1; k < b.runs().size(); ++k) EXPECT_NE(b.runs()[k], 0U);
  }
}

TEST(Brle, SetRangeMatchesBitwiseEdit) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<bool> bits(1 + rng() % 40);
    for (size_t i = 0; i < bits.size(); ++i) bits[i] = (rng() % 2) == 0;
    Brle b = Brle::from_bits(bits);
    const uint64_t begin = rng() % (bits.size() + 1);
    const uint64_t end = begin + rng() % (bits.size() - begin + 1);
    const bool value = (rng() % 2) == 0;
    ASSERT_TRUE(b.set_range(begin, end, value));
    for (uint64_t i = begin; i < end; ++i) bits[i] = value;
    EXPECT_EQ(b.to_bits(), bits);
    EXPECT_EQ(b, Brle::from_bits(bits));  // result stays canonical
  }
}

TEST(Brle, SetRangeRejectsOutOfRange) {
  Brle b = Brle::filled(4, false);
  EXPECT_FALSE(b.set_range(2, 5, true));
  EXPECT_FALSE(b.set_range(3, 2, true));
  EXPECT_EQ(b, Brle::filled(4, false));
}

TEST(Brle, AppendAndTruncate) {
  Brle b;
  b.append(true, 2);
  b.append(true);
  b.append(false, 4);
  EXPECT_EQ(b.runs(), (Runs{0, 3, 4}));
  b.truncate(2);
  EXPECT_EQ(b.runs(), (Runs{0, 2}));
  b.truncate(10);
  EXPECT_EQ(b.size(), 2U);
  b.truncate(0);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.runs(), Runs{});
}

TEST(Brle, SplitsRunsLongerThanU32) {
  const uint64_t n = uint64_t{UINT32_MAX} + 10;
  const Brle b = Brle::filled(n, false);
  EXPECT_EQ(b.runs(), (Runs{UINT32_MAX, 0, 10}));
  EXPECT_EQ(b.size(), n);
  EXPECT_TRUE(b.all(false));
  EXPECT_TRUE(brle::all_false(b.runs(), n));
}

TEST(Brle, AllFalseAcceptsEquivalentForms) {
  EXPECT_TRUE(brle::all_false(Runs{5}, 5));
  EXPECT_TRUE(brle::all_false(Runs{5, 0}, 5));
  EXPECT_TRUE(brle::all_false(Runs{0, 0, 5}, 5));
  EXPECT_FALSE(brle::all_false(Runs{5}, 6));
  EXPECT_FALSE(brle::all_false(Runs{4, 1}, 5));
  EXPECT_FALSE(brle::all_false(Runs{0, 1, 4}, 5));
  EXPECT_TRUE(brle::all_false(Runs{}, 0));
}

TEST(Brle, FalseRangesCoverExactlyTheFalseBits) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 100; ++trial) {
    Runs runs(rng() % 8);
    for (auto& r : runs) r = rng() % 4;  // zero runs included on purpose
    std::vector<bool> seen(brle::length(runs), true);
    uint64_t last_end = 0;
    bool first = true;
    brle::for_each_false_range(runs, [&](uint64_t b, uint64_t e) {
      EXPECT_LT(b, e);
      if (!first) {
        EXPECT_GT(b, last_end);  // maximal: ranges never touch
      }
      first = false;
      last_end = e;
      for (uint64_t i = b; i < e; ++i) seen[i] = false;
    });
    EXPECT_EQ(seen, Brle::from_runs(runs).to_bits());
  }
}

}  // namespace
}  // namespace pie
