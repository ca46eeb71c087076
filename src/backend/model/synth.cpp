#include "backend/model/synth.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "backend/model/gguf.h"
#include "backend/model/gguf_model.h"
#include "backend/model/quant.h"
#include "backend/tokenizer/loaders.h"
#include "common/error.h"

namespace pie::model {
namespace {

// xoshiro256+ seeded through splitmix64: fast, and each tensor gets its own stream.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t result = s_[0] + s_[3];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = (s_[3] << 45) | (s_[3] >> 19);
    return result;
  }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::array<uint64_t, 4> s_{};
};

// The standard normal quantile function (Acklam's rational approximation, relative error < 1.2e-9).
double normal_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) return -normal_quantile(1 - p);
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// Normal samples drawn as 65536 equiprobable quantiles: one table load per sample, which keeps
// synthesising a billion weights down to seconds.
class NormalTable {
 public:
  explicit NormalTable(float stddev) : table_(65536) {
    for (size_t i = 0; i < table_.size(); ++i) {
      table_[i] =
          static_cast<float>(normal_quantile((static_cast<double>(i) + 0.5) / 65536.0) * stddev);
    }
  }
  void fill(Rng& rng, float* out, size_t n) const {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const uint64_t r = rng.next();
      out[i] = table_[r & 0xFFFF];
      out[i + 1] = table_[(r >> 16) & 0xFFFF];
      out[i + 2] = table_[(r >> 32) & 0xFFFF];
      out[i + 3] = table_[r >> 48];
    }
    for (uint64_t r = rng.next(); i < n; ++i, r >>= 16) out[i] = table_[r & 0xFFFF];
  }

 private:
  std::vector<float> table_;
};

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Preset {
  std::string_view name;
  ModelConfig (*make)();
};

ModelConfig llama_3_2_1b() {
  ModelConfig c;
  c.arch = Architecture::Llama;
  c.name = "Llama-3.2-1B (random weights)";
  c.dim = 2048;
  c.n_layers = 16;
  c.n_heads = 32;
  c.n_kv_heads = 8;
  c.head_dim = 64;
  c.ffn_dim = 8192;
  c.vocab_size = 128256;
  c.context_length = 131072;
  c.rms_eps = 1e-5F;
  c.rope.theta = 500000.0F;
  c.rope.style = RopeStyle::Interleaved;  // GGUF llama convention
  c.rope.dims = 64;
  c.rope.llama3 = Llama3Scaling{32.0F, 1.0F, 4.0F, 8192};
  c.tied_embeddings = true;
  return c;
}

ModelConfig qwen3_0_6b() {
  ModelConfig c;
  c.arch = Architecture::Qwen3;
  c.name = "Qwen3-0.6B (random weights)";
  c.dim = 1024;
  c.n_layers = 28;
  c.n_heads = 16;
  c.n_kv_heads = 8;
  c.head_dim = 128;
  c.ffn_dim = 3072;
  c.vocab_size = 151936;
  c.context_length = 40960;
  c.rms_eps = 1e-6F;
  c.rope.theta = 1000000.0F;
  c.rope.style = RopeStyle::HalfSplit;  // GGUF qwen3 convention
  c.rope.dims = 128;
  c.tied_embeddings = true;
  c.qk_norm = true;
  return c;
}

constexpr std::array<Preset, 2> kPresets = {{
    {"llama-3.2-1b", llama_3_2_1b},
    {"qwen3-0.6b", qwen3_0_6b},
}};

// The synthetic model's vocabulary and chat template.
std::pair<tokenizer::TokenizerSpec, std::string> load_tokenizer(const std::filesystem::path& path,
                                                                uint32_t vocab_size) {
  tokenizer::TokenizerSpec spec;
  std::string chat_template;
  if (std::filesystem::is_directory(path)) {
    const auto config = path / "tokenizer_config.json";
    const bool has_config = std::filesystem::exists(config);
    spec = tokenizer::load_hf_tokenizer(path / "tokenizer.json", has_config ? config : "");
    if (has_config) {
      std::ifstream in(config);
      const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (json.is_object() && json.contains("chat_template") && json["chat_template"].is_string()) {
        chat_template = json["chat_template"].get<std::string>();
      }
    }
  } else {
    spec = tokenizer::load_llama2c_tokenizer(path);
  }
  if (spec.tokens.size() > vocab_size) {
    throw Error(path.string() + ": the tokenizer has " + std::to_string(spec.tokens.size()) +
                " tokens, more than the model's vocabulary of " + std::to_string(vocab_size));
  }
  // Pad as llama.cpp's converter does, so every embedding row has a token.
  for (size_t id = spec.tokens.size(); id < vocab_size; ++id) {
    spec.tokens.push_back("[PAD" + std::to_string(id) + "]");
    spec.types.push_back(tokenizer::TokenType::Unused);
    if (!spec.scores.empty()) spec.scores.push_back(0.0F);
  }
  return {std::move(spec), std::move(chat_template)};
}

}  // namespace

