// The record format's pieces without a broker: what a consumed record's messageId is
// (or why it is not an event), the producer's record key, and the environment.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "host/kafka/kafka_ingest_queue.h"
#include "host/kafka/kafka_options.h"
#include "host/kafka/record_parse.h"

namespace signal_host::kafka {
namespace {

TEST(RecordParseTest, HeaderWinsOverTheValue) {
  const ParsedRecord parsed = ParseRecord(R"({"messageId":"from-value"})", "from-header");
  ASSERT_TRUE(parsed.valid) << parsed.error;
  EXPECT_EQ(parsed.message_id, "from-header");
}

TEST(RecordParseTest, ValueGivesTheIdWithoutOrWithAnEmptyHeader) {
  for (std::optional<std::string_view> header :
       {std::optional<std::string_view>(), std::optional<std::string_view>("")}) {
    const ParsedRecord parsed = ParseRecord(R"({"type":"track","messageId":"m-1"})", header);
    ASSERT_TRUE(parsed.valid) << parsed.error;
    EXPECT_EQ(parsed.message_id, "m-1");
  }
}

// Integers beyond 64 bits are events like any other (the plugin keeps them byte for
// byte); the consumer must not refuse what the embedded mode delivers.
TEST(RecordParseTest, BigNumbersAndDeepValuesAreNotItsConcern) {
  const ParsedRecord parsed =
      ParseRecord(R"({"type":"track","properties":{"big":123456789012345678901234567890,)"
                  R"("neg":-98765432109876543210,"f":1e400,"deep":[[[[{"a":[1,2,{"b":null}]}]]]]},)"
                  R"("messageId":"m-big"})",
                  std::nullopt);
  ASSERT_TRUE(parsed.valid) << parsed.error;
  EXPECT_EQ(parsed.message_id, "m-big");
}

TEST(RecordParseTest, RefusesWhatIsNotAnEvent) {
  const std::map<std::string, std::string> cases = {
      {"not json", "not a JSON object"},
      {R"({"messageId":"m-1")", "not valid JSON"},  // truncated
      {R"(["messageId","m-1"])", "not a JSON object"},
      {R"("m-1")", "not a JSON object"},
      {R"({"type":"track"})", "no message_id header"},
      {R"({"messageId":7})", "no message_id header"},
      {R"({"messageId":""})", "no message_id header"},
      {"", "not valid JSON"},
      {R"({"messageId":"m-1",})", "not valid JSON"},
  };
  for (const auto& [value, why] : cases) {
    const ParsedRecord parsed = ParseRecord(value, std::nullopt);
    EXPECT_FALSE(parsed.valid) << value;
    EXPECT_NE(parsed.error.find(why), std::string::npos) << value << ": " << parsed.error;
  }
  // A header does not make a broken value an event.
  EXPECT_FALSE(ParseRecord("[1,2]", "m-1").valid);
}

TEST(RecordKeyTest, UserIdThenAnonymousIdThenMessageId) {
  EXPECT_EQ(RecordKeyOf(R"({"messageId":"m","anonymousId":"a","userId":"u"})"), "u");
  EXPECT_EQ(RecordKeyOf(R"({"messageId":"m","anonymousId":"a","userId":""})"), "a");
  EXPECT_EQ(RecordKeyOf(R"({"messageId":"m","userId":null})"), "m");
  EXPECT_EQ(RecordKeyOf(R"({"properties":{"userId":"nested"},"messageId":"m"})"), "m");
  EXPECT_EQ(RecordKeyOf(R"({"userId":"caf\u00e9"})"), "caf\xc3\xa9");
  EXPECT_EQ(RecordKeyOf("[]"), "");
  EXPECT_EQ(RecordKeyOf("{"), "");
}

TEST(KafkaOptionsTest, ARefusedPropertyIsNamed) {
  KafkaOptions options;
  options.extra["no.such.property"] = "1";
  auto conf = BuildConf(options, {});
  ASSERT_FALSE(conf.ok());
  EXPECT_NE(conf.status().message().find("no.such.property"), std::string::npos);
  EXPECT_FALSE(KafkaIngestQueue::Create(options).ok());
}

}  // namespace
}  // namespace signal_host::kafka
