// IngestEvents: how the event API reads and rewrites event bodies.
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "../../bench/corpus/event_corpus.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "event_ingest.h"
#include "gtest/gtest.h"
#include "json_util.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

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
  const std::string huge_integer = std::string(400, '7');
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

  // Beyond a double's range: valid by the grammar, so accepted and kept byte for byte.
  const std::string beyond = R"({"p":[1e400,-1E+999999,1e-400,)" + huge_integer + "]}";
  auto kept = IngestEvents(beyond, Options("track"));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->events[0].json.substr(0, beyond.size() - 1), beyond.substr(0, beyond.size() - 1));

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

TEST(EventIngestTest, HostValuesAreWrittenAsJsonStringsWhateverTheyHold) {
  // The messageId generator is pluggable: whatever it returns is escaped as RapidJSON's
  // Writer would, so the event stays one valid JSON object.
  const std::string id = std::string("q\"b\\s\b\f\n\r\t") + '\x01' + "\x1f/end";
  IngestOptions options = Options("track");
  options.new_message_id = [id] { return id; };
  auto result = IngestEvents(R"({"event":"x"})", options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->events[0].message_id, id);
  rapidjson::Document document = Parse(result->events[0].json);
  ASSERT_TRUE(document.IsObject());
  EXPECT_EQ(std::string(document["messageId"].GetString(), document["messageId"].GetStringLength()),
            id);
  rapidjson::StringBuffer reference;
  rapidjson::Writer<rapidjson::StringBuffer> writer(reference);
  writer.String(id.data(), static_cast<rapidjson::SizeType>(id.size()));
  EXPECT_NE(result->events[0].json.find(std::string("\"messageId\":") + reference.GetString()),
            std::string::npos)
      << result->events[0].json;
}

