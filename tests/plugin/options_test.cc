// PluginOptions: parsing the loader's key/value options and building the events URL.
#include "options.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signal_hightouch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using KeyValues = std::vector<std::pair<std::string, std::string>>;

std::string ErrorOf(const KeyValues& options) {
  const auto parsed = PluginOptions::FromKeyValues(options);
  if (parsed.ok()) return "(parsed)";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(PluginOptions, NoOptionsGiveHightouchsProductionDefaults) {
  const auto options = PluginOptions::FromKeyValues({});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->events_base_url, "https://{region}.hightouch-events.com");
  EXPECT_EQ(options->api_base_url, "https://api.hightouch.com");
  EXPECT_EQ(options->probe_connect_timeout_ms, 5000u);
  EXPECT_EQ(options->probe_timeout_ms, 10000u);
  EXPECT_TRUE(options->tls_verify);
  EXPECT_EQ(options->EventsBaseUrl("us-east-1"), "https://us-east-1.hightouch-events.com");
  EXPECT_EQ(options->EventsBaseUrl("eu-west-1"), "https://eu-west-1.hightouch-events.com");
  EXPECT_EQ(options->EventsBaseUrl("ap-south-1"), "https://ap-south-1.hightouch-events.com");
}

TEST(PluginOptions, EveryKeyIsParsed) {
  const auto options = PluginOptions::FromKeyValues({
      {"events_base_url", "http://127.0.0.1:8080/ingest/"},
      {"api_base_url", "HTTP://127.0.0.1:9090//"},
      {"probe_connect_timeout_ms", "250"},
      {"probe_timeout_ms", "600000"},
      {"tls_verify", "false"},
  });
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->events_base_url, "http://127.0.0.1:8080/ingest");
  EXPECT_EQ(options->api_base_url, "HTTP://127.0.0.1:9090");
  EXPECT_EQ(options->probe_connect_timeout_ms, 250u);
  EXPECT_EQ(options->probe_timeout_ms, 600000u);
  EXPECT_FALSE(options->tls_verify);
  // No placeholder: every region uses the same (fake) host.
  EXPECT_EQ(options->EventsBaseUrl("eu-west-1"), "http://127.0.0.1:8080/ingest");

  const auto verify = PluginOptions::FromKeyValues({{"tls_verify", "true"}});
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->tls_verify);
}

