// Chat templates: a Jinja subset large enough for the templates Llama 3, Qwen2/2.5/3 and Mistral
// models ship (in tokenizer_config.json or GGUF's tokenizer.chat_template). Parsed once, rendered
// many times; rendering is const and thread-safe.
//
// Supported: {{ }}, {% %}, {# #}, whitespace control (-, +) with Hugging Face's trim_blocks and
// lstrip_blocks; if/elif/else, for (tuple targets, loop.*, else, inline if filter), set (names,
// tuples, namespace attributes, blocks), macros, break/continue, raw, generation blocks; the
// expression grammar (conditional expressions, and/or/not, comparisons, in, is-tests, ~, + - * / //
// % **, unary minus, literals, lists, dicts, tuples, attributes, subscripts, slices, calls,
// filters); the filters, tests, globals and string / list / dict methods listed in chat/README.md.
// Anything else is rejected with pie::Error naming the construct and its line.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "backend/chat/value.h"

namespace pie::chat {

struct TemplateNode;

class Template {
 public:
  // Parses `source`; throws pie::Error ("chat template line 3: unknown filter 'xmlattr'") for
  // syntax errors and unsupported constructs.
  explicit Template(std::string_view source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the variables of `context` (a dict). Throws pie::Error for runtime errors,
  // including the template's own raise_exception(message).
  std::string render(const Value& context) const;

 private:
  std::unique_ptr<TemplateNode> root_;
};

}  // namespace pie::chat
