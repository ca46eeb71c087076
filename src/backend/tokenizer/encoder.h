// The algorithm-specific half of a Tokenizer: turns text that holds no special token into ids.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "backend/tokenizer/tokenizer_spec.h"

namespace pie::tokenizer {

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Appends the ids of `text`. `at_start` is true at the start of the text and right after a
  // special token (where SentencePiece adds its dummy-prefix space).
  virtual void encode(std::string_view text, bool at_start, std::vector<uint32_t>& out) const = 0;
};

// The encoders keep views of `spec`'s strings: the spec must outlive them.
std::unique_ptr<const Encoder> make_sentencepiece_encoder(const TokenizerSpec& spec);
std::unique_ptr<const Encoder> make_byte_level_encoder(const TokenizerSpec& spec);

// Number of bytes of the UTF-8 sequence that starts with `lead` (1 for a stray byte).
inline size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// Bytes of the character starting at s[i]: its UTF-8 length when the continuation bytes are there,
// else 1 (an invalid byte is a character of its own).
inline size_t utf8_char_length(std::string_view s, size_t i) {
  const size_t n = utf8_length(static_cast<unsigned char>(s[i]));
  if (n > s.size() - i) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

}  // namespace pie::tokenizer
