// ValidateConfig, ParseMergedConfig and DeliverySettingsFor against the real catalog.

#include "config.h"

#include <pthread.h>

#include <string>
#include <vector>

#include "catalog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace signal_hightouch {
namespace {

using signal::integration::v1::CatalogEntry;
using signal::integration::v1::FieldViolation;
using signal::integration::v1::ValidateConfigResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A secret no message may ever contain.
constexpr char kSecret[] = "SeCrEt-7f3a9c-DoNotLeak";

const CatalogEntry& Entry() {
  const auto entry = EmbeddedCatalog();
  EXPECT_TRUE(entry.ok()) << entry.status();
  return **entry;
}

ValidateConfigResponse Validate(std::string_view json, std::string_view variant = "default") {
  return ValidateConfig(Entry(), variant, json);
}

// "field:code" for each violation, in order.
std::vector<std::string> Codes(const ValidateConfigResponse& response) {
  std::vector<std::string> out;
  for (const FieldViolation& violation : response.violations()) {
    out.push_back(violation.field() + ":" + violation.code());
  }
  return out;
}

std::string MessageFor(const ValidateConfigResponse& response, const std::string& field) {
  for (const FieldViolation& violation : response.violations()) {
    if (violation.field() == field) return violation.message();
  }
  return "(no violation for " + field + ")";
}

// A valid config with the three required fields plus `extra` members (",\"k\":v...").
std::string Config(const std::string& extra = "") {
  return R"({"api_key":"ht_live_abc123","workspace_id":"12345","source_id":"67890")" + extra + "}";
}

// The valid base config with `key` set to `raw_value` (JSON text), replacing the base
// value when `key` is one of the three required fields.
std::string With(const std::string& key, const std::string& raw_value) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"api_key", "\"ht_live_abc123\""}, {"workspace_id", "\"12345\""}, {"source_id", "\"67890\""}};
  bool replaced = false;
  for (auto& [name, value] : fields) {
    if (name == key) value = raw_value, replaced = true;
  }
  if (!replaced) fields.emplace_back(key, raw_value);
  std::string out = "{";
  for (const auto& [name, value] : fields) {
    out += (out.size() > 1 ? "," : "") + ("\"" + name + "\":") + value;
  }
  return out + "}";
}

rapidjson::Document ParseJson(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  EXPECT_FALSE(doc.HasParseError()) << json;
  return doc;
}

TEST(ValidateConfig, MinimalConfigIsValidWithTheVariantDefaultsMergedIn) {
  const auto response = Validate(Config());
  EXPECT_TRUE(response.valid());
  EXPECT_THAT(Codes(response), IsEmpty());
  EXPECT_EQ(response.variant(), "default");
  EXPECT_THAT(response.secret_fields(), ElementsAre("api_key", "write_key"));
  EXPECT_EQ(response.merged_config_json(),
            R"({"api_key":"ht_live_abc123","workspace_id":"12345","source_id":"67890",)"
            R"("region":"us-east-1","batch_size":100,"batch_interval_ms":5000,)"
            R"("rate_limit_rps":100,"rate_limit_burst":200,"max_attempts":5,)"
            R"("retry_window_hours":24,"consent_category":"analytics"})");

  const auto& delivery = response.delivery();
  EXPECT_EQ(delivery.max_events_per_request(), 100u);
  EXPECT_EQ(delivery.max_bytes_per_request(), kMaxRequestBytes);
  EXPECT_EQ(delivery.max_event_bytes(), kMaxEventBytes);
  EXPECT_EQ(delivery.batch_interval_ms(), 5000u);
  EXPECT_EQ(delivery.rate_limit_rps(), 100.0);
  EXPECT_EQ(delivery.rate_limit_burst(), 200u);
  EXPECT_EQ(delivery.retry().max_attempts(), 5u);
  EXPECT_EQ(delivery.retry().retry_window_s(), 24u * 3600);
  EXPECT_EQ(delivery.retry().initial_backoff_ms(), 1000u);
  EXPECT_EQ(delivery.retry().max_backoff_ms(), 300000u);
  EXPECT_EQ(delivery.retry().max_retry_after_s(), 300u);
  EXPECT_EQ(delivery.consent_category(), "analytics");
  EXPECT_EQ(delivery.connect_timeout_ms(), 5000u);
  EXPECT_EQ(delivery.request_timeout_ms(), 15000u);
}

