// KafkaDeliveryQueue against librdkafka's mock cluster: produced through
// KafkaIngestQueue, leased and finished here, and the group's committed offsets read
// back from the cluster. Faults: fetch and commit errors, a moved leader, a second
// consumer joining, a held integration, the per-partition bound.
#include <gtest/gtest.h>

#include <set>

#include "kafka_test_support.h"

namespace signal_host::kafka::kafka_test {
namespace {

constexpr int64_t kFarFuture = int64_t{1} << 62;

int64_t Now() { return absl::ToUnixMillis(absl::Now()); }

class KafkaQueueTest : public KafkaFixture {
 protected:
  // Leases and completes until `distinct` holds `count` messageIds (or the deadline);
  // returns every messageId leased by this call, duplicates included.
  std::multiset<std::string> LeaseAndComplete(KafkaDeliveryQueue& queue, const std::string& id,
                                              size_t count, std::set<std::string>* distinct) {
    std::multiset<std::string> seen;
    WaitFor([&] {
      auto leased = queue.Lease(id, 100, Now());
      EXPECT_TRUE(leased.ok());
      std::vector<int64_t> seqs;
      for (const QueuedEvent& event : *leased) {
        seen.insert(event.message_id);
        distinct->insert(event.message_id);
        EXPECT_NE(event.payload.find(event.message_id), std::string::npos);
        seqs.push_back(event.seq);
      }
      EXPECT_TRUE(queue.Complete(seqs).ok());
      return distinct->size() >= count;
    });
    return seen;
  }
  std::multiset<std::string> LeaseAndComplete(KafkaDeliveryQueue& queue, const std::string& id,
                                              size_t count) {
    std::set<std::string> distinct;
    return LeaseAndComplete(queue, id, count, &distinct);
  }

