#include "host/kafka/kafka_metrics.h"

#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "host/kafka/kafka_delivery_queue.h"

namespace signal_host::kafka {
namespace {

// Counters only go up: add what the cumulative figure gained since the last scrape.
void Advance(metrics::Family<metrics::Counter>* family, uint64_t now, uint64_t& seen) {
  if (now > seen) family->WithLabels({}).Inc(now - seen);
  seen = now;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaMetrics>> KafkaMetrics::Create(metrics::Registry& registry,
                                                                   KafkaDeliveryQueue* queue) {
  std::unique_ptr<KafkaMetrics> m(new KafkaMetrics(registry, queue));
  const std::vector<std::string> partition_labels = {"integration_id", "topic", "partition"};
  auto gauge = [&](metrics::Family<metrics::Gauge>*& out, const char* name, const char* help,
                   std::vector<std::string> labels) -> absl::Status {
    auto family = registry.AddGauge(name, help, std::move(labels));
    if (!family.ok()) return family.status();
    out = *family;
    return absl::OkStatus();
  };
  auto counter = [&](metrics::Family<metrics::Counter>*& out, const char* name,
                     const char* help) -> absl::Status {
    auto family = registry.AddCounter(name, help);
    if (!family.ok()) return family.status();
    out = *family;
    return absl::OkStatus();
  };
  for (absl::Status status : {
           gauge(m->lag_, "signal_kafka_consumer_lag",
                 "Records of an assigned partition past the group's committed offset",
                 partition_labels),
           gauge(m->unfinished_, "signal_kafka_partition_unfinished_events",
                 "Events of an assigned partition held in memory (buffered, leased, retrying)",
                 partition_labels),
           gauge(m->paused_, "signal_kafka_partition_paused",
                 "1 while consumption of an assigned partition is paused (held integration or "
                 "too many unfinished events)",
                 partition_labels),
           gauge(m->assigned_count_, "signal_kafka_assigned_partitions",
                 "Partitions assigned to this host", {}),
           gauge(m->paused_count_, "signal_kafka_paused_partitions",
                 "Assigned partitions currently paused", {}),
           counter(m->rebalances_, "signal_kafka_rebalances_total",
                   "Assignment changes this host's consumer went through"),
           counter(m->commits_, "signal_kafka_offset_commits_total",
                   "Offset commits the group coordinator confirmed"),
           counter(m->commit_failures_, "signal_kafka_offset_commit_failures_total",
                   "Offset commits that failed (the next auto-commit retries)"),
           counter(m->records_, "signal_kafka_records_total", "Records read from the topics"),
           counter(m->invalid_records_, "signal_kafka_invalid_records_total",
                   "Records that were not a valid event, dead-lettered as invalid_record"),
       }) {
    if (!status.ok()) return status;
  }
  KafkaMetrics* raw = m.get();
  m->hook_ = registry.AddCollectHook([raw] { raw->Collect(); });
  return m;
}

KafkaMetrics::~KafkaMetrics() {
  if (hook_ != 0) registry_.RemoveCollectHook(hook_);
}

void KafkaMetrics::Collect() {
  KafkaQueueStats stats = queue_->Stats();
  std::set<std::tuple<std::string, std::string, std::string>> now;
  size_t paused = 0;
  for (const PartitionStats& p : stats.partitions) {
    std::string partition = absl::StrCat(p.partition);
    std::initializer_list<std::string_view> labels = {p.integration_id, p.topic, partition};
    lag_->WithLabels(labels).Set(static_cast<double>(p.lag));
    unfinished_->WithLabels(labels).Set(static_cast<double>(p.unfinished));
    paused_->WithLabels(labels).Set(p.paused ? 1 : 0);
    paused += p.paused ? 1 : 0;
    now.emplace(p.integration_id, p.topic, std::move(partition));
  }
  for (const auto& [integration, topic, partition] : shown_) {
    if (now.count({integration, topic, partition}) != 0) continue;
    std::vector<std::string_view> labels = {integration, topic, partition};
    lag_->Remove(labels);
    unfinished_->Remove(labels);
    paused_->Remove(labels);
  }
  shown_ = std::move(now);
  assigned_count_->WithLabels({}).Set(static_cast<double>(stats.partitions.size()));
  paused_count_->WithLabels({}).Set(static_cast<double>(paused));
  Advance(rebalances_, stats.rebalances, seen_rebalances_);
  Advance(commits_, stats.commits, seen_commits_);
  Advance(commit_failures_, stats.commit_failures, seen_commit_failures_);
  Advance(records_, stats.records, seen_records_);
  Advance(invalid_records_, stats.invalid_records, seen_invalid_);
}

}  // namespace signal_host::kafka
