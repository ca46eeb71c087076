// The GGUF conventions of llama.cpp for model descriptions and vocabularies: reading a ModelFile
// from a GGUF file, and writing a ModelConfig / TokenizerSpec as GGUF metadata.
#pragma once

#include <filesystem>

#include "backend/model/gguf.h"
#include "backend/model/model_file.h"
#include "backend/tokenizer/tokenizer_spec.h"

namespace pie::model {

// Opens a GGUF model: metadata under general.* / <arch>.* / tokenizer.*, tensors zero-copy.
ModelFile read_gguf(const std::filesystem::path& path);

// The model description the metadata and tensor table of `file` give.
ModelConfig config_from_gguf(const GgufFile& file);
// Writes general.architecture, general.name and the <arch>.* keys. Llama 3 scaling is not a key:
// GGUF carries it as the rope_freqs.weight tensor (see rope_freq_factors).
void config_to_gguf(const ModelConfig& config, GgufMetadata& metadata);
// The per-pair frequency divisors of a Llama 3 scaling, as llama.cpp's converter computes them for
// rope_freqs.weight.
std::vector<float> rope_freq_factors(const RopeConfig& rope);

// The vocabulary of tokenizer.ggml.* (model "llama" = SentencePiece, "gpt2" = byte-level).
tokenizer::TokenizerSpec tokenizer_from_gguf(const GgufMetadata& metadata);
// Writes tokenizer.ggml.*; throws pie::Error when the pre-tokenizer regexes are none GGUF can name.
void tokenizer_to_gguf(const tokenizer::TokenizerSpec& spec, GgufMetadata& metadata);

}  // namespace pie::model
