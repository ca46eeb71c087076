#include "backend/sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace pie::sampling {
namespace {

using protocol::SamplerKind;
using protocol::SamplerSpec;

std::vector<float> random_logits(size_t n, uint32_t seed, float scale = 3.0F) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0F, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

SamplerSpec spec(SamplerKind kind, float temperature = 1.0F) {
  SamplerSpec s;
  s.kind = kind;
  s.temperature = temperature;
  return s;
}

std::vector<double> softmax_ref(const std::vector<float>& logits, double temperature) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - mx) / temperature);
  for (double& v : p) v /= sum;
  return p;
}

TEST(Rng, SeedsThroughSplitmix64AndRepeats) {
  Rng a(42);
  Rng b(42);
  Rng c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs = differs || x != c.next();
  }
  EXPECT_TRUE(differs);
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

// Seed 0: splitmix64's published first outputs (E220A8397B1DCDAF, 6E789E6AA1B965F4, ...) become the
// state, and xoshiro256** (Blackman and Vigna's reference recurrence) continues from there.
TEST(Rng, MatchesSplitmixSeededXoshiro256StarStar) {
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0x99EC5F36CB75F2B4ULL);
  EXPECT_EQ(rng.next(), 0xBF6E1F784956452AULL);
  EXPECT_EQ(rng.next(), 0x1A5F849D4933E6E0ULL);
}

TEST(Sampler, TemperatureZeroIsArgmaxForEverySampler) {
  const std::vector<float> logits = random_logits(1000, 1);
  const uint32_t best =
      static_cast<uint32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<float> probs(logits.size());
  Rng rng(7);
  for (SamplerKind kind : {SamplerKind::Multinomial, SamplerKind::TopP, SamplerKind::TopK,
                           SamplerKind::MinP, SamplerKind::TopKTopP}) {
    SamplerSpec s = spec(kind, 0.0F);
    s.top_k = 5;
    s.top_p = 0.5F;
    s.min_p = 0.1F;
    for (int i = 0; i < 20; ++i) EXPECT_EQ(sample(s, logits, probs, rng), best);
  }
  // Ties go to the lower id.
  const std::vector<float> tied = {1.0F, 3.0F, 3.0F, 2.0F};
  std::vector<float> p4(4);
  EXPECT_EQ(sample(spec(SamplerKind::Multinomial, 0.0F), tied, p4, rng), 1U);
}

TEST(Sampler, SameSeedSameDraw) {
  const std::vector<float> logits = random_logits(5000, 2, 1.0F);
  std::vector<float> probs(logits.size());
  for (SamplerKind kind : {SamplerKind::Multinomial, SamplerKind::TopP, SamplerKind::TopK,
                           SamplerKind::MinP, SamplerKind::TopKTopP}) {
    SamplerSpec s = spec(kind, 0.8F);
    s.top_k = 50;
    s.top_p = 0.9F;
    s.min_p = 0.05F;
    std::set<uint32_t> seen;
    for (uint64_t seed = 0; seed < 50; ++seed) {
      Rng a(seed);
      Rng b(seed);
      const uint32_t t = sample(s, logits, probs, a);
      EXPECT_EQ(t, sample(s, logits, probs, b));
      seen.insert(t);
    }
    EXPECT_GT(seen.size(), 3U) << "draws should vary with the seed";
  }
}

// Tokens never fall outside the sampler's set, computed here from the definition.
TEST(Sampler, FilteredSamplersStayInTheirSet) {
  const std::vector<float> logits = random_logits(300, 3);
  const std::vector<double> p = softmax_ref(logits, 1.0);
  std::vector<uint32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0U);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return p[a] > p[b]; });
  auto nucleus_of = [&](const std::vector<uint32_t>& ids, double top_p) {
    double total = 0;
    for (uint32_t id : ids) total += p[id];
    std::set<uint32_t> out;
    double cum = 0;
    for (uint32_t id : ids) {
      out.insert(id);
      cum += p[id];
      if (cum >= top_p * total) break;
    }
    return out;
  };
  const std::vector<uint32_t> top10(order.begin(), order.begin() + 10);
  std::set<uint32_t> min_p_set;
  const double pmax = p[order[0]];
  for (uint32_t i = 0; i < p.size(); ++i) {
    if (p[i] >= 0.2 * pmax) min_p_set.insert(i);
  }

  struct Case {
    SamplerSpec spec;
    std::set<uint32_t> allowed;
  };
  std::vector<Case> cases;
  {
    SamplerSpec s = spec(SamplerKind::TopK);
    s.top_k = 10;
    cases.push_back({s, std::set<uint32_t>(top10.begin(), top10.end())});
  }
  {
    SamplerSpec s = spec(SamplerKind::TopP);
    s.top_p = 0.7F;
    cases.push_back({s, nucleus_of(order, 0.7)});
  }
  {
    SamplerSpec s = spec(SamplerKind::MinP);
    s.min_p = 0.2F;
    cases.push_back({s, min_p_set});
  }
  {
    SamplerSpec s = spec(SamplerKind::TopKTopP);
    s.top_k = 10;
    s.top_p = 0.6F;
    cases.push_back({s, nucleus_of(top10, 0.6)});
  }
  std::vector<float> probs(logits.size());
  Rng rng(99);
  for (const Case& c : cases) {
    ASSERT_LT(c.allowed.size(), p.size());
    std::set<uint32_t> seen;
    for (int i = 0; i < 20000; ++i) {
      const uint32_t t = sample(c.spec, logits, probs, rng);
      ASSERT_TRUE(c.allowed.count(t))
          << "sampler " << static_cast<int>(c.spec.kind) << " drew " << t;
      seen.insert(t);
    }
    // And they do reach the whole set (every member here has probability > 0.1%).
    EXPECT_EQ(seen.size(), c.allowed.size()) << "sampler " << static_cast<int>(c.spec.kind);
  }
}

