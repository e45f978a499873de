// Translate: golden request bodies, every rejection reason, and the mapping rules.
//
// Goldens live in tests/plugin/golden/: NAME.events.jsonl holds one canonical event
// per line, NAME.body.json the exact body expected for them (sentAt fixed). After an
// intended change of output, regenerate with SIGNAL_UPDATE_GOLDENS=1 and review the
// diff.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "json_scan.h"
#include "time_iso8601.h"
#include "translate.h"
#include "translate_hash.h"
#include "translate_test_util.h"

namespace signal_hightouch {
namespace {

using ::signal_hightouch::testing::EventBatch;
using ::signal_hightouch::testing::kFixedSentAt;
using ::signal_hightouch::testing::kFixedSentAtMs;
using ::signal_hightouch::testing::ReadFileOrDie;
using ::signal_hightouch::testing::StrictJsonError;
using ::signal_hightouch::testing::TestConfig;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kGoldenDir = std::string(SIGNAL_SOURCE_DIR) + "/tests/plugin/golden/";
const std::string kLibrary =
    R"("library":{"name":"datafly-signal","version":")" SIGNAL_HIGHTOUCH_VERSION R"("})";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Translates one event with the test config and returns the only body.
std::string BodyFor(const std::string& event, HightouchConfig config = TestConfig()) {
  Translator translator;
  EventBatch run;
  run.events = {event};
  run.Translate(translator, config);
  EXPECT_EQ(run.out.rejection_count, 0u)
      << (run.out.rejection_count ? run.out.rejections[0].message : "");
  EXPECT_EQ(run.out.request_count, 1u);
  return run.out.request_count == 1 ? run.out.requests[0].body : std::string();
}

// The single record of a one-event body.
std::string RecordFor(const std::string& event, HightouchConfig config = TestConfig()) {
  const std::string body = BodyFor(event, config);
  const std::string prefix = R"({"batch":[)";
  const std::string suffix = R"(],"sentAt":")" + std::string(kFixedSentAt) + R"("})";
  if (body.size() < prefix.size() + suffix.size()) return {};
  EXPECT_EQ(body.substr(0, prefix.size()), prefix);
  EXPECT_EQ(body.substr(body.size() - suffix.size()), suffix);
  return body.substr(prefix.size(), body.size() - prefix.size() - suffix.size());
}

struct RejectionSeen {
  std::string reason;
  std::string message;
  std::string message_id;
};

RejectionSeen RejectionFor(const std::string& event, HightouchConfig config = TestConfig()) {
  Translator translator;
  EventBatch run;
  run.events = {event};
  run.Translate(translator, config);
  EXPECT_EQ(run.out.request_count, 0u);
  EXPECT_EQ(run.out.rejection_count, 1u);
  if (run.out.rejection_count != 1) return {};
  const TranslatedRejection& r = run.out.rejections[0];
  EXPECT_EQ(r.event_index, 0u);
  return {std::string(r.reason), r.message, r.message_id};
}

// ---------------------------------------------------------------------------
// Goldens

class GoldenTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenTest, BodyMatchesByteForByte) {
  const std::string name = GetParam();
  const std::vector<std::string> events = Lines(ReadFileOrDie(kGoldenDir + name + ".events.jsonl"));
  ASSERT_FALSE(events.empty());

  Translator translator;
  EventBatch run;
  run.events = events;
  run.Translate(translator, TestConfig());
  ASSERT_EQ(run.out.rejection_count, 0u) << run.out.rejections[0].message;
  ASSERT_EQ(run.out.request_count, 1u);
  const TranslatedRequest& request = run.out.requests[0];
  EXPECT_EQ(request.url, "https://us-east-1.hightouch-events.com/v1/batch");
  ASSERT_EQ(request.event_indexes.size(), events.size());
  EXPECT_EQ(StrictJsonError(request.body), "");

