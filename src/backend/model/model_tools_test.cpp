// synth_model, convert_llama2c, write_gguf and model_info, end to end through open_model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

#include "backend/model/convert.h"
#include "backend/model/gguf.h"
#include "backend/model/gguf_model.h"
#include "backend/model/model_info.h"
#include "backend/model/quant.h"
#include "backend/model/synth.h"
#include "backend/tokenizer/loaders.h"
#include "backend/tokenizer/tokenizer.h"
#include "common/error.h"
#include "shared_data.h"

namespace pie::model {
namespace {

class ModelTools : public ::testing::Test {
 protected:
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("pie_model_tools_" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static std::vector<float> dequantized(const Tensor& t) {
    std::vector<float> out(t.elements());
    const uint64_t stride = row_bytes(t.type, t.shape[0]);
    for (uint64_t r = 0; r < t.rows(); ++r) {
      dequantize_row(t.type, t.data + r * stride, out.data() + r * t.shape[0],
                     static_cast<int64_t>(t.shape[0]));
    }
    return out;
  }
  static ModelConfig small_llama() {
    ModelConfig c = synth_preset("llama-3.2-1b");
    c.name = "small";
    c.dim = 256;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.rope.dims = 64;
    c.ffn_dim = 512;
    c.vocab_size = 600;  // tok512 padded with unused tokens
    c.context_length = 1024;
    return c;
  }
};

TEST_F(ModelTools, Llama2cAndItsGgufLoadTheSameWeights) {
  PIE_REQUIRE_SHARED(bin, "models/stories260K/stories260K.bin");
  PIE_REQUIRE_SHARED(tok, "models/stories260K/tok512.bin");
  const auto out = dir_ / "stories260K.gguf";
  convert_llama2c(bin, tok, out);
  const ModelFile a = open_model(bin);
  const ModelFile b = open_model(out);
  EXPECT_EQ(b.format(), FileFormat::Gguf);
  EXPECT_EQ(a.config(), b.config());
  EXPECT_EQ(a.tokenizer(), b.tokenizer());
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const Tensor& t : a.tensors()) {
    SCOPED_TRACE(t.name);
    const Tensor& u = b.tensor(t.name);
    EXPECT_EQ(t.type, u.type);
    EXPECT_EQ(t.shape, u.shape);
    ASSERT_EQ(t.nbytes, u.nbytes);
    EXPECT_EQ(std::memcmp(t.data, u.data, t.nbytes), 0);
  }
  const tokenizer::Tokenizer ta(a.tokenizer());
  const tokenizer::Tokenizer tb(b.tokenizer());
  EXPECT_EQ(ta.encode("Once upon a time, a dog."), tb.encode("Once upon a time, a dog."));
}

TEST_F(ModelTools, SynthesisedModelsOpenWithTheirShapesAndScale) {
  PIE_REQUIRE_SHARED(tok, "models/stories260K/tok512.bin");
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                        GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                        GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    SCOPED_TRACE(type_name(type));
    SynthOptions o;
    o.config = small_llama();
    o.type = type;
    o.tokenizer = tok;
    o.seed = 42;
    const auto path = dir_ / ("small_" + type_name(type) + ".gguf");
    o.output = path;
    synth_model(o);
    const ModelFile m = open_model(path);
    ModelConfig expected = o.config;
    expected.rope.llama3.reset();  // GGUF carries the scaling as frequency factors
    expected.rope.freq_factors = rope_freq_factors(o.config.rope);
    EXPECT_EQ(m.config(), expected);
    const std::vector<float> read = rope_inverse_frequencies(m.config().rope);
    const std::vector<float> wanted = rope_inverse_frequencies(o.config.rope);
    ASSERT_EQ(read.size(), wanted.size());
    for (size_t i = 0; i < read.size(); ++i) EXPECT_NEAR(read[i] / wanted[i], 1.0F, 1e-6F) << i;
    EXPECT_EQ(m.tokenizer().tokens.size(), 600u);
    EXPECT_EQ(m.tensor("blk.1.ffn_down.weight").type, type);
    EXPECT_EQ(m.tensor("blk.1.ffn_norm.weight").type, GgmlType::F32);

    const std::vector<float> w = dequantized(m.tensor("blk.0.ffn_up.weight"));
    double sum = 0;
    double sq = 0;
    for (float v : w) {
      sum += v;
      sq += static_cast<double>(v) * v;
    }
    const double mean = sum / static_cast<double>(w.size());
    const double stddev = std::sqrt(sq / static_cast<double>(w.size()) - mean * mean);
    EXPECT_NEAR(mean, 0.0, 0.001);
    EXPECT_NEAR(stddev, 0.02, 0.002);
    for (float v : dequantized(m.tensor("output_norm.weight"))) ASSERT_EQ(v, 1.0F);
  }
}

TEST_F(ModelTools, SynthIsDeterministicAndRoundTrips) {
  PIE_REQUIRE_SHARED(tok, "models/stories260K/tok512.bin");
  SynthOptions o;
  o.config = small_llama();
  o.type = GgmlType::Q4_K;
  o.tokenizer = tok;
  o.threads = 1;
  o.output = dir_ / "one.gguf";
  synth_model(o);
  o.threads = 3;
  o.output = dir_ / "three.gguf";
  synth_model(o);
  EXPECT_EQ(slurp(dir_ / "one.gguf"), slurp(dir_ / "three.gguf"));
  o.seed = 1;
  o.output = dir_ / "other_seed.gguf";
  synth_model(o);
  EXPECT_NE(slurp(dir_ / "one.gguf"), slurp(dir_ / "other_seed.gguf"));

  // Read, write again, read: every key and tensor equal.
  const GgufFile g = GgufFile::open(dir_ / "one.gguf");
  GgufWriter w;
  w.metadata() = g.metadata();
  for (const Tensor& t : g.tensors()) w.add_tensor(t);
  w.write(dir_ / "rewritten.gguf");
  const GgufFile h = GgufFile::open(dir_ / "rewritten.gguf");
  EXPECT_EQ(g.metadata(), h.metadata());
  ASSERT_EQ(g.tensors().size(), h.tensors().size());
  for (size_t i = 0; i < g.tensors().size(); ++i) {
    const Tensor& a = g.tensors()[i];
    const Tensor& b = h.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.shape, b.shape);
    ASSERT_EQ(a.nbytes, b.nbytes);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0) << a.name;
  }
}

