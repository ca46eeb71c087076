#include "backend/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/kernels/kernels.h"

namespace pie::sampling {

using protocol::SamplerKind;

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// Most probable first; equal probabilities by increasing id.
struct ByProbability {
  std::span<const float> probs;
  bool operator()(uint32_t a, uint32_t b) const {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  }
};

uint32_t argmax(std::span<const float> values) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

// Draws one of `ids` with probability proportional to probs[id].
uint32_t draw(std::span<const uint32_t> ids, std::span<const float> probs, Rng& rng) {
  double total = 0;
  for (uint32_t id : ids) total += probs[id];
  const double target = rng.uniform() * total;
  double cum = 0;
  for (uint32_t id : ids) {
    cum += probs[id];
    if (cum > target) return id;
  }
  return ids.back();
}

// The `k` most probable of `ids` (all of them if k >= size), most probable first.
std::vector<uint32_t> most_probable(std::vector<uint32_t> ids, size_t k,
                                    std::span<const float> probs) {
  k = std::min(k, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(k), ids.end(),
                    ByProbability{probs});
  ids.resize(k);
  return ids;
}

std::vector<uint32_t> all_ids(size_t n) {
  std::vector<uint32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0U);
  return ids;
}

// The smallest set of the most probable of `ids` whose probability reaches top_p of theirs (at
// least one token). Sorts progressively: the nucleus is usually a small part of the vocabulary.
std::vector<uint32_t> nucleus(const std::vector<uint32_t>& ids, float top_p,
                              std::span<const float> probs) {
  double total = 0;
  for (uint32_t id : ids) total += probs[id];
  const double target = static_cast<double>(top_p) * total;
  for (size_t k = 64;; k *= 4) {
    std::vector<uint32_t> head = most_probable(ids, k, probs);
    double cum = 0;
    for (size_t i = 0; i < head.size(); ++i) {
      cum += probs[head[i]];
      if (cum >= target) {
        head.resize(i + 1);
        return head;
      }
    }
    if (head.size() == ids.size()) return head;  // rounding kept cum just below the target
  }
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::optional<std::string> check(const protocol::SamplerSpec& spec) {
  if (static_cast<uint32_t>(spec.kind) > static_cast<uint32_t>(SamplerKind::TopKTopP)) {
    return "unknown sampler " + std::to_string(static_cast<uint32_t>(spec.kind));
  }
  if (!std::isfinite(spec.temperature) || spec.temperature < 0) {
    return "temperature must be a finite number >= 0";
  }
  if (!(spec.top_p >= 0 && spec.top_p <= 1)) return "top_p must be between 0 and 1";
  if (!(spec.min_p >= 0 && spec.min_p <= 1)) return "min_p must be between 0 and 1";
  return std::nullopt;
}

void probabilities(std::span<const float> logits, float temperature, std::span<float> probs) {
  kernels::softmax(logits.data(), logits.size(), 1.0F / std::max(temperature, kMinTemperature),
                   probs.data());
}

protocol::Distribution top_k(std::span<const float> probs, uint32_t k) {
  protocol::Distribution d;
  d.ids = most_probable(all_ids(probs.size()), k, probs);
  d.probs.reserve(d.ids.size());
  for (uint32_t id : d.ids) d.probs.push_back(probs[id]);
  return d;
}

uint32_t sample(const protocol::SamplerSpec& spec, std::span<const float> logits,
                std::span<float> probs, Rng& rng) {
  if (spec.temperature <= 0) return argmax(logits);
  probabilities(logits, spec.temperature, probs);
  const uint32_t n = static_cast<uint32_t>(logits.size());
  const uint32_t k = spec.top_k.value_or(0);
  switch (spec.kind) {
    case SamplerKind::TopK:
      if (k > 0 && k < n) return draw(most_probable(all_ids(n), k, probs), probs, rng);
      break;
    case SamplerKind::TopP:
      if (spec.top_p < 1) return draw(nucleus(all_ids(n), spec.top_p, probs), probs, rng);
      break;
    case SamplerKind::MinP: {
      const float threshold = spec.min_p * probs[argmax(probs)];
      std::vector<uint32_t> kept;
      for (uint32_t i = 0; i < n; ++i) {
        if (probs[i] >= threshold) kept.push_back(i);
      }
      return draw(kept, probs, rng);
    }
    case SamplerKind::TopKTopP: {
      std::vector<uint32_t> ids = k > 0 && k < n ? most_probable(all_ids(n), k, probs) : all_ids(n);
      if (spec.top_p < 1) ids = nucleus(ids, spec.top_p, probs);
      return draw(ids, probs, rng);
    }
    default:
      break;
  }
  return draw(all_ids(n), probs, rng);
}

}  // namespace pie::sampling
