// The delivery queue in Kafka mode: the events of integration X are the records of
// topic `topic_prefix + X` ("delivery-X"; record format in kafka_ingest_queue.h),
// consumed by one consumer per host in one consumer group (cooperative-sticky), so
// N hosts share the partitions and the survivors take over a dead host's partitions.
// The delivery engine sees an ordinary DeliveryQueue.
//
// Threads: a poll thread owns the consumer (every librdkafka consumer call is made on
// it): it moves records into per-integration buffers in memory, answers rebalances,
// stores offsets and pauses/resumes partitions. A recorder thread serves
// CompleteAndRecordAsync. Every public method is thread-safe.
//
// Durability and offsets. An event is finished when its outcome is durable: delivered
// (Complete: the vendor has it) or dead-lettered (DeadLetterEvents: the sink returned
// OK). Finishing advances the partition's contiguous watermark (watermark.h); the poll
// thread stores that offset (enable.auto.offset.store=false + rd_kafka_offsets_store)
// and librdkafka's auto-commit sends it every auto_commit_interval_ms; a revocation
// stores the finished offsets before the partitions go (auto-commit commits them as
// it unassigns) and the close commits them once more. No commit is synchronous.
// Retries (ScheduleRetry) and leases live in memory only: other events of the
// partition keep flowing, and the offset waits behind the oldest unfinished event.
//
// Where duplicates come from (at-least-once, keyed by messageId): a new owner of a
// partition (after a rebalance, a crash, or a commit that failed) reads again from the
// last committed offset, so events finished after that commit are delivered again:
// at most the unfinished window plus one commit interval of finished events per
// partition. Outcomes that arrive for a partition this host no longer owns are
// ignored (the new owner has the events). Dead letters are unique per messageId in
// the sink, so a re-read never makes a second one.
//
// Memory: at most max_unfinished_per_partition events per partition are held (above
// it the partition pauses; it resumes under half). Records librdkafka had already
// fetched may still arrive after the pause, so the bound is soft by one fetch.
//
// The hold: SetStatus("held"/"disabled") writes the status through the
// IntegrationStatusStore and pauses the integration's partitions; a rebalance
// re-pauses newly assigned partitions of held integrations; SetStatus("active") (the
// engine, after a new revision) resumes them. Other hosts learn a hold through the
// config change feed and call ApplyStatus (no write), so the partitions stay paused on
// whichever host owns them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/kafka/kafka_options.h"
#include "host/kafka/watermark.h"
#include "host/store/attempt_log.h"
#include "host/store/dead_letter_sink.h"
#include "host/store/delivery_queue.h"
#include "host/store/integration_status.h"

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;
struct rd_kafka_message_s;

namespace signal_host::kafka {

// For metrics and tests: one snapshot of the consumer.
struct PartitionStats {
  std::string topic;
  int32_t partition = 0;
  std::string integration_id;
  int64_t committed_offset = -1;  // last offset the group coordinator confirmed (-1: none)
  int64_t stored_offset = -1;     // last offset handed to rd_kafka_offsets_store
  int64_t high_watermark = -1;    // the broker's end of the log, as last fetched
  int64_t lag = 0;                // high_watermark - committed (0 when either is unknown)
  size_t unfinished = 0;          // events held in memory
  bool paused = false;
};
struct KafkaQueueStats {
  std::vector<PartitionStats> partitions;  // the assigned ones, by topic and partition
  uint64_t rebalances = 0;                 // assignment changes seen
  uint64_t commits = 0;                    // offset commits the coordinator confirmed
  uint64_t commit_failures = 0;            // commits that failed (retried by auto-commit)
  uint64_t invalid_records = 0;            // records dead-lettered as invalid_record
  uint64_t records = 0;                    // records taken into memory
};

class KafkaDeliveryQueue final : public DeliveryQueue {
 public:
  using ArrivalListener = std::function<void(std::string_view integration_id)>;

  // `attempts` records attempts, `dead_letters` takes dead letters, `statuses` writes
  // the hold; all must outlive the queue. Starts the consumer (subscribed to nothing
  // until SetIntegrations).
  static absl::StatusOr<std::unique_ptr<KafkaDeliveryQueue>> Create(
      const KafkaOptions& options, AttemptLog* attempts, DeadLetterSink* dead_letters,
      IntegrationStatusStore* statuses);
  ~KafkaDeliveryQueue() override;  // Close()
  KafkaDeliveryQueue(const KafkaDeliveryQueue&) = delete;
  KafkaDeliveryQueue& operator=(const KafkaDeliveryQueue&) = delete;

  // The integrations this host serves: subscribes to their topics (a change
  // re-subscribes, which rebalances the group).
  void SetIntegrations(std::vector<std::string> integration_ids);
  // Records a status another host wrote (config change feed) or the store held at
  // start: "held" and "disabled" pause the integration's partitions, "active" resumes.
  void ApplyStatus(std::string_view integration_id, std::string_view status);
  // Called on the poll thread when records of an integration arrived (at most once
  // per poll round per integration); keep it cheap (DeliveryEngine::Notify).
  void SetArrivalListener(ArrivalListener listener);

  // Stops leasing, finishes pending asynchronous completions, stores the finished
  // offsets and closes the consumer (revokes, final commit, leaves the group) within
  // close_timeout_ms. Stop the delivery engine first. Idempotent.
  void Close();

  KafkaQueueStats Stats();