TEST(EventIngestTest, BadSingleEventsAreRefusedAsAWhole) {
  const std::string bodies[] = {
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
      R"({"messageId":"\udc00"})",             // a lone low surrogate
      R"({"a":"x\ud800"})",                    // a lone high surrogate
      "{\"a\":\"\xed\xa0\x80\"}",              // a surrogate encoded in UTF-8
      std::string("{\"a\":1}\n\0", 9),         // a NUL after the event
      "\xef\xbb\xbf{\"a\":1}",                 // a byte order mark
      R"({"a":01})",                           // a leading zero
  };
  for (const std::string& body : bodies) {
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

TEST(EventIngestTest, DepthCountsInValuesTheHostSkips) {
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  const std::string fits = std::string(64, '[') + std::string(64, ']');
  // In a batch body each of these reaches level 67, one beyond the envelope's 2 + 64.
  for (const std::string& skipped :
       {R"({"sentAt":[)" + deep + R"(],"batch":[]})", R"({"batch":[)" + deep + "]}",
        R"({"batch":[{"type":"track","messageId":[)" + deep + "]}]}"}) {
    auto result = IngestEvents(skipped, Options(""));
    ASSERT_FALSE(result.ok()) << skipped;
    EXPECT_EQ(result.status().message(), "JSON nests deeper than 64 levels");
  }
  auto result = IngestEvents(R"({"type":)" + std::string(64, '[') + std::string(64, ']') + "}",
                             Options("track"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "JSON nests deeper than 64 levels");
  // The same depths where they fit: 64 levels below the envelope's two.
  EXPECT_TRUE(IngestEvents(R"({"sentAt":[)" + fits + R"(],"batch":[]})", Options("")).ok());
  EXPECT_TRUE(IngestEvents(R"({"type":)" + std::string(63, '[') + std::string(63, ']') + "}",
                           Options("track"))
                  .ok());
}

TEST(EventIngestTest, ABodyThatBreaksTheJsonRuleIsMalformedWhateverElseIsWrong) {
  struct Case {
    std::string body;
    std::string path_type;
    std::string error;
  };
  for (const Case& c : {
           // The shape is refused at the first token; the rule still comes first.
           Case{R"([1,2,)", "track", "malformed JSON at byte 5: a value is missing"},
           Case{"[\"\\udc00\"]", "track",
                "malformed JSON at byte 2: lone low surrogate in a \\u escape"},
           Case{R"({"batch":5,"x":tru})", "", "malformed JSON at byte 15: invalid literal"},
           Case{R"({"batch":[{"type":"track"}],"batch":[]} x)", "",
                "malformed JSON at byte 40: text after the end of the document"},
           Case{R"({"batch":[{},{}],"x":[)" + std::string(70, '[') + "]}", "",
                "JSON nests deeper than 64 levels"},
           // A single event with a bad field and trailing garbage.
           Case{R"({"messageId":5} {})", "track",
                "malformed JSON at byte 16: text after the end of the document"},
           // Valid JSON of the wrong shape keeps its own message.
           Case{"[]", "track", "the body must be a JSON object"},
           Case{R"({"batch":5,"x":true})", "", "\"batch\" must be an array of events"},
           Case{R"({"batch":[{},{}],"x":1})", "", "a batch holds at most 1 events"},
           Case{R"({"messageId":5})", "track", "messageId must be a string"},
       }) {
    auto result = IngestEvents(c.body, Options(c.path_type, 1));
    ASSERT_FALSE(result.ok()) << c.body;
    EXPECT_EQ(result.status().message(), c.error) << c.body;
  }
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

// ---------------------------------------------------------------------------------
// The oracle: the reader as it was before it copied events' bytes. It re-wrote every
// token through RapidJSON's Writer, so its output is the canonical compact form of
// each event. For any body IngestEvents must give the same status, the same errors and
// the same events, each event's JSON being the same document. RapidJSON's reader is
// stricter than the JSON rule in one way and looser in three, so the oracle adds the
// rule where RapidJSON lacks it: lone low surrogates (\udc00) are refused, a NUL after
// the document is refused, and nesting is counted in skipped values too; numbers
// RapidJSON cannot hold (1e400) are blanked to 0 first, in the body and in the events
// compared (the differential test shows they are kept exactly).
namespace reference {

constexpr unsigned kReaderFlags = rapidjson::kParseIterativeFlag |
                                  rapidjson::kParseValidateEncodingFlag |
                                  rapidjson::kParseNumbersAsStringsFlag;

// RapidJSON turns \udc00 into the bytes of an encoded surrogate (ED B0 80), which it
// refuses as raw input: so such bytes in a decoded string came from a lone surrogate.
bool HasEncodedSurrogate(std::string_view text) {
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) == 0xED &&
        static_cast<unsigned char>(text[i + 1]) >= 0xA0) {
      return true;
    }
  }
  return false;
}

// Replaces each number RapidJSON refuses as too big (but whose grammar is right) by a 0
// padded with spaces to the same length.
std::string BlankHugeNumbers(std::string_view input) {
  static const std::regex kNumber(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
  std::string text(input);
  for (;;) {
    rapidjson::BaseReaderHandler<> ignore;
    rapidjson::MemoryStream stream(text.data(), text.size());
    rapidjson::Reader reader;
    const rapidjson::ParseResult parsed = reader.Parse<kReaderFlags>(stream, ignore);
    std::smatch number;
    const std::string rest = text.substr(parsed.Offset(), 2000);
    if (parsed.Code() != rapidjson::kParseErrorNumberTooBig ||
        !std::regex_search(rest, number, kNumber) || number.length(0) < 2) {
      return text;
    }
    const size_t length = static_cast<size_t>(number.length(0));
    text.replace(parsed.Offset(), length, "0" + std::string(length - 1, ' '));
  }
}

// Validates without building anything, with the rule's additions; the error, if any.
class RuleCheck : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, RuleCheck> {
 public:
  explicit RuleCheck(int max_depth) : max_depth_(max_depth) {}
  bool Default() { return true; }
  bool String(const char* str, rapidjson::SizeType length, bool) {
    return !HasEncodedSurrogate(std::string_view(str, length)) || Violation("lone surrogate");
  }
  bool Key(const char* str, rapidjson::SizeType length, bool copy) {
    return String(str, length, copy);
  }
  bool StartObject() { return ++depth_ <= max_depth_ || TooDeep(); }
  bool StartArray() { return ++depth_ <= max_depth_ || TooDeep(); }
  bool EndObject(rapidjson::SizeType) { return --depth_, true; }
  bool EndArray(rapidjson::SizeType) { return --depth_, true; }

  bool Violation(const char* what) {
    error_ = absl::StrCat("malformed JSON: ", what);
    return false;
  }
  bool TooDeep() {
    error_ = absl::StrCat("JSON nests deeper than ", kMaxJsonDepth, " levels");
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  const int max_depth_;
  int depth_ = 0;
  std::string error_;
};

// The body's first break of the JSON rule, or "" (`text` has its huge numbers blanked).
std::string RuleError(const std::string& text, int max_depth) {
  RuleCheck check(max_depth);
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  const rapidjson::ParseResult parsed = reader.Parse<kReaderFlags>(stream, check);
  if (!check.error().empty()) return check.error();
  if (parsed.IsError()) {
    return absl::StrCat("malformed JSON: ", rapidjson::GetParseError_En(parsed.Code()));
  }
  // RapidJSON stops at a NUL as if the text ended there.
  if (text.find('\0') != std::string::npos) return "malformed JSON: NUL byte";
  return "";
}

constexpr size_t kMaxMessageIdBytes = 256;

// One scalar SAX event.
struct Scalar {
  enum Kind { kNull, kBool, kNumber, kString } kind;
  std::string_view text;  // number or string text
  bool boolean = false;
};

// The SAX handler that walks the body and re-writes each event. See IngestEvents.
class IngestHandler {
 public:
  explicit IngestHandler(const IngestOptions& options)
      : options_(options), batch_mode_(options.path_type.empty()) {}

  bool Null() { return OnScalar({Scalar::kNull, {}}); }
  bool Bool(bool b) { return OnScalar({Scalar::kBool, {}, b}); }
  bool Int(int) { return Unexpected(); }
  bool Uint(unsigned) { return Unexpected(); }
  bool Int64(int64_t) { return Unexpected(); }
  bool Uint64(uint64_t) { return Unexpected(); }
  bool Double(double) { return Unexpected(); }
  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    return OnScalar({Scalar::kNumber, std::string_view(str, length)});
  }
  bool String(const char* str, rapidjson::SizeType length, bool) {
    if (HasEncodedSurrogate(std::string_view(str, length))) return RuleBroken();
    return OnScalar({Scalar::kString, std::string_view(str, length)});
  }
  bool StartObject() { return OnStart(true); }
  bool StartArray() { return OnStart(false); }
  bool EndObject(rapidjson::SizeType) { return OnEnd(true); }
  bool EndArray(rapidjson::SizeType) { return OnEnd(false); }
  bool Key(const char* str, rapidjson::SizeType length, bool) {
    if (HasEncodedSurrogate(std::string_view(str, length))) return RuleBroken();
    return OnKey(std::string_view(str, length));
  }

  bool rule_broken() const { return rule_broken_; }
  bool too_deep() const { return too_deep_; }

  // After a successful parse: body-level checks that need the whole body.
  absl::Status Finish() {
    if (batch_mode_ && !saw_batch_) {
      return absl::InvalidArgumentError("the body must be an object with a \"batch\" array");
    }
    return absl::OkStatus();
  }

  const std::string& body_error() const { return body_error_; }
  IngestResult& result() { return result_; }

 private:
  enum class Special { kNone, kType, kMessageId, kTimestamp };

  bool Unexpected() { return Fail("internal: numbers must arrive as raw text"); }
  bool RuleBroken() {
    rule_broken_ = true;
    return false;
  }

  bool Fail(std::string message) {
    if (body_error_.empty()) body_error_ = std::move(message);
    return false;
  }

  bool OnScalar(const Scalar& scalar) {
    if (skip_depth_ > 0) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_ && pending_ != Special::kNone) {
        HandleSpecial(&scalar);
        return true;
      }
      WriteScalar(scalar);
      return true;
    }
    if (depth_ == 0) return Fail("the body must be a JSON object");
    if (batch_mode_ && batch_open_ && depth_ == kBatchArrayDepth) {
      AddElementError("invalid_event", "each event must be a JSON object");
      return NextElement();
    }
    // A scalar directly under the root of a batch body: only "batch" matters.
    return Fail("\"batch\" must be an array of events");
  }

  bool OnStart(bool object) {
    // Nesting counts everywhere, in skipped values too.
    ++depth_;
    if (depth_ > kMaxJsonDepth + (batch_mode_ ? 2 : 0)) {
      too_deep_ = true;
      return false;
    }
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
      return true;
    }
    if (in_event_) {
      if (depth_ - 1 == event_depth_ && pending_ != Special::kNone) {
        HandleSpecial(nullptr);
        skip_depth_ = 1;
        return true;
      }
      object ? writer_.StartObject() : writer_.StartArray();
      return true;
    }
    if (!batch_mode_) {
      if (!object) return Fail("the body must be a JSON object");
      BeginEvent();
      return true;
    }
    if (depth_ == 1) {
      if (!object) return Fail("the body must be a JSON object");
      return true;
    }
    if (depth_ == kBatchArrayDepth) {
      // The value of the root's "batch" key (other keys are skipped).
      if (object) return Fail("\"batch\" must be an array of events");
      batch_open_ = true;
      saw_batch_ = true;
      return true;
    }
    // An element of the batch array.
    if (object) {
      BeginEvent();
      return true;
    }
    AddElementError("invalid_event", "each event must be a JSON object");
    skip_depth_ = 1;
    return NextElement();
  }

  bool OnEnd(bool object) {
    if (skip_depth_ > 0) {
      --skip_depth_;
      --depth_;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_) {
        FinishEvent();
        --depth_;
        return batch_mode_ ? NextElement() : true;
      }
      object ? writer_.EndObject() : writer_.EndArray();
      --depth_;
      return true;
    }
    if (batch_mode_ && depth_ == kBatchArrayDepth) batch_open_ = false;
    --depth_;
    return true;
  }

  bool OnKey(std::string_view key) {
    if (skip_depth_ > 0) return true;
    if (in_event_) {
      if (depth_ == event_depth_) {
        Special special = key == "type"        ? Special::kType
                          : key == "messageId" ? Special::kMessageId
                          : key == "timestamp" ? Special::kTimestamp
                                               : Special::kNone;
        if (special != Special::kNone) {
          bool& seen = special == Special::kType        ? type_key_seen_
                       : special == Special::kMessageId ? message_id_key_seen_
                                                        : timestamp_key_seen_;
          if (seen)
            MarkEventError("invalid_field", absl::StrCat("duplicate key \"", AbslView(key), "\""));
          seen = true;
          pending_ = special;
          return true;
        }
      }
      WriteKey(writer_, key);
      return true;
    }
    // A key of a batch body's root object.
    if (key == "batch") {
      if (saw_batch_) return Fail("duplicate \"batch\" key");
    } else {
      skip_next_ = true;
    }
    return true;
  }

  void BeginEvent() {
    in_event_ = true;
    event_depth_ = depth_;
    buffer_.Clear();
    writer_.Reset(buffer_);
    writer_.StartObject();
    pending_ = Special::kNone;
    type_key_seen_ = message_id_key_seen_ = timestamp_key_seen_ = false;
    type_.clear();
    message_id_.clear();
    has_type_ = has_timestamp_ = false;
    event_error_code_.clear();
    event_error_message_.clear();
  }

  void WriteScalar(const Scalar& scalar) {
    switch (scalar.kind) {
      case Scalar::kNull:
        writer_.Null();
        break;
      case Scalar::kBool:
        writer_.Bool(scalar.boolean);
        break;
      case Scalar::kNumber:
        writer_.RawValue(scalar.text.data(), scalar.text.size(), rapidjson::kNumberType);
        break;
      case Scalar::kString:
        WriteString(writer_, scalar.text);
        break;
    }
  }

  // The value of a top-level type/messageId/timestamp key; null `scalar` means an
  // object or array (which the caller skips).
  void HandleSpecial(const Scalar* scalar) {
    Special special = pending_;
    pending_ = Special::kNone;
    bool is_string = scalar != nullptr && scalar->kind == Scalar::kString;
    bool is_null = scalar != nullptr && scalar->kind == Scalar::kNull;
    switch (special) {
      case Special::kType:
        if (!batch_mode_) {
          // The path decides the type, whatever the body said; keep the key's place.
          WriteKey(writer_, "type");
          WriteString(writer_, options_.path_type);
          has_type_ = true;
        } else if (is_string) {
          type_ = std::string(scalar->text);
          has_type_ = true;
          WriteKey(writer_, "type");
          WriteString(writer_, scalar->text);
        } else if (!is_null) {
          MarkEventError("invalid_field", "type must be a string");
        }
        break;
      case Special::kMessageId:
        if (is_string && !scalar->text.empty()) {
          if (scalar->text.size() > kMaxMessageIdBytes) {
            MarkEventError("invalid_field",
                           absl::StrCat("messageId is longer than ", kMaxMessageIdBytes, " bytes"));
            break;
          }
          message_id_ = std::string(scalar->text);
          WriteKey(writer_, "messageId");
          WriteString(writer_, scalar->text);
        } else if (!is_null && !is_string) {
          MarkEventError("invalid_field", "messageId must be a string");
        }
        break;
      case Special::kTimestamp:
        if (is_string && !scalar->text.empty()) {
          has_timestamp_ = true;
          WriteKey(writer_, "timestamp");
          WriteString(writer_, scalar->text);
        } else if (!is_null && !is_string) {
          MarkEventError("invalid_field", "timestamp must be an ISO 8601 string");
        }
        break;
      case Special::kNone:
        break;
    }
  }

  void MarkEventError(std::string code, std::string message) {
    if (event_error_code_.empty()) {
      event_error_code_ = std::move(code);
      event_error_message_ = std::move(message);
    }
  }

  void FinishEvent() {
    in_event_ = false;
    if (event_error_code_.empty()) {
      if (!has_type_) {
        if (batch_mode_) {
          MarkEventError("missing_type",
                         "type is required in a batch (track, page, identify, group)");
        } else {
          WriteKey(writer_, "type");
          WriteString(writer_, options_.path_type);
          type_ = options_.path_type;
        }
      } else if (!batch_mode_) {
        type_ = options_.path_type;
      } else if (!IsSignalEventType(type_)) {
        MarkEventError(
            "unsupported_type",
            absl::StrCat("type \"", type_, "\" is not one of track, page, identify, group"));
      }
    }
    if (!event_error_code_.empty()) {
      result_.errors.push_back({index_, event_error_code_, event_error_message_});
      if (!batch_mode_) Fail(event_error_message_);
      return;
    }
    if (message_id_.empty()) {
      message_id_ = options_.new_message_id();
      WriteKey(writer_, "messageId");
      WriteString(writer_, message_id_);
    }
    if (!has_timestamp_) {
      WriteKey(writer_, "timestamp");
      WriteString(writer_, IsoMillis(options_.now_ms));
    }
    writer_.EndObject();
    result_.events.push_back(
        {index_, message_id_, type_, std::string(buffer_.GetString(), buffer_.GetSize())});
  }

  void AddElementError(std::string code, std::string message) {
    result_.errors.push_back({index_, std::move(code), std::move(message)});
  }

  bool NextElement() {
    ++index_;
    if (index_ > options_.max_batch_events) {
      return Fail(absl::StrCat("a batch holds at most ", options_.max_batch_events, " events"));
    }
    return true;
  }

  // Root object at depth 1, the batch array at depth 2, its events at depth 3.
  static constexpr int kBatchArrayDepth = 2;

  const IngestOptions& options_;
  const bool batch_mode_;
  IngestResult result_;
  std::string body_error_;
  bool rule_broken_ = false;
  bool too_deep_ = false;

  int depth_ = 0;
  int skip_depth_ = 0;
  bool skip_next_ = false;
  bool batch_open_ = false;
  bool saw_batch_ = false;
  size_t index_ = 0;

  bool in_event_ = false;
  int event_depth_ = 0;
  Special pending_ = Special::kNone;
  bool type_key_seen_ = false;
  bool message_id_key_seen_ = false;
  bool timestamp_key_seen_ = false;
  bool has_type_ = false;
  bool has_timestamp_ = false;
  std::string type_;
  std::string message_id_;
  std::string event_error_code_;
  std::string event_error_message_;
  rapidjson::StringBuffer buffer_;
  JsonWriter writer_{buffer_};
};

