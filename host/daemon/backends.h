// Where the host keeps its queue and its state, as the config chooses (docs/
// ARCHITECTURE.md, "Scale-out mode"):
//
//   queue sqlite (default)   one SQLite file holds configs, queue, dead letters, attempts
//   queue kafka + database   Signal's delivery-{integration_id} topics, consumed as one
//                            group, and the state in PostgreSQL shared by every host
//
// The daemon hands each part only the narrow interfaces it uses (host/store/*.h); none
// of them knows which mode it runs in, and neither does any plugin.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config.h"
#include "host/store/attempt_log.h"
#include "host/store/config_changes.h"
#include "host/store/config_store.h"
#include "host/store/dead_letter_store.h"
#include "host/store/delivery_queue.h"
#include "host/store/ingest_queue.h"

namespace signal_host {
class SecretBox;
class Store;
class PostgresStore;
namespace kafka {
class KafkaDeliveryQueue;
class KafkaIngestQueue;
struct KafkaOptions;
}  // namespace kafka
}  // namespace signal_host

namespace signal_host::daemon {

class Backends {
 public:
  // Opens what `config` names. With PostgreSQL the schema must be current
  // (`signal-delivery-host migrate`) unless `migrate` is set.
  static absl::StatusOr<std::unique_ptr<Backends>> Open(const DaemonConfig& config,
                                                        const SecretBox* secrets);
  // Closes the Kafka consumer (its final commit, leaving the group), flushes the
  // producer, then closes the stores. Stop the delivery engine first.
  ~Backends();

  ConfigStore* configs() const { return configs_; }
  IngestQueue* ingest() const { return ingest_; }
  DeliveryQueue* delivery() const { return delivery_; }
  DeadLetterStore* dead_letters() const { return dead_letters_; }
  AttemptLog* attempts() const { return attempts_; }
  // Changes other hosts made (PostgreSQL); null when the state is this host's alone.
  ConfigChangeFeed* changes() const { return changes_; }
  // The Kafka consumer, or null (SQLite queue).
  kafka::KafkaDeliveryQueue* kafka_queue() const { return kafka_queue_.get(); }
  std::string Describe() const;

  // OK while the database and the brokers answer; Unavailable naming the one that
  // does not (for /readyz). Cheap enough to call per probe.
  absl::Status Health() const;

  // Kafka: subscribes to the topics of the integrations this host can deliver (its
  // plugins serve their vendor and they are not disabled) and applies their holds.
  // `served` says whether a vendor has a loaded plugin. No-op without Kafka.
  absl::Status SyncSubscriptions(const std::function<bool(std::string_view vendor)>& served);

 private:
  Backends() = default;

  std::unique_ptr<Store> sqlite_;
  std::unique_ptr<PostgresStore> postgres_;
  std::unique_ptr<kafka::KafkaIngestQueue> kafka_producer_;
  std::unique_ptr<kafka::KafkaDeliveryQueue> kafka_queue_;

  ConfigStore* configs_ = nullptr;
  IngestQueue* ingest_ = nullptr;
  DeliveryQueue* delivery_ = nullptr;
  DeadLetterStore* dead_letters_ = nullptr;
  AttemptLog* attempts_ = nullptr;
  ConfigChangeFeed* changes_ = nullptr;
  std::string description_;
};


}  // namespace signal_host::daemon
