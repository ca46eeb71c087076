// Turning next-token logits into what a forward pass returns (reference §4.4.3, §4.8.5): top-k
// distributions of the full softmax, and tokens drawn by the samplers multinomial, top-p, top-k,
// min-p and top-k + top-p. Temperature 0 means greedy (argmax) for every sampler.
//
// Draws are reproducible: the same generator state, logits and spec give the same token on every
// machine (ties between equal probabilities go to the lower token id).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/backend_messages.h"

namespace pie::sampling {

// xoshiro256** seeded through splitmix64: a fast generator whose output sequence is fully
// specified, unlike the standard library's distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  // Uniform in [0, 1), 53 random bits.
  double uniform();

 private:
  uint64_t s_[4];
};

// The smallest temperature the softmax divides by (as Pie's backend clamps it).
constexpr float kMinTemperature = 1e-6F;

// Why `spec` cannot be used (NaN or negative temperature, top_p outside [0, 1], min_p outside
// [0, 1]), or nothing when it can.
std::optional<std::string> check(const protocol::SamplerSpec& spec);

// probs = softmax(logits / max(temperature, kMinTemperature)).
void probabilities(std::span<const float> logits, float temperature, std::span<float> probs);

// The k most probable tokens with their probabilities, most probable first (k clamped to the
// vocabulary).
protocol::Distribution top_k(std::span<const float> probs, uint32_t k);

// The token `spec` (a sampler other than Distribution) draws from `logits`. `probs` is scratch of
// the vocabulary's size.
uint32_t sample(const protocol::SamplerSpec& spec, std::span<const float> logits,
                std::span<float> probs, Rng& rng);

}  // namespace pie::sampling
