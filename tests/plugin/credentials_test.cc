// CheckCredentials against the fake Hightouch, in-process on a loopback port.

#include "credentials.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "fake_hightouch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signal_hightouch {
namespace {

using signal::integration::v1::CheckCredentialsResponse;
using ::testing::HasSubstr;
using ::testing::Not;

// Distinctive keys: no message may ever contain them.
constexpr char kApiKey[] = "htapi-9d4c2b71-SECRET-API";
constexpr char kWriteKey[] = "htwk-5e8a1f03-SECRET-WRITE";
constexpr char kWorkspace[] = "12345";
constexpr char kSource[] = "67890";

class CheckCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_hightouch::Options options;
    options.api_keys = {kApiKey};
    options.write_keys = {kWriteKey};
    options.sources = {{kSource, kWorkspace, "Datafly Signal Events"},
                       {"src-12345", "ws-12345", ""},
                       {"a?b#c", kWorkspace, ""},
                       {"77777", "999", ""}};
    fake_ = std::make_unique<fake_hightouch::FakeHightouch>(options);
    ASSERT_TRUE(fake_->Start().ok());
    options_.api_base_url = fake_->base_url();
    options_.events_base_url = fake_->base_url();
    options_.probe_connect_timeout_ms = 2000;
    options_.probe_timeout_ms = 5000;
  }

  void TearDown() override { fake_->Stop(); }

  static HightouchConfig Config() {
    HightouchConfig config;
    config.api_key = kApiKey;
    config.write_key = kWriteKey;
    config.workspace_id = kWorkspace;
    config.source_id = kSource;
    return config;
  }

  // Runs the check and asserts that no key leaks into its message.
  CheckCredentialsResponse Check(const HightouchConfig& config) {
    const auto response = CheckCredentials(config, options_);
    EXPECT_THAT(response.message(), Not(HasSubstr(kApiKey)));
    EXPECT_THAT(response.message(), Not(HasSubstr(kWriteKey)));
    EXPECT_THAT(response.message(), Not(HasSubstr("SECRET")));
    EXPECT_FALSE(response.message().empty());
    return response;
  }

  void SetFaults(const std::string& json) { ASSERT_TRUE(fake_->SetFaults(json).ok()) << json; }

  std::unique_ptr<fake_hightouch::FakeHightouch> fake_;
  PluginOptions options_;
};

TEST_F(CheckCredentialsTest, ValidCredentialsAreOk) {
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::OK) << response.message();
  EXPECT_EQ(response.probe(), "ingest_probe");
  EXPECT_TRUE(response.vendor_status() == 200 || response.vendor_status() == 400)
      << response.vendor_status();
  EXPECT_THAT(response.message(), HasSubstr("source 67890 in workspace 12345"));
  EXPECT_THAT(response.message(), HasSubstr("accepted the write key"));
  EXPECT_EQ(response.retry_after_s(), 0u);
}

TEST_F(CheckCredentialsTest, ProbesSendTheRightRequestsAndNoEvent) {
  ASSERT_EQ(Check(Config()).outcome(), CheckCredentialsResponse::OK);
  const auto requests = fake_->RecentRequests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/api/v1/sources/67890");
  EXPECT_EQ(requests[0].headers.at("authorization"), "Bearer");  // the fake keeps the scheme
  EXPECT_THAT(requests[0].headers.at("accept"), HasSubstr("application/json"));
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].path, "/v1/batch");
  EXPECT_EQ(requests[1].headers.at("authorization"), "Basic");
  EXPECT_THAT(requests[1].headers.at("content-type"), HasSubstr("application/json"));
  EXPECT_THAT(requests[1].body_prefix, HasSubstr("\"batch\":[]"));
  EXPECT_THAT(requests[1].body_prefix, HasSubstr("\"sentAt\":\"20"));
  EXPECT_EQ(fake_->GetStats().events_accepted, 0u);
  EXPECT_TRUE(fake_->AcceptedEvents().empty());
}

