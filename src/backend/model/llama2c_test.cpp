#include "backend/model/llama2c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "backend/model/model_file.h"
#include "backend/tokenizer/loaders.h"
#include "backend/tokenizer/tokenizer.h"
#include "common/error.h"
#include "shared_data.h"

namespace pie::model {
namespace {

float first_float(const Tensor& t) {
  float v = 0;
  std::memcpy(&v, t.data, sizeof v);
  return v;
}

TEST(Llama2c, ReadsStories260K) {
  PIE_REQUIRE_SHARED(bin, "models/stories260K/stories260K.bin");
  const ModelFile m = open_model(bin);
  const ModelConfig& c = m.config();
  EXPECT_EQ(m.format(), FileFormat::Llama2c);
  EXPECT_EQ(c.arch, Architecture::Llama);
  EXPECT_EQ(c.dim, 64u);
  EXPECT_EQ(c.ffn_dim, 172u);
  EXPECT_EQ(c.n_layers, 5u);
  EXPECT_EQ(c.n_heads, 8u);
  EXPECT_EQ(c.n_kv_heads, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.vocab_size, 512u);
  EXPECT_EQ(c.context_length, 512u);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope.style, RopeStyle::Interleaved);
  EXPECT_EQ(c.rope.dims, 8u);
  EXPECT_FLOAT_EQ(c.rope.theta, 10000.0F);

  const Tensor& embd = m.tensor("token_embd.weight");
  EXPECT_EQ(embd.type, GgmlType::F32);
  EXPECT_EQ(embd.shape, (std::vector<uint64_t>{64, 512}));
  // The first weight of the file, right after the 28-byte header (bytes 50 e9 96 be).
  uint32_t bits = 0xbe96e950;
  float expected = 0;
  std::memcpy(&expected, &bits, sizeof expected);
  EXPECT_EQ(first_float(embd), expected);
  EXPECT_EQ(&m.output_weight(), &embd);
  EXPECT_EQ(m.layer_tensor(4, "attn_k.weight").shape, (std::vector<uint64_t>{64, 32}));
  EXPECT_EQ(m.layer_tensor(2, "ffn_down.weight").shape, (std::vector<uint64_t>{172, 64}));
  EXPECT_EQ(m.find("output.weight"), nullptr);
  EXPECT_THROW(m.tensor("blk.5.attn_q.weight"), Error);

  // Tensors are views of the mapped file in llama2.c's order: layer 1's wq follows layer 0's.
  EXPECT_EQ(m.layer_tensor(1, "attn_q.weight").data,
            m.layer_tensor(0, "attn_q.weight").data + 64 * 64 * 4);

  const tokenizer::TokenizerSpec& spec = m.tokenizer();
  ASSERT_EQ(spec.tokens.size(), 512u);
  EXPECT_EQ(spec.bos, 1u);
  EXPECT_EQ(spec.eos, 2u);
  EXPECT_EQ(spec.unk, 0u);
}

TEST(Llama2c, TokenizerDecodes) {
  PIE_REQUIRE_SHARED(tok, "models/stories260K/tok512.bin");
  const tokenizer::Tokenizer t(tokenizer::load_llama2c_tokenizer(tok, 512));
  EXPECT_EQ(t.token_bytes(1), "<s>");
  EXPECT_EQ(t.token_bytes(3 + 'A'), "A");  // <0x41>
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  const std::vector<uint32_t> ids = t.encode(text);
  EXPECT_LT(ids.size(), text.size());  // merges happened
  EXPECT_EQ(t.decode(ids), text);
  // The leading space of the first token after BOS is dropped, as llama2.c prints it.
  std::vector<uint32_t> with_bos = {1};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  EXPECT_EQ(t.decode(with_bos, /*skip_special=*/true), text);
  EXPECT_EQ(t.encode(text, /*add_special=*/true), with_bos);
  EXPECT_THROW(t.token_bytes(512), Error);
}

// Writes a small checkpoint in one of llama2.c's layouts and checks every tensor lands where
// the layout says.
class Llama2cLayouts : public ::testing::Test {
 protected:
  static constexpr int32_t kDim = 16, kHidden = 24, kLayers = 2, kHeads = 4, kKvHeads = 2,
                           kVocab = 8, kSeq = 6;
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("pie_llama2c_" + std::to_string(::getpid()));
  void SetUp() override {
    std::filesystem::create_directories(dir_);
    // A minimal tokenizer: <unk>, <s>, </s>, then five pieces.
    std::ofstream tok(dir_ / "tokenizer.bin", std::ios::binary);
    const int32_t max_len = 5;
    tok.write(reinterpret_cast<const char*>(&max_len), 4);
    for (std::string piece : {"<unk>", "\n<s>\n", "\n</s>\n", " a", "b", "c", " ab", "d"}) {
      const float score = 0;
      const auto len = static_cast<int32_t>(piece.size());
      tok.write(reinterpret_cast<const char*>(&score), 4);
      tok.write(reinterpret_cast<const char*>(&len), 4);
      tok.write(piece.data(), len);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Each tensor holds its index in `order` as every value, so its position is checkable.
  std::filesystem::path write(const std::string& name, const std::vector<char>& header,
                              const std::vector<std::pair<std::string, uint64_t>>& order) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (size_t i = 0; i < order.size(); ++i) {
      const std::vector<float> values(order[i].second, static_cast<float>(i));
      out.write(reinterpret_cast<const char*>(values.data()),
                static_cast<std::streamsize>(values.size() * 4));
    }
    return dir_ / name;
  }
  static void put(std::vector<char>& h, int32_t v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    h.insert(h.end(), p, p + 4);
  }
  std::vector<char> params(int32_t vocab) {
    std::vector<char> h;
    for (int32_t v : {kDim, kHidden, kLayers, kHeads, kKvHeads, vocab, kSeq}) put(h, v);
    return h;
  }
  // The tensors of one logical weight, one per layer.
  static void stack(std::vector<std::pair<std::string, uint64_t>>& order, const std::string& suffix,
                    uint64_t n) {
    for (int l = 0; l < kLayers; ++l)
      order.emplace_back("blk." + std::to_string(l) + "." + suffix, n);
  }
  static void expect_layout(const ModelFile& m,
                            const std::vector<std::pair<std::string, uint64_t>>& order) {
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i].first.empty()) continue;
      SCOPED_TRACE(order[i].first);
      const Tensor& t = m.tensor(order[i].first);
      EXPECT_EQ(t.elements(), order[i].second);
      EXPECT_EQ(first_float(t), static_cast<float>(i));
    }
  }
};