  const std::string golden_path = kGoldenDir + name + ".body.json";
  if (std::getenv("SIGNAL_UPDATE_GOLDENS") != nullptr) {
    std::ofstream(golden_path, std::ios::binary) << request.body << '\n';
  }
  std::string expected = ReadFileOrDie(golden_path);
  if (!expected.empty() && expected.back() == '\n') expected.pop_back();
  EXPECT_EQ(request.body, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Translate, GoldenTest,
    ::testing::Values("track_basic", "track_minimal", "page_context_page", "page_properties_win",
                      "page_without_context_page", "page_without_properties", "identify_traits",
                      "group_traits", "unicode", "big_integers", "missing_message_id",
                      "timestamp_offsets", "timestamp_missing", "context_library_replaced",
                      "identity_fields", "unknown_fields_dropped", "duplicate_keys", "escaped_keys",
                      "deep_nesting", "batch_mixed"));

// ---------------------------------------------------------------------------
// Mapping rules, asserted directly

TEST(TranslateTest, TrackRecordHasFieldsInOrder) {
  const std::string record =
      RecordFor(R"({"timestamp":"2026-02-25T14:30:00.000Z","properties":{"a":1},"event":"Clicked",)"
                R"("userId":"u","anonymousId":"a","messageId":"m","type":"track"})");
  EXPECT_EQ(record, R"({"type":"track","messageId":"m","anonymousId":"a","userId":"u",)"
                    R"("event":"Clicked","properties":{"a":1},"context":{)" +
                        kLibrary +
                        R"(},"timestamp":"2026-02-25T14:30:00.000Z",)"
                        R"("originalTimestamp":"2026-02-25T14:30:00.000Z"})");
}

TEST(TranslateTest, WhitespaceInsideValuesIsKept) {
  const std::string record = RecordFor(
      "{ \"type\" : \"track\" ,\n \"messageId\" : \"m\" , \"anonymousId\":\"a\",\"event\":\"E\","
      "\n \"properties\" : { \"a\" : [ 1 , 2 ] } ,\"context\" : {  \"ip\" : \"1.2.3.4\" ,"
      " \"n\" : { } \n } }");
  EXPECT_THAT(record, HasSubstr(R"("properties":{ "a" : [ 1 , 2 ] },)"));
  EXPECT_THAT(record, HasSubstr(kLibrary + R"(,"ip" : "1.2.3.4" , "n" : { }})"));
}

TEST(TranslateTest, PrettyPrintedPagePropertiesMergeCleanly) {
  const std::string record = RecordFor(
      "{\"type\":\"page\",\"messageId\":\"m\",\"anonymousId\":\"a\",\"properties\": {\n  \"a\": 1\n"
      "},\"context\":{\"page\":{\"path\":\"/x\"}}}");
  EXPECT_THAT(record, HasSubstr("\"properties\":{\"a\": 1,\"path\":\"/x\"}"));
}

TEST(TranslateTest, AuthorizationHeaderIsBasicWithIngestKey) {
  HightouchConfig config = TestConfig();
  config.api_key = "abc123";
  EXPECT_EQ(Translator::AuthorizationHeader(config), "Basic YWJjMTIzOg==");
  config.write_key = "wk_live";  // the write key wins over the API key
  EXPECT_EQ(Translator::AuthorizationHeader(config), "Basic d2tfbGl2ZTo=");
}

TEST(TranslateTest, UrlFollowsRegionAndOptions) {
  HightouchConfig config = TestConfig();
  config.region = "eu-west-1";
  Translator translator;
  std::vector<std::string_view> events = {
      R"({"type":"track","messageId":"m","anonymousId":"a","event":"E"})"};
  TranslateOutput out;
  translator.Translate(config, PluginOptions{}, events, kFixedSentAtMs, out);
  ASSERT_EQ(out.request_count, 1u);
  EXPECT_EQ(out.requests[0].url, "https://eu-west-1.hightouch-events.com/v1/batch");

  PluginOptions fake;
  fake.events_base_url = "http://127.0.0.1:4567/{region}/";
  translator.Translate(config, fake, events, kFixedSentAtMs, out);
  ASSERT_EQ(out.request_count, 1u);
  EXPECT_EQ(out.requests[0].url, "http://127.0.0.1:4567/eu-west-1/v1/batch");

  config.region = "ap-south-1";  // a changed region must not reuse the cached url
  translator.Translate(config, fake, events, kFixedSentAtMs, out);
  ASSERT_EQ(out.request_count, 1u);
  EXPECT_EQ(out.requests[0].url, "http://127.0.0.1:4567/ap-south-1/v1/batch");
}

TEST(TranslateTest, SentAtZeroUsesTheClock) {
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  Translator translator;
  std::vector<std::string_view> events = {
      R"({"type":"track","messageId":"m","anonymousId":"a","event":"E"})"};
  TranslateOutput out;
  const int64_t before = now_ms();
  translator.Translate(TestConfig(), PluginOptions{}, events, 0, out);
  const int64_t after = now_ms();
  ASSERT_EQ(out.request_count, 1u);
  const std::string& body = out.requests[0].body;
  const size_t at = body.rfind(R"("sentAt":")");
  ASSERT_NE(at, std::string::npos);
  const std::string sent_at = body.substr(at + 10, 24);
  // The event has no timestamp, so it carries sentAt too.
  EXPECT_THAT(body, HasSubstr(R"("timestamp":")" + sent_at + "\""));
  int64_t parsed = 0;
  ASSERT_TRUE(ParseIso8601(sent_at, &parsed)) << sent_at;
  EXPECT_GE(parsed, before);
  EXPECT_LE(parsed, after);
}

TEST(TranslateTest, MessageIdRangesPointAtTheIdsInTheBody) {
  Translator translator;
  EventBatch run;
  run.events = {R"({"type":"track","messageId":"first","anonymousId":"a","event":"E"})",
                R"({"type":"track","anonymousId":"a","event":"E"})",
                R"({"type":"track","messageId":"th\u0069rd","anonymousId":"a","event":"E"})"};
  run.Translate(translator, TestConfig());
  ASSERT_EQ(run.out.request_count, 1u);
  const TranslatedRequest& request = run.out.requests[0];
  ASSERT_EQ(request.message_id_ranges.size(), 3u);
  EXPECT_EQ(request.message_id(0), "first");
  EXPECT_THAT(std::string(request.message_id(1)), ::testing::MatchesRegex("sig-[0-9a-f]{32}"));
  // Ids are the JSON string text as written (escapes kept), the same bytes the body holds.
  EXPECT_EQ(request.message_id(2), "th\\u0069rd");
  EXPECT_THAT(request.event_indexes, ElementsAre(0u, 1u, 2u));
}

TEST(TranslateTest, DerivedMessageIdIsStableAndDependsOnTheBytes) {
  const std::string event = R"({"type":"track","anonymousId":"a","event":"E"})";
  Translator first, second;
  EventBatch a, b, c;
  a.events = {event};
  b.events = {event};
  c.events = {R"({"type":"track","anonymousId":"a","event":"F"})"};
  a.Translate(first, TestConfig());
  b.Translate(second, TestConfig(), kFixedSentAtMs + 60000);  // a retry, later
  c.Translate(first, TestConfig());
  ASSERT_EQ(a.out.request_count, 1u);
  ASSERT_EQ(b.out.request_count, 1u);
  ASSERT_EQ(c.out.request_count, 1u);
  EXPECT_EQ(a.out.requests[0].message_id(0), b.out.requests[0].message_id(0));
  EXPECT_NE(a.out.requests[0].message_id(0), c.out.requests[0].message_id(0));
  // Pinned: the derivation must not change between releases, or retries would
  // duplicate events.
  EXPECT_EQ(a.out.requests[0].message_id(0), "sig-003170fb2a22cb8a950fce487550d526");
}

TEST(TranslateTest, DerivedIdHashIsMurmurHash3x64With128Bits) {
  // Published MurmurHash3_x64_128 vectors (seed 0), printed as h1 then h2.
  const auto hex = [](std::string_view text) {
    uint64_t high = 1, low = 1;
    Hash128(text, &high, &low);
    char out[33];
    std::snprintf(out, sizeof(out), "%016llx%016llx", static_cast<unsigned long long>(high),
                  static_cast<unsigned long long>(low));
    return std::string(out);
  };
  EXPECT_EQ(hex(""), "00000000000000000000000000000000");
  EXPECT_EQ(hex("hello"), "cbd8a7b341bd9b025b1e906a48ae1d19");
  EXPECT_EQ(hex("The quick brown fox jumps over the lazy dog"), "e34bbc7bbc071b6c7a433ca9c49a9347");
}

TEST(TranslateTest, OutputIsReusedAcrossCalls) {
  Translator translator;
  TranslateOutput out;
  std::vector<std::string_view> three = {
      R"({"type":"track","messageId":"1","anonymousId":"a","event":"E"})",
      R"({"type":"screen","messageId":"2","anonymousId":"a"})",
      R"({"type":"track","messageId":"3","anonymousId":"a","event":"E"})"};
  HightouchConfig config = TestConfig();
  config.batch_size = 1;
  translator.Translate(config, PluginOptions{}, three, kFixedSentAtMs, out);
  EXPECT_EQ(out.request_count, 2u);
  EXPECT_EQ(out.rejection_count, 1u);

  std::vector<std::string_view> one = {R"({"type":"identify","messageId":"4","userId":"u"})"};
  translator.Translate(config, PluginOptions{}, one, kFixedSentAtMs, out);
  ASSERT_EQ(out.request_count, 1u);
  EXPECT_EQ(out.rejection_count, 0u);
  EXPECT_THAT(out.requests[0].event_indexes, ElementsAre(0u));
  EXPECT_EQ(out.requests[0].message_id(0), "4");
  EXPECT_EQ(out.requests[0].body.find("\"3\""), std::string::npos);

  std::vector<std::string_view> none;
  translator.Translate(config, PluginOptions{}, none, kFixedSentAtMs, out);
  EXPECT_EQ(out.request_count, 0u);
  EXPECT_EQ(out.rejection_count, 0u);
}

TEST(TranslateTest, ConsentAllowsWhenGrantedAbsentOrUnrelated) {
  for (const char* consent :
       {R"({"canonical":{"analytics":true}})", R"({"analytics":true})",
        R"({"analytics":"granted"})", R"({"analytics":1})", R"({"analytics":null})",
        R"({"marketing":false})", R"({"canonical":{"marketing":false},"categories":["C0002"]})",
        R"({})", R"("opaque")", R"({"canonical":"analytics"})",
        R"({"analytics":{"nested":false}})"}) {
    SCOPED_TRACE(consent);
    const std::string event =
        std::string(R"({"type":"track","messageId":"m","anonymousId":"a","event":"E",)") +
        R"("context":{"consent":)" + consent + "}}";
    // Consent is carried over unchanged with the rest of the context.
    EXPECT_THAT(RecordFor(event), HasSubstr(std::string(R"("consent":)") + consent));
  }
}

TEST(TranslateTest, EssentialCategoryIsNeverDenied) {
  HightouchConfig config = TestConfig();
  config.consent_category = "essential";
  RecordFor(R"({"type":"track","messageId":"m","anonymousId":"a","event":"E",)"
            R"("context":{"consent":{"canonical":{"essential":false},"essential":false}}})",
            config);
}

// ---------------------------------------------------------------------------
// Rejections: every reason, with its exact message

struct RejectionCase {
  const char* event;
  const char* reason;
  const char* message;
};

class RejectionTest : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(RejectionTest, ReasonAndMessage) {
  const RejectionCase& c = GetParam();
  const RejectionSeen seen = RejectionFor(c.event);
  EXPECT_EQ(seen.reason, c.reason);
  EXPECT_EQ(seen.message, c.message);
}

INSTANTIATE_TEST_SUITE_P(
    InvalidJson, RejectionTest,
    ::testing::Values(
        RejectionCase{"", "invalid_json", "the event is not a JSON object"},
        RejectionCase{"   ", "invalid_json", "the event is not a JSON object"},
        RejectionCase{"[1,2]", "invalid_json", "the event is not a JSON object"},
        RejectionCase{R"("track")", "invalid_json", "the event is not a JSON object"},
        RejectionCase{"null", "invalid_json", "the event is not a JSON object"},
        RejectionCase{R"({"type":"track")", "invalid_json",
                      "invalid JSON at byte 15: unterminated object"},
        RejectionCase{R"({"type":"track",})", "invalid_json",
                      "invalid JSON at byte 16: expected a member name"},
        RejectionCase{R"({"type" "track"})", "invalid_json",
                      "invalid JSON at byte 8: expected ':' after a member name"},
        RejectionCase{R"({"type":"track" "event":"E"})", "invalid_json",
                      "invalid JSON at byte 16: expected ',' or '}' in an object"},
        RejectionCase{R"({"type":"track"} x)", "invalid_json",
                      "invalid JSON at byte 17: unexpected data after the event object"},
        RejectionCase{R"({"type":"track"}{})", "invalid_json",
                      "invalid JSON at byte 16: unexpected data after the event object"},
        RejectionCase{R"({"type":"tra)", "invalid_json",
                      "invalid JSON at byte 12: unterminated string"},
        RejectionCase{R"({"p":{"a":tru}})", "invalid_json",
                      "invalid JSON at byte 10: invalid literal"},
        RejectionCase{R"({"p":{"a":nulll}})", "invalid_json",
                      "invalid JSON at byte 14: expected ',' or '}' in an object"},
        RejectionCase{R"({"p":[1,2,]})", "invalid_json",
                      "invalid JSON at byte 10: expected a value"},
        RejectionCase{R"({"p":[1 2]})", "invalid_json",
                      "invalid JSON at byte 8: expected ',' or ']' in an array"},
        RejectionCase{R"({"p":[1,2})", "invalid_json",
                      "invalid JSON at byte 9: expected ',' or ']' in an array"},
        RejectionCase{R"({"p":{"a":1]})", "invalid_json",
                      "invalid JSON at byte 11: expected ',' or '}' in an object"},
        RejectionCase{R"({"p":[[[)", "invalid_json", "invalid JSON at byte 8: expected a value"},
        RejectionCase{R"({"p":01})", "invalid_json",
                      "invalid JSON at byte 6: expected ',' or '}' in an object"},
        RejectionCase{R"({"p":-})", "invalid_json", "invalid JSON at byte 6: invalid number"},
        RejectionCase{R"({"p":1.})", "invalid_json", "invalid JSON at byte 7: invalid number"},
        RejectionCase{R"({"p":.5})", "invalid_json", "invalid JSON at byte 5: expected a value"},
        RejectionCase{R"({"p":1e+})", "invalid_json", "invalid JSON at byte 8: invalid number"},
        RejectionCase{R"({"p":+1})", "invalid_json", "invalid JSON at byte 5: expected a value"},
        RejectionCase{R"({"p":NaN})", "invalid_json", "invalid JSON at byte 5: expected a value"},
        RejectionCase{R"({"p":"\x"})", "invalid_json",
                      "invalid JSON at byte 6: invalid escape sequence"},
        RejectionCase{R"({"p":"\u12G4"})", "invalid_json",
                      "invalid JSON at byte 6: invalid \\u escape"},
        RejectionCase{R"({"p":"\ud800"})", "invalid_json",
                      "invalid JSON at byte 6: unpaired surrogate in \\u escape"},
        RejectionCase{R"({"p":"\ud800\u0041"})", "invalid_json",
                      "invalid JSON at byte 6: unpaired surrogate in \\u escape"},
        RejectionCase{R"({"p":"\udc00"})", "invalid_json",
                      "invalid JSON at byte 6: unpaired surrogate in \\u escape"},
        RejectionCase{"{\"p\":\"a\tb\"}", "invalid_json",
                      "invalid JSON at byte 7: control character in string"},
        RejectionCase{"{\"p\":\"\xff\"}", "invalid_json", "invalid JSON at byte 6: invalid UTF-8"},
        RejectionCase{"{\"p\":\"\xc0\xaf\"}", "invalid_json",
                      "invalid JSON at byte 6: invalid UTF-8"},
        RejectionCase{"{\"p\":\"\xed\xa0\x80\"}", "invalid_json",
                      "invalid JSON at byte 6: invalid UTF-8"},
        RejectionCase{"{\"p\":\"\xf4\x90\x80\x80\"}", "invalid_json",
                      "invalid JSON at byte 6: invalid UTF-8"},
        RejectionCase{"{\"p\":\"\xe6\x97\"}", "invalid_json",
                      "invalid JSON at byte 6: invalid UTF-8"},
        RejectionCase{"{\"p\":1}\xc3\xa9", "invalid_json",
                      "invalid JSON at byte 7: unexpected data after the event object"},
        RejectionCase{"{\"\xff\":1}", "invalid_json", "invalid JSON at byte 2: invalid UTF-8"},
        RejectionCase{R"({"p":{1:2}})", "invalid_json",
                      "invalid JSON at byte 6: expected a member name"},
        RejectionCase{R"({"p":'a'})", "invalid_json", "invalid JSON at byte 5: expected a value"},
        RejectionCase{R"({"p":1 /* c */})", "invalid_json",
                      "invalid JSON at byte 7: expected ',' or '}' in an object"}));

