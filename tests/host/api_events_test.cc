// The event API end to end: events posted to signal-delivery-host arrive at the fake
// Hightouch, each messageId exactly once, with the host's fields filled in.
#include <atomic>
#include <fstream>

#include "daemon_test_support.h"

namespace signal_test {
namespace {

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    host_ = StartHost(Settings(dir_.Sub("data"), fake_.url));
    Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                  FastInstallBody(), Token("editor"));
    ASSERT_EQ(installed.status, 201) << installed.body;
    id_ = IntegrationIdOf(installed);
  }

  // Waits until the fake holds `expected` distinct messageIds; returns the counts.
  std::map<std::string, int> AwaitDelivered(size_t expected) {
    std::map<std::string, int> counts;
    WaitUntil(
        [&] {
          counts = fake_.MessageIdCounts();
          return counts.size() >= expected;
        },
        std::chrono::seconds(60));
    return counts;
  }

  TempDir dir_;
  FakeHightouch fake_;
  HostProcess host_;
  std::string id_;
};

TEST_F(EventsTest, EveryEventArrivesExactlyOnce) {
  std::set<std::string> sent;
  const char* paths[] = {"/v1/t", "/v1/p", "/v1/i", "/v1/g"};
  for (int i = 0; i < 40; ++i) {
    std::string id = "single-" + std::to_string(i);
    Reply reply = host_.Event(paths[i % 4], R"({"messageId":")" + id +
                                                R"(","event":"E","name":"N","userId":"u)" +
                                                std::to_string(i) + R"(","groupId":"g"})");
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.body, R"({"success":true})");
    sent.insert(id);
  }
  for (int b = 0; b < 3; ++b) {
    std::string batch = R"({"batch":[)";
    for (int i = 0; i < 100; ++i) {
      std::string id = "batch-" + std::to_string(b) + "-" + std::to_string(i);
      batch += std::string(i ? "," : "") + R"({"type":"track","event":"B","anonymousId":"a",)" +
               R"("messageId":")" + id + R"("})";
      sent.insert(id);
    }
    Reply reply = host_.Event("/v1/batch", batch + "]}");
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.body, R"({"success":true})");
  }
  std::map<std::string, int> counts = AwaitDelivered(sent.size());
  ASSERT_EQ(counts.size(), sent.size());
  for (const auto& [id, count] : counts) {
    EXPECT_EQ(sent.count(id), 1u) << "unexpected " << id;
    EXPECT_EQ(count, 1) << id << " delivered " << count << " times";
  }
}

TEST_F(EventsTest, HostFillsTypeMessageIdAndTimestamp) {
  ASSERT_EQ(host_
                .Event("/v1/p", R"({"type":"track","name":"Home","anonymousId":"a",)"
                                R"("properties":{"big":123456789012345678901234567890}})")
                .status,
            200);
  std::vector<std::string> events;
  ASSERT_TRUE(WaitUntil([&] {
    events = fake_.Events();
    return !events.empty();
  }));
  rapidjson::Document event;
  event.Parse(events[0].c_str());
  ASSERT_TRUE(event.IsObject()) << events[0];
  EXPECT_STREQ(event["type"].GetString(), "page");
  std::string message_id = event["messageId"].GetString();
  EXPECT_EQ(message_id.size(), 36u) << message_id;
  EXPECT_EQ(message_id[14], '4') << "UUID version 4: " << message_id;
  EXPECT_TRUE(event.HasMember("timestamp"));
  EXPECT_NE(events[0].find("123456789012345678901234567890"), std::string::npos) << events[0];
}

TEST_F(EventsTest, MixedBatchQueuesTheGoodEventsAndNamesTheBadOnes) {
  Reply reply = host_.Event("/v1/batch", R"({"batch":[
      {"type":"track","event":"ok","anonymousId":"a","messageId":"good-0"},
      "not an event",
      {"event":"typeless","anonymousId":"a"},
      {"type":"track","event":"ok","anonymousId":"a","messageId":"good-3"}]})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  rapidjson::Document body = reply.Json();
  EXPECT_FALSE(body["success"].GetBool());
  EXPECT_EQ(body["accepted"].GetInt(), 2);
  ASSERT_EQ(body["errors"].Size(), 2u);
  EXPECT_EQ(body["errors"][0]["index"].GetInt(), 1);
  EXPECT_STREQ(body["errors"][0]["code"].GetString(), "invalid_event");
  EXPECT_EQ(body["errors"][1]["index"].GetInt(), 2);
  EXPECT_STREQ(body["errors"][1]["code"].GetString(), "missing_type");
  std::map<std::string, int> counts = AwaitDelivered(2);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"good-0", 1}, {"good-3", 1}}));
}

TEST_F(EventsTest, ConcurrentClientsLoseNothing) {
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 25; ++i) {
        std::string id = "c" + std::to_string(c) + "-" + std::to_string(i);
        Reply reply =
            host_.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":")" + id + R"("})");
        if (reply.status != 200) ++failures;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  std::map<std::string, int> counts = AwaitDelivered(100);
  EXPECT_EQ(counts.size(), 100u);
  for (const auto& [id, count] : counts) EXPECT_EQ(count, 1) << id;
}

