// Text <-> token ids for every supported vocabulary: SentencePiece-style BPE and byte-level BPE,
// with special and added tokens recognised in text. Immutable after construction; safe to use from
// many threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/tokenizer/tokenizer_spec.h"

namespace pie::tokenizer {

// Splits text into tokens for one algorithm (SentencePiece or byte-level); internal.
class Encoder;

class Tokenizer {
 public:
  // Validates the spec and builds the lookup tables; throws pie::Error for an inconsistent spec.
  explicit Tokenizer(TokenizerSpec spec);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`. Special and added tokens written literally in the text ("<|eot_id|>")
  // become their ids. With add_special, bos / eos are added as the vocabulary asks (add_bos,
  // add_eos). SentencePiece vocabularies prepend the dummy-prefix space to the text and after each
  // special token, as SentencePiece and llama.cpp do.
  std::vector<uint32_t> encode(std::string_view text, bool add_special = false) const;

  // The text of `ids`: the bytes of each token, special tokens as their literal text unless
  // skip_special. SentencePiece vocabularies drop the dummy-prefix space of the first ordinary
  // token when only special tokens precede it, so decode(encode(x)) == x. Invalid UTF-8 is kept as
  // is. Throws pie::Error for an id outside the vocabulary.
  std::string decode(std::span<const uint32_t> ids, bool skip_special = false) const;

  // The bytes token `id` stands for (▁ as a space, <0xXX> as its byte, GPT-2 escapes undone;
  // special tokens as their text). Throws pie::Error for an id outside the vocabulary.
  const std::string& token_bytes(uint32_t id) const;

  uint32_t vocab_size() const { return static_cast<uint32_t>(bytes_.size()); }
  std::optional<uint32_t> bos() const { return spec_.bos; }
  std::optional<uint32_t> eos() const { return spec_.eos; }
  // Control, user-defined and unknown tokens: recognised in text, never produced by merges.
  bool is_special(uint32_t id) const;
  // The id of the special token written `text`, or nothing.
  std::optional<uint32_t> special_id(std::string_view text) const;
  // Every ordinary token (special tokens excluded) with its bytes, by increasing id.
  std::vector<std::pair<uint32_t, std::string>> vocabulary() const;

  const TokenizerSpec& spec() const { return spec_; }

 private:
  friend class StreamDecoder;
  // Appends the ids of text holding no special token.
  void encode_plain(std::string_view text, bool after_special, std::vector<uint32_t>& out) const;

  TokenizerSpec spec_;
  std::vector<std::string> bytes_;                      // decoded bytes per id
  std::unordered_map<std::string, uint32_t> specials_;  // literal text -> id
  std::vector<uint32_t> specials_by_length_;            // longest first: matched greedily
  std::array<bool, 256> special_first_byte_{};          // bytes a special token can start with
  std::unique_ptr<const Encoder> encoder_;
};

// Decodes a stream of tokens piece by piece: each push returns the text that is complete so far,
// holding back the bytes of a UTF-8 character that later tokens finish. Concatenating the pushes
// and finish() gives decode() of the whole stream.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}
  std::string push(uint32_t id);
  // The bytes still held back (an incomplete UTF-8 character at the end of the stream), as is.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool seen_ordinary_ = false;
  std::string pending_;
};

}  // namespace pie::tokenizer