INSTANTIATE_TEST_SUITE_P(
    WrongFieldTypes, RejectionTest,
    ::testing::Values(
        RejectionCase{R"({"type":"track","messageId":7,"anonymousId":"a","event":"E"})",
                      "invalid_json", "messageId is not a string"},
        RejectionCase{R"({"type":"track","anonymousId":["a"],"event":"E"})", "invalid_json",
                      "anonymousId is not a string"},
        RejectionCase{R"({"type":"track","anonymousId":"a","userId":123,"event":"E"})",
                      "invalid_json", "userId is not a string"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E","context":"x"})",
                      "invalid_json", "context is not an object"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E","context":[]})",
                      "invalid_json", "context is not an object"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":{"name":"E"}})", "invalid_json",
                      "event is not a string"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E","properties":[1]})",
                      "invalid_json", "properties is not an object"},
        RejectionCase{R"({"type":"page","anonymousId":"a","name":5})", "invalid_json",
                      "name is not a string"},
        RejectionCase{R"({"type":"page","anonymousId":"a","properties":"x"})", "invalid_json",
                      "properties is not an object"},
        RejectionCase{R"({"type":"identify","userId":"u","traits":true})", "invalid_json",
                      "traits is not an object"},
        RejectionCase{R"({"type":"group","userId":"u","groupId":42})", "invalid_json",
                      "groupId is not a string"},
        RejectionCase{R"({"type":"group","userId":"u","groupId":"g","traits":[]})", "invalid_json",
                      "traits is not an object"}));

