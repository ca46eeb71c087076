// Jinja's lexing rules as Hugging Face configures them (trim_blocks, lstrip_blocks), then a
// recursive-descent parser with Jinja's operator precedence.
#include "backend/chat/parser.h"

#include <cctype>
#include <set>

#include "common/error.h"

namespace pie::chat {
namespace {

[[noreturn]] void fail(int line, const std::string& what) {
  throw Error("chat template line " + std::to_string(line) + ": " + what);
}

// What render.cpp implements: names outside these lists are rejected when the template is parsed.
const std::set<std::string> kFilters = {
    "trim",    "tojson",      "length",     "count",    "items",  "upper",   "lower",
    "title",   "capitalize",  "startswith", "endswith", "split",  "replace", "strip",
    "lstrip",  "rstrip",      "string",     "int",      "float",  "abs",     "round",
    "default", "d",           "first",      "last",     "join",   "list",    "reverse",
    "sort",    "unique",      "min",        "max",      "sum",    "map",     "select",
    "reject",  "selectattr",  "rejectattr", "dictsort", "indent", "safe",    "e",
    "escape",  "forceescape", "center",     "wordcount"};
const std::set<std::string> kTests = {
    "defined",     "undefined", "none",    "string",   "number",   "integer",  "float", "boolean",
    "true",        "false",     "mapping", "sequence", "iterable", "callable", "odd",   "even",
    "divisibleby", "eq",        "equalto", "sameas",   "ne",       "lower",    "upper", "in"};

// One piece of the source: text, or the inside of a {{ }}, {% %} or {# #} tag.
struct Segment {
  enum class Kind { Text, Expr, Block, Comment } kind;
  std::string content;
  int line;
  bool strip_before = false;  // {%- : remove the whitespace before
  bool strip_after = false;   // -%} : remove the whitespace after
  bool keep_before = false;   // {%+ : no lstrip_blocks for this tag
  bool verbatim = false;      // the inside of {% raw %}: no whitespace rules
};

std::vector<Segment> segment(std::string_view src) {
  std::vector<Segment> out;
  int line = 1;
  size_t pos = 0;
  auto count_lines = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) line += src[i] == '\n';
  };
  while (pos < src.size()) {
    size_t open = src.find('{', pos);
    while (open != std::string_view::npos && open + 1 < src.size() && src[open + 1] != '{' &&
           src[open + 1] != '%' && src[open + 1] != '#') {
      open = src.find('{', open + 1);
    }
    if (open == std::string_view::npos || open + 1 >= src.size()) {
      out.push_back({Segment::Kind::Text, std::string(src.substr(pos)), line});
      break;
    }
    if (open > pos)
      out.push_back({Segment::Kind::Text, std::string(src.substr(pos, open - pos)), line});
    count_lines(pos, open);
    const char type = src[open + 1];
    const std::string_view close = type == '{' ? "}}" : type == '%' ? "%}" : "#}";
    size_t start = open + 2;
    Segment seg{type == '{'   ? Segment::Kind::Expr
                : type == '%' ? Segment::Kind::Block
                              : Segment::Kind::Comment,
                "", line};
    if (start < src.size() && src[start] == '-') {
      seg.strip_before = true;
      ++start;
    } else if (start < src.size() && src[start] == '+') {
      seg.keep_before = true;
      ++start;
    }
    // Find the closing delimiter outside string literals.
    size_t end = start;
    char quote = 0;
    for (;; ++end) {
      if (end >= src.size()) fail(line, "unclosed tag or string");
      const char c = src[end];
      if (seg.kind != Segment::Kind::Comment) {
        if (quote != 0) {
          if (c == '\\') {
            ++end;
          } else if (c == quote) {
            quote = 0;
          }
          continue;
        }
        if (c == '\'' || c == '"') {
          quote = c;
          continue;
        }
      }
      if (src.compare(end, 2, close) == 0) break;
    }
    size_t content_end = end;
    if (content_end > start && src[content_end - 1] == '-') {
      seg.strip_after = true;
      --content_end;
    } else if (content_end > start && src[content_end - 1] == '+') {
      --content_end;
    }
    seg.content = std::string(src.substr(start, content_end - start));
    count_lines(open, end + 2);
    pos = end + 2;
    // {% raw %} ... {% endraw %}: everything in between is text.
    if (seg.kind == Segment::Kind::Block) {
      std::string trimmed = seg.content;
      trimmed.erase(0, trimmed.find_first_not_of(" \t\r\n"));
      trimmed.erase(trimmed.find_last_not_of(" \t\r\n") + 1);
      if (trimmed == "raw") {
        size_t search = pos;
        for (;;) {
          const size_t tag = src.find("{%", search);
          if (tag == std::string_view::npos) fail(seg.line, "raw without endraw");
          size_t i = tag + 2;
          bool strip = false;
          if (i < src.size() && (src[i] == '-' || src[i] == '+')) strip = src[i++] == '-';
          while (i < src.size() && std::isspace(static_cast<unsigned char>(src[i]))) ++i;
          if (src.compare(i, 6, "endraw") != 0) {
            search = tag + 2;
            continue;
          }
          const size_t close_at = src.find("%}", i);
          if (close_at == std::string_view::npos) fail(seg.line, "unclosed endraw");
          std::string raw(src.substr(pos, tag - pos));
          if (strip) raw.erase(raw.find_last_not_of(" \t\r\n") + 1);
          seg.content = "raw";
          out.push_back(seg);
          Segment text{Segment::Kind::Text, raw, line};
          text.verbatim = true;
          out.push_back(text);
          Segment endraw{Segment::Kind::Block, "endraw", line};
          endraw.strip_after = close_at > 0 && src[close_at - 1] == '-';
          count_lines(pos, close_at + 2);
          pos = close_at + 2;
          out.push_back(endraw);
          break;
        }
        continue;
      }
    }
    out.push_back(std::move(seg));
  }

