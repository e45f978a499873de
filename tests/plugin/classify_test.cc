// Classify and ParseRetryAfterMs: every row of the response table and hostile headers.

#include "classify.h"
#include "vendor_error.h"

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signal_hightouch {
namespace {

using signal::integration::v1::ClassifyRequest;
using signal::integration::v1::ClassifyResponse;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example instant, as "now" in milliseconds.
const int64_t kRfcExampleMs = absl::ToUnixMillis(
    absl::FromCivil(absl::CivilSecond(1994, 11, 6, 8, 49, 37), absl::UTCTimeZone()));

ClassifyRequest Request(int status, uint32_t events = 1, std::string body = "") {
  ClassifyRequest request;
  request.set_http_status(status);
  request.set_event_count(events);
  request.set_body(std::move(body));
  request.set_now_unix_ms(kRfcExampleMs);
  return request;
}

ClassifyRequest WithHeader(ClassifyRequest request, const std::string& name,
                           const std::string& value) {
  auto* header = request.add_headers();
  header->set_name(name);
  header->set_value(value);
  return request;
}

// ---- ParseRetryAfterMs ------------------------------------------------------------

TEST(ParseRetryAfterMs, DeltaSeconds) {
  EXPECT_THAT(ParseRetryAfterMs("0", kRfcExampleMs), Optional(0u));
  EXPECT_THAT(ParseRetryAfterMs("120", kRfcExampleMs), Optional(120000u));
  EXPECT_THAT(ParseRetryAfterMs("  7\t", kRfcExampleMs), Optional(7000u));
  EXPECT_THAT(ParseRetryAfterMs("0007", kRfcExampleMs), Optional(7000u));
  // The clock does not matter for a delay.
  EXPECT_THAT(ParseRetryAfterMs("3", 0), Optional(3000u));
}

TEST(ParseRetryAfterMs, HugeDeltaSecondsSaturateInsteadOfOverflowing) {
  const auto huge = ParseRetryAfterMs("99999999999999999999999999999", kRfcExampleMs);
  ASSERT_TRUE(huge.has_value());
  EXPECT_GT(*huge, uint64_t{1} << 60);
  const auto long_digits = ParseRetryAfterMs(std::string(10000, '9'), kRfcExampleMs);
  ASSERT_TRUE(long_digits.has_value());
  EXPECT_EQ(*long_digits, *huge);
}

TEST(ParseRetryAfterMs, AllThreeHttpDateForms) {
  // Each names 08:51:37 on the RFC's example day: two minutes after "now".
  EXPECT_THAT(ParseRetryAfterMs("Sun, 06 Nov 1994 08:51:37 GMT", kRfcExampleMs), Optional(120000u));
  EXPECT_THAT(ParseRetryAfterMs("Sunday, 06-Nov-94 08:51:37 GMT", kRfcExampleMs),
              Optional(120000u));
  EXPECT_THAT(ParseRetryAfterMs("Sun Nov  6 08:51:37 1994", kRfcExampleMs), Optional(120000u));
  EXPECT_THAT(ParseRetryAfterMs("Sun Nov 16 08:51:37 1994", kRfcExampleMs),
              Optional(120000u + 10ull * 86400 * 1000));
  // A day later, across a month end, in a leap year.
  const int64_t feb_28_2024 = absl::ToUnixMillis(
      absl::FromCivil(absl::CivilSecond(2024, 2, 28, 23, 0, 0), absl::UTCTimeZone()));
  EXPECT_THAT(ParseRetryAfterMs("Thu, 29 Feb 2024 23:00:00 GMT", feb_28_2024), Optional(86400000u));
  // Sub-second "now" is honoured exactly.
  EXPECT_THAT(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:38 GMT", kRfcExampleMs + 250),
              Optional(750u));
}

TEST(ParseRetryAfterMs, Rfc850TwoDigitYearsFollowTheFiftyYearRule) {
  const int64_t now_2030 = absl::ToUnixMillis(
      absl::FromCivil(absl::CivilSecond(2030, 1, 1, 0, 0, 0), absl::UTCTimeZone()));
  // "31" is 2031, a year ahead; "99" is 1999, in the past (2099 is > 50 years away).
  EXPECT_THAT(ParseRetryAfterMs("Wednesday, 01-Jan-31 00:00:00 GMT", now_2030),
              Optional(365ull * 86400 * 1000));
  EXPECT_THAT(ParseRetryAfterMs("Friday, 01-Jan-99 00:00:00 GMT", now_2030), Optional(0u));
}

TEST(ParseRetryAfterMs, PastDatesMeanNoWait) {
  EXPECT_THAT(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", kRfcExampleMs), Optional(0u));
  EXPECT_THAT(ParseRetryAfterMs("Thu, 01 Jan 1970 00:00:00 GMT", kRfcExampleMs), Optional(0u));
  EXPECT_THAT(ParseRetryAfterMs("Mon, 01 Jan 0001 00:00:00 GMT", kRfcExampleMs), Optional(0u));
}

TEST(ParseRetryAfterMs, GarbageIsIgnored) {
  const std::vector<std::string> garbage = {
      "",
      " ",
      "-5",
      "+5",
      "1e3",
      "1.5",
      "5s",
      "0x10",
      "Wed, 99 Foo",
      "Wed, 99 Foo 2026 07:28:00 GMT",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 29 Feb 2023 08:49:37 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT trailing",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  0 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "tomorrow",
      std::string(10000, 'x'),
      "Sun, 06 Nov 1994 08:49:37 GMT" + std::string(10000, ' ') + "x",
      std::string("12\0"
                  "34",
                  5),
      std::string("Sun, 06 Nov 1994\0 08:49:37 GMT", 30),
      "\xff\xfe\xfd",
  };
  for (const std::string& value : garbage) {
    EXPECT_EQ(ParseRetryAfterMs(value, kRfcExampleMs), std::nullopt)
        << "'" << value.substr(0, 60) << "'";
  }
}

TEST(ParseRetryAfterMs, NamesAreMatchedWithoutRegardToCase) {
  EXPECT_THAT(ParseRetryAfterMs("SUN, 06 NOV 1994 08:51:37 GMT", kRfcExampleMs), Optional(120000u));
  EXPECT_THAT(ParseRetryAfterMs("sun nov  6 08:51:37 1994", kRfcExampleMs), Optional(120000u));
}

// ---- Classify -------------------------------------------------------------------

TEST(Classify, TwoHundredsAreDelivered) {
  for (int status : {200, 201, 202, 204, 299}) {
    const auto response = Classify(Request(status, 37));
    EXPECT_EQ(response.outcome(), ClassifyResponse::DELIVERED) << status;
    EXPECT_EQ(response.code(), "http_" + std::to_string(status));
    EXPECT_EQ(response.retry_after_ms(), 0u);
    EXPECT_THAT(response.message(), HasSubstr("37 events"));
  }
}

TEST(Classify, BadRequestSplitsABatchAndRejectsASingleEvent) {
  const std::string body = R"({"message":"Invalid event: missing messageId"})";
  const auto split = Classify(Request(400, 10, body));
  EXPECT_EQ(split.outcome(), ClassifyResponse::SPLIT);
  EXPECT_EQ(split.code(), "http_400");
  EXPECT_THAT(split.message(), HasSubstr("Invalid event: missing messageId"));
  EXPECT_EQ(Classify(Request(400, 2)).outcome(), ClassifyResponse::SPLIT);

  const auto single = Classify(Request(400, 1, body));
  EXPECT_EQ(single.outcome(), ClassifyResponse::REJECT);
  EXPECT_THAT(single.message(), HasSubstr("HTTP 400: Invalid event: missing messageId"));
  EXPECT_THAT(single.message(), HasSubstr("dead letters"));
  EXPECT_EQ(Classify(Request(400, 0)).outcome(), ClassifyResponse::REJECT);
}

TEST(Classify, PayloadTooLargeSplitsLikeBadRequest) {
  EXPECT_EQ(Classify(Request(413, 50)).outcome(), ClassifyResponse::SPLIT);
  const auto single = Classify(Request(413, 1));
  EXPECT_EQ(single.outcome(), ClassifyResponse::REJECT);
  EXPECT_THAT(single.message(), HasSubstr("too large"));
}

TEST(Classify, AuthFailuresAreSetupFailuresWithTroubleshooting) {
  for (int status : {401, 403}) {
    const auto response = Classify(
        Request(status, 5, R"({"message":"Authentication error","details":"Token is invalid"})"));
    EXPECT_EQ(response.outcome(), ClassifyResponse::SETUP_FAILURE) << status;
    EXPECT_EQ(response.code(), "http_" + std::to_string(status));
    EXPECT_THAT(response.message(), HasSubstr("Authentication error (Token is invalid)"));
    EXPECT_THAT(response.message(), HasSubstr("Settings > API Keys"));
    EXPECT_THAT(response.message(), HasSubstr("write key"));
    EXPECT_THAT(response.message(), HasSubstr("new revision"));
  }
  const auto not_found = Classify(Request(404, 5));
  EXPECT_EQ(not_found.outcome(), ClassifyResponse::SETUP_FAILURE);
  EXPECT_EQ(not_found.code(), "http_404");
  EXPECT_THAT(not_found.message(), HasSubstr("workspace ID, the source ID and the region"));
}

TEST(Classify, ThrottlesHonourRetryAfterInBothForms) {
  for (int status : {408, 429}) {
    const auto seconds = Classify(WithHeader(Request(status, 3), "Retry-After", "17"));
    EXPECT_EQ(seconds.outcome(), ClassifyResponse::THROTTLE) << status;
    EXPECT_EQ(seconds.retry_after_ms(), 17000u);
    EXPECT_EQ(seconds.code(), "http_" + std::to_string(status));
    EXPECT_THAT(seconds.message(), HasSubstr("17 s"));

    const auto date =
        Classify(WithHeader(Request(status, 3), "Retry-After", "Sun, 06 Nov 1994 08:50:37 GMT"));
    EXPECT_EQ(date.outcome(), ClassifyResponse::THROTTLE);
    EXPECT_EQ(date.retry_after_ms(), 60000u);

    const auto none = Classify(Request(status, 3));
    EXPECT_EQ(none.outcome(), ClassifyResponse::THROTTLE);
    EXPECT_EQ(none.retry_after_ms(), 0u);  // The host's own backoff applies.
    EXPECT_THAT(none.message(), HasSubstr("with backoff"));
  }
  EXPECT_THAT(Classify(Request(429)).message(), HasSubstr("rate_limit_rps"));
}

TEST(Classify, RetryAfterHeaderNameIsCaseInsensitive) {
  for (const char* name : {"retry-after", "RETRY-AFTER", "Retry-after", "rEtRy-AfTeR"}) {
    EXPECT_EQ(Classify(WithHeader(Request(429), name, "5")).retry_after_ms(), 5000u) << name;
  }
  EXPECT_EQ(Classify(WithHeader(Request(429), "Retry-After-Ms", "5")).retry_after_ms(), 0u);
  EXPECT_EQ(Classify(WithHeader(Request(429), "X-Retry-After", "5")).retry_after_ms(), 0u);
}

TEST(Classify, RetryAfterIsCapped) {
  EXPECT_EQ(Classify(WithHeader(Request(429), "Retry-After", "86400")).retry_after_ms(), 300000u);
  EXPECT_EQ(
      Classify(WithHeader(Request(429), "Retry-After", std::string(500, '9'))).retry_after_ms(),
      300000u);
  EXPECT_EQ(Classify(WithHeader(Request(429), "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"))
                .retry_after_ms(),
            300000u);
  // A custom cap, and 0 meaning the default cap.
  EXPECT_EQ(Classify(WithHeader(Request(429), "Retry-After", "120"), 60).retry_after_ms(), 60000u);
  EXPECT_EQ(Classify(WithHeader(Request(429), "Retry-After", "100000"), 0).retry_after_ms(),
            300000u);
  EXPECT_EQ(Classify(WithHeader(Request(429), "Retry-After", "299"), 300).retry_after_ms(),
            299000u);
}

TEST(Classify, GarbageRetryAfterLeavesTheBackoffToTheHost) {
  const std::vector<std::string> garbage = {"",
                                            "-5",
                                            "1e3",
                                            "Wed, 99 Foo",
                                            std::string(10000, 'a'),
                                            std::string("5\0"
                                                        "0",
                                                        3),
                                            "\r\n"};
  for (const std::string& value : garbage) {
    const auto response = Classify(WithHeader(Request(429, 2), "Retry-After", value));
    EXPECT_EQ(response.outcome(), ClassifyResponse::THROTTLE);
    EXPECT_EQ(response.retry_after_ms(), 0u) << value.substr(0, 40);
    EXPECT_LT(response.message().size(), 1000u);
  }
}

TEST(Classify, PastRetryAfterDateMeansRetryNow) {
  const auto response =
      Classify(WithHeader(Request(503, 2), "Retry-After", "Sat, 05 Nov 1994 08:49:37 GMT"));
  EXPECT_EQ(response.outcome(), ClassifyResponse::TRANSIENT);
  EXPECT_EQ(response.retry_after_ms(), 0u);
}

TEST(Classify, ServerErrorsAreTransientExceptNotImplementedAndVersion) {
  for (int status : {500, 502, 503, 504, 507, 520, 599}) {
    const auto response = Classify(Request(status, 4, R"("Internal Server Error")"));
    EXPECT_EQ(response.outcome(), ClassifyResponse::TRANSIENT) << status;
    EXPECT_EQ(response.code(), "http_" + std::to_string(status));
    EXPECT_EQ(response.retry_after_ms(), 0u);
    EXPECT_THAT(response.message(), HasSubstr("Internal Server Error"));
  }
  const auto with_wait = Classify(WithHeader(Request(503, 4), "retry-after", "30"));
  EXPECT_EQ(with_wait.outcome(), ClassifyResponse::TRANSIENT);
  EXPECT_EQ(with_wait.retry_after_ms(), 30000u);
  for (int status : {501, 505}) {
    const auto response = Classify(WithHeader(Request(status, 4), "Retry-After", "30"));
    EXPECT_EQ(response.outcome(), ClassifyResponse::REJECT) << status;
    EXPECT_EQ(response.retry_after_ms(), 0u);
  }
}

TEST(Classify, TransportFailuresAreTransientNetworkErrors) {
  ClassifyRequest request = Request(0, 12);
  request.set_transport_error("Connection refused");
  auto response = Classify(request);
  EXPECT_EQ(response.outcome(), ClassifyResponse::TRANSIENT);
  EXPECT_EQ(response.code(), "network_error");
  EXPECT_THAT(response.message(), testing::StartsWith("network_error: Connection refused"));

  response = Classify(Request(0, 12));  // No error text at all.
  EXPECT_EQ(response.outcome(), ClassifyResponse::TRANSIENT);
  EXPECT_EQ(response.code(), "network_error");

  request.set_transport_error(std::string(5000, 'e') + "\n\x01");
  response = Classify(request);
  EXPECT_LT(response.message().size(), 600u);
  EXPECT_THAT(response.message(), Not(HasSubstr("\x01")));
}

TEST(Classify, OtherClientErrorsAreRejected) {
  for (int status : {402, 405, 406, 409, 410, 411, 415, 422, 451, 499}) {
    const auto response = Classify(Request(status, 6, R"({"error":"Validation failed"})"));
    EXPECT_EQ(response.outcome(), ClassifyResponse::REJECT) << status;
    EXPECT_EQ(response.code(), "http_" + std::to_string(status));
    EXPECT_THAT(response.message(), HasSubstr("Validation failed"));
  }
}

TEST(Classify, InformationalAndRedirectsAreRejectedWithAClearMessage) {
  for (int status : {100, 101, 199, 301, 302, 304, 307, 308}) {
    const auto response = Classify(WithHeader(Request(status, 3), "Location", "https://evil/"));
    EXPECT_EQ(response.outcome(), ClassifyResponse::REJECT) << status;
    EXPECT_THAT(response.message(), HasSubstr("events_base_url"));
    EXPECT_THAT(response.message(), Not(HasSubstr("evil")));
  }
}

TEST(Classify, ImpossibleStatusesAreTransient) {
  for (int status : {-1, 1, 99, 600, 999, 1000000}) {
    const auto response = Classify(Request(status, 3));
    EXPECT_EQ(response.outcome(), ClassifyResponse::TRANSIENT) << status;
    EXPECT_EQ(response.code(), "http_" + std::to_string(status));
  }
}

TEST(Classify, VendorDetailIsShortPrintableAndNeverFromHeaders) {
  // Long detail is cut to about 200 bytes.
  const auto long_detail =
      Classify(Request(422, 1, R"({"message":")" + std::string(5000, 'm') + R"("})"));
  EXPECT_THAT(long_detail.message(), HasSubstr(std::string(190, 'm') + "..."));
  EXPECT_THAT(long_detail.message(), Not(HasSubstr(std::string(201, 'm'))));
  // Control characters are neutralised; multi-byte characters survive whole.
  const auto hostile =
      Classify(Request(422, 1, "{\"message\":\"bad\\u0000\\u001b[31m caf\xc3\xa9\"}"));
  EXPECT_THAT(hostile.message(), HasSubstr("caf\xc3\xa9"));
  EXPECT_THAT(hostile.message(), Not(HasSubstr("\x1b")));
  // Nested error objects, non-JSON and truncated bodies.
  EXPECT_THAT(Classify(Request(422, 1, R"({"error":{"message":"nested"}})")).message(),
              HasSubstr("nested"));
  EXPECT_THAT(Classify(Request(422, 1, "<html>Bad Gateway</html>")).message(),
              Not(HasSubstr("html")));
  EXPECT_THAT(Classify(Request(422, 1, R"({"message":"cut)")).message(), Not(HasSubstr("cut")));
  EXPECT_THAT(Classify(Request(422, 1, std::string(100000, '['))).message(), HasSubstr("HTTP 422"));
  // Headers, including credentials, are never quoted.
  auto request = WithHeader(Request(401, 1), "Authorization", "Basic c2VjcmV0LWtleTo=");
  request = WithHeader(request, "WWW-Authenticate", "Basic realm=secret-realm");
  const auto response = Classify(request);
  EXPECT_THAT(response.message(), Not(HasSubstr("c2VjcmV0LWtleTo")));
  EXPECT_THAT(response.message(), Not(HasSubstr("secret-realm")));
}

TEST(VendorErrorText, ReadsTheUsualShapes) {
  EXPECT_EQ(VendorErrorText(R"({"message":"Authentication error","details":"Token is invalid"})"),
            "Authentication error (Token is invalid)");
  EXPECT_EQ(VendorErrorText(R"({"error":"Too many requests"})"), "Too many requests");
  EXPECT_EQ(VendorErrorText(R"({"error":{"message":"nested","code":7}})"), "nested");
  EXPECT_EQ(VendorErrorText(R"({"message":"","error":"fallback"})"), "fallback");
  EXPECT_EQ(VendorErrorText(R"("Internal Server Error")"), "Internal Server Error");
  EXPECT_EQ(VendorErrorText(R"({"details":"only details"})"), "");
  EXPECT_EQ(VendorErrorText(R"({"message":42})"), "");
  EXPECT_EQ(VendorErrorText("[1,2]"), "");
  EXPECT_EQ(VendorErrorText(""), "");
  EXPECT_EQ(VendorErrorText("not json"), "");
  EXPECT_EQ(VendorErrorText(R"({"message":"x")" + std::string(70000, ' ') + "}"), "");
}

TEST(VendorErrorText, RedactsSecretsBeforeCutting) {
  const std::string secret = "wk-4242-SECRET-VALUE";
  EXPECT_EQ(VendorErrorText(R"({"message":"key )" + secret + R"( is not valid"})", {secret}),
            "key [redacted] is not valid");
  // A secret straddling the 200-byte cut must not leave its first half behind.
  const std::string padded = std::string(190, 'p') + secret;
  const std::string text = VendorErrorText(R"({"message":")" + padded + "\"}", {secret});
  EXPECT_THAT(text, Not(HasSubstr("wk-4242")));
  EXPECT_THAT(text, HasSubstr("[redacted]"));
  EXPECT_EQ(VendorErrorText(R"({"message":"ok"})", {"", "unused"}), "ok");
}

TEST(Classify, UsesTheSystemClockWhenNowIsZero) {
  ClassifyRequest request =
      WithHeader(Request(429), "Retry-After",
                 absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now() + absl::Seconds(100),
                                  absl::UTCTimeZone()));
  request.set_now_unix_ms(0);
  const auto response = Classify(request);
  // About 100 s from the real clock; far from what a zero clock would give (decades).
  EXPECT_GT(response.retry_after_ms(), 50000u);
  EXPECT_LE(response.retry_after_ms(), 101000u);
}

}  // namespace
}  // namespace signal_hightouch
