#include "backend/tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "backend/tokenizer/byte_unicode.h"
#include "backend/tokenizer/loaders.h"
#include "backend/tokenizer/pretokenizer.h"
#include "common/error.h"
#include "shared_data.h"

namespace pie::tokenizer {
namespace {

const std::vector<std::string> kTexts = {
    "Hello world",
    " Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅",
    "нещо на Български   \n\n\t  tabs",
    "កាន់តែពិសេសអាចខលចេញ",
    "",
    " ",
    "333333 3.14 I'M DON'T",
};

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Streams every text token by token: the pieces are whole UTF-8 characters and add up to decode().
void check_streaming(const Tokenizer& t, const std::vector<std::string>& texts) {
  size_t held_back = 0;
  for (const std::string& text : texts) {
    const std::vector<uint32_t> ids = t.encode(text);
    StreamDecoder stream(t);
    std::string streamed;
    for (uint32_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_TRUE(valid_utf8(piece)) << text;
      if (piece.empty() && !t.token_bytes(id).empty()) ++held_back;
      streamed += piece;
    }
    streamed += stream.finish();
    EXPECT_EQ(streamed, t.decode(ids));
    EXPECT_EQ(streamed, text);
  }
  EXPECT_GT(held_back, 0u) << "no token ended inside a UTF-8 character: the test proves nothing";
}

TEST(Tokenizer, Llama3SpecialTokensAndStreaming) {
  PIE_REQUIRE_SHARED(json, "tokenizers/llama3/tokenizer.json");
  PIE_REQUIRE_SHARED(config, "tokenizers/llama3/tokenizer_config.json");
  const Tokenizer t(load_hf_tokenizer(json, config));
  EXPECT_EQ(t.vocab_size(), 128256u);
  EXPECT_EQ(t.bos(), 128000u);
  EXPECT_EQ(t.eos(), 128001u);
  EXPECT_EQ(t.special_id("<|eot_id|>"), 128009u);
  const std::vector<uint32_t> ids = t.encode("<|begin_of_text|>Hi<|eot_id|>");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], 128000u);
  EXPECT_EQ(ids[2], 128009u);
  EXPECT_EQ(t.decode(ids), "<|begin_of_text|>Hi<|eot_id|>");
  EXPECT_EQ(t.decode(ids, /*skip_special=*/true), "Hi");
  const auto& stops = t.spec().stop_ids;
  EXPECT_NE(std::find(stops.begin(), stops.end(), 128009u), stops.end());
  const auto vocab = t.vocabulary();
  EXPECT_EQ(vocab.size(), 128000u);  // the 256 special tokens are not listed
  EXPECT_EQ(vocab[9906].second, "Hello");
  check_streaming(t, kTexts);
}

TEST(Tokenizer, SentencePieceByteFallbackAndStreaming) {
  PIE_REQUIRE_SHARED(bin, "tokenizers/llama2/tokenizer.bin");
  const Tokenizer t(load_llama2c_tokenizer(bin, 32000));
  // An emoji Llama 2 has no token for falls back to its four byte tokens.
  const std::vector<uint32_t> ids = t.encode("🦙");
  EXPECT_EQ(ids, (std::vector<uint32_t>{29871, 243, 162, 169, 156}));
  check_streaming(t, kTexts);
}

TEST(Tokenizer, InvalidUtf8SurvivesARoundTrip) {
  PIE_REQUIRE_SHARED(json, "tokenizers/qwen3/tokenizer.json");
  PIE_REQUIRE_SHARED(bin, "tokenizers/llama2/tokenizer.bin");
  const std::string text = "ok \xFF\xFE broken \xE2\x82 end \xF0\x9F";
  for (const auto& spec : {load_hf_tokenizer(json), load_llama2c_tokenizer(bin, 32000)}) {
    const Tokenizer t(spec);
    const std::vector<uint32_t> ids = t.encode(text);
    EXPECT_EQ(t.decode(ids), text);
    StreamDecoder stream(t);
    std::string streamed;
    for (uint32_t id : ids) streamed += stream.push(id);
    EXPECT_EQ(streamed + stream.finish(), text);
  }
}

