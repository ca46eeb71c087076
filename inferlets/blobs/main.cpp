// Echoes blobs: receives `count` blobs from its client and sends each one straight back.
#include <charconv>
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  uint32_t count = 1;
  if (!args.empty()) {
    const std::string& text = args[0];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end != text.data() + text.size()) {
      return pie::Error{"usage: blobs [count]; '" + text + "' is not a blob count"};
    }
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    pie::Blob blob = pie::receive_blob().get();
    total += blob.size();
    pie::send_blob(blob);  // moves the bytes out: no copy through the inferlet's memory
  }
  return "echoed " + std::to_string(count) + " blobs, " + std::to_string(total) + " bytes";
}
