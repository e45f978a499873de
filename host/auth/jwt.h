// Management API access tokens: compact JWS, HS256 only, signed with JWT_SECRET.
// Claims: sub, org_id, role, iat, exp (seconds since the epoch).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "host/auth/roles.h"

namespace signal_host {

struct Claims {
  std::string sub;  // user id
  std::string org_id;
  Role role = Role::kViewer;
  int64_t iat = 0;  // issued at
  int64_t exp = 0;  // expires at; the token is refused from this second on
};

// Longer tokens are refused before any decoding.
inline constexpr size_t kMaxTokenBytes = 8 * 1024;

// Why VerifyToken refused a token. Every refusal is absl::StatusCode::kUnauthenticated
// and carries one of these (read it with TokenErrorOf).
enum class TokenError {
  kMalformed,     // not three base64url segments of JSON objects, too large, bad claim types
  kBadAlgorithm,  // alg is not HS256 ("none" included), or an unsupported "crit" header
  kBadSignature,
  kExpired,
  kNotYetValid,  // nbf in the future
  kUnknownRole,
  kMissingClaim,  // sub, org_id, role or exp absent or empty
};

// The error code of Signal's envelope: EXPIRED_TOKEN for kExpired, else INVALID_TOKEN.
std::string_view TokenErrorCode(TokenError error);
// The TokenError of a status returned by VerifyToken; nullopt for any other status.
std::optional<TokenError> TokenErrorOf(const absl::Status& status);

// Fails only for an empty secret.
absl::StatusOr<std::string> SignToken(const Claims& claims, std::string_view secret);

// Checks size, structure, alg, signature (constant time), then claims, in that order.
// An empty secret is FailedPrecondition (a configuration bug, not a bad token).
absl::StatusOr<Claims> VerifyToken(std::string_view token, std::string_view secret, absl::Time now);

// The token of an "Authorization: Bearer <token>" header value (scheme matched
// case-insensitively); nullopt when the header has another shape.
std::optional<std::string_view> BearerToken(std::string_view authorization);

}  // namespace signal_host