// The order of IngestEvents' verdicts: a break of the JSON rule anywhere, then the
// body's shape, then the events.
absl::StatusOr<IngestResult> Ingest(std::string_view body, const IngestOptions& options) {
  const std::string text = BlankHugeNumbers(body);
  const int max_depth = kMaxJsonDepth + (options.path_type.empty() ? 2 : 0);
  IngestHandler handler(options);
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  const rapidjson::ParseResult parsed = reader.Parse<kReaderFlags>(stream, handler);
  const bool stopped_by_shape = !handler.body_error().empty() && parsed.IsError() &&
                                !handler.rule_broken() && !handler.too_deep();
  if (parsed.IsError() && !stopped_by_shape) {
    std::string error = RuleError(text, max_depth);
    if (error.empty()) error = "malformed JSON: the oracle and RuleError disagree";
    return absl::InvalidArgumentError(error);
  }
  if (const std::string error = RuleError(text, max_depth); !error.empty()) {
    return absl::InvalidArgumentError(error);
  }
  if (!handler.body_error().empty()) return absl::InvalidArgumentError(handler.body_error());
  if (absl::Status status = handler.Finish(); !status.ok()) return status;
  return std::move(handler.result());
}

}  // namespace reference

// Re-writes a JSON text compactly through RapidJSON's Writer, numbers as written: the
// form the reference produces.
class CanonicalWriter {
 public:
  explicit CanonicalWriter(rapidjson::StringBuffer& buffer) : writer_(buffer) {}
  bool Null() { return writer_.Null(); }
  bool Bool(bool b) { return writer_.Bool(b); }
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    return writer_.RawValue(str, length, rapidjson::kNumberType);
  }
  bool String(const char* str, rapidjson::SizeType length, bool) {
    return writer_.String(str, length);
  }
  bool StartObject() { return writer_.StartObject(); }
  bool Key(const char* str, rapidjson::SizeType length, bool) { return writer_.Key(str, length); }
  bool EndObject(rapidjson::SizeType count) { return writer_.EndObject(count); }
  bool StartArray() { return writer_.StartArray(); }
  bool EndArray(rapidjson::SizeType count) { return writer_.EndArray(count); }

 private:
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