  // Whitespace control, trim_blocks and lstrip_blocks.
  for (size_t i = 0; i < out.size(); ++i) {
    Segment& seg = out[i];
    if (seg.kind != Segment::Kind::Text || seg.verbatim) continue;
    std::string& text = seg.content;
    // lstrip_blocks looks at the source: spaces and tabs that start a line before a block tag.
    const size_t nl = text.find_last_of('\n');
    const size_t tail = nl == std::string::npos ? text.size() : text.size() - nl - 1;
    const bool blank_line_start =
        (nl != std::string::npos || i == 0) &&
        text.find_first_not_of(" \t", text.size() - tail) == std::string::npos;
    if (i > 0) {
      const Segment& prev = out[i - 1];
      if (prev.strip_after) {
        text.erase(0, text.find_first_not_of(" \t\r\n"));
      } else if (prev.kind == Segment::Kind::Block || prev.kind == Segment::Kind::Comment) {
        if (text.rfind("\r\n", 0) == 0) {
          text.erase(0, 2);
        } else if (text.rfind('\n', 0) == 0) {
          text.erase(0, 1);
        }
      }
    }
    if (i + 1 < out.size()) {
      const Segment& next = out[i + 1];
      if (next.strip_before) {
        text.erase(text.find_last_not_of(" \t\r\n") + 1);
      } else if ((next.kind == Segment::Kind::Block || next.kind == Segment::Kind::Comment) &&
                 !next.keep_before && blank_line_start) {
        text.erase(text.size() - std::min(tail, text.size()));
      }
    }
  }
  return out;
}

struct Token {
  enum class Kind { Name, String, Int, Float, Op, End } kind;
  std::string text;
  Value value;
};

std::vector<Token> tokenize(const std::string& s, int line) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Kind::Name, s.substr(i, j - i), {}});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      bool is_float = false;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        is_float = true;
        ++j;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      std::string digits;
      for (size_t k = i; k < j; ++k) {
        if (s[k] != '_') digits += s[k];
      }
      if (is_float) {
        out.push_back({Token::Kind::Float, digits, Value(std::stod(digits))});
      } else {
        out.push_back({Token::Kind::Int, digits, Value(static_cast<int64_t>(std::stoll(digits)))});
      }
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          switch (e) {
            case 'n':
              v += '\n';
              break;
            case 't':
              v += '\t';
              break;
            case 'r':
              v += '\r';
              break;
            case '\\':
            case '\'':
            case '"':
              v += e;
              break;
            default:
              v += '\\';
              v += e;
          }
        } else {
          v += s[j];
        }
      }
      if (j >= s.size()) fail(line, "unterminated string");
      out.push_back({Token::Kind::String, v, Value(v)});
      i = j + 1;
    } else {
      static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                   "/",  "%",  "~",  "<",  ">",  "|",  ".", ",", ":",
                                   "(",  ")",  "[",  "]",  "{",  "}",  "="};
      bool matched = false;
      for (const char* op : kOps) {
        const size_t n = std::char_traits<char>::length(op);
        if (s.compare(i, n, op) == 0) {
          out.push_back({Token::Kind::Op, op, {}});
          i += n;
          matched = true;
          break;
        }
      }
      if (!matched) fail(line, std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Token::Kind::End, "", {}});
  return out;
}