  static bool AllPaused(KafkaDeliveryQueue& queue, bool paused) {
    const KafkaQueueStats stats = queue.Stats();
    if (stats.partitions.empty()) return false;
    for (const PartitionStats& p : stats.partitions) {
      if (p.paused != paused) return false;
    }
    return true;
  }
};

TEST_F(KafkaQueueTest, ProducedEventsArriveAndTheCommittedOffsetReachesTheHighWatermark) {
  cluster_->CreateTopic("delivery-int-a", 4);
  KafkaDeliveryQueue& queue = NewQueue(Options());
  queue.SetIntegrations({"int-a"});
  std::atomic<int> arrivals{0};
  queue.SetArrivalListener([&](std::string_view id) {
    if (id == "int-a") ++arrivals;
  });
  const std::vector<std::string> ids = Produce("int-a", 200);
  std::multiset<std::string> seen = LeaseAndComplete(queue, "int-a", ids.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()),
            std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(seen.size(), ids.size()) << "no event leased twice";
  EXPECT_GT(arrivals.load(), 0);
  ASSERT_TRUE(WaitFor([&] { return Probe().AllCommitted("delivery-int-a", 4); }))
      << "committed offsets never reached the high watermarks";
  int64_t total = 0;
  for (int64_t high : Probe().HighWatermarks("delivery-int-a", 4)) total += high;
  EXPECT_EQ(total, 200);
  ASSERT_TRUE(WaitFor([&] {
    const KafkaQueueStats stats = queue.Stats();
    for (const PartitionStats& p : stats.partitions) {
      if (p.lag != 0 || p.committed_offset != p.high_watermark) return false;
    }
    return stats.partitions.size() == 4 && stats.commits > 0;
  }));
  EXPECT_EQ(queue.QueueDepth("int-a").value(), 0u);
}

TEST_F(KafkaQueueTest, OutOfOrderCompletionCommitsOnlyTheContiguousPrefix) {
  cluster_->CreateTopic("delivery-int-b", 1);
  KafkaDeliveryQueue& queue = NewQueue(Options());
  queue.SetIntegrations({"int-b"});
  Produce("int-b", 10, "m", 10);
  std::vector<QueuedEvent> events;
  ASSERT_TRUE(WaitFor([&] {
    auto leased = queue.Lease("int-b", 100, Now());
    events.insert(events.end(), leased->begin(), leased->end());
    return events.size() == 10;
  }));
  // One partition: lease order is offset order. Finish all but offsets 3 and 4,
  // and retry offset 4 far in the future: the others still flow.
  std::vector<int64_t> finished;
  for (int i : {9, 0, 7, 2, 1, 5, 8, 6}) finished.push_back(events[i].seq);
  ASSERT_TRUE(queue.Complete(finished).ok());
  const int64_t four[] = {events[4].seq};
  ASSERT_TRUE(queue.ScheduleRetry(four, kFarFuture, Now()).ok());
  ASSERT_TRUE(WaitFor([&] { return Probe().Committed("delivery-int-b", 1)[0] == 3; }));
  EXPECT_EQ(queue.Stats().partitions.at(0).stored_offset, 3) << "nothing past the gap is stored";
  EXPECT_EQ(queue.QueueDepth("int-b").value(), 2u);
  EXPECT_TRUE(queue.Lease("int-b", 100, Now())->empty()) << "3 is leased, 4 is not due";
  // The retried event comes back when due, with its attempt counted.
  auto retried = queue.Lease("int-b", 100, kFarFuture);
  ASSERT_EQ(retried->size(), 1u);
  EXPECT_EQ(retried->at(0).message_id, events[4].message_id);
  EXPECT_EQ(retried->at(0).attempts, 1u);
  EXPECT_GT(retried->at(0).first_attempt_at_ms, 0);
  const int64_t three_and_four[] = {events[3].seq, retried->at(0).seq};
  ASSERT_TRUE(queue.Complete(three_and_four).ok());
  ASSERT_TRUE(WaitFor([&] { return Probe().Committed("delivery-int-b", 1)[0] == 10; }));
}

TEST_F(KafkaQueueTest, RecordsThatAreNotEventsAreDeadLetteredAndPassed) {
  const std::string id = Install("Invalid");
  const std::string topic = "delivery-" + id;
  cluster_->CreateTopic(topic, 1);
  KafkaDeliveryQueue& queue = NewQueue(Options());
  queue.SetIntegrations({id});
  RawProducer raw(cluster_->bootstrap());
  raw.Produce(topic, 0, "not json");
  raw.Produce(topic, 0, R"(["an","array"])");
  raw.Produce(topic, 0, R"({"type":"track"})");
  raw.Produce(topic, 0, Event("good-1", "u"));
  raw.Flush();
  std::multiset<std::string> seen = LeaseAndComplete(queue, id, 1);
  EXPECT_EQ(seen, std::multiset<std::string>({"good-1"}));
  ASSERT_TRUE(WaitFor([&] { return Probe().Committed(topic, 1)[0] == 4; }));
  Page page;
  page.limit = 10;
  auto letters = store_->ListDeadLetters(id, "invalid_record", page);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->items.size(), 3u);
  EXPECT_EQ(letters->items[2].payload, "not json");
  EXPECT_EQ(letters->items[2].message_id, "kafka:" + topic + "/0/0");
  EXPECT_NE(letters->items[0].message.find("messageId"), std::string::npos);
  EXPECT_EQ(queue.Stats().invalid_records, 3u);
}

TEST_F(KafkaQueueTest, FetchAndCommitErrorsLoseNothing) {
  cluster_->CreateTopic("delivery-int-c", 2);
  KafkaDeliveryQueue& queue = NewQueue(Options());
  queue.SetIntegrations({"int-c"});
  const std::vector<std::string> first = Produce("int-c", 100, "a");
  std::set<std::string> distinct;
  std::multiset<std::string> seen = LeaseAndComplete(queue, "int-c", 50, &distinct);
  // Fetches (ApiKey 1) fail by disconnects and leader errors; commits (ApiKey 8) fail
  // with retriable coordinator errors.
  rd_kafka_mock_push_request_errors(cluster_->get(), 1, 4, RD_KAFKA_RESP_ERR__TRANSPORT,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR__TRANSPORT,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  // The first two are retried inside librdkafka; the third fails the commit, which
  // the next auto-commit sends again.
  rd_kafka_mock_push_request_errors(cluster_->get(), 8, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                    RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                    RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  const std::vector<std::string> second = Produce("int-c", 100, "b");
  std::multiset<std::string> rest = LeaseAndComplete(queue, "int-c", 200, &distinct);
  seen.insert(rest.begin(), rest.end());
  std::set<std::string> expected(first.begin(), first.end());
  expected.insert(second.begin(), second.end());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), expected);
  ASSERT_TRUE(WaitFor([&] { return Probe().AllCommitted("delivery-int-c", 2); }));
  EXPECT_GT(queue.Stats().commit_failures, 0u) << "the injected commit errors were seen";
}

TEST_F(KafkaQueueTest, ALeaderMovedMidStreamLosesNothing) {
  cluster_->CreateTopic("delivery-int-d", 2);
  KafkaDeliveryQueue& queue = NewQueue(Options());
  queue.SetIntegrations({"int-d"});
  const std::vector<std::string> first = Produce("int-d", 100, "a");
  std::set<std::string> distinct;
  std::multiset<std::string> seen = LeaseAndComplete(queue, "int-d", 30, &distinct);
  for (int partition = 0; partition < 2; ++partition) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_->get(), "delivery-int-d", partition,
                                                 3 - partition),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  const std::vector<std::string> second = Produce("int-d", 100, "b");
  std::multiset<std::string> rest = LeaseAndComplete(queue, "int-d", 200, &distinct);
  std::set<std::string> expected(first.begin(), first.end());
  expected.insert(second.begin(), second.end());
  EXPECT_EQ(distinct, expected);
  EXPECT_EQ(seen.size() + rest.size(), 200u) << "no event leased twice";
  ASSERT_TRUE(WaitFor([&] { return Probe().AllCommitted("delivery-int-d", 2); }));
}

