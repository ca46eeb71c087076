#include "backend/chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace pie::chat {
namespace {

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array a;
      for (const auto& e : j) a.push_back(from_json(e));
      return Value(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (const auto& [k, v] : j.items()) o.emplace_back(k, from_json(v));
      return Value(std::move(o));
    }
    default:
      throw Error("chat template: unsupported JSON value");
  }
}

std::string float_text(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

void json_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Lists and dicts are shared by reference, so a template can make one contain itself: writing
// stops at this depth instead of recursing forever.
constexpr int kMaxDepth = 100;

void json_value(const Value& v, int indent, bool sort_keys, int depth, std::string& out) {
  if (depth > kMaxDepth)
    throw Error("chat template: value nested too deeply (does it contain itself?)");
  const std::string item_sep = indent >= 0 ? "," : ", ";
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      out += "null";
      return;
    case Value::Kind::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::Int:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::Float:
      out += float_text(v.as_number());
      return;
    case Value::Kind::String:
      json_string(v.as_string(), out);
      return;
    case Value::Kind::Array: {
      const Array& a = v.array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out += item_sep;
        newline(depth + 1);
        json_value(a[i], indent, sort_keys, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::Object: {
      Object o = v.object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys) {
        std::stable_sort(o.begin(), o.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      for (size_t i = 0; i < o.size(); ++i) {
        if (i > 0) out += item_sep;
        newline(depth + 1);
        json_string(o[i].first, out);
        out += ": ";
        json_value(o[i].second, indent, sort_keys, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    }
    case Value::Kind::Function:
      throw Error("chat template: a function cannot be written as JSON");
  }
}

}  // namespace

Value Value::none() {
  Value v;
  v.v_ = None{};
  return v;
}

Value Value::parse_json(std::string_view json) {
  try {
    return from_json(nlohmann::ordered_json::parse(json));
  } catch (const nlohmann::ordered_json::exception& e) {
    throw Error(std::string("invalid JSON: ") + e.what());
  }
}

Value::Kind Value::kind() const {
  return static_cast<Kind>(v_.index());
}

double Value::as_number() const {
  return kind() == Kind::Int ? static_cast<double>(as_int()) : std::get<double>(v_);
}

Value Value::get(std::string_view key) const {
  if (kind() != Kind::Object) return {};
  for (const auto& [k, v] : object()) {
    if (k == key) return v;
  }
  return {};
}

void Value::set(const std::string& key, Value value) const {
  for (auto& [k, v] : object()) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  object().emplace_back(key, std::move(value));
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return as_bool();
    case Kind::Int:
      return as_int() != 0;
    case Kind::Float:
      return as_number() != 0;
    case Kind::String:
      return !as_string().empty();
    case Kind::Array:
      return !array().empty();
    case Kind::Object:
      return !object().empty();
    case Kind::Function:
      return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::Undefined:
      return "";
    case Kind::String:
      return as_string();
    default:
      return repr();
  }
}

std::string Value::repr() const {
  return repr_at(0);
}

std::string Value::repr_at(int depth) const {
  if (depth > kMaxDepth)
    throw Error("chat template: value nested too deeply (does it contain itself?)");
  switch (kind()) {
    case Kind::Undefined:
      return "";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return as_bool() ? "True" : "False";
    case Kind::Int:
      return std::to_string(as_int());
    case Kind::Float:
      return float_text(as_number());
    case Kind::String: {
      const std::string& s = as_string();
      const char quote =
          s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
      std::string out(1, quote);
      for (char c : s) {
        if (c == '\\' || c == quote) {
          out += '\\';
          out += c;
        } else if (c == '\n') {
          out += "\\n";
        } else if (c == '\t') {
          out += "\\t";
        } else if (c == '\r') {
          out += "\\r";
        } else {
          out += c;
        }
      }
      return out + quote;
    }
    case Kind::Array: {
      std::string out = "[";
      for (size_t i = 0; i < array().size(); ++i)
        out += (i ? ", " : "") + array()[i].repr_at(depth + 1);
      return out + "]";
    }
    case Kind::Object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : object()) {
        out += (first ? "" : ", ") + Value(k).repr() + ": " + v.repr_at(depth + 1);
        first = false;
      }
      return out + "}";
    }
    case Kind::Function:
      return "<function>";
  }
  return "";
}

std::string Value::to_json(int indent, bool sort_keys) const {
  std::string out;
  json_value(*this, indent, sort_keys, 0, out);
  return out;
}

std::string Value::type_name() const {
  static constexpr const char* kNames[] = {"undefined", "none", "boolean", "integer", "float",
                                           "string",    "list", "dict",    "function"};
  return kNames[static_cast<int>(kind())];
}

bool operator==(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::Int && b.kind() == Value::Kind::Int)
      return a.as_int() == b.as_int();
    return a.as_number() == b.as_number();
  }
  if (a.kind() == Value::Kind::Bool && b.is_number())
    return (a.as_bool() ? 1.0 : 0.0) == b.as_number();
  if (b.kind() == Value::Kind::Bool && a.is_number()) return b == a;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return true;
    case Value::Kind::Bool:
      return a.as_bool() == b.as_bool();
    case Value::Kind::String:
      return a.as_string() == b.as_string();
    case Value::Kind::Array:
      return a.array() == b.array();
    case Value::Kind::Object: {
      if (a.object().size() != b.object().size()) return false;
      for (const auto& [k, v] : a.object()) {
        if (!(b.get(k) == v) || b.get(k).is_undefined()) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace pie::chat
