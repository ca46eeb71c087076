// llama2.c checkpoints (karpathy/llama2.c): the legacy layout (7 x int32 header, fp32 tensors, a
// negative vocab_size meaning an unshared classifier) and the versioned "ak42" layouts (version 1:
// fp32; version 2: int8 groups with fp32 scales, dequantised to fp32 on load).
#pragma once

#include <cstdint>
#include <filesystem>

#include "backend/model/model_file.h"

namespace pie::model {

// The hyper-parameters of a llama2.c header.
struct Llama2cHeader {
  int32_t version = 0;  // 0 = legacy layout
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // always positive here
  int32_t seq_len = 0;
  bool shared_classifier = true;
  int32_t group_size = 0;  // version 2 only
};

// Reads a checkpoint and its tokenizer (llama2.c tokenizer.bin format). Tensors of fp32 layouts
// point into the mapped file; version 2 weights are dequantised into memory the ModelFile owns.
// The model rotates interleaved pairs (RopeStyle::Interleaved), theta 10000, RMS epsilon 1e-5.
ModelFile read_llama2c(const std::filesystem::path& checkpoint,
                       const std::filesystem::path& tokenizer_bin);

// The tokenizer file open_model uses when none is given: tok<vocab>.bin, else tokenizer.bin, beside
// the checkpoint. Throws pie::Error when neither exists.
std::filesystem::path find_llama2c_tokenizer(const std::filesystem::path& checkpoint);

// True when the file starts like a llama2.c checkpoint (either layout).
bool looks_like_llama2c(const std::filesystem::path& path);

}  // namespace pie::model
