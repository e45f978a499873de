// KafkaDeliveryQueue: creation, shutdown, the DeliveryQueue methods the engine calls
// and the stats snapshot. The poll thread's side (records in, rebalances, offsets, pauses) is in
// kafka_consumer_loop.cc.
#include "host/kafka/kafka_delivery_queue.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace signal_host::kafka {

KafkaDeliveryQueue::KafkaDeliveryQueue(const KafkaOptions& options, AttemptLog* attempts,
                                       DeadLetterSink* dead_letters,
                                       IntegrationStatusStore* statuses)
    : options_(options), attempts_(attempts), dead_letters_(dead_letters), statuses_(statuses) {}

absl::StatusOr<std::unique_ptr<KafkaDeliveryQueue>> KafkaDeliveryQueue::Create(
    const KafkaOptions& options, AttemptLog* attempts, DeadLetterSink* dead_letters,
    IntegrationStatusStore* statuses) {
  if (attempts == nullptr || dead_letters == nullptr || statuses == nullptr) {
    return absl::InvalidArgumentError(
        "KafkaDeliveryQueue needs an attempt log, a sink, a status store");
  }
  if (options.max_unfinished_per_partition == 0) {
    return absl::InvalidArgumentError("max_unfinished_per_partition must be at least 1");
  }
  absl::StatusOr<ConfPtr> conf = BuildConf(
      options, {
                   {"group.id", options.group_id},
                   {"enable.auto.commit", "true"},
                   {"enable.auto.offset.store", "false"},
                   {"auto.commit.interval.ms", absl::StrCat(options.auto_commit_interval_ms)},
                   {"auto.offset.reset", "earliest"},
                   {"partition.assignment.strategy", "cooperative-sticky"},
                   {"session.timeout.ms", absl::StrCat(options.session_timeout_ms)},
                   {"enable.partition.eof", "false"},
                   // A topic created after the subscription is found within seconds.
                   {"topic.metadata.refresh.interval.ms", "10000"},
               });
  if (!conf.ok()) return conf.status();
  std::unique_ptr<KafkaDeliveryQueue> queue(
      new KafkaDeliveryQueue(options, attempts, dead_letters, statuses));
  rd_kafka_conf_set_opaque(conf->get(), queue.get());
  rd_kafka_conf_set_rebalance_cb(
      conf->get(),
      [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
         void* opaque) { static_cast<KafkaDeliveryQueue*>(opaque)->OnRebalance(err, partitions); });
  rd_kafka_conf_set_offset_commit_cb(
      conf->get(),
      [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
         void* opaque) { static_cast<KafkaDeliveryQueue*>(opaque)->OnCommit(err, offsets); });
  char error[512];
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (consumer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("Kafka consumer: ", error));
  }
  conf.value().release();  // rd_kafka_new took it
  // Rebalance and commit callbacks are served by rd_kafka_consumer_poll.
  rd_kafka_poll_set_consumer(consumer);
  queue->consumer_ = consumer;
  queue->poller_ = std::thread([q = queue.get()] { q->PollLoop(); });
  queue->recorder_ = std::thread([q = queue.get()] { q->RecorderLoop(); });
  return queue;
}

KafkaDeliveryQueue::~KafkaDeliveryQueue() { Close(); }

void KafkaDeliveryQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  // Pending completions finish first, so their offsets are in the final commit.
  {
    std::lock_guard<std::mutex> lock(record_mu_);
    record_stop_ = true;
  }
  record_cv_.notify_all();
  if (recorder_.joinable()) recorder_.join();
  stop_polling_ = true;
  if (poller_.joinable()) poller_.join();  // stores offsets and closes the consumer
  rd_kafka_t* consumer = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    consumer = consumer_;
    consumer_ = nullptr;
    events_.clear();
    integrations_.clear();
    partitions_.clear();
  }
  if (consumer == nullptr) return;
  if (consumer_closed_) {
    rd_kafka_destroy(consumer);
  } else {
    // The close did not finish in time: do not wait for it again.
    rd_kafka_destroy_flags(consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
}

void KafkaDeliveryQueue::SetIntegrations(std::vector<std::string> integration_ids) {
  std::vector<std::string> topics;
  topics.reserve(integration_ids.size());
  for (const std::string& id : integration_ids) {
    topics.push_back(absl::StrCat(options_.topic_prefix, id));
  }
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  std::lock_guard<std::mutex> lock(mu_);
  if (topics == wanted_topics_) return;
  wanted_topics_ = std::move(topics);
  subscription_dirty_ = true;
}

void KafkaDeliveryQueue::ApplyStatus(std::string_view integration_id, std::string_view status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status == "held" || status == "disabled") {
    held_.insert(std::string(integration_id));
  } else {
    held_.erase(std::string(integration_id));
  }
  for (auto& [key, partition] : partitions_) {
    if (partition->integration_id == integration_id) partition->dirty = true;
  }
}

