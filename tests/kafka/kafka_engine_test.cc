// The real delivery engine over KafkaDeliveryQueue: the real Hightouch plugin, the
// fake Hightouch, a SQLite store as config reader, attempt log, dead-letter sink and
// status store, librdkafka's mock cluster as the broker and KafkaIngestQueue as the
// event API's producer.
#include <gtest/gtest.h>

#include <chrono>

#include "delivery_engine_fixture.h"
#include "kafka_test_support.h"

namespace signal_host::kafka::kafka_test {
namespace {

using delivery::DeliveryEngine;
using delivery::EngineOptions;
using delivery::delivery_test::DeliveryEngineFixture;
using delivery::delivery_test::InstallOptions;
using delivery::delivery_test::TrackEvent;

class KafkaEngineTest : public DeliveryEngineFixture {
 protected:
  void SetUp() override {
    DeliveryEngineFixture::SetUp();
    cluster_ = std::make_unique<MockCluster>();
  }
  void TearDown() override {
    // The engine gives its leases back, then the consumer closes; both before the
    // store (the queue's attempt log and sink) goes.
    if (engine_) engine_->Stop();
    engine_.reset();
    queue_.reset();
    ingest_.reset();
    probe_.reset();
    DeliveryEngineFixture::TearDown();
    cluster_.reset();
  }

  KafkaOptions Options() {
    KafkaOptions options;
    options.brokers = cluster_->bootstrap();
    options.group_id = "engine-group";
    options.auto_commit_interval_ms = 100;
    options.session_timeout_ms = 4000;  // above the mock's 3 s join delay
    options.close_timeout_ms = 5000;
    options.extra["log_level"] = "2";
    options.extra["heartbeat.interval.ms"] = "300";
    return options;
  }

  void StartKafkaEngine(const std::string& id) {
    cluster_->CreateTopic("delivery-" + id, 4);
    auto queue = KafkaDeliveryQueue::Create(Options(), store_.get(), store_.get(), store_.get());
    ASSERT_TRUE(queue.ok()) << queue.status();
    queue_ = std::move(*queue);
    auto ingest = KafkaIngestQueue::Create(Options());
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = std::move(*ingest);
    EngineOptions options;
    options.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(logs_mu_);
      logs_.emplace_back(line);
    };
    options.idle_poll_interval = absl::Seconds(5);  // arrivals wake the worker instead
    DeliveryEngine::PluginLookup plugins = [this](std::string_view vendor) {
      return vendor == "hightouch" ? plugin_->stub() : nullptr;
    };
    engine_ =
        std::make_unique<DeliveryEngine>(static_cast<ConfigReader*>(store_.get()), queue_.get(),
                                         std::move(plugins), metrics_.get(), std::move(options));
    ASSERT_TRUE(engine_->Start().ok());
    queue_->SetArrivalListener([engine = engine_.get()](std::string_view integration_id) {
      engine->Notify(integration_id);
    });
    queue_->SetIntegrations({id});
    probe_ = std::make_unique<ClusterProbe>(cluster_->bootstrap(), "engine-group");
  }

  std::vector<std::string> ProduceTracks(const std::string& id, int count,
                                         const std::string& prefix) {
    std::vector<std::string> payloads, ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(absl::StrCat(prefix, "-", i));
      payloads.push_back(TrackEvent(ids.back(), i));
    }
    for (int start = 0; start < count; start += 100) {
      std::vector<EnqueueItem> items;
      for (int i = start; i < std::min(count, start + 100); ++i) {
        items.push_back(EnqueueItem{id, ids[i], payloads[i]});
      }
      const absl::Status status = ingest_->Enqueue(items);
      EXPECT_TRUE(status.ok()) << status;
    }
    return ids;
  }

  bool Delivered(const std::vector<std::string>& ids) {
    const std::multiset<std::string> accepted = AcceptedMessageIds();
    for (const std::string& id : ids) {
      if (!accepted.contains(id)) return false;
    }
    return true;
  }

  std::unique_ptr<MockCluster> cluster_;
  std::unique_ptr<KafkaDeliveryQueue> queue_;
  std::unique_ptr<KafkaIngestQueue> ingest_;
  std::unique_ptr<ClusterProbe> probe_;
};

