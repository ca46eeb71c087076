#include "backend/model/hf_folder.h"

#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "backend/model/mapped_file.h"
#include "backend/tokenizer/loaders.h"
#include "common/error.h"

namespace pie::model {
namespace {

using nlohmann::json;

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON (" + e.what() + ")");
  }
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kLayerNames = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
}};

// Reads one safetensors file's header and appends its tensors, keeping the file mapped.
void read_safetensors(const std::filesystem::path& path, std::vector<Tensor>& tensors,
                      std::vector<std::shared_ptr<const void>>& storage) {
  const auto file = MappedFile::open(path);
  const std::string where = path.string();
  uint64_t header_size = 0;
  if (file->size() < 8) throw Error(where + ": not a safetensors file");
  std::memcpy(&header_size, file->data(), 8);
  if (header_size > file->size() - 8) throw Error(where + ": safetensors header runs past the end");
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(file->data()) + 8,
                         reinterpret_cast<const char*>(file->data()) + 8 + header_size);
  } catch (const json::exception& e) {
    throw Error(where + ": invalid safetensors header (" + e.what() + ")");
  }
  const uint64_t data_start = 8 + header_size;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // recomputed
    const std::string canonical = canonical_tensor_name(name);
    if (canonical.empty()) throw Error(where + ": tensor " + name + " is not one this build knows");
    Tensor t;
    t.name = canonical;
    try {
      const std::string dtype = info.at("dtype").get<std::string>();
      if (dtype == "F32") {
        t.type = GgmlType::F32;
      } else if (dtype == "F16") {
        t.type = GgmlType::F16;
      } else if (dtype == "BF16") {
        t.type = GgmlType::BF16;
      } else {
        throw Error(where + ": tensor " + name + " has type " + dtype +
                    " (supported: F32, F16, BF16)");
      }
      const auto shape = info.at("shape").get<std::vector<uint64_t>>();
      t.shape.assign(shape.rbegin(), shape.rend());
      if (t.shape.empty()) t.shape = {1};
      const auto offsets = info.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] ||
          offsets[1] > file->size() - data_start) {
        throw Error(where + ": tensor " + name + " lies outside the file");
      }
      t.nbytes = offsets[1] - offsets[0];
      t.data = file->data() + data_start + offsets[0];
    } catch (const json::exception& e) {
      throw Error(where + ": malformed entry for tensor " + name + " (" + e.what() + ")");
    }
    uint64_t elements = 1;
    for (uint64_t d : t.shape) elements *= d;
    if (elements * (t.type == GgmlType::F32 ? 4 : 2) != t.nbytes) {
      throw Error(where + ": tensor " + name + " holds " + std::to_string(t.nbytes) +
                  " bytes, not what its shape and type take");
    }
    tensors.push_back(std::move(t));
  }
  storage.push_back(file);
}

// The safetensors files of the folder: the index's files, else model.safetensors, else all.
std::vector<std::filesystem::path> weight_files(const std::filesystem::path& folder) {
  const auto index = folder / "model.safetensors.index.json";
  std::set<std::filesystem::path> files;
  if (std::filesystem::exists(index)) {
    const json j = read_json(index);
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw Error(index.string() + ": no weight_map");
    }
    for (const auto& [name, file] : j["weight_map"].items()) {
      files.insert(folder / file.get<std::string>());
    }
  } else if (std::filesystem::exists(folder / "model.safetensors")) {
    files.insert(folder / "model.safetensors");
  } else {
    for (const auto& e : std::filesystem::directory_iterator(folder)) {
      if (e.path().extension() == ".safetensors") files.insert(e.path());
    }
  }
  if (files.empty()) throw Error(folder.string() + ": no .safetensors files");
  return {files.begin(), files.end()};
}

