// Launch arguments of the form `--name value`, the convention of the example inferlets: declared
// once with their types, checked at parse time, read with defaults. Errors name the program
// ("text-completion: --max-tokens takes a positive integer, not many") and end the instance when
// main returns them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pie/core.h"

namespace pie {

// A whole decimal number from `minimum` to UINT32_MAX, or nothing: for positional arguments.
std::optional<uint32_t> parse_count(std::string_view text, uint32_t minimum = 0);

enum class FlagType {
  Text,      // any string
  Count,     // an integer >= 0
  Positive,  // an integer >= 1
  Number,    // a finite number >= 0
};

struct FlagSpec {
  std::string_view name;  // with its dashes: "--max-tokens"
  FlagType type = FlagType::Text;
};

class Flags {
 public:
  // Reads `args` as name/value pairs. A flag without a value, one not in `known`, or a value its
  // type refuses is an Error that says so (an unknown flag's error lists the known ones).
  static Result<Flags> parse(std::string_view program, const std::vector<std::string>& args,
                             std::initializer_list<FlagSpec> known);

  bool has(std::string_view name) const;
  // The value given last for `name`, or `fallback`.
  std::string text(std::string_view name, std::string fallback = "") const;
  uint32_t count(std::string_view name, uint32_t fallback) const;
  float number(std::string_view name, float fallback) const;

 private:
  const std::string* find(std::string_view name) const;
  std::vector<std::pair<std::string, std::string>> values_;
};

}  // namespace pie