INSTANTIATE_TEST_SUITE_P(
    UnsupportedType, RejectionTest,
    ::testing::Values(
        RejectionCase{R"({"type":"screen","anonymousId":"a"})", "unsupported_type",
                      R"(event type "screen" is not supported (track, page, identify, group))"},
        RejectionCase{R"({"type":"alias","userId":"u","previousId":"a"})", "unsupported_type",
                      R"(event type "alias" is not supported (track, page, identify, group))"},
        RejectionCase{R"({"type":"Track","anonymousId":"a","event":"E"})", "unsupported_type",
                      R"(event type "Track" is not supported (track, page, identify, group))"},
        RejectionCase{R"({"type":"","anonymousId":"a"})", "unsupported_type",
                      R"(event type "" is not supported (track, page, identify, group))"},
        RejectionCase{R"({"anonymousId":"a","event":"E"})", "unsupported_type",
                      "the event has no type"},
        RejectionCase{R"({"type":null,"anonymousId":"a","event":"E"})", "unsupported_type",
                      "the event has no type"},
        RejectionCase{R"({"type":1,"anonymousId":"a","event":"E"})", "unsupported_type",
                      "type is not a string"}));

TEST(TranslateTest, LongValuesAreCutInMessages) {
  const std::string tail = R"(" is not supported (track, page, identify, group))";
  EXPECT_EQ(RejectionFor(R"({"type":")" + std::string(80, 'a') + "\"}").message,
            "event type \"" + std::string(64, 'a') + "..." + tail);
  // 63 ASCII bytes then a two-byte letter: the cut falls before the letter.
  EXPECT_EQ(RejectionFor(R"({"type":")" + std::string(63, 'a') + "\xc3\xa9zz\"}").message,
            "event type \"" + std::string(63, 'a') + "..." + tail);
}

