// Unicode normalisation (ICU), for vocabularies whose tokenizer normalises text first.
#pragma once

#include <string>
#include <string_view>

namespace pie::tokenizer {

// Writes the NFC form of `text` into `out` and returns true when it differs from `text`; returns
// false (leaving `out` alone) when the text is already NFC or is not valid UTF-8.
bool to_nfc(std::string_view text, std::string& out);

}  // namespace pie::tokenizer
