// KafkaDeliveryQueue's share of an integration's rate limit. With N hosts consuming
// one topic, each host's token bucket runs at rate x (its partitions / all of the
// topic's partitions), so the hosts together keep to the vendor's limit however the
// group assigned the partitions. The partition count comes from the brokers' metadata,
// read on the poll thread after a rebalance (not inside the callback), never on the
// engine's threads.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "host/kafka/kafka_delivery_queue.h"

namespace signal_host::kafka {
namespace {

constexpr int kMetadataTimeoutMs = 1000;
constexpr int64_t kRetryAfterFailureMs = 1000;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

void KafkaDeliveryQueue::RefreshPartitionCounts() {
  if (NowMs() < counts_retry_at_ms_) return;
  std::vector<std::string> topics;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Every assigned topic again: a rebalance may come from partitions added to one.
    for (const auto& [key, partition] : partitions_) {
      if (std::find(topics.begin(), topics.end(), key.first) == topics.end()) {
        topics.push_back(key.first);
      }
    }
  }
  bool failed = false;
  for (const std::string& topic : topics) {
    rd_kafka_topic_t* handle = rd_kafka_topic_new(consumer_, topic.c_str(), nullptr);
    if (handle == nullptr) {
      failed = true;
      continue;
    }
    const rd_kafka_metadata_t* metadata = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(consumer_, /*all_topics=*/0, handle, &metadata, kMetadataTimeoutMs);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1 &&
        metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        metadata->topics[0].partition_cnt > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      partition_counts_[topic] = metadata->topics[0].partition_cnt;
    } else {
      failed = true;
    }
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(handle);
  }
  counts_due_ = failed;
  if (failed) counts_retry_at_ms_ = NowMs() + kRetryAfterFailureMs;
}

double KafkaDeliveryQueue::RateShare(std::string_view integration_id) {
  const std::string topic = options_.topic_prefix + std::string(integration_id);
  std::lock_guard<std::mutex> lock(mu_);
  auto count = partition_counts_.find(topic);
  if (count == partition_counts_.end()) return 1.0;
  int assigned = 0;
  for (const auto& [key, partition] : partitions_) {
    if (key.first == topic && !partition->revoked) ++assigned;
  }
  if (assigned == 0 || assigned >= count->second) return 1.0;
  return static_cast<double>(assigned) / count->second;
}

}  // namespace signal_host::kafka
