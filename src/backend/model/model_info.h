// A human-readable summary of a model file, for `pie model info`.
#pragma once

#include <filesystem>
#include <string>

namespace pie::model {

// Format, architecture and shapes, RoPE, tokenizer, chat template, tensors (name, type, shape),
// and for GGUF files every metadata key (long arrays shortened). Throws pie::Error like open_model.
std::string model_info(const std::filesystem::path& path);

}  // namespace pie::model
