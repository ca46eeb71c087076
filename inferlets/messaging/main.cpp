// Talks with its client: receives messages one at a time and answers each, in order.
#include <charconv>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  uint32_t count = 3;
  if (!args.empty()) {
    const std::string& text = args[0];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end != text.data() + text.size()) {
      return pie::Error{"usage: messaging [count]; '" + text + "' is not a message count"};
    }
  }
  for (uint32_t i = 1; i <= count; ++i) {
    const std::string message = pie::receive().get();
    pie::send("reply " + std::to_string(i) + ": " + message);
  }
  return "answered " + std::to_string(count) + " messages";
}
