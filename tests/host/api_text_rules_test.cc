// The text the admin and event APIs take in and give back: UTF-8 repair, the JSON
// writer every response goes through, the name rules of names.h, and the records
// written with bytes that are not UTF-8 in every field that can carry them.
#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "json_util.h"
#include "names.h"
#include "rapidjson/document.h"
#include "rapidjson/memorystream.h"
#include "records_json.h"
#include "utf8.h"

namespace signal_host::api {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// An independent check (RapidJSON's reader, encoding validated): `text` is one JSON
// document in valid UTF-8.
bool IsJsonInValidUtf8(const std::string& text) {
  rapidjson::Document document;
  rapidjson::MemoryStream stream(text.data(), text.size());
  document.ParseStream<rapidjson::kParseValidateEncodingFlag>(stream);
  return !document.HasParseError();
}

TEST(Utf8Test, ValidAndInvalidSequences) {
  for (const char* valid : {"", "plain", "caf\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80",
                            "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80", "\x7f"}) {
    EXPECT_TRUE(IsValidUtf8(valid)) << valid;
  }
  for (const char* invalid :
       {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc3", "\xe0\x80\x80", "\xe0\x9f\xbf",
        "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
        "\xfe", "\xff", "ok\xe6\x97"}) {
    EXPECT_FALSE(IsValidUtf8(invalid)) << invalid;
  }
}

TEST(Utf8Test, EachMaximalIllFormedSubpartBecomesOneReplacement) {
  const std::string r = kReplacement;
  // The examples of the Unicode standard's "U+FFFD substitution of maximal subparts".
  EXPECT_EQ(ValidUtf8("a\xf1\x80\x80"
                      "b"),
            "a" + r + "b");  // cut-short 4-byte form
  EXPECT_EQ(ValidUtf8("\xe1\x80"
                      "b"),
            r + "b");                                       // cut-short 3-byte form
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), r + r);                  // overlong: lead refused
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), r + r + r);          // encoded surrogate
  EXPECT_EQ(ValidUtf8("\xf4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(ValidUtf8("\xff\xfe"), r + r);
  EXPECT_EQ(ValidUtf8("x\xf0\x9f\x98"), "x" + r);  // cut short by the end
  EXPECT_EQ(ValidUtf8("\xe6\x97\xa5\x80\xe6\x97\xa5"), "\xe6\x97\xa5" + r + "\xe6\x97\xa5");
  EXPECT_EQ(ValidUtf8("already fine \xc3\xa9"), "already fine \xc3\xa9");
  for (const char* text : {"\xc3", "\xed\xbf\xbf\xff",
                           "a\x80"
                           "b\xc3\xa9\xf8"}) {
    EXPECT_TRUE(IsValidUtf8(ValidUtf8(text))) << text;
  }
}

TEST(JsonWriterTest, StringsAndKeysAreRepaired) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteKey(writer, "k\xff");
  WriteString(writer, "v\xed\xa0\x80!");
  WriteKey(writer, "ok");
  WriteString(writer, std::string("nul\0tab\t", 8));
  writer.EndObject();
  const std::string json(buffer.GetString(), buffer.GetSize());
  EXPECT_EQ(json,
            "{\"k\xef\xbf\xbd\":\"v\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\","
            "\"ok\":\"nul\\u0000tab\\t\"}");
  EXPECT_TRUE(IsJsonInValidUtf8(json));
}

TEST(JsonWriterTest, NonFiniteNumbersAndBadRawValuesStayJson) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartArray();
  writer.Double(std::numeric_limits<double>::quiet_NaN());
  writer.Double(std::numeric_limits<double>::infinity());
  writer.Double(1.5);
  WriteRawJson(writer, R"({"a":[1,2]})");
  WriteRawJson(writer, "{\"a\":");      // not JSON: written as a string
  WriteRawJson(writer, "\"\\udc00\"");  // breaks the rule: written as a string
  writer.EndArray();
  EXPECT_EQ(std::string(buffer.GetString(), buffer.GetSize()),
            R"([null,null,1.5,{"a":[1,2]},"{\"a\":","\"\\udc00\""])");
}