TEST(ValidateConfig, TheProductPagesInstallExampleValidates) {
  // The curl body on the product page, verbatim.
  const auto response = Validate(R"({
      "api_key": "xxxxxxxxxxxxxxxxxxxx",
      "workspace_id": "ws-12345",
      "source_id": "src-12345"
    })");
  EXPECT_TRUE(response.valid()) << response.DebugString();
  // The stored config keeps what the operator typed; the typed form is normalised.
  const auto merged = ParseJson(response.merged_config_json());
  EXPECT_STREQ(merged["workspace_id"].GetString(), "ws-12345");
  const auto typed = ParseMergedConfig(Entry(), response.merged_config_json());
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(typed->workspace_id, "12345");
  EXPECT_EQ(typed->source_id, "src-12345");
  EXPECT_EQ(typed->api_key, "xxxxxxxxxxxxxxxxxxxx");
  EXPECT_EQ(typed->ingest_key(), "xxxxxxxxxxxxxxxxxxxx");
  EXPECT_EQ(typed->region, "us-east-1");
}

TEST(ValidateConfig, EmptyVariantMeansTheFirstAndUnknownVariantIsAViolation) {
  EXPECT_EQ(Validate(Config(), "").variant(), "default");
  EXPECT_TRUE(Validate(Config(), "").valid());

  const auto response = Validate(Config(), "retail");
  EXPECT_FALSE(response.valid());
  EXPECT_THAT(Codes(response), ElementsAre("variant:unknown_option"));
  EXPECT_THAT(MessageFor(response, "variant"),
              HasSubstr("'retail' does not exist; use one of default"));
  EXPECT_EQ(response.variant(), "");
  EXPECT_FALSE(response.has_delivery());
}

TEST(ValidateConfig, UserValuesWinAndNullMeansDefault) {
  const auto response = Validate(
      Config(R"(,"batch_size":250,"region":"eu-west-1","max_attempts":null,)"
             R"("consent_category":"marketing","write_key":"wk_source_1","rate_limit_rps":0.5)"));
  ASSERT_TRUE(response.valid()) << response.DebugString();
  const auto merged = ParseJson(response.merged_config_json());
  EXPECT_EQ(merged["batch_size"].GetInt(), 250);
  EXPECT_STREQ(merged["region"].GetString(), "eu-west-1");
  EXPECT_EQ(merged["max_attempts"].GetInt(), 5);  // null took the default
  EXPECT_EQ(merged["rate_limit_rps"].GetDouble(), 0.5);
  EXPECT_EQ(response.delivery().max_events_per_request(), 250u);
  EXPECT_EQ(response.delivery().consent_category(), "marketing");
  EXPECT_EQ(response.delivery().rate_limit_rps(), 0.5);
  EXPECT_EQ(response.delivery().retry().max_attempts(), 5u);

  const auto typed = ParseMergedConfig(Entry(), response.merged_config_json());
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(typed->region, "eu-west-1");
  EXPECT_EQ(typed->write_key, "wk_source_1");
  EXPECT_EQ(typed->ingest_key(), "wk_source_1");
  EXPECT_EQ(typed->batch_size, 250u);
}