TEST_F(EventsTest, DeletedIntegrationReceivesNothingMore) {
  ASSERT_EQ(host_.Admin("DELETE", "/v1/admin/integrations/" + id_, "", Token("admin")).status, 204);
  Reply reply = host_.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"late"})");
  EXPECT_EQ(reply.status, 200) << "accepted even with nothing to route to";
  // A second integration installed later gets the next events, not the earlier one.
  Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                FastInstallBody("Second"), Token("editor"));
  ASSERT_EQ(installed.status, 201);
  ASSERT_EQ(host_.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"next"})").status,
            200);
  std::map<std::string, int> counts = AwaitDelivered(1);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"next", 1}}));
}

// Backpressure: the host below may hold 15 queued events per integration, and the
// fake never answers deliveries, so every accepted event stays queued.
TEST(EventsBackpressureTest, FullQueueRefusesWithRetryAfterAndQueuesNothing) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  const std::string config_path = dir.Sub("host.yaml");
  std::ofstream(config_path) << "events:\n  max_queue_depth: 15\n";
  HostSettings settings = Settings(dir.Sub("data"), fake.url);
  settings.extra_args = {"--config", config_path};
  HostProcess host = StartHost(settings);
  Reply installed = host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                               FastInstallBody(), Token("editor"));
  ASSERT_EQ(installed.status, 201) << installed.body;
  const std::string id = IntegrationIdOf(installed);
  fake.SetFaults(R"({"hang":true})");

  auto queue_depth = [&]() -> uint64_t {
    Reply reply = host.Admin("GET", "/v1/admin/integrations/" + id, "", Token("viewer"));
    rapidjson::Document document = reply.Json();
    if (reply.status != 200 || !document.IsObject()) return UINT64_MAX;
    return document["integration"]["queue_depth"].GetUint64();
  };
  auto batch = [](const std::string& prefix, int count) {
    std::string body = R"({"batch":[)";
    for (int i = 0; i < count; ++i) {
      body += std::string(i ? "," : "") + R"({"type":"track","event":"E","anonymousId":"a",)" +
              R"("messageId":")" + prefix + "-" + std::to_string(i) + R"("})";
    }
    return body + "]}";
  };

  // Below the limit: accepted, also with events already waiting.
  Reply first = host.Event("/v1/batch", batch("first", 10));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(queue_depth(), 10u);
  Reply second = host.Event("/v1/batch", batch("second", 5));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(queue_depth(), 15u);

  // At the limit: refused, with the depth and the limit named, and nothing queued.
  Reply refused = host.Event("/v1/batch", batch("refused", 3));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.Header("Retry-After"), "1");
  EXPECT_EQ(refused.ErrorCode(), "QUEUE_FULL") << refused.body;
  rapidjson::Document error = refused.Json();
  ASSERT_TRUE(error.IsObject()) << refused.body;
  const std::string message = error["error"]["message"].GetString();
  EXPECT_NE(message.find("15 events queued"), std::string::npos) << message;
  EXPECT_NE(message.find("limit of 15"), std::string::npos) << message;
  Reply single = host.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"refused-t"})");
  EXPECT_EQ(single.status, 503) << single.body;
  // The key is still checked first; the queue is checked before the body is read.
  EXPECT_EQ(host.Event("/v1/t", R"({"event":"E"})", "dk_wrong_key").status, 401);
  EXPECT_EQ(host.Event("/v1/t", "{not json").status, 503);
  EXPECT_EQ(queue_depth(), 15u);

  // Once the vendor answers again the queue drains and events are accepted again; the
  // refused ones were never queued, so they never arrive.
  fake.SetFaults("{}");
  ASSERT_TRUE(WaitUntil([&] { return queue_depth() == 0; }, std::chrono::seconds(120)))
      << "queue depth " << queue_depth();
  Reply later = host.Event("/v1/batch", batch("later", 2));
  ASSERT_EQ(later.status, 200) << later.body;
  std::map<std::string, int> counts;
  ASSERT_TRUE(WaitUntil(
      [&] {
        counts = fake.MessageIdCounts();
        return counts.size() >= 17;
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(counts.size(), 17u);
  for (const auto& [message_id, count] : counts) {
    EXPECT_EQ(message_id.find("refused"), std::string::npos) << message_id;
  }
  EXPECT_EQ(counts.count("later-1"), 1u);
}

TEST(EventsCorsTest, PreflightIsAnswered) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  HostProcess host = StartHost(Settings(dir.Sub("data"), fake.url));
  httplib::Client client("127.0.0.1", host.events_port);
  auto result = client.Options("/v1/t");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 204);
  EXPECT_EQ(result->get_header_value("Access-Control-Allow-Origin"), "*");
  EXPECT_NE(result->get_header_value("Access-Control-Allow-Headers").find("Authorization"),
            std::string::npos);
}

}  // namespace
}  // namespace signal_test
