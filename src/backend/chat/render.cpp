// Evaluation of parsed templates: scopes, loops, macros, and the filters, tests, globals and
// methods real chat templates use.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <unordered_map>
#include <variant>

#include "backend/chat/ast.h"
#include "backend/chat/parser.h"
#include "backend/chat/template.h"
#include "common/error.h"

namespace pie::chat {

struct TemplateNode {
  Body body;
};

namespace {

[[noreturn]] void fail(int line, const std::string& what) {
  throw Error("chat template line " + std::to_string(line) + ": " + what);
}

std::string strip_chars(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t b = 0;
  size_t e = s.size();
  if (left) {
    while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  }
  if (right) {
    while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  }
  return s.substr(b, e - b);
}

const std::string kWhitespace = " \t\n\r\v\f";

std::vector<std::string> split(const std::string& s, const Value& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep.is_undefined() || sep.is_none()) {  // runs of whitespace, no empty pieces
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && kWhitespace.find(s[i]) != std::string::npos) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        out.push_back(strip_chars(s.substr(i), kWhitespace, false, true));
        return out;
      }
      size_t j = i;
      while (j < s.size() && kWhitespace.find(s[j]) == std::string::npos) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  const std::string& d = sep.as_string();
  if (d.empty()) throw Error("chat template: empty separator");
  size_t pos = 0;
  for (;;) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
    const size_t next = s.find(d, pos);
    if (next == std::string::npos) break;
    out.push_back(s.substr(pos, next - pos));
    pos = next + d.size();
  }
  out.push_back(s.substr(pos));
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to,
                        int64_t count = -1) {
  if (from.empty()) return s;
  size_t pos = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    pos = s.find(from, pos);
    if (pos == std::string::npos) break;
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

std::string title_case(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
      start = false;
    } else {
      start = !std::isalnum(u);
    }
  }
  return out;
}

Value make_array(std::vector<std::string> items) {
  Array a;
  for (auto& s : items) a.emplace_back(std::move(s));
  return Value(std::move(a));
}

// Python's comparison for sort / min / max / < and friends.
bool less(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) return a.as_number() < b.as_number();
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.kind() == Value::Kind::Array && b.kind() == Value::Kind::Array) {
    const Array& x = a.array();
    const Array& y = b.array();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (less(x[i], y[i], line)) return true;
      if (less(y[i], x[i], line)) return false;
    }
    return x.size() < y.size();
  }
  fail(line, "cannot compare " + a.type_name() + " with " + b.type_name());
}

int64_t to_index(const Value& v, int line) {
  if (v.kind() != Value::Kind::Int) fail(line, "an index must be an integer, not " + v.type_name());
  return v.as_int();
}

Value length_of(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::String: {
      int64_t n = 0;  // characters, not bytes
      for (unsigned char c : v.as_string()) n += (c & 0xC0) != 0x80;
      return Value(n);
    }
    case Value::Kind::Array:
      return Value(static_cast<int64_t>(v.array().size()));
    case Value::Kind::Object:
      return Value(static_cast<int64_t>(v.object().size()));
    case Value::Kind::Undefined:
      return Value(0);
    default:
      fail(line, "a " + v.type_name() + " has no length");
  }
}

// The items of something iterable: list elements, dict keys, string characters.
Array iterate(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::Array:
      return v.array();
    case Value::Kind::Object: {
      Array keys;
      for (const auto& [k, _] : v.object()) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::String: {
      Array chars;
      const std::string& s = v.as_string();
      for (size_t i = 0; i < s.size();) {
        size_t n = 1;
        while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
        chars.emplace_back(s.substr(i, n));
        i += n;
      }
      return chars;
    }
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return {};
    default:
      fail(line, "cannot iterate over a " + v.type_name());
  }
}

Value arg(std::vector<Value>& args, Kwargs& kwargs, size_t i, const char* name,
          const Value& fallback = Value()) {
  if (i < args.size()) return args[i];
  for (const auto& [k, v] : kwargs) {
    if (k == name) return v;
  }
  return fallback;
}

class Renderer;

// break / continue unwind to the innermost loop.
enum class Flow { Normal, Break, Continue };

class Renderer {
 public:
  explicit Renderer(const Value& context) {
    frames_.emplace_back();
    if (context.kind() == Value::Kind::Object) {
      for (const auto& [k, v] : context.object()) frames_.back()[k] = v;
    } else if (!context.is_undefined()) {
      throw Error("chat template: the context must be a dict");
    }
  }

