// Converting models between formats.
#pragma once

#include <filesystem>

#include "backend/model/model_file.h"

namespace pie::model {

// Writes an opened model as GGUF with its tensors unchanged (types and bytes), its configuration
// under llama.cpp's keys and its tokenizer as tokenizer.ggml.*. The Q/K row order is not changed,
// so the model's RoPE style must be the one GGUF implies for its architecture (interleaved for
// llama/mistral, half-split for qwen2/qwen3); throws pie::Error otherwise.
void write_gguf(const ModelFile& model, const std::filesystem::path& output);

// A llama2.c checkpoint and its tokenizer.bin as one GGUF file (SentencePiece vocabulary).
void convert_llama2c(const std::filesystem::path& checkpoint,
                     const std::filesystem::path& tokenizer_bin,
                     const std::filesystem::path& output);

}  // namespace pie::model
