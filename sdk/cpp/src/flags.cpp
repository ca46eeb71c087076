#include "pie/flags.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace pie {

std::optional<uint32_t> parse_count(std::string_view text, uint32_t minimum) {
  uint32_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value < minimum) return std::nullopt;
  return value;
}

namespace {

bool parse_number(const std::string& text, float& out) {
  char* end = nullptr;
  out = std::strtof(text.c_str(), &end);
  return !text.empty() && *end == '\0' && std::isfinite(out) && out >= 0.0F;
}

const char* describe(FlagType type) {
  switch (type) {
    case FlagType::Count:
      return "takes an integer >= 0";
    case FlagType::Positive:
      return "takes a positive integer";
    case FlagType::Number:
      return "takes a number >= 0";
    case FlagType::Text:
      break;
  }
  return "takes text";
}

}  // namespace

Result<Flags> Flags::parse(std::string_view program, const std::vector<std::string>& args,
                           std::initializer_list<FlagSpec> known) {
  const std::string prefix = std::string(program) + ": ";
  Flags flags;
  for (size_t i = 0; i < args.size(); i += 2) {
    const std::string& name = args[i];
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& k : known) {
      if (k.name == name) spec = &k;
    }
    if (spec == nullptr) {
      std::string options;
      for (const FlagSpec& k : known)
        options += (options.empty() ? "" : ", ") + std::string(k.name);
      return Error{prefix + "unknown option " + name + " (options: " + options + ")"};
    }
    if (i + 1 >= args.size()) return Error{prefix + name + " needs a value"};
    const std::string& value = args[i + 1];
    float x = 0.0F;
    bool ok = true;
    switch (spec->type) {
      case FlagType::Text:
        break;
      case FlagType::Count:
        ok = parse_count(value).has_value();
        break;
      case FlagType::Positive:
        ok = parse_count(value, 1).has_value();
        break;
      case FlagType::Number:
        ok = parse_number(value, x);
        break;
    }
    if (!ok) return Error{prefix + name + " " + describe(spec->type) + ", not " + value};
    flags.values_.emplace_back(name, value);
  }
  return flags;
}

const std::string* Flags::find(std::string_view name) const {
  const std::string* found = nullptr;
  for (const auto& [n, v] : values_) {
    if (n == name) found = &v;
  }
  return found;
}

bool Flags::has(std::string_view name) const {
  return find(name) != nullptr;
}

std::string Flags::text(std::string_view name, std::string fallback) const {
  const std::string* v = find(name);
  return v != nullptr ? *v : std::move(fallback);
}

uint32_t Flags::count(std::string_view name, uint32_t fallback) const {
  const std::string* v = find(name);
  return v != nullptr ? parse_count(*v).value_or(fallback) : fallback;
}

float Flags::number(std::string_view name, float fallback) const {
  const std::string* v = find(name);
  float x = fallback;
  if (v != nullptr) parse_number(*v, x);
  return x;
}

}  // namespace pie
