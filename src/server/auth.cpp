#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <nlohmann/json.hpp>
#include <optional>

namespace pie::server {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, as in the canonical encoding.
  if ((acc & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string mint_token(std::string_view secret, std::string_view sub, std::string_view role,
                       std::chrono::system_clock::time_point now, std::chrono::seconds lifetime) {
  // Key order as Pie's jsonwebtoken writes it, so equal inputs give byte-identical tokens.
  const nlohmann::ordered_json header = {{"typ", "JWT"}, {"alg", "HS256"}};
  const nlohmann::ordered_json claims = {
      {"sub", sub}, {"role", role}, {"exp", unix_seconds(now) + lifetime.count()}};
  std::string signing_input =
      base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  const std::string signature = base64url_encode(hmac_sha256(secret, signing_input));
  return signing_input + "." + signature;
}

Result<TokenClaims> verify_token(std::string_view secret, std::string_view token,
                                 std::chrono::system_clock::time_point now) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Error("token is not three dot-separated parts");
  }
  const auto header_json = base64url_decode(token.substr(0, dot1));
  const auto claims_json = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_json || !claims_json || !signature) return Error("token is not valid base64url");

  const auto header = nlohmann::json::parse(*header_json, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || header["alg"] != "HS256") {
    return Error("token header does not name algorithm HS256");
  }
  const std::string expected = hmac_sha256(secret, token.substr(0, dot2));
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return Error("token signature does not match");
  }

  const auto claims = nlohmann::json::parse(*claims_json, nullptr, false);
  if (!claims.is_object()) return Error("token claims are not a JSON object");
  const auto sub = claims.find("sub");
  const auto role = claims.find("role");
  const auto exp = claims.find("exp");
  if (sub == claims.end() || !sub->is_string()) return Error("token has no 'sub' claim");
  if (role == claims.end() || !(*role == "User" || *role == "Admin")) {
    return Error("token 'role' claim is not User or Admin");
  }
  if (exp == claims.end() || !exp->is_number_unsigned()) return Error("token has no 'exp' claim");
  const auto exp_value = exp->get<uint64_t>();
  if (exp_value > static_cast<uint64_t>(INT64_MAX))
    return Error("token 'exp' claim is out of range");
  TokenClaims out{sub->get<std::string>(), role->get<std::string>(),
                  static_cast<int64_t>(exp_value)};
  if (out.exp < unix_seconds(now) - kTokenLeeway.count()) return Error("token has expired");
  return out;
}

std::string random_secret() {
  static constexpr std::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < 32) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw Error("no randomness available for a secret");
    for (const unsigned char b : bytes) {
      // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
      if (b < 248 && out.size() < 32) out.push_back(kChars[b % kChars.size()]);
    }
  }
  return out;
}

}  // namespace pie::server
