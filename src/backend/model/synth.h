// Random-weight models at real shapes, written as GGUF: for benchmarks and tests, where the cost of
// a forward pass does not depend on the values of the weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "backend/model/ggml_type.h"
#include "backend/model/model_file.h"

namespace pie::model {

struct SynthOptions {
  ModelConfig config;  // shapes; see synth_preset
  // Type of the weight matrices (embeddings included): F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
  // Q5_1, Q4_K, Q5_K or Q6_K (can_convert in quant.h).
  // Norm weights are always F32.
  GgmlType type = GgmlType::F16;
  // A folder holding tokenizer.json (and optionally tokenizer_config.json, whose chat template is
  // copied), or a llama2.c tokenizer.bin file. The vocabulary is padded with unused tokens up to
  // config.vocab_size.
  std::filesystem::path tokenizer;
  uint64_t seed = 0;
  float stddev = 0.02F;          // weights ~ N(0, stddev); norm weights are 1
  unsigned threads = 0;          // 0: all hardware threads
  std::filesystem::path output;  // the GGUF file to write (replaced when it exists)
};

// The shapes of a known model: "llama-3.2-1b" or "qwen3-0.6b" (case-insensitive). Throws pie::Error
// naming the known presets for another name.
ModelConfig synth_preset(std::string_view name);
std::vector<std::string> synth_preset_names();

// Writes the model to options.output. The same options give a byte-identical file whatever the
// thread count. Throws pie::Error for a type the matrices' row lengths cannot use, or a bad
// tokenizer.
void synth_model(const SynthOptions& options);

}  // namespace pie::model
