#include "backend/model/hf_folder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/model/quant.h"
#include "common/error.h"
#include "shared_data.h"

namespace pie::model {
namespace {

using nlohmann::json;

// The Hugging Face name of a canonical one (the inverse of canonical_tensor_name, for the test).
std::string hf_name(const std::string& canonical) {
  if (canonical == "token_embd.weight") return "model.embed_tokens.weight";
  if (canonical == "output_norm.weight") return "model.norm.weight";
  const size_t dot = canonical.find('.', 4);
  const std::string layer = canonical.substr(4, dot - 4);
  const std::string rest = canonical.substr(dot + 1);
  const std::map<std::string, std::string> names = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"}};
  return "model.layers." + layer + "." + names.at(rest);
}

class HfFolder : public ::testing::Test {
 protected:
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("pie_hf_" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes tensors (already in the wanted dtype) as one safetensors file.
  static void write_safetensors(
      const std::filesystem::path& path,
      const std::vector<std::tuple<std::string, std::string, std::vector<uint64_t>, std::string>>&
          ts) {
    json header = json::object();
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t offset = 0;
    std::string data;
    for (const auto& [name, dtype, shape, bytes] : ts) {
      header[name] = {
          {"dtype", dtype}, {"shape", shape}, {"data_offsets", {offset, offset + bytes.size()}}};
      offset += bytes.size();
      data += bytes;
    }
    const std::string h = header.dump();
    const uint64_t n = h.size();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << h << data;
  }
};

// stories260K's weights as a two-shard folder (the second shard in BF16) with Llama 3's tokenizer.
TEST_F(HfFolder, ReadsShardedSafetensors) {
  PIE_REQUIRE_SHARED(bin, "models/stories260K/stories260K.bin");
  PIE_REQUIRE_SHARED(tok_json, "tokenizers/llama3/tokenizer.json");
  PIE_REQUIRE_SHARED(tok_config, "tokenizers/llama3/tokenizer_config.json");
  const ModelFile src = open_model(bin);
  std::vector<std::tuple<std::string, std::string, std::vector<uint64_t>, std::string>> shard1;
  std::vector<std::tuple<std::string, std::string, std::vector<uint64_t>, std::string>> shard2;
  json weight_map = json::object();
  for (const Tensor& t : src.tensors()) {
    std::vector<uint64_t> hf_shape(t.shape.rbegin(), t.shape.rend());
    const bool second = t.name.rfind("blk.4.", 0) == 0;
    std::string bytes(reinterpret_cast<const char*>(t.data), t.nbytes);
    if (second) {
      std::string bf16(t.elements() * 2, '\0');
      for (uint64_t i = 0; i < t.elements(); ++i) {
        float f = 0;
        std::memcpy(&f, t.data + 4 * i, 4);
        const uint16_t h = fp32_to_bf16(f);
        std::memcpy(bf16.data() + 2 * i, &h, 2);
      }
      shard2.emplace_back(hf_name(t.name), "BF16", hf_shape, bf16);
    } else {
      shard1.emplace_back(hf_name(t.name), "F32", hf_shape, bytes);
    }
    weight_map[hf_name(t.name)] =
        second ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
  }
  shard1.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", "F32",
                      std::vector<uint64_t>{4}, std::string(16, '\0'));
  write_safetensors(dir_ / "model-00001-of-00002.safetensors", shard1);
  write_safetensors(dir_ / "model-00002-of-00002.safetensors", shard2);
  std::ofstream(dir_ / "model.safetensors.index.json") << json{{"weight_map", weight_map}}.dump();
  std::ofstream(dir_ / "config.json") << json{
      {"model_type", "llama"},
      {"hidden_size", 64},
      {"num_hidden_layers", 5},
      {"num_attention_heads", 8},
      {"num_key_value_heads", 4},
      {"intermediate_size", 172},
      {"vocab_size", 512},
      {"max_position_embeddings", 512},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 500000.0},
      {"rope_scaling",
       {{"rope_type", "llama3"},
        {"factor", 32.0},
        {"low_freq_factor", 1.0},
        {"high_freq_factor", 4.0},
        {"original_max_position_embeddings", 8192}}},
      {"tie_word_embeddings", true}}.dump();
  std::filesystem::copy_file(tok_json, dir_ / "tokenizer.json");
  std::filesystem::copy_file(tok_config, dir_ / "tokenizer_config.json");

  const ModelFile m = open_model(dir_);
  EXPECT_EQ(m.format(), FileFormat::HuggingFace);
  const ModelConfig& c = m.config();
  EXPECT_EQ(c.arch, Architecture::Llama);
  EXPECT_EQ(c.rope.style, RopeStyle::HalfSplit);
  ASSERT_TRUE(c.rope.llama3.has_value());
  EXPECT_EQ(c.rope.llama3->factor, 32.0F);
  EXPECT_EQ(c.rope.theta, 500000.0F);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(m.tensors().size(), src.tensors().size());
  for (const Tensor& t : src.tensors()) {
    SCOPED_TRACE(t.name);
    const Tensor& u = m.tensor(t.name);
    EXPECT_EQ(u.shape, t.shape);
    if (t.name.rfind("blk.4.", 0) == 0) {
      EXPECT_EQ(u.type, GgmlType::BF16);
      std::vector<float> values(u.elements());
      dequantize_row(u.type, u.data, values.data(), static_cast<int64_t>(values.size()));
      float first = 0;
      std::memcpy(&first, t.data, 4);
      EXPECT_EQ(values[0], bf16_to_fp32(fp32_to_bf16(first)));
    } else {
      EXPECT_EQ(u.type, GgmlType::F32);
      EXPECT_EQ(std::memcmp(u.data, t.data, t.nbytes), 0);
    }
  }
  EXPECT_EQ(m.tokenizer().bos, 128000u);
  EXPECT_NE(m.chat_template().find("start_header_id"), std::string::npos);
}

TEST_F(HfFolder, CanonicalNames) {
  EXPECT_EQ(canonical_tensor_name("model.layers.12.self_attn.k_norm.weight"),
            "blk.12.attn_k_norm.weight");
  EXPECT_EQ(canonical_tensor_name("model.layers.0.self_attn.v_proj.bias"), "blk.0.attn_v.bias");
  EXPECT_EQ(canonical_tensor_name("lm_head.weight"), "output.weight");
  EXPECT_EQ(canonical_tensor_name("model.layers.x.mlp.up_proj.weight"), "");
  EXPECT_EQ(canonical_tensor_name("vision_tower.patch_embed"), "");
}

TEST_F(HfFolder, RejectsBadFolders) {
  EXPECT_THROW(open_model(dir_), Error);  // no config.json
  std::ofstream(dir_ / "config.json") << R"({"model_type": "gpt_neox"})";
  EXPECT_THROW(open_model(dir_), Error);  // no weights
  write_safetensors(dir_ / "model.safetensors",
                    {{"model.embed_tokens.weight", "I64", {2, 2}, std::string(32, '\0')}});
  EXPECT_THROW(open_model(dir_), Error);  // unsupported dtype
  write_safetensors(dir_ / "model.safetensors",
                    {{"model.embed_tokens.weight", "F32", {2, 2}, std::string(8, '\0')}});
  EXPECT_THROW(open_model(dir_), Error);  // size does not match the shape
  std::ofstream(dir_ / "model.safetensors", std::ios::binary) << std::string("\xff\xff\xff\xff", 4);
  EXPECT_THROW(open_model(dir_), Error);  // truncated header
}

}  // namespace
}  // namespace pie::model