void KafkaDeliveryQueue::SetArrivalListener(ArrivalListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  arrival_listener_ = std::move(listener);
}

bool KafkaDeliveryQueue::HeldLocked(const std::string& integration_id) const {
  return held_.contains(integration_id);
}

std::string KafkaDeliveryQueue::IntegrationOfTopic(std::string_view topic) const {
  if (topic.substr(0, options_.topic_prefix.size()) == options_.topic_prefix) {
    topic.remove_prefix(options_.topic_prefix.size());
  }
  return std::string(topic);
}

absl::StatusOr<std::vector<QueuedEvent>> KafkaDeliveryQueue::Lease(std::string_view integration_id,
                                                                   size_t max, int64_t now_ms) {
  std::vector<QueuedEvent> leased;
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) return leased;
  auto integration = integrations_.find(std::string(integration_id));
  if (integration == integrations_.end()) return leased;
  auto& available = integration->second.available;
  for (auto it = available.begin(); it != available.end() && leased.size() < max;) {
    if (it->first > now_ms) break;  // earliest due first: nothing later is due either
    Event& event = events_.at(it->second);
    event.leased = true;
    leased.push_back(event.queued);
    it = available.erase(it);
  }
  return leased;
}

void KafkaDeliveryQueue::MakeAvailableLocked(Event& event, int64_t seq) {
  event.leased = false;
  if (event.partition->revoked) {
    // The partition moved to another host, which reads the event again.
    --integrations_[event.queued.integration_id].buffered;
    events_.erase(seq);
    return;
  }
  integrations_[event.queued.integration_id].available.insert(
      {event.queued.next_attempt_at_ms, seq});
}

void KafkaDeliveryQueue::Release(std::span<const int64_t> seqs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t seq : seqs) {
    auto it = events_.find(seq);
    if (it == events_.end() || !it->second.leased) continue;
    MakeAvailableLocked(it->second, seq);
  }
}

void KafkaDeliveryQueue::FinishLocked(int64_t seq) {
  auto it = events_.find(seq);
  if (it == events_.end()) return;
  Event& event = it->second;
  Partition& partition = *event.partition;
  if (!partition.revoked && partition.watermark.Done(event.offset)) {
    partition.dirty = true;
    const size_t resume_below = (options_.max_unfinished_per_partition + 1) / 2;
    if (partition.bound_paused && partition.watermark.Unfinished() < resume_below) {
      partition.bound_paused = false;
    }
  }
  Integration& integration = integrations_[event.queued.integration_id];
  if (!event.leased) integration.available.erase({event.queued.next_attempt_at_ms, seq});
  --integration.buffered;
  events_.erase(it);
}

absl::Status KafkaDeliveryQueue::Complete(std::span<const int64_t> seqs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t seq : seqs) FinishLocked(seq);
  return absl::OkStatus();
}

absl::Status KafkaDeliveryQueue::ScheduleRetry(std::span<const int64_t> seqs,
                                               int64_t next_attempt_at_ms,
                                               int64_t attempted_at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t seq : seqs) {
    auto it = events_.find(seq);
    if (it == events_.end() || !it->second.leased) continue;
    QueuedEvent& queued = it->second.queued;
    ++queued.attempts;
    if (queued.first_attempt_at_ms == 0) queued.first_attempt_at_ms = attempted_at_ms;
    queued.next_attempt_at_ms = next_attempt_at_ms;
    MakeAvailableLocked(it->second, seq);
  }
  return absl::OkStatus();
}

