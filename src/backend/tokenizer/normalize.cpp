#include "backend/tokenizer/normalize.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>

namespace pie::tokenizer {
namespace {

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c = 0;
    U8_NEXT(p, i, n, c);
    if (c < 0) return false;
  }
  return true;
}

}  // namespace

bool to_nfc(std::string_view text, std::string& out) {
  // ASCII is always NFC: the common case costs one scan.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return false;
  }
  if (text.size() > static_cast<size_t>(INT32_MAX) || !valid_utf8(text)) return false;
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return false;
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (nfc->isNormalized(u, status) || U_FAILURE(status)) return false;
  const icu::UnicodeString normalised = nfc->normalize(u, status);
  if (U_FAILURE(status)) return false;
  out.clear();
  normalised.toUTF8String(out);
  return true;
}

}  // namespace pie::tokenizer
