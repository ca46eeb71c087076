// The golden tokenizer cases of llama.cpp (../shared/tokenizers/testcases) for every vocabulary
// source: the same ids whichever file the vocabulary comes from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
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

// Llama 2's vocabulary as a tokenizer.json, converted the way Hugging Face converts a SentencePiece
// model: merges of every piece into two vocabulary pieces, by decreasing score of the merged piece.
TEST(TokenizerGolden, LlamaSpmFromTokenizerJson) {
  PIE_REQUIRE_SHARED(path, "tokenizers/llama2/tokenizer.bin");
  const TokenizerSpec sp = load_llama2c_tokenizer(path, 32000);
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::unordered_map<std::string, uint32_t> ids;
  for (uint32_t id = 0; id < sp.tokens.size(); ++id) {
    vocab[sp.tokens[id]] = id;
    ids[sp.tokens[id]] = id;
  }
  struct Merge {
    std::string left, right;
    float score;
  };
  std::vector<Merge> merges;
  for (uint32_t id = 0; id < sp.tokens.size(); ++id) {
    const std::string& piece = sp.tokens[id];
    std::vector<Merge> local;
    for (size_t i = 1; i < piece.size(); ++i) {
      const std::string l = piece.substr(0, i);
      const std::string r = piece.substr(i);
      if (ids.count(l) && ids.count(r)) local.push_back({l, r, sp.scores[id]});
    }
    std::sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      return std::pair(ids[a.left], ids[a.right]) < std::pair(ids[b.left], ids[b.right]);
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  nlohmann::ordered_json merge_list = nlohmann::ordered_json::array();
  for (const Merge& m : merges) merge_list.push_back(m.left + " " + m.right);
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (uint32_t id : {0u, 1u, 2u}) {
    added.push_back({{"id", id}, {"content", sp.tokens[id]}, {"special", true}});
  }
  const nlohmann::ordered_json root = {
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merge_list}}}};
  const auto file = std::filesystem::temp_directory_path() /
                    ("pie_llama2_tokenizer_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << root.dump();
  const TokenizerSpec spec = load_hf_tokenizer(file);
  std::filesystem::remove(file);
  EXPECT_EQ(spec.algorithm, Algorithm::SentencePiece);
  EXPECT_TRUE(spec.add_space_prefix);
  EXPECT_EQ(spec.unk, 0u);
  check_cases(Tokenizer(spec), "llama-spm");
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
