// JWT HS256 signing and verification, roles and the per-user rate limiter.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "host/auth/jwt.h"
#include "host/auth/rate_limiter.h"
#include "host/auth/roles.h"
#include "host/crypto/encoding.h"
#include "host/crypto/hmac.h"

namespace signal_host {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

constexpr char kSecret[] = "a-test-secret-of-at-least-thirty-two-chars";
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

Claims TestClaims(Role role = Role::kEditor) {
  Claims claims;
  claims.sub = "usr_42";
  claims.org_id = "org_default";
  claims.role = role;
  claims.iat = absl::ToUnixSeconds(kNow) - 10;
  claims.exp = absl::ToUnixSeconds(kNow) + 900;
  return claims;
}

std::string Sign(const Claims& claims, const char* secret = kSecret) {
  absl::StatusOr<std::string> token = SignToken(claims, secret);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : std::string();
}

// A token with arbitrary header and payload JSON, correctly signed with kSecret.
std::string Forge(const std::string& header_json, const std::string& payload_json) {
  std::string signing_input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload_json);
  return signing_input + "." + Base64UrlEncode(HmacSha256(kSecret, signing_input));
}

constexpr char kHs256Header[] = R"({"alg":"HS256","typ":"JWT"})";
const std::string kGoodPayload =
    R"({"sub":"usr_1","org_id":"org_1","role":"admin","iat":1699999000,"exp":1700000900})";

void ExpectRefused(const absl::StatusOr<Claims>& result, TokenError error) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  EXPECT_THAT(TokenErrorOf(result.status()), Optional(error)) << result.status();
}

TEST(JwtTest, SignAndVerifyRoundTrip) {
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kEditor, Role::kViewer}) {
    Claims claims = TestClaims(role);
    std::string token = Sign(claims);
    EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
    absl::StatusOr<Claims> verified = VerifyToken(token, kSecret, kNow);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ(verified->sub, claims.sub);
    EXPECT_EQ(verified->org_id, claims.org_id);
    EXPECT_EQ(verified->role, role);
    EXPECT_EQ(verified->iat, claims.iat);
    EXPECT_EQ(verified->exp, claims.exp);
  }
}

TEST(JwtTest, HeaderIsStandardHs256) {
  std::string token = Sign(TestClaims());
  std::optional<std::string> header = Base64UrlDecode(token.substr(0, token.find('.')));
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(*header, kHs256Header);
}

TEST(JwtTest, ClaimsWithQuotesAndUnicodeSurvive) {
  Claims claims = TestClaims();
  claims.sub = "usr_\"quoted\"\\é\n";
  absl::StatusOr<Claims> verified = VerifyToken(Sign(claims), kSecret, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->sub, claims.sub);
}

TEST(JwtTest, ExpiredTokenIsExpiredToken) {
  Claims claims = TestClaims();
  claims.exp = absl::ToUnixSeconds(kNow);  // expires exactly now
  absl::StatusOr<Claims> result = VerifyToken(Sign(claims), kSecret, kNow);
  ExpectRefused(result, TokenError::kExpired);
  EXPECT_EQ(TokenErrorCode(TokenError::kExpired), "EXPIRED_TOKEN");
  // One second earlier it was still valid.
  EXPECT_TRUE(VerifyToken(Sign(claims), kSecret, kNow - absl::Seconds(1)).ok());
}

TEST(JwtTest, IssuedInTheFutureIsAccepted) {
  Claims claims = TestClaims();
  claims.iat = absl::ToUnixSeconds(kNow) + 300;  // clock skew on the issuer
  EXPECT_TRUE(VerifyToken(Sign(claims), kSecret, kNow).ok());
}

TEST(JwtTest, NotBeforeInTheFutureIsRefused) {
  std::string token =
      Forge(kHs256Header, R"({"sub":"u","org_id":"o","role":"viewer","exp":1700000900,)"
                          R"("nbf":1700000100})");
  ExpectRefused(VerifyToken(token, kSecret, kNow), TokenError::kNotYetValid);
  EXPECT_TRUE(VerifyToken(token, kSecret, absl::FromUnixSeconds(1700000100)).ok());
}

