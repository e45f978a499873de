// Revisions (secrets kept with "***"), dead letters and replay, live events and their
// SSE stream, against real processes.
#include <atomic>

#include "daemon_test_support.h"

namespace signal_test {
namespace {

class RevisionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    host_ = StartHost(Settings(dir_.Sub("data"), fake_.url));
    Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                  FastInstallBody(), Token("editor"));
    ASSERT_EQ(installed.status, 201) << installed.body;
    id_ = IntegrationIdOf(installed);
  }

  Reply Revise(const std::string& body) {
    return host_.Admin("POST", "/v1/admin/integrations/" + id_ + "/revisions", body,
                       Token("editor"));
  }

  bool Delivered(const std::string& message_id) {
    return WaitUntil([&] { return fake_.MessageIdCounts().count(message_id) > 0; },
                     std::chrono::seconds(60));
  }

  TempDir dir_;
  FakeHightouch fake_;
  HostProcess host_;
  std::string id_;
};

TEST_F(RevisionsTest, MaskedSecretKeepsThePreviousValueAndDeliveryWorks) {
  Reply revised = Revise(R"({"config":{"api_key":"***","workspace_id":"ws-12345",)"
                         R"("source_id":"src-12345","batch_interval_ms":150},)"
                         R"("change_summary":"slower batches"})");
  ASSERT_EQ(revised.status, 201) << revised.body;
  EXPECT_EQ(revised.body.find(kApiKey), std::string::npos);
  rapidjson::Document body = revised.Json();
  EXPECT_EQ(body["revision"]["revision_number"].GetInt(), 2);
  EXPECT_STREQ(body["revision"]["config"]["api_key"].GetString(), "***");
  EXPECT_EQ(body["revision"]["config"]["batch_interval_ms"].GetInt(), 150);
  EXPECT_STREQ(body["revision"]["change_summary"].GetString(), "slower batches");
  EXPECT_EQ(body["integration"]["current_revision"].GetInt(), 2);
  EXPECT_STREQ(body["credential_check"]["outcome"].GetString(), "ok")
      << "the kept key passed the vendor's check";

  // The fake accepts only the real key, so a delivery proves the secret was kept.
  ASSERT_EQ(
      host_.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"after-rev"})").status,
      200);
  EXPECT_TRUE(Delivered("after-rev"));

  Reply revisions =
      host_.Admin("GET", "/v1/admin/integrations/" + id_ + "/revisions", "", Token("viewer"));
  ASSERT_EQ(revisions.status, 200);
  rapidjson::Document list = revisions.Json();
  ASSERT_EQ(list["data"].Size(), 2u);
  EXPECT_EQ(list["data"][0]["revision_number"].GetInt(), 2) << "newest first";
  EXPECT_EQ(list["data"][1]["revision_number"].GetInt(), 1);
  Reply first =
      host_.Admin("GET", "/v1/admin/integrations/" + id_ + "/revisions/1", "", Token("viewer"));
  EXPECT_EQ(first.Json()["config"]["batch_interval_ms"].GetInt(), 100) << "revisions are immutable";
}

TEST_F(RevisionsTest, RevisionsArePagedWithCursors) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Revise(R"({"config":{"api_key":"***","workspace_id":"12345",)"
                     R"("source_id":"src-12345"}})")
                  .status,
              201);
  }
  std::vector<int> numbers;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    Reply reply = host_.Admin("GET",
                              "/v1/admin/integrations/" + id_ + "/revisions?limit=3" +
                                  (cursor.empty() ? "" : "&cursor=" + cursor),
                              "", Token("viewer"));
    ASSERT_EQ(reply.status, 200) << reply.body;
    rapidjson::Document body = reply.Json();
    for (const rapidjson::Value& revision : body["data"].GetArray()) {
      numbers.push_back(revision["revision_number"].GetInt());
    }
    if (!body["has_more"].GetBool()) {
      EXPECT_TRUE(body["next_cursor"].IsNull());
      break;
    }
    cursor = body["next_cursor"].GetString();
  }
  EXPECT_EQ(numbers, (std::vector<int>{4, 3, 2, 1}));
}

