// Unit tests of the fake Hightouch's request-body validation.
#include "ingest_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace fake_hightouch::internal {
namespace {

using ::testing::HasSubstr;

constexpr size_t kLimit = 32 * 1024;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(ParseIngestBody, BatchItemsKeepTheirExactBytes) {
  const std::string first =
      R"({"type":"track","messageId":"m1","userId":"u1","properties":)"
      R"({"big":123456789012345678901234567890,"uni":"é漢🙂","esc":"a\"b\\c\u00e9\n",)"
      R"("f":-1.5e+10,"z":[true,false,null,{}]}})";
  const std::string second = R"({ "type" : "page", "messageId" : "m2", "anonymousId" : "a" })";
  const std::string body = "{ \"sentAt\": \"2026-01-01T00:00:00.000Z\",\n \"batch\" : [ " + first +
                           " ,\n\t" + second + "\r\n ] }  \n";
  auto events = ParseIngestBody(body, "", kLimit);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].json, first);
  EXPECT_EQ((*events)[0].message_id, "m1");
  EXPECT_EQ((*events)[1].json, second);
  EXPECT_EQ((*events)[1].message_id, "m2");
}

TEST(ParseIngestBody, EmptyBatchHasNoEvents) {
  auto events = ParseIngestBody(R"({"batch":[],"sentAt":"x"})", "", kLimit);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_TRUE(events->empty());
}

TEST(ParseIngestBody, SingleEventIsTheTrimmedBody) {
  const std::string event = R"({"messageId":"m\u0031","userId":42,"event":"Signed Up"})";
  auto events = ParseIngestBody("\n " + event + " \n", "track", kLimit);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].json, event);
  EXPECT_EQ((*events)[0].message_id, "m1");  // unescaped
}

TEST(ParseIngestBody, TypeIsRequiredInBatchItemsOnly) {
  EXPECT_TRUE(ParseIngestBody(R"({"messageId":"m","userId":"u"})", "identify", kLimit).ok());
  auto missing = ParseIngestBody(R"({"batch":[{"messageId":"m","userId":"u"}]})", "", kLimit);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(Message(missing.status()), HasSubstr("batch[0]: missing type"));
}

TEST(ParseIngestBody, RefusesUnknownOrNonStringType) {
  for (const char* body : {R"({"batch":[{"type":"purchase","messageId":"m","userId":"u"}]})",
                           R"({"batch":[{"type":7,"messageId":"m","userId":"u"}]})"}) {
    auto events = ParseIngestBody(body, "", kLimit);
    ASSERT_FALSE(events.ok()) << body;
    EXPECT_THAT(Message(events.status()), HasSubstr("type must be one of")) << body;
  }
  EXPECT_FALSE(
      ParseIngestBody(R"({"type":"bogus","messageId":"m","userId":"u"})", "track", kLimit).ok());
}

TEST(ParseIngestBody, RequiresANonEmptyStringMessageId) {
  for (const char* event :
       {R"({"type":"track","userId":"u"})", R"({"type":"track","messageId":"","userId":"u"})",
        R"({"type":"track","messageId":12,"userId":"u"})",
        R"({"type":"track","messageId":null,"userId":"u"})"}) {
    auto events = ParseIngestBody(std::string(R"({"batch":[)") + event + "]}", "", kLimit);
    ASSERT_FALSE(events.ok()) << event;
    EXPECT_THAT(Message(events.status()), HasSubstr("batch[0]: missing messageId")) << event;
  }
}

TEST(ParseIngestBody, RequiresUserIdOrAnonymousId) {
  for (const char* event :
       {R"({"type":"track","messageId":"m"})", R"({"type":"track","messageId":"m","userId":""})",
        R"({"type":"track","messageId":"m","userId":null,"anonymousId":""})",
        R"({"type":"track","messageId":"m","userId":{}})"}) {
    auto events = ParseIngestBody(std::string(R"({"batch":[)") + event + "]}", "", kLimit);
    ASSERT_FALSE(events.ok()) << event;
    EXPECT_THAT(Message(events.status()), HasSubstr("missing userId or anonymousId")) << event;
  }
  EXPECT_TRUE(ParseIngestBody(R"({"messageId":"m","anonymousId":"a"})", "page", kLimit).ok());
  EXPECT_TRUE(ParseIngestBody(R"({"messageId":"m","userId":7})", "page", kLimit).ok());
}

