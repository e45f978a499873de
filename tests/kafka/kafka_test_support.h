// Shared by the Kafka tests: librdkafka's in-process mock cluster (3 brokers, the
// broker every Kafka test talks to), a real SQLite store in a temp dir (attempt log,
// dead-letter sink and status store), and small probes that ask the cluster what was
// committed and how long each partition's log is.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "host/crypto/secret_box.h"
#include "host/kafka/kafka_delivery_queue.h"
#include "host/kafka/kafka_ingest_queue.h"
#include "host/kafka/kafka_options.h"
#include "host/store/store.h"

namespace signal_host::kafka::kafka_test {

inline void Mark(const char* what) {
  static const auto start = std::chrono::steady_clock::now();
  if (std::getenv("KAFKA_TEST_TRACE") == nullptr) return;
  std::fprintf(stderr, "[%6lld ms] %s\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count()),
               what);
}

// Polls `condition` every 10 ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  Mark("wait starts");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

inline std::string Event(const std::string& message_id, const std::string& user_id) {
  return absl::StrCat(R"({"type":"track","event":"Order Completed","userId":")", user_id,
                      R"(","messageId":")", message_id,
                      R"(","timestamp":"2026-01-02T03:04:05.678Z","properties":{"total":19.99}})");
}

// librdkafka's mock cluster, in this process.
class MockCluster {
 public:
  explicit MockCluster(int brokers = 3) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", error, sizeof(error));
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    cluster_ = rd_kafka_mock_cluster_new(rk_, brokers);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(rk_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  rd_kafka_mock_cluster_t* get() { return cluster_; }
  const std::string& bootstrap() const { return bootstrap_; }
  void CreateTopic(const std::string& topic, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 3),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
};

// Asks the cluster, with a client of its own, for a group's committed offsets and the
// partitions' high watermarks.
class ClusterProbe {
 public:
  ClusterProbe(const std::string& bootstrap, const std::string& group) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof(error));
    rd_kafka_conf_set(conf, "group.id", group.c_str(), error, sizeof(error));
    rd_kafka_conf_set(conf, "log_level", "2", error, sizeof(error));
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  }
  ~ClusterProbe() { rd_kafka_destroy(rk_); }
  ClusterProbe(const ClusterProbe&) = delete;
  ClusterProbe& operator=(const ClusterProbe&) = delete;

  // RD_KAFKA_OFFSET_INVALID for a partition without a committed offset; -1 when the
  // query failed.
  std::vector<int64_t> Committed(const std::string& topic, int partitions) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    std::vector<int64_t> offsets(partitions, -1);
    if (rd_kafka_committed(rk_, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          offsets[list->elems[i].partition] = list->elems[i].offset;
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return offsets;
  }
  std::vector<int64_t> HighWatermarks(const std::string& topic, int partitions) {
    std::vector<int64_t> highs(partitions, -1);
    for (int p = 0; p < partitions; ++p) {
      int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(rk_, topic.c_str(), p, &low, &high, 5000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        highs[p] = high;
      }
    }
    return highs;
  }
  // Committed equals the high watermark on every partition (and something was written).
  bool AllCommitted(const std::string& topic, int partitions) {
    const std::vector<int64_t> highs = HighWatermarks(topic, partitions);
    return Committed(topic, partitions) == highs;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
};

// A producer of raw records (for records that are not events).
class RawProducer {
 public:
  explicit RawProducer(const std::string& bootstrap) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof(error));
    rd_kafka_conf_set(conf, "log_level", "2", error, sizeof(error));
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  }
  ~RawProducer() { rd_kafka_destroy(rk_); }
  void Produce(const std::string& topic, int partition, const std::string& value) {
    ASSERT_EQ(
        rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void Flush() { ASSERT_EQ(rd_kafka_flush(rk_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR); }

 private:
  rd_kafka_t* rk_ = nullptr;
};

// The mock cluster and a SQLite store, per test.
class KafkaFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("kafka_", getpid(), "_", name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cluster_ = std::make_unique<MockCluster>();
    auto box = SecretBox::FromRawKey(std::string(SecretBox::kKeyBytes, '\x42'));
    ASSERT_TRUE(box.ok()) << box.status();
    box_ = std::make_unique<SecretBox>(*box);
    StoreOptions store_options;
    store_options.path = (dir_ / "signal.db").string();
    auto store = Store::Open(store_options, box_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    group_ = absl::StrCat("group-", name);
  }
  void TearDown() override {
    Mark("teardown");
    queues_.clear();  // close consumers before the store and the cluster go
    probe_.reset();
    Mark("queues closed");
    ingest_.reset();
    store_.reset();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
    Mark("teardown done");
  }

  KafkaOptions Options() {
    KafkaOptions options;
    options.brokers = cluster_->bootstrap();
    options.group_id = group_;
    options.auto_commit_interval_ms = 100;
    options.session_timeout_ms = 4000;  // above the mock's 3 s join delay
    options.produce_timeout_ms = 15000;
    options.close_timeout_ms = 5000;
    options.extra["log_level"] = "2";
    if (const char* debug = std::getenv("KAFKA_TEST_DEBUG")) {  // e.g. cgrp,fetch
      options.extra["log_level"] = "7";
      options.extra["debug"] = debug;
    }
    // The mock's group coordinator: rejoin quickly.
    options.extra["heartbeat.interval.ms"] = "300";
    return options;
  }

  KafkaDeliveryQueue& NewQueue(const KafkaOptions& options) {
    auto queue = KafkaDeliveryQueue::Create(options, store_.get(), store_.get(), store_.get());
    EXPECT_TRUE(queue.ok()) << queue.status();
    queues_.push_back(std::move(*queue));
    return *queues_.back();
  }
  KafkaIngestQueue& Ingest() {
    if (!ingest_) {
      auto ingest = KafkaIngestQueue::Create(Options());
      EXPECT_TRUE(ingest.ok()) << ingest.status();
      ingest_ = std::move(*ingest);
    }
    return *ingest_;
  }

  // Produces `count` events for the integration through KafkaIngestQueue, `per_call`
  // per Enqueue; returns their messageIds.
  std::vector<std::string> Produce(const std::string& integration_id, int count,
                                   const std::string& prefix = "m", int per_call = 50) {
    std::vector<std::string> ids;
    for (int start = 0; start < count; start += per_call) {
      std::vector<std::string> payloads;
      std::vector<std::string> batch_ids;
      for (int i = start; i < std::min(count, start + per_call); ++i) {
        batch_ids.push_back(absl::StrCat(prefix, "-", i));
        payloads.push_back(Event(batch_ids.back(), absl::StrCat("user-", i % 13)));
      }
      std::vector<EnqueueItem> items;
      for (size_t i = 0; i < payloads.size(); ++i) {
        items.push_back(EnqueueItem{integration_id, batch_ids[i], payloads[i]});
      }
      Mark("produce");
      const absl::Status status = Ingest().Enqueue(items);
      EXPECT_TRUE(status.ok()) << status;
      ids.insert(ids.end(), batch_ids.begin(), batch_ids.end());
    }
    return ids;
  }

  // Installs an integration in the store (the hold needs one to write to); its id.
  std::string Install(const std::string& name) {
    IntegrationRecord integration;
    integration.org_id = "org_default";
    integration.name = name;
    integration.vendor = "hightouch";
    RevisionRecord revision;
    revision.config_json = R"({"workspace_id":"12345"})";
    revision.delivery_mode = "server_side";
    revision.created_by = "usr_test";
    const absl::Status status = store_->CreateIntegration(integration, revision);
    EXPECT_TRUE(status.ok()) << status;
    return integration.id;
  }

  ClusterProbe& Probe() {
    if (!probe_) probe_ = std::make_unique<ClusterProbe>(cluster_->bootstrap(), group_);
    return *probe_;
  }

  std::filesystem::path dir_;
  std::unique_ptr<MockCluster> cluster_;
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<Store> store_;
  std::string group_;
  std::unique_ptr<ClusterProbe> probe_;
  std::unique_ptr<KafkaIngestQueue> ingest_;
  std::vector<std::unique_ptr<KafkaDeliveryQueue>> queues_;
};

}  // namespace signal_host::kafka::kafka_test
