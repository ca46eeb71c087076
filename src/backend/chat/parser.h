// Chat template source -> statements (internal to the chat module).
#pragma once

#include <string_view>

#include "backend/chat/ast.h"

namespace pie::chat {

// Throws pie::Error naming the line and construct for what it cannot parse.
Body parse_template(std::string_view source);

}  // namespace pie::chat
