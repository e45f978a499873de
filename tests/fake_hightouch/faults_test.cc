// Unit tests of the fake Hightouch's fault language.
#include "faults.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fake_hightouch.h"

namespace fake_hightouch::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseFaults, EmptyMeansNoFaults) {
  for (const char* text : {"", "  \n", "{}"}) {
    auto spec = ParseFaults(text);
    ASSERT_TRUE(spec.ok()) << text;
    EXPECT_TRUE(spec->statuses.empty());
    EXPECT_FALSE(spec->hang);
    EXPECT_EQ(spec->reset_connections, 0);
    EXPECT_EQ(spec->target, FaultTarget::kIngest);
    EXPECT_EQ(FaultsToJson(*spec, 0, 0), "{}");
  }
}

TEST(ParseFaults, ReadsEveryKey) {
  auto spec = ParseFaults(R"({"target":"all","statuses":[503,429,200],"repeat":true,
      "retry_after":"5","retry_after_http_date_in_s":7,"latency_ms":25,"hang":true,
      "reset_connections":3,"poison_message_ids":["a","b"]})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->target, FaultTarget::kAll);
  EXPECT_THAT(spec->statuses, ElementsAre(503, 429, 200));
  EXPECT_TRUE(spec->repeat);
  EXPECT_EQ(spec->retry_after, "5");
  EXPECT_EQ(spec->retry_after_http_date_in_s, 7);
  EXPECT_EQ(spec->latency_ms, 25);
  EXPECT_TRUE(spec->hang);
  EXPECT_EQ(spec->reset_connections, 3);
  EXPECT_THAT(spec->poison_message_ids, ElementsAre("a", "b"));
  EXPECT_TRUE(spec->AppliesTo(FaultTarget::kIngest));
  EXPECT_TRUE(spec->AppliesTo(FaultTarget::kRest));
}

TEST(ParseFaults, TargetSelectsEndpoints) {
  auto rest = ParseFaults(R"({"target":"rest","statuses":[500]})");
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->AppliesTo(FaultTarget::kRest));
  EXPECT_FALSE(rest->AppliesTo(FaultTarget::kIngest));
  auto ingest = ParseFaults(R"({"statuses":[500]})");
  ASSERT_TRUE(ingest.ok());
  EXPECT_TRUE(ingest->AppliesTo(FaultTarget::kIngest));
  EXPECT_FALSE(ingest->AppliesTo(FaultTarget::kRest));
}

TEST(ParseFaults, RetryAfterMayBeANumberOfSeconds) {
  auto spec = ParseFaults(R"({"retry_after":12})");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->retry_after, "12");
  auto date = ParseFaults(R"({"retry_after":"Wed, 21 Oct 2015 07:28:00 GMT"})");
  ASSERT_TRUE(date.ok());
  EXPECT_EQ(date->retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
}

TEST(ParseFaults, RefusesBadInput) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : {
           Case{"{", "malformed JSON"},
           Case{"[]", "expected a JSON object"},
           Case{R"({"statuse":[503]})", "unknown key \"statuse\""},
           Case{R"({"statuses":503})", "\"statuses\" must be an array"},
           Case{R"({"statuses":[99]})", "HTTP status codes"},
           Case{R"({"statuses":[600]})", "HTTP status codes"},
           Case{R"({"statuses":["503"]})", "HTTP status codes"},
           Case{R"({"repeat":1,"statuses":[503]})", "\"repeat\" must be true or false"},
           Case{R"({"repeat":true})", "needs a non-empty \"statuses\""},
           Case{R"({"retry_after":""})", "\"retry_after\" must be a non-empty"},
           Case{R"({"retry_after":"5\r\nX-Evil: 1"})", "\"retry_after\" must be a non-empty"},
           Case{R"({"retry_after":-1})", "\"retry_after\" must be a string"},
           Case{R"({"retry_after_http_date_in_s":"5"})", "non-negative integer"},
           Case{R"({"latency_ms":-5})", "\"latency_ms\" must be a non-negative integer"},
           Case{R"({"latency_ms":1.5})", "\"latency_ms\" must be a non-negative integer"},
           Case{R"({"hang":"yes"})", "\"hang\" must be true or false"},
           Case{R"({"reset_connections":-1})", "non-negative integer"},
           Case{R"({"poison_message_ids":"a"})", "array of strings"},
           Case{R"({"poison_message_ids":[1]})", "array of strings"},
           Case{R"({"target":"both"})", "\"target\" must be"},
       }) {
    auto spec = ParseFaults(c.json);
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(spec.status().message()), HasSubstr(c.message)) << c.json;
  }
}

TEST(FaultsToJson, ShowsSetFieldsAndProgress) {
  auto spec = ParseFaults(R"({"target":"rest","statuses":[503,200],"retry_after":"5",
      "reset_connections":2,"poison_message_ids":["p\"1"]})");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(FaultsToJson(*spec, 1, 2),
            R"({"target":"rest","statuses":[503,200],"statuses_used":1,"retry_after":"5",)"
            R"("reset_connections":2,"reset_connections_left":2,"poison_message_ids":["p\"1"]})");
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControls) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\n\x01") + "é");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001é\"");
}

TEST(FaultLanguageHelp, DocumentsEveryKey) {
  const std::string help = kFaultLanguageHelp;
  for (const char* key : {"\"target\"", "\"statuses\"", "\"repeat\"", "\"retry_after\"",
                          "\"retry_after_http_date_in_s\"", "\"latency_ms\"", "\"hang\"",
                          "\"reset_connections\"", "\"poison_message_ids\""}) {
    EXPECT_THAT(help, HasSubstr(key));
  }
}

}  // namespace
}  // namespace fake_hightouch::internal
