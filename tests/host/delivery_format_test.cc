// Redaction and truncation of the requests and responses kept in attempt records.
#include "host/delivery/attempt_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace signal_host::delivery {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AttemptFormatTest, SecretHeaderNamesAreRecognisedInAnyCase) {
  for (const char* name : {"Authorization", "authorization", "Proxy-Authorization", "X-Api-Key",
                           "x-write-KEY", "X-Auth-Token", "Client-Secret", "Cookie",
                           "X-Password"}) {
    EXPECT_TRUE(IsSecretHeaderName(name)) << name;
  }
  for (const char* name : {"Content-Type", "User-Agent", "Accept", "X-Request-Id"}) {
    EXPECT_FALSE(IsSecretHeaderName(name)) << name;
  }
}

TEST(AttemptFormatTest, RequestRecordRedactsSecretsAndKeepsTheRest) {
  const std::string record = RequestRecordJson(
      "POST", "https://us-east-1.hightouch-events.com/v1/batch",
      {{"Authorization", "Basic c2VjcmV0LXdyaXRlLWtleTo="},
       {"Content-Type", "application/json"},
       {"X-Api-Key", "sk_live_123"}},
      "{\"batch\":[]}", 4096);
  EXPECT_EQ(record,
            "{\"method\":\"POST\",\"url\":\"https://us-east-1.hightouch-events.com/v1/batch\","
            "\"headers\":{\"Authorization\":\"***\",\"Content-Type\":\"application/json\","
            "\"X-Api-Key\":\"***\"},\"body\":\"{\\\"batch\\\":[]}\"}");
  EXPECT_THAT(record, Not(HasSubstr("c2VjcmV0")));
  EXPECT_THAT(record, Not(HasSubstr("sk_live")));
}

TEST(AttemptFormatTest, UrlCredentialsAndSecretQueryParametersAreRedacted) {
  EXPECT_EQ(RedactUrl("https://user:pw@host.example/path?api_key=abc&page=2&token=t#frag"),
            "https://host.example/path?api_key=***&page=2&token=***#frag");
  EXPECT_EQ(RedactUrl("http://127.0.0.1:8080/v1/batch"), "http://127.0.0.1:8080/v1/batch");
  EXPECT_EQ(RedactUrl("not a url at all"), "not a url at all");
  EXPECT_EQ(RedactUrl("http://h/p?flag&x="), "http://h/p?flag&x=");
}

TEST(AttemptFormatTest, OversizedBodyIsTruncatedToTheLimit) {
  const std::string body(100000, 'a');
  const std::string record = RequestRecordJson("POST", "http://h/", {}, body, 4096);
  EXPECT_THAT(record, HasSubstr("\"body\":\"" + std::string(4096, 'a') + "\"}"));
  EXPECT_LT(record.size(), 4096u + 100u);
}

TEST(AttemptFormatTest, TruncationNeverSplitsAUtf8Sequence) {
  const std::string text = "ab\xE2\x82\xAC";  // "ab€"
  EXPECT_EQ(TruncateUtf8(text, 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8(text, 4), "ab");
  EXPECT_EQ(TruncateUtf8(text, 3), "ab");
  EXPECT_EQ(TruncateUtf8(text, 2), "ab");
  EXPECT_EQ(TruncateUtf8(text, 0), "");
  const std::string emoji = "\xF0\x9F\x98\x80";  // 4-byte sequence
  EXPECT_EQ(TruncateUtf8(emoji, 3), "");
  // Stray continuation bytes (not UTF-8) are cut where asked.
  EXPECT_EQ(TruncateUtf8("\x80\x80\x80\x80\x80", 2), "\x80\x80");
}

TEST(AttemptFormatTest, JsonStringEscapesControlsAndReplacesInvalidUtf8) {
  std::string out;
  AppendJsonString(out, "q\"b\\n\nt\tc\x01 \xC3\xA9 \xFF \xC0\xAF \xED\xA0\x80");
  EXPECT_EQ(out,
            "\"q\\\"b\\\\n\\nt\\tc\\u0001 \xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(AttemptFormatTest, EmptyHeaderValuesAndBodiesAreValidJson) {
  EXPECT_EQ(RequestRecordJson("GET", "http://h/", {{"X-Empty", ""}}, "", 4096),
            "{\"method\":\"GET\",\"url\":\"http://h/\",\"headers\":{\"X-Empty\":\"\"},"
            "\"body\":\"\"}");
}

}  // namespace
}  // namespace signal_host::delivery
