// Watermarked generation and its detector (Kirchenbauer et al., "A Watermark for Large Language
// Models", 2023). Each previous token, with a secret key, splits the vocabulary into a green half
// and a red half; generation adds `delta` to the log-probability of green tokens, which steers
// the text towards green ones. The detector needs only the key: it counts green tokens in a text
// and reports how far that count lies above chance as a z-score.
//
//   watermarking generate <prompt> [tokens=64] [delta=6] [key=42]   -> the generated text
//   watermarking detect <text> [key=42]                              -> "z=<score> green=<g>/<t>"
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

constexpr double kGreenFraction = 0.5;
// How many of the most likely next tokens the sampler sees (the engine's largest distribution).
constexpr uint32_t kCandidates = 64;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Whether `token` is on the green list that `previous` selects under `key`.
bool is_green(uint64_t key, uint32_t previous, uint32_t token) {
  const uint64_t h = splitmix64(splitmix64(key ^ previous) ^ token);
  return static_cast<double>(h >> 11) * 0x1.0p-53 < kGreenFraction;
}

template <class T>
pie::Result<T> parse_number(const std::string& text, const char* what) {
  T value{};
  bool ok = false;
  if constexpr (std::is_floating_point_v<T>) {  // this libc++ has no from_chars for floats
    char* end = nullptr;
    value = static_cast<T>(std::strtod(text.c_str(), &end));
    ok = !text.empty() && end == text.c_str() + text.size();
  } else {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    ok = error == std::errc() && end == text.data() + text.size();
  }
  if (!ok) return pie::Error{"'" + text + "' is not a valid " + what};
  return value;
}

pie::Result<std::string> generate(const std::string& prompt, uint32_t tokens, float delta,
                                  uint64_t key) {
  pie::Context context(pie::Model::first());
  context.fill(prompt);
  const size_t prompt_size = context.token_ids().size();
  if (prompt_size == 0) return pie::Error{"the prompt is empty"};
  uint32_t previous = context.token_ids().back();
  // Greedy on the boosted log-probabilities: log p + delta for green tokens.
  const auto pick = [&](const pie::Distribution& d) {
    uint32_t best = d.ids.at(0);
    double best_score = -INFINITY;
    for (size_t i = 0; i < d.ids.size(); ++i) {
      const double score = std::log(static_cast<double>(d.probs[i])) +
                           (is_green(key, previous, d.ids[i]) ? delta : 0.0);
      if (score > best_score) {
        best_score = score;
        best = d.ids[i];
      }
    }
    return best;
  };
  const pie::Sampler sampler = pie::Sampler::custom(1.0F, pick, kCandidates);
  for (uint32_t i = 0; i < tokens; ++i) {
    previous = context.decode_step(sampler);
    context.fill_token(previous);
  }
  // The generated text as it reads after the prompt.
  const std::string prompt_text =
      context.tokenizer().detokenize(std::span(context.token_ids()).first(prompt_size));
  const std::string all = context.text();
  return all.starts_with(prompt_text) ? all.substr(prompt_text.size()) : all;
}

std::string detect(const std::string& text, uint64_t key) {
  const std::vector<uint32_t> tokens = pie::Model::first().tokenizer().tokenize(text);
  const size_t scored = tokens.size() > 1 ? tokens.size() - 1 : 0;
  size_t green = 0;
  for (size_t i = 1; i < tokens.size(); ++i) green += is_green(key, tokens[i - 1], tokens[i]);
  const double expected = kGreenFraction * static_cast<double>(scored);
  const double deviation =
      std::sqrt(static_cast<double>(scored) * kGreenFraction * (1.0 - kGreenFraction));
  const double z = scored == 0 ? 0.0 : (static_cast<double>(green) - expected) / deviation;
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "z=%.3f green=%zu/%zu", z, green, scored);
  return buffer;
}

}  // namespace

PIE_MAIN(args) {
  constexpr const char* kUsage =
      "usage: watermarking generate <prompt> [tokens=64] [delta=6] [key=42] | "
      "watermarking detect <text> [key=42]";
  if (args.size() < 2) return pie::Error{kUsage};
  if (args[0] == "generate") {
    auto tokens = parse_number<uint32_t>(args.size() > 2 ? args[2] : "64", "token count");
    auto delta = parse_number<float>(args.size() > 3 ? args[3] : "6", "delta");
    auto key = parse_number<uint64_t>(args.size() > 4 ? args[4] : "42", "key");
    if (!tokens) return tokens.error();
    if (!delta) return delta.error();
    if (!key) return key.error();
    return generate(args[1], tokens.value(), delta.value(), key.value());
  }
  if (args[0] == "detect") {
    auto key = parse_number<uint64_t>(args.size() > 2 ? args[2] : "42", "key");
    if (!key) return key.error();
    return detect(args[1], key.value());
  }
  return pie::Error{"unknown command '" + args[0] + "'; " + kUsage};
}
