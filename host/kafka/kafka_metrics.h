// The Kafka consumer's figures on /metrics, sampled from KafkaDeliveryQueue::Stats()
// at every scrape: per assigned partition the consumer lag (high watermark minus the
// committed offset), the events held in memory and whether it is paused; for the
// consumer the assigned and paused partition counts, rebalances, offset commits and
// their failures, records read and invalid records dead-lettered.
//
// Thread-safe (the registry's collect hook). Unregisters its hook in the destructor;
// destroy it before the queue.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "host/metrics/metrics.h"

namespace signal_host::kafka {

class KafkaDeliveryQueue;

class KafkaMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaMetrics>> Create(metrics::Registry& registry,
                                                              KafkaDeliveryQueue* queue);
  ~KafkaMetrics();
  KafkaMetrics(const KafkaMetrics&) = delete;
  KafkaMetrics& operator=(const KafkaMetrics&) = delete;

 private:
  KafkaMetrics(metrics::Registry& registry, KafkaDeliveryQueue* queue)
      : registry_(registry), queue_(queue) {}
  void Collect();

  metrics::Registry& registry_;
  KafkaDeliveryQueue* const queue_;
  int hook_ = 0;

  metrics::Family<metrics::Gauge>* lag_ = nullptr;
  metrics::Family<metrics::Gauge>* unfinished_ = nullptr;
  metrics::Family<metrics::Gauge>* paused_ = nullptr;
  metrics::Family<metrics::Gauge>* assigned_count_ = nullptr;
  metrics::Family<metrics::Gauge>* paused_count_ = nullptr;
  metrics::Family<metrics::Counter>* rebalances_ = nullptr;
  metrics::Family<metrics::Counter>* commits_ = nullptr;
  metrics::Family<metrics::Counter>* commit_failures_ = nullptr;
  metrics::Family<metrics::Counter>* records_ = nullptr;
  metrics::Family<metrics::Counter>* invalid_records_ = nullptr;

  // Partitions shown at the last scrape (integration, topic, partition), so that
  // revoked ones disappear; and the cumulative figures already added to counters.
  std::set<std::tuple<std::string, std::string, std::string>> shown_;
  uint64_t seen_rebalances_ = 0, seen_commits_ = 0, seen_commit_failures_ = 0;
  uint64_t seen_records_ = 0, seen_invalid_ = 0;
};

}  // namespace signal_host::kafka