TEST_F(KafkaEngineTest, EveryProducedEventReachesHightouchAndTheOffsetsCommit) {
  const std::string id = Install();
  StartKafkaEngine(id);
  const std::vector<std::string> ids = ProduceTracks(id, 400, "k");
  ASSERT_TRUE(WaitFor([&] { return Delivered(ids); })) << "not every event arrived";
  ASSERT_TRUE(WaitFor([&] { return probe_->AllCommitted("delivery-" + id, 4); }))
      << "the committed offsets never reached the high watermarks";
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  EXPECT_EQ(Attempts(id, "delivered").empty(), false);
  ASSERT_TRUE(WaitFor([&] { return queue_->QueueDepth(id).value() == 0; }));
}

TEST_F(KafkaEngineTest, VendorFailuresRetryAndRejectsDeadLetterWithoutStallingTheRest) {
  const std::string id = Install();
  StartKafkaEngine(id);
  // Two 503s (retried), and one event Hightouch refuses (dead-lettered on its own).
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[503,503],"poison_message_ids":["r-7"]})").ok());
  const std::vector<std::string> ids = ProduceTracks(id, 60, "r");
  std::vector<std::string> good;
  for (const std::string& message_id : ids) {
    if (message_id != "r-7") good.push_back(message_id);
  }
  ASSERT_TRUE(WaitFor([&] { return Delivered(good); }));
  ASSERT_TRUE(WaitFor([&] { return DeadLetters(id).size() == 1; }));
  EXPECT_EQ(DeadLetters(id)[0].message_id, "r-7");
  ASSERT_TRUE(WaitFor([&] { return probe_->AllCommitted("delivery-" + id, 4); }));
  EXPECT_FALSE(Attempts(id, "transient").empty());
}

TEST_F(KafkaEngineTest, ACredentialFailureHoldsAndPausesUntilANewRevision) {
  InstallOptions bad;
  bad.write_key = delivery::delivery_test::kBadWriteKey;
  const std::string id = Install(bad);
  StartKafkaEngine(id);
  const std::vector<std::string> first = ProduceTracks(id, 20, "h");
  ASSERT_TRUE(WaitFor([&] { return store_->GetIntegration("org_default", id)->status == "held"; }));
  ASSERT_TRUE(WaitFor([&] {
    const KafkaQueueStats stats = queue_->Stats();
    if (stats.partitions.size() != 4) return false;
    for (const PartitionStats& p : stats.partitions) {
      if (!p.paused) return false;
    }
    return true;
  })) << "a held integration's partitions were not paused";
  EXPECT_EQ(AcceptedMessageIds().size(), 0u);
  // The fix: a new revision with the right key. The store clears the hold; the
  // daemon tells the queue (ApplyStatus) and the engine (Refresh).
  RevisionRecord fixed = ValidatedRevision(InstallOptions{});
  fixed.integration_id = id;
  fixed.org_id = "org_default";
  ASSERT_TRUE(store_->AddRevision(fixed).ok());
  queue_->ApplyStatus(id, store_->GetIntegration("org_default", id)->status);
  ASSERT_TRUE(engine_->Refresh(id).ok());
  const std::vector<std::string> second = ProduceTracks(id, 20, "h2");
  ASSERT_TRUE(WaitFor([&] { return Delivered(first) && Delivered(second); }));
  ASSERT_TRUE(WaitFor([&] { return probe_->AllCommitted("delivery-" + id, 4); }));
}

// A 429 with Retry-After: the throttled events wait in memory, not in the partition,
// and go out once the time has passed, each once; the offsets still reach the end.
TEST_F(KafkaEngineTest, AThrottleWaitsForRetryAfterThenDeliversEachEventOnce) {
  const std::string id = Install();
  StartKafkaEngine(id);
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[429],"retry_after":"1"})").ok());
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> ids = ProduceTracks(id, 120, "t");
  ASSERT_TRUE(WaitFor([&] { return Delivered(ids); }));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(waited, 1.0) << "Retry-After: 1 was not honoured";
  EXPECT_FALSE(Attempts(id, "throttle").empty());
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  ASSERT_TRUE(WaitFor([&] { return probe_->AllCommitted("delivery-" + id, 4); }));
}

}  // namespace
}  // namespace signal_host::kafka::kafka_test
