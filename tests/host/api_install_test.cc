// Installing from the catalog against real processes: signal-delivery-host with the
// Hightouch plugin, and fake-hightouch as the vendor.
#include <fstream>
#include <iterator>
#include <set>

#include "daemon_test_support.h"

namespace signal_test {
namespace {

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    host_ = StartHost(Settings(dir_.Sub("data"), fake_.url));
  }

  Reply Install(const std::string& body, const std::string& key = "hightouch") {
    return host_.Admin("POST", "/v1/admin/integration-catalog/" + key + "/install", body,
                       Token("editor"));
  }

  TempDir dir_;
  FakeHightouch fake_;
  HostProcess host_;
};

TEST_F(InstallTest, ProductPageCurlInstallsWithSecretsMasked) {
  Reply reply = Install(kProductPageBody);
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_EQ(reply.body.find(kApiKey), std::string::npos) << "secret leaked: " << reply.body;
  rapidjson::Document body = reply.Json();
  ASSERT_TRUE(body.IsObject());
  const rapidjson::Value& integration = body["integration"];
  EXPECT_STREQ(integration["name"].GetString(), "Hightouch");
  EXPECT_STREQ(integration["vendor"].GetString(), "hightouch");
  EXPECT_STREQ(integration["catalog_variant_key"].GetString(), "default");
  EXPECT_STREQ(integration["status"].GetString(), "active");
  EXPECT_EQ(integration["current_revision"].GetInt(), 1);
  EXPECT_EQ(std::string(integration["id"].GetString()).rfind("tmpl_", 0), 0u);
  const rapidjson::Value& revision = body["revision"];
  EXPECT_EQ(std::string(revision["id"].GetString()).rfind("rev_", 0), 0u);
  EXPECT_STREQ(revision["config"]["api_key"].GetString(), "***");
  EXPECT_STREQ(revision["config"]["workspace_id"].GetString(), "ws-12345");
  EXPECT_STREQ(revision["config"]["source_id"].GetString(), "src-12345");
  EXPECT_EQ(revision["config"]["batch_size"].GetInt(), 100) << "variant defaults merged";
  EXPECT_STREQ(revision["delivery_mode"].GetString(), "server_side");
  EXPECT_STREQ(revision["created_by"].GetString(), "usr_test");
  EXPECT_EQ(revision["delivery_settings"]["max_events_per_request"].GetUint(), 100u);
  EXPECT_STREQ(body["credential_check"]["outcome"].GetString(), "ok");
  EXPECT_EQ(body["credential_check"]["vendor_status"].GetInt(), 200);

  // Reading it back never shows the secret either.
  std::string id = integration["id"].GetString();
  for (const std::string& path :
       std::vector<std::string>{"/v1/admin/integrations", "/v1/admin/integrations/" + id,
                                "/v1/admin/integrations/" + id + "/revisions",
                                "/v1/admin/integrations/" + id + "/revisions/1"}) {
    Reply read = host_.Admin("GET", path, "", Token("viewer"));
    EXPECT_EQ(read.status, 200) << path << " " << read.body;
    EXPECT_EQ(read.body.find(kApiKey), std::string::npos) << path;
    if (path != "/v1/admin/integrations") {  // the list has no configs
      EXPECT_NE(read.body.find(R"("api_key":"***")"), std::string::npos) << path;
    }
  }
  // Nor does the database file: secrets are sealed at rest.
  for (const char* file : {"signal.db", "signal.db-wal"}) {
    std::ifstream in(dir_.Sub("data") + "/" + file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(kApiKey), std::string::npos) << file;
  }
}

TEST_F(InstallTest, ValidationReportsOneDetailPerBadField) {
  Reply reply = Install(R"({"name":"H","config":{"api_key":"","workspace_id":"not-a-number",)"
                        R"("source_id":"src-12345","region":"mars"}})");
  ASSERT_EQ(reply.status, 422) << reply.body;
  EXPECT_EQ(reply.ErrorCode(), "VALIDATION_FAILED");
  rapidjson::Document body = reply.Json();
  const rapidjson::Value& details = body["error"]["details"];
  std::multiset<std::string> fields;
  for (const rapidjson::Value& detail : details.GetArray()) {
    fields.insert(detail["field"].GetString());
    EXPECT_TRUE(detail["code"].IsString());
    EXPECT_GT(detail["message"].GetStringLength(), 0u);
  }
  EXPECT_EQ(fields, (std::multiset<std::string>{"api_key", "region", "workspace_id"}));
  // Nothing was stored.
  Reply list = host_.Admin("GET", "/v1/admin/integrations", "", Token("viewer"));
  EXPECT_EQ(list.Json()["data"].Size(), 0u);
}