TEST(ParseIngestBody, NamesTheFailingBatchItem) {
  auto events = ParseIngestBody(
      R"({"batch":[{"type":"track","messageId":"a","userId":"u"},{"type":"track","userId":"u"}]})",
      "", kLimit);
  ASSERT_FALSE(events.ok());
  EXPECT_THAT(Message(events.status()), HasSubstr("batch[1]: missing messageId"));
}

TEST(ParseIngestBody, EventSizeLimitIsInclusive) {
  const std::string head = R"({"type":"track","messageId":"m","userId":"u","pad":")";
  const std::string tail = R"("})";
  const std::string exact = head + std::string(kLimit - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(exact.size(), kLimit);
  EXPECT_TRUE(ParseIngestBody(R"({"batch":[)" + exact + "]}", "", kLimit).ok());

  const std::string over = head + std::string(kLimit - head.size() - tail.size() + 1, 'x') + tail;
  auto events = ParseIngestBody(R"({"batch":[)" + over + "]}", "", kLimit);
  ASSERT_FALSE(events.ok());
  EXPECT_THAT(Message(events.status()), HasSubstr("over the 32768-byte limit"));
  EXPECT_FALSE(ParseIngestBody(over, "track", kLimit).ok());
}

TEST(ParseIngestBody, RefusesEnvelopeProblems) {
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : {Case{R"({"sentAt":"x"})", "missing batch"},
                        Case{R"({"batch":{}})", "batch must be an array"},
                        Case{R"({"batch":null})", "batch must be an array"},
                        Case{R"({"batch":[],"batch":[]})", "batch appears twice"},
                        Case{R"({"batch":["track"]})", "batch[0]: an event must be a JSON object"},
                        Case{R"([{"type":"track"}])", "the body must be a JSON object"}}) {
    auto events = ParseIngestBody(c.body, "", kLimit);
    ASSERT_FALSE(events.ok()) << c.body;
    EXPECT_THAT(Message(events.status()), HasSubstr(c.message)) << c.body;
  }
  auto single = ParseIngestBody(R"(["not","an","object"])", "track", kLimit);
  ASSERT_FALSE(single.ok());
  EXPECT_THAT(Message(single.status()), HasSubstr("an event must be a JSON object"));
}

// Every kind of malformed JSON, in the envelope and inside an event, fails the request.
class MalformedJson : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedJson, IsRefusedInABatch) {
  auto events = ParseIngestBody(GetParam(), "", kLimit);
  ASSERT_FALSE(events.ok()) << GetParam();
  EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(
    ParseIngestBody, MalformedJson,
    ::testing::Values("", "   ", "not json", "{", R"({"batch":[)", R"({"batch":[]} x)",
                      R"({"batch":[]}{})", R"({"batch":[],})", R"({"batch":[] "sentAt":1})",
                      R"({"batch":[],"n":01})", R"({"batch":[],"n":1.})", R"({"batch":[],"n":-})",
                      R"({"batch":[],"n":1e})", R"({"batch":[],"n":0x10})",
                      R"({"batch":[],"n":NaN})", R"({"batch":[],"s":"\q"})",
                      R"({"batch":[],"s":"unterminated})",
                      std::string("{\"batch\":[],\"s\":\"\xff\xfe\"}"),
                      std::string("{\"batch\":[],\"s\":\"tab\there\"}"),
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":tru}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":nul}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":[1,]}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":{"a"}}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":123abc}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":"\u12"}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u",}]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u"},]})",
                      R"({"batch":[{"type":"track","messageId":"m","userId":"u"} {}]})"));

TEST(ParseIngestBody, SingleEventMalformedVariants) {
  for (const char* body :
       {"", R"({"messageId":"m","userId":"u")", R"({"messageId":"m","userId":"u"} {})",
        R"({"messageId":"m","userId":"u","n":00})"}) {
    EXPECT_FALSE(ParseIngestBody(body, "track", kLimit).ok()) << body;
  }
}

TEST(ParseIngestBody, AcceptsDeepButLegalNesting) {
  std::string nested = "1";
  for (int i = 0; i < 500; ++i) nested = "[" + nested + "]";
  auto events = ParseIngestBody(
      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":)" + nested + "}]}", "",
      kLimit);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(events->size(), 1u);
}

TEST(IsEventType, KnowsTheSixTypes) {
  for (const char* type : {"track", "page", "identify", "group", "screen", "alias"}) {
    EXPECT_TRUE(IsEventType(type)) << type;
  }
  EXPECT_FALSE(IsEventType("batch"));
  EXPECT_FALSE(IsEventType("Track"));
  EXPECT_FALSE(IsEventType(""));
}

}  // namespace
}  // namespace fake_hightouch::internal
