#include "host/auth/jwt.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "host/crypto/encoding.h"
#include "host/crypto/hmac.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "simdjson.h"

namespace signal_host {
namespace {

constexpr char kTokenErrorPayload[] = "type.signal.dev/signal_host.TokenError";
// The header every token we sign carries, pre-encoded.
constexpr char kHeaderJson[] = R"({"alg":"HS256","typ":"JWT"})";

absl::Status Refuse(TokenError error, absl::string_view message) {
  absl::Status status = absl::UnauthenticatedError(message);
  status.SetPayload(kTokenErrorPayload, absl::Cord(std::to_string(static_cast<int>(error))));
  return status;
}

// Iterative parsing: nesting depth cannot exhaust the stack.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

bool ParseObject(std::string_view json, rapidjson::Document& doc) {
  doc.Parse<kParseFlags>(json.data(), json.size());
  return !doc.HasParseError() && doc.IsObject();
}

// Reads a NumericDate claim; false when present with a non-numeric type.
bool ReadTime(const rapidjson::Document& doc, const char* name, std::optional<int64_t>& out) {
  auto it = doc.FindMember(name);
  if (it == doc.MemberEnd()) return true;
  const rapidjson::Value& v = it->value;
  if (v.IsInt64()) {
    out = v.GetInt64();
    return true;
  }
  if (v.IsDouble() && std::isfinite(v.GetDouble()) && std::fabs(v.GetDouble()) < 9e15) {
    out = static_cast<int64_t>(std::floor(v.GetDouble()));
    return true;
  }
  return false;
}

// Reads a string claim; false when present with another type, or when it decodes to
// text that is not UTF-8: RapidJSON turns a lone surrogate escape ("\udc00") into such
// bytes, and the claims reach logs and API responses (a revision's created_by).
bool ReadString(const rapidjson::Document& doc, const char* name, std::string& out) {
  auto it = doc.FindMember(name);
  if (it == doc.MemberEnd()) return true;
  if (!it->value.IsString()) return false;
  if (!simdjson::validate_utf8(it->value.GetString(), it->value.GetStringLength())) return false;
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return true;
}

}  // namespace

std::string_view TokenErrorCode(TokenError error) {
  return error == TokenError::kExpired ? "EXPIRED_TOKEN" : "INVALID_TOKEN";
}

std::optional<TokenError> TokenErrorOf(const absl::Status& status) {
  auto payload = status.GetPayload(kTokenErrorPayload);
  if (!payload.has_value()) return std::nullopt;
  int value = -1;
  if (!absl::SimpleAtoi(std::string(*payload), &value) || value < 0 ||
      value > static_cast<int>(TokenError::kMissingClaim)) {
    return std::nullopt;
  }
  return static_cast<TokenError>(value);
}

absl::StatusOr<std::string> SignToken(const Claims& claims, std::string_view secret) {
  if (secret.empty()) return absl::FailedPreconditionError("JWT_SECRET is empty");
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("sub");
  writer.String(claims.sub.data(), static_cast<rapidjson::SizeType>(claims.sub.size()));
  writer.Key("org_id");
  writer.String(claims.org_id.data(), static_cast<rapidjson::SizeType>(claims.org_id.size()));
  std::string_view role = RoleName(claims.role);
  writer.Key("role");
  writer.String(role.data(), static_cast<rapidjson::SizeType>(role.size()));
  writer.Key("iat");
  writer.Int64(claims.iat);
  writer.Key("exp");
  writer.Int64(claims.exp);
  writer.EndObject();

  std::string token = absl::StrCat(Base64UrlEncode(kHeaderJson), ".",
                                   Base64UrlEncode({buffer.GetString(), buffer.GetSize()}));
  std::string signature = HmacSha256(secret, token);
  absl::StrAppend(&token, ".", Base64UrlEncode(signature));
  return token;
}

absl::StatusOr<Claims> VerifyToken(std::string_view token, std::string_view secret,
                                   absl::Time now) {
  if (secret.empty()) return absl::FailedPreconditionError("JWT_SECRET is empty");
  if (token.empty()) return Refuse(TokenError::kMalformed, "the token is empty");
  if (token.size() > kMaxTokenBytes) {
    return Refuse(TokenError::kMalformed,
                  absl::StrCat("the token is larger than ", kMaxTokenBytes, " bytes"));
  }
  size_t first_dot = token.find('.');
  size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return Refuse(TokenError::kMalformed, "the token is not three dot-separated segments");
  }
  std::string_view header_b64 = token.substr(0, first_dot);
  std::string_view payload_b64 = token.substr(first_dot + 1, second_dot - first_dot - 1);
  std::string_view signature_b64 = token.substr(second_dot + 1);

