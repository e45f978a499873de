// Unit tests of the fake Hightouch's request-body validation.
#include "ingest_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

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
  const std::string body = "\n " + event + " \n";  // outlives the views into it
  auto events = ParseIngestBody(body, "track", kLimit);
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

// --- The fast path against the simdjson walk ---------------------------------------------

// Both answers, compared: same acceptance, same events, same error message.
void ExpectSameAnswer(const absl::StatusOr<std::vector<IngestEvent>>& answer,
                      const absl::StatusOr<std::vector<IngestEvent>>& reference,
                      const std::string& body) {
  ASSERT_EQ(answer.ok(), reference.ok()) << body;
  if (!answer.ok()) {
    EXPECT_EQ(answer.status(), reference.status()) << body;
    return;
  }
  ASSERT_EQ(answer->size(), reference->size()) << body;
  for (size_t i = 0; i < answer->size(); ++i) {
    EXPECT_EQ((*answer)[i].json, (*reference)[i].json) << body;
    EXPECT_EQ((*answer)[i].message_id, (*reference)[i].message_id) << body;
  }
}

// Events shaped like the plugin's, with every kind of value the scanner has to get right.
const std::vector<std::string>& PluginLikeEvents() {
  static const std::vector<std::string> events = {
      R"({"type":"track","messageId":"1b295993-0000-4000-8000-0000000001fa","anonymousId":)"
      R"("36b631a8","event":"Order Completed","properties":{"revenue":151.69,"n":-0.5e-3,)"
      R"("big":340282366920938463463374607431768211457,"neg":-9223372036854775809,)"
      R"("max":1.7976931348623157E+308,"zero":0,"ok":true,"no":false,"none":null,)"
      R"("list":[[],{},[1,[2,[3]]],{"a":{"b":{}}}],"empty":""},"context":{"ip":"203.0.113.5"}})",
      R"({"type":"identify","messageId":"m-2","userId":42,"traits":{"quote":"say \"hi\"",)"
      R"("path":"C:\\temp\/x","ctl":"\b\f\n\r\t","uni":"\u00e9\u6f22","pair":"\ud83d\ude42",)"
      R"("raw":"é漢🙂","nul":"\u0000","\u006bey":1}})",
      "{ \"type\" : \"page\" ,\n \"messageId\" : \"m-3\" , \"anonymousId\" : \"a\" ,"
      " \"name\" : \"Home\" , \"properties\" : { \"x\" : [ 1 , 2 ] } }",
      R"({"type":"screen","messageId":"m-4","userId":"","anonymousId":"anon","p":{}})",
      R"({"type":"group","messageId":"m-5","userId":"u","groupId":"g","traits":[]})",
      R"({"type":"alias","messageId":"m-6","userId":-7,"previousId":"p"})",
  };
  return events;
}

std::string BatchOf(const std::vector<std::string>& events) {
  std::string body = R"({"sentAt":"2026-01-01T00:00:00.000Z","batch":[)";
  for (size_t i = 0; i < events.size(); ++i) body += (i > 0 ? "," : "") + events[i];
  return body + "],\"context\":{\"n\":[1.5,true]}}";
}

TEST(ParseBatchFast, TakesPluginShapedBatchesAsTheWalkDoes) {
  const std::string body = BatchOf(PluginLikeEvents());
  std::vector<IngestEvent> events;
  ASSERT_TRUE(ParseBatchFast(body, kLimit, events));
  ASSERT_EQ(events.size(), PluginLikeEvents().size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].json, PluginLikeEvents()[i]);
    // A view into the body, not a copy.
    EXPECT_GE(events[i].json.data(), body.data());
    EXPECT_LE(events[i].json.data() + events[i].json.size(), body.data() + body.size());
  }
  EXPECT_EQ(events[0].message_id, "1b295993-0000-4000-8000-0000000001fa");
  ExpectSameAnswer(ParseIngestBody(body, "", kLimit),
                   ParseIngestBodyWithSimdjson(body, "", kLimit), body);
}

