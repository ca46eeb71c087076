// The golden tokenizer cases of llama.cpp (../shared/tokenizers/testcases) for every vocabulary
// source: the same ids whichever file the vocabulary comes from.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "backend/model/gguf.h"
#include "backend/model/gguf_model.h"
#include "backend/tokenizer/loaders.h"
#include "backend/tokenizer/tokenizer.h"
#include "shared_data.h"

namespace pie::tokenizer {
namespace {

struct Case {
  std::string text;
  std::vector<uint32_t> ids;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// X.inp holds the inputs, each followed by "\n__ggml_vocab_test__\n"; X.out one line of ids each.
std::vector<Case> read_cases(const std::filesystem::path& inp, const std::filesystem::path& out) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  const std::string raw = slurp(inp);
  std::vector<Case> cases;
  for (size_t pos = 0;;) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) break;
    cases.push_back({raw.substr(pos, next - pos), {}});
    pos = next + sep.size();
  }
  std::istringstream lines(slurp(out));
  std::string line;
  for (Case& c : cases) {
    std::getline(lines, line);
    std::istringstream ids(line);
    uint32_t id = 0;
    while (ids >> id) c.ids.push_back(id);
  }
  return cases;
}

std::unique_ptr<Tokenizer> from_gguf(const std::filesystem::path& path) {
  const auto file = model::GgufFile::open(path);
  return std::make_unique<Tokenizer>(model::tokenizer_from_gguf(file.metadata()));
}

void check_cases(const Tokenizer& t, const std::string& name) {
  const std::string base = "tokenizers/testcases/ggml-vocab-" + name + ".gguf";
  const auto inp = pie::testing::shared_file(base + ".inp");
  const auto out = pie::testing::shared_file(base + ".out");
  ASSERT_FALSE(inp.empty() || out.empty()) << base;
  const std::vector<Case> cases = read_cases(inp, out);
  ASSERT_EQ(cases.size(), 46u);
  for (const Case& c : cases) {
    EXPECT_EQ(t.encode(c.text), c.ids) << name << " input: '" << c.text << "'";
    EXPECT_EQ(t.decode(t.encode(c.text)), c.text) << name << " round trip: '" << c.text << "'";
  }
}

TEST(TokenizerGolden, LlamaSpmFromGguf) {
  PIE_REQUIRE_SHARED(path, "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  check_cases(*from_gguf(path), "llama-spm");
}

TEST(TokenizerGolden, LlamaSpmFromTokenizerBin) {
  PIE_REQUIRE_SHARED(path, "tokenizers/llama2/tokenizer.bin");
  check_cases(Tokenizer(load_llama2c_tokenizer(path, 32000)), "llama-spm");
}

TEST(TokenizerGolden, Gpt2FromGguf) {
  PIE_REQUIRE_SHARED(path, "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
  check_cases(*from_gguf(path), "gpt-2");
}

TEST(TokenizerGolden, Gpt2FromEncoderJson) {
  PIE_REQUIRE_SHARED(encoder, "tokenizers/gpt2/encoder.json");
  PIE_REQUIRE_SHARED(vocab, "tokenizers/gpt2/vocab.bpe");
  check_cases(Tokenizer(load_gpt2_tokenizer(encoder, vocab)), "gpt-2");
}

TEST(TokenizerGolden, Phi3FromGguf) {
  PIE_REQUIRE_SHARED(path, "tokenizers/gguf-vocab/ggml-vocab-phi-3.gguf");
  check_cases(*from_gguf(path), "phi-3");
}

TEST(TokenizerGolden, Llama3FromTokenizerJson) {
  PIE_REQUIRE_SHARED(json, "tokenizers/llama3/tokenizer.json");
  PIE_REQUIRE_SHARED(config, "tokenizers/llama3/tokenizer_config.json");
  check_cases(Tokenizer(load_hf_tokenizer(json, config)), "llama-bpe");
}

TEST(TokenizerGolden, Qwen2FromTokenizerJson) {
  PIE_REQUIRE_SHARED(json, "tokenizers/qwen3/tokenizer.json");
  PIE_REQUIRE_SHARED(config, "tokenizers/qwen3/tokenizer_config.json");
  check_cases(Tokenizer(load_hf_tokenizer(json, config)), "qwen2");
}

}  // namespace
}  // namespace pie::tokenizer