TEST_F(CheckCredentialsTest, ApiKeyDoublesAsIngestKeyWhenNoWriteKey) {
  // A fake whose write keys include the API key: the product page's three-field install.
  fake_->Stop();
  fake_hightouch::Options options;
  options.api_keys = {kApiKey};
  options.write_keys = {kApiKey};
  options.sources = {{kSource, kWorkspace, ""}};
  fake_ = std::make_unique<fake_hightouch::FakeHightouch>(options);
  ASSERT_TRUE(fake_->Start().ok());
  options_.api_base_url = options_.events_base_url = fake_->base_url();

  HightouchConfig config = Config();
  config.write_key.clear();
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::OK) << response.message();
  EXPECT_THAT(response.message(), HasSubstr("API key as the ingest key"));
}

TEST_F(CheckCredentialsTest, ProductPageIdsWithPrefixesMatch) {
  HightouchConfig config = Config();
  config.source_id = "src-12345";  // the fake reports workspaceId "ws-12345" for it
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::OK) << response.message();
}

TEST_F(CheckCredentialsTest, SourceIdIsEscapedInThePath) {
  HightouchConfig config = Config();
  config.source_id = "a?b#c";  // unescaped, '?' would start a query and look up "a"
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::OK) << response.message();
}

TEST_F(CheckCredentialsTest, InvalidApiKey) {
  for (const char* key : {"htapi-wrong-key", "x"}) {
    HightouchConfig config = Config();
    config.api_key = key;
    const auto response = Check(config);
    EXPECT_EQ(response.outcome(), CheckCredentialsResponse::INVALID_API_KEY);
    EXPECT_EQ(response.probe(), "source_lookup");
    EXPECT_EQ(response.vendor_status(), 401);
    EXPECT_THAT(response.message(), HasSubstr("Settings > API Keys"));
    EXPECT_THAT(response.message(), HasSubstr("Token is invalid"));
    EXPECT_THAT(response.message(), Not(HasSubstr(key)));
  }
  SetFaults(R"({"statuses":[403],"target":"rest"})");
  const auto forbidden = Check(Config());
  EXPECT_EQ(forbidden.outcome(), CheckCredentialsResponse::INVALID_API_KEY);
  EXPECT_EQ(forbidden.vendor_status(), 403);
}

TEST_F(CheckCredentialsTest, EmptyApiKeyIsRefusedWithoutARequest) {
  HightouchConfig config = Config();
  config.api_key.clear();
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::INVALID_API_KEY);
  EXPECT_EQ(response.vendor_status(), 0);
  EXPECT_TRUE(fake_->RecentRequests().empty());
}

TEST_F(CheckCredentialsTest, InvalidWriteKeyWhenGiven) {
  HightouchConfig config = Config();
  config.write_key = "htwk-wrong-write-key";
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::INVALID_WRITE_KEY);
  EXPECT_EQ(response.probe(), "ingest_probe");
  EXPECT_EQ(response.vendor_status(), 401);
  EXPECT_THAT(response.message(), HasSubstr("Copy the write key again"));
  EXPECT_THAT(response.message(), Not(HasSubstr("htwk-wrong-write-key")));
}

TEST_F(CheckCredentialsTest, InvalidWriteKeyWhenTheApiKeyIngests) {
  HightouchConfig config = Config();
  config.write_key.clear();  // the API key is not a write key in this fake
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::INVALID_WRITE_KEY);
  EXPECT_EQ(response.probe(), "ingest_probe");
  EXPECT_EQ(response.vendor_status(), 401);
  EXPECT_THAT(response.message(), HasSubstr("No write key was given"));
  EXPECT_THAT(response.message(), HasSubstr("write_key field"));
}

TEST_F(CheckCredentialsTest, ForbiddenIngestIsAnInvalidWriteKey) {
  SetFaults(R"({"statuses":[403]})");
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::INVALID_WRITE_KEY);
  EXPECT_EQ(response.vendor_status(), 403);
}

