// When the dead-letter sink cannot write, nothing moves past the events it should
// have taken: the offset waits, the write is tried again with backoff, and once it
// succeeds every event is accounted for. The sink is the real SQLite store behind a
// wrapper that fails its first calls (as tests/host/delivery_faulty_queue.h does for
// the delivery queue).
#include <gtest/gtest.h>

#include <atomic>

#include "kafka_test_support.h"

namespace signal_host::kafka::kafka_test {
namespace {

class FailingSink : public DeadLetterSink {
 public:
  explicit FailingSink(DeadLetterSink* real) : real_(real) {}
  absl::Status AddDeadLetters(std::span<const DeadLetter> letters) override {
    ++calls_;
    if (failures_left_.load() > 0) {
      --failures_left_;
      return absl::UnavailableError("disk full");
    }
    return real_->AddDeadLetters(letters);
  }
  std::atomic<int> failures_left_{0};
  std::atomic<int> calls_{0};

 private:
  DeadLetterSink* real_;
};

class KafkaSinkFailureTest : public KafkaFixture {};

TEST_F(KafkaSinkFailureTest, AnInvalidRecordHoldsTheOffsetUntilTheSinkTakesIt) {
  const std::string id = Install("Sink");
  const std::string topic = "delivery-" + id;
  cluster_->CreateTopic(topic, 1);
  FailingSink sink(store_.get());
  sink.failures_left_ = 1000;
  auto created = KafkaDeliveryQueue::Create(Options(), store_.get(), &sink, store_.get());
  ASSERT_TRUE(created.ok()) << created.status();
  queues_.push_back(std::move(*created));
  KafkaDeliveryQueue& queue = *queues_.back();
  queue.SetIntegrations({id});
  RawProducer raw(cluster_->bootstrap());
  raw.Produce(topic, 0, Event("before", "u"));
  raw.Produce(topic, 0, "{broken");
  raw.Produce(topic, 0, Event("after", "u"));
  raw.Flush();
  // Both events are delivered while the invalid record waits for the sink.
  std::set<std::string> seen;
  ASSERT_TRUE(WaitFor([&] {
    auto leased = queue.Lease(id, 10, absl::ToUnixMillis(absl::Now()));
    std::vector<int64_t> seqs;
    for (const QueuedEvent& event : *leased) {
      seen.insert(event.message_id);
      seqs.push_back(event.seq);
    }
    EXPECT_TRUE(queue.Complete(seqs).ok());
    return seen.size() == 2;
  }));
  // The offset stops at the record the sink has not taken, however often it fails.
  ASSERT_TRUE(WaitFor([&] { return Probe().Committed(topic, 1)[0] == 1 && sink.calls_ >= 2; }));
  EXPECT_EQ(queue.Stats().partitions.at(0).stored_offset, 1);
  sink.failures_left_ = 0;
  ASSERT_TRUE(WaitFor([&] { return Probe().Committed(topic, 1)[0] == 3; }));
  Page page;
  page.limit = 10;
  auto letters = store_->ListDeadLetters(id, "invalid_record", page);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->items.size(), 1u);
  EXPECT_EQ(letters->items[0].payload, "{broken");
}

TEST_F(KafkaSinkFailureTest, AFailedDeadLetterWriteKeepsTheEventLeased) {
  cluster_->CreateTopic("delivery-int-s", 1);
  FailingSink sink(store_.get());
  auto created = KafkaDeliveryQueue::Create(Options(), store_.get(), &sink, store_.get());
  ASSERT_TRUE(created.ok()) << created.status();
  queues_.push_back(std::move(*created));
  KafkaDeliveryQueue& queue = *queues_.back();
  queue.SetIntegrations({"int-s"});
  Produce("int-s", 2, "d");
  std::vector<QueuedEvent> events;
  ASSERT_TRUE(WaitFor([&] {
    auto leased = queue.Lease("int-s", 10, absl::ToUnixMillis(absl::Now()));
    events.insert(events.end(), leased->begin(), leased->end());
    return events.size() == 2;
  }));
  const int64_t first[] = {events[0].seq};
  sink.failures_left_ = 1;
  EXPECT_EQ(queue.DeadLetterEvents(first, "reject", "bad", 400, "{}", 1).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(queue.QueueDepth("int-s").value(), 2u) << "nothing was dropped";
  EXPECT_TRUE(queue.Lease("int-s", 10, absl::ToUnixMillis(absl::Now()))->empty())
      << "the event is still leased";
  ASSERT_TRUE(queue.DeadLetterEvents(first, "reject", "bad", 400, "{}", 1).ok());
  const int64_t second[] = {events[1].seq};
  ASSERT_TRUE(queue.Complete(second).ok());
  ASSERT_TRUE(WaitFor([&] { return Probe().Committed("delivery-int-s", 1)[0] == 2; }));
  Page page;
  page.limit = 10;
  auto letters = store_->ListDeadLetters("int-s", "reject", page);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->items.size(), 1u);
  EXPECT_EQ(letters->items[0].message_id, events[0].message_id);
  EXPECT_EQ(letters->items[0].attempts, 1u);
}

}  // namespace
}  // namespace signal_host::kafka::kafka_test