TEST_F(InstallTest, MissingConfigReportsEveryRequiredField) {
  Reply reply = Install(R"({"name":"H"})");
  ASSERT_EQ(reply.status, 422) << reply.body;
  rapidjson::Document body = reply.Json();
  std::set<std::string> fields;
  for (const rapidjson::Value& detail : body["error"]["details"].GetArray()) {
    fields.insert(detail["field"].GetString());
    EXPECT_STREQ(detail["code"].GetString(), "required");
  }
  EXPECT_EQ(fields, (std::set<std::string>{"api_key", "workspace_id", "source_id"}));
}

TEST_F(InstallTest, WrongApiKeyIsRejectedWithTheOperatorMessage) {
  const std::string wrong_key = "wrongwrongwrongwrong";
  Reply reply = Install(R"({"name":"Hightouch","config":{"api_key":")" + wrong_key +
                        R"(","workspace_id":"ws-12345","source_id":"src-12345"}})");
  ASSERT_EQ(reply.status, 422) << reply.body;
  EXPECT_EQ(reply.ErrorCode(), "CREDENTIALS_REJECTED");
  rapidjson::Document body = reply.Json();
  EXPECT_STREQ(body["error"]["outcome"].GetString(), "invalid_api_key");
  EXPECT_EQ(body["error"]["vendor_status"].GetInt(), 401);
  std::string message = body["error"]["message"].GetString();
  EXPECT_NE(message.find("API key"), std::string::npos) << message;
  EXPECT_NE(message.find("Settings > API Keys"), std::string::npos) << message;
  EXPECT_EQ(reply.body.find(wrong_key), std::string::npos) << "secret echoed";
}

TEST_F(InstallTest, WrongSourceAndWorkspaceAreRejected) {
  Reply source = Install(R"({"name":"A","config":{"api_key":"xxxxxxxxxxxxxxxxxxxx",)"
                         R"("workspace_id":"12345","source_id":"src-99999"}})");
  ASSERT_EQ(source.status, 422) << source.body;
  EXPECT_STREQ(source.Json()["error"]["outcome"].GetString(), "wrong_source");
  Reply workspace = Install(R"({"name":"B","config":{"api_key":"xxxxxxxxxxxxxxxxxxxx",)"
                            R"("workspace_id":"777","source_id":"src-12345"}})");
  ASSERT_EQ(workspace.status, 422) << workspace.body;
  EXPECT_STREQ(workspace.Json()["error"]["outcome"].GetString(), "wrong_workspace");
}

TEST_F(InstallTest, VendorRateLimitIsServiceUnavailableWithRetryAfter) {
  fake_.SetFaults(R"({"target":"rest","statuses":[429],"retry_after":"7"})");
  Reply reply = Install(kProductPageBody);
  ASSERT_EQ(reply.status, 503) << reply.body;
  EXPECT_EQ(reply.ErrorCode(), "VENDOR_RATE_LIMITED");
  EXPECT_EQ(reply.Header("Retry-After"), "7");
}

TEST_F(InstallTest, DuplicateNameIsConflict) {
  ASSERT_EQ(Install(kProductPageBody).status, 201);
  Reply again = Install(kProductPageBody);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.ErrorCode(), "CONFLICT");
  // Another name is fine.
  EXPECT_EQ(Install(FastInstallBody("Hightouch EU")).status, 201);
}

TEST_F(InstallTest, UnknownCatalogKeyIsNotFound) {
  Reply reply = Install(kProductPageBody, "segment");
  EXPECT_EQ(reply.status, 404) << reply.body;
  EXPECT_EQ(reply.ErrorCode(), "NOT_FOUND");
}

TEST_F(InstallTest, UnsupportedDeliveryModeIsValidationFailure) {
  Reply reply = Install(R"({"name":"Hightouch","config":{"api_key":"xxxxxxxxxxxxxxxxxxxx",)"
                        R"("workspace_id":"ws-12345","source_id":"src-12345"},)"
                        R"("delivery_mode":"client_side"})");
  ASSERT_EQ(reply.status, 422) << reply.body;
  EXPECT_EQ(reply.ErrorCode(), "VALIDATION_FAILED");
  rapidjson::Document body = reply.Json();
  ASSERT_EQ(body["error"]["details"].Size(), 1u);
  EXPECT_STREQ(body["error"]["details"][0]["field"].GetString(), "delivery_mode");
  EXPECT_STREQ(body["error"]["details"][0]["code"].GetString(), "unknown_option");
}

