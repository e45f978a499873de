// KafkaDeliveryQueue's poll thread: the only thread that calls the consumer. It takes
// records into memory, answers rebalances, dead-letters records that are not events,
// stores finished offsets and pauses or resumes partitions. No call here commits
// synchronously: auto-commit sends what was stored.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "host/kafka/kafka_delivery_queue.h"
#include "host/kafka/record_parse.h"

namespace signal_host::kafka {
namespace {

constexpr int kPollTimeoutMs = 50;  // also the delay before an offset is stored
constexpr size_t kMaxRecordsPerRound = 1000;
constexpr int64_t kSinkRetryInitialMs = 100;
constexpr int64_t kSinkRetryMaxMs = 30000;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
PartitionList NewList(size_t size) {
  return PartitionList(rd_kafka_topic_partition_list_new(static_cast<int>(size)));
}

void LogLine(const std::string& line) { std::fprintf(stderr, "kafka queue: %s\n", line.c_str()); }

}  // namespace

void KafkaDeliveryQueue::PollLoop() {
  absl::flat_hash_set<std::string> arrived;
  while (!stop_polling_.load()) {
    ApplySubscription();
    arrived.clear();
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, kPollTimeoutMs);
    // Each record is taken as soon as it is polled: a rebalance callback may run
    // inside the next poll, and the record belongs to the assignment before it.
    for (size_t n = 0; message != nullptr; ++n) {
      if (TakeRecord(message)) arrived.insert(std::string(rd_kafka_topic_name(message->rkt)));
      rd_kafka_message_destroy(message);
      // A partition reached its bound: pause it now, so that the records librdkafka
      // has queued for it are dropped (and fetched again after the resume).
      if (pause_due_) {
        pause_due_ = false;
        ApplyPartitionControls();
      }
      if (n + 1 == kMaxRecordsPerRound) break;
      message = rd_kafka_consumer_poll(consumer_, 0);
    }
    if (!arrived.empty()) {
      ArrivalListener listener;
      {
        std::lock_guard<std::mutex> lock(mu_);
        listener = arrival_listener_;
      }
      if (listener) {
        for (const std::string& topic : arrived) listener(IntegrationOfTopic(topic));
      }
    }
    DeadLetterInvalidRecords();
    ApplyPartitionControls();
    if (counts_due_) RefreshPartitionCounts();
  }
  ApplyPartitionControls();
  CloseConsumer();
}

void KafkaDeliveryQueue::ApplySubscription() {
  std::vector<std::string> topics;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!subscription_dirty_) return;
    subscription_dirty_ = false;
    topics = wanted_topics_;
  }
  rd_kafka_resp_err_t err;
  if (topics.empty()) {
    err = rd_kafka_unsubscribe(consumer_);
  } else {
    PartitionList list = NewList(topics.size());
    for (const std::string& topic : topics) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    }
    err = rd_kafka_subscribe(consumer_, list.get());
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    LogLine(absl::StrCat("subscribing failed (retrying): ", rd_kafka_err2str(err)));
    std::lock_guard<std::mutex> lock(mu_);
    subscription_dirty_ = true;
  }
}

bool KafkaDeliveryQueue::TakeRecord(const rd_kafka_message_t* message) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Consumer errors are informational: librdkafka retries fetches itself.
    if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      LogLine(absl::StrCat("consumer: ",
                           rd_kafka_message_errstr(const_cast<rd_kafka_message_t*>(message))));
    }
    return false;
  }
  const std::string topic = rd_kafka_topic_name(message->rkt);
  const std::string_view value(static_cast<const char*>(message->payload), message->len);
  std::optional<std::string_view> header_id;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const void* data = nullptr;
    size_t size = 0;
    if (rd_kafka_header_get_last(headers, "message_id", &data, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        data != nullptr) {
      header_id = std::string_view(static_cast<const char*>(data), size);
    }
  }
  ParsedRecord parsed = ParseRecord(value, header_id);
  const int64_t now = NowMs();
  rd_kafka_timestamp_type_t timestamp_type;
  const int64_t timestamp = rd_kafka_message_timestamp(message, &timestamp_type);

  std::lock_guard<std::mutex> lock(mu_);
  auto found = partitions_.find(std::make_pair(topic, message->partition));
  if (found == partitions_.end() || !found->second->watermark.Track(message->offset)) {
    return false;  // not ours any more, or a record fetched again
  }
  std::shared_ptr<Partition> partition = found->second;
  ++counters_.records;
  if (partition->watermark.Unfinished() >= options_.max_unfinished_per_partition &&
      !partition->bound_paused) {
    partition->bound_paused = true;
    partition->dirty = true;
    pause_due_ = true;
  }
  if (!parsed.valid) {
    InvalidRecord invalid;
    invalid.partition = partition;
    invalid.offset = message->offset;
    invalid.letter.integration_id = partition->integration_id;
    invalid.letter.message_id =
        header_id.has_value() && !header_id->empty()
            ? std::string(*header_id)
            : absl::StrCat("kafka:", topic, "/", message->partition, "/", message->offset);
    invalid.letter.payload = std::string(value);
    invalid.letter.reason = "invalid_record";
    invalid.letter.message = parsed.error;
    invalid_.push_back(std::move(invalid));
    return false;
  }
  const int64_t seq = next_seq_++;
  Event event;
  event.queued.seq = seq;
  event.queued.integration_id = partition->integration_id;
  event.queued.message_id = std::move(parsed.message_id);
  event.queued.payload = std::string(value);
  event.queued.enqueued_at_ms = timestamp > 0 ? timestamp : now;
  event.queued.next_attempt_at_ms = now;
  event.partition = std::move(partition);
  event.offset = message->offset;
  Integration& integration = integrations_[event.queued.integration_id];
  integration.available.insert({now, seq});
  ++integration.buffered;
  events_.emplace(seq, std::move(event));
  return true;
}

