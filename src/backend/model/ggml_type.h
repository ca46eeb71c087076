// Tensor element types, numbered as GGML/GGUF numbers them, with their block layouts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pie::model {

// The GGML type ids stored in GGUF tensor tables. Only the types listed in `type_traits` below can
// be read, written and dequantised; the others are named so a file that uses them gets a clear
// error.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

// Elements per block and bytes per block: a row of n elements (n a multiple of block_elements)
// takes n / block_elements * block_bytes bytes.
struct TypeTraits {
  std::string_view name;
  uint32_t block_elements;
  uint32_t block_bytes;
};

// The traits of a supported type, or nothing for a type this project cannot handle.
std::optional<TypeTraits> type_traits(GgmlType type);

// "F32", "Q4_K", ... or "type 123" for an unknown id.
std::string type_name(GgmlType type);

// The type called `name` (case-insensitive: "q4_k", "bf16"); throws pie::Error for an unknown name.
GgmlType type_from_name(std::string_view name);

// Bytes of a row of `elements` elements; throws pie::Error when the type is unsupported or the row
// length is not a multiple of its block.
uint64_t row_bytes(GgmlType type, uint64_t elements);

}  // namespace pie::model
