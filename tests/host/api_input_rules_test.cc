// The JSON rule, the name rules, list limits and UTF-8-safe responses, through the real
// signal-delivery-host process: what is refused is refused at the door with a clear 400
// and nothing stored, and no response carries bytes that are not UTF-8 whatever was
// sent, echoed or answered by the vendor.
#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "daemon_test_support.h"
#include "rapidjson/memorystream.h"

namespace signal_test {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// One JSON document in valid UTF-8 (RapidJSON's reader, encoding validated).
bool IsJsonInValidUtf8(const std::string& text) {
  rapidjson::Document document;
  rapidjson::MemoryStream stream(text.data(), text.size());
  document.ParseStream<rapidjson::kParseValidateEncodingFlag>(stream);
  return !document.HasParseError();
}

std::string ErrorMessage(const Reply& reply) {
  rapidjson::Document document = reply.Json();
  if (!document.IsObject() || !document.HasMember("error")) return "";
  return document["error"]["message"].GetString();
}

// The first detail's field and code, "field/code".
std::string FirstDetail(const Reply& reply) {
  rapidjson::Document document = reply.Json();
  if (!document.IsObject() || !document.HasMember("error") ||
      !document["error"].HasMember("details")) {
    return "";
  }
  const rapidjson::Value& detail = document["error"]["details"][0];
  return std::string(detail["field"].GetString()) + "/" + detail["code"].GetString();
}

class InputRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    host_ = StartHost(Settings(dir_.Sub("data"), fake_.url));
    Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                  FastInstallBody(), Token("editor"));
    ASSERT_EQ(installed.status, 201) << installed.body;
    id_ = IntegrationIdOf(installed);
  }

  size_t IntegrationCount() {
    Reply list = host_.Admin("GET", "/v1/admin/integrations", "", Token("viewer"));
    return list.Json()["data"].Size();
  }

  TempDir dir_;
  FakeHightouch fake_;
  HostProcess host_;
  std::string id_;
};

TEST_F(InputRulesTest, TheEventApiRefusesWhatThePluginWouldAndKeepsWhatItAccepts) {
  struct Case {
    std::string path;
    std::string body;
    std::string message;
  };
  for (const Case& c : {
           Case{"/v1/t", R"({"messageId":"\udc00","event":"E","anonymousId":"a"})",
                "malformed JSON at byte 14: lone low surrogate in a \\u escape"},
           Case{"/v1/batch",
                R"({"batch":[{"type":"track","event":"E","anonymousId":"a","p":"\ud800!"}]})",
                "malformed JSON at byte 61: high surrogate in a \\u escape without a low one "
                "after it"},
           Case{"/v1/t", "\xef\xbb\xbf{\"event\":\"E\",\"anonymousId\":\"a\"}",
                "malformed JSON at byte 0: invalid value"},
           // Level 67 in a member nobody reads, one beyond the envelope's 2 + 64.
           Case{"/v1/batch",
                R"({"sentAt":)" + std::string(66, '[') + std::string(66, ']') +
                    R"(,"batch":[{"type":"track","event":"E","anonymousId":"a"}]})",
                "JSON nests deeper than 64 levels"},
       }) {
    Reply reply = host_.Event(c.path, c.body);
    EXPECT_EQ(reply.status, 400) << c.body;
    EXPECT_EQ(reply.ErrorCode(), "BAD_REQUEST");
    EXPECT_EQ(ErrorMessage(reply), c.message);
    EXPECT_TRUE(IsJsonInValidUtf8(reply.body)) << reply.body;
  }
  // Valid by the rule, though beyond a double: accepted and delivered byte for byte.
  const std::string huge = std::string(400, '9');
  Reply accepted = host_.Event(
      "/v1/t", R"({"messageId":"big","event":"E","anonymousId":"a","properties":{"e":1e400,)"
               R"("i":)" +
                   huge + R"(,"s":"\ud83d\ude00\u0000"}})");
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  std::vector<std::string> events;
  ASSERT_TRUE(WaitUntil([&] {
    events = fake_.Events();
    return !events.empty();
  }));
  ASSERT_EQ(events.size(), 1u) << "only the valid event was queued";
  EXPECT_NE(events[0].find(R"("e":1e400,"i":)" + huge + R"(,"s":"\ud83d\ude00\u0000")"),
            std::string::npos)
      << events[0];
  Reply dead = host_.Admin("GET", "/v1/admin/dead-letters", "", Token("viewer"));
  EXPECT_EQ(dead.Json()["data"].Size(), 0u) << dead.body;
}

