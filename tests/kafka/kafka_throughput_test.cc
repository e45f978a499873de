// A measurement, not a check (disabled; CI does not run it): events per second from
// one KafkaIngestQueue (4 event-API threads, 100 events per Enqueue) through the mock
// cluster to one KafkaDeliveryQueue that leases and completes them.
//   build/tests/kafka/kafka_throughput_test --gtest_also_run_disabled_tests
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kafka_test_support.h"

namespace signal_host::kafka::kafka_test {
namespace {

class KafkaThroughputTest : public KafkaFixture {};

TEST_F(KafkaThroughputTest, DISABLED_IngestToCompleteEventsPerSecond) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25000;
  constexpr int kTotal = kThreads * kPerThread;
  cluster_->CreateTopic("delivery-tp", 8);
  KafkaOptions options = Options();
  options.max_unfinished_per_partition = 5000;
  KafkaDeliveryQueue& queue = NewQueue(options);
  queue.SetIntegrations({"tp"});
  ASSERT_TRUE(WaitFor([&] { return queue.Stats().partitions.size() == 8; }));
  Ingest();
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> completed{0};
  std::thread consumer([&] {
    while (completed.load() < kTotal &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(120)) {
      auto leased = queue.Lease("tp", 1000, absl::ToUnixMillis(absl::Now()));
      if (leased->empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      std::vector<int64_t> seqs;
      for (const QueuedEvent& event : *leased) seqs.push_back(event.seq);
      ASSERT_TRUE(queue.Complete(seqs).ok());
      completed += static_cast<int>(seqs.size());
    }
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] { Produce("tp", kPerThread, absl::StrCat("t", t), 100); });
  }
  for (std::thread& producer : producers) producer.join();
  const double produce_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  consumer.join();
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(completed.load(), kTotal);
  std::printf("produced (acknowledged) %d events in %.2f s: %.0f events/s\n", kTotal, produce_s,
              kTotal / produce_s);
  std::printf("leased and completed %d events in %.2f s: %.0f events/s end to end\n",
              completed.load(), total_s, completed.load() / total_s);
}

}  // namespace
}  // namespace signal_host::kafka::kafka_test