TEST(ValidateConfig, ConfigThatIsNotAJsonObjectIsOneViolation) {
  for (const char* bad :
       {"[]", "\"text\"", "42", "null", "true", "{", "{\"api_key\":}", "{} {}", "{\"a\":1,}",
        "{'api_key':'x'}", "\xff\xfe{}", "{\"api_key\":\"\xc3\x28\"}", "{\"a\":NaN}"}) {
    const auto response = Validate(bad);
    EXPECT_FALSE(response.valid()) << bad;
    EXPECT_THAT(Codes(response), ElementsAre("config:wrong_type")) << bad;
    EXPECT_THAT(MessageFor(response, "config"), Not(IsEmpty()));
    EXPECT_TRUE(response.merged_config_json().empty());
    EXPECT_THAT(response.secret_fields(), ElementsAre("api_key", "write_key"));
  }
  EXPECT_THAT(MessageFor(Validate("[1]"), "config"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(MessageFor(Validate("{"), "config"), HasSubstr("not valid JSON"));
}

TEST(ValidateConfig, EmptyBodyMeansNoFieldsGiven) {
  for (const char* empty : {"", "  \n", "{}"}) {
    const auto response = Validate(empty);
    EXPECT_THAT(Codes(response),
                ElementsAre("api_key:required", "workspace_id:required", "source_id:required"))
        << "'" << empty << "'";
  }
}

TEST(ValidateConfig, RequiredFieldsMissingOrEmpty) {
  const auto response =
      Validate(R"({"api_key":"","workspace_id":null,"source_id":"","write_key":""})");
  EXPECT_THAT(Codes(response),
              ElementsAre("api_key:required", "workspace_id:required", "source_id:required"));
  // The message says where the value comes from.
  EXPECT_THAT(MessageFor(response, "api_key"), HasSubstr("Settings > API Keys"));
  EXPECT_THAT(MessageFor(response, "workspace_id"), HasSubstr("is required"));
  // An empty write_key is fine: the API key ingests.
  const auto typed = ParseMergedConfig(Entry(), Config(R"(,"write_key":"")"));
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(typed->ingest_key(), "ht_live_abc123");
}

TEST(ValidateConfig, WrongTypes) {
  const auto response =
      Validate(R"({"api_key":12345,"workspace_id":12345,"source_id":["67890"],"write_key":{"k":1},)"
               R"("region":1,"batch_size":"100","rate_limit_rps":true,"batch_interval_ms":1.5,)"
               R"("consent_category":7})");
  EXPECT_THAT(Codes(response),
              ElementsAre("api_key:wrong_type", "workspace_id:wrong_type", "source_id:wrong_type",
                          "write_key:wrong_type", "region:wrong_type", "batch_size:wrong_type",
                          "batch_interval_ms:wrong_type", "rate_limit_rps:wrong_type",
                          "consent_category:wrong_type"));
  EXPECT_THAT(MessageFor(response, "workspace_id"),
              HasSubstr("must be text (a JSON string), e.g. \"12345\"; got a number"));
  EXPECT_THAT(MessageFor(response, "batch_size"),
              HasSubstr("must be a whole number between 1 and 500; got text"));
  EXPECT_THAT(MessageFor(response, "batch_interval_ms"), HasSubstr("whole number"));
  EXPECT_THAT(MessageFor(response, "rate_limit_rps"), HasSubstr("got true/false"));
  EXPECT_FALSE(response.has_delivery());
}

TEST(ValidateConfig, WorkspaceIdFormat) {
  for (const char* good : {"12345", "ws-12345", "WS-7", "0012", "123456789012345678"}) {
    EXPECT_TRUE(Validate(With("workspace_id", std::string("\"") + good + "\"")).valid()) << good;
  }
  for (const char* bad : {"abc", "ws-", "12a45", " 12345", "12345 ", "-12", "1.5",
                          "1234567890123456789", "ws_12345", "ws-ws-1", "\xd9\xa1\xd9\xa2"}) {
    const auto response = Validate(With("workspace_id", std::string("\"") + bad + "\""));
    EXPECT_THAT(Codes(response), ElementsAre("workspace_id:invalid_format")) << bad;
    EXPECT_THAT(MessageFor(response, "workspace_id"),
                HasSubstr("app.hightouch.com/workspaces/12345"));
  }
  const auto typed = ParseMergedConfig(Entry(), With("workspace_id", R"("WS-0042")"));
  ASSERT_TRUE(typed.ok());
  EXPECT_EQ(typed->workspace_id, "0042");
}

TEST(ValidateConfig, SourceIdFormat) {
  for (const std::string& good :
       std::vector<std::string>{"67890", "src-12345", "a", std::string(128, 's'), "src_1.2~x"}) {
    EXPECT_TRUE(Validate(With("source_id", "\"" + good + "\"")).valid()) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"src 1", "src/1", "..\\\\1", "src\\t1", "src\\n", "a/../../b",
                                std::string(129, 's'), "\\u0000x"}) {
    const auto response = Validate(With("source_id", "\"" + bad + "\""));
    EXPECT_THAT(Codes(response), ElementsAre("source_id:invalid_format")) << bad;
    EXPECT_THAT(MessageFor(response, "source_id"),
                HasSubstr("without spaces, line breaks or slashes"));
  }
  EXPECT_THAT(
      MessageFor(Validate(With("source_id", "\"" + std::string(5000, 'x') + "\"")), "source_id"),
      HasSubstr("(too long)"));
  EXPECT_LT(
      MessageFor(Validate(With("source_id", "\"" + std::string(5000, 'x') + "\"")), "source_id")
          .size(),
      400u);
}

TEST(ValidateConfig, RegionMustBeAnOption) {
  for (const char* good : {"us-east-1", "eu-west-1", "ap-south-1"}) {
    EXPECT_TRUE(Validate(Config(std::string(R"(,"region":")") + good + "\"")).valid());
  }
  const auto response = Validate(Config(R"(,"region":"us-west-2")"));
  EXPECT_THAT(Codes(response), ElementsAre("region:unknown_option"));
  EXPECT_THAT(MessageFor(response, "region"),
              HasSubstr("'us-west-2' is not one of us-east-1, eu-west-1, ap-south-1"));
  // An empty region is "not given": the default applies.
  const auto typed = ParseMergedConfig(Entry(), Config(R"(,"region":"")"));
  ASSERT_TRUE(typed.ok());
  EXPECT_EQ(typed->region, "us-east-1");
}

TEST(ValidateConfig, UnknownFieldsAreNamed) {
  const auto response = Validate(Config(R"(,"api_host":"x","hash_pii":true)"));
  EXPECT_THAT(Codes(response), ElementsAre("api_host:unknown_field", "hash_pii:unknown_field"));
  EXPECT_THAT(MessageFor(response, "api_host"), HasSubstr("'api_host' is not a Hightouch setting"));
  EXPECT_THAT(MessageFor(response, "api_host"), HasSubstr("batch_size"));
  // Unknown fields stay in the merged config so the operator sees what was sent.
  EXPECT_THAT(response.merged_config_json(), HasSubstr("\"api_host\":\"x\""));
}

TEST(ValidateConfig, HostileUnknownKeyNamesAreMadePrintable) {
  const std::string long_name(5000, 'n');
  const auto response = Validate(Config(R"(,"bad\u0000\u001bname":1,")" + long_name + R"(":2)"));
  ASSERT_EQ(response.violations_size(), 2);
  EXPECT_EQ(response.violations(0).field(), "bad  name");
  EXPECT_EQ(response.violations(0).code(), "unknown_field");
  EXPECT_EQ(response.violations(1).field(), std::string(80, 'n') + "...");
  EXPECT_LT(response.violations(1).message().size(), 600u);
}

TEST(ValidateConfig, DuplicateKeysAreRefused) {
  const auto response =
      Validate(R"({"api_key":"a1","workspace_id":"1","source_id":"2","source_id":"3"})");
  EXPECT_THAT(Codes(response), ElementsAre("source_id:invalid_format"));
  EXPECT_THAT(MessageFor(response, "source_id"), HasSubstr("given more than once"));
  EXPECT_FALSE(
      ParseMergedConfig(Entry(),
                        R"({"api_key":"a1","workspace_id":"1","source_id":"2","source_id":"3"})")
          .ok());
}

struct RangeCase {
  const char* key;
  const char* lowest;
  const char* highest;
  const char* below;
  const char* above;
};

TEST(ValidateConfig, DeliverySettingsRanges) {
  const RangeCase cases[] = {
      {"batch_size", "1", "500", "0", "501"},
      {"batch_interval_ms", "100", "60000", "99", "60001"},
      {"rate_limit_rps", "0.1", "1000", "0.09", "1000.5"},
      {"rate_limit_burst", "1", "10000", "0", "10001"},
      {"max_attempts", "1", "50", "0", "51"},
      {"retry_window_hours", "1", "168", "0", "169"},
  };
  for (const RangeCase& c : cases) {
    const std::string key = c.key;
    for (const char* good : {c.lowest, c.highest}) {
      const auto response = Validate(Config(",\"" + key + "\":" + good));
      EXPECT_TRUE(response.valid()) << key << "=" << good << " " << response.DebugString();
    }
    for (const char* bad : {c.below, c.above, "-1", "1e300", "-1e300"}) {
      const auto response = Validate(Config(",\"" + key + "\":" + bad));
      EXPECT_THAT(Codes(response), ElementsAre(key + ":out_of_range")) << bad;
      EXPECT_THAT(MessageFor(response, key), HasSubstr(key + " must be between " + c.lowest))
          << bad;
    }
  }
  EXPECT_THAT(MessageFor(Validate(Config(R"(,"retry_window_hours":200)")), "retry_window_hours"),
              HasSubstr("Hightouch drops events older than 7 days); got 200"));
  EXPECT_THAT(MessageFor(Validate(Config(R"(,"batch_size":1000)")), "batch_size"),
              HasSubstr("at most 500 events per request"));
  // 100.0 is a whole number even when written with a fraction.
  EXPECT_TRUE(Validate(Config(R"(,"batch_size":100.0)")).valid());
}

TEST(ValidateConfig, DeliverySettingsReachTheResponse) {
  const auto response = Validate(Config(
      R"(,"batch_size":1,"batch_interval_ms":100,"rate_limit_rps":0.1,"rate_limit_burst":10000,)"
      R"("max_attempts":50,"retry_window_hours":168,"consent_category":"essential")"));
  ASSERT_TRUE(response.valid()) << response.DebugString();
  const auto& d = response.delivery();
  EXPECT_EQ(d.max_events_per_request(), 1u);
  EXPECT_EQ(d.batch_interval_ms(), 100u);
  EXPECT_DOUBLE_EQ(d.rate_limit_rps(), 0.1);
  EXPECT_EQ(d.rate_limit_burst(), 10000u);
  EXPECT_EQ(d.retry().max_attempts(), 50u);
  EXPECT_EQ(d.retry().retry_window_s(), 168u * 3600);
  EXPECT_EQ(d.consent_category(), "essential");
}

TEST(ValidateConfig, ConsentCategory) {
  for (const char* good :
       {"essential", "functional", "analytics", "marketing", "advertising", "personalization"}) {
    EXPECT_TRUE(Validate(Config(std::string(R"(,"consent_category":")") + good + "\"")).valid());
  }
  for (const char* bad : {"Analytics", "ads", "", " analytics"}) {
    const auto response = Validate(Config(std::string(R"(,"consent_category":")") + bad + "\""));
    EXPECT_THAT(Codes(response), ElementsAre("consent_category:unknown_option")) << bad;
    EXPECT_THAT(MessageFor(response, "consent_category"),
                HasSubstr("use one of essential, functional, analytics, marketing, advertising, "
                          "personalization"));
  }
}

TEST(ValidateConfig, KeysMustBeHeaderSafe) {
  for (const char* field : {"api_key", "write_key"}) {
    for (const std::string& bad : std::vector<std::string>{
             "abc def", "abc\\tdef", "abc\\r\\nX-Evil: 1", " abc", "abc\\u00e9", "abc\\u0000"}) {
      const std::string json =
          std::string(field) == "api_key"
              ? R"({"api_key":")" + bad + R"(","workspace_id":"1","source_id":"2"})"
              : Config(R"(,"write_key":")" + bad + "\"");
      const auto checked = Validate(json);
      EXPECT_THAT(Codes(checked), ElementsAre(std::string(field) + ":invalid_format")) << bad;
      EXPECT_THAT(MessageFor(checked, field), HasSubstr("paste it without surrounding whitespace"));
    }
  }
  const auto long_key = Validate(R"({"api_key":")" + std::string(513, 'k') +
                                 R"(","workspace_id":"1","source_id":"2"})");
  EXPECT_THAT(Codes(long_key), ElementsAre("api_key:invalid_format"));
  EXPECT_THAT(MessageFor(long_key, "api_key"), HasSubstr("513 characters long"));
  EXPECT_TRUE(Validate(R"({"api_key":")" + std::string(512, 'k') +
                       R"(","workspace_id":"1","source_id":"2"})")
                  .valid());
}

