// GPT-2's byte-to-unicode table: byte-level vocabularies store each byte as a printable character
// (printable Latin-1 bytes as themselves, the other 68 as U+0100 onwards in increasing byte order).
#pragma once

#include <string>
#include <string_view>

namespace pie::tokenizer {

// The UTF-8 text of the character standing for `byte`.
const std::string& escape_byte(unsigned char byte);
// Each byte of `bytes` as its character.
std::string escape_bytes(std::string_view bytes);
// The bytes an escaped string stands for. Characters outside the table (as in added tokens) are
// kept as their UTF-8 bytes.
std::string unescape_bytes(std::string_view text);

}  // namespace pie::tokenizer