// Empty when `json` is not valid JSON (strictly, UTF-8 validated, nothing after it).
std::string Canonical(const std::string& json) {
  rapidjson::StringBuffer buffer;
  CanonicalWriter writer(buffer);
  rapidjson::MemoryStream stream(json.data(), json.size());
  rapidjson::Reader reader;
  if (reader
          .Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                 rapidjson::kParseNumbersAsStringsFlag>(stream, writer)
          .IsError()) {
    return "";
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string Printable(std::string_view body) {
  std::string text = absl::CHexEscape(AbslView(body.substr(0, 600)));
  if (body.size() > 600) absl::StrAppend(&text, "... (", body.size(), " bytes)");
  return text;
}

// IngestEvents and the reference agree on `body`: the same status, errors, events and
// (canonically) the same JSON per event. Reports and returns false when they do not.
bool MatchesReference(std::string_view body, const std::string& path_type, size_t max_batch = 500) {
  const absl::StatusOr<IngestResult> actual = IngestEvents(body, Options(path_type, max_batch));
  const absl::StatusOr<IngestResult> expected =
      reference::Ingest(body, Options(path_type, max_batch));
  const std::string where = absl::StrCat("path type \"", AbslView(path_type), "\", max ", max_batch,
                                         ", body ", Printable(body));
  // A break of the JSON rule is compared by kind: the two describe it in their own words.
  const auto verdict = [](const absl::Status& status) -> std::string {
    const absl::string_view message = status.message();
    if (absl::StartsWith(message, "malformed JSON")) return "malformed JSON";
    if (absl::StartsWith(message, "JSON nests deeper")) return "too deep";
    return status.ToString();
  };
  if (verdict(actual.status()) != verdict(expected.status())) {
    ADD_FAILURE() << where << "\n  got " << actual.status() << "\n  expected " << expected.status();
    return false;
  }
  if (!actual.ok()) return true;
  bool same = true;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      ADD_FAILURE() << where << "\n  " << what;
      same = false;
    }
  };
  check(actual->errors.size() == expected->errors.size(),
        absl::StrCat(actual->errors.size(), " errors, expected ", expected->errors.size()));
  for (size_t i = 0; same && i < actual->errors.size(); ++i) {
    const EventError& got = actual->errors[i];
    const EventError& want = expected->errors[i];
    check(got.index == want.index && got.code == want.code && got.message == want.message,
          absl::StrCat("error ", i, ": ", got.index, " ", got.code, " ", got.message, "; expected ",
                       want.index, " ", want.code, " ", want.message));
  }
  check(actual->events.size() == expected->events.size(),
        absl::StrCat(actual->events.size(), " events, expected ", expected->events.size()));
  for (size_t i = 0; same && i < actual->events.size(); ++i) {
    const IngestedEvent& got = actual->events[i];
    const IngestedEvent& want = expected->events[i];
    check(got.index == want.index && got.message_id == want.message_id && got.type == want.type,
          absl::StrCat("event ", i, ": ", got.index, " ", got.message_id, " ", got.type,
                       "; expected ", want.index, " ", want.message_id, " ", want.type));
    check(Canonical(reference::BlankHugeNumbers(got.json)) == want.json,
          absl::StrCat("event ", i, " JSON\n    ", Printable(got.json),
                       "\n  is not the same document as\n    ", Printable(want.json)));
  }
  return same;
}

