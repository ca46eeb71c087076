// The values a chat template computes with: Jinja's (Python's) data model in small — undefined,
// none, booleans, integers, floats, strings, lists, dicts (insertion-ordered) and callables. Lists
// and dicts are shared by reference, as in Python, so namespace() attributes and list.append work.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace pie::chat {

class Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;  // insertion order, like Python dicts
using Kwargs = std::vector<std::pair<std::string, Value>>;
using Function = std::function<Value(std::vector<Value>& args, Kwargs& kwargs)>;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, Array, Object, Function };

  Value() = default;  // undefined
  static Value none();
  Value(bool b) : v_(b) {}                                             // NOLINT
  Value(int64_t i) : v_(i) {}                                          // NOLINT
  Value(int i) : v_(static_cast<int64_t>(i)) {}                        // NOLINT
  Value(double d) : v_(d) {}                                           // NOLINT
  Value(std::string s) : v_(std::move(s)) {}                           // NOLINT
  Value(const char* s) : v_(std::string(s)) {}                         // NOLINT
  Value(Array a) : v_(std::make_shared<Array>(std::move(a))) {}        // NOLINT
  Value(Object o) : v_(std::make_shared<Object>(std::move(o))) {}      // NOLINT
  Value(Function f) : v_(std::make_shared<Function>(std::move(f))) {}  // NOLINT

  // JSON text (messages, tools) as a value; throws pie::Error on malformed JSON.
  static Value parse_json(std::string_view json);

  Kind kind() const;
  bool is_undefined() const { return kind() == Kind::Undefined; }
  bool is_none() const { return kind() == Kind::None; }
  bool is_string() const { return kind() == Kind::String; }
  bool is_number() const { return kind() == Kind::Int || kind() == Kind::Float; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_number() const;  // int or float
  const std::string& as_string() const { return std::get<std::string>(v_); }
  Array& array() const { return *std::get<std::shared_ptr<Array>>(v_); }
  Object& object() const { return *std::get<std::shared_ptr<Object>>(v_); }
  const Function& function() const { return *std::get<std::shared_ptr<Function>>(v_); }

  // The value under `key` of a dict, or undefined.
  Value get(std::string_view key) const;
  // Sets `key` of a dict (replacing or appending).
  void set(const std::string& key, Value value) const;

  bool truthy() const;
  // Python's str(): None, True, 1.5, ['a', 1], {'k': 'v'}; undefined is "".
  std::string str() const;
  // Python's repr() (strings quoted).
  std::string repr() const;
  // json.dumps(ensure_ascii=False) with indent (< 0: none) as Hugging Face's tojson does it.
  std::string to_json(int indent = -1, bool sort_keys = false) const;
  // The name of the kind, for error messages ("string", "list", ...).
  std::string type_name() const;

  friend bool operator==(const Value& a, const Value& b);

 private:
  std::string repr_at(int depth) const;

  struct None {};
  std::variant<std::monostate, None, bool, int64_t, double, std::string, std::shared_ptr<Array>,
               std::shared_ptr<Object>, std::shared_ptr<Function>>
      v_;
};

}  // namespace pie::chat