INSTANTIATE_TEST_SUITE_P(
    MissingFields, RejectionTest,
    ::testing::Values(
        RejectionCase{R"({"type":"track","event":"E"})", "missing_identity",
                      "the event has neither a userId nor an anonymousId"},
        RejectionCase{R"({"type":"page","anonymousId":"","userId":""})", "missing_identity",
                      "the event has neither a userId nor an anonymousId"},
        RejectionCase{R"({"type":"identify","anonymousId":null,"userId":null,"traits":{}})",
                      "missing_identity", "the event has neither a userId nor an anonymousId"},
        RejectionCase{R"({"type":"track","anonymousId":"a"})", "missing_event_name",
                      "a track event needs a non-empty event name"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":""})", "missing_event_name",
                      "a track event needs a non-empty event name"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":null})", "missing_event_name",
                      "a track event needs a non-empty event name"},
        RejectionCase{R"({"type":"group","userId":"u","traits":{}})", "missing_group_id",
                      "a group event needs a non-empty groupId"},
        RejectionCase{R"({"type":"group","userId":"u","groupId":""})", "missing_group_id",
                      "a group event needs a non-empty groupId"},
        RejectionCase{R"({"type":"group","userId":"u","groupId":null})", "missing_group_id",
                      "a group event needs a non-empty groupId"}));