TEST(EventIngestTest, MatchesTheReferenceOnHandPickedBodies) {
  const std::vector<std::string> events = {
      // Host fields present, absent, null, empty, repeated, of the wrong type.
      R"({"type":"track","event":"E","messageId":"m","timestamp":"2025-01-01T00:00:00Z"})",
      R"({"event":"E"})",
      R"({})",
      R"({ })",
      R"({"messageId":null})",
      R"({"messageId":"","timestamp":"","type":null})",
      R"({"a":1,"messageId":null,"b":2})",
      R"({"a":1,"timestamp":null})",
      R"({"messageId":null,"timestamp":null,"type":"page"})",
      R"({"type":{"x":[1,{"y":2}]},"a":[]})",
      R"({"type":["track"],"messageId":"m"})",
      R"({"type":5})",
      R"({"type":"TRACK"})",
      R"({"type":"track","type":"page"})",
      R"({"timestamp":"t","timestamp":null})",
      R"({"messageId":true})",
      R"({"messageId":[]})",
      R"({"timestamp":{}})",
      R"({"timestamp":false})",
      // Names and values written with escapes.
      R"({"t\u0079pe":"track","message\u0049d":"a\u0062c","timest\u0061mp":"x"})",
      R"({"type":"tr\u0061ck","messageId":"\"quoted\" \\ \/ \b\f\n\r\t"})",
      R"({"type":"track","t\u0079pe":"page"})",
      R"({"type":"track","messageId":"\u0000"})",
      R"({"type":"track","messageId":"\ud83d\ude00","x":"\udc00"})",
      R"({"type":"track","k\u00e9y":"v\u00e9","\u65e5\u672c":"caf\u00e9"})",
      // Numbers at RapidJSON's edges.
      R"({"type":"track","n":[0,-0,1.5,-1.25e-7,1E+2,1e308,1.7976931348623157e308,5e-324]})",
      R"({"type":"track","n":123456789012345678901234567890123456789012345678901234567890})",
      R"({"type":"track","n":1e309})",
      R"({"type":"track","n":1.5e308})",
      R"({"type":"track","n":0.001e310})",
      R"({"type":"track","n":1e-99999999999})",
      R"({"type":"track","n":01})",
      R"({"type":"track","n":1.})",
      R"({"type":"track","n":.5})",
      R"({"type":"track","n":-})",
      R"({"type":"track","n":1e})",
      R"({"type":"track","n":1e+})",
      R"({"type":"track","n":+1})",
      R"({"type":"track","n":1.2.3})",
      R"({"type":"track","n":NaN})",
      R"({"type":"track","n":-Infinity})",
      R"({"type":"track","n":)" + std::string(320, '9') + "}",
      R"({"type":"track","n":)" + std::string(300, '9') + "." + std::string(300, '9') + "}",
      // Literals and structure.
      R"({"type":"track","l":[true,false,null]})",
      R"({"type":"track","l":tru})",
      R"({"type":"track","l":nul})",
      R"({"type":"track","l":[1,]})",
      R"({"type":"track",})",
      R"({"type":"track" "a":1})",
      R"({"type":"track","a" 1})",
      R"({"type":"track","a":[1 2]})",
      R"({"type":"track","a":{"b":1]})",
      R"({"type":"track",'a':1})",
      R"({"type":"track","a":"unterminated})",
      // Whitespace everywhere it may be.
      " \t\r\n{ \"type\" : \"track\" ,\n \"messageId\" :\tnull , \"a\" : [ 1 , { \"b\" : \"c\" } ] "
      ","
      " \"timestamp\" : \"\" } \n",
      "{\n  \"a\": 1,\n  \"type\": \"identify\"\n}",
      "{ \"messageId\" : null }",
  };
  // Strings RapidJSON refuses or accepts by its encoding rules.
  const std::vector<std::string> strings = {
      "\"\xc3\xa9\"",
      "\"\xe6\x97\xa5\"",
      "\"\xf0\x9f\x98\x80\"",
      "\"\xf4\x8f\xbf\xbf\"",
      "\"\xff\"",
      "\"\xc3\"",
      "\"\xc0\xaf\"",
      "\"\xc1\xbf\"",
      "\"\xe0\x80\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xed\x9f\xbf\"",
      "\"\xf0\x80\x80\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xf5\x80\x80\x80\"",
      "\"\x80\"",
      "\"\xe6\x97\"",
      "\"a\x01z\"",
      "\"a\x1fz\"",
      "\"a\x7fz\"",
      R"("\ud800")",
      R"("\ud800\u0041")",
      R"("\ud800x")",
      R"("\udbff\udfff")",
      R"("\u12")",
      R"("\u12g4")",
      R"("\x41")",
      R"("\")",
      R"("\'")",
      std::string("\"a\0z\"", 5),
  };
  std::vector<std::string> singles = events;
  for (const std::string& value : strings) {
    singles.push_back(R"({"type":"track","s":)" + value + "}");
    singles.push_back(R"({"type":"track","messageId":)" + value + "}");
    singles.push_back("{" + value + R"(:1,"type":"track"})");
  }
  for (const std::string& event : singles) {
    EXPECT_TRUE(MatchesReference(event, "track"));
    EXPECT_TRUE(MatchesReference(event, "group"));
    EXPECT_TRUE(MatchesReference(R"({"batch":[)" + event + "]}", ""));
    EXPECT_TRUE(
        MatchesReference(R"({"batch":[{"type":"page"},)" + event + R"(,{"type":"group"}]})", ""));
  }
  const std::vector<std::string> bodies = {
      "",
      " ",
      "null",
      "5",
      R"("batch")",
      "[]",
      "{",
      "}",
      R"({"batch":[]})",
      R"({"batch":[]} )",
      std::string("{\"batch\":[]}\0trailing", 21),
      std::string("{\"batch\":[\0]}", 13),
      std::string("\0{\"batch\":[]}", 13),
      R"({"batch":[]} x)",
      R"({"batch":[]}{})",
      R"({"batch":[],"batch":[]})",
      R"({"b\u0061tch":[{"type":"track"}]})",
      R"({"batch":[],"b\u0061tch":[]})",
      R"({"batch":null})",
      R"({"batch":5})",
      R"({"batch":{"type":"track"}})",
      R"({"sentAt":"x","context":{"a":[[[{"b":1}]]]},"batch":[{"type":"track"}],"writeKey":null})",
      R"({"batch":[1,"two",null,true,[{"type":"track"}],{"type":"track"}]})",
      R"({"batch":[{"type":"track"}],"x":)",
      R"({"batch":[{"type":"track"},{"type":"tr)",
      R"({"batch":[{"messageId":5},{"type":"track"}] junk)",
      R"({"batch":[{"type":"track"},{"type":"track"},{"type":"track"} junk)",
      R"({"context":)" + std::string(200, '[') + std::string(200, ']') + R"(,"batch":[]})",
      R"({"batch":[{"type":"track","a":)" + std::string(63, '[') + std::string(63, ']') + "}]}",
      R"({"batch":[{"type":"track","a":)" + std::string(64, '[') + std::string(64, ']') + "}]}",
      R"({"batch":[{"type":"track","a":)" + std::string(64, '[') + "}]}",
      R"({"batch":[{"messageId":)" + std::string(500, '[') + std::string(500, ']') + "}]}",
      R"({"batch":[)" + std::string(70, '[') + std::string(70, ']') + "]}",
  };
  for (const std::string& body : bodies) {
    EXPECT_TRUE(MatchesReference(body, ""));
    EXPECT_TRUE(MatchesReference(body, "track"));
    EXPECT_TRUE(MatchesReference(body, "", 1));
  }
  // The single-event depth limit, either side of it.
  for (int levels : {62, 63, 64, 65}) {
    const std::string nested = std::string(levels, '[') + std::string(levels, ']');
    EXPECT_TRUE(MatchesReference(R"({"a":)" + nested + "}", "track")) << levels;
  }
}