template <class T>
T get_or(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace

std::string canonical_tensor_name(std::string_view n) {
  if (n == "model.embed_tokens.weight") return "token_embd.weight";
  if (n == "model.norm.weight") return "output_norm.weight";
  if (n == "lm_head.weight") return "output.weight";
  constexpr std::string_view prefix = "model.layers.";
  if (n.substr(0, prefix.size()) != prefix) return "";
  n.remove_prefix(prefix.size());
  const size_t dot = n.find('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  const std::string_view layer = n.substr(0, dot);
  for (char c : layer) {
    if (c < '0' || c > '9') return "";
  }
  const std::string_view rest = n.substr(dot + 1);
  if (rest == "mlp.down_proj.weight") return "blk." + std::string(layer) + ".ffn_down.weight";
  for (const auto& [hf, canonical] : kLayerNames) {
    if (rest == hf) return "blk." + std::string(layer) + "." + std::string(canonical);
  }
  return "";
}

ModelFile read_hf_folder(const std::filesystem::path& folder) {
  const json cfg = read_json(folder / "config.json");
  const std::string where = (folder / "config.json").string();
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<const void>> storage;
  for (const auto& file : weight_files(folder)) read_safetensors(file, tensors, storage);
  auto has = [&](std::string_view name) {
    for (const Tensor& t : tensors) {
      if (t.name == name) return true;
    }
    return false;
  };

  ModelConfig c;
  try {
    const std::string type = get_or<std::string>(cfg, "model_type", "");
    c.arch = architecture_from_name(type);
    c.name = folder.filename().string();
    if (c.name.empty()) c.name = folder.parent_path().filename().string();
    c.dim = cfg.at("hidden_size").get<uint32_t>();
    c.n_layers = cfg.at("num_hidden_layers").get<uint32_t>();
    c.n_heads = cfg.at("num_attention_heads").get<uint32_t>();
    c.n_kv_heads = get_or<uint32_t>(cfg, "num_key_value_heads", c.n_heads);
    if (c.n_heads == 0) throw Error(where + ": num_attention_heads is zero");
    c.head_dim = get_or<uint32_t>(cfg, "head_dim", c.dim / c.n_heads);
    c.ffn_dim = cfg.at("intermediate_size").get<uint32_t>();
    c.vocab_size = cfg.at("vocab_size").get<uint32_t>();
    c.context_length = get_or<uint32_t>(cfg, "max_position_embeddings", 2048);
    c.rms_eps = get_or<float>(cfg, "rms_norm_eps", 1e-6F);
    c.rope.theta = get_or<float>(cfg, "rope_theta", 10000.0F);
    c.rope.style = RopeStyle::HalfSplit;
    c.rope.dims = c.head_dim;
    if (auto s = cfg.find("rope_scaling"); s != cfg.end() && !s->is_null()) {
      const std::string rope_type =
          get_or<std::string>(*s, "rope_type", get_or<std::string>(*s, "type", ""));
      if (rope_type == "llama3") {
        c.rope.llama3 =
            Llama3Scaling{s->at("factor").get<float>(), get_or<float>(*s, "low_freq_factor", 1.0F),
                          get_or<float>(*s, "high_freq_factor", 4.0F),
                          get_or<uint32_t>(*s, "original_max_position_embeddings", 8192)};
      } else if (rope_type != "default") {
        throw Error(where + ": RoPE scaling '" + rope_type + "' is not supported (llama3 is)");
      }
    }
  } catch (const json::exception& e) {
    throw Error(where + ": " + e.what());
  }
  c.tied_embeddings = !has("output.weight");
  c.qkv_bias = has("blk.0.attn_q.bias");
  c.qk_norm = has("blk.0.attn_q_norm.weight");

  const auto tokenizer_config = folder / "tokenizer_config.json";
  const bool has_config = std::filesystem::exists(tokenizer_config);
  tokenizer::TokenizerSpec tok = tokenizer::load_hf_tokenizer(
      folder / "tokenizer.json", has_config ? tokenizer_config : std::filesystem::path());
  std::string chat_template;
  if (std::filesystem::exists(folder / "chat_template.jinja")) {
    std::ifstream in(folder / "chat_template.jinja", std::ios::binary);
    chat_template.assign(std::istreambuf_iterator<char>(in), {});
  } else if (has_config) {
    const json tc = read_json(tokenizer_config);
    if (auto t = tc.find("chat_template"); t != tc.end()) {
      if (t->is_string()) {
        chat_template = t->get<std::string>();
      } else if (t->is_array()) {  // named templates: use "default"
        for (const json& named : *t) {
          if (named.value("name", "") == "default") chat_template = named.value("template", "");
        }
      }
    }
  }
  std::vector<std::string> stops;
  for (uint32_t id : tok.stop_ids) stops.push_back(tok.tokens[id]);
  return ModelFile(folder, FileFormat::HuggingFace, std::move(c), std::move(tensors),
                   std::move(storage), std::move(tok), std::move(chat_template), std::move(stops));
}

}  // namespace pie::model
