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

}  // namespace pie::tokenizer
