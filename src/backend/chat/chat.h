// Rendering a conversation with a model's chat template, with the variables Hugging Face passes:
// messages, add_generation_prompt, bos_token, eos_token, tools (none), enable_thinking.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend/chat/template.h"
#include "backend/chat/value.h"

namespace pie::chat {

struct ChatMessage {
  std::string role;  // system, user, assistant, tool
  std::string content;
  std::optional<std::string> reasoning_content;  // assistant thinking (Qwen3)
  // Assistant tool calls, each {"name": ..., "arguments": {...}} (or wrapped in "function").
  std::vector<Value> tool_calls;
};

struct ChatOptions {
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  std::optional<bool> enable_thinking;  // passed only when set
};

// The template's variables for a conversation (a dict Template::render accepts).
Value chat_context(const std::vector<ChatMessage>& messages, const ChatOptions& options);

// Renders the conversation; throws pie::Error for template errors (raise_exception included).
std::string render_chat(const Template& chat_template, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options);

}  // namespace pie::chat