TEST_F(Llama2cLayouts, LegacyWithUnsharedClassifier) {
  const uint64_t d = kDim, kv = kDim / kHeads * kKvHeads, h = kHidden, v = kVocab;
  std::vector<std::pair<std::string, uint64_t>> order = {{"token_embd.weight", v * d}};
  stack(order, "attn_norm.weight", d);
  stack(order, "attn_q.weight", d * d);
  stack(order, "attn_k.weight", kv * d);
  stack(order, "attn_v.weight", kv * d);
  stack(order, "attn_output.weight", d * d);
  stack(order, "ffn_norm.weight", d);
  stack(order, "ffn_gate.weight", h * d);
  stack(order, "ffn_down.weight", d * h);
  stack(order, "ffn_up.weight", h * d);
  order.emplace_back("output_norm.weight", d);
  order.emplace_back("", 2 * kSeq * (kDim / kHeads / 2));  // freq_cis tables
  order.emplace_back("output.weight", v * d);
  const auto path = write("legacy.bin", params(-kVocab), order);
  const ModelFile m = open_model(path);
  EXPECT_FALSE(m.config().tied_embeddings);
  EXPECT_EQ(m.config().vocab_size, 8u);
  EXPECT_EQ(m.tokenizer().tokens[6],
            "\xE2\x96\x81"
            "ab");
  expect_layout(m, order);
}

TEST_F(Llama2cLayouts, Version1) {
  const uint64_t d = kDim, kv = kDim / kHeads * kKvHeads, h = kHidden, v = kVocab;
  std::vector<char> header;
  put(header, 0x616b3432);
  put(header, 1);
  const auto p = params(kVocab);
  header.insert(header.end(), p.begin(), p.end());
  header.push_back(1);  // shared classifier
  header.resize(256, 0);
  std::vector<std::pair<std::string, uint64_t>> order;
  stack(order, "attn_norm.weight", d);
  stack(order, "ffn_norm.weight", d);
  order.emplace_back("output_norm.weight", d);
  order.emplace_back("token_embd.weight", v * d);
  stack(order, "attn_q.weight", d * d);
  stack(order, "attn_k.weight", kv * d);
  stack(order, "attn_v.weight", kv * d);
  stack(order, "attn_output.weight", d * d);
  stack(order, "ffn_gate.weight", h * d);
  stack(order, "ffn_down.weight", d * h);
  stack(order, "ffn_up.weight", h * d);
  const auto path = write("v1.bin", header, order);
  const ModelFile m = open_model(path, {dir_ / "tokenizer.bin"});
  EXPECT_TRUE(m.config().tied_embeddings);
  expect_layout(m, order);
}

TEST_F(Llama2cLayouts, RejectsBadFiles) {
  std::vector<std::pair<std::string, uint64_t>> order = {{"token_embd.weight", 10}};
  EXPECT_THROW(read_llama2c(write("short.bin", params(kVocab), order), dir_ / "tokenizer.bin"),
               Error);
  std::vector<char> header;
  put(header, 0x616b3432);
  put(header, 7);
  header.resize(256, 0);
  EXPECT_THROW(read_llama2c(write("v7.bin", header, {}), dir_ / "tokenizer.bin"), Error);
  EXPECT_THROW(open_model(dir_ / "missing.bin"), Error);
  // A good checkpoint with a tokenizer of the wrong size.
  EXPECT_THROW(tokenizer::load_llama2c_tokenizer(dir_ / "tokenizer.bin", 9), Error);
}

}  // namespace
}  // namespace pie::model