TEST(ValidateConfig, SecretsNeverAppearInMessages) {
  const std::string secret = kSecret;
  const std::vector<std::string> configs = {
      // Bad formats of the secrets themselves.
      R"({"api_key":")" + secret + R"( ","workspace_id":"1","source_id":"2"})",
      R"({"api_key":"x","write_key":")" + secret + R"(\n","workspace_id":"1","source_id":"2"})",
      R"({"api_key":")" + secret + std::string(600, 'x') +
          R"(","workspace_id":"1","source_id":"2"})",
      // The secret in the wrong kind of value, or in a broken document.
      R"({"api_key":[")" + secret + R"("],"workspace_id":"1","source_id":"2"})",
      R"({"api_key":{"k":")" + secret + R"("}})",
      R"({"api_key":")" + secret + R"(","workspace_id":)",
      R"({"api_key":")" + secret + R"(" "workspace_id":"1"})",
      R"([")" + secret + R"("])",
      // A valid secret with other fields wrong.
      R"({"api_key":")" + secret +
          R"(","workspace_id":"abc","source_id":"a b","region":"x",)"
          R"("batch_size":0,"nope":1,"consent_category":"none"})",
      R"({"api_key":")" + secret + R"(","api_key":")" + secret + R"("})",
  };
  for (const std::string& config : configs) {
    for (const char* variant : {"default", "missing"}) {
      const auto response = Validate(config, variant);
      EXPECT_FALSE(response.valid()) << config;
      for (const FieldViolation& violation : response.violations()) {
        EXPECT_THAT(violation.message(), Not(HasSubstr(secret))) << config;
        EXPECT_THAT(violation.message(), Not(HasSubstr("SeCrEt"))) << config;
        EXPECT_THAT(violation.field(), Not(HasSubstr("SeCrEt"))) << config;
      }
      const auto typed = ParseMergedConfig(Entry(), config);
      EXPECT_FALSE(typed.ok());
      EXPECT_THAT(std::string(typed.status().message()), Not(HasSubstr("SeCrEt"))) << config;
    }
  }
}

