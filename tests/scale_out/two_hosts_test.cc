// The scale-out mode end to end, as processes: librdkafka's mock cluster
// (signal-kafka-mock), a real PostgreSQL (a throwaway cluster), the fake Hightouch and
// TWO signal-delivery-host processes in one consumer group. An install on host 1 is
// seen by host 2; events stream through both event APIs; host 1 is killed with
// SIGKILL mid-stream; every acknowledged event is delivered, duplicates stay within
// host 1's uncommitted window, the group's committed offsets reach the end of every
// partition and the dead letters are the same wherever they are read. Then a 401
// from the vendor holds both hosts, and one new revision resumes both.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon_test_support.h"
#include "gtest/gtest.h"
#include "tests/postgres/postgres_server.h"

#ifndef KAFKA_MOCK_BINARY
#error "KAFKA_MOCK_BINARY must name the built signal-kafka-mock"
#endif

namespace signal_test {
namespace {

using namespace std::chrono_literals;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr char kEncryptionKey[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr int kPartitionBound = 2000;  // kafka.max_unfinished_per_partition

// The sum of a metric's samples in a Prometheus text page, or -1 when absent.
double MetricSum(const std::string& page, const std::string& name) {
  double sum = -1;
  std::regex sample("^" + name + "(\\{[^}]*\\})? ([0-9.e+-]+)$");
  size_t start = 0;
  while (start < page.size()) {
    size_t end = page.find('\n', start);
    if (end == std::string::npos) end = page.size();
    std::smatch match;
    std::string line = page.substr(start, end - start);
    if (std::regex_match(line, match, sample)) sum = (sum < 0 ? 0 : sum) + std::stod(match[2]);
    start = end + 1;
  }
  return sum;
}

class TwoHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PostgresServer* server = PostgresEnvironment::server();
    ASSERT_NE(server, nullptr) << "PostgreSQL did not start";
    auto url = server->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    database_url_ = *url;

    mock_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{KAFKA_MOCK_BINARY, "--brokers", "3"},
        std::map<std::string, std::string>{}, dir_.Sub("mock.stderr"));
    std::optional<std::string> line = mock_->WaitForLine("bootstrap=");
    ASSERT_TRUE(line.has_value()) << mock_->StderrTail();
    brokers_ = line->substr(std::string("bootstrap=").size());

    ChildProcess migrate({SIGNAL_HOST_BINARY, "migrate", "--database-url", database_url_}, {},
                         dir_.Sub("migrate.stderr"));
    ASSERT_EQ(migrate.Wait(), 0) << migrate.StderrTail();

    fake_ = StartFake(dir_);
    ASSERT_FALSE(fake_.url.empty());

    // Short session timeout: the group notices a killed host sooner.
    config_path_ = dir_.Sub("host.yaml");
    std::ofstream(config_path_) << "queue: kafka\n"
                                << "kafka:\n  consumer_group: two-hosts\n"
                                << "  session_timeout_ms: 6000\n"
                                << "  max_unfinished_per_partition: " << kPartitionBound << "\n";
    host_[0] = Start(1);
    host_[1] = Start(2);
  }

  HostProcess Start(int n) {
    HostSettings settings = Settings(dir_.Sub(absl::StrCat("host", n)), fake_.url);
    settings.extra_args = {"--config", config_path_,     "--kafka-brokers",
                           brokers_,   "--database-url", database_url_};
    settings.env = {{"ENCRYPTION_KEY", kEncryptionKey}};
    return StartHost(settings);
  }

  std::string Install() {
    Reply reply = host_[0].Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                 FastInstallBody(), Token("editor"));
    EXPECT_EQ(reply.status, 201) << reply.body;
    return IntegrationIdOf(reply);
  }

  // POSTs one batch of `ids` to host `h`; true when it was acknowledged (200).
  bool PostBatch(int h, const std::vector<std::string>& ids, const std::string& user) {
    std::string body = R"({"batch":[)";
    for (size_t i = 0; i < ids.size(); ++i) {
      absl::StrAppend(&body, i == 0 ? "" : ",", R"({"type":"track","event":"Stream","userId":")",
                      user, i % 7, R"(","messageId":")", ids[i], R"("})");
    }
    body += "]}";
    Reply reply = host_[h].Event("/v1/batch", body);
    return reply.status == 200 && reply.body.find(R"("success":true)") != std::string::npos;
  }

  double MetricSumOf(int h, const std::string& name) {
    Reply reply = host_[h].Admin("GET", "/metrics");
    return reply.status == 200 ? MetricSum(reply.body, name) : -1;
  }

  TempDir dir_;
  std::string database_url_;
  std::string brokers_;
  std::string config_path_;
  std::unique_ptr<ChildProcess> mock_;
  FakeHightouch fake_;
  HostProcess host_[2];
};