INSTANTIATE_TEST_SUITE_P(
    InvalidTimestamp, RejectionTest,
    ::testing::Values(
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E","timestamp":"yesterday"})",
                      "invalid_timestamp", R"(timestamp "yesterday" is not an ISO 8601 date-time)"},
        RejectionCase{
            R"({"type":"track","anonymousId":"a","event":"E","timestamp":"2026-02-30T00:00:00Z"})",
            "invalid_timestamp",
            R"(timestamp "2026-02-30T00:00:00Z" is not an ISO 8601 date-time)"},
        RejectionCase{
            R"({"type":"track","anonymousId":"a","event":"E","timestamp":"2026-02-25T24:00:00Z"})",
            "invalid_timestamp",
            R"(timestamp "2026-02-25T24:00:00Z" is not an ISO 8601 date-time)"},
        RejectionCase{
            R"({"type":"track","anonymousId":"a","event":"E","timestamp":"2026-02-25T14:30:00+2"})",
            "invalid_timestamp",
            R"(timestamp "2026-02-25T14:30:00+2" is not an ISO 8601 date-time)"},
        RejectionCase{
            R"({"type":"track","anonymousId":"a","event":"E",)"
            R"("timestamp":"0000-01-01T00:00:00+01:00"})",
            "invalid_timestamp",
            R"(timestamp "0000-01-01T00:00:00+01:00" is not an ISO 8601 date-time)"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E","timestamp":""})",
                      "invalid_timestamp", R"(timestamp "" is not an ISO 8601 date-time)"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E","timestamp":1772029801250})",
                      "invalid_timestamp", "timestamp is not a string"}));