TEST_F(CheckCredentialsTest, WrongWorkspace) {
  HightouchConfig config = Config();
  config.source_id = "77777";  // lives in workspace 999
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::WRONG_WORKSPACE);
  EXPECT_EQ(response.probe(), "source_lookup");
  EXPECT_EQ(response.vendor_status(), 200);
  EXPECT_THAT(response.message(), HasSubstr("belongs to workspace 999"));
  EXPECT_THAT(response.message(), HasSubstr("config says workspace 12345"));
}

TEST_F(CheckCredentialsTest, WorkspaceComparisonIgnoresLeadingZeros) {
  HightouchConfig config = Config();
  config.workspace_id = "0012345";
  EXPECT_EQ(Check(config).outcome(), CheckCredentialsResponse::OK);
}

TEST_F(CheckCredentialsTest, WrongSource) {
  HightouchConfig config = Config();
  config.source_id = "11111";
  const auto response = Check(config);
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::WRONG_SOURCE);
  EXPECT_EQ(response.probe(), "source_lookup");
  EXPECT_EQ(response.vendor_status(), 404);
  EXPECT_THAT(response.message(), HasSubstr("source 11111"));
  EXPECT_THAT(response.message(), HasSubstr("detail page"));

  SetFaults(R"({"statuses":[422],"target":"rest"})");
  const auto malformed = Check(Config());
  EXPECT_EQ(malformed.outcome(), CheckCredentialsResponse::WRONG_SOURCE);
  EXPECT_EQ(malformed.vendor_status(), 422);
}

TEST_F(CheckCredentialsTest, RateLimitedWithRetryAfterSeconds) {
  SetFaults(R"({"statuses":[429],"retry_after":"7","target":"rest"})");
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::RATE_LIMITED);
  EXPECT_EQ(response.probe(), "source_lookup");
  EXPECT_EQ(response.vendor_status(), 429);
  EXPECT_EQ(response.retry_after_s(), 7u);
  EXPECT_THAT(response.message(), HasSubstr("Wait 7 seconds"));
}

TEST_F(CheckCredentialsTest, RateLimitedAtIngestWithRetryAfterDate) {
  SetFaults(R"({"statuses":[429],"retry_after_http_date_in_s":60})");
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::RATE_LIMITED);
  EXPECT_EQ(response.probe(), "ingest_probe");
  // An HTTP-date a minute ahead: whole seconds, so allow for the clock moving on.
  EXPECT_GE(response.retry_after_s(), 50u);
  EXPECT_LE(response.retry_after_s(), 62u);
}

TEST_F(CheckCredentialsTest, RateLimitedWithoutRetryAfter) {
  SetFaults(R"({"statuses":[429],"target":"rest"})");
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::RATE_LIMITED);
  EXPECT_EQ(response.retry_after_s(), 0u);
  EXPECT_THAT(response.message(), HasSubstr("Wait a minute"));
}

TEST_F(CheckCredentialsTest, GarbageRetryAfterIsIgnored) {
  SetFaults(R"({"statuses":[429],"retry_after":"soon","target":"rest"})");
  EXPECT_EQ(Check(Config()).retry_after_s(), 0u);
}

TEST_F(CheckCredentialsTest, UnreachableWhenThePortIsClosed) {
  const std::string url = fake_->base_url();
  fake_->Stop();  // Nothing listens on the port any more.
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE);
  EXPECT_EQ(response.probe(), "source_lookup");
  EXPECT_EQ(response.vendor_status(), 0);
  EXPECT_THAT(response.message(), HasSubstr("could not be reached at " + url));
  EXPECT_THAT(response.message(), HasSubstr("Try again"));
}