TEST_F(RevisionsTest, RejectedRevisionLeavesTheCurrentOneInPlace) {
  Reply wrong = Revise(R"({"config":{"api_key":"wrongwrongwrongwrong","workspace_id":"12345",)"
                       R"("source_id":"src-12345"}})");
  ASSERT_EQ(wrong.status, 422) << wrong.body;
  EXPECT_EQ(wrong.ErrorCode(), "CREDENTIALS_REJECTED");
  Reply invalid = Revise(R"({"config":{"api_key":"***","workspace_id":"abc"}})");
  ASSERT_EQ(invalid.status, 422) << invalid.body;
  EXPECT_EQ(invalid.ErrorCode(), "VALIDATION_FAILED");
  Reply shapeless = Revise(R"({"change_summary":"no config"})");
  EXPECT_EQ(shapeless.status, 400);
  Reply current = host_.Admin("GET", "/v1/admin/integrations/" + id_, "", Token("viewer"));
  EXPECT_EQ(current.Json()["integration"]["current_revision"].GetInt(), 1);
}

TEST_F(RevisionsTest, DeadLettersCanBeListedAndReplayed) {
  // The vendor refuses this one event for good: it becomes a dead letter.
  fake_.SetFaults(R"({"poison_message_ids":["poison-1"]})");
  ASSERT_EQ(
      host_.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"poison-1"})").status,
      200);
  rapidjson::Document list;
  ASSERT_TRUE(WaitUntil(
      [&] {
        Reply reply = host_.Admin("GET", "/v1/admin/dead-letters", "", Token("viewer"));
        list = reply.Json();
        return reply.status == 200 && list["data"].Size() == 1;
      },
      std::chrono::seconds(60)));
  const rapidjson::Value& dead = list["data"][0];
  std::string dead_id = dead["id"].GetString();
  EXPECT_EQ(dead_id.rfind("dl_", 0), 0u);
  EXPECT_STREQ(dead["message_id"].GetString(), "poison-1");
  EXPECT_STREQ(dead["integration_id"].GetString(), id_.c_str());
  EXPECT_EQ(dead["last_status"].GetInt(), 400);
  EXPECT_FALSE(dead["replayed"].GetBool());
  EXPECT_STREQ(dead["event"]["messageId"].GetString(), "poison-1");
  EXPECT_EQ(fake_.MessageIdCounts().count("poison-1"), 0u);

  // Filters.
  Reply filtered =
      host_.Admin("GET", "/v1/admin/dead-letters?integration_id=" + id_ + "&reason=no-such-reason",
                  "", Token("viewer"));
  EXPECT_EQ(filtered.Json()["data"].Size(), 0u);

  // Replay refusals, then the real replay once the vendor accepts the event.
  EXPECT_EQ(host_.Admin("POST", "/v1/admin/dead-letters/replay", R"({})", Token("admin")).status,
            400);
  EXPECT_EQ(
      host_.Admin("POST", "/v1/admin/dead-letters/replay", R"({"ids":["x_1"]})", Token("admin"))
          .status,
      400);
  EXPECT_EQ(
      host_.Admin("POST", "/v1/admin/dead-letters/replay", R"({"ids":"dl_1"})", Token("admin"))
          .status,
      400);
  fake_.SetFaults("{}");
  // An admin of another org cannot replay it, even knowing its id.
  Reply foreign = host_.Admin("POST", "/v1/admin/dead-letters/replay",
                              R"({"ids":[")" + dead_id + R"("]})",
                              Token("admin", 3600, "org_other", "usr_other"));
  ASSERT_EQ(foreign.status, 200) << foreign.body;
  EXPECT_EQ(foreign.body, R"({"replayed":0})");
  Reply replayed = host_.Admin("POST", "/v1/admin/dead-letters/replay",
                               R"({"ids":[")" + dead_id + R"("]})", Token("admin"));
  ASSERT_EQ(replayed.status, 200) << replayed.body;
  EXPECT_EQ(replayed.body, R"({"replayed":1})");
  EXPECT_TRUE(Delivered("poison-1"));
  Reply again = host_.Admin("POST", "/v1/admin/dead-letters/replay",
                            R"({"ids":[")" + dead_id + R"("]})", Token("admin"));
  EXPECT_EQ(again.body, R"({"replayed":0})") << "a dead letter is replayed once";
  Reply after = host_.Admin("GET", "/v1/admin/dead-letters", "", Token("viewer"));
  EXPECT_TRUE(after.Json()["data"][0]["replayed"].GetBool());
}