INSTANTIATE_TEST_SUITE_P(
    ConsentDenied, RejectionTest,
    ::testing::Values(
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E",)"
                      R"("context":{"consent":{"canonical":{"analytics":false}}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        RejectionCase{R"({"type":"track","anonymousId":"a","event":"E",)"
                      R"("context":{"consent":{"analytics":false}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        RejectionCase{R"({"type":"page","anonymousId":"a",)"
                      R"("context":{"consent":{"analytics":"false"}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        RejectionCase{R"({"type":"page","anonymousId":"a",)"
                      R"("context":{"consent":{"canonical":{"analytics":"DENIED"}}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        RejectionCase{R"({"type":"identify","userId":"u",)"
                      R"("context":{"consent":{"analytics":"0"}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        RejectionCase{R"({"type":"identify","userId":"u",)"
                      R"("context":{"consent":{"analytics":0}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        RejectionCase{R"({"type":"identify","userId":"u",)"
                      R"("context":{"consent":{"analytics":-0.0e5}}})",
                      "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        // One denial is enough, wherever it is.
        RejectionCase{
            R"({"type":"group","userId":"u","groupId":"g",)"
            R"("context":{"consent":{"analytics":true,"canonical":{"analytics":false}}}})",
            "consent_denied", R"(consent for "analytics" is denied in context.consent)"},
        // Consent outranks missing fields: the event must not go anywhere.
        RejectionCase{R"({"type":"track","context":{"consent":{"analytics":false}}})",
                      "consent_denied",
                      R"(consent for "analytics" is denied in context.consent)"}));

TEST(TranslateTest, ConsentFollowsTheConfiguredCategory) {
  HightouchConfig config = TestConfig();
  config.consent_category = "marketing";
  const std::string event = R"({"type":"track","anonymousId":"a","event":"E",)"
                            R"("context":{"consent":{"canonical":{"analytics":false,)"
                            R"("marketing":false}}}})";
  const RejectionSeen seen = RejectionFor(event, config);
  EXPECT_EQ(seen.reason, "consent_denied");
  EXPECT_EQ(seen.message, R"(consent for "marketing" is denied in context.consent)");

  config.consent_category = "personalization";
  RecordFor(event, config);  // not denied for this category
}

TEST(TranslateTest, RejectionCarriesTheMessageId) {
  EXPECT_EQ(RejectionFor(R"({"type":"screen","messageId":"m-77","anonymousId":"a"})").message_id,
            "m-77");
  // Without one, the id the event would have been sent with.
  const std::string event = R"({"type":"track","anonymousId":"a"})";
  const std::string derived = RejectionFor(event).message_id;
  EXPECT_THAT(derived, ::testing::MatchesRegex("sig-[0-9a-f]{32}"));
  EXPECT_EQ(RejectionFor(event).message_id, derived);
  // Unreadable: none.
  EXPECT_EQ(RejectionFor(R"({"type":"track","messageId":"m","event":)").message_id, "");
  EXPECT_EQ(RejectionFor(R"({"type":"track","messageId":5,"event":"E"})").message_id, "");
}

// ---------------------------------------------------------------------------
// Size limits per event

// A track event whose record is exactly `record_bytes` long (padding a property).
std::string TrackEventWithRecordSize(size_t record_bytes) {
  const std::string head = R"({"type":"track","messageId":"m","anonymousId":"a","event":"E",)"
                           R"("properties":{"pad":")";
  const std::string tail = R"("},"timestamp":"2026-02-25T14:30:00.000Z"})";
  const size_t base = RecordFor(head + tail).size();
  EXPECT_GE(record_bytes, base);
  return head + std::string(record_bytes - base, 'x') + tail;
}

TEST(TranslateTest, RecordOfExactly32KiBIsAccepted) {
  const std::string event = TrackEventWithRecordSize(kMaxEventBytes);
  EXPECT_EQ(RecordFor(event).size(), kMaxEventBytes);
}

TEST(TranslateTest, RecordOneByteOver32KiBIsRejected) {
  const RejectionSeen seen = RejectionFor(TrackEventWithRecordSize(kMaxEventBytes + 1));
  EXPECT_EQ(seen.reason, "event_too_large");
  EXPECT_EQ(seen.message,
            "the translated event is 32769 bytes, over Hightouch's limit of 32768 bytes per event");
  EXPECT_EQ(seen.message_id, "m");
}

TEST(TranslateTest, HugeEventIsRejectedBySize) {
  // Far beyond the scratch buffer: measured before it is written.
  const RejectionSeen seen = RejectionFor(TrackEventWithRecordSize(5 * 1000 * 1000));
  EXPECT_EQ(seen.reason, "event_too_large");
  EXPECT_EQ(seen.message,
            "the translated event is 5000000 bytes, over Hightouch's limit of "
            "32768 bytes per event");
}

TEST(TranslateTest, LargeInputThatShrinksIsAccepted) {
  // 100 KB of input whitespace and dropped fields still makes a small record.
  const std::string event = R"({"type":"track","messageId":"m","anonymousId":"a","event":"E",)"
                            R"("integrations":")" +
                            std::string(100000, 'z') + "\"" + std::string(1000, ' ') + "}";
  EXPECT_LT(RecordFor(event).size(), 400u);
}

TEST(TranslateTest, PageMergeCountsTowardsTheLimit) {
  // Properties and context.page of 17 KB each: the merged record is over 32 KB.
  const std::string half(17000, 'p');
  const RejectionSeen seen =
      RejectionFor(R"({"type":"page","messageId":"m","anonymousId":"a","properties":{"a":")" +
                   half + R"("},"context":{"page":{"title":")" + half + R"("}}})");
  EXPECT_EQ(seen.reason, "event_too_large");
}