TEST_F(TwoHostsTest, SharesConfigsSurvivesAKilledHostAndHoldsTogether) {
  // --- An install on host 1 is seen by host 2 (shared PostgreSQL).
  const std::string id = Install();
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return host_[1].Admin("GET", "/v1/admin/integrations/" + id, "", Token("viewer")).status ==
               200;
      },
      10s));
  // A slow vendor keeps a backlog in both hosts, so the one killed has work in hand.
  fake_.SetFaults(R"({"poison_message_ids":["poison-1","poison-2"],"latency_ms":400})");

  // --- The first events create the topic (4 partitions); the group shares them out.
  std::set<std::string> acknowledged;
  std::vector<std::string> first;
  for (int i = 0; i < 100; ++i) first.push_back(absl::StrCat("first-", i));
  ASSERT_TRUE(PostBatch(0, first, "first-user-"));
  acknowledged.insert(first.begin(), first.end());
  const auto assigning = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        const double a = MetricSumOf(0, "signal_kafka_assigned_partitions");
        const double b = MetricSumOf(1, "signal_kafka_assigned_partitions");
        return a > 0 && b > 0 && a + b == 4;
      },
      60s));
  const double assign_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - assigning).count();

  // --- Stream 20,000 events through both event APIs; kill host 1 half-way.
  std::set<std::string> unanswered;  // posted to the killed host without an answer
  constexpr int kBatches = 40;
  constexpr int kBatchSize = 500;
  bool host1_alive = true;
  double unfinished_at_kill = 0;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<std::string> ids;
    for (int i = 0; i < kBatchSize; ++i) ids.push_back(absl::StrCat("m-", b, "-", i));
    if (b == 3) ids[17] = "poison-1";
    if (b == 31) ids[250] = "poison-2";
    if (b == kBatches / 2) {
      ASSERT_GT(MetricSumOf(0, "signal_kafka_assigned_partitions"), 0)
          << "host 1 should own partitions before it is killed";
      unfinished_at_kill = MetricSumOf(0, "signal_kafka_partition_unfinished_events");
      host_[0].process->Signal(SIGKILL);
      host_[0].process->Wait();
      host1_alive = false;
    }
    const int h = host1_alive ? b % 2 : 1;
    bool ok = PostBatch(h, ids, absl::StrCat("user-", b % 5, "-"));
    if (!ok) {
      // The client sends the same batch again, to the host that is up.
      for (const std::string& m : ids) unanswered.insert(m);
      ok = PostBatch(1, ids, absl::StrCat("user-", b % 5, "-"));
    }
    ASSERT_TRUE(ok) << "batch " << b;
    acknowledged.insert(ids.begin(), ids.end());
  }
  fake_.SetFaults(R"({"poison_message_ids":["poison-1","poison-2"]})");
  // The group gives the killed host's partitions to host 2.
  ASSERT_TRUE(
      WaitUntil([&] { return MetricSumOf(1, "signal_kafka_assigned_partitions") == 4; }, 60s));

  // --- Every acknowledged event arrives (the poisoned ones become dead letters).
  std::map<std::string, int> counts;
  ASSERT_TRUE(WaitUntil(
      [&] {
        counts = fake_.MessageIdCounts();
        for (const std::string& m : acknowledged) {
          if (m.rfind("poison-", 0) != 0 && counts.count(m) == 0) return false;
        }
        return true;
      },
      120s))
      << "delivered " << counts.size() << " of " << acknowledged.size();
  size_t duplicates = 0;
  for (const auto& [m, n] : counts) {
    EXPECT_EQ(acknowledged.count(m), 1u) << m << " was never acknowledged";
    EXPECT_LE(n, 2) << m << " delivered " << n << " times";
    if (n > 1 && unanswered.count(m) == 0) duplicates += n - 1;
  }
  // Only events host 1 had taken but whose offsets the group had not committed come
  // again: at most the unfinished bound of each of the 4 partitions it could own.
  EXPECT_LE(duplicates, 4u * kPartitionBound);
  std::cout << "[ figures ] partitions shared out " << assign_seconds
            << " s after the topic's first record; acknowledged " << acknowledged.size()
            << ", delivered " << counts.size() << ", duplicates after the kill " << duplicates
            << ", client re-posts " << unanswered.size() << ", events in host 1's hands when "
            << "killed " << unfinished_at_kill << "\n";

  // --- Dead letters: exactly the two poisoned events, the same on either host.
  auto dead_letter_ids = [&](int h) {
    std::multiset<std::string> ids;
    Reply reply = host_[h].Admin("GET", "/v1/admin/dead-letters?limit=100", "", Token("viewer"));
    rapidjson::Document doc = reply.Json();
    if (reply.status != 200 || !doc.IsObject()) return ids;
    for (const auto& row : doc["data"].GetArray()) ids.insert(row["message_id"].GetString());
    return ids;
  };
  ASSERT_TRUE(WaitUntil([&] { return dead_letter_ids(1).size() >= 2; }, 60s));
  EXPECT_EQ(dead_letter_ids(1), (std::multiset<std::string>{"poison-1", "poison-2"}));
  EXPECT_EQ(counts.count("poison-1") + counts.count("poison-2"), 0u);

  // --- Host 1 comes back; the group's committed offsets reach the end of every
  // partition (lag 0 over the hosts' metrics) and the partitions are shared.
  host_[0] = Start(1);
  EXPECT_EQ(dead_letter_ids(0), dead_letter_ids(1));
  ASSERT_TRUE(WaitUntil(
      [&] {
        double a = MetricSumOf(0, "signal_kafka_assigned_partitions");
        double b = MetricSumOf(1, "signal_kafka_assigned_partitions");
        double lag0 = MetricSumOf(0, "signal_kafka_consumer_lag");
        double lag1 = MetricSumOf(1, "signal_kafka_consumer_lag");
        return a > 0 && b > 0 && lag0 == 0 && lag1 == 0;
      },
      60s))
      << "assigned " << MetricSumOf(0, "signal_kafka_assigned_partitions") << " + "
      << MetricSumOf(1, "signal_kafka_assigned_partitions") << ", lag "
      << MetricSumOf(0, "signal_kafka_consumer_lag") << " + "
      << MetricSumOf(1, "signal_kafka_consumer_lag");

  // --- A 401 holds the integration on both hosts, whichever owns the partitions.
  fake_.SetFaults(R"({"statuses":[401]})");
  std::vector<std::string> held_ids;
  for (int i = 0; i < 40; ++i) held_ids.push_back(absl::StrCat("held-", i));
  ASSERT_TRUE(PostBatch(0, {held_ids.begin(), held_ids.begin() + 20}, "held-user-"));
  ASSERT_TRUE(PostBatch(1, {held_ids.begin() + 20, held_ids.end()}, "held-user-"));
  auto status_on = [&](int h) {
    Reply reply = host_[h].Admin("GET", "/v1/admin/integrations/" + id, "", Token("viewer"));
    rapidjson::Document doc = reply.Json();
    return reply.status == 200 ? std::string(doc["integration"]["status"].GetString()) : "";
  };
  ASSERT_TRUE(WaitUntil([&] { return status_on(0) == "held" && status_on(1) == "held"; }, 60s))
      << status_on(0) << " / " << status_on(1);
  // Held means paused: the integration's partitions stop on both hosts.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return MetricSumOf(0, "signal_kafka_paused_partitions") ==
                   MetricSumOf(0, "signal_kafka_assigned_partitions") &&
               MetricSumOf(1, "signal_kafka_paused_partitions") ==
                   MetricSumOf(1, "signal_kafka_assigned_partitions");
      },
      30s));

  // --- One new revision, on host 2, resumes both; the held events are delivered.
  fake_.SetFaults("{}");
  Reply revised = host_[1].Admin("POST", "/v1/admin/integrations/" + id + "/revisions",
                                 R"({"config":{"api_key":"***","workspace_id":"ws-12345",)"
                                 R"("source_id":"src-12345","batch_interval_ms":200},)"
                                 R"("change_summary":"credentials fixed"})",
                                 Token("editor"));
  ASSERT_EQ(revised.status, 201) << revised.body;
  ASSERT_TRUE(WaitUntil([&] { return status_on(0) == "active" && status_on(1) == "active"; }, 30s));
  ASSERT_TRUE(WaitUntil(
      [&] {
        counts = fake_.MessageIdCounts();
        for (const std::string& m : held_ids) {
          if (counts.count(m) == 0) return false;
        }
        return true;
      },
      60s));
}

// /readyz says whether the database and the brokers answer, naming the one that does
// not; the hosts still stop cleanly with the brokers gone.
TEST_F(TwoHostsTest, ReadinessFollowsTheDatabaseAndTheBrokers) {
  auto ready = [&](int h) { return host_[h].Admin("GET", "/readyz"); };
  ASSERT_EQ(ready(1).status, 200) << ready(1).body;

  PostgresServer* server = PostgresEnvironment::server();
  ASSERT_TRUE(server->Stop().ok());
  Reply down = ready(1);
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("database"), std::string::npos) << down.body;
  ASSERT_TRUE(server->Restart().ok());
  ASSERT_TRUE(WaitUntil([&] { return ready(1).status == 200; }, 30s)) << ready(1).body;

  mock_->Signal(SIGTERM);
  ASSERT_EQ(mock_->Wait(), 0);
  Reply no_brokers = ready(0);
  EXPECT_EQ(no_brokers.status, 503);
  EXPECT_NE(no_brokers.body.find("kafka"), std::string::npos) << no_brokers.body;
}

}  // namespace
}  // namespace signal_test