TEST(ValidateConfig, OversizedAndDeeplyNestedConfigsAreRefused) {
  const auto big = Validate(Config(R"(,"pad":")" + std::string(70000, 'p') + "\""));
  EXPECT_THAT(Codes(big), ElementsAre("config:wrong_type"));
  EXPECT_THAT(MessageFor(big, "config"), HasSubstr("at most 65536 are accepted"));

  // Deep nesting is refused while reading, before any tree is built or copied.
  const std::string deep = "{\"x\":" + std::string(30000, '[') + std::string(30000, ']') + "}";
  const auto nested = Validate(deep);
  EXPECT_FALSE(nested.valid());
  EXPECT_THAT(Codes(nested), ElementsAre("config:wrong_type"));
  EXPECT_THAT(MessageFor(nested, "config"), HasSubstr("more than 32 levels deep"));
  EXPECT_THAT(nested.merged_config_json(), IsEmpty());
}

// `levels` of nesting in all: the config object itself plus lists inside region.
std::string NestedRegion(int levels) {
  return With("region", std::string(levels - 1, '[') + std::string(levels - 1, ']'));
}

TEST(ValidateConfig, NestingUpToTheLimitIsReadAndJudgedByType) {
  const auto at_limit = Validate(NestedRegion(32));
  EXPECT_THAT(Codes(at_limit), ElementsAre("region:wrong_type"));
  EXPECT_THAT(at_limit.merged_config_json(), HasSubstr("[[[]]]"));

  const auto past_limit = Validate(NestedRegion(33));
  EXPECT_THAT(Codes(past_limit), ElementsAre("config:wrong_type"));
  EXPECT_THAT(MessageFor(past_limit, "config"), HasSubstr("more than 32 levels deep"));

  // Broken JSON is still reported as such, with its position.
  const auto broken = Validate(R"({"region":[[1,]]})");
  EXPECT_THAT(Codes(broken), ElementsAre("config:wrong_type"));
  EXPECT_THAT(MessageFor(broken, "config"), HasSubstr("not valid JSON"));
  EXPECT_THAT(MessageFor(broken, "config"), HasSubstr("at byte 14"));
}

