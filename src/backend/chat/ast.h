// The parsed form of a chat template (internal to the chat module).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/chat/value.h"

namespace pie::chat {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // literal
    Name,     // name
    Attr,     // args[0].name
    Item,     // args[0][args[1]]
    Slice,    // args[0][args[1]:args[2]:args[3]] (null parts allowed)
    Call,     // args[0](args[1..], kwargs)
    Filter,   // args[0] | name(args[1..], kwargs)
    Test,     // args[0] is [not] name(args[1..])
    Unary,    // op args[0]: "-", "+"
    Binary,   // args[0] op args[1]: + - * / // % ** ~ == != < <= > >= in notin
    And,
    Or,
    Not,
    Cond,  // args[0] if args[1] else args[2] (args[2] may be null)
    List,
    Tuple,
    Dict,  // args: key0, value0, key1, value1, ...
  };
  Kind kind;
  int line = 0;
  Value literal;
  std::string name;  // Name, Attr, Filter, Test; the operator of Unary / Binary
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    Text,      // text
    Output,    // {{ expr }}
    If,        // branches (null condition = else)
    For,       // for targets in expr [if cond]: body [else else_body]
    Set,       // set targets = expr, or set targets[0].attr = expr
    SetBlock,  // set targets[0] %} body {% endset
    Macro,     // macro name(params): body
    Break,
    Continue,
    Block,  // body rendered as is (generation blocks)
  };
  Kind kind;
  int line = 0;
  std::string text;  // Text; Set: attribute name; Macro: its name
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::string> targets;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and defaults
};

}  // namespace pie::chat