std::vector<std::string> synth_preset_names() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.emplace_back(p.name);
  return names;
}

ModelConfig synth_preset(std::string_view name) {
  const std::string wanted = lower(name);
  for (const auto& p : kPresets) {
    if (p.name == wanted) return p.make();
  }
  throw Error("unknown model preset '" + std::string(name) + "' (known: llama-3.2-1b, qwen3-0.6b)");
}

void synth_model(const SynthOptions& options) {
  if (options.output.empty()) throw Error("synth_model: no output file given");
  const ModelConfig& c = options.config;
  if (!can_convert(options.type)) {
    throw Error("cannot synthesise weights of type " + type_name(options.type) +
                " (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K can)");
  }
  auto [spec, chat_template] = load_tokenizer(options.tokenizer, c.vocab_size);

  GgufWriter writer;
  config_to_gguf(c, writer.metadata());
  tokenizer_to_gguf(spec, writer.metadata());
  if (!chat_template.empty()) {
    writer.metadata().set("tokenizer.chat_template", GgufValue::of_string(chat_template));
  }

  const auto normal = std::make_shared<const NormalTable>(options.stddev);
  const uint64_t seed = options.seed;
  auto matrix = [&](const std::string& name, uint64_t cols, uint64_t rows) {
    const GgmlType type = options.type;
    row_bytes(type, cols);  // fail now, not on a worker thread, for an impossible row length
    writer.add_tensor(name, type, {cols, rows}, [=](std::byte* out) {
      Rng rng(seed ^ name_hash(name));
      const uint64_t stride = row_bytes(type, cols);
      std::vector<float> row(cols);
      for (uint64_t r = 0; r < rows; ++r) {
        normal->fill(rng, row.data(), cols);
        quantize_row(type, row.data(), out + r * stride, static_cast<int64_t>(cols));
      }
    });
  };
  auto ones = [&](const std::string& name, uint64_t n) {
    writer.add_tensor(name, GgmlType::F32, {n},
                      [n](std::byte* out) { std::fill_n(reinterpret_cast<float*>(out), n, 1.0F); });
  };
  auto small = [&](const std::string& name, uint64_t n) {  // biases: small random values
    writer.add_tensor(name, GgmlType::F32, {n}, [=](std::byte* out) {
      Rng rng(seed ^ name_hash(name));
      normal->fill(rng, reinterpret_cast<float*>(out), n);
    });
  };

  const uint64_t q_dim = uint64_t{c.n_heads} * c.head_dim;
  const uint64_t kv_dim = uint64_t{c.n_kv_heads} * c.head_dim;
  matrix("token_embd.weight", c.dim, c.vocab_size);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    ones(p + "attn_norm.weight", c.dim);
    matrix(p + "attn_q.weight", c.dim, q_dim);
    matrix(p + "attn_k.weight", c.dim, kv_dim);
    matrix(p + "attn_v.weight", c.dim, kv_dim);
    if (c.qkv_bias) {
      small(p + "attn_q.bias", q_dim);
      small(p + "attn_k.bias", kv_dim);
      small(p + "attn_v.bias", kv_dim);
    }
    if (c.qk_norm) {
      ones(p + "attn_q_norm.weight", c.head_dim);
      ones(p + "attn_k_norm.weight", c.head_dim);
    }
    matrix(p + "attn_output.weight", q_dim, c.dim);
    ones(p + "ffn_norm.weight", c.dim);
    matrix(p + "ffn_gate.weight", c.dim, c.ffn_dim);
    matrix(p + "ffn_up.weight", c.dim, c.ffn_dim);
    matrix(p + "ffn_down.weight", c.ffn_dim, c.dim);
  }
  ones("output_norm.weight", c.dim);
  if (!c.tied_embeddings) matrix("output.weight", c.dim, c.vocab_size);
  if (c.rope.llama3) {
    const std::vector<float> factors = rope_freq_factors(c.rope);
    writer.add_tensor("rope_freqs.weight", GgmlType::F32, {factors.size()},
                      [factors](std::byte* out) {
                        std::memcpy(out, factors.data(), factors.size() * sizeof(float));
                      });
  }
  const unsigned threads =
      options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  writer.write(options.output, threads);
}

}  // namespace pie::model
