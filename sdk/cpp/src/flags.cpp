#include "pie/flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace pie {

namespace {

bool parse_count(const std::string& text, uint32_t& out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (*end != '\0' || errno != 0 || v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

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
    uint32_t n = 0;
    float x = 0.0F;
    bool ok = true;
    switch (spec->type) {
      case FlagType::Text:
        break;
      case FlagType::Count:
        ok = parse_count(value, n);
        break;
      case FlagType::Positive:
        ok = parse_count(value, n) && n > 0;
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
  uint32_t n = fallback;
  if (v != nullptr) parse_count(*v, n);
  return n;
}

float Flags::number(std::string_view name, float fallback) const {
  const std::string* v = find(name);
  float x = fallback;
  if (v != nullptr) parse_number(*v, x);
  return x;
}

}  // namespace pie
