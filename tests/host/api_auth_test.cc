// Every admin and event endpoint refuses what it must: no token, bad tokens, expired
// tokens, the wrong role, malformed JSON, oversized bodies; and the per-user rate limit.
#include "daemon_test_support.h"

namespace signal_test {
namespace {

struct Endpoint {
  std::string method;
  std::string path;
  std::string body;      // a well-formed body for POSTs
  std::string min_role;  // viewer, editor or admin
};

std::vector<Endpoint> AdminEndpoints(const std::string& id) {
  return {
      {"GET", "/v1/admin/integration-catalog", "", "viewer"},
      {"GET", "/v1/admin/integration-catalog/hightouch", "", "viewer"},
      {"POST", "/v1/admin/integration-catalog/hightouch/install", FastInstallBody("Other"),
       "editor"},
      {"GET", "/v1/admin/integrations", "", "viewer"},
      {"GET", "/v1/admin/integrations/" + id, "", "viewer"},
      {"DELETE", "/v1/admin/integrations/" + id, "", "admin"},
      {"GET", "/v1/admin/integrations/" + id + "/revisions", "", "viewer"},
      {"GET", "/v1/admin/integrations/" + id + "/revisions/1", "", "viewer"},
      {"POST", "/v1/admin/integrations/" + id + "/revisions",
       R"({"config":{"api_key":"***","workspace_id":"ws-12345","source_id":"src-12345"}})",
       "editor"},
      {"GET", "/v1/admin/dead-letters", "", "viewer"},
      {"POST", "/v1/admin/dead-letters/replay", R"({"ids":["dl_1"]})", "admin"},
      {"GET", "/v1/admin/live-events", "", "viewer"},
      {"GET", "/v1/admin/live-events/stream", "", "viewer"},
  };
}

int Rank(const std::string& role) {
  return role == "viewer" ? 0 : role == "editor" ? 1 : role == "admin" ? 2 : 3;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    host_ = StartHost(Settings(dir_.Sub("data"), fake_.url));
    Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                  FastInstallBody(), Token("editor"));
    ASSERT_EQ(installed.status, 201) << installed.body;
    id_ = IntegrationIdOf(installed);
  }

  TempDir dir_;
  FakeHightouch fake_;
  HostProcess host_;
  std::string id_;
};

TEST_F(AuthTest, EveryAdminEndpointRefusesMissingAndBadTokens) {
  const std::string other_secret =
      Token("owner", 3600, "org_default", "usr_test", "another-secret-0123456789abcdef0123456789");
  const std::string expired = Token("owner", -60);
  std::string tampered = Token("viewer");
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  for (const Endpoint& endpoint : AdminEndpoints(id_)) {
    SCOPED_TRACE(endpoint.method + " " + endpoint.path);
    Reply none = host_.Admin(endpoint.method, endpoint.path, endpoint.body);
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.ErrorCode(), "UNAUTHENTICATED");
    EXPECT_EQ(none.Header("WWW-Authenticate"), "Bearer");
    for (const std::string& bad :
         {std::string("garbage"), std::string("a.b.c"), other_secret, tampered}) {
      Reply reply = host_.Admin(endpoint.method, endpoint.path, endpoint.body, bad);
      EXPECT_EQ(reply.status, 401) << bad;
      EXPECT_EQ(reply.ErrorCode(), "INVALID_TOKEN") << bad;
    }
    Reply old = host_.Admin(endpoint.method, endpoint.path, endpoint.body, expired);
    EXPECT_EQ(old.status, 401);
    EXPECT_EQ(old.ErrorCode(), "EXPIRED_TOKEN");
  }
}

TEST_F(AuthTest, NonBearerSchemeIsInvalidToken) {
  httplib::Client client("127.0.0.1", host_.admin_port);
  auto result = client.Get("/v1/admin/integrations", {{"Authorization", "Basic dXNlcjpwYXNz"}});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 401);
  EXPECT_NE(result->body.find("INVALID_TOKEN"), std::string::npos);
}