// Qwen's tokenizer.json normalises to NFC: a decomposed é encodes like the composed one.
TEST(Tokenizer, QwenNormalisesToNfc) {
  PIE_REQUIRE_SHARED(json, "tokenizers/qwen3/tokenizer.json");
  PIE_REQUIRE_SHARED(llama3, "tokenizers/llama3/tokenizer.json");
  const Tokenizer qwen(load_hf_tokenizer(json));
  EXPECT_TRUE(qwen.spec().nfc);
  const std::string composed = "caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9";
  const std::string decomposed = "cafe\xCC\x81 re\xCC\x81sume\xCC\x81";
  EXPECT_EQ(qwen.encode(decomposed), qwen.encode(composed));
  EXPECT_EQ(qwen.decode(qwen.encode(decomposed)), composed);
  // Llama 3 does not normalise: the combining accent stays.
  const Tokenizer llama(load_hf_tokenizer(llama3));
  EXPECT_FALSE(llama.spec().nfc);
  EXPECT_NE(llama.encode(decomposed), llama.encode(composed));
  EXPECT_EQ(llama.decode(llama.encode(decomposed)), decomposed);
}

TEST(Tokenizer, SpecSerialisesExactly) {
  PIE_REQUIRE_SHARED(json, "tokenizers/qwen3/tokenizer.json");
  PIE_REQUIRE_SHARED(bin, "models/stories260K/tok512.bin");
  for (const TokenizerSpec& spec : {load_hf_tokenizer(json), load_llama2c_tokenizer(bin, 512)}) {
    const std::string bytes = spec.serialize();
    EXPECT_EQ(TokenizerSpec::deserialize(bytes), spec);
    EXPECT_THROW(TokenizerSpec::deserialize(bytes.substr(0, bytes.size() / 2)), Error);
  }
  EXPECT_THROW(TokenizerSpec::deserialize("\x93\x01\x02\x03"), Error);  // an array, not a map
  EXPECT_THROW(TokenizerSpec::deserialize(""), Error);
}

// Pie's Python backend describes Llama 3 as tiktoken tables (raw bytes) and Qwen with
// escape_non_printable (GPT-2 escaped text): both give the ids of tokenizer.json.
TEST(Tokenizer, TiktokenTablesMatchTokenizerJson) {
  for (const char* family : {"llama3", "qwen3"}) {
    SCOPED_TRACE(family);
    const auto json =
        pie::testing::shared_file(std::string("tokenizers/") + family + "/tokenizer.json");
    if (json.empty()) GTEST_SKIP() << "shared tokenizers missing";
    const TokenizerSpec reference = load_hf_tokenizer(json);
    const std::optional<TiktokenTables> tables = to_tiktoken_tables(reference);
    ASSERT_TRUE(tables.has_value());
    EXPECT_EQ(tables->merge_table.size() + tables->special_tokens.size(), reference.tokens.size());
    const bool escaped = std::string(family) == "qwen3";
    std::map<uint32_t, std::string> table = tables->merge_table;
    if (escaped) {
      for (auto& [id, bytes] : table) bytes = escape_bytes(bytes);
    }
    const Tokenizer expected(reference);
    const Tokenizer t(
        from_tiktoken_tables(table, tables->special_tokens, tables->split_regex, escaped));
    for (const std::string& text : kTexts) EXPECT_EQ(t.encode(text), expected.encode(text)) << text;
    EXPECT_EQ(t.encode("<|endoftext|>x"), expected.encode("<|endoftext|>x"));
  }
  PIE_REQUIRE_SHARED(bin, "models/stories260K/tok512.bin");
  EXPECT_FALSE(to_tiktoken_tables(load_llama2c_tokenizer(bin, 512)).has_value());
}