TEST_F(KafkaQueueTest, TwoHostsShareAndAHoldStaysPausedAcrossTheRebalance) {
  const std::string id = Install("Shared");
  const std::string topic = "delivery-" + id;
  cluster_->CreateTopic(topic, 4);
  KafkaDeliveryQueue& first = NewQueue(Options());
  first.SetIntegrations({id});
  ASSERT_TRUE(WaitFor([&] { return first.Stats().partitions.size() == 4; }));
  EXPECT_EQ(first.RateShare(id), 1.0) << "alone, the host may use the whole rate limit";
  // A credential failure on the first host: its status is written and every
  // partition it owns pauses.
  ASSERT_TRUE(first.SetStatus(id, "held", "write key revoked").ok());
  EXPECT_EQ(store_->GetIntegration("org_default", id)->status, "held");
  ASSERT_TRUE(WaitFor([&] { return AllPaused(first, true); }));
  // A second host joins; it learned of the hold from the shared store.
  KafkaDeliveryQueue& second = NewQueue(Options());
  second.ApplyStatus(id, "held");
  second.SetIntegrations({id});
  ASSERT_TRUE(WaitFor([&] {
    return first.Stats().partitions.size() == 2 && second.Stats().partitions.size() == 2;
  })) << "the two consumers never split the partitions";
  EXPECT_GE(first.Stats().rebalances, 2u);
  EXPECT_TRUE(AllPaused(first, true)) << "kept partitions stay paused";
  EXPECT_TRUE(AllPaused(second, true)) << "newly assigned partitions were paused again";
  // Each host may now use half of the integration's rate limit (2 of 4 partitions).
  EXPECT_TRUE(WaitFor([&] { return first.RateShare(id) == 0.5 && second.RateShare(id) == 0.5; }))
      << first.RateShare(id) << " + " << second.RateShare(id);
  // While held, nothing is fetched (1 s window: a negative needs some wait).
  const std::vector<std::string> ids = Produce(id, 80);
  EXPECT_FALSE(
      WaitFor([&] { return first.QueueDepth(id).value() + second.QueueDepth(id).value() > 0; },
              std::chrono::seconds(1)));
  // A new revision: the first host's engine writes "active"; the other hears of it.
  ASSERT_TRUE(first.SetStatus(id, "active", "").ok());
  second.ApplyStatus(id, "active");
  std::multiset<std::string> seen;
  std::set<std::string> distinct;
  ASSERT_TRUE(WaitFor([&] {
    for (KafkaDeliveryQueue* queue : {&first, &second}) {
      auto leased = queue->Lease(id, 100, Now());
      std::vector<int64_t> seqs;
      for (const QueuedEvent& event : *leased) {
        seen.insert(event.message_id);
        distinct.insert(event.message_id);
        seqs.push_back(event.seq);
      }
      EXPECT_TRUE(queue->Complete(seqs).ok());
    }
    return distinct.size() == ids.size();
  }));
  EXPECT_EQ(seen.size(), ids.size());
  ASSERT_TRUE(WaitFor([&] { return Probe().AllCommitted(topic, 4); }));
}