TEST_F(InputRulesTest, EveryListLimitIsClampedOrRefusedClearly) {
  const std::vector<std::string> lists = {"/v1/admin/integration-catalog", "/v1/admin/integrations",
                                          "/v1/admin/integrations/" + id_ + "/revisions",
                                          "/v1/admin/dead-letters", "/v1/admin/live-events"};
  int caller = 0;
  for (const std::string& list : lists) {
    // A caller per list, so the admin API's rate limit (100 a minute) stays out of the way.
    const std::string viewer =
        Token("viewer", 3600, "org_default", "usr_limits_" + std::to_string(++caller));
    for (const char* limit : {"100", "101", "4294967296", "18446744073709551617",
                              "99999999999999999999999999999999999999999", "0001"}) {
      Reply reply = host_.Admin("GET", list + "?limit=" + limit, "", viewer);
      EXPECT_EQ(reply.status, 200) << list << " limit " << limit << ": " << reply.body;
      EXPECT_TRUE(reply.Json().HasMember("data")) << reply.body;
    }
    for (const char* limit :
         {"0", "-1", "-99999999999999999999", "abc", "1e3", "+5", "5%20", "%FF"}) {
      Reply reply = host_.Admin("GET", list + "?limit=" + limit, "", viewer);
      EXPECT_EQ(reply.status, 400) << list << " limit " << limit;
      EXPECT_EQ(ErrorMessage(reply),
                "limit must be a positive integer (larger than 100 means 100)");
    }
    // Cursors this API did not return, numbers beyond 64 bits among them.
    for (const std::string& cursor : {std::string("%FF%FE"), std::string("not-a-cursor"),
                                      absl::WebSafeBase64Escape("int:99999999999999999999999999"),
                                      absl::WebSafeBase64Escape("rev:-99999999999999999999999999"),
                                      absl::WebSafeBase64Escape("dl:18446744073709551616"),
                                      absl::WebSafeBase64Escape("att:0")}) {
      Reply reply = host_.Admin("GET", list + "?cursor=" + cursor, "", viewer);
      EXPECT_EQ(reply.status, 400) << list << " cursor " << cursor << ": " << reply.body;
      EXPECT_TRUE(IsJsonInValidUtf8(reply.body)) << reply.body;
    }
  }
  // The catalog holds one entry: a limit far beyond it still lists it, once.
  Reply catalog = host_.Admin("GET", "/v1/admin/integration-catalog?limit=99999999999999999999", "",
                              Token("viewer"));
  ASSERT_EQ(catalog.status, 200);
  EXPECT_EQ(catalog.Json()["data"].Size(), 1u);
  // A revision number: digits only and positive; one too large to exist is simply absent.
  const std::string revisions = "/v1/admin/integrations/" + id_ + "/revisions/";
  EXPECT_EQ(host_.Admin("GET", revisions + "1", "", Token("viewer")).status, 200);
  EXPECT_EQ(host_.Admin("GET", revisions + "99999999999999999999", "", Token("viewer")).status,
            404);
  for (const char* bad : {"0", "-1", "1.0", "x", "%FF"}) {
    EXPECT_EQ(host_.Admin("GET", revisions + bad, "", Token("viewer")).status, 400) << bad;
  }
}