TEST_F(InstallTest, UnknownVariantIsValidationFailure) {
  Reply reply = Install(R"({"name":"Hightouch","variant":"retail","config":{)"
                        R"("api_key":"xxxxxxxxxxxxxxxxxxxx","workspace_id":"1","source_id":"s"}})");
  ASSERT_EQ(reply.status, 422) << reply.body;
  EXPECT_STREQ(reply.Json()["error"]["details"][0]["field"].GetString(), "variant");
}

TEST_F(InstallTest, WrongBodyShapesAreBadRequests) {
  for (const char* body :
       {R"({"name":5})", R"({"config":"x"})", R"({"config":[1]})", R"({"name":""})",
        R"({"delivery_mode":true})", R"([])", R"("x")", R"({"name":"a")"}) {
    Reply reply = Install(body);
    EXPECT_EQ(reply.status, 400) << body << " -> " << reply.body;
    EXPECT_EQ(reply.ErrorCode(), "BAD_REQUEST") << body;
  }
}

TEST_F(InstallTest, CatalogListFiltersAndPages) {
  auto keys = [&](const std::string& query) {
    Reply reply = host_.Admin("GET", "/v1/admin/integration-catalog" + query, "", Token("viewer"));
    EXPECT_EQ(reply.status, 200) << query << " " << reply.body;
    std::vector<std::string> keys;
    rapidjson::Document body = reply.Json();
    for (const rapidjson::Value& entry : body["data"].GetArray()) {
      keys.push_back(entry["key"].GetString());
    }
    EXPECT_FALSE(body["has_more"].GetBool());
    EXPECT_TRUE(body["next_cursor"].IsNull());
    return keys;
  };
  EXPECT_EQ(keys(""), std::vector<std::string>{"hightouch"});
  EXPECT_EQ(keys("?category=cdp"), std::vector<std::string>{"hightouch"});
  EXPECT_TRUE(keys("?category=analytics").empty());
  EXPECT_EQ(keys("?q=HIGHTOUCH"), std::vector<std::string>{"hightouch"});
  EXPECT_EQ(keys("?q=warehouse"), std::vector<std::string>{"hightouch"});
  EXPECT_TRUE(keys("?q=braze").empty());
  EXPECT_EQ(keys("?limit=1"), std::vector<std::string>{"hightouch"});
  for (const char* bad : {"?limit=0", "?limit=-3", "?limit=ten", "?cursor=%21%21"}) {
    Reply reply =
        host_.Admin("GET", std::string("/v1/admin/integration-catalog") + bad, "", Token("viewer"));
    EXPECT_EQ(reply.status, 400) << bad;
    EXPECT_EQ(reply.ErrorCode(), "BAD_REQUEST") << bad;
  }

  Reply entry = host_.Admin("GET", "/v1/admin/integration-catalog/hightouch", "", Token("viewer"));
  ASSERT_EQ(entry.status, 200);
  rapidjson::Document body = entry.Json();
  EXPECT_STREQ(body["category"].GetString(), "cdp");
  EXPECT_STREQ(body["status"].GetString(), "beta");
  std::vector<std::string> fields;
  for (const rapidjson::Value& field : body["config_fields"].GetArray()) {
    fields.push_back(field["key"].GetString());
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"api_key", "workspace_id", "source_id", "write_key",
                                              "region"}));
  EXPECT_STREQ(body["config_fields"][4]["default"].GetString(), "us-east-1");
  EXPECT_TRUE(body["variants"][0]["default_config"].IsObject());
  EXPECT_EQ(host_.Admin("GET", "/v1/admin/integration-catalog/nope", "", Token("viewer")).status,
            404);
}

TEST(InstallUnreachableTest, UnreachableVendorIsBadGateway) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  HostSettings settings = Settings(dir.Sub("data"), fake.url);
  settings.api_base_url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  HostProcess host = StartHost(settings);
  Reply reply = host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                           kProductPageBody, Token("editor"));
  ASSERT_EQ(reply.status, 502) << reply.body;
  EXPECT_EQ(reply.ErrorCode(), "VENDOR_UNREACHABLE");
  EXPECT_STREQ(reply.Json()["error"]["outcome"].GetString(), "unreachable");
  EXPECT_EQ(reply.body.find(kApiKey), std::string::npos);
}

}  // namespace
}  // namespace signal_test