TEST(JsonWriterTest, ErrorBodiesEchoingInputAreValidUtf8) {
  const std::string body = ErrorBody("NOT_FOUND", "no route for GET /x/\xff\xc0\x80",
                                     {{"na\xedme", "invalid", "bad \xf5"}});
  EXPECT_TRUE(IsJsonInValidUtf8(body)) << body;
  EXPECT_NE(body.find("/x/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), std::string::npos) << body;
  // A splice of extra members that would break the body is left out.
  EXPECT_EQ(ErrorBody("X", "m", {}, R"("vendor_status":)"),
            R"({"error":{"code":"X","message":"m"}})");
  EXPECT_EQ(ErrorBody("X", "m", {}, R"("vendor_status":401)"),
            R"({"error":{"code":"X","message":"m","vendor_status":401}})");
}

TEST(JsonUtilRuleTest, ParseJsonFollowsTheRule) {
  for (const std::string& bad :
       {std::string(R"({"name":"\udc00"})"), std::string(R"({"name":"\ud800"})"),
        std::string("\xef\xbb\xbf{}"), std::string("{}\n\0", 4), std::string(R"({"a":01})")}) {
    auto parsed = ParseJson(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(absl::StartsWith(parsed.status().message(), "malformed JSON at byte "))
        << parsed.status();
  }
  auto paired = ParseJson(R"({"name":"\ud83d\ude00"})");
  ASSERT_TRUE(paired.ok());
  EXPECT_STREQ((*paired)["name"].GetString(), "\xf0\x9f\x98\x80");
  // Valid by the rule, but not a number the admin API can read.
  auto huge = ParseJson(R"({"batch_size":1e400})");
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(absl::StartsWith(huge.status().message(), "unsupported JSON at byte 14"))
      << huge.status();
}

TEST(NamesTest, NamesIdentifiersAndFreeText) {
  EXPECT_EQ(CheckText("name", "Hightouch (EU) \xc3\xa9\xe6\x97\xa5", TextKind::kName, 200),
            std::nullopt);
  EXPECT_EQ(CheckText("description", "two\nlines\tand\r\n", TextKind::kFreeText, 2000),
            std::nullopt);
  EXPECT_EQ(CheckText("description", "", TextKind::kFreeText, 2000), std::nullopt);
  EXPECT_EQ(CheckText("delivery_mode", "", TextKind::kIdentifier, 100), std::nullopt);
  struct Case {
    std::string value;
    TextKind kind;
    std::string code;
    std::string message;
  };
  for (const Case& c : {
           Case{std::string("a\0b", 3), TextKind::kName, "invalid_characters",
                "\"f\" must not contain U+0000 (a control character) at byte 1"},
           Case{"tab\there", TextKind::kName, "invalid_characters",
                "\"f\" must not contain U+0009 (a control character) at byte 3"},
           Case{"del\x7f", TextKind::kIdentifier, "invalid_characters",
                "\"f\" must not contain U+007F (a control character) at byte 3"},
           Case{"c1\xc2\x85", TextKind::kFreeText, "invalid_characters",
                "\"f\" must not contain U+0085 (a control character) at byte 2"},
           Case{"bell\a", TextKind::kFreeText, "invalid_characters",
                "\"f\" must not contain U+0007 (a control character) at byte 4"},
           Case{"line\xe2\x80\xa8", TextKind::kName, "invalid_characters",
                "\"f\" must not contain U+2028 (a line or paragraph separator) at byte 4"},
           Case{"\xe2\x80\xae"
                "evil",
                TextKind::kName, "invalid_characters",
                "\"f\" must not contain U+202E (a bidirectional control) at byte 0"},
           Case{"x\xe2\x81\xa6", TextKind::kFreeText, "invalid_characters",
                "\"f\" must not contain U+2066 (a bidirectional control) at byte 1"},
           Case{"bad\xff", TextKind::kName, "invalid_characters",
                "\"f\" is not valid UTF-8 at byte 3"},
           Case{"", TextKind::kName, "required", "\"f\" must not be empty"},
           Case{" lead", TextKind::kName, "invalid_format",
                "\"f\" must not start or end with a space"},
           Case{"trail ", TextKind::kIdentifier, "invalid_format",
                "\"f\" must not start or end with a space"},
           Case{std::string(11, 'x'), TextKind::kName, "too_long", "\"f\" is longer than 10 bytes"},
       }) {
    const std::optional<FieldDetail> problem = CheckText("f", c.value, c.kind, 10);
    ASSERT_TRUE(problem.has_value()) << c.value;
    EXPECT_EQ(problem->field, "f");
    EXPECT_EQ(problem->code, c.code) << c.value;
    EXPECT_EQ(problem->message, c.message) << c.value;
  }
}

TEST(RecordsJsonTest, BytesThatAreNotUtf8NeverReachAResponse) {
  const std::string bad = "x\xff\xed\xa0\x80\xc0";
  AttemptRecord attempt;
  attempt.id = 7;
  attempt.integration_id = "tmpl_" + bad;
  attempt.message_ids = {"m-" + bad, "ok"};
  attempt.event_types = "track," + bad;
  attempt.outcome = "reject" + bad;
  attempt.message = "the vendor said " + bad;
  attempt.request = R"({"body":")" + bad + R"("})";
  attempt.response = "<html>" + bad + "</html>";
  DeadLetter dead_letter;
  dead_letter.id = 3;
  dead_letter.integration_id = attempt.integration_id;
  dead_letter.message_id = "m-" + bad;
  dead_letter.reason = "rejected" + bad;
  dead_letter.message = "the vendor said " + bad;
  dead_letter.last_response = "{\"error\":\"" + bad + "\"}";
  dead_letter.payload = R"({"messageId":")" + bad + R"("})";
  IntegrationRecord integration;
  integration.id = "tmpl_1";
  integration.name = "name " + bad;
  integration.description = bad;
  integration.status_reason = "held: " + bad;

  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartArray();
  WriteAttempt(writer, attempt, "integration " + bad);
  WriteDeadLetter(writer, dead_letter);
  writer.StartObject();
  WriteIntegrationMembers(writer, integration);
  writer.EndObject();
  writer.EndArray();
  const std::string json(buffer.GetString(), buffer.GetSize());
  ASSERT_TRUE(IsJsonInValidUtf8(json)) << json;
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  ASSERT_TRUE(document.IsArray());
  const std::string repaired = "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
  EXPECT_EQ(std::string(document[0]["message_ids"][0].GetString()), "m-" + repaired);
  EXPECT_EQ(std::string(document[0]["response"].GetString()), "<html>" + repaired + "</html>");
  EXPECT_EQ(std::string(document[0]["event_types"][1].GetString()), repaired);
  EXPECT_EQ(std::string(document[1]["message_id"].GetString()), "m-" + repaired);
  // Stored text that is not JSON is shown as a string, repaired.
  EXPECT_TRUE(document[1]["event"].IsString());
  EXPECT_EQ(std::string(document[2]["name"].GetString()), "name " + repaired);
}

}  // namespace
}  // namespace signal_host::api
