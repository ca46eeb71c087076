#include "backend/model/ggml_type.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "common/error.h"

namespace pie::model {
namespace {

struct Entry {
  GgmlType type;
  TypeTraits traits;
};

// Block layouts as ggml defines them (ggml-common.h).
constexpr std::array<Entry, 20> kTypes = {{
    {GgmlType::F32, {"F32", 1, 4}},       {GgmlType::F16, {"F16", 1, 2}},
    {GgmlType::Q4_0, {"Q4_0", 32, 18}},   {GgmlType::Q4_1, {"Q4_1", 32, 20}},
    {GgmlType::Q5_0, {"Q5_0", 32, 22}},   {GgmlType::Q5_1, {"Q5_1", 32, 24}},
    {GgmlType::Q8_0, {"Q8_0", 32, 34}},   {GgmlType::Q8_1, {"Q8_1", 32, 36}},
    {GgmlType::Q2_K, {"Q2_K", 256, 84}},  {GgmlType::Q3_K, {"Q3_K", 256, 110}},
    {GgmlType::Q4_K, {"Q4_K", 256, 144}}, {GgmlType::Q5_K, {"Q5_K", 256, 176}},
    {GgmlType::Q6_K, {"Q6_K", 256, 210}}, {GgmlType::Q8_K, {"Q8_K", 256, 292}},
    {GgmlType::I8, {"I8", 1, 1}},         {GgmlType::I16, {"I16", 1, 2}},
    {GgmlType::I32, {"I32", 1, 4}},       {GgmlType::I64, {"I64", 1, 8}},
    {GgmlType::F64, {"F64", 1, 8}},       {GgmlType::BF16, {"BF16", 1, 2}},
}};

}  // namespace

std::optional<TypeTraits> type_traits(GgmlType type) {
  for (const auto& e : kTypes) {
    if (e.type == type) return e.traits;
  }
  return std::nullopt;
}

std::string type_name(GgmlType type) {
  if (auto t = type_traits(type)) return std::string(t->name);
  return "type " + std::to_string(static_cast<uint32_t>(type));
}

GgmlType type_from_name(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& e : kTypes) {
    if (e.traits.name == upper) return e.type;
  }
  throw Error("unknown tensor type '" + std::string(name) +
              "' (known: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K and the other GGML types)");
}

uint64_t row_bytes(GgmlType type, uint64_t elements) {
  const auto traits = type_traits(type);
  if (!traits) throw Error("unsupported tensor type " + type_name(type));
  if (elements % traits->block_elements != 0) {
    throw Error("a row of " + std::to_string(elements) + " elements cannot be stored as " +
                std::string(traits->name) + " (blocks of " +
                std::to_string(traits->block_elements) + ")");
  }
  return elements / traits->block_elements * traits->block_bytes;
}

}  // namespace pie::model