  Flow exec(const Body& body, std::string& out) {
    for (const StmtPtr& s : body) {
      const Flow f = exec(*s, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

 private:
  Flow exec(const Stmt& s, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::Text:
        out += s.text;
        return Flow::Normal;
      case Stmt::Kind::Output:
        out += eval(*s.expr).str();
        return Flow::Normal;
      case Stmt::Kind::If:
        for (const auto& [cond, body] : s.branches) {
          if (!cond || eval(*cond).truthy()) return exec(body, out);
        }
        return Flow::Normal;
      case Stmt::Kind::For:
        exec_for(s, out);
        return Flow::Normal;
      case Stmt::Kind::Set: {
        Value v = eval(*s.expr);
        if (!s.text.empty()) {  // ns.attr = value
          Value target = lookup(s.targets[0]);
          if (target.kind() != Value::Kind::Object) {
            fail(s.line, "cannot set attribute '" + s.text + "' of a " + target.type_name());
          }
          target.set(s.text, std::move(v));
        } else {
          assign(s.targets, v, s.line);
        }
        return Flow::Normal;
      }
      case Stmt::Kind::SetBlock: {
        std::string captured;
        exec(s.body, captured);
        frames_.back()[s.targets[0]] = Value(captured);
        return Flow::Normal;
      }
      case Stmt::Kind::Macro:
        frames_.back()[s.text] = make_macro(s);
        return Flow::Normal;
      case Stmt::Kind::Break:
        if (loop_depth_ == 0) fail(s.line, "break outside a loop");
        return Flow::Break;
      case Stmt::Kind::Continue:
        if (loop_depth_ == 0) fail(s.line, "continue outside a loop");
        return Flow::Continue;
      case Stmt::Kind::Block:
        return exec(s.body, out);
    }
    return Flow::Normal;
  }

  void assign(const std::vector<std::string>& targets, const Value& v, int line) {
    if (targets.size() == 1) {
      frames_.back()[targets[0]] = v;
      return;
    }
    const Array items = iterate(v, line);
    if (items.size() != targets.size()) {
      fail(line, "cannot unpack " + std::to_string(items.size()) + " values into " +
                     std::to_string(targets.size()) + " names");
    }
    for (size_t i = 0; i < targets.size(); ++i) frames_.back()[targets[i]] = items[i];
  }

  void exec_for(const Stmt& s, std::string& out) {
    const Value iterable = eval(*s.expr);
    Array items = iterable.kind() == Value::Kind::Object && s.targets.size() == 2
                      ? Array{}
                      : iterate(iterable, s.line);
    if (iterable.kind() == Value::Kind::Object && s.targets.size() == 2) {
      fail(s.line, "iterate over dict.items() to unpack keys and values");
    }
    frames_.emplace_back();
    if (s.cond) {  // the inline filter runs with the loop variable bound
      Array kept;
      for (const Value& item : items) {
        assign(s.targets, item, s.line);
        if (eval(*s.cond).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    ++loop_depth_;
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      Object loop = {{"index", Value(i + 1)},
                     {"index0", Value(i)},
                     {"revindex", Value(n - i)},
                     {"revindex0", Value(n - i - 1)},
                     {"first", Value(i == 0)},
                     {"last", Value(i == n - 1)},
                     {"length", Value(n)},
                     {"previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value()},
                     {"nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value()}};
      const auto index = static_cast<size_t>(i);
      loop.emplace_back("cycle", Value(Function([index](std::vector<Value>& args, Kwargs&) {
                          if (args.empty()) return Value();
                          return args[index % args.size()];
                        })));
      frames_.back()["loop"] = Value(std::move(loop));
      assign(s.targets, items[index], s.line);
      if (exec(s.body, out) == Flow::Break) break;
    }
    --loop_depth_;
    frames_.pop_back();
    if (items.empty()) exec(s.else_body, out);
  }

  Value make_macro(const Stmt& s) {
    const Stmt* macro = &s;
    return Value(Function([this, macro](std::vector<Value>& args, Kwargs& kwargs) {
      if (call_depth_ >= kMaxCallDepth) fail(macro->line, "macro calls nested too deeply");
      ++call_depth_;
      struct Unwind {
        int& depth;
        ~Unwind() { --depth; }
      } unwind{call_depth_};
      // A macro sees the template's globals and its own parameters only.
      std::vector<std::unordered_map<std::string, Value>> saved;
      saved.swap(frames_);
      frames_.push_back(saved.front());
      frames_.emplace_back();
      const int saved_depth = loop_depth_;
      loop_depth_ = 0;
      for (size_t i = 0; i < macro->params.size(); ++i) {
        const auto& [name, def] = macro->params[i];
        Value v = arg(args, kwargs, i, name.c_str());
        if (v.is_undefined() && def) v = eval(*def);
        frames_.back()[name] = v;
      }
      std::string out;
      try {
        exec(macro->body, out);
      } catch (...) {
        frames_.swap(saved);
        loop_depth_ = saved_depth;
        throw;
      }
      frames_.swap(saved);
      loop_depth_ = saved_depth;
      return Value(out);
    }));
  }

  Value lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return global(name);
  }

  static Value global(const std::string& name) {
    if (name == "range") {
      return Value(Function([](std::vector<Value>& args, Kwargs&) {
        int64_t start = 0;
        int64_t stop = 0;
        int64_t step = 1;
        if (args.size() == 1) {
          stop = to_index(args[0], 0);
        } else if (args.size() >= 2) {
          start = to_index(args[0], 0);
          stop = to_index(args[1], 0);
          if (args.size() > 2) step = to_index(args[2], 0);
        }
        if (step == 0) throw Error("chat template: range() step must not be zero");
        Array out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
        return Value(std::move(out));
      }));
    }
    if (name == "namespace" || name == "dict") {
      return Value(Function([](std::vector<Value>& args, Kwargs& kwargs) {
        Object o;
        if (!args.empty() && args[0].kind() == Value::Kind::Object) o = args[0].object();
        Value v(std::move(o));
        for (auto& [k, val] : kwargs) v.set(k, val);
        return v;
      }));
    }
    if (name == "raise_exception") {
      return Value(Function([](std::vector<Value>& args, Kwargs&) -> Value {
        throw Error("chat template error: " + (args.empty() ? std::string() : args[0].str()));
      }));
    }
    if (name == "strftime_now") {
      return Value(Function([](std::vector<Value>& args, Kwargs&) {
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[256];
        const std::string format = args.empty() ? "%Y-%m-%d" : args[0].str();
        const size_t n = std::strftime(buf, sizeof buf, format.c_str(), &tm);
        return Value(std::string(buf, n));
      }));
    }
    return {};
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Literal:
        return e.literal;
      case Expr::Kind::Name:
        return lookup(e.name);
      case Expr::Kind::Attr: {
        const Value obj = eval(*e.args[0]);
        if (obj.is_undefined()) fail(e.line, "'" + describe(*e.args[0]) + "' is undefined");
        return attribute(obj, e.name, e.line);
      }
      case Expr::Kind::Item: {
        const Value obj = eval(*e.args[0]);
        if (obj.is_undefined()) fail(e.line, "'" + describe(*e.args[0]) + "' is undefined");
        return item(obj, eval(*e.args[1]), e.line);
      }
      case Expr::Kind::Slice:
        return slice(e);
      case Expr::Kind::Call:
        return call(e);
      case Expr::Kind::Filter:
        return filter(e);
      case Expr::Kind::Test: {
        const bool r = test(e);
        return Value(e.negated ? !r : r);
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.args[0]);
        if (!v.is_number()) fail(e.line, "unary " + e.name + " needs a number");
        if (e.name == "+") return v;
        return v.kind() == Value::Kind::Int ? Value(-v.as_int()) : Value(-v.as_number());
      }
      case Expr::Kind::Binary:
        return binary(e);
      case Expr::Kind::And: {
        Value a = eval(*e.args[0]);
        return a.truthy() ? eval(*e.args[1]) : a;
      }
      case Expr::Kind::Or: {
        Value a = eval(*e.args[0]);
        return a.truthy() ? a : eval(*e.args[1]);
      }
      case Expr::Kind::Not:
        return Value(!eval(*e.args[0]).truthy());
      case Expr::Kind::Cond:
        if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value();
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        Array a;
        for (const ExprPtr& x : e.args) a.push_back(eval(*x));
        return Value(std::move(a));
      }
      case Expr::Kind::Dict: {
        Value d{Object{}};
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value k = eval(*e.args[i]);
          if (!k.is_string()) fail(e.line, "dict keys must be strings");
          d.set(k.as_string(), eval(*e.args[i + 1]));
        }
        return d;
      }
    }
    return {};
  }

  static std::string describe(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Name:
        return e.name;
      case Expr::Kind::Attr:
        return describe(*e.args[0]) + "." + e.name;
      default:
        return "expression";
    }
  }

  Value item(const Value& obj, const Value& key, int line) {
    switch (obj.kind()) {
      case Value::Kind::Object:
        if (!key.is_string()) return {};
        return obj.get(key.as_string());
      case Value::Kind::Array:
      case Value::Kind::String: {
        if (obj.kind() == Value::Kind::Array && key.is_string())
          return attribute(obj, key.as_string(), line);
        const Array items = obj.kind() == Value::Kind::Array ? Array{} : iterate(obj, line);
        const Array& a = obj.kind() == Value::Kind::Array ? obj.array() : items;
        int64_t i = to_index(key, line);
        const auto n = static_cast<int64_t>(a.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return {};
        return a[static_cast<size_t>(i)];
      }
      default:
        if (key.is_string()) return attribute(obj, key.as_string(), line);
        return {};
    }
  }

  Value slice(const Expr& e) {
    const Value obj = eval(*e.args[0]);
    const bool is_string = obj.is_string();
    const Array a = iterate(obj, e.line);
    const auto n = static_cast<int64_t>(a.size());
    const int64_t step = e.args[3] ? to_index(eval(*e.args[3]), e.line) : 1;
    if (step == 0) fail(e.line, "slice step cannot be zero");
    auto bound = [&](const ExprPtr& x, int64_t def) {
      if (!x) return def;
      const Value v = eval(*x);
      if (v.is_none()) return def;
      int64_t i = to_index(v, e.line);
      if (i < 0) i += n;
      return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t start = bound(e.args[1], step > 0 ? 0 : n - 1);
    const int64_t stop = bound(e.args[2], step > 0 ? n : -1);
    Array out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
      out.push_back(a[static_cast<size_t>(i)]);
    if (!is_string) return Value(std::move(out));
    std::string s;
    for (const Value& c : out) s += c.as_string();
    return Value(s);
  }

  Value call(const Expr& e) {
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    Kwargs kwargs;
    for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
    const Value callee = eval(*e.args[0]);
    if (callee.kind() != Value::Kind::Function) {
      fail(e.line, "'" + describe(*e.args[0]) + "' is not a function (" +
                       (callee.is_undefined() ? "it is undefined" : callee.type_name()) + ")");
    }
    return callee.function()(args, kwargs);
  }

  // Methods of strings, lists and dicts, as bound functions; dict keys otherwise.
  Value attribute(const Value& obj, const std::string& name, int line) {
    if (obj.kind() == Value::Kind::Object) {
      if (name == "items" || name == "keys" || name == "values") {
        return Value(Function([obj, name](std::vector<Value>&, Kwargs&) {
          Array out;
          for (const auto& [k, v] : obj.object()) {
            if (name == "items") {
              out.emplace_back(Array{Value(k), v});
            } else {
              out.push_back(name == "keys" ? Value(k) : v);
            }
          }
          return Value(std::move(out));
        }));
      }
      if (name == "get") {
        return Value(Function([obj](std::vector<Value>& args, Kwargs&) {
          if (args.empty() || !args[0].is_string()) return Value();
          Value v = obj.get(args[0].as_string());
          return v.is_undefined() ? (args.size() > 1 ? args[1] : Value::none()) : v;
        }));
      }
      return obj.get(name);
    }
    if (obj.is_string()) return string_method(obj.as_string(), name, line);
    if (obj.kind() == Value::Kind::Array) {
      if (name == "append") {
        return Value(Function([obj](std::vector<Value>& args, Kwargs&) {
          for (const Value& v : args) obj.array().push_back(v);
          return Value::none();
        }));
      }
      if (name == "index" || name == "count") {
        return Value(Function([obj, name](std::vector<Value>& args, Kwargs&) {
          const Array& a = obj.array();
          const Value target = args.empty() ? Value() : args[0];
          int64_t count = 0;
          for (size_t i = 0; i < a.size(); ++i) {
            if (a[i] == target) {
              if (name == "index") return Value(static_cast<int64_t>(i));
              ++count;
            }
          }
          if (name == "index") throw Error("chat template: list.index(): value not in list");
          return Value(count);
        }));
      }
    }
    return {};
  }

  static Value string_method(const std::string& s, const std::string& name, int line) {
    auto bind = [&](auto fn) { return Value(Function(fn)); };
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      return bind([s, name](std::vector<Value>& args, Kwargs&) {
        const std::string chars =
            args.empty() || args[0].is_none() ? kWhitespace : args[0].as_string();
        return Value(strip_chars(s, chars, name != "rstrip", name != "lstrip"));
      });
    }
    if (name == "split" || name == "rsplit") {
      return bind([s](std::vector<Value>& args, Kwargs& kwargs) {
        const Value& sep = arg(args, kwargs, 0, "sep");
        const Value& max = arg(args, kwargs, 1, "maxsplit", Value(-1));
        return make_array(split(s, sep, max.as_int()));
      });
    }
    if (name == "startswith" || name == "endswith") {
      return bind([s, name](std::vector<Value>& args, Kwargs&) {
        if (args.empty()) return Value(false);
        Array options = args[0].kind() == Value::Kind::Array ? args[0].array() : Array{args[0]};
        for (const Value& o : options) {
          const std::string& p = o.as_string();
          const bool hit =
              name == "startswith"
                  ? s.compare(0, p.size(), p) == 0
                  : s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
          if (hit) return Value(true);
        }
        return Value(false);
      });
    }
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      return bind([s, name](std::vector<Value>&, Kwargs&) {
        std::string out = s;
        if (name == "title") return Value(title_case(s));
        for (size_t i = 0; i < out.size(); ++i) {
          const auto c = static_cast<unsigned char>(out[i]);
          const bool up = name == "upper" || (name == "capitalize" && i == 0);
          out[i] = static_cast<char>(up ? std::toupper(c) : std::tolower(c));
        }
        return Value(out);
      });
    }
    if (name == "replace") {
      return bind([s](std::vector<Value>& args, Kwargs&) {
        if (args.size() < 2) throw Error("chat template: replace() needs two arguments");
        return Value(
            replace_all(s, args[0].str(), args[1].str(), args.size() > 2 ? args[2].as_int() : -1));
      });
    }
    if (name == "find" || name == "count") {
      return bind([s, name](std::vector<Value>& args, Kwargs&) {
        const std::string needle = args.empty() ? "" : args[0].str();
        if (name == "find") {
          const size_t p = s.find(needle);
          return Value(p == std::string::npos ? int64_t{-1} : static_cast<int64_t>(p));
        }
        int64_t n = 0;
        for (size_t p = s.find(needle); !needle.empty() && p != std::string::npos;
             p = s.find(needle, p + needle.size())) {
          ++n;
        }
        return Value(n);
      });
    }
    if (name == "join") {
      return bind([s, line](std::vector<Value>& args, Kwargs&) {
        std::string out;
        const Array items = args.empty() ? Array{} : iterate(args[0], line);
        for (size_t i = 0; i < items.size(); ++i) out += (i ? s : "") + items[i].str();
        return Value(out);
      });
    }
    if (name == "isdigit" || name == "isspace" || name == "isalpha") {
      return bind([s, name](std::vector<Value>&, Kwargs&) {
        if (s.empty()) return Value(false);
        for (unsigned char c : s) {
          const bool ok = name == "isdigit"   ? std::isdigit(c)
                          : name == "isspace" ? std::isspace(c)
                                              : std::isalpha(c);
          if (!ok) return Value(false);
        }
        return Value(true);
      });
    }
    fail(line, "strings have no method '" + name + "'");
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    const Value a = eval(*e.args[0]);
    const Value b = eval(*e.args[1]);
    if (op == "==") return Value(a == b);
    if (op == "!=") return Value(!(a == b));
    if (op == "<") return Value(less(a, b, e.line));
    if (op == ">") return Value(less(b, a, e.line));
    if (op == "<=") return Value(!less(b, a, e.line));
    if (op == ">=") return Value(!less(a, b, e.line));
    if (op == "in" || op == "notin") {
      bool found = false;
      if (b.is_string()) {
        if (!a.is_string()) fail(e.line, "'in <string>' needs a string on the left");
        found = b.as_string().find(a.as_string()) != std::string::npos;
      } else if (b.kind() == Value::Kind::Object) {
        found = a.is_string() && !b.get(a.as_string()).is_undefined();
      } else if (b.kind() == Value::Kind::Array) {
        found = std::find(b.array().begin(), b.array().end(), a) != b.array().end();
      } else if (!b.is_undefined() && !b.is_none()) {
        fail(e.line, "'in' needs a string, list or dict, not a " + b.type_name());
      }
      return Value(op == "in" ? found : !found);
    }
    if (op == "~") return Value(a.str() + b.str());
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
      if (a.kind() == Value::Kind::Array && b.kind() == Value::Kind::Array) {
        Array out = a.array();
        out.insert(out.end(), b.array().begin(), b.array().end());
        return Value(std::move(out));
      }
    }
    if (op == "*" && a.is_string() && b.kind() == Value::Kind::Int) {
      std::string out;
      for (int64_t i = 0; i < b.as_int(); ++i) out += a.as_string();
      return Value(out);
    }
    if (!a.is_number() || !b.is_number()) {
      fail(e.line, "cannot apply '" + op + "' to a " + a.type_name() + " and a " + b.type_name());
    }
    const bool ints = a.kind() == Value::Kind::Int && b.kind() == Value::Kind::Int;
    const double x = a.as_number();
    const double y = b.as_number();
    if (op == "+") return ints ? Value(a.as_int() + b.as_int()) : Value(x + y);
    if (op == "-") return ints ? Value(a.as_int() - b.as_int()) : Value(x - y);
    if (op == "*") return ints ? Value(a.as_int() * b.as_int()) : Value(x * y);
    if (op == "**") {
      if (ints && b.as_int() >= 0) return Value(static_cast<int64_t>(std::llround(std::pow(x, y))));
      return Value(std::pow(x, y));
    }
    if (y == 0) fail(e.line, "division by zero");
    if (op == "/") return Value(x / y);
    if (op == "//") {
      if (ints) {
        const int64_t q = a.as_int() / b.as_int();
        return Value(q -
                     ((a.as_int() % b.as_int() != 0) && ((a.as_int() < 0) != (b.as_int() < 0))));
      }
      return Value(std::floor(x / y));
    }
    if (op == "%") {
      if (ints) {
        const int64_t r = a.as_int() % b.as_int();
        return Value(r != 0 && ((r < 0) != (b.as_int() < 0)) ? r + b.as_int() : r);
      }
      return Value(x - std::floor(x / y) * y);
    }
    fail(e.line, "unknown operator " + op);
  }

