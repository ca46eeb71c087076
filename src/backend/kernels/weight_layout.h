// How a weight matrix's bytes are laid out (a plain declaration the per-ISA files may include).
#pragma once

#include <cstdint>

namespace pie::kernels {

// Rows as in the model file, or groups of 16 rows interleaved for the kernels of the
// instruction-set level in use (pack_weights).
enum class WeightLayout : uint8_t { Rows, Lanes16 };

}  // namespace pie::kernels