// Bounds the recursion of nested expressions and blocks, so a hostile template cannot exhaust the
// stack.
constexpr int kMaxNesting = 200;

class DepthGuard {
 public:
  DepthGuard(int& depth, int line) : depth_(depth) {
    if (++depth_ > kMaxNesting) {
      --depth_;
      fail(line, "nested too deeply");
    }
  }
  ~DepthGuard() { --depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int& depth_;
};

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, int line) : t_(std::move(tokens)), line_(line) {}

  bool at_end() const { return t_[p_].kind == Token::Kind::End; }
  bool peek_op(const char* op) const { return t_[p_].kind == Token::Kind::Op && t_[p_].text == op; }
  bool peek_name(const char* n) const {
    return t_[p_].kind == Token::Kind::Name && t_[p_].text == n;
  }
  bool accept_op(const char* op) {
    if (!peek_op(op)) return false;
    ++p_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!peek_name(n)) return false;
    ++p_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op))
      fail(line_, std::string("expected '") + op + "' but found '" + t_[p_].text + "'");
  }
  std::string expect_name() {
    if (t_[p_].kind != Token::Kind::Name)
      fail(line_, "expected a name but found '" + t_[p_].text + "'");
    return t_[p_++].text;
  }
  void expect_end() {
    if (!at_end()) fail(line_, "unexpected '" + t_[p_].text + "'");
  }

  // A full expression, including an unparenthesised tuple when allowed ("a, b").
  ExprPtr expression(bool allow_tuple = false) {
    ExprPtr first = conditional();
    if (!allow_tuple || !peek_op(",")) return first;
    ExprPtr tuple = make(Expr::Kind::Tuple);
    tuple->args.push_back(std::move(first));
    while (accept_op(",")) {
      if (at_end() || peek_op(")")) break;
      tuple->args.push_back(conditional());
    }
    return tuple;
  }

  ExprPtr conditional() {
    const DepthGuard guard(depth_, line_);
    ExprPtr value = or_expr();
    if (!accept_name("if")) return value;
    ExprPtr e = make(Expr::Kind::Cond);
    e->args.push_back(std::move(value));
    e->args.push_back(or_expr());
    e->args.push_back(accept_name("else") ? conditional() : nullptr);
    return e;
  }

  // Used by for-loops, whose iterable ends before "if".
  ExprPtr or_expr() {
    ExprPtr left = and_expr();
    while (accept_name("or")) left = binary(Expr::Kind::Or, "", std::move(left), and_expr());
    return left;
  }

 private:
  ExprPtr make(Expr::Kind kind) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line_;
    return e;
  }
  ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr a, ExprPtr b) {
    ExprPtr e = make(kind);
    e->name = std::move(op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr and_expr() {
    ExprPtr left = not_expr();
    while (accept_name("and")) left = binary(Expr::Kind::And, "", std::move(left), not_expr());
    return left;
  }
  ExprPtr not_expr() {
    const DepthGuard guard(depth_, line_);
    if (accept_name("not")) {
      ExprPtr e = make(Expr::Kind::Not);
      e->args.push_back(not_expr());
      return e;
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr left = math1();
    for (;;) {
      std::string op;
      for (const char* o : {"==", "!=", "<=", ">=", "<", ">"}) {
        if (accept_op(o)) {
          op = o;
          break;
        }
      }
      if (op.empty()) {
        if (accept_name("in")) {
          op = "in";
        } else if (peek_name("not") && t_[p_ + 1].kind == Token::Kind::Name &&
                   t_[p_ + 1].text == "in") {
          p_ += 2;
          op = "notin";
        } else {
          return left;
        }
      }
      left = binary(Expr::Kind::Binary, op, std::move(left), math1());
    }
  }
  ExprPtr math1() {
    ExprPtr left = concat();
    for (;;) {
      if (accept_op("+")) {
        left = binary(Expr::Kind::Binary, "+", std::move(left), concat());
      } else if (accept_op("-")) {
        left = binary(Expr::Kind::Binary, "-", std::move(left), concat());
      } else {
        return left;
      }
    }
  }
  ExprPtr concat() {
    ExprPtr left = math2();
    while (accept_op("~")) left = binary(Expr::Kind::Binary, "~", std::move(left), math2());
    return left;
  }
  ExprPtr math2() {
    ExprPtr left = power();
    for (;;) {
      std::string op;
      for (const char* o : {"//", "*", "/", "%"}) {
        if (accept_op(o)) {
          op = o;
          break;
        }
      }
      if (op.empty()) return left;
      left = binary(Expr::Kind::Binary, op, std::move(left), power());
    }
  }
  ExprPtr power() {
    ExprPtr left = unary();
    while (accept_op("**")) left = binary(Expr::Kind::Binary, "**", std::move(left), unary());
    return left;
  }
  ExprPtr unary() {
    const DepthGuard guard(depth_, line_);
    if (peek_op("-") || peek_op("+")) {
      ExprPtr e = make(Expr::Kind::Unary);
      e->name = t_[p_++].text;
      e->args.push_back(unary());
      return filters(std::move(e));
    }
    return filters(postfix(primary()));
  }

  void call_args(Expr& e) {
    // After "(": positional and keyword arguments up to ")".
    while (!accept_op(")")) {
      if (t_[p_].kind == Token::Kind::Name && t_[p_ + 1].kind == Token::Kind::Op &&
          t_[p_ + 1].text == "=") {
        std::string key = t_[p_].text;
        p_ += 2;
        e.kwargs.emplace_back(std::move(key), conditional());
      } else {
        e.args.push_back(conditional());
      }
      if (!accept_op(",")) {
        expect_op(")");
        break;
      }
    }
  }

  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      if (accept_op(".")) {
        ExprPtr a = make(Expr::Kind::Attr);
        if (t_[p_].kind == Token::Kind::Int) {  // foo.0 is foo[0]
          a->kind = Expr::Kind::Item;
          a->args.push_back(std::move(e));
          ExprPtr index = make(Expr::Kind::Literal);
          index->literal = t_[p_++].value;
          a->args.push_back(std::move(index));
        } else {
          a->name = expect_name();
          a->args.push_back(std::move(e));
        }
        e = std::move(a);
      } else if (accept_op("[")) {
        ExprPtr parts[3];
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!peek_op(":") && !peek_op("]")) parts[k] = expression();
          if (k < 2 && accept_op(":")) {
            slice = true;
            continue;
          }
          break;
        }
        expect_op("]");
        ExprPtr s = make(slice ? Expr::Kind::Slice : Expr::Kind::Item);
        s->args.push_back(std::move(e));
        if (slice) {
          for (auto& part : parts) s->args.push_back(std::move(part));
        } else {
          if (!parts[0]) fail(line_, "empty subscript");
          s->args.push_back(std::move(parts[0]));
        }
        e = std::move(s);
      } else if (accept_op("(")) {
        ExprPtr c = make(Expr::Kind::Call);
        c->args.push_back(std::move(e));
        call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr filters(ExprPtr e) {
    for (;;) {
      if (accept_op("|")) {
        ExprPtr f = make(Expr::Kind::Filter);
        f->name = expect_name();
        if (!kFilters.count(f->name)) fail(line_, "unsupported filter '" + f->name + "'");
        f->args.push_back(std::move(e));
        if (accept_op("(")) call_args(*f);
        e = std::move(f);
      } else if (accept_name("is")) {
        ExprPtr t = make(Expr::Kind::Test);
        t->negated = accept_name("not");
        t->name = expect_name();
        if (!kTests.count(t->name)) fail(line_, "unsupported test '" + t->name + "'");
        t->args.push_back(std::move(e));
        if (accept_op("(")) {
          call_args(*t);
        } else if (t_[p_].kind == Token::Kind::String || t_[p_].kind == Token::Kind::Int ||
                   t_[p_].kind == Token::Kind::Float ||
                   (t_[p_].kind == Token::Kind::Name && t_[p_].text != "and" &&
                    t_[p_].text != "or" && t_[p_].text != "else" && t_[p_].text != "if" &&
                    t_[p_].text != "is" && t_[p_].text != "not" && t_[p_].text != "in")) {
          t->args.push_back(postfix(primary()));
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  ExprPtr primary() {
    const Token& tok = t_[p_];
    switch (tok.kind) {
      case Token::Kind::String: {
        // Adjacent string literals concatenate.
        std::string s;
        while (t_[p_].kind == Token::Kind::String) s += t_[p_++].text;
        ExprPtr e = make(Expr::Kind::Literal);
        e->literal = Value(s);
        return e;
      }
      case Token::Kind::Int:
      case Token::Kind::Float: {
        ExprPtr e = make(Expr::Kind::Literal);
        e->literal = t_[p_++].value;
        return e;
      }
      case Token::Kind::Name: {
        const std::string n = t_[p_++].text;
        ExprPtr e = make(Expr::Kind::Literal);
        if (n == "true" || n == "True") {
          e->literal = Value(true);
        } else if (n == "false" || n == "False") {
          e->literal = Value(false);
        } else if (n == "none" || n == "None") {
          e->literal = Value::none();
        } else {
          e->kind = Expr::Kind::Name;
          e->name = n;
        }
        return e;
      }
      case Token::Kind::Op:
        if (accept_op("(")) {
          if (accept_op(")")) return make(Expr::Kind::Tuple);
          ExprPtr inner = expression(/*allow_tuple=*/true);
          expect_op(")");
          return inner;
        }
        if (accept_op("[")) {
          ExprPtr list = make(Expr::Kind::List);
          while (!accept_op("]")) {
            list->args.push_back(conditional());
            if (!accept_op(",")) {
              expect_op("]");
              break;
            }
          }
          return list;
        }
        if (accept_op("{")) {
          ExprPtr dict = make(Expr::Kind::Dict);
          while (!accept_op("}")) {
            dict->args.push_back(conditional());
            expect_op(":");
            dict->args.push_back(conditional());
            if (!accept_op(",")) {
              expect_op("}");
              break;
            }
          }
          return dict;
        }
        fail(line_, "unexpected '" + tok.text + "'");
      case Token::Kind::End:
        fail(line_, "unexpected end of expression");
    }
    fail(line_, "unexpected token");
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int line_;
  int depth_ = 0;
};

class Parser {
 public:
  explicit Parser(std::vector<Segment> segments) : s_(std::move(segments)) {}

  Body parse() {
    std::string end;
    Body body = parse_body({}, end);
    if (!end.empty()) fail(last_line_, "unexpected {% " + end + " %}");
    return body;
  }

 private:
  // Parses statements until a block tag whose keyword is in `stops` (returned in `end`, its
  // expression parser left in `stop_parser_`).
  Body parse_body(const std::set<std::string>& stops, std::string& end) {
    Body body;
    while (i_ < s_.size()) {
      const Segment& seg = s_[i_++];
      last_line_ = seg.line;
      switch (seg.kind) {
        case Segment::Kind::Comment:
          break;
        case Segment::Kind::Text:
          if (!seg.content.empty()) {
            auto st = stmt(Stmt::Kind::Text, seg.line);
            st->text = seg.content;
            body.push_back(std::move(st));
          }
          break;
        case Segment::Kind::Expr: {
          ExprParser p(tokenize(seg.content, seg.line), seg.line);
          auto st = stmt(Stmt::Kind::Output, seg.line);
          st->expr = p.expression(true);
          p.expect_end();
          body.push_back(std::move(st));
          break;
        }
        case Segment::Kind::Block: {
          auto p = std::make_unique<ExprParser>(tokenize(seg.content, seg.line), seg.line);
          const std::string keyword = p->expect_name();
          if (stops.count(keyword)) {
            end = keyword;
            stop_parser_ = std::move(p);
            return body;
          }
          body.push_back(block(keyword, *p, seg.line));
          break;
        }
      }
    }
    if (!stops.empty()) {
      std::string wanted;
      for (const auto& s : stops) wanted += (wanted.empty() ? "" : " or ") + s;
      fail(last_line_, "missing {% " + wanted + " %}");
    }
    return body;
  }

  static StmtPtr stmt(Stmt::Kind kind, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = line;
    return s;
  }

  StmtPtr block(const std::string& keyword, ExprParser& p, int line) {
    const DepthGuard guard(depth_, line);
    std::string end;
    if (keyword == "if") {
      auto s = stmt(Stmt::Kind::If, line);
      ExprPtr cond = p.expression();
      p.expect_end();
      for (;;) {
        Body body = parse_body({"elif", "else", "endif"}, end);
        s->branches.emplace_back(std::move(cond), std::move(body));
        if (end == "endif") break;
        if (end == "elif") {
          cond = stop_parser_->expression();
          stop_parser_->expect_end();
        } else {
          stop_parser_->expect_end();
          Body rest = parse_body({"endif"}, end);
          s->branches.emplace_back(nullptr, std::move(rest));
          break;
        }
      }
      stop_parser_->expect_end();
      return s;
    }
    if (keyword == "for") {
      auto s = stmt(Stmt::Kind::For, line);
      s->targets.push_back(p.expect_name());
      while (p.accept_op(",")) s->targets.push_back(p.expect_name());
      if (!p.accept_name("in")) fail(line, "expected 'in' in for loop");
      s->expr = p.or_expr();
      if (p.accept_name("if")) s->cond = p.or_expr();
      if (p.accept_name("recursive")) fail(line, "recursive for loops are not supported");
      p.expect_end();
      s->body = parse_body({"else", "endfor"}, end);
      if (end == "else") {
        stop_parser_->expect_end();
        s->else_body = parse_body({"endfor"}, end);
      }
      stop_parser_->expect_end();
      return s;
    }
    if (keyword == "set") {
      std::string first = p.expect_name();
      if (p.accept_op(".")) {
        auto s = stmt(Stmt::Kind::Set, line);
        s->targets.push_back(first);
        s->text = p.expect_name();
        p.expect_op("=");
        s->expr = p.expression(true);
        p.expect_end();
        return s;
      }
      std::vector<std::string> targets{first};
      while (p.accept_op(",")) targets.push_back(p.expect_name());
      if (p.at_end()) {
        if (targets.size() != 1) fail(line, "a set block assigns one name");
        auto s = stmt(Stmt::Kind::SetBlock, line);
        s->targets = std::move(targets);
        s->body = parse_body({"endset"}, end);
        stop_parser_->expect_end();
        return s;
      }
      auto s = stmt(Stmt::Kind::Set, line);
      s->targets = std::move(targets);
      p.expect_op("=");
      s->expr = p.expression(true);
      p.expect_end();
      return s;
    }
    if (keyword == "macro") {
      auto s = stmt(Stmt::Kind::Macro, line);
      s->text = p.expect_name();
      p.expect_op("(");
      while (!p.accept_op(")")) {
        std::string name = p.expect_name();
        ExprPtr def = p.accept_op("=") ? p.conditional() : nullptr;
        s->params.emplace_back(std::move(name), std::move(def));
        if (!p.accept_op(",")) {
          p.expect_op(")");
          break;
        }
      }
      p.expect_end();
      s->body = parse_body({"endmacro"}, end);
      return s;
    }
    if (keyword == "break" || keyword == "continue") {
      p.expect_end();
      return stmt(keyword == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, line);
    }
    if (keyword == "raw" || keyword == "generation") {
      p.expect_end();
      auto s = stmt(Stmt::Kind::Block, line);
      s->body = parse_body({keyword == "raw" ? "endraw" : "endgeneration"}, end);
      return s;
    }
    if (keyword.rfind("end", 0) == 0 || keyword == "elif" || keyword == "else") {
      fail(line, "unexpected {% " + keyword + " %}");
    }
    fail(line, "unsupported statement {% " + keyword + " %}");
  }

  std::vector<Segment> s_;
  size_t i_ = 0;
  int last_line_ = 1;
  std::unique_ptr<ExprParser> stop_parser_;
  int depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source) {
  return Parser(segment(source)).parse();
}

}  // namespace pie::chat