// What the scanner leaves to the walk still gets the walk's answer, accepted or not.
TEST(ParseBatchFast, LeavesRareShapesToTheWalk) {
  std::string deep = "1";
  for (int i = 0; i < 300; ++i) deep = "[" + deep + "]";
  const std::vector<std::string> accepted_by_the_walk = {
      R"({"\u0062atch":[{"type":"track","messageId":"m","userId":"u"}]})",
      R"({"batch":[{"type":"track","messageId":"m\u0031","userId":"u"}]})",
      R"({"batch":[{"type":"tr\u0061ck","messageId":"m","userId":"u"}]})",
      R"({"batch":[{"\u0074ype":"track","messageId":"m","userId":"u"}]})",
      R"({"batch":[{"type":"track","messageId":"m","messageId":"n","userId":"u"}]})",
      R"({"batch":[{"type":"track","messageId":"m","userId":"u","p":)" + deep + "}]}",
  };
  for (const std::string& body : accepted_by_the_walk) {
    std::vector<IngestEvent> events;
    EXPECT_FALSE(ParseBatchFast(body, kLimit, events)) << body;
    auto answer = ParseIngestBody(body, "", kLimit);
    EXPECT_TRUE(answer.ok()) << body << ": " << answer.status();
    ExpectSameAnswer(answer, ParseIngestBodyWithSimdjson(body, "", kLimit), body);
  }
  auto escaped = ParseIngestBody(accepted_by_the_walk[1], "", kLimit);
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ((*escaped)[0].message_id, "m1");
  auto repeated = ParseIngestBody(accepted_by_the_walk[4], "", kLimit);
  ASSERT_TRUE(repeated.ok());
  EXPECT_EQ((*repeated)[0].message_id, "n");  // the last one, as the walk reads it

  for (const char* lone_surrogate : {R"("\ud800")", R"("\udc00")", R"("\ud800\u0041")",
                                     R"("\ud800\ud800")", R"("\ud800x")"}) {
    const std::string body = std::string(R"({"batch":[],"s":)") + lone_surrogate + "}";
    std::vector<IngestEvent> events;
    EXPECT_FALSE(ParseBatchFast(body, kLimit, events)) << body;
    ExpectSameAnswer(ParseIngestBody(body, "", kLimit),
                     ParseIngestBodyWithSimdjson(body, "", kLimit), body);
  }
}

// Thousands of small corruptions of valid batches: whenever the scanner accepts one, the walk
// accepts it with the same events; and ParseIngestBody always answers as the walk does.
TEST(ParseBatchFast, NeverAcceptsWhatTheWalkRefuses) {
  const std::vector<std::string> seeds = {
      BatchOf(PluginLikeEvents()),
      BatchOf({PluginLikeEvents()[1]}),
      R"({"batch":[{"type":"track","messageId":"m","userId":"u"}]})",
      R"({"batch":[],"n":[-1.0e+2,0.5,{"k":"v"}]})",
  };
  const std::string alphabet = std::string("{}[]:,\"\\ \t\n/0123456789-+.eEtrufalsn") + "\x01\x7f" +
                               "\xc3\xa9\xff\xed\xa0\x80" + "bxu";
  std::mt19937 random(20260225);
  int fast_accepted = 0;
  int fast_declined = 0;
  for (int round = 0; round < 12000; ++round) {
    std::string body = seeds[round % seeds.size()];
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = random() % body.size();
      const char byte = alphabet[random() % alphabet.size()];
      switch (random() % 4) {
        case 0:
          body.erase(at, 1);
          break;
        case 1:
          body.insert(at, 1, byte);
          break;
        case 2:
          body[at] = byte;
          break;
        default:  // escapes and literals, whole
          body.insert(at, std::vector<std::string>{"\\u", "\\ud83d\\ude42", "\\\"", "true",
                                                   "null", "1e5", "-0"}[random() % 7]);
          break;
      }
    }
    std::vector<IngestEvent> events;
    const auto reference = ParseIngestBodyWithSimdjson(body, "", kLimit);
    if (ParseBatchFast(body, kLimit, events)) {
      ++fast_accepted;
      ASSERT_TRUE(reference.ok()) << "the scanner accepted what the walk refuses: " << body
                                  << "\n" << reference.status();
      ExpectSameAnswer(events, reference, body);
    } else {
      ++fast_declined;
    }
    ExpectSameAnswer(ParseIngestBody(body, "", kLimit), reference, body);
    if (HasFailure()) break;
  }
  // Both outcomes occur, so the comparison above is not vacuous.
  EXPECT_GT(fast_accepted, 100);
  EXPECT_GT(fast_declined, 1000);
}

TEST(ParseBatchFast, EventSizeLimitMatchesTheWalk) {
  const std::string event = R"({"type":"track","messageId":"m","userId":"u"})";
  const std::string body = R"({"batch":[)" + event + "]}";
  std::vector<IngestEvent> events;
  EXPECT_TRUE(ParseBatchFast(body, event.size(), events));
  EXPECT_FALSE(ParseBatchFast(body, event.size() - 1, events));
  ExpectSameAnswer(ParseIngestBody(body, "", event.size() - 1),
                   ParseIngestBodyWithSimdjson(body, "", event.size() - 1), body);
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
