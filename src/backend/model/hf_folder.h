// Hugging Face model folders: config.json, one or several *.safetensors files (sharded through
// model.safetensors.index.json), tokenizer.json and tokenizer_config.json.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "backend/model/model_file.h"

namespace pie::model {

// Opens the folder. Tensors (F32, F16, BF16) point into the mapped safetensors files, renamed to
// the canonical names with their shapes reversed to GGUF order; the Q/K rows keep Hugging Face's
// half-split RoPE order (RopeStyle::HalfSplit). Throws pie::Error for an unsupported model type,
// tensor type or tensor name, and for a missing file.
ModelFile read_hf_folder(const std::filesystem::path& folder);

// The canonical name of a Hugging Face tensor name ("model.layers.3.mlp.up_proj.weight" ->
// "blk.3.ffn_up.weight"), or "" when the name is not one of a supported architecture.
std::string canonical_tensor_name(std::string_view hf_name);

}  // namespace pie::model
