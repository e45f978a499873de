// The event API's queue in Kafka mode: each event becomes one record on the topic
// `topic_prefix + integration_id` ("delivery-<integration_id>"), the topic Signal's
// event processor publishes to and KafkaDeliveryQueue consumes.
//
// Record format (the same for records from Signal's processor):
//   value    the canonical Signal event JSON, byte for byte (a JSON object with a
//            string "messageId")
//   key      the event's userId, else its anonymousId, else its messageId (top-level
//            string fields), so that one user's events stay in one partition, in order
//   headers  "message_id": the messageId (consumers read it without parsing the value)
//
// The producer is idempotent (enable.idempotence=true, so acks=all): a retried
// produce does not reorder a partition. Enqueue returns OK only once the broker
// acknowledged every record (all in-sync replicas have it); on a failure or after
// produce_timeout_ms it returns Unavailable and the event API answers 503, so the
// client sends the same messageIds again. Records of a call that failed part-way may
// already be in Kafka: that retry then duplicates them (the delivery side is
// at-least-once keyed by messageId anyway). A full local producer queue is retried
// with backoff for a bounded time, then Unavailable.
//
// Thread-safe: any number of event-API threads call Enqueue at once; a thread of the
// queue's own serves librdkafka's delivery reports. The destructor flushes what is in
// flight (bounded by produce_timeout_ms) and destroys the producer.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/kafka/kafka_options.h"
#include "host/store/ingest_queue.h"

struct rd_kafka_s;

namespace signal_host::kafka {

// The record key of an event: its top-level userId, anonymousId or messageId (the
// first that is a non-empty string), else empty. Exposed for tests.
std::string RecordKeyOf(std::string_view payload);

class KafkaIngestQueue final : public IngestQueue {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaIngestQueue>> Create(const KafkaOptions& options);
  ~KafkaIngestQueue() override;
  KafkaIngestQueue(const KafkaIngestQueue&) = delete;
  KafkaIngestQueue& operator=(const KafkaIngestQueue&) = delete;

  // Produces every item and waits for the broker's acknowledgements (see above). An
  // integration id is not checked against the installed ones here (the event API
  // routes only to installed integrations); a topic that does not exist fails with
  // Unavailable once the produce times out, unless the cluster creates topics.
  absl::Status Enqueue(std::span<const EnqueueItem> items) override;
  // Always 0: the depth of a topic lives in the brokers and the consumer group (lag),
  // which the producer does not see; KafkaDeliveryQueue::Stats reports the lag. The
  // event API's backpressure in this mode is the broker's acknowledgement itself.
  absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) override;

  // OK when a broker answers a metadata request within `timeout_ms` (readiness
  // probes); Unavailable with librdkafka's reason otherwise.
  absl::Status BrokersReachable(int timeout_ms);

 private:
  explicit KafkaIngestQueue(const KafkaOptions& options);
  void ServeDeliveryReports();

  const KafkaOptions options_;
  rd_kafka_s* producer_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread reports_;
};

}  // namespace signal_host::kafka