// Multinomial frequencies match the softmax: Pearson chi-square over 12 tokens, 11 degrees of
// freedom, against the 0.1% critical value 31.26. Fixed seed, so the outcome is deterministic.
TEST(Sampler, MultinomialFrequenciesMatchTheDistribution) {
  const std::vector<float> logits = {0.1F, -1.0F, 2.0F,  0.5F, 1.5F, -0.3F,
                                     0.0F, 1.0F,  -2.0F, 0.7F, 0.2F, 1.2F};
  for (float temperature : {1.0F, 0.7F, 1.5F}) {
    const std::vector<double> p = softmax_ref(logits, temperature);
    std::vector<float> probs(logits.size());
    std::vector<int> counts(logits.size());
    Rng rng(12345);
    const int draws = 200000;
    for (int i = 0; i < draws; ++i)
      ++counts[sample(spec(SamplerKind::Multinomial, temperature), logits, probs, rng)];
    double chi2 = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const double expected = draws * p[i];
      chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    }
    EXPECT_LT(chi2, 31.26) << "temperature " << temperature;
  }
}

TEST(Sampler, TopKAtFullVocabularyIsMultinomial) {
  const std::vector<float> logits = random_logits(50, 5);
  std::vector<float> probs(logits.size());
  SamplerSpec k0 = spec(SamplerKind::TopK);
  k0.top_k = 0;
  SamplerSpec multi = spec(SamplerKind::Multinomial);
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Rng a(seed);
    Rng b(seed);
    EXPECT_EQ(sample(k0, logits, probs, a), sample(multi, logits, probs, b));
  }
}

TEST(Distribution, TopKOfTheFullSoftmaxSortedDescending) {
  const std::vector<float> logits = random_logits(2000, 6);
  std::vector<float> probs(logits.size());
  probabilities(logits, 0.9F, probs);
  const std::vector<double> ref = softmax_ref(logits, 0.9);
  const protocol::Distribution d = top_k(probs, 32);
  ASSERT_EQ(d.ids.size(), 32U);
  ASSERT_EQ(d.probs.size(), 32U);
  std::vector<uint32_t> order(ref.size());
  std::iota(order.begin(), order.end(), 0U);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return ref[a] > ref[b]; });
  for (size_t i = 0; i < 32; ++i) {
    EXPECT_EQ(d.ids[i], order[i]);
    EXPECT_NEAR(d.probs[i], ref[order[i]], 1e-6 * ref[order[i]] + 1e-9);
    if (i > 0) {
      EXPECT_LE(d.probs[i], d.probs[i - 1]);
    }
  }
  // k larger than the vocabulary: everything, still a full softmax.
  const std::vector<float> small = {1.0F, 2.0F, 3.0F};
  std::vector<float> ps(3);
  probabilities(small, 1.0F, ps);
  const protocol::Distribution all = top_k(ps, 10);
  EXPECT_EQ(all.ids, (std::vector<uint32_t>{2, 1, 0}));
  EXPECT_NEAR(all.probs[0] + all.probs[1] + all.probs[2], 1.0, 1e-6);
}

TEST(Sampler, CheckRejectsBadParameters) {
  EXPECT_FALSE(check(spec(SamplerKind::TopP)).has_value());
  EXPECT_TRUE(check(spec(SamplerKind::TopP, -1.0F)).has_value());
  EXPECT_TRUE(check(spec(SamplerKind::TopP, NAN)).has_value());
  SamplerSpec s = spec(SamplerKind::TopP);
  s.top_p = 1.5F;
  EXPECT_TRUE(check(s).has_value());
  s.top_p = 0.5F;
  s.min_p = -0.1F;
  EXPECT_TRUE(check(s).has_value());
  s.min_p = 0.0F;
  s.kind = static_cast<SamplerKind>(9);
  EXPECT_TRUE(check(s).has_value());
}

}  // namespace
}  // namespace pie::sampling