  // DeliveryQueue. Seqs are handles of buffered records (> 0, never reused).
  absl::StatusOr<std::vector<QueuedEvent>> Lease(std::string_view integration_id, size_t max,
                                                 int64_t now_ms) override;
  void Release(std::span<const int64_t> seqs) override;
  absl::Status Complete(std::span<const int64_t> seqs) override;
  absl::Status ScheduleRetry(std::span<const int64_t> seqs, int64_t next_attempt_at_ms,
                             int64_t attempted_at_ms) override;
  absl::Status DeadLetterEvents(std::span<const int64_t> seqs, std::string_view reason,
                                std::string_view message, int32_t last_status,
                                std::string_view last_response, uint32_t attempts_added) override;
  void CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                              AsyncDone done) override;
  // Events of the integration buffered on THIS host (leased or not); the backlog
  // still in Kafka is the lag in Stats().
  absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) override;
  absl::Status RecordAttempt(AttemptRecord& attempt) override;
  absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                         std::string_view reason) override;
  // This host's part of the integration's rate limit: the share of its topic's
  // partitions assigned here (kafka_rate_share.cc). 1 while the topic's size is not
  // known yet or nothing is assigned.
  double RateShare(std::string_view integration_id) override;

 private:
  // An assigned partition. Events hold a reference: after a revocation `revoked` is
  // set and their late outcomes no longer move any offset.
  struct Partition {
    std::string topic;
    int32_t partition = 0;
    std::string integration_id;
    Watermark watermark{-1};
    bool revoked = false;
    bool bound_paused = false;  // over max_unfinished_per_partition
    bool paused = false;        // what librdkafka was last told
    bool dirty = false;         // offset or pause state to apply on the poll thread
    int64_t stored = -1;
    int64_t committed = -1;
  };
  struct Event {
    QueuedEvent queued;
    std::shared_ptr<Partition> partition;
    int64_t offset = 0;
    bool leased = false;
  };
  struct Integration {
    absl::btree_set<std::pair<int64_t, int64_t>> available;  // (due ms, seq), unleased
    size_t buffered = 0;                                     // events in events_
  };
  struct InvalidRecord {
    std::shared_ptr<Partition> partition;
    int64_t offset = 0;
    DeadLetter letter;
  };
  struct RecordJob {
    std::vector<int64_t> seqs;
    AttemptRecord attempt;
    AsyncDone done;
  };

  KafkaDeliveryQueue(const KafkaOptions& options, AttemptLog* attempts,
                     DeadLetterSink* dead_letters, IntegrationStatusStore* statuses);

  // Poll thread (kafka_consumer_loop.cc).
  void PollLoop();
  void ApplySubscription();
  // True when the record was taken as an event to deliver.
  bool TakeRecord(const rd_kafka_message_s* message);
  void DeadLetterInvalidRecords();
  void ApplyPartitionControls();
  void CloseConsumer();
  void OnRebalance(int err, rd_kafka_topic_partition_list_s* partitions);
  void OnCommit(int err, rd_kafka_topic_partition_list_s* offsets);
  // Reads the partition count of each assigned topic from the brokers after a
  // rebalance (poll thread; kafka_rate_share.cc).
  void RefreshPartitionCounts();

  // State helpers; mu_ held.
  void FinishLocked(int64_t seq);
  void MakeAvailableLocked(Event& event, int64_t seq);
  void DropPartitionLocked(const std::string& topic, int32_t partition);
  bool HeldLocked(const std::string& integration_id) const;
  std::string IntegrationOfTopic(std::string_view topic) const;

  void RecorderLoop();

  const KafkaOptions options_;
  AttemptLog* const attempts_;
  DeadLetterSink* const dead_letters_;
  IntegrationStatusStore* const statuses_;
  rd_kafka_s* consumer_ = nullptr;
  bool consumer_closed_ = false;  // the close finished in time (poll thread, then Close)

  std::mutex mu_;
  int64_t next_seq_ = 1;
  absl::flat_hash_map<int64_t, Event> events_;
  absl::flat_hash_map<std::string, Integration> integrations_;
  // Keyed by topic and partition.
  absl::flat_hash_map<std::pair<std::string, int32_t>, std::shared_ptr<Partition>> partitions_;
  absl::flat_hash_set<std::string> held_;
  std::vector<std::string> wanted_topics_;
  bool subscription_dirty_ = false;
  bool closing_ = false;
  ArrivalListener arrival_listener_;
  KafkaQueueStats counters_;            // partitions unused: built by Stats()
  std::vector<InvalidRecord> invalid_;  // waiting for the sink (poll thread; mu_ to edit)
  int64_t invalid_retry_at_ms_ = 0;     // poll thread only
  int64_t invalid_backoff_ms_ = 0;      // poll thread only
  bool pause_due_ = false;              // poll thread only: a partition hit its bound
  bool counts_due_ = false;             // poll thread only: assignment changed
  int64_t counts_retry_at_ms_ = 0;      // poll thread only
  absl::flat_hash_map<std::string, int32_t> partition_counts_;  // by topic; mu_

  std::atomic<bool> stop_polling_{false};
  std::thread poller_;

  std::mutex record_mu_;
  std::condition_variable record_cv_;
  std::deque<RecordJob> record_jobs_;
  bool record_stop_ = false;
  std::thread recorder_;

  std::mutex close_mu_;
  bool closed_ = false;
};

}  // namespace signal_host::kafka