TEST(JwtTest, BadSignatureIsInvalidToken) {
  std::string token = Sign(TestClaims());
  ExpectRefused(VerifyToken(token, "another-secret-entirely-different!!", kNow),
                TokenError::kBadSignature);
  // A changed payload under the old signature.
  Claims admin = TestClaims(Role::kOwner);
  std::string other = Sign(admin);
  std::string spliced = token.substr(0, token.find('.')) +
                        other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                        token.substr(token.rfind('.'));
  ExpectRefused(VerifyToken(spliced, kSecret, kNow), TokenError::kBadSignature);
  // Truncated and empty signatures.
  ExpectRefused(VerifyToken(token.substr(0, token.size() - 3), kSecret, kNow),
                TokenError::kBadSignature);
  ExpectRefused(VerifyToken(token.substr(0, token.rfind('.') + 1), kSecret, kNow),
                TokenError::kBadSignature);
  EXPECT_EQ(TokenErrorCode(TokenError::kBadSignature), "INVALID_TOKEN");
}

TEST(JwtTest, AlgorithmOtherThanHs256IsRefused) {
  // alg none with an empty signature: the classic bypass.
  std::string none =
      Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + Base64UrlEncode(kGoodPayload) + ".";
  ExpectRefused(VerifyToken(none, kSecret, kNow), TokenError::kBadAlgorithm);
  for (const char* header :
       {R"({"alg":"None"})", R"({"alg":"HS512"})", R"({"alg":"RS256"})", R"({"alg":"hs256"})",
        R"({"typ":"JWT"})", R"({"alg":256})", R"({"alg":"HS256","crit":["exp"]})"}) {
    ExpectRefused(VerifyToken(Forge(header, kGoodPayload), kSecret, kNow),
                  TokenError::kBadAlgorithm);
  }
  EXPECT_TRUE(VerifyToken(Forge(kHs256Header, kGoodPayload), kSecret, kNow).ok());
}

TEST(JwtTest, MalformedTokensAreRefused) {
  std::string good = Sign(TestClaims());
  const std::string header = good.substr(0, good.find('.'));
  for (const std::string& bad : {
           std::string(),
           std::string("."),
           std::string(".."),
           std::string("abc"),
           std::string("a.b"),
           good + ".extra",
           std::string("!!!.") + good.substr(good.find('.') + 1),
           Base64UrlEncode("not json") + good.substr(good.find('.')),
           Base64UrlEncode("[1,2]") + good.substr(good.find('.')),
           good.substr(0, good.rfind('.')) + ".***",
       }) {
    absl::StatusOr<Claims> result = VerifyToken(bad, kSecret, kNow);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(
        TokenErrorOf(result.status()),
        ::testing::AnyOf(Optional(TokenError::kMalformed), Optional(TokenError::kBadAlgorithm)))
        << bad;
    EXPECT_EQ(TokenErrorCode(*TokenErrorOf(result.status())), "INVALID_TOKEN");
  }
  // Correctly signed but the payload is not a JSON object, or claims have wrong types.
  for (const std::string& payload :
       {std::string("not json"), std::string("[]"), std::string(R"("string")"),
        std::string(R"({"sub":1,"org_id":"o","role":"viewer","exp":1800000000})"),
        std::string(R"({"sub":"u","org_id":"o","role":"viewer","exp":"1800000000"})"),
        std::string(R"({"sub":"u","org_id":"o","role":["viewer"],"exp":1800000000})")}) {
    ExpectRefused(VerifyToken(Forge(kHs256Header, payload), kSecret, kNow), TokenError::kMalformed);
  }
}

TEST(JwtTest, DeeplyNestedJsonIsRefusedWithoutCrashing) {
  std::string nested(3000, '[');
  ExpectRefused(VerifyToken(Forge(kHs256Header, nested), kSecret, kNow), TokenError::kMalformed);
  std::string header = std::string(R"({"alg":"HS256","x":)") + std::string(3000, '[');
  absl::StatusOr<Claims> result = VerifyToken(Forge(header, kGoodPayload), kSecret, kNow);
  EXPECT_FALSE(result.ok());
}