TEST_F(AuthTest, RolesAreEnforced) {
  // Refusals first, so the integration still exists for every check.
  for (const Endpoint& endpoint : AdminEndpoints(id_)) {
    for (const std::string role : {"viewer", "editor"}) {
      if (Rank(role) >= Rank(endpoint.min_role)) continue;
      SCOPED_TRACE(role + " " + endpoint.method + " " + endpoint.path);
      Reply reply = host_.Admin(endpoint.method, endpoint.path, endpoint.body, Token(role));
      EXPECT_EQ(reply.status, 403) << reply.body;
      EXPECT_EQ(reply.ErrorCode(), "FORBIDDEN");
    }
  }
  // Nothing the refused requests asked for happened.
  Reply still = host_.Admin("GET", "/v1/admin/integrations/" + id_, "", Token("viewer"));
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.Json()["integration"]["current_revision"].GetInt(), 1);
  EXPECT_EQ(host_.Admin("GET", "/v1/admin/integrations", "", Token("viewer")).Json()["data"].Size(),
            1u);

  // The allowed roles pass the role check (anything but 401/403).
  for (const Endpoint& endpoint : AdminEndpoints(id_)) {
    if (endpoint.method == "DELETE" || endpoint.path.find("/stream") != std::string::npos) {
      continue;
    }
    SCOPED_TRACE(endpoint.min_role + " " + endpoint.method + " " + endpoint.path);
    Reply reply =
        host_.Admin(endpoint.method, endpoint.path, endpoint.body, Token(endpoint.min_role));
    EXPECT_NE(reply.status, 401);
    EXPECT_NE(reply.status, 403);
    EXPECT_LT(reply.status, 500) << reply.body;
  }
  EXPECT_EQ(host_.Admin("DELETE", "/v1/admin/integrations/" + id_, "", Token("admin")).status, 204);
  EXPECT_EQ(host_.Admin("GET", "/v1/admin/integrations/" + id_, "", Token("owner")).status, 404);
}

TEST_F(AuthTest, MalformedAndOversizedBodies) {
  const std::string oversized(1024 * 1024 + 1, ' ');
  for (const Endpoint& endpoint : AdminEndpoints(id_)) {
    if (endpoint.method != "POST") continue;
    SCOPED_TRACE(endpoint.path);
    for (const std::string& malformed :
         {std::string("{"), std::string("{\"a\":}"), std::string("not json"), std::string(""),
          std::string("[1,2]"), std::string(200, '[') + std::string(200, ']')}) {
      Reply reply = host_.Admin("POST", endpoint.path, malformed, Token("owner"));
      EXPECT_EQ(reply.status, 400) << malformed.substr(0, 20) << " -> " << reply.body;
      EXPECT_EQ(reply.ErrorCode(), "BAD_REQUEST");
    }
    Reply big = host_.Admin("POST", endpoint.path, oversized, Token("owner"));
    EXPECT_EQ(big.status, 413);
    EXPECT_EQ(big.ErrorCode(), "PAYLOAD_TOO_LARGE");
    // The caller is authenticated before any body byte is read: an anonymous
    // oversized body is refused as anonymous, unread.
    Reply anonymous = host_.Admin("POST", endpoint.path, oversized);
    EXPECT_EQ(anonymous.status, 401);
    EXPECT_EQ(anonymous.ErrorCode(), "UNAUTHENTICATED");
  }
}

TEST_F(AuthTest, UnknownThingsAreNotFound) {
  const std::string owner = Token("owner");
  for (const std::pair<std::string, std::string>& request :
       std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/admin/integrations/tmpl_missing"},
           {"DELETE", "/v1/admin/integrations/tmpl_missing"},
           {"GET", "/v1/admin/integrations/tmpl_missing/revisions"},
           {"GET", "/v1/admin/integrations/" + id_ + "/revisions/9"},
           {"GET", "/v1/admin/nothing-here"},
           {"GET", "/v1/admin/dead-letters?integration_id=tmpl_missing"}}) {
    Reply reply = host_.Admin(request.first, request.second, "", owner);
    EXPECT_EQ(reply.status, 404) << request.second << " " << reply.body;
    EXPECT_EQ(reply.ErrorCode(), "NOT_FOUND") << request.second;
  }
  Reply bad_number =
      host_.Admin("GET", "/v1/admin/integrations/" + id_ + "/revisions/first", "", owner);
  EXPECT_EQ(bad_number.status, 400);
  // Another org's token does not see this org's integration.
  Reply other_org =
      host_.Admin("GET", "/v1/admin/integrations/" + id_, "", Token("owner", 3600, "org_other"));
  EXPECT_EQ(other_org.status, 404);
}

