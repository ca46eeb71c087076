#include "common/blake3.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "shared_data.h"

namespace pie {
namespace {

// The official vectors' input: the repeating byte sequence 0, 1, ..., 250.
std::vector<uint8_t> vector_input(size_t len) {
  std::vector<uint8_t> input(len);
  for (size_t i = 0; i < len; ++i) input[i] = static_cast<uint8_t>(i % 251);
  return input;
}

std::string extended_hex(const Blake3& hasher, size_t bytes) {
  std::vector<uint8_t> out(bytes);
  hasher.finalize(out);
  return to_hex(out);
}

TEST(Blake3, OfficialVectorsAllModesWithExtendedOutput) {
  PIE_REQUIRE_SHARED(path, "testdata/blake3/test_vectors.json");
  std::ifstream file(path);
  const nlohmann::json vectors = nlohmann::json::parse(file);
  const std::string key_text = vectors.at("key");
  const std::string context = vectors.at("context_string");
  ASSERT_EQ(key_text.size(), Blake3::kKeyLen);
  Blake3::Key key;
  std::copy(key_text.begin(), key_text.end(), key.begin());

  size_t checked = 0;
  for (const auto& c : vectors.at("cases")) {
    const size_t len = c.at("input_len");
    const std::string hash = c.at("hash");
    const std::string keyed = c.at("keyed_hash");
    const std::string derived = c.at("derive_key");
    const auto input = vector_input(len);
    SCOPED_TRACE("input_len " + std::to_string(len));

    Blake3 h;
    h.update(input);
    EXPECT_EQ(extended_hex(h, hash.size() / 2), hash);
    EXPECT_EQ(h.hex_digest(), hash.substr(0, 64));
    EXPECT_EQ(blake3_hex(input), hash.substr(0, 64));

    Blake3 k = Blake3::keyed(key);
    k.update(input);
    EXPECT_EQ(extended_hex(k, keyed.size() / 2), keyed);

    Blake3 d = Blake3::derive_key(context);
    d.update(input);
    EXPECT_EQ(extended_hex(d, derived.size() / 2), derived);
    ++checked;
  }
  EXPECT_GE(checked, 35U);
}

// Feeding the input in pieces of any size must give the same digest as one update.
TEST(Blake3, IncrementalUpdatesMatchOneShot) {
  for (size_t len :
       {0UL, 1UL, 63UL, 64UL, 65UL, 1023UL, 1024UL, 1025UL, 2048UL, 3073UL, 31745UL, 102400UL}) {
    const auto input = vector_input(len);
    const std::string expected = blake3_hex(input);
    for (size_t piece : {1UL, 7UL, 63UL, 64UL, 65UL, 1000UL, 1024UL, 1025UL, 4096UL}) {
      Blake3 h;
      for (size_t pos = 0; pos < len; pos += piece) {
        h.update(std::span(input).subspan(pos, std::min(piece, len - pos)));
      }
      EXPECT_EQ(h.hex_digest(), expected) << "len " << len << " piece " << piece;
    }
  }
}

TEST(Blake3, FinalizeLeavesTheHasherUsable) {
  Blake3 h;
  h.update("hello ");
  const std::string partial = h.hex_digest();
  EXPECT_EQ(partial, blake3_hex("hello "));
  h.update("world");
  EXPECT_EQ(h.hex_digest(), blake3_hex("hello world"));
}

TEST(Blake3, KnownDigestsAndHexForm) {
  // From the BLAKE3 reference: hash of the empty input.
  EXPECT_EQ(blake3_hex(std::string_view()),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  const std::string h = blake3_hex("abc");
  EXPECT_EQ(h.size(), 64U);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  const uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(to_hex(bytes), "000fa0ff");
}

}  // namespace
}  // namespace pie