TEST_F(KafkaQueueTest, ThePerPartitionBoundPausesConsumption) {
  cluster_->CreateTopic("delivery-int-e", 1);
  KafkaOptions options = Options();
  options.max_unfinished_per_partition = 25;
  KafkaDeliveryQueue& queue = NewQueue(options);
  queue.SetIntegrations({"int-e"});
  const std::vector<std::string> ids = Produce("int-e", 100);
  ASSERT_TRUE(WaitFor([&] { return AllPaused(queue, true); }));
  ASSERT_TRUE(WaitFor([&] {
    return queue.Stats().partitions.size() == 1 &&
           queue.Stats().partitions[0].high_watermark == 100;
  }));
  // Records already fetched may still land after the pause, but nothing beyond.
  const size_t held = queue.QueueDepth("int-e").value();
  EXPECT_GE(held, 25u);
  EXPECT_LT(held, 100u) << "the pause did not stop the fetching";
  // Finishing events resumes it, and everything arrives.
  std::multiset<std::string> seen = LeaseAndComplete(queue, "int-e", ids.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), ids.size());
  ASSERT_TRUE(WaitFor([&] { return Probe().AllCommitted("delivery-int-e", 1); }));
  EXPECT_TRUE(AllPaused(queue, false));
}

TEST_F(KafkaQueueTest, ClosingCommitsWhatIsFinishedAndANewConsumerResumesThere) {
  cluster_->CreateTopic("delivery-int-f", 2);
  KafkaOptions options = Options();
  options.auto_commit_interval_ms = 600000;  // only the close commits
  KafkaDeliveryQueue& first = NewQueue(options);
  first.SetIntegrations({"int-f"});
  const std::vector<std::string> ids = Produce("int-f", 40);
  LeaseAndComplete(first, "int-f", ids.size());
  EXPECT_EQ(Probe().Committed("delivery-int-f", 2),
            std::vector<int64_t>(2, RD_KAFKA_OFFSET_INVALID))
      << "nothing is committed before the interval or the close";
  first.Close();
  EXPECT_TRUE(Probe().AllCommitted("delivery-int-f", 2)) << "the close committed the offsets";
  // A restarted host reads only what came after.
  KafkaDeliveryQueue& second = NewQueue(Options());
  second.SetIntegrations({"int-f"});
  const std::vector<std::string> later = Produce("int-f", 10, "later");
  std::multiset<std::string> seen = LeaseAndComplete(second, "int-f", later.size());
  EXPECT_EQ(seen, std::multiset<std::string>(later.begin(), later.end()));
}

}  // namespace
}  // namespace signal_host::kafka::kafka_test
