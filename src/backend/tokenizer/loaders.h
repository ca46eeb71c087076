// Reading tokenizers from the files models ship them in. Each returns a validated TokenizerSpec;
// the same vocabulary gives the same ids whichever file it comes from. GGUF metadata is read by the
// model module (backend/model/gguf_tokenizer.h), which owns the GGUF reader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "backend/tokenizer/tokenizer_spec.h"

namespace pie::tokenizer {

// llama2.c's tokenizer.bin (int32 max_token_length, then per token: f32 score, i32 length, bytes).
// The file does not say how many tokens it holds: `vocab_size` reads that many, nothing reads to
// the end. Spaces become U+2581 and the "\n<s>\n" / "\n</s>\n" entries become <s> / </s>, as in the
// SentencePiece model it was exported from; <unk>, <s>, </s> and <0xXX> get their token types.
TokenizerSpec load_llama2c_tokenizer(const std::filesystem::path& path,
                                     std::optional<uint32_t> vocab_size = std::nullopt);

// A Hugging Face tokenizer.json: byte-level BPE (GPT-2, Llama 3, Qwen) or SentencePiece BPE
// converted by Hugging Face (Llama 2, Mistral: byte_fallback, U+2581 normaliser), with the bos /
// eos / add_bos settings of tokenizer_config.json when that path is not empty.
TokenizerSpec load_hf_tokenizer(const std::filesystem::path& tokenizer_json,
                                const std::filesystem::path& tokenizer_config = {});

// GPT-2's encoder.json + vocab.bpe.
TokenizerSpec load_gpt2_tokenizer(const std::filesystem::path& encoder_json,
                                  const std::filesystem::path& vocab_bpe);

// Pie's tiktoken-style handshake tables (reference §4.4.1): id -> token bytes (raw bytes, or GPT-2
// escaped text when escape_non_printable), special token text -> id, and the split regex.
TokenizerSpec from_tiktoken_tables(const std::map<uint32_t, std::string>& merge_table,
                                   const std::map<std::string, uint32_t>& special_tokens,
                                   const std::string& split_regex, bool escape_non_printable);

// The same tables for a byte-level vocabulary, for a handshake that also serves Pie's own engine:
// every ordinary token by id as raw bytes, the special tokens, the one split regex. Nothing for
// SentencePiece vocabularies or several split regexes, which the tables cannot express. Pie's
// engine merges by token rank, which gives the same ids when ids follow merge order (Llama 3).
struct TiktokenTables {
  std::map<uint32_t, std::string> merge_table;
  std::map<std::string, uint32_t> special_tokens;
  std::string split_regex;
  bool escape_non_printable = false;
};
std::optional<TiktokenTables> to_tiktoken_tables(const TokenizerSpec& spec);

// Fills spec.stop_ids with eos and the control tokens that end a turn in the supported families
// (<|eot_id|>, <|eom_id|>, <|end_of_text|>, <|im_end|>, <|endoftext|>, </s>, <|end|>).
void set_stop_ids(TokenizerSpec& spec);

}  // namespace pie::tokenizer