// Runs `body` on a thread with a small stack, like a gRPC server thread's, so that any
// recursion over the input's depth would overflow it.
void OnSmallStack(void (*body)()) {
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, 256 * 1024), 0);
  pthread_t thread;
  auto run = [](void* argument) -> void* {
    reinterpret_cast<void (*)()>(argument)();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attributes, run, reinterpret_cast<void*>(body)), 0);
  EXPECT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attributes);
}

TEST(ValidateConfig, DeepConfigsAreRefusedOnASmallStack) {
  Entry();  // The catalog is parsed once, on the main thread.
  OnSmallStack([] {
    const std::string inner = std::string(30000, '[') + std::string(30000, ']');
    const auto response = Validate(With("region", inner));
    EXPECT_THAT(Codes(response), ElementsAre("config:wrong_type"));
    const auto typed = ParseMergedConfig(Entry(), With("region", inner));
    ASSERT_FALSE(typed.ok());
    EXPECT_THAT(typed.status().message(), HasSubstr("more than 32 levels deep"));
  });
}

TEST(ValidateConfig, MessagesAreValidUtf8EvenForHostileValues) {
  const auto response =
      Validate(Config(R"(,"region":"\u0000\u001b[31m\ud83d\ude00)" + std::string(300, 'r') + "\""));
  const std::string message = MessageFor(response, "region");
  EXPECT_THAT(message, Not(HasSubstr(std::string(1, '\0'))));
  EXPECT_THAT(message, Not(HasSubstr("\x1b")));
  EXPECT_THAT(message, HasSubstr("\xf0\x9f\x98\x80"));  // The emoji survives.
  EXPECT_LT(message.size(), 400u);
}