void KafkaDeliveryQueue::DeadLetterInvalidRecords() {
  if (invalid_.empty()) return;
  const int64_t now = NowMs();
  if (now < invalid_retry_at_ms_) return;
  std::vector<DeadLetter> letters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(invalid_, [](const InvalidRecord& r) { return r.partition->revoked; });
    for (const InvalidRecord& record : invalid_) letters.push_back(record.letter);
  }
  if (letters.empty()) return;
  if (absl::Status status = dead_letters_->AddDeadLetters(letters); !status.ok()) {
    // The offsets wait behind these records; the partition pauses at its bound.
    invalid_backoff_ms_ = invalid_backoff_ms_ == 0
                              ? kSinkRetryInitialMs
                              : std::min(invalid_backoff_ms_ * 2, kSinkRetryMaxMs);
    invalid_retry_at_ms_ = now + invalid_backoff_ms_;
    LogLine(absl::StrCat("dead-lettering ", letters.size(), " invalid records failed (retry in ",
                         invalid_backoff_ms_, " ms): ", status.ToString()));
    return;
  }
  invalid_backoff_ms_ = 0;
  invalid_retry_at_ms_ = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const InvalidRecord& record : invalid_) {
    if (record.partition->revoked || !record.partition->watermark.Done(record.offset)) continue;
    record.partition->dirty = true;
    ++counters_.invalid_records;
  }
  invalid_.clear();
}

void KafkaDeliveryQueue::ApplyPartitionControls() {
  PartitionList stores = NewList(4);
  PartitionList pause = NewList(4);
  PartitionList resume = NewList(4);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, partition] : partitions_) {
      if (!partition->dirty) continue;
      partition->dirty = false;
      const bool want_paused = partition->bound_paused || HeldLocked(partition->integration_id);
      if (want_paused != partition->paused) {
        rd_kafka_topic_partition_list_add(want_paused ? pause.get() : resume.get(),
                                          partition->topic.c_str(), partition->partition);
        partition->paused = want_paused;
      }
      if (partition->watermark.LastTracked() < 0) continue;
      const int64_t committable = partition->watermark.Committable();
      if (committable > partition->stored) {
        rd_kafka_topic_partition_list_add(stores.get(), partition->topic.c_str(),
                                          partition->partition)
            ->offset = committable;
        partition->stored = committable;
      }
    }
  }
  if (stores->cnt > 0) {
    const rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer_, stores.get());
    // __STATE: a partition was revoked meanwhile; its new owner reads it again.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__STATE) {
      LogLine(absl::StrCat("storing offsets failed: ", rd_kafka_err2str(err)));
    }
  }
  if (pause->cnt > 0) rd_kafka_pause_partitions(consumer_, pause.get());
  if (resume->cnt > 0) rd_kafka_resume_partitions(consumer_, resume.get());
}

