// JSON Web Tokens as Pie uses them (reference §3.6): HS256 keyed with the UTF-8 bytes of the
// engine's secret, claims {sub, role, exp}, validated with 60 s of leeway on `exp`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace pie::server {

struct TokenClaims {
  std::string sub;
  std::string role;  // "User" or "Admin" (not checked by any request)
  int64_t exp = 0;   // Unix seconds
};

inline constexpr std::chrono::seconds kTokenLifetime{365LL * 24 * 3600};
inline constexpr std::chrono::seconds kTokenLeeway{60};

// A token for `sub` that expires `lifetime` from `now` (what `pie token` and the CLI hand out).
std::string mint_token(std::string_view secret, std::string_view sub,
                       std::string_view role = "User",
                       std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                       std::chrono::seconds lifetime = kTokenLifetime);

// The claims of a valid token, or the reason it is not (bad form, algorithm, signature, claims,
// expired).
Result<TokenClaims> verify_token(
    std::string_view secret, std::string_view token,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// A fresh random secret of 32 alphanumeric characters, for when none is configured.
std::string random_secret();

}  // namespace pie::server
