// The reply of plain-completion as a host reads it: lines "passes <n>", "tokens <id>...", one
// "top <id>:<p>..." per generated token when asked for, and "text <the text>" last (it may span
// lines). Used by its test and by bench/catalogue_bench.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace pie {

struct PlainReply {
  uint32_t passes = 0;
  std::vector<uint32_t> tokens;
  std::vector<std::vector<std::pair<uint32_t, float>>> tops;  // (token, probability)
  std::string text;
};

inline PlainReply parse_plain_reply(const std::string& reply) {
  PlainReply r;
  std::istringstream in(reply);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "passes") {
      words >> r.passes;
    } else if (key == "tokens") {
      for (uint32_t id = 0; words >> id;) r.tokens.push_back(id);
    } else if (key == "top") {
      auto& top = r.tops.emplace_back();
      for (std::string entry; words >> entry;) {
        const size_t colon = entry.find(':');
        top.emplace_back(std::stoul(entry.substr(0, colon)), std::stof(entry.substr(colon + 1)));
      }
    } else if (key == "text") {
      r.text = reply.substr(reply.find("\ntext ") + 6);
      break;
    }
  }
  return r;
}

}  // namespace pie
