// IngestEvents: how the event API reads and rewrites event bodies.
#include <string>

#include "event_ingest.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace signal_host::api {
namespace {

IngestOptions Options(std::string path_type, size_t max_batch = 500) {
  IngestOptions options;
  options.path_type = std::move(path_type);
  options.max_batch_events = max_batch;
  options.now_ms = 1772029800123;  // 2026-02-25T14:30:00.123Z
  int counter = 0;
  options.new_message_id = [counter]() mutable { return "generated-" + std::to_string(++counter); };
  return options;
}

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  EXPECT_FALSE(document.HasParseError()) << json;
  return document;
}

TEST(EventIngestTest, SingleEventGetsTypeMessageIdAndTimestamp) {
  auto result = IngestEvents(R"({"event":"Signed Up","anonymousId":"a1"})", Options("track"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->events.size(), 1u);
  EXPECT_TRUE(result->errors.empty());
  const IngestedEvent& event = result->events[0];
  EXPECT_EQ(event.message_id, "generated-1");
  EXPECT_EQ(event.type, "track");
  EXPECT_EQ(event.json, R"({"event":"Signed Up","anonymousId":"a1","type":"track",)"
                        R"("messageId":"generated-1","timestamp":"2026-02-25T14:30:00.123Z"})");
}

TEST(EventIngestTest, GivenMessageIdAndTimestampAreKeptInPlace) {
  auto result =
      IngestEvents(R"({"messageId":"m-1","timestamp":"2025-01-01T00:00:00.000Z","userId":"u"})",
                   Options("identify"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->events[0].message_id, "m-1");
  EXPECT_EQ(result->events[0].json,
            R"({"messageId":"m-1","timestamp":"2025-01-01T00:00:00.000Z","userId":"u",)"
            R"("type":"identify"})");
}

TEST(EventIngestTest, PathDecidesTheTypeWhateverTheBodySays) {
  auto result =
      IngestEvents(R"({"type":"track","name":"Home","x":{"type":"nested"}})", Options("page"));
  ASSERT_TRUE(result.ok()) << result.status();
  rapidjson::Document document = Parse(result->events[0].json);
  EXPECT_STREQ(document["type"].GetString(), "page");
  // Only the top-level type is the host's; nested members are the event's own.
  EXPECT_STREQ(document["x"]["type"].GetString(), "nested");
  EXPECT_EQ(result->events[0].json.find(R"("type":"page")"), 1u) << "type keeps its position";
}

TEST(EventIngestTest, NumbersAndUnicodeSurviveExactly) {
  const std::string body =
      R"({"messageId":"m","properties":{"big":123456789012345678901234567890,)"
      R"("neg":-9007199254740993,"exp":1.5e300,"pi":3.141592653589793238462643,)"
      R"("text":"caf\u00e9 \ud83d\ude00 \"quoted\""}})";
  auto result = IngestEvents(body, Options("track"));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string& json = result->events[0].json;
  EXPECT_NE(json.find("123456789012345678901234567890"), std::string::npos) << json;
  EXPECT_NE(json.find("-9007199254740993"), std::string::npos) << json;
  EXPECT_NE(json.find("1.5e300"), std::string::npos) << json;
  EXPECT_NE(json.find("3.141592653589793238462643"), std::string::npos) << json;
  rapidjson::Document document = Parse(json);
  EXPECT_STREQ(document["properties"]["text"].GetString(),
               "caf\xc3\xa9 \xf0\x9f\x98\x80 \"quoted\"");
}

TEST(EventIngestTest, NullOrEmptyMessageIdIsReplaced) {
  for (const char* body : {R"({"messageId":null})", R"({"messageId":""})"}) {
    auto result = IngestEvents(body, Options("track"));
    ASSERT_TRUE(result.ok()) << body;
    EXPECT_EQ(result->events[0].message_id, "generated-1") << body;
    rapidjson::Document document = Parse(result->events[0].json);
    EXPECT_STREQ(document["messageId"].GetString(), "generated-1");
  }
}