TEST(ValidateConfig, EscapesThatDecodeToInvalidUtf8AreRefused) {
  // A lone low surrogate, as a value and as a key: RapidJSON 1.1 would decode either to
  // bytes that are not UTF-8 and carry them into the merged config.
  for (const std::string config :
       {With("source_id", R"("\udc00")"), Config(R"(,"\udfff":1)")}) {
    const auto response = Validate(config);
    EXPECT_FALSE(response.valid()) << config;
    EXPECT_THAT(Codes(response), ElementsAre("config:wrong_type")) << config;
    EXPECT_THAT(MessageFor(response, "config"), HasSubstr("lone surrogate"));
    EXPECT_THAT(response.merged_config_json(), IsEmpty());
  }
  // A proper surrogate pair is one character and stays valid.
  const auto pair = Validate(With("source_id", R"("\ud83d\ude00")"));
  EXPECT_TRUE(pair.valid()) << pair.DebugString();
  EXPECT_THAT(pair.merged_config_json(), HasSubstr("\xf0\x9f\x98\x80"));
}

TEST(ValidateConfig, NumbersBeyondADoubleAreRefusedNotTruncated) {
  // RapidJSON refuses 1e400 itself but reads a long mantissa times 1e307 as infinity,
  // which the merged config could not write back.
  EXPECT_THAT(MessageFor(Validate(Config(R"(,"batch_size":1e400)")), "config"),
              HasSubstr("Number too big"));
  for (const std::string config : {Config(R"(,"batch_size":1236002990051e307)"),
                                   Config(R"(,"unknown_setting":-1236002990051e307)")}) {
    const auto response = Validate(config);
    EXPECT_FALSE(response.valid()) << config;
    EXPECT_THAT(MessageFor(response, "config"), HasSubstr("number too large"));
    EXPECT_THAT(response.merged_config_json(), IsEmpty());
  }
  EXPECT_FALSE(ParseMergedConfig(Entry(), Config(R"(,"batch_size":1236002990051e307)")).ok());
}