  std::optional<std::string> header_json = Base64UrlDecode(header_b64);
  rapidjson::Document header;
  if (!header_json.has_value() || !ParseObject(*header_json, header)) {
    return Refuse(TokenError::kMalformed, "the token header is not base64url JSON object");
  }
  auto alg = header.FindMember("alg");
  if (alg == header.MemberEnd() || !alg->value.IsString()) {
    return Refuse(TokenError::kBadAlgorithm, "the token header names no algorithm");
  }
  if (std::string_view(alg->value.GetString(), alg->value.GetStringLength()) != "HS256") {
    return Refuse(TokenError::kBadAlgorithm, "only HS256 tokens are accepted");
  }
  if (header.HasMember("crit")) {
    return Refuse(TokenError::kBadAlgorithm, "the token header has critical extensions");
  }

  std::optional<std::string> signature = Base64UrlDecode(signature_b64);
  if (!signature.has_value()) {
    return Refuse(TokenError::kMalformed, "the token signature is not base64url");
  }
  std::string expected = HmacSha256(secret, token.substr(0, second_dot));
  if (expected.size() != kHmacSha256Bytes || !ConstantTimeEquals(*signature, expected)) {
    return Refuse(TokenError::kBadSignature, "the token signature does not match");
  }

  std::optional<std::string> payload_json = Base64UrlDecode(payload_b64);
  rapidjson::Document payload;
  if (!payload_json.has_value() || !ParseObject(*payload_json, payload)) {
    return Refuse(TokenError::kMalformed, "the token payload is not a base64url JSON object");
  }
  Claims claims;
  std::string role_name;
  std::optional<int64_t> iat, exp, nbf;
  if (!ReadString(payload, "sub", claims.sub) || !ReadString(payload, "org_id", claims.org_id) ||
      !ReadString(payload, "role", role_name) || !ReadTime(payload, "iat", iat) ||
      !ReadTime(payload, "exp", exp) || !ReadTime(payload, "nbf", nbf)) {
    return Refuse(TokenError::kMalformed, "a token claim has the wrong type or is not UTF-8");
  }
  if (claims.sub.empty() || claims.org_id.empty() || role_name.empty() || !exp.has_value()) {
    return Refuse(TokenError::kMissingClaim, "the token lacks sub, org_id, role or exp");
  }
  const int64_t now_seconds = absl::ToUnixSeconds(now);
  if (now_seconds >= *exp) return Refuse(TokenError::kExpired, "the token has expired");
  if (nbf.has_value() && now_seconds < *nbf) {
    return Refuse(TokenError::kNotYetValid, "the token is not valid yet");
  }
  std::optional<Role> role = ParseRole(role_name);
  if (!role.has_value()) return Refuse(TokenError::kUnknownRole, "the token's role is unknown");
  claims.role = *role;
  claims.iat = iat.value_or(0);
  claims.exp = *exp;
  return claims;
}

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!authorization.empty() && is_space(authorization.front())) authorization.remove_prefix(1);
  while (!authorization.empty() && is_space(authorization.back())) authorization.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || !is_space(authorization[kScheme.size()])) {
    return std::nullopt;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) {
      return std::nullopt;
    }
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && is_space(token.front())) token.remove_prefix(1);
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return token;
}

}  // namespace signal_host