  bool test(const Expr& e) {
    const std::string& n = e.name;
    const Value v = eval(*e.args[0]);
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    if (n == "defined") return !v.is_undefined();
    if (n == "undefined") return v.is_undefined();
    if (n == "none") return v.is_none();
    if (n == "string") return v.is_string();
    if (n == "number") return v.is_number();
    if (n == "integer") return v.kind() == Value::Kind::Int;
    if (n == "float") return v.kind() == Value::Kind::Float;
    if (n == "boolean") return v.kind() == Value::Kind::Bool;
    if (n == "true") return v.kind() == Value::Kind::Bool && v.as_bool();
    if (n == "false") return v.kind() == Value::Kind::Bool && !v.as_bool();
    if (n == "mapping") return v.kind() == Value::Kind::Object;
    if (n == "sequence" || n == "iterable") {
      return v.kind() == Value::Kind::Array || v.is_string() || v.kind() == Value::Kind::Object;
    }
    if (n == "callable") return v.kind() == Value::Kind::Function;
    if (n == "odd" || n == "even") {
      if (v.kind() != Value::Kind::Int) fail(e.line, "'" + n + "' needs an integer");
      return (v.as_int() % 2 != 0) == (n == "odd");
    }
    if (n == "divisibleby") {
      if (args.empty() || !args[0].is_number() || v.kind() != Value::Kind::Int ||
          args[0].as_number() == 0) {
        fail(e.line, "'divisibleby' needs integers");
      }
      return v.as_int() % args[0].as_int() == 0;
    }
    if (n == "eq" || n == "equalto" || n == "sameas") return !args.empty() && v == args[0];
    if (n == "ne") return args.empty() || !(v == args[0]);
    if (n == "lower" || n == "upper") {
      if (!v.is_string()) return false;
      for (unsigned char c : v.as_string()) {
        if (std::isalpha(c) && (n == "lower" ? std::isupper(c) : std::islower(c))) return false;
      }
      return true;
    }
    if (n == "in") {
      if (args.empty()) return false;
      if (args[0].is_string()) {
        return v.is_string() && args[0].as_string().find(v.as_string()) != std::string::npos;
      }
      const Array items = iterate(args[0], e.line);
      return std::find(items.begin(), items.end(), v) != items.end();
    }
    fail(e.line, "unsupported test '" + n + "'");
  }