TEST_F(CheckCredentialsTest, UnreachableOnServerErrors) {
  SetFaults(R"({"statuses":[500],"target":"rest"})");
  auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE);
  EXPECT_EQ(response.probe(), "source_lookup");
  EXPECT_EQ(response.vendor_status(), 500);
  EXPECT_THAT(response.message(), HasSubstr("server error"));

  SetFaults(R"({"statuses":[503]})");
  response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE);
  EXPECT_EQ(response.probe(), "ingest_probe");
  EXPECT_EQ(response.vendor_status(), 503);
}

TEST_F(CheckCredentialsTest, UnreachableWhenTheServerResetsTheConnection) {
  SetFaults(R"({"reset_connections":1,"target":"rest"})");
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE);
  EXPECT_EQ(response.vendor_status(), 0);
}

TEST_F(CheckCredentialsTest, UnreachableWhenTheServerNeverAnswers) {
  options_.probe_timeout_ms = 300;
  for (const char* target : {"rest", "ingest"}) {
    SetFaults(std::string(R"({"hang":true,"target":")") + target + "\"}");
    const auto started = std::chrono::steady_clock::now();
    const auto response = Check(Config());
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE) << target;
    EXPECT_EQ(response.probe(), std::string(target) == "rest" ? "source_lookup" : "ingest_probe");
    EXPECT_EQ(response.vendor_status(), 0);
    EXPECT_THAT(response.message(), HasSubstr("could not be reached"));
    // A hang guard, not a performance assertion: the probe timeout must end the call.
    EXPECT_LT(elapsed, std::chrono::seconds(10));
    fake_->ClearFaults();
  }
}

TEST_F(CheckCredentialsTest, WrongEventsHostIsExplained) {
  options_.events_base_url = fake_->base_url() + "/no-such-collector";
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::INVALID_WRITE_KEY);
  EXPECT_EQ(response.probe(), "ingest_probe");
  EXPECT_EQ(response.vendor_status(), 404);
  EXPECT_THAT(response.message(), HasSubstr("host or region is wrong"));
  EXPECT_THAT(response.message(), HasSubstr("us-east-1"));
}

TEST_F(CheckCredentialsTest, RegionIsSubstitutedIntoTheEventsUrl) {
  // Only the "eu-west-1" path exists on this host: a wrong substitution would 404.
  options_.events_base_url = fake_->base_url() + "/{region}";
  HightouchConfig config = Config();
  config.region = "eu-west-1";
  const auto response = Check(config);
  EXPECT_EQ(response.vendor_status(), 404);  // The fake serves /v1/batch at its root only.
  const auto requests = fake_->RecentRequests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().path, "/eu-west-1/v1/batch");
}

TEST_F(CheckCredentialsTest, AHostileRegionNeverBecomesAHost) {
  HightouchConfig config = Config();
  options_.events_base_url = "http://{region}.invalid";
  for (const char* region : {"127.0.0.1:1/x#", "US-EAST-1", "", "a b", "eu-west-1.evil.example/"}) {
    config.region = region;
    const auto response = Check(config);
    EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE) << region;
    EXPECT_EQ(response.vendor_status(), 0);
    EXPECT_THAT(response.message(), HasSubstr("is not a Hightouch region")) << region;
  }
  // Only the source lookups reached the fake; no ingest request went anywhere.
  for (const auto& request : fake_->RecentRequests()) EXPECT_EQ(request.method, "GET");
}

TEST_F(CheckCredentialsTest, UnexpectedStatusesAreUnreachableWithAdvice) {
  SetFaults(R"({"statuses":[302],"target":"rest"})");
  const auto response = Check(Config());
  EXPECT_EQ(response.outcome(), CheckCredentialsResponse::UNREACHABLE);
  EXPECT_EQ(response.vendor_status(), 302);
  EXPECT_THAT(response.message(), HasSubstr("unexpected answer"));
  EXPECT_THAT(response.message(), HasSubstr("base URL"));
}

}  // namespace
}  // namespace signal_hightouch
