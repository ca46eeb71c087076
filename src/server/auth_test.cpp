#include "server/auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pie::server {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point kNow{seconds(1'700'000'000)};

// Made independently with Python's hmac/base64/json for sub "default", exp 4102444800.
constexpr const char* kPythonToken =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
    "eyJzdWIiOiJkZWZhdWx0Iiwicm9sZSI6IlVzZXIiLCJleHAiOjQxMDI0NDQ4MDB9."
    "kdnZ66wEj1M3mhljUdyhZZlmwykZTsVIS8-eVlDj7j0";

TEST(Auth, MintsTheSameBytesAsAnIndependentImplementation) {
  const system_clock::time_point now{seconds(4102444800 - kTokenLifetime.count())};
  EXPECT_EQ(mint_token("pie-secret", "default", "User", now), kPythonToken);
  const auto claims = verify_token("pie-secret", kPythonToken, kNow);
  ASSERT_TRUE(claims.ok()) << claims.error().what();
  EXPECT_EQ(claims.value().sub, "default");
  EXPECT_EQ(claims.value().role, "User");
  EXPECT_EQ(claims.value().exp, 4102444800);
}

TEST(Auth, RoundTripsAndHonoursTheLeeway) {
  const std::string token = mint_token("s3cret", "backend-service", "Admin", kNow, seconds(100));
  EXPECT_EQ(verify_token("s3cret", token, kNow).value().sub, "backend-service");
  EXPECT_EQ(verify_token("s3cret", token, kNow).value().role, "Admin");
  EXPECT_TRUE(verify_token("s3cret", token, kNow + seconds(160)).ok());
  const auto expired = verify_token("s3cret", token, kNow + seconds(161));
  ASSERT_FALSE(expired.ok());
  EXPECT_STREQ(expired.error().what(), "token has expired");
}

TEST(Auth, RejectsWrongSecretAndTampering) {
  const std::string token = mint_token("s3cret", "alice", "User", kNow);
  EXPECT_STREQ(verify_token("other", token, kNow).error().what(), "token signature does not match");
  // Swap the claims for Mallory's while keeping Alice's signature.
  const std::string mallory = mint_token("s3cret", "mallory", "User", kNow);
  const size_t a1 = token.find('.'), a2 = token.rfind('.');
  const size_t m1 = mallory.find('.'), m2 = mallory.rfind('.');
  const std::string forged = token.substr(0, a1) + mallory.substr(m1, m2 - m1) + token.substr(a2);
  EXPECT_FALSE(verify_token("s3cret", forged, kNow).ok());
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_token("s3cret", flipped, kNow).ok());
}

TEST(Auth, RejectsMalformedTokens) {
  for (const char* bad : {"", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", "...",
                          "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}) {
    EXPECT_FALSE(verify_token("s", bad, kNow).ok()) << bad;
  }
}

std::string b64url(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : s) {
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

// A correctly signed token with arbitrary header and claims, to check claim validation alone.
std::string signed_token(std::string_view header, std::string_view claims) {
  const std::string input = b64url(header) + "." + b64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), "k", 1, reinterpret_cast<const unsigned char*>(input.data()), input.size(),
       mac, &len);
  return input + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

TEST(Auth, ValidatesHeaderAndClaims) {
  const std::string hs = R"({"typ":"JWT","alg":"HS256"})";
  EXPECT_TRUE(
      verify_token("k", signed_token(hs, R"({"sub":"a","role":"User","exp":4102444800})"), kNow)
          .ok());
  // Extra claims are ignored.
  EXPECT_TRUE(verify_token("k",
                           signed_token(hs, R"({"sub":"a","role":"Admin","exp":4102444800,"x":1})"),
                           kNow)
                  .ok());
  const std::pair<const char*, const char*> bad[] = {
      {R"({"alg":"none"})", "token header does not name algorithm HS256"},
      {R"({"alg":"HS512"})", "token header does not name algorithm HS256"},
      {R"([1,2])", "token header does not name algorithm HS256"},
  };
  for (const auto& [header, why] : bad) {
    EXPECT_STREQ(
        verify_token("k", signed_token(header, R"({"sub":"a","role":"User","exp":4102444800})"),
                     kNow)
            .error()
            .what(),
        why);
  }
  const std::pair<const char*, const char*> bad_claims[] = {
      {R"({"role":"User","exp":4102444800})", "token has no 'sub' claim"},
      {R"({"sub":7,"role":"User","exp":4102444800})", "token has no 'sub' claim"},
      {R"({"sub":"a","exp":4102444800})", "token 'role' claim is not User or Admin"},
      {R"({"sub":"a","role":"Root","exp":4102444800})", "token 'role' claim is not User or Admin"},
      {R"({"sub":"a","role":"User"})", "token has no 'exp' claim"},
      {R"({"sub":"a","role":"User","exp":4.1e9})", "token has no 'exp' claim"},
      {R"({"sub":"a","role":"User","exp":-5})", "token has no 'exp' claim"},
      {R"({"sub":"a","role":"User","exp":100})", "token has expired"},
      {R"(not json)", "token claims are not a JSON object"},
  };
  for (const auto& [claims, why] : bad_claims) {
    EXPECT_STREQ(verify_token("k", signed_token(hs, claims), kNow).error().what(), why) << claims;
  }
}

TEST(Auth, RandomSecretsAreAlphanumericAndDistinct) {
  const std::string a = random_secret();
  const std::string b = random_secret();
  EXPECT_EQ(a.size(), 32U);
  EXPECT_NE(a, b);
  for (const char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
}

}  // namespace
}  // namespace pie::server