  // Applies a test by name to one value (select / reject).
  bool apply_test(const std::string& name, const Value& v, std::vector<Value> args, int line) {
    Expr probe;
    probe.kind = Expr::Kind::Test;
    probe.line = line;
    probe.name = name;
    auto lit = std::make_unique<Expr>();
    lit->kind = Expr::Kind::Literal;
    lit->literal = v;
    probe.args.push_back(std::move(lit));
    for (Value& a : args) {
      auto x = std::make_unique<Expr>();
      x->kind = Expr::Kind::Literal;
      x->literal = std::move(a);
      probe.args.push_back(std::move(x));
    }
    return test(probe);
  }

  Value filter(const Expr& e) {
    const std::string& n = e.name;
    const Value v = eval(*e.args[0]);
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    Kwargs kwargs;
    for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
    const int line = e.line;
    auto need_string = [&]() -> const std::string& {
      if (!v.is_string()) fail(line, "filter '" + n + "' needs a string, not a " + v.type_name());
      return v.as_string();
    };

    if (n == "trim") {
      const Value& chars = arg(args, kwargs, 0, "chars");
      return Value(strip_chars(need_string(), chars.is_string() ? chars.as_string() : kWhitespace,
                               true, true));
    }
    if (n == "tojson") {
      const Value& indent = arg(args, kwargs, 0, "indent");
      const Value& sort = arg(args, kwargs, 1, "sort_keys", Value(false));
      return Value(
          v.to_json(indent.kind() == Value::Kind::Int ? static_cast<int>(indent.as_int()) : -1,
                    sort.truthy()));
    }
    if (n == "length" || n == "count") return length_of(v, line);
    if (n == "items") {
      if (v.kind() != Value::Kind::Object) fail(line, "filter 'items' needs a dict");
      Array out;
      for (const auto& [k, x] : v.object()) out.emplace_back(Array{Value(k), x});
      return Value(std::move(out));
    }
    if (n == "upper" || n == "lower" || n == "title" || n == "capitalize" || n == "startswith" ||
        n == "endswith" || n == "split" || n == "replace" || n == "strip" || n == "lstrip" ||
        n == "rstrip") {
      need_string();
      Value method = string_method(v.as_string(), n == "strip" ? "strip" : n, line);
      return method.function()(args, kwargs);
    }
    if (n == "string") return Value(v.str());
    if (n == "int") {
      if (v.is_number()) return Value(static_cast<int64_t>(v.as_number()));
      if (v.is_string()) {
        try {
          return Value(static_cast<int64_t>(std::stoll(v.as_string())));
        } catch (const std::exception&) {
        }
      }
      return args.empty() ? Value(0) : args[0];
    }
    if (n == "float") {
      if (v.is_number()) return Value(v.as_number());
      if (v.is_string()) {
        try {
          return Value(std::stod(v.as_string()));
        } catch (const std::exception&) {
        }
      }
      return Value(0.0);
    }
    if (n == "abs") {
      if (!v.is_number()) fail(line, "filter 'abs' needs a number");
      return v.kind() == Value::Kind::Int ? Value(v.as_int() < 0 ? -v.as_int() : v.as_int())
                                          : Value(std::fabs(v.as_number()));
    }
    if (n == "round") {
      const Value& precision = arg(args, kwargs, 0, "precision", Value(0));
      const double scale = std::pow(10.0, static_cast<double>(precision.as_int()));
      return Value(std::round(v.as_number() * scale) / scale);
    }
    if (n == "default" || n == "d") {
      const Value& fallback = arg(args, kwargs, 0, "default_value", Value(""));
      const bool boolean = arg(args, kwargs, 1, "boolean", Value(false)).truthy();
      return v.is_undefined() || (boolean && !v.truthy()) ? fallback : v;
    }
    if (n == "first" || n == "last") {
      const Array a = iterate(v, line);
      if (a.empty()) return {};
      return n == "first" ? a.front() : a.back();
    }
    if (n == "join") {
      const Value& sep = arg(args, kwargs, 0, "d", Value(""));
      const Value& attr = arg(args, kwargs, 1, "attribute");
      std::string out;
      const Array a = iterate(v, line);
      for (size_t i = 0; i < a.size(); ++i) {
        out += (i ? sep.str() : "") + (attr.is_string() ? item(a[i], attr, line) : a[i]).str();
      }
      return Value(out);
    }
    if (n == "list") return Value(iterate(v, line));
    if (n == "reverse") {
      if (v.is_string()) {
        Array chars = iterate(v, line);
        std::string out;
        for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += it->as_string();
        return Value(out);
      }
      Array a = iterate(v, line);
      std::reverse(a.begin(), a.end());
      return Value(std::move(a));
    }
    if (n == "sort") {
      Array a = iterate(v, line);
      const bool reverse = arg(args, kwargs, 0, "reverse", Value(false)).truthy();
      const Value& attr = arg(args, kwargs, 2, "attribute");
      std::stable_sort(a.begin(), a.end(), [&](const Value& x, const Value& y) {
        const Value kx = attr.is_string() ? item(x, attr, line) : x;
        const Value ky = attr.is_string() ? item(y, attr, line) : y;
        return reverse ? less(ky, kx, line) : less(kx, ky, line);
      });
      return Value(std::move(a));
    }
    if (n == "unique") {
      Array out;
      for (const Value& x : iterate(v, line)) {
        if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
      }
      return Value(std::move(out));
    }
    if (n == "min" || n == "max") {
      const Array a = iterate(v, line);
      if (a.empty()) return {};
      Value best = a[0];
      for (const Value& x : a) {
        if (n == "min" ? less(x, best, line) : less(best, x, line)) best = x;
      }
      return best;
    }
    if (n == "sum") {
      Value total(0);
      for (const Value& x : iterate(v, line)) {
        if (!x.is_number()) fail(line, "filter 'sum' needs numbers");
        total = total.kind() == Value::Kind::Int && x.kind() == Value::Kind::Int
                    ? Value(total.as_int() + x.as_int())
                    : Value(total.as_number() + x.as_number());
      }
      return total;
    }
    if (n == "map") {
      const Value& attr = arg(args, kwargs, 99, "attribute");
      Array out;
      for (const Value& x : iterate(v, line)) {
        if (attr.is_string()) {
          out.push_back(item(x, attr, line));
        } else if (!args.empty() && args[0].is_string()) {
          auto lit = std::make_unique<Expr>();
          lit->kind = Expr::Kind::Literal;
          lit->literal = x;
          Expr f;
          f.kind = Expr::Kind::Filter;
          f.line = line;
          f.name = args[0].as_string();
          f.args.push_back(std::move(lit));
          for (size_t i = 1; i < args.size(); ++i) {
            auto a = std::make_unique<Expr>();
            a->kind = Expr::Kind::Literal;
            a->literal = args[i];
            f.args.push_back(std::move(a));
          }
          out.push_back(filter(f));
        } else {
          fail(line, "filter 'map' needs an attribute or a filter name");
        }
      }
      return Value(std::move(out));
    }
    if (n == "select" || n == "reject" || n == "selectattr" || n == "rejectattr") {
      const bool by_attr = n.size() > 6;
      const bool keep_matches = n[0] == 's';
      Array out;
      const size_t test_at = by_attr ? 1 : 0;
      for (const Value& x : iterate(v, line)) {
        const Value subject = by_attr ? item(x, args.at(0), line) : x;
        bool ok = false;
        if (args.size() > test_at) {
          std::vector<Value> test_args(args.begin() + static_cast<std::ptrdiff_t>(test_at) + 1,
                                       args.end());
          ok = apply_test(args[test_at].str(), subject, std::move(test_args), line);
        } else {
          ok = subject.truthy();
        }
        if (ok == keep_matches) out.push_back(x);
      }
      return Value(std::move(out));
    }
    if (n == "dictsort") {
      if (v.kind() != Value::Kind::Object) fail(line, "filter 'dictsort' needs a dict");
      Object o = v.object();
      std::stable_sort(o.begin(), o.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      Array out;
      for (auto& [k, x] : o) out.emplace_back(Array{Value(k), x});
      return Value(std::move(out));
    }
    if (n == "indent") {
      const int64_t width = arg(args, kwargs, 0, "width", Value(4)).as_int();
      const bool first = arg(args, kwargs, 1, "first", Value(false)).truthy();
      const bool blank = arg(args, kwargs, 2, "blank", Value(false)).truthy();
      const std::string pad(static_cast<size_t>(std::max<int64_t>(0, width)), ' ');
      std::vector<std::string> lines = split(need_string(), Value("\n"), -1);
      std::string out;
      for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) out += "\n";
        if ((i > 0 || first) && (blank || !lines[i].empty())) out += pad;
        out += lines[i];
      }
      return Value(out);
    }
    if (n == "safe" || n == "e" || n == "escape" || n == "forceescape") {
      if (n == "safe") return v;
      std::string out;
      for (char c : v.str()) {
        switch (c) {
          case '&':
            out += "&amp;";
            break;
          case '<':
            out += "&lt;";
            break;
          case '>':
            out += "&gt;";
            break;
          case '"':
            out += "&#34;";
            break;
          case '\'':
            out += "&#39;";
            break;
          default:
            out += c;
        }
      }
      return Value(out);
    }
    if (n == "center") {
      const std::string s = v.str();
      const auto width = static_cast<size_t>(arg(args, kwargs, 0, "width", Value(80)).as_int());
      if (s.size() >= width) return Value(s);
      const size_t left = (width - s.size()) / 2;
      return Value(std::string(left, ' ') + s + std::string(width - s.size() - left, ' '));
    }
    if (n == "wordcount") return Value(static_cast<int64_t>(split(v.str(), Value(), -1).size()));
    fail(line, "unsupported filter '" + n + "'");
  }

  static constexpr int kMaxCallDepth = 100;
  std::vector<std::unordered_map<std::string, Value>> frames_;
  int loop_depth_ = 0;
  int call_depth_ = 0;
};

}  // namespace

Template::Template(std::string_view source) : root_(std::make_unique<TemplateNode>()) {
  root_->body = parse_template(source);
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const Value& context) const {
  Renderer r(context);
  std::string out;
  try {
    r.exec(root_->body, out);
  } catch (const std::bad_variant_access&) {
    // A builtin got an argument of the wrong kind (a number where a string belongs, ...).
    throw Error("chat template: a filter or method argument has the wrong type");
  }
  return out;
}

}  // namespace pie::chat