TEST_F(AuthTest, EventApiRefusesBadKeysAndBodies) {
  const std::string event = R"({"event":"E","anonymousId":"a"})";
  for (const char* path : {"/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/batch"}) {
    SCOPED_TRACE(path);
    Reply none = Send(host_.events_port, "POST", path, event);
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.ErrorCode(), "UNAUTHENTICATED");
    Reply wrong = host_.Event(path, event, "dk_wrong");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(wrong.ErrorCode(), "INVALID_PIPELINE_KEY");
    Reply admin_token = host_.Event(path, event, Token("owner"));
    EXPECT_EQ(admin_token.status, 401) << "a JWT is not a pipeline key";
    for (const std::string& malformed :
         {std::string("{"), std::string("[]"), std::string(""), std::string("{\"a\":1}}")}) {
      Reply reply = host_.Event(path, malformed);
      EXPECT_EQ(reply.status, 400) << malformed;
      EXPECT_EQ(reply.ErrorCode(), "BAD_REQUEST");
    }
    std::string oversized =
        R"({"event":"E","properties":{"pad":")" + std::string(512 * 1024, 'x') + R"("}})";
    Reply big = host_.Event(path, oversized);
    EXPECT_EQ(big.status, 413);
    EXPECT_EQ(big.ErrorCode(), "PAYLOAD_TOO_LARGE");
  }
  std::string batch = R"({"batch":[)";
  for (int i = 0; i < 501; ++i) batch += std::string(i ? "," : "") + R"({"type":"track"})";
  batch += "]}";
  Reply too_many = host_.Event("/v1/batch", batch);
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.body.find("at most 500"), std::string::npos);
  EXPECT_EQ(host_.Event("/v1/batch", R"({"events":[]})").status, 400);
  EXPECT_EQ(Send(host_.events_port, "POST", "/v1/nothing", event, kPipelineKey).status, 404);
  // None of the refused requests queued anything.
  Reply integration = host_.Admin("GET", "/v1/admin/integrations/" + id_, "", Token("viewer"));
  EXPECT_EQ(integration.Json()["integration"]["queue_depth"].GetUint64(), 0u);
}

TEST_F(AuthTest, RateLimitIsOneHundredPerMinutePerUser) {
  const std::string token = Token("viewer", 3600, "org_default", "usr_busy");
  for (int i = 0; i < 100; ++i) {
    Reply reply = host_.Admin("GET", "/v1/admin/integrations", "", token);
    ASSERT_EQ(reply.status, 200) << "request " << i + 1 << ": " << reply.body;
  }
  Reply limited = host_.Admin("GET", "/v1/admin/integrations", "", token);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.ErrorCode(), "RATE_LIMITED");
  int retry_after = std::atoi(limited.Header("Retry-After").c_str());
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  // Another user is not affected; health checks are not limited.
  EXPECT_EQ(host_
                .Admin("GET", "/v1/admin/integrations", "",
                       Token("viewer", 3600, "org_default", "usr_calm"))
                .status,
            200);
  EXPECT_EQ(host_.Admin("GET", "/healthz").status, 200);
}

TEST(RateLimitTest, LimitIsConfigurable) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  HostSettings settings = Settings(dir.Sub("data"), fake.url);
  settings.extra_args = {"--rate-limit", "3"};
  HostProcess host = StartHost(settings);
  const std::string token = Token("editor");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(host.Admin("GET", "/v1/admin/integration-catalog", "", token).status, 200);
  }
  // Writes count the same as reads.
  Reply limited = host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                             kProductPageBody, token);
  EXPECT_EQ(limited.status, 429);
  EXPECT_FALSE(limited.Header("Retry-After").empty());
  // Refused requests installed nothing.
  EXPECT_EQ(host.Admin("GET", "/v1/admin/integrations", "",
                       Token("viewer", 3600, "org_default", "usr_other"))
                .Json()["data"]
                .Size(),
            0u);
}

}  // namespace
}  // namespace signal_test
