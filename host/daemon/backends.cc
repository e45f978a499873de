#include "backends.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "host/kafka/kafka_delivery_queue.h"
#include "host/kafka/kafka_ingest_queue.h"
#include "host/kafka/kafka_options.h"
#include "host/store/postgres/postgres_store.h"
#include "host/store/store.h"

namespace signal_host::daemon {
namespace {

// The URL without its password, for logs.
std::string RedactedUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const size_t at = url.find('@');
  if (scheme_end == std::string::npos || at == std::string::npos || at < scheme_end) return url;
  const size_t colon = url.find(':', scheme_end + 3);
  if (colon == std::string::npos || colon > at) return url;
  return absl::StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backends>> Backends::Open(const DaemonConfig& config,
                                                         const SecretBox* secrets) {
  std::unique_ptr<Backends> b(new Backends());
  if (!config.uses_postgres()) {
    StoreOptions options;
    options.path = config.DatabasePath();
    options.attempt_retention = config.attempt_retention;
    options.dead_letter_retention = config.dead_letter_retention;
    auto opened = Store::Open(options, secrets);
    if (!opened.ok()) return opened.status();
    b->sqlite_ = std::move(*opened);
    Store* store = b->sqlite_.get();
    b->configs_ = store;
    b->ingest_ = store;
    b->delivery_ = store;
    b->dead_letters_ = store;
    b->attempts_ = store;
    b->description_ = absl::StrCat("SQLite ", config.DatabasePath(), " (queue in the same file)");
    return b;
  }

  // Scale-out (CheckScaleOut: PostgreSQL goes with Kafka). The producer first, as
  // PostgreSQL replays dead letters through it; the consumer last, as it writes its
  // dead letters, attempts and holds to PostgreSQL.
  const kafka::KafkaOptions kafka_options = KafkaOptionsFor(config);
  auto producer = kafka::KafkaIngestQueue::Create(kafka_options);
  if (!producer.ok()) return producer.status();
  b->kafka_producer_ = std::move(*producer);

  PostgresOptions options;
  options.url = config.database.url;
  options.pool_size = static_cast<size_t>(config.database.pool_size);
  options.attempt_retention = config.attempt_retention;
  options.dead_letter_retention = config.dead_letter_retention;
  auto opened = PostgresStore::Open(options, secrets, b->kafka_producer_.get());
  if (!opened.ok()) return opened.status();
  b->postgres_ = std::move(*opened);
  PostgresStore* pg = b->postgres_.get();

  auto consumer = kafka::KafkaDeliveryQueue::Create(kafka_options, /*attempts=*/pg,
                                                    /*dead_letters=*/pg, /*statuses=*/pg);
  if (!consumer.ok()) return consumer.status();
  b->kafka_queue_ = std::move(*consumer);

  b->configs_ = pg;
  b->ingest_ = b->kafka_producer_.get();
  b->delivery_ = b->kafka_queue_.get();
  b->dead_letters_ = pg;
  b->attempts_ = pg;
  b->changes_ = pg;
  b->description_ = absl::StrCat("PostgreSQL ", RedactedUrl(config.database.url), "; Kafka ",
                                 config.kafka.brokers, " (group ", config.kafka.consumer_group,
                                 ", topics ", config.kafka.topic_prefix, "<integration id>)");
  return b;
}

Backends::~Backends() {
  if (kafka_queue_ != nullptr) kafka_queue_->Close();
  kafka_queue_.reset();
  kafka_producer_.reset();
  postgres_.reset();
  sqlite_.reset();
}

std::string Backends::Describe() const { return description_; }

absl::Status Backends::Health() const {
  if (postgres_ != nullptr) {
    if (absl::Status status = postgres_->Ping(); !status.ok()) {
      return absl::UnavailableError(absl::StrCat("database: ", status.message()));
    }
  }
  if (kafka_producer_ != nullptr) {
    if (absl::Status status = kafka_producer_->BrokersReachable(2000); !status.ok()) {
      return absl::UnavailableError(absl::StrCat("kafka: ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Backends::SyncSubscriptions(
    const std::function<bool(std::string_view vendor)>& served) {
  if (kafka_queue_ == nullptr) return absl::OkStatus();
  absl::StatusOr<std::vector<IntegrationRecord>> all = configs_->AllIntegrations();
  if (!all.ok()) return all.status();
  std::vector<std::string> ids;
  for (const IntegrationRecord& record : *all) {
    if (record.status == "disabled" || !served(record.vendor)) continue;
    kafka_queue_->ApplyStatus(record.id, record.status);
    ids.push_back(record.id);
  }
  kafka_queue_->SetIntegrations(std::move(ids));
  return absl::OkStatus();
}

}  // namespace signal_host::daemon