TEST(JwtTest, ClaimsThatDecodeToInvalidUtf8AreRefused) {
  // Correctly signed, but a claim holds a lone surrogate (or raw bytes that are not UTF-8):
  // accepting it would carry invalid UTF-8 into logs and API responses.
  for (const std::string& sub :
       {std::string(R"(\udc00)"), std::string(R"(usr_\ud800)"), std::string("usr_\xff")}) {
    const std::string payload =
        R"({"sub":")" + sub + R"(","org_id":"o","role":"viewer","exp":1800000000})";
    ExpectRefused(VerifyToken(Forge(kHs256Header, payload), kSecret, kNow), TokenError::kMalformed);
  }
  // A surrogate pair is one character and is fine.
  const std::string pair =
      R"({"sub":"usr_\ud83d\ude00","org_id":"o","role":"viewer","exp":1800000000})";
  absl::StatusOr<Claims> accepted = VerifyToken(Forge(kHs256Header, pair), kSecret, kNow);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->sub, "usr_\xf0\x9f\x98\x80");
}

TEST(JwtTest, MissingClaimsAreRefused) {
  for (const char* payload : {R"({"org_id":"o","role":"viewer","exp":1800000000})",
                              R"({"sub":"u","role":"viewer","exp":1800000000})",
                              R"({"sub":"u","org_id":"o","exp":1800000000})",
                              R"({"sub":"u","org_id":"o","role":"viewer"})",
                              R"({"sub":"","org_id":"o","role":"viewer","exp":1800000000})"}) {
    ExpectRefused(VerifyToken(Forge(kHs256Header, payload), kSecret, kNow),
                  TokenError::kMissingClaim);
  }
}

TEST(JwtTest, UnknownRoleIsRefused) {
  for (const char* role : {"superuser", "Admin", "OWNER", " viewer"}) {
    std::string payload =
        std::string(R"({"sub":"u","org_id":"o","role":")") + role + R"(","exp":1800000000})";
    ExpectRefused(VerifyToken(Forge(kHs256Header, payload), kSecret, kNow),
                  TokenError::kUnknownRole);
  }
}

TEST(JwtTest, OversizedTokenIsRefusedCleanly) {
  Claims claims = TestClaims();
  claims.sub = std::string(64 * 1024, 'a');
  std::string token = Sign(claims);  // correctly signed, just too big
  ASSERT_GT(token.size(), kMaxTokenBytes);
  absl::StatusOr<Claims> result = VerifyToken(token, kSecret, kNow);
  ExpectRefused(result, TokenError::kMalformed);
  EXPECT_THAT(result.status().message(), HasSubstr("larger than"));
  EXPECT_THAT(result.status().message(), Not(HasSubstr("aaaa")));
}

TEST(JwtTest, EmptySecretIsAConfigurationError) {
  EXPECT_EQ(SignToken(TestClaims(), "").status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Claims> result = VerifyToken(Sign(TestClaims()), "", kNow);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(TokenErrorOf(result.status()).has_value());
}

TEST(JwtTest, TokenErrorOfIgnoresOtherStatuses) {
  EXPECT_FALSE(TokenErrorOf(absl::OkStatus()).has_value());
  EXPECT_FALSE(TokenErrorOf(absl::UnauthenticatedError("x")).has_value());
}

TEST(JwtTest, BearerTokenExtraction) {
  EXPECT_THAT(BearerToken("Bearer abc.def.ghi"), Optional(std::string_view("abc.def.ghi")));
  EXPECT_THAT(BearerToken("bearer   abc "), Optional(std::string_view("abc")));
  EXPECT_THAT(BearerToken("BEARER\tabc"), Optional(std::string_view("abc")));
  for (const char* bad :
       {"", "Bearer", "Bearer ", "Basic abc", "Bearerabc", "Bearer a b", "Token abc"}) {
    EXPECT_FALSE(BearerToken(bad).has_value()) << bad;
  }
}

TEST(RolesTest, PermissionTable) {
  struct Row {
    Role role;
    bool read, write, del;
  };
  for (const Row& row :
       {Row{Role::kViewer, true, false, false}, Row{Role::kEditor, true, true, false},
        Row{Role::kAdmin, true, true, true}, Row{Role::kOwner, true, true, true}}) {
    EXPECT_EQ(Allows(row.role, Permission::kRead), row.read) << RoleName(row.role);
    EXPECT_EQ(Allows(row.role, Permission::kWrite), row.write) << RoleName(row.role);
    EXPECT_EQ(Allows(row.role, Permission::kDelete), row.del) << RoleName(row.role);
  }
}

TEST(RolesTest, NamesRoundTrip) {
  for (Role role : {Role::kViewer, Role::kEditor, Role::kAdmin, Role::kOwner}) {
    EXPECT_THAT(ParseRole(RoleName(role)), Optional(role));
  }
  EXPECT_FALSE(ParseRole("").has_value());
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("Owner").has_value());
}

TEST(RateLimiterTest, AllowsTheLimitThenRefusesWithRetryAfter) {
  RateLimiter limiter;  // 100 per rolling minute
  absl::Time t = kNow;
  for (int i = 0; i < 100; ++i) {
    RateDecision decision = limiter.Acquire("usr_1", t + absl::Milliseconds(100 * i));
    ASSERT_TRUE(decision.allowed) << i;
    EXPECT_EQ(decision.remaining, 99 - i);
  }
  // The first request was at t; its slot frees at t + 60 s.
  RateDecision refused = limiter.Acquire("usr_1", t + absl::Seconds(15));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 45);
  refused = limiter.Acquire("usr_1", t + absl::Seconds(59) + absl::Milliseconds(500));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 1);  // rounded up, never 0
  // Another user is unaffected.
  EXPECT_TRUE(limiter.Acquire("usr_2", t + absl::Seconds(15)).allowed);
  // The window rolls: at t + 60 s exactly one slot (the first request's) is free.
  EXPECT_TRUE(limiter.Acquire("usr_1", t + absl::Seconds(60)).allowed);
  EXPECT_FALSE(limiter.Acquire("usr_1", t + absl::Seconds(60)).allowed);
  // 100 ms later the second request's slot frees.
  EXPECT_TRUE(limiter.Acquire("usr_1", t + absl::Seconds(60) + absl::Milliseconds(100)).allowed);
}

