#include "backend/chat/chat.h"

namespace pie::chat {

Value chat_context(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  Array list;
  for (const ChatMessage& m : messages) {
    Value message{Object{{"role", Value(m.role)}, {"content", Value(m.content)}}};
    if (m.reasoning_content) message.set("reasoning_content", Value(*m.reasoning_content));
    if (!m.tool_calls.empty()) message.set("tool_calls", Value(Array(m.tool_calls)));
    list.push_back(std::move(message));
  }
  Value context{Object{{"messages", Value(std::move(list))},
                       {"add_generation_prompt", Value(options.add_generation_prompt)},
                       {"bos_token", Value(options.bos_token)},
                       {"eos_token", Value(options.eos_token)},
                       {"tools", Value::none()}}};
  if (options.enable_thinking) context.set("enable_thinking", Value(*options.enable_thinking));
  return context;
}

std::string render_chat(const Template& chat_template, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options) {
  return chat_template.render(chat_context(messages, options));
}

}  // namespace pie::chat
