#include "backend/model/model_file.h"

#include <array>
#include <cmath>
#include <utility>

#include "backend/model/ggml_type.h"
#include "common/error.h"

namespace pie::model {
namespace {

constexpr std::array<std::pair<Architecture, std::string_view>, 4> kArchNames = {{
    {Architecture::Llama, "llama"},
    {Architecture::Mistral, "mistral"},
    {Architecture::Qwen2, "qwen2"},
    {Architecture::Qwen3, "qwen3"},
}};

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void check_config(const ModelConfig& c, const std::string& where) {
  auto fail = [&](const std::string& what) { throw Error(where + ": " + what); };
  if (c.dim == 0 || c.n_layers == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.head_dim == 0 ||
      c.ffn_dim == 0 || c.vocab_size == 0) {
    fail("incomplete model description (a dimension is zero)");
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    fail(std::to_string(c.n_heads) + " attention heads cannot be grouped over " +
         std::to_string(c.n_kv_heads) + " key/value heads");
  }
  if (c.rope.dims == 0 || c.rope.dims > c.head_dim || c.rope.dims % 2 != 0) {
    fail("RoPE dimension " + std::to_string(c.rope.dims) + " does not fit head size " +
         std::to_string(c.head_dim));
  }
  if (!(c.rope.theta > 0) || !(c.rms_eps > 0)) fail("RoPE theta and RMS epsilon must be positive");
}

}  // namespace

std::string_view architecture_name(Architecture arch) {
  for (const auto& [a, name] : kArchNames) {
    if (a == arch) return name;
  }
  return "unknown";
}

Architecture architecture_from_name(std::string_view name) {
  for (const auto& [a, n] : kArchNames) {
    if (n == name) return a;
  }
  throw Error("unsupported model architecture '" + std::string(name) +
              "' (supported: llama, mistral, qwen2, qwen3)");
}

std::string_view format_name(FileFormat format) {
  switch (format) {
    case FileFormat::Gguf:
      return "GGUF";
    case FileFormat::HuggingFace:
      return "Hugging Face (safetensors)";
    case FileFormat::Llama2c:
      return "llama2.c checkpoint";
  }
  return "unknown";
}

std::vector<float> rope_inverse_frequencies(const RopeConfig& rope) {
  const uint32_t pairs = rope.dims / 2;
  std::vector<float> out(pairs);
  for (uint32_t i = 0; i < pairs; ++i) {
    double freq = std::pow(static_cast<double>(rope.theta), -2.0 * i / rope.dims);
    if (rope.llama3) {
      const Llama3Scaling& s = *rope.llama3;
      const double wavelen = 2 * M_PI / freq;
      const double low_wavelen = s.original_context / s.low_freq_factor;
      const double high_wavelen = s.original_context / s.high_freq_factor;
      if (wavelen > low_wavelen) {
        freq /= s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (s.original_context / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        freq = (1 - smooth) * freq / s.factor + smooth * freq;
      }
    }
    if (i < rope.freq_factors.size()) freq /= rope.freq_factors[i];
    out[i] = static_cast<float>(freq);
  }
  return out;
}

uint64_t Tensor::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

uint64_t Tensor::rows() const {
  return shape.empty() || shape[0] == 0 ? 0 : elements() / shape[0];
}

ModelFile::ModelFile(std::filesystem::path path, FileFormat format, ModelConfig config,
                     std::vector<Tensor> tensors, std::vector<std::shared_ptr<const void>> storage,
                     tokenizer::TokenizerSpec tokenizer, std::string chat_template,
                     std::vector<std::string> stop_strings)
    : path_(std::move(path)),
      format_(format),
      config_(std::move(config)),
      tensors_(std::move(tensors)),
      storage_(std::move(storage)),
      tokenizer_(std::move(tokenizer)),
      chat_template_(std::move(chat_template)),
      stop_strings_(std::move(stop_strings)) {
  const std::string where = path_.string();
  check_config(config_, where);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    if (!index_.emplace(t.name, i).second) throw Error(where + ": tensor " + t.name + " twice");
    if (t.shape.empty() || t.data == nullptr)
      throw Error(where + ": tensor " + t.name + " is empty");
    if (row_bytes(t.type, t.shape[0]) * t.rows() != t.nbytes) {
      throw Error(where + ": tensor " + t.name + " holds " + std::to_string(t.nbytes) +
                  " bytes, not what " + type_name(t.type) + " " + shape_text(t.shape) + " takes");
    }
  }

  // Every tensor the forward pass reads must be there, with the shape the configuration implies.
  const ModelConfig& c = config_;
  auto expect = [&](const std::string& name, std::vector<uint64_t> shape) {
    const Tensor& t = tensor(name);
    if (t.shape != shape) {
      throw Error(where + ": tensor " + name + " has shape " + shape_text(t.shape) + ", expected " +
                  shape_text(shape));
    }
  };
  const uint64_t q_dim = uint64_t{c.n_heads} * c.head_dim;
  const uint64_t kv_dim = uint64_t{c.n_kv_heads} * c.head_dim;
  expect("token_embd.weight", {c.dim, c.vocab_size});
  expect("output_norm.weight", {c.dim});
  if (!c.tied_embeddings) expect("output.weight", {c.dim, c.vocab_size});
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    expect(p + "attn_norm.weight", {c.dim});
    expect(p + "attn_q.weight", {c.dim, q_dim});
    expect(p + "attn_k.weight", {c.dim, kv_dim});
    expect(p + "attn_v.weight", {c.dim, kv_dim});
    expect(p + "attn_output.weight", {q_dim, c.dim});
    expect(p + "ffn_norm.weight", {c.dim});
    expect(p + "ffn_gate.weight", {c.dim, c.ffn_dim});
    expect(p + "ffn_up.weight", {c.dim, c.ffn_dim});
    expect(p + "ffn_down.weight", {c.ffn_dim, c.dim});
    if (c.qkv_bias) {
      expect(p + "attn_q.bias", {q_dim});
      expect(p + "attn_k.bias", {kv_dim});
      expect(p + "attn_v.bias", {kv_dim});
    }
    if (c.qk_norm) {
      expect(p + "attn_q_norm.weight", {c.head_dim});
      expect(p + "attn_k_norm.weight", {c.head_dim});
    }
  }
}

const Tensor* ModelFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const Tensor& ModelFile::tensor(std::string_view name) const {
  if (const Tensor* t = find(name)) return *t;
  throw Error(path_.string() + ": tensor " + std::string(name) + " is missing");
}

const Tensor& ModelFile::layer_tensor(uint32_t layer, std::string_view suffix) const {
  return tensor("blk." + std::to_string(layer) + "." + std::string(suffix));
}

const Tensor& ModelFile::output_weight() const {
  return tensor(config_.tied_embeddings ? "token_embd.weight" : "output.weight");
}

}  // namespace pie::model