TEST(RateLimiterTest, RefusedRequestsDoNotConsumeSlots) {
  RateLimiter limiter(RateLimiterOptions{.limit = 2, .window = absl::Seconds(10)});
  EXPECT_TRUE(limiter.Acquire("u", kNow).allowed);
  EXPECT_TRUE(limiter.Acquire("u", kNow).allowed);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(limiter.Acquire("u", kNow + absl::Seconds(5)).allowed);
  // Had the refusals counted, this would still be refused.
  EXPECT_TRUE(limiter.Acquire("u", kNow + absl::Seconds(10)).allowed);
}

TEST(RateLimiterTest, ConfigurableLimitAndWindow) {
  RateLimiter limiter(RateLimiterOptions{.limit = 3, .window = absl::Seconds(2)});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Acquire("u", kNow).allowed);
  RateDecision refused = limiter.Acquire("u", kNow);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 2);
  EXPECT_TRUE(limiter.Acquire("u", kNow + absl::Seconds(2)).allowed);
}

TEST(RateLimiterTest, ForgetsIdleUsersAndStaysBounded) {
  RateLimiter limiter(
      RateLimiterOptions{.limit = 5, .window = absl::Seconds(60), .max_tracked_users = 100});
  for (int i = 0; i < 100; ++i) limiter.Acquire("user" + std::to_string(i), kNow);
  EXPECT_EQ(limiter.TrackedUsers(), 100u);
  // A minute later everyone is idle: a new user evicts them all.
  limiter.Acquire("late", kNow + absl::Seconds(61));
  EXPECT_EQ(limiter.TrackedUsers(), 1u);

  // With every tracked user active, the cap still holds.
  for (int i = 0; i < 1000; ++i) {
    limiter.Acquire("active" + std::to_string(i), kNow + absl::Seconds(62) + absl::Milliseconds(i));
    ASSERT_LE(limiter.TrackedUsers(), 100u);
  }
  // The most recent user was kept and is still limited.
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(limiter.Acquire("active999", kNow + absl::Seconds(63)).allowed);
  }
  EXPECT_FALSE(limiter.Acquire("active999", kNow + absl::Seconds(63)).allowed);
}

TEST(RateLimiterTest, ThreadSafeUnderContention) {
  RateLimiter limiter(RateLimiterOptions{.limit = 1000, .window = absl::Seconds(60)});
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.Acquire("shared", kNow).allowed) ++allowed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1000);  // exactly the limit out of 4000 attempts
}

}  // namespace
}  // namespace signal_host