void KafkaDeliveryQueue::OnRebalance(int err, rd_kafka_topic_partition_list_t* partitions) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(consumer_), "COOPERATIVE") == 0;
  counts_due_ = true;  // the share of the rate limit changes with the assignment
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    PartitionList held = NewList(4);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counters_.rebalances;
      for (int i = 0; i < partitions->cnt; ++i) {
        const rd_kafka_topic_partition_t& tp = partitions->elems[i];
        auto partition = std::make_shared<Partition>();
        partition->topic = tp.topic;
        partition->partition = tp.partition;
        partition->integration_id = IntegrationOfTopic(tp.topic);
        // A held integration's partitions start paused: the consumer starts new
        // assignments unpaused, on this host or another.
        if (HeldLocked(partition->integration_id)) {
          partition->paused = true;
          rd_kafka_topic_partition_list_add(held.get(), tp.topic, tp.partition);
        }
        partitions_[std::make_pair(partition->topic, partition->partition)] = partition;
      }
    }
    if (cooperative) {
      if (rd_kafka_error_t* error = rd_kafka_incremental_assign(consumer_, partitions)) {
        LogLine(absl::StrCat("assign failed: ", rd_kafka_error_string(error)));
        rd_kafka_error_destroy(error);
      }
    } else {
      rd_kafka_assign(consumer_, partitions);
    }
    if (held->cnt > 0) rd_kafka_pause_partitions(consumer_, held.get());
    return;
  }
  // Revoked or lost (or an error): store what is finished, forget the rest. The
  // events still leased finish or fail on the engine's side; their outcomes are
  // ignored (the new owner reads them again).
  const bool lost = rd_kafka_assignment_lost(consumer_) != 0;
  PartitionList stores = NewList(4);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.rebalances;
    for (int i = 0; i < partitions->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = partitions->elems[i];
      auto found = partitions_.find(std::make_pair(std::string(tp.topic), tp.partition));
      if (found == partitions_.end()) continue;
      Partition& partition = *found->second;
      if (!lost && partition.watermark.LastTracked() >= 0 &&
          partition.watermark.Committable() > partition.stored) {
        partition.stored = partition.watermark.Committable();
        rd_kafka_topic_partition_list_add(stores.get(), tp.topic, tp.partition)->offset =
            partition.stored;
      }
      DropPartitionLocked(partition.topic, partition.partition);
    }
  }
  // Auto-commit commits the stored offsets of revoked partitions as they go.
  if (stores->cnt > 0) rd_kafka_offsets_store(consumer_, stores.get());
  if (cooperative) {
    if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(consumer_, partitions)) {
      LogLine(absl::StrCat("unassign failed: ", rd_kafka_error_string(error)));
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_assign(consumer_, nullptr);
  }
}

void KafkaDeliveryQueue::DropPartitionLocked(const std::string& topic, int32_t partition_id) {
  auto found = partitions_.find(std::make_pair(topic, partition_id));
  if (found == partitions_.end()) return;
  std::shared_ptr<Partition> partition = found->second;
  partition->revoked = true;
  partitions_.erase(found);
  // Unleased events go now; leased ones when their outcome (or release) comes.
  for (auto it = events_.begin(); it != events_.end();) {
    Event& event = it->second;
    if (event.partition != partition || event.leased) {
      ++it;
      continue;
    }
    Integration& integration = integrations_[event.queued.integration_id];
    integration.available.erase({event.queued.next_attempt_at_ms, it->first});
    --integration.buffered;
    events_.erase(it++);
  }
}

void KafkaDeliveryQueue::OnCommit(int err, rd_kafka_topic_partition_list_t* offsets) {
  std::lock_guard<std::mutex> lock(mu_);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing was stored to commit
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++counters_.commit_failures;
    return;
  }
  ++counters_.commits;
  for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = offsets->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR || tp.offset < 0) continue;
    auto found = partitions_.find(std::make_pair(std::string(tp.topic), tp.partition));
    if (found != partitions_.end()) found->second->committed = tp.offset;
  }
}

void KafkaDeliveryQueue::CloseConsumer() {
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(consumer_);
  if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(consumer_, queue)) {
    LogLine(absl::StrCat("closing the consumer: ", rd_kafka_error_string(error)));
    rd_kafka_error_destroy(error);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.close_timeout_ms);
  // Serves the revocation and the final commit's callback until the close is done.
  while (!rd_kafka_consumer_closed(consumer_) && std::chrono::steady_clock::now() < deadline) {
    if (rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 100)) {
      rd_kafka_message_destroy(message);
    }
  }
  consumer_closed_ = rd_kafka_consumer_closed(consumer_) != 0;
  if (!consumer_closed_) LogLine("the consumer did not close in time");
  if (queue != nullptr) rd_kafka_queue_destroy(queue);
}

}  // namespace signal_host::kafka
