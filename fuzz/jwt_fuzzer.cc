// Fuzz target: Management API tokens (host/auth/jwt.h).
//
// The input is used three ways:
//   1. as an Authorization header value: BearerToken, then VerifyToken on what it gives,
//      and VerifyToken on the whole input as a token;
//   2. re-signed: its first two dot-separated segments get the signature the secret gives
//      them, so the claim checks behind the signature check are reached as well; and when
//      it holds a newline, as "header JSON\npayload JSON", encoded and signed, so that
//      mutations work on the JSON rather than on its base64;
//   3. when it is UTF-8, as the subject of claims that SignToken signs.
//
// Invariants: never crashes; every refusal is Unauthenticated and names a TokenError; an
// accepted token has a UTF-8 subject and org, a known role and an expiry after now; a
// re-signed token is never refused for its signature; what SignToken signs verifies to
// the same claims.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "fuzz_check.h"
#include "host/auth/jwt.h"
#include "host/crypto/encoding.h"
#include "host/crypto/hmac.h"

namespace {

using signal_host::Claims;
using signal_host::TokenError;

constexpr std::string_view kSecret = "fuzz-jwt-secret";  // corpus/jwt/ is signed with it
const absl::Time kNow = absl::FromUnixSeconds(1772029800);

std::string Shown(std::string_view token) { return std::string(token.substr(0, 300)); }

std::optional<TokenError> Verify(std::string_view token) {
  const absl::StatusOr<Claims> claims = signal_host::VerifyToken(token, kSecret, kNow);
  if (claims.ok()) {
    FUZZ_CHECK(!claims->sub.empty() && !claims->org_id.empty(), Shown(token));
    // Both reach API responses (a revision's created_by) and logs.
    FUZZ_CHECK(signal_fuzz::IsValidUtf8(claims->sub) && signal_fuzz::IsValidUtf8(claims->org_id),
               Shown(token));
    FUZZ_CHECK(claims->exp > absl::ToUnixSeconds(kNow), Shown(token));
    FUZZ_CHECK(signal_host::ParseRole(signal_host::RoleName(claims->role)) == claims->role,
               Shown(token));
    return std::nullopt;
  }
  FUZZ_CHECK(claims.status().code() == absl::StatusCode::kUnauthenticated,
             claims.status().ToString());
  const std::optional<TokenError> error = signal_host::TokenErrorOf(claims.status());
  FUZZ_CHECK(error.has_value(), claims.status().ToString());
  return error;
}

void VerifySigned(std::string_view signing_input) {
  const std::string token =
      std::string(signing_input) + "." +
      signal_host::Base64UrlEncode(signal_host::HmacSha256(kSecret, signing_input));
  const std::optional<TokenError> error = Verify(token);
  FUZZ_CHECK(error != TokenError::kBadSignature, Shown(token));
}

void Resigned(std::string_view input) {
  if (const size_t first_dot = input.find('.'); first_dot != std::string_view::npos) {
    VerifySigned(input.substr(0, input.find('.', first_dot + 1)));
  }
  if (const size_t newline = input.find('\n'); newline != std::string_view::npos) {
    VerifySigned(signal_host::Base64UrlEncode(input.substr(0, newline)) + "." +
                 signal_host::Base64UrlEncode(input.substr(newline + 1)));
  }
}

// At most `max_bytes` of UTF-8 `text`, cut before a character rather than inside one.
std::string_view Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  while (max_bytes > 0 && (static_cast<unsigned char>(text[max_bytes]) & 0xC0) == 0x80) {
    --max_bytes;
  }
  return text.substr(0, max_bytes);
}

void RoundTrip(std::string_view input) {
  if (input.empty() || !signal_fuzz::IsValidUtf8(input)) return;
  Claims claims;
  claims.sub = std::string(Prefix(input, 200));
  claims.org_id = "org_" + std::string(Prefix(input, 40));
  claims.role = static_cast<signal_host::Role>(input.size() % 4);
  claims.iat = absl::ToUnixSeconds(kNow) - static_cast<int64_t>(input.size());
  claims.exp = absl::ToUnixSeconds(kNow) + 3600;
  const absl::StatusOr<std::string> token = signal_host::SignToken(claims, kSecret);
  FUZZ_CHECK(token.ok(), token.status().ToString());
  const absl::StatusOr<Claims> verified = signal_host::VerifyToken(*token, kSecret, kNow);
  FUZZ_CHECK(verified.ok(), verified.status().ToString() + " for " + Shown(*token));
  FUZZ_CHECK(verified->sub == claims.sub && verified->org_id == claims.org_id &&
                 verified->role == claims.role && verified->iat == claims.iat &&
                 verified->exp == claims.exp,
             Shown(*token));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = signal_fuzz::AsText(data, size);
  if (const std::optional<std::string_view> token = signal_host::BearerToken(input)) {
    FUZZ_CHECK(!token->empty() && token->find_first_of(" \t") == std::string_view::npos,
               Shown(*token));
    Verify(*token);
  }
  Verify(input);
  Resigned(input);
  RoundTrip(input);
  return 0;
}
