#include "host/kafka/kafka_ingest_queue.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace signal_host::kafka {
namespace {

// The outcome of one Enqueue call's records, shared with their delivery reports (a
// report may come after the caller gave up waiting).
struct PendingBatch {
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};
using BatchRef = std::shared_ptr<PendingBatch>;

void OnDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  auto* ref = static_cast<BatchRef*>(message->_private);
  if (ref == nullptr) return;
  {
    std::lock_guard<std::mutex> lock((*ref)->mu);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
        (*ref)->first_error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (*ref)->first_error = message->err;
    }
    --(*ref)->outstanding;
  }
  (*ref)->cv.notify_all();
  delete ref;
}

constexpr int kFullQueueRetries = 8;  // 10 ms doubling: about 2.5 s in all

}  // namespace

std::string RecordKeyOf(std::string_view payload) {
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string buffer;
  buffer.reserve(payload.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(payload);
  simdjson::ondemand::document document;
  if (parser.iterate(buffer.data(), payload.size(), buffer.capacity()).get(document)) return "";
  simdjson::ondemand::object object;
  if (document.get_object().get(object)) return "";
  std::string user_id, anonymous_id, message_id;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return "";
    std::string* target = key == "userId"        ? &user_id
                          : key == "anonymousId" ? &anonymous_id
                          : key == "messageId"   ? &message_id
                                                 : nullptr;
    if (target == nullptr) continue;  // the loop skips the value
    std::string_view value;
    if (field.value().get_string().get(value) == simdjson::SUCCESS) target->assign(value);
  }
  if (!user_id.empty()) return user_id;
  if (!anonymous_id.empty()) return anonymous_id;
  return message_id;
}

KafkaIngestQueue::KafkaIngestQueue(const KafkaOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<KafkaIngestQueue>> KafkaIngestQueue::Create(
    const KafkaOptions& options) {
  absl::StatusOr<ConfPtr> conf =
      BuildConf(options, {{"enable.idempotence", "true"},
                          {"acks", "all"},
                          {"linger.ms", "2"},
                          {"message.timeout.ms", absl::StrCat(options.produce_timeout_ms)}});
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnDeliveryReport);
  char error[512];
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error, sizeof(error));
  if (producer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("Kafka producer: ", error));
  }
  conf->release();  // rd_kafka_new took it
  std::unique_ptr<KafkaIngestQueue> queue(new KafkaIngestQueue(options));
  queue->producer_ = producer;
  queue->reports_ = std::thread([q = queue.get()] { q->ServeDeliveryReports(); });
  return queue;
}

KafkaIngestQueue::~KafkaIngestQueue() {
  stopping_ = true;
  if (reports_.joinable()) reports_.join();
  if (producer_ == nullptr) return;
  // Records still in flight get their reports (and their batches' references freed).
  // By now no Enqueue waits for them (the listeners stopped first), so shutdown does
  // not wait the whole produce timeout for brokers that are gone.
  rd_kafka_flush(producer_, std::min(options_.produce_timeout_ms, 5000));
  rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(producer_, 1000);
  rd_kafka_destroy(producer_);
}

void KafkaIngestQueue::ServeDeliveryReports() {
  while (!stopping_.load()) rd_kafka_poll(producer_, 100);
}

absl::Status KafkaIngestQueue::Enqueue(std::span<const EnqueueItem> items) {
  if (items.empty()) return absl::OkStatus();
  auto batch = std::make_shared<PendingBatch>();
  rd_kafka_resp_err_t produce_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (const EnqueueItem& item : items) {
    const std::string topic = options_.topic_prefix + std::string(item.integration_id);
    std::string key = RecordKeyOf(item.payload);
    if (key.empty()) key.assign(item.message_id);
    {
      std::lock_guard<std::mutex> lock(batch->mu);
      ++batch->outstanding;
    }
    auto* ref = new BatchRef(batch);
    std::chrono::milliseconds backoff(10);
    for (int attempt = 0;; ++attempt) {
      produce_error = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_VALUE(const_cast<char*>(item.payload.data()), item.payload.size()),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_HEADER("message_id", item.message_id.data(),
                            static_cast<ssize_t>(item.message_id.size())),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
      if (produce_error != RD_KAFKA_RESP_ERR__QUEUE_FULL || attempt == kFullQueueRetries) break;
      // The delivery-report thread drains the local queue meanwhile.
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
    if (produce_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      delete ref;  // never queued: no report will come
      std::lock_guard<std::mutex> lock(batch->mu);
      --batch->outstanding;
      break;
    }
  }
  // Wait for the reports of what was queued, failed or not: librdkafka reports every
  // record within message.timeout.ms; the margin covers the report's way back.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options_.produce_timeout_ms) +
                        std::chrono::seconds(5);
  std::unique_lock<std::mutex> lock(batch->mu);
  const bool reported =
      batch->cv.wait_until(lock, deadline, [&] { return batch->outstanding == 0; });
  if (produce_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("Kafka refused an event: ", rd_kafka_err2str(produce_error)));
  }
  if (!reported) {
    return absl::UnavailableError("Kafka did not acknowledge the events in time");
  }
  if (batch->first_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("Kafka did not take an event: ", rd_kafka_err2str(batch->first_error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> KafkaIngestQueue::QueueDepth(std::string_view) { return 0; }

absl::Status KafkaIngestQueue::BrokersReachable(int timeout_ms) {
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(producer_, /*all_topics=*/0, /*only_rkt=*/nullptr, &metadata, timeout_ms);
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("no broker answered within ", timeout_ms, " ms: ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

}  // namespace signal_host::kafka