signal_bench::CorpusOptions UnusualCorpus(size_t events) {
  signal_bench::CorpusOptions options;
  options.event_count = events;
  // More of the unusual events than the benchmark's mix.
  options.deep_per_mille = 40;
  options.unicode_per_mille = 300;
  options.bigint_per_mille = 200;
  options.large_per_mille = 20;
  options.max_deep_levels = 80;  // some within the depth limit, some beyond
  return options;
}

TEST(EventIngestTest, MatchesTheReferenceOnTheCorpus) {
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(UnusualCorpus(2000));
  for (size_t first = 0; first < corpus.events.size(); first += 100) {
    std::string body = R"({"batch":[)";
    for (size_t i = first; i < first + 100; ++i) {
      if (i > first) body.push_back(',');
      body.append(corpus.events[i]);
    }
    body.append("]}");
    ASSERT_TRUE(MatchesReference(body, ""));
  }
  for (const std::string& event : corpus.events) {
    ASSERT_TRUE(MatchesReference(event, "page"));
    ASSERT_TRUE(MatchesReference(R"({"batch":[)" + event + "]}", ""));
  }
}

// Random edits of valid bodies: most give malformed JSON, bad events or odd but valid
// shapes, and the two readers must agree on every one.
TEST(EventIngestTest, MatchesTheReferenceOnMutatedBodies) {
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(UnusualCorpus(200));
  std::vector<std::string> seeds = {
      R"({"type":"track","event":"E","messageId":"m1","timestamp":"2025-01-01T00:00:00Z",)"
      R"("properties":{"a":[1,2.5,{"b":null}],"c":"x\u00e9","d":true}})",
      R"({"batch":[{"type":"track","messageId":"a"},{"type":"page","name":"N"},)"
      R"({"type":"identify","traits":{"n":-1.5e3}}],"sentAt":"x"})",
      "{ \"batch\" : [ { \"type\" : \"group\" , \"messageId\" : null } ,\n {\"type\":\"track\"} ] "
      "}",
      R"({"messageId":null,"type":"page","timestamp":""})",
  };
  for (size_t i = 0; i < 20; ++i) {
    seeds.push_back(corpus.events[i]);
    seeds.push_back(R"({"batch":[)" + corpus.events[i] + "," + corpus.events[i + 20] + "]}");
  }
  const std::vector<std::string> tokens = {
      "\"",
      "\\",
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      " ",
      "\n",
      R"(\u)",
      R"(\ud83d)",
      R"(\udc00)",
      R"(\u00e9)",
      R"(\")",
      "1e400",
      "1e308",
      "-",
      "0",
      ".",
      "e5",
      "123456789012345678901234567890",
      "\xff",
      "\xc3",
      "\xc3\xa9",
      "\xe0\x80\x80",
      "\xed\xa0\x80",
      "\xf4\x90\x80\x80",
      "\xf0\x9f\x98\x80",
      std::string(1, '\0'),
      "\x01",
      "null",
      "true",
      R"("type")",
      R"("messageId")",
      R"("timestamp")",
      R"("batch")",
      R"("track")",
      R"("")",
      "{}",
      "[]",
      R"("t\u0079pe")",
      R"("type":"track",)",
      R"("messageId":null,)",
      R"("messageId":"x",)",
  };
  signal_bench::CorpusRng rng(20260301);
  int mismatches = 0;
  for (int round = 0; round < 20000 && mismatches < 5; ++round) {
    std::string body = seeds[rng.Below(static_cast<uint32_t>(seeds.size()))];
    const uint32_t edits = 1 + rng.Below(3);
    for (uint32_t e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng.Below(static_cast<uint32_t>(body.size()));
      switch (rng.Below(4)) {
        case 0:
          body.insert(at, tokens[rng.Below(static_cast<uint32_t>(tokens.size()))]);
          break;
        case 1:
          body.replace(at, 1, tokens[rng.Below(static_cast<uint32_t>(tokens.size()))]);
          break;
        case 2:
          body.erase(at, 1 + rng.Below(8));
          break;
        default: {
          const std::string piece = body.substr(at, 1 + rng.Below(24));
          body.insert(rng.Below(static_cast<uint32_t>(body.size())), piece);
          break;
        }
      }
    }
    const bool batch = body.find("\"batch\"") != std::string::npos && rng.Below(4) != 0;
    if (!MatchesReference(body, batch ? "" : "identify", batch ? 1 + rng.Below(3) : 500)) {
      ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(EventIngestTest, EventsKeepTheirOwnBytesWhenTheHostAddsNothing) {
  // Escapes, whitespace inside values and number spellings are copied as sent.
  const std::string event =
      R"({"type":"track","messageId":"m\u0031","timestamp":"2025-01-01T00:00:00Z",)"
      R"("p":{ "s" : "caf\u00e9 \/", "n" : [ 1.50 , -0 , 1E+2 ] }})";
  auto result = IngestEvents(R"({"batch":[ )" + event + " ]}", Options(""));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->events.size(), 1u);
  EXPECT_EQ(result->events[0].json, event);
  EXPECT_EQ(result->events[0].message_id, "m1") << "the host reads the decoded messageId";
}

TEST(EventIngestTest, HostFieldsAreSplicedIntoWhitespaceLadenEvents) {
  const std::string body =
      "{\n  \"messageId\" : null ,\n  \"a\" : [ 1 , 2 ] ,\n  \"type\" : \"track\" ,\n"
      "  \"timestamp\" : \"\"\n}";
  auto result = IngestEvents(body, Options("page"));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string& json = result->events[0].json;
  EXPECT_EQ(json, R"({"a" : [ 1 , 2 ],"type":"page","messageId":"generated-1",)"
                  R"("timestamp":"2026-02-25T14:30:00.123Z"})");
  rapidjson::Document document = Parse(json);
  EXPECT_STREQ(document["type"].GetString(), "page");
  EXPECT_EQ(document["a"].Size(), 2u);

  // An event left with no members of its own.
  result = IngestEvents("{ \"messageId\" : null }", Options("track"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->events[0].json, R"({"type":"track","messageId":"generated-1",)"
                                    R"("timestamp":"2026-02-25T14:30:00.123Z"})");
}

TEST(EventIngestTest, EscapedNamesAndValuesAreReadDecoded) {
  auto result = IngestEvents(
      R"({"b\u0061tch":[{"t\u0079pe":"tr\u0061ck","message\u0049d":"a\u0062c"}]})", Options(""));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->events.size(), 1u);
  EXPECT_EQ(result->events[0].type, "track");
  EXPECT_EQ(result->events[0].message_id, "abc");
  rapidjson::Document document = Parse(result->events[0].json);
  EXPECT_STREQ(document["messageId"].GetString(), "abc");
  EXPECT_STREQ(document["type"].GetString(), "track");

  // The same key twice, once escaped.
  result = IngestEvents(R"({"batch":[{"type":"track","t\u0079pe":"page"}]})", Options(""));
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->errors[0].message, R"(duplicate key "type")");

  // The messageId limit counts decoded bytes: 200 six-byte escapes are 200 bytes.
  std::string escaped;
  for (int i = 0; i < 200; ++i) escaped += R"(\u0061)";
  result = IngestEvents(R"({"messageId":")" + escaped + R"("})", Options("track"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->events[0].message_id, std::string(200, 'a'));
  result = IngestEvents(R"({"messageId":")" + escaped + escaped + R"("})", Options("track"));
  EXPECT_FALSE(result.ok());
}

TEST(EventIngestTest, MalformedBodiesAreDescribedByPosition) {
  struct Case {
    std::string body;
    std::string error;
  };
  for (const Case& c : {
           Case{R"({"batch":[{"type":"track","n":1e400.5}]})",
                "malformed JSON at byte 35: invalid number"},
           Case{R"({"n":01})", "malformed JSON at byte 6: invalid number"},
           Case{R"({"n":-})", "malformed JSON at byte 6: invalid number"},
           Case{"{\"a\":\"\xff\"}", "malformed JSON at byte 6: invalid UTF-8"},
           Case{"{\"a\":\"x\ty\"}",
                "malformed JSON at byte 7: control character in a string (escape it)"},
           Case{R"({"a":"\udc00"})",
                "malformed JSON at byte 6: lone low surrogate in a \\u escape"},
           Case{R"({"a":"\ud800\u0041"})",
                "malformed JSON at byte 6: high surrogate in a \\u escape without a low one after "
                "it"},
           Case{R"({"a":"\q"})", "malformed JSON at byte 6: invalid escape"},
           Case{R"({"a":1)", "malformed JSON at byte 6: unterminated object or array"},
           Case{R"({"a":1} x)", "malformed JSON at byte 8: text after the end of the document"},
           Case{std::string("{\"a\":1}\0", 8),
                "malformed JSON at byte 7: text after the end of the document"},
       }) {
    auto result =
        IngestEvents(c.body, Options(c.body.find("batch") != std::string::npos ? "" : "track"));
    ASSERT_FALSE(result.ok()) << c.body;
    EXPECT_EQ(result.status().message(), c.error) << c.body;
  }
}

}  // namespace
}  // namespace signal_host::api