absl::Status KafkaDeliveryQueue::DeadLetterEvents(std::span<const int64_t> seqs,
                                                  std::string_view reason, std::string_view message,
                                                  int32_t last_status,
                                                  std::string_view last_response,
                                                  uint32_t attempts_added) {
  std::vector<DeadLetter> letters;
  std::vector<int64_t> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t seq : seqs) {
      auto it = events_.find(seq);
      if (it == events_.end()) continue;
      const QueuedEvent& queued = it->second.queued;
      DeadLetter letter;
      letter.integration_id = queued.integration_id;
      letter.message_id = queued.message_id;
      letter.payload = queued.payload;
      letter.reason = std::string(reason);
      letter.message = std::string(message);
      letter.last_status = last_status;
      letter.last_response = std::string(last_response);
      letter.attempts = queued.attempts + attempts_added;
      letters.push_back(std::move(letter));
      found.push_back(seq);
    }
  }
  if (letters.empty()) return absl::OkStatus();
  // The sink's write is durable (and unique per messageId) before any offset moves.
  if (absl::Status status = dead_letters_->AddDeadLetters(letters); !status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t seq : found) FinishLocked(seq);
  return absl::OkStatus();
}

void KafkaDeliveryQueue::CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                                                AsyncDone done) {
  {
    std::lock_guard<std::mutex> lock(record_mu_);
    if (!record_stop_) {
      record_jobs_.push_back(RecordJob{std::move(seqs), std::move(attempt), std::move(done)});
      record_cv_.notify_one();
      return;
    }
  }
  done(absl::FailedPreconditionError("the Kafka queue is closed"), attempt);
}

void KafkaDeliveryQueue::RecorderLoop() {
  for (;;) {
    RecordJob job;
    {
      std::unique_lock<std::mutex> lock(record_mu_);
      record_cv_.wait(lock, [&] { return record_stop_ || !record_jobs_.empty(); });
      if (record_jobs_.empty()) return;  // stopping, and everything is done
      job = std::move(record_jobs_.front());
      record_jobs_.pop_front();
    }
    absl::Status status = attempts_->RecordAttempt(job.attempt);
    if (status.ok()) status = Complete(job.seqs);
    if (job.done) job.done(status, job.attempt);
  }
}

absl::StatusOr<size_t> KafkaDeliveryQueue::QueueDepth(std::string_view integration_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = integrations_.find(std::string(integration_id));
  return it == integrations_.end() ? 0 : it->second.buffered;
}

absl::Status KafkaDeliveryQueue::RecordAttempt(AttemptRecord& attempt) {
  return attempts_->RecordAttempt(attempt);
}

absl::Status KafkaDeliveryQueue::SetStatus(std::string_view integration_id, std::string_view status,
                                           std::string_view reason) {
  if (absl::Status written = statuses_->SetStatus(integration_id, status, reason); !written.ok()) {
    return written;
  }
  ApplyStatus(integration_id, status);
  return absl::OkStatus();
}

KafkaQueueStats KafkaDeliveryQueue::Stats() {
  KafkaQueueStats stats;
  std::lock_guard<std::mutex> lock(mu_);
  stats = counters_;
  for (const auto& [key, partition] : partitions_) {
    PartitionStats p;
    p.topic = partition->topic;
    p.partition = partition->partition;
    p.integration_id = partition->integration_id;
    p.committed_offset = partition->committed;
    p.stored_offset = partition->stored;
    p.unfinished = partition->watermark.Unfinished();
    p.paused = partition->paused;
    int64_t low = -1, high = -1;
    // Cached from the last fetch: no request, no wait.
    if (consumer_ != nullptr &&
        rd_kafka_get_watermark_offsets(consumer_, p.topic.c_str(), p.partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      p.high_watermark = high;
    }
    if (p.high_watermark >= 0 && p.committed_offset >= 0) {
      p.lag = p.high_watermark - p.committed_offset;
    }
    stats.partitions.push_back(std::move(p));
  }
  std::sort(stats.partitions.begin(), stats.partitions.end(),
            [](const PartitionStats& a, const PartitionStats& b) {
              return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
            });
  return stats;
}

}  // namespace signal_host::kafka