TEST_F(ModelTools, SynthQwen3ShapeWithItsTokenizer) {
  PIE_REQUIRE_SHARED(json, "tokenizers/qwen3/tokenizer.json");
  SynthOptions o;
  o.config = synth_preset("Qwen3-0.6B");
  o.config.dim = 64;
  o.config.n_layers = 1;
  o.config.head_dim = 32;
  o.config.rope.dims = 32;
  o.config.ffn_dim = 128;
  o.type = GgmlType::Q8_0;
  o.tokenizer = json.parent_path();
  o.output = dir_ / "qwen.gguf";
  synth_model(o);
  const ModelFile m = open_model(dir_ / "qwen.gguf");
  EXPECT_EQ(m.config().arch, Architecture::Qwen3);
  EXPECT_TRUE(m.config().qk_norm);
  EXPECT_EQ(m.config().rope.style, RopeStyle::HalfSplit);
  EXPECT_EQ(m.layer_tensor(0, "attn_q_norm.weight").shape, (std::vector<uint64_t>{32}));
  EXPECT_NE(m.chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(m.stop_strings().front(), "<|im_end|>");
  // The vocabulary written to GGUF encodes like the tokenizer.json it came from.
  const tokenizer::Tokenizer from_gguf(m.tokenizer());
  const tokenizer::Tokenizer from_json(tokenizer::load_hf_tokenizer(json));
  const std::string text = "<|im_start|>user\nHello, wörld! 12345 🦙<|im_end|>";
  EXPECT_EQ(from_gguf.encode(text), from_json.encode(text));
  EXPECT_EQ(from_gguf.vocab_size(), 151936u);
}

TEST_F(ModelTools, SynthRejectsImpossibleRequests) {
  PIE_REQUIRE_SHARED(tok, "models/stories260K/tok512.bin");
  SynthOptions o;
  o.config = small_llama();
  o.config.dim = 96;  // Q4_K needs rows of 256
  o.config.n_heads = 2;
  o.type = GgmlType::Q4_K;
  o.tokenizer = tok;
  o.output = dir_ / "bad.gguf";
  EXPECT_THROW(synth_model(o), Error);
  o.type = GgmlType::Q3_K;
  EXPECT_THROW(synth_model(o), Error);
  o.type = GgmlType::F16;
  o.config.vocab_size = 100;  // fewer rows than tokens
  EXPECT_THROW(synth_model(o), Error);
  o.config.vocab_size = 600;
  o.output.clear();
  EXPECT_THROW(synth_model(o), Error);
  EXPECT_THROW(synth_preset("gpt-5"), Error);
}

TEST_F(ModelTools, InfoDescribesTheModel) {
  PIE_REQUIRE_SHARED(bin, "models/stories260K/stories260K.bin");
  PIE_REQUIRE_SHARED(tok, "models/stories260K/tok512.bin");
  convert_llama2c(bin, tok, dir_ / "s.gguf");
  const std::string info = model_info(dir_ / "s.gguf");
  for (const char* expected :
       {"format:        GGUF", "architecture:  llama", "heads:         8 (kv 4, head_dim 8)",
        "tokenizer:     SentencePiece BPE, 512 tokens", "llama.block_count = 5",
        "blk.4.ffn_down.weight  F32  [172 x 64]"}) {
    EXPECT_NE(info.find(expected), std::string::npos) << expected << "\n" << info;
  }
  EXPECT_NE(model_info(bin).find("llama2.c checkpoint"), std::string::npos);
  EXPECT_THROW(model_info(dir_ / "nothing.gguf"), Error);
}

// The Llama-3.2-1B shape: how long opening takes (mmap, metadata, tokenizer ready). Printed, not
// asserted: the machine is shared.
TEST_F(ModelTools, OpensTheOneBillionShapeQuickly) {
  PIE_REQUIRE_SHARED(json, "tokenizers/llama3/tokenizer.json");
  SynthOptions o;
  o.config = synth_preset("llama-3.2-1b");
  o.type = GgmlType::Q4_0;
  o.tokenizer = json.parent_path();
  const auto path = dir_ / "llama-3.2-1b-q4_0.gguf";
  const auto t0 = std::chrono::steady_clock::now();
  o.output = path;
  synth_model(o);
  const auto t1 = std::chrono::steady_clock::now();
  const ModelFile m = open_model(path);
  const tokenizer::Tokenizer tok(m.tokenizer());
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(m.config().n_layers, 16u);
  EXPECT_EQ(tok.encode("Hello world").size(), 2u);
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "[ timing ] synthesise Llama-3.2-1B Q4_0 (%.2f GiB): %.0f ms; open + tokenizer: %.0f ms\n",
      static_cast<double>(std::filesystem::file_size(path)) / (1 << 30), ms(t1 - t0), ms(t2 - t1));
}

}  // namespace
}  // namespace pie::model