TEST_F(RevisionsTest, LiveEventsListAndStream) {
  // Open the stream first (token in the query, as a browser's EventSource must).
  std::mutex mu;
  std::string streamed;
  std::atomic<bool> stop{false};
  std::atomic<bool> opened{false};
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", host_.admin_port);
    client.set_read_timeout(60, 0);
    std::string content_type;
    client.Get(("/v1/admin/live-events/stream?access_token=" + Token("viewer")).c_str(),
               [&](const httplib::Response& response) {
                 content_type = response.get_header_value("Content-Type");
                 EXPECT_EQ(response.status, 200);
                 return true;
               },
               [&](const char* data, size_t length) {
                 std::lock_guard<std::mutex> lock(mu);
                 streamed.append(data, length);
                 opened = true;
                 return !stop.load();
               });
    EXPECT_EQ(content_type, "text/event-stream");
  });
  ASSERT_TRUE(WaitUntil([&] { return opened.load(); }));

  ASSERT_EQ(host_.Event("/v1/i", R"({"userId":"u","messageId":"live-1"})").status, 200);
  ASSERT_TRUE(Delivered("live-1"));

  bool seen = WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return streamed.find("live-1") != std::string::npos;
  });
  stop = true;
  // One more attempt makes the server write, so the reader notices it should stop.
  host_.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"wake"})");
  reader.join();
  EXPECT_TRUE(seen) << streamed;
  {
    std::lock_guard<std::mutex> lock(mu);
    size_t frame = streamed.find("event: attempt\ndata: {");
    ASSERT_NE(frame, std::string::npos) << streamed;
    EXPECT_EQ(streamed.find(kApiKey), std::string::npos) << "secret in the stream";
  }

  Reply list = host_.Admin("GET", "/v1/admin/live-events?message_id=live-1", "", Token("viewer"));
  ASSERT_EQ(list.status, 200);
  rapidjson::Document body = list.Json();
  ASSERT_GE(body["data"].Size(), 1u);
  const rapidjson::Value& attempt = body["data"][0];
  EXPECT_EQ(std::string(attempt["id"].GetString()).rfind("att_", 0), 0u);
  EXPECT_STREQ(attempt["integration_name"].GetString(), "Hightouch");
  EXPECT_STREQ(attempt["outcome"].GetString(), "delivered");
  EXPECT_EQ(attempt["http_status"].GetInt(), 200);
  EXPECT_STREQ(attempt["message_ids"][0].GetString(), "live-1");
  EXPECT_STREQ(attempt["event_types"][0].GetString(), "identify");
  EXPECT_STREQ(attempt["request"]["method"].GetString(), "POST");
  EXPECT_STREQ(attempt["request"]["headers"]["Authorization"].GetString(), "***");
  EXPECT_EQ(list.body.find(kApiKey), std::string::npos);
  Reply none = host_.Admin("GET", "/v1/admin/live-events?outcome=reject", "", Token("viewer"));
  EXPECT_EQ(none.Json()["data"].Size(), 0u);
}

}  // namespace
}  // namespace signal_test