TEST(ParseMergedConfig, ReadsTheTypedConfig) {
  const auto typed = ParseMergedConfig(
      Entry(), R"({"api_key":"k1","workspace_id":"ws-99","source_id":"s1","write_key":"w1",)"
               R"("region":"ap-south-1","batch_size":7,"batch_interval_ms":250,)"
               R"("rate_limit_rps":2.5,"rate_limit_burst":9,"max_attempts":3,)"
               R"("retry_window_hours":48,"consent_category":"functional"})");
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(typed->api_key, "k1");
  EXPECT_EQ(typed->workspace_id, "99");
  EXPECT_EQ(typed->source_id, "s1");
  EXPECT_EQ(typed->write_key, "w1");
  EXPECT_EQ(typed->region, "ap-south-1");
  EXPECT_EQ(typed->batch_size, 7u);
  EXPECT_EQ(typed->batch_interval_ms, 250u);
  EXPECT_DOUBLE_EQ(typed->rate_limit_rps, 2.5);
  EXPECT_EQ(typed->rate_limit_burst, 9u);
  EXPECT_EQ(typed->max_attempts, 3u);
  EXPECT_EQ(typed->retry_window_hours, 48u);
  EXPECT_EQ(typed->consent_category, "functional");
}

TEST(ParseMergedConfig, MissingDeliverySettingsTakeTheTypedDefaults) {
  const auto typed = ParseMergedConfig(Entry(), Config());
  ASSERT_TRUE(typed.ok()) << typed.status();
  const HightouchConfig defaults;
  EXPECT_EQ(typed->batch_size, defaults.batch_size);
  EXPECT_EQ(typed->region, "us-east-1");
  EXPECT_EQ(typed->consent_category, "analytics");
}

TEST(ParseMergedConfig, FailsWithTheFirstViolation) {
  auto typed = ParseMergedConfig(Entry(), Config(R"(,"batch_size":0,"region":"mars")"));
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typed.status().message()), HasSubstr("region: region 'mars'"));

  typed = ParseMergedConfig(Entry(), "not json");
  ASSERT_FALSE(typed.ok());
  EXPECT_THAT(std::string(typed.status().message()),
              HasSubstr("config: the config is not valid JSON"));

  typed = ParseMergedConfig(Entry(), "");
  EXPECT_FALSE(typed.ok());
  typed = ParseMergedConfig(Entry(), R"({"workspace_id":"1","source_id":"2"})");
  ASSERT_FALSE(typed.ok());
  EXPECT_THAT(std::string(typed.status().message()), HasSubstr("api_key: "));
}

TEST(ParseMergedConfig, RoundTripsEveryValidValidateConfigOutput) {
  for (const std::string& config : {Config(), Config(R"(,"region":"eu-west-1","write_key":"w")"),
                                    Config(R"(,"batch_size":500,"rate_limit_rps":1000)")}) {
    const auto response = Validate(config);
    ASSERT_TRUE(response.valid());
    const auto typed = ParseMergedConfig(Entry(), response.merged_config_json());
    ASSERT_TRUE(typed.ok()) << typed.status();
    const auto again = DeliverySettingsFor(*typed);
    EXPECT_EQ(again.SerializeAsString(), response.delivery().SerializeAsString()) << config;
  }
}

TEST(DeliverySettingsFor, MapsEveryTypedSetting) {
  HightouchConfig config;
  config.batch_size = 42;
  config.batch_interval_ms = 1234;
  config.rate_limit_rps = 7.5;
  config.rate_limit_burst = 15;
  config.max_attempts = 9;
  config.retry_window_hours = 168;
  config.consent_category = "advertising";
  const auto settings = DeliverySettingsFor(config);
  EXPECT_EQ(settings.max_events_per_request(), 42u);
  EXPECT_EQ(settings.max_bytes_per_request(), 475000u);
  EXPECT_EQ(settings.max_event_bytes(), 32768u);
  EXPECT_EQ(settings.batch_interval_ms(), 1234u);
  EXPECT_DOUBLE_EQ(settings.rate_limit_rps(), 7.5);
  EXPECT_EQ(settings.rate_limit_burst(), 15u);
  EXPECT_EQ(settings.retry().max_attempts(), 9u);
  EXPECT_EQ(settings.retry().retry_window_s(), 604800u);
  EXPECT_EQ(settings.consent_category(), "advertising");
}

}  // namespace
}  // namespace signal_hightouch