// A spec arrives from remote backends: damaged bytes either fail with pie::Error or give a
// tokenizer that works (never a crash; the AddressSanitizer build checks the memory accesses).
TEST(Tokenizer, SurvivesDamagedSpecs) {
  PIE_REQUIRE_SHARED(bin, "models/stories260K/tok512.bin");
  TokenizerSpec byte_level;
  byte_level.algorithm = Algorithm::ByteLevel;
  for (int b = 0; b < 256; ++b)
    byte_level.tokens.push_back(escape_byte(static_cast<unsigned char>(b)));
  byte_level.tokens.push_back("\xC4\xA0t");  // "Ġt"
  byte_level.tokens.push_back("<|end|>");
  byte_level.types.assign(byte_level.tokens.size(), TokenType::Normal);
  byte_level.types.back() = TokenType::Control;
  byte_level.merges = {"\xC4\xA0 t"};
  uint64_t state = 99;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  int survived = 0;
  for (const TokenizerSpec& spec : {load_llama2c_tokenizer(bin, 512), byte_level}) {
    const std::string good = spec.serialize();
    for (int round = 0; round < 300; ++round) {
      std::string bad = good;
      const int edits = 1 + static_cast<int>(next() % 4);
      for (int k = 0; k < edits; ++k) bad[next() % bad.size()] = static_cast<char>(next() & 0xFF);
      if (round % 3 == 0) bad.resize(next() % bad.size());
      try {
        const Tokenizer t(TokenizerSpec::deserialize(bad));
        const std::vector<uint32_t> ids = t.encode("Once upon a time <|end|> \xF0\x9F\xA6\x99 t");
        t.decode(ids);
        ++survived;
      } catch (const Error&) {
      }
    }
  }
  EXPECT_GT(survived, 0);  // some damage (inside scores, say) leaves a usable spec
}

TEST(Tokenizer, RejectsDamagedTokenizerFiles) {
  PIE_REQUIRE_SHARED(bin, "models/stories260K/tok512.bin");
  std::ifstream in(bin, std::ios::binary);
  const std::string good(std::istreambuf_iterator<char>(in), {});
  const auto path = std::filesystem::temp_directory_path() /
                    ("pie_tok_damaged_" + std::to_string(::getpid()) + ".bin");
  for (size_t cut = 0; cut < good.size(); cut += 97) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, cut);
    EXPECT_THROW(load_llama2c_tokenizer(path, 512), Error) << cut;
  }
  std::string bad = good;
  const int32_t huge = 1 << 30;
  std::memcpy(bad.data() + 4 + 4, &huge, 4);  // the first token's length
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
  EXPECT_THROW(load_llama2c_tokenizer(path, 512), Error);
  std::filesystem::remove(path);
}

TEST(Tokenizer, RejectsInconsistentSpecs) {
  TokenizerSpec s;
  EXPECT_THROW(Tokenizer{s}, Error);  // empty vocabulary
  s.tokens = {"a", "b"};
  s.types = {TokenType::Normal};
  s.scores = {0, 0};
  EXPECT_THROW(Tokenizer{s}, Error);  // one type for two tokens
  s.types.push_back(TokenType::Normal);
  s.bos = 7;
  EXPECT_THROW(Tokenizer{s}, Error);  // bos outside the vocabulary
  s.bos.reset();
  const Tokenizer t(s);
  EXPECT_THROW(t.decode(std::vector<uint32_t>{2}), Error);
  EXPECT_THROW(Splitter({"(unclosed"}), Error);
  EXPECT_THROW(pre_tokenizer_regexes("no-such-pre"), Error);
}

TEST(Tokenizer, LoadersRejectBadFiles) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto bad = dir / ("pie_bad_tokenizer_" + std::to_string(::getpid()) + ".json");
  std::ofstream(bad) << "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}";
  EXPECT_THROW(load_hf_tokenizer(bad), Error);
  std::ofstream(bad) << "{not json";
  EXPECT_THROW(load_hf_tokenizer(bad), Error);
  EXPECT_THROW(load_gpt2_tokenizer(bad, bad), Error);
  EXPECT_THROW(load_llama2c_tokenizer(dir / "does-not-exist.bin"), Error);
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace pie::tokenizer