TEST(EventIngestTest, BadSingleEventsAreRefusedAsAWhole) {
  const char* bodies[] = {
      "",                                      // empty
      "{",                                     // truncated
      R"({"a":1} {"b":2})",                    // trailing garbage
      "[]",                                    // not an object
      R"("text")",                             // not an object
      R"({"messageId":5})",                    // wrong type
      R"({"messageId":{"x":1}})",              // wrong type, nested
      R"({"timestamp":12})",                   // wrong type
      R"({"messageId":"a","messageId":"b"})",  // given twice
      "{\"a\":\"\xff\"}",                      // invalid UTF-8
  };
  for (const char* body : bodies) {
    auto result = IngestEvents(body, Options("track"));
    EXPECT_FALSE(result.ok()) << "accepted: " << body;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
}

TEST(EventIngestTest, OverlongMessageIdIsRefused) {
  std::string body = R"({"messageId":")" + std::string(257, 'm') + R"("})";
  EXPECT_FALSE(IngestEvents(body, Options("track")).ok());
  body = R"({"messageId":")" + std::string(256, 'm') + R"("})";
  EXPECT_TRUE(IngestEvents(body, Options("track")).ok());
}

TEST(EventIngestTest, DeepNestingIsRefused) {
  std::string deep(100000, '[');
  std::string body = R"({"a":)" + deep + std::string(100000, ']') + "}";
  auto result = IngestEvents(body, Options("track"));
  EXPECT_FALSE(result.ok());
  std::string shallow = R"({"a":)" + std::string(30, '[') + std::string(30, ']') + "}";
  EXPECT_TRUE(IngestEvents(shallow, Options("track")).ok());
}

TEST(EventIngestTest, BatchReportsEachBadEventAndKeepsTheGoodOnes) {
  const std::string body = R"({"context":{"ignored":true},"batch":[
      {"type":"track","event":"A","messageId":"m0"},
      42,
      {"event":"no type"},
      {"type":"screen"},
      [1,2],
      {"type":"page","messageId":7},
      {"type":"identify","userId":"u"}
    ],"sentAt":"x"})";
  auto result = IngestEvents(body, Options(""));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->events.size(), 2u);
  EXPECT_EQ(result->events[0].index, 0u);
  EXPECT_EQ(result->events[0].message_id, "m0");
  EXPECT_EQ(result->events[1].index, 6u);
  EXPECT_EQ(result->events[1].type, "identify");
  ASSERT_EQ(result->errors.size(), 5u);
  EXPECT_EQ(result->errors[0].index, 1u);
  EXPECT_EQ(result->errors[0].code, "invalid_event");
  EXPECT_EQ(result->errors[1].index, 2u);
  EXPECT_EQ(result->errors[1].code, "missing_type");
  EXPECT_EQ(result->errors[2].index, 3u);
  EXPECT_EQ(result->errors[2].code, "unsupported_type");
  EXPECT_EQ(result->errors[3].index, 4u);
  EXPECT_EQ(result->errors[3].code, "invalid_event");
  EXPECT_EQ(result->errors[4].index, 5u);
  EXPECT_EQ(result->errors[4].code, "invalid_field");
}

TEST(EventIngestTest, BatchLimitIsExact) {
  auto batch_of = [](size_t n) {
    std::string body = R"({"batch":[)";
    for (size_t i = 0; i < n; ++i) body += std::string(i ? "," : "") + R"({"type":"track"})";
    return body + "]}";
  };
  auto at_limit = IngestEvents(batch_of(5), Options("", 5));
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->events.size(), 5u);
  auto over = IngestEvents(batch_of(6), Options("", 5));
  ASSERT_FALSE(over.ok());
  EXPECT_NE(std::string(over.status().message()).find("at most 5"), std::string::npos);
}

TEST(EventIngestTest, BatchBodyShapeErrors) {
  for (const char* body :
       {R"({})", R"({"batch":{}})", R"({"batch":"x"})", R"([])", R"({"batch":[],"batch":[]})"}) {
    EXPECT_FALSE(IngestEvents(body, Options("")).ok()) << body;
  }
  auto empty = IngestEvents(R"({"batch":[]})", Options(""));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->events.empty());
  EXPECT_TRUE(empty->errors.empty());
}

}  // namespace
}  // namespace signal_host::api