TEST(PluginOptions, RegionPlaceholderMayAppearInPathOrHost) {
  const auto options =
      PluginOptions::FromKeyValues({{"events_base_url", "https://{region}.example.com/{region}/"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->EventsBaseUrl("eu-west-1"), "https://eu-west-1.example.com/eu-west-1");
  PluginOptions direct;
  direct.events_base_url = "http://h/{region}/";  // Set directly, unnormalised.
  EXPECT_EQ(direct.EventsBaseUrl("x"), "http://h/x");
}

TEST(PluginOptions, UnknownKeysAreRejectedByName) {
  const std::string error = ErrorOf({{"events_url", "https://x"}});
  EXPECT_THAT(error, HasSubstr("unknown plugin option 'events_url'"));
  EXPECT_THAT(error, HasSubstr("events_base_url, api_base_url, probe_connect_timeout_ms"));
  EXPECT_THAT(ErrorOf({{"", "x"}}), HasSubstr("unknown plugin option ''"));
  // Case matters: keys are identifiers.
  EXPECT_THAT(ErrorOf({{"TLS_VERIFY", "true"}}), HasSubstr("'TLS_VERIFY'"));
}

TEST(PluginOptions, RepeatedKeysAreRejected) {
  EXPECT_THAT(ErrorOf({{"probe_timeout_ms", "100"}, {"probe_timeout_ms", "200"}}),
              HasSubstr("probe_timeout_ms: given more than once"));
}

TEST(PluginOptions, UrlsMustBeHttpOrHttps) {
  for (const char* key : {"events_base_url", "api_base_url"}) {
    for (const char* bad : {"ftp://example.com", "file:///etc/passwd", "example.com", "",
                            "//example.com", "https:/example.com", "gopher://x"}) {
      const std::string error = ErrorOf({{key, bad}});
      EXPECT_THAT(error, HasSubstr(std::string("plugin option ") + key + ": ")) << bad;
      EXPECT_THAT(error, HasSubstr("http:// or https://")) << bad;
    }
    EXPECT_THAT(ErrorOf({{key, "https://"}}), HasSubstr("names no host"));
    EXPECT_THAT(ErrorOf({{key, "https:///path"}}), HasSubstr("names no host"));
    EXPECT_THAT(ErrorOf({{key, "https://exa mple.com"}}), HasSubstr("must not contain spaces"));
    EXPECT_THAT(ErrorOf({{key, "https://example.com\r\nX-Injected: 1"}}),
                HasSubstr("control characters"));
    EXPECT_THAT(ErrorOf({{key, "https://example.com/\xc3\xa9"}}), HasSubstr("non-ASCII"));
    EXPECT_THAT(ErrorOf({{key, "https://example.com/?a=1"}}), HasSubstr("query or fragment"));
    EXPECT_THAT(ErrorOf({{key, "https://example.com/#top"}}), HasSubstr("query or fragment"));
    EXPECT_THAT(ErrorOf({{key, "https://{host}.example.com"}}), HasSubstr("braces"));
  }
  EXPECT_THAT(ErrorOf({{"api_base_url", "https://{region}.example.com"}}),
              HasSubstr("only allowed in events_base_url"));
}

TEST(PluginOptions, CredentialsInUrlsAreRejectedWithoutEchoingThem) {
  const std::string error = ErrorOf({{"api_base_url", "https://admin:hunter2-pw@example.com"}});
  EXPECT_THAT(error, HasSubstr("api_base_url: must not carry credentials"));
  EXPECT_THAT(error, Not(HasSubstr("hunter2-pw")));
  EXPECT_THAT(error, Not(HasSubstr("admin")));
}

TEST(PluginOptions, OversizedValuesAreCutInMessages) {
  const std::string huge(100000, 'x');
  const std::string error = ErrorOf({{"api_base_url", huge}});
  EXPECT_THAT(error, HasSubstr("api_base_url"));
  EXPECT_LT(error.size(), 400u);
  EXPECT_LT(ErrorOf({{huge, "1"}}).size(), 400u);
}

TEST(PluginOptions, TimeoutsMustBeWholeMillisecondsInRange) {
  for (const char* key : {"probe_connect_timeout_ms", "probe_timeout_ms"}) {
    for (const char* bad : {"", "abc", "-1", "+5", "1e3", "1.5", " 100", "100 ", "0x10", "10ms"}) {
      const std::string error = ErrorOf({{key, bad}});
      EXPECT_THAT(error, HasSubstr(std::string("plugin option ") + key + ": ")) << bad;
      EXPECT_THAT(error, HasSubstr("not a whole number of milliseconds")) << bad;
    }
    for (const char* out : {"0", "600001", "4294967296", "99999999999999999999999"}) {
      const std::string error = ErrorOf({{key, out}});
      EXPECT_THAT(error, HasSubstr(std::string(key) + ": must be between 1 and 600000")) << out;
    }
    const auto ok = PluginOptions::FromKeyValues({{key, "1"}});
    EXPECT_TRUE(ok.ok()) << ok.status();
  }
}

TEST(PluginOptions, TlsVerifyIsTrueOrFalse) {
  for (const char* bad : {"yes", "1", "TRUE", "", "false "}) {
    EXPECT_THAT(ErrorOf({{"tls_verify", bad}}), HasSubstr("tls_verify: expected true or false"))
        << bad;
  }
}

TEST(PluginOptions, AFailingOptionLeavesNoPartialResult) {
  // The first bad option decides; earlier good ones do not leak out as a result.
  const auto parsed = PluginOptions::FromKeyValues(
      {{"api_base_url", "http://127.0.0.1:1"}, {"probe_timeout_ms", "soon"}});
  EXPECT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("probe_timeout_ms"));
}

}  // namespace
}  // namespace signal_hightouch
