#include "backend/model/gguf_model.h"

#include <cmath>
#include <cstring>

#include "backend/tokenizer/loaders.h"
#include "backend/tokenizer/pretokenizer.h"
#include "common/error.h"

namespace pie::model {
namespace {

using tokenizer::Algorithm;
using tokenizer::TokenizerSpec;
using tokenizer::TokenType;

std::optional<uint32_t> optional_u32(const GgufMetadata& m, const std::string& key) {
  const GgufValue* v = m.find(key);
  if (v == nullptr) return std::nullopt;
  return static_cast<uint32_t>(v->to_uint());
}

uint32_t required_u32(const GgufMetadata& m, const std::string& key) {
  if (auto v = optional_u32(m, key)) return *v;
  throw Error("GGUF metadata key " + key + " is missing");
}

std::optional<bool> optional_bool(const GgufMetadata& m, const std::string& key) {
  const GgufValue* v = m.find(key);
  if (v == nullptr) return std::nullopt;
  return v->to_bool();
}

GgufValue u32(uint64_t v) {
  return GgufValue::of_uint(GgufType::Uint32, v);
}
GgufValue f32(double v) {
  return GgufValue::of_float(GgufType::Float32, v);
}

}  // namespace

std::vector<float> rope_freq_factors(const RopeConfig& rope) {
  RopeConfig plain = rope;
  plain.llama3.reset();
  plain.freq_factors.clear();
  const std::vector<float> base = rope_inverse_frequencies(plain);
  const std::vector<float> scaled = rope_inverse_frequencies(rope);
  std::vector<float> factors(base.size());
  for (size_t i = 0; i < base.size(); ++i) factors[i] = base[i] / scaled[i];
  return factors;
}

ModelConfig config_from_gguf(const GgufFile& file) {
  const GgufMetadata& m = file.metadata();
  ModelConfig c;
  const std::string arch = m.at("general.architecture").str();
  c.arch = architecture_from_name(arch);
  const std::string p = arch + ".";
  if (const GgufValue* name = m.find("general.name")) c.name = name->str();
  if (c.name.empty()) c.name = file.file()->path().stem().string();
  c.dim = required_u32(m, p + "embedding_length");
  c.n_layers = required_u32(m, p + "block_count");
  c.ffn_dim = required_u32(m, p + "feed_forward_length");
  c.n_heads = required_u32(m, p + "attention.head_count");
  c.n_kv_heads = optional_u32(m, p + "attention.head_count_kv").value_or(c.n_heads);
  c.context_length = optional_u32(m, p + "context_length").value_or(2048);
  if (c.n_heads == 0) throw Error("GGUF: " + p + "attention.head_count is zero");
  c.head_dim = optional_u32(m, p + "attention.key_length").value_or(c.dim / c.n_heads);
  if (const GgufValue* eps = m.find(p + "attention.layer_norm_rms_epsilon")) {
    c.rms_eps = static_cast<float>(eps->to_float());
  }
  if (const GgufValue* theta = m.find(p + "rope.freq_base")) {
    c.rope.theta = static_cast<float>(theta->to_float());
  }
  c.rope.dims = optional_u32(m, p + "rope.dimension_count").value_or(c.head_dim);
  // llama.cpp's rope types: NORM (interleaved pairs) for llama, NEOX (half split) for qwen.
  c.rope.style = (c.arch == Architecture::Qwen2 || c.arch == Architecture::Qwen3)
                     ? RopeStyle::HalfSplit
                     : RopeStyle::Interleaved;
  if (const GgufValue* scaling = m.find(p + "rope.scaling.type")) {
    if (scaling->str() != "none") {
      throw Error("GGUF: RoPE scaling '" + scaling->str() + "' is not supported");
    }
  }

  auto find = [&](std::string_view name) -> const Tensor* {
    for (const Tensor& t : file.tensors()) {
      if (t.name == name) return &t;
    }
    return nullptr;
  };
  const Tensor* embd = find("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) {
    throw Error("GGUF: token_embd.weight is missing or not a matrix");
  }
  c.vocab_size = static_cast<uint32_t>(embd->shape[1]);
  c.tied_embeddings = find("output.weight") == nullptr;
  c.qkv_bias = find("blk.0.attn_q.bias") != nullptr;
  c.qk_norm = find("blk.0.attn_q_norm.weight") != nullptr;
  if (const Tensor* freqs = find("rope_freqs.weight")) {
    if (freqs->type != GgmlType::F32 || freqs->elements() != c.rope.dims / 2) {
      throw Error("GGUF: rope_freqs.weight must be F32 with one factor per rotated pair");
    }
    c.rope.freq_factors.resize(c.rope.dims / 2);
    std::memcpy(c.rope.freq_factors.data(), freqs->data, freqs->nbytes);
  }
  return c;
}

void config_to_gguf(const ModelConfig& c, GgufMetadata& m) {
  const std::string arch(architecture_name(c.arch));
  const std::string p = arch + ".";
  m.set("general.architecture", GgufValue::of_string(arch));
  m.set("general.name", GgufValue::of_string(c.name));
  m.set(p + "context_length", u32(c.context_length));
  m.set(p + "embedding_length", u32(c.dim));
  m.set(p + "block_count", u32(c.n_layers));
  m.set(p + "feed_forward_length", u32(c.ffn_dim));
  m.set(p + "attention.head_count", u32(c.n_heads));
  m.set(p + "attention.head_count_kv", u32(c.n_kv_heads));
  m.set(p + "attention.layer_norm_rms_epsilon", f32(c.rms_eps));
  m.set(p + "rope.freq_base", f32(c.rope.theta));
  m.set(p + "rope.dimension_count", u32(c.rope.dims));
  if (c.head_dim * c.n_heads != c.dim) {
    m.set(p + "attention.key_length", u32(c.head_dim));
    m.set(p + "attention.value_length", u32(c.head_dim));
  }
  m.set(p + "vocab_size", u32(c.vocab_size));
}

TokenizerSpec tokenizer_from_gguf(const GgufMetadata& m) {
  TokenizerSpec s;
  const std::string model = m.at("tokenizer.ggml.model").str();
  if (model == "llama") {
    s.algorithm = Algorithm::SentencePiece;
  } else if (model == "gpt2") {
    s.algorithm = Algorithm::ByteLevel;
  } else {
    throw Error("GGUF: tokenizer model '" + model + "' is not supported (llama and gpt2 are)");
  }
  const GgufValue::Array& tokens = m.at("tokenizer.ggml.tokens").array();
  s.tokens.reserve(tokens.size());
  for (const GgufValue& t : tokens) s.tokens.push_back(t.str());
  const size_t n = s.tokens.size();
  if (const GgufValue* scores = m.find("tokenizer.ggml.scores")) {
    s.scores.reserve(scores->array().size());
    for (const GgufValue& v : scores->array()) s.scores.push_back(static_cast<float>(v.to_float()));
  } else if (s.algorithm == Algorithm::SentencePiece) {
    s.scores.assign(n, 0.0F);
  }
  if (const GgufValue* types = m.find("tokenizer.ggml.token_type")) {
    s.types.reserve(types->array().size());
    for (const GgufValue& v : types->array()) {
      const int64_t t = v.to_int();
      if (t < 1 || t > 6) throw Error("GGUF: token type " + std::to_string(t) + " is unknown");
      s.types.push_back(static_cast<TokenType>(t));
    }
  } else {
    s.types.assign(n, TokenType::Normal);
  }
  if (const GgufValue* merges = m.find("tokenizer.ggml.merges")) {
    s.merges.reserve(merges->array().size());
    for (const GgufValue& v : merges->array()) s.merges.push_back(v.str());
  }
  if (s.algorithm == Algorithm::ByteLevel) {
    const GgufValue* pre = m.find("tokenizer.ggml.pre");
    s.pre = pre != nullptr ? pre->str() : "default";
    s.split_regexes = tokenizer::pre_tokenizer_regexes(s.pre);
    // llama.cpp looks whole pieces up first for Llama 3's vocabulary (as tiktoken does).
    s.ignore_merges = s.pre == "llama-bpe" || s.pre == "llama3";
    // Qwen's own tokenizer normalises to NFC (llama.cpp skips it; Hugging Face is the reference).
    s.nfc = s.pre == "qwen2" || s.pre == "qwen3";
  }
  s.bos = optional_u32(m, "tokenizer.ggml.bos_token_id");
  s.eos = optional_u32(m, "tokenizer.ggml.eos_token_id");
  s.unk = optional_u32(m, "tokenizer.ggml.unknown_token_id");
  s.pad = optional_u32(m, "tokenizer.ggml.padding_token_id");
  const bool spm = s.algorithm == Algorithm::SentencePiece;
  s.add_bos = optional_bool(m, "tokenizer.ggml.add_bos_token").value_or(spm);
  s.add_eos = optional_bool(m, "tokenizer.ggml.add_eos_token").value_or(false);
  s.add_space_prefix = spm && optional_bool(m, "tokenizer.ggml.add_space_prefix").value_or(true);
  tokenizer::set_stop_ids(s);
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    if (auto id = optional_u32(m, key);
        id && std::find(s.stop_ids.begin(), s.stop_ids.end(), *id) == s.stop_ids.end()) {
      s.stop_ids.push_back(*id);
    }
  }
  s.validate();
  return s;
}

