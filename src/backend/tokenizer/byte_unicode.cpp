#include "backend/tokenizer/byte_unicode.h"

#include <algorithm>
#include <array>

#include "backend/tokenizer/encoder.h"

namespace pie::tokenizer {
namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

struct Table {
  std::array<std::string, 256> escape;
  std::array<int, 0x200> unescape{};  // code point -> byte, -1 when not in the table
  Table() {
    unescape.fill(-1);
    uint32_t next = 0x100;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : next++;
      escape[b] = utf8(cp);
      unescape[cp] = static_cast<int>(b);
    }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

const std::string& escape_byte(unsigned char byte) {
  return table().escape[byte];
}

std::string escape_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += table().escape[b];
  return out;
}

std::string unescape_bytes(std::string_view text) {
  const Table& t = table();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t len = utf8_char_length(text, i);
    uint32_t cp = 0x200;  // outside the table unless decoded below
    if (len == 1) {
      cp = lead;
    } else if (len == 2) {
      cp = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
    }
    if (cp < t.unescape.size() && t.unescape[cp] >= 0) {
      out += static_cast<char>(t.unescape[cp]);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace pie::tokenizer