TEST_F(InputRulesTest, NamesAndTextMembersAreCheckedAtTheDoor) {
  const std::string install = "/v1/admin/integration-catalog/hightouch/install";
  const std::string config =
      R"("config":{"api_key":"xxxxxxxxxxxxxxxxxxxx","workspace_id":"ws-12345",)"
      R"("source_id":"src-12345"})";
  struct Case {
    std::string members;
    std::string detail;
  };
  for (const Case& c : {
           Case{R"("name":"a\u0000b")", "name/invalid_characters"},
           Case{R"("name":"line\nbreak")", "name/invalid_characters"},
           Case{R"("name":"\u202eevil")", "name/invalid_characters"},
           Case{R"("name":"\u0085")", "name/invalid_characters"},
           Case{R"("name":" padded")", "name/invalid_format"},
           Case{R"("name":"")", "name/required"},
           Case{R"("name":")" + std::string(201, 'n') + R"(")", "name/too_long"},
           Case{R"("name":5)", "name/invalid_type"},
           Case{R"("name":"ok","description":"nul\u0000")", "description/invalid_characters"},
           Case{R"("name":"ok","variant":"default\u0007")", "variant/invalid_characters"},
           Case{R"("name":"ok","delivery_mode":"\u001b[31m")", "delivery_mode/invalid_characters"},
       }) {
    Reply reply =
        host_.Admin("POST", install, "{" + c.members + "," + config + "}", Token("editor"));
    EXPECT_EQ(reply.status, 400) << c.members << ": " << reply.body;
    EXPECT_EQ(reply.ErrorCode(), "BAD_REQUEST");
    EXPECT_EQ(FirstDetail(reply), c.detail) << reply.body;
    EXPECT_TRUE(IsJsonInValidUtf8(reply.body)) << reply.body;
  }
  // A lone surrogate never becomes a name: the body breaks the JSON rule.
  Reply lone =
      host_.Admin("POST", install, R"({"name":"x\udc00",)" + config + "}", Token("editor"));
  EXPECT_EQ(lone.status, 400);
  EXPECT_EQ(ErrorMessage(lone), "malformed JSON at byte 10: lone low surrogate in a \\u escape");
  EXPECT_EQ(IntegrationCount(), 1u) << "nothing was stored";

  // Multi-line free text is fine.
  Reply described =
      host_.Admin("POST", install,
                  R"({"name":"Second","description":"line one\nline two\ttabbed",)" + config + "}",
                  Token("editor"));
  EXPECT_EQ(described.status, 201) << described.body;

  const std::string revisions = "/v1/admin/integrations/" + id_ + "/revisions";
  Reply summary = host_.Admin("POST", revisions,
                              "{" + config + R"(,"change_summary":"bell\u0007"})", Token("editor"));
  EXPECT_EQ(summary.status, 400) << summary.body;
  EXPECT_EQ(FirstDetail(summary), "change_summary/invalid_characters");
  Reply mode = host_.Admin("POST", revisions, "{" + config + R"(,"delivery_mode":"x\u0000"})",
                           Token("editor"));
  EXPECT_EQ(FirstDetail(mode), "delivery_mode/invalid_characters");
  Reply replay =
      host_.Admin("POST", "/v1/admin/dead-letters/replay",
                  R"({"integration_id":")" + id_ + R"(","reason":"r\u0000"})", Token("admin"));
  EXPECT_EQ(replay.status, 400);
  EXPECT_EQ(FirstDetail(replay), "reason/invalid_characters");
  Reply list = host_.Admin("GET", revisions, "", Token("viewer"));
  EXPECT_EQ(list.Json()["data"].Size(), 1u) << "no revision was added";
}

TEST_F(InputRulesTest, EchoedPathsAndQueryParametersAreRepairedUtf8) {
  const std::string viewer = Token("viewer");
  for (const std::string& path : {std::string("/v1/admin/integrations/%FF%FE"),
                                  std::string("/v1/admin/integrations/tmpl_%ED%A0%80/revisions"),
                                  std::string("/v1/admin/integration-catalog/%C0%80"),
                                  std::string("/v1/admin/dead-letters?integration_id=%F4%90%80%80"),
                                  std::string("/v1/admin/live-events?integration_id=x%FFy")}) {
    Reply reply = host_.Admin("GET", path, "", viewer);
    EXPECT_EQ(reply.status, 404) << path << ": " << reply.body;
    EXPECT_TRUE(IsJsonInValidUtf8(reply.body)) << path << ": " << absl::CHexEscape(reply.body);
    EXPECT_NE(reply.body.find(kReplacement), std::string::npos) << path << ": " << reply.body;
  }
  // A path no route matches is echoed as sent, still percent-encoded (plain ASCII).
  Reply unrouted = host_.Admin("GET", "/no/such/route/%FF", "", viewer);
  EXPECT_EQ(unrouted.status, 404);
  EXPECT_TRUE(IsJsonInValidUtf8(unrouted.body)) << absl::CHexEscape(unrouted.body);
  EXPECT_NE(unrouted.body.find("/no/such/route/%FF"), std::string::npos) << unrouted.body;
  // Event API errors that describe the body do not echo its bytes.
  Reply bad = host_.Event("/v1/t", "{\"a\":\"\xff\xfe\"}");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(IsJsonInValidUtf8(bad.body)) << absl::CHexEscape(bad.body);
  Reply type = host_.Event("/v1/batch", "{\"batch\":[{\"type\":\"tr\\u00e9ck\xc3\xa9\"}]}");
  EXPECT_EQ(type.status, 200);
  EXPECT_TRUE(IsJsonInValidUtf8(type.body)) << absl::CHexEscape(type.body);
}

// A vendor that answers every request 400 with a body that is not UTF-8: the attempt
// record and the dead letter keep it, and the admin API shows it repaired.
class BadBytesVendorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    server_.Post("/v1/batch", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content("{\"error\":\"bad \xff\xfe \xed\xa0\x80 \xc3\"}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    HostSettings settings = Settings(dir_.Sub("data"), "http://127.0.0.1:" + std::to_string(port_));
    settings.api_base_url = fake_.url;  // the credential lookup goes to the fake
    host_ = StartHost(settings);
    Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                  FastInstallBody(), Token("editor"));
    ASSERT_EQ(installed.status, 201) << installed.body;
  }
  void TearDown() override {
    host_.process.reset();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  TempDir dir_;
  FakeHightouch fake_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  HostProcess host_;
};

TEST_F(BadBytesVendorTest, AVendorResponseThatIsNotUtf8IsShownRepaired) {
  ASSERT_EQ(host_.Event("/v1/t", R"({"messageId":"m1","event":"E","anonymousId":"a"})").status,
            200);
  const std::string viewer = Token("viewer");
  Reply dead;
  ASSERT_TRUE(WaitUntil([&] {
    dead = host_.Admin("GET", "/v1/admin/dead-letters", "", viewer);
    return dead.status == 200 && dead.Json()["data"].Size() > 0;
  })) << dead.body;
  ASSERT_TRUE(IsJsonInValidUtf8(dead.body)) << absl::CHexEscape(dead.body);
  const rapidjson::Document dead_letters = dead.Json();  // `letter` points into it
  const rapidjson::Value& letter = dead_letters["data"][0];
  EXPECT_STREQ(letter["message_id"].GetString(), "m1");
  const std::string last_response = letter["last_response"].GetString();
  EXPECT_NE(last_response.find(std::string("bad ") + kReplacement + kReplacement),
            std::string::npos)
      << last_response;

  Reply attempts = host_.Admin("GET", "/v1/admin/live-events?message_id=m1", "", viewer);
  ASSERT_EQ(attempts.status, 200);
  ASSERT_TRUE(IsJsonInValidUtf8(attempts.body)) << absl::CHexEscape(attempts.body);
  rapidjson::Document document = attempts.Json();
  ASSERT_GT(document["data"].Size(), 0u);
  const std::string response = document["data"][0]["response"].GetString();
  EXPECT_NE(response.find(kReplacement), std::string::npos) << response;
}

}  // namespace
}  // namespace signal_test