// ---------------------------------------------------------------------------
// Nesting depth

std::string EventWithDepth(int depth) {
  // The event object is level 1, properties level 2, then depth - 2 arrays.
  return R"({"type":"track","messageId":"m","anonymousId":"a","event":"E","properties":{"d":)" +
         std::string(static_cast<size_t>(depth - 2), '[') +
         std::string(static_cast<size_t>(depth - 2), ']') + "}}";
}

TEST(TranslateTest, NestingUpTo64LevelsIsAccepted) {
  const std::string body = BodyFor(EventWithDepth(json::kMaxEventDepth));
  EXPECT_EQ(StrictJsonError(body), "");
}

TEST(TranslateTest, NestingOf65LevelsIsInvalid) {
  const RejectionSeen seen = RejectionFor(EventWithDepth(json::kMaxEventDepth + 1));
  EXPECT_EQ(seen.reason, "invalid_json");
  EXPECT_EQ(seen.message, "invalid JSON at byte 142: nesting too deep");
}

TEST(TranslateTest, DeepContextAndTopLevelMembersAreLimitedToo) {
  const std::string deep_context =
      R"({"type":"track","anonymousId":"a","event":"E","context":{"x":)" + std::string(63, '[') +
      std::string(63, ']') + "}}";
  EXPECT_EQ(RejectionFor(deep_context).message, "invalid JSON at byte 123: nesting too deep");
  const std::string deep_unknown = R"({"extra":)" + std::string(64, '[') + "}";
  EXPECT_EQ(RejectionFor(deep_unknown).message, "invalid JSON at byte 72: nesting too deep");
}

}  // namespace
}  // namespace signal_hightouch
