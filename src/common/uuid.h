// UUIDs as Pie uses them for instance ids: v4, written lowercase and hyphenated.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pie {

// A fresh random (version 4) UUID, e.g. "0b6e1c3a-7f1d-4a52-9c4e-2f0a8d6b1e97".
std::string random_uuid_v4();

// The lowercase hyphenated form of `text` when it is a UUID in any form Pie's server accepts
// (hyphenated, 32 plain hex digits, {braced} or urn:uuid:, any case); nullopt otherwise.
std::optional<std::string> canonical_uuid(std::string_view text);

}  // namespace pie
