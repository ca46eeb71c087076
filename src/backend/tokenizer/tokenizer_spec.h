// The complete, format-independent description of a tokenizer: what every loader produces, what a
// Tokenizer is built from, and what a backend sends the engine in its handshake (serialised).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pie::tokenizer {

enum class Algorithm : uint8_t {
  // SentencePiece BPE (Llama 2, Mistral, tok512): merges chosen by score, spaces written as U+2581,
  // unknown bytes fall back to <0xXX> tokens.
  SentencePiece = 0,
  // Byte-level BPE (GPT-2, Llama 3, Qwen): text split by the pre-tokenizer regexes, bytes mapped to
  // GPT-2's printable characters, pieces merged by merge rank.
  ByteLevel = 1,
};

// Token types, numbered as GGUF's tokenizer.ggml.token_type numbers them.
enum class TokenType : uint8_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,      // special tokens such as <s>, <|eot_id|>: recognised in text, never merged
  UserDefined = 4,  // added tokens that are ordinary text: recognised in text, never merged
  Unused = 5,
  Byte = 6,  // SentencePiece byte-fallback tokens <0x00>..<0xFF>
};

struct TokenizerSpec {
  Algorithm algorithm = Algorithm::SentencePiece;
  // The vocabulary, indexed by id, in the form GGUF and tokenizer.json store it: SentencePiece
  // pieces with U+2581 for spaces and "<0xXX>" byte tokens; byte-level pieces in GPT-2's
  // byte-to-unicode form. Control and user-defined tokens hold their literal text.
  std::vector<std::string> tokens;
  std::vector<TokenType> types;  // one per token
  std::vector<float> scores;     // SentencePiece: higher merges first; empty for byte-level
  // Byte-level: merge rules "left right" (escaped form), highest priority first. When empty, any
  // two pieces whose concatenation is a token may merge, lowest resulting id first (tiktoken's
  // rule).
  std::vector<std::string> merges;
  // Byte-level: the pre-tokenizer regexes (PCRE2 syntax), applied in turn: each splits the pieces
  // the previous one produced. Empty means GPT-2's.
  std::vector<std::string> split_regexes;
  std::string
      pre;  // the pre-tokenizer's name as GGUF's tokenizer.ggml.pre gives it ("llama-bpe", ...)
  // Byte-level: a piece that is itself a token is not merged (tiktoken's and Llama 3's rule).
  bool ignore_merges = false;
  // Byte-level: text is normalised to Unicode NFC before it is split (Qwen's tokenizer.json asks
  // for it). Text that is not valid UTF-8 is left as it is.
  bool nfc = false;

  std::optional<uint32_t> bos;
  std::optional<uint32_t> eos;
  std::optional<uint32_t> unk;
  std::optional<uint32_t> pad;
  std::vector<uint32_t> stop_ids;  // tokens that end generation (eos, eot, eom ...)
  bool add_bos = false;            // whether encode(text, /*add_special=*/true) starts with bos
  bool add_eos = false;
  bool add_space_prefix = true;  // SentencePiece: a space is prepended to the text (dummy prefix)

  // The id of a token whose stored text is exactly `text`, or nothing.
  std::optional<uint32_t> find(std::string_view text) const;

  // MessagePack encoding (a map keyed by field name), for the handshake's tokenizer_spec.
  std::string serialize() const;
  // The inverse of serialize(); throws pie::Error on malformed or inconsistent input.
  static TokenizerSpec deserialize(std::string_view bytes);

  // Throws pie::Error when the fields disagree (sizes, ids out of range, missing merges ...).
  void validate() const;

  bool operator==(const TokenizerSpec&) const = default;
};

}  // namespace pie::tokenizer