void tokenizer_to_gguf(const TokenizerSpec& s, GgufMetadata& m) {
  const bool spm = s.algorithm == Algorithm::SentencePiece;
  m.set("tokenizer.ggml.model", GgufValue::of_string(spm ? "llama" : "gpt2"));
  if (!spm) {
    const std::string pre = tokenizer::pre_tokenizer_name(s.split_regexes);
    if (pre.empty()) {
      throw Error(
          "the tokenizer's pre-tokenizer regex is not one GGUF can name "
          "(gpt-2, llama-bpe, qwen2)");
    }
    m.set("tokenizer.ggml.pre", GgufValue::of_string(pre));
  }
  m.set("tokenizer.ggml.tokens", GgufValue::of_strings(s.tokens));
  if (spm) m.set("tokenizer.ggml.scores", GgufValue::of_floats(s.scores));
  std::vector<int32_t> types;
  types.reserve(s.types.size());
  for (TokenType t : s.types) types.push_back(static_cast<int32_t>(t));
  m.set("tokenizer.ggml.token_type", GgufValue::of_int32s(types));
  if (!s.merges.empty()) m.set("tokenizer.ggml.merges", GgufValue::of_strings(s.merges));
  if (s.bos) m.set("tokenizer.ggml.bos_token_id", u32(*s.bos));
  if (s.eos) m.set("tokenizer.ggml.eos_token_id", u32(*s.eos));
  if (s.unk) m.set("tokenizer.ggml.unknown_token_id", u32(*s.unk));
  if (s.pad) m.set("tokenizer.ggml.padding_token_id", u32(*s.pad));
  m.set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(s.add_bos));
  m.set("tokenizer.ggml.add_eos_token", GgufValue::of_bool(s.add_eos));
  if (spm) m.set("tokenizer.ggml.add_space_prefix", GgufValue::of_bool(s.add_space_prefix));
}

ModelFile read_gguf(const std::filesystem::path& path) {
  const GgufFile file = GgufFile::open(path);
  const GgufMetadata& m = file.metadata();
  try {
    ModelConfig config = config_from_gguf(file);
    TokenizerSpec tok = tokenizer_from_gguf(m);
    std::string chat_template;
    if (const GgufValue* t = m.find("tokenizer.chat_template")) chat_template = t->str();
    std::vector<std::string> stops;
    for (uint32_t id : tok.stop_ids) stops.push_back(tok.tokens[id]);
    return ModelFile(path, FileFormat::Gguf, std::move(config), file.tensors(), {file.file()},
                     std::move(tok), std::move(chat_template), std::move(stops));
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(path.string(), 0) == 0) throw;
    throw Error(path.string() + ": " + what);
  }
}

}  // namespace pie::model
