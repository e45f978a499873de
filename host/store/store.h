// The host's durable state as one object: every narrow store interface at once,
// implemented on SQLite (WAL) by Store::Open. Callers should depend on the narrow
// interfaces they use (config_store.h, ingest_queue.h, delivery_queue.h,
// dead_letter_store.h, attempt_log.h, and for a queue that keeps no dead letters or
// status of its own, such as the Kafka queue on one host, dead_letter_sink.h and
// integration_status.h); the daemon wires this one object into all of them, and
// tests use it whole. Knows nothing about any vendor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/attempt_log.h"
#include "host/store/config_store.h"
#include "host/store/dead_letter_sink.h"
#include "host/store/dead_letter_store.h"
#include "host/store/delivery_queue.h"
#include "host/store/ingest_queue.h"
#include "host/store/integration_status.h"
#include "host/store/page.h"

namespace signal_host {

class SecretBox;  // host/crypto/secret_box.h: AES-256-GCM under ENCRYPTION_KEY

// Options of the SQLite store.
struct StoreOptions {
  std::string path;                       // SQLite file; ":memory:" not supported (WAL)
  size_t attempt_retention = 10000;       // newest attempt records kept
  size_t dead_letter_retention = 100000;  // newest dead letters kept
  // Unix milliseconds for enqueued_at/created_at and the due time of new events; tests
  // inject one so that Lease's now_ms and Enqueue agree. Default: the system clock.
  std::function<int64_t()> clock_ms;
  // synchronous=FULL makes durable writes (see the interfaces) reach the disk before
  // the call returns, power loss included. NORMAL (false) survives process crashes
  // only; kept for measurements.
  bool synchronous_full = true;
  // Segments just enqueued are kept in memory (up to this many bytes, oldest dropped
  // first) so that the first Lease does not read back what was written moments
  // before. 0 disables the cache.
  size_t segment_cache_bytes = 32u << 20;
  // The WAL is checkpointed by a background thread once it holds this many bytes, so
  // that the commit path copies at most the few pages committed while that ran.
  size_t checkpoint_wal_bytes = 16u << 20;
};

// Thread-safe. The SQLite implementation (host/store/sqlite_store.h): writes from all
// threads go through one committer thread that commits whatever is pending in one
// transaction (group commit); reads use their own connections. The queue is kept as
// segments (host/store/segment_pack.h): the events of one Enqueue call for one
// integration share a row, and an event's seq names its segment and position. A retry
// of only some of a segment's events moves them to a new segment, so a retried event
// may come back from Lease with a new seq; use the seqs of the latest lease. One
// process at a time may open a given path (FailedPrecondition otherwise).
class Store : public ConfigStore,
              public IngestQueue,
              public DeliveryQueue,
              public DeadLetterStore,
              public AttemptLog,
              public DeadLetterSink,
              public IntegrationStatusStore {
 public:
  // Opens (creating or migrating) the SQLite store. `secrets` is required and must
  // outlive the store.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                                     const SecretBox* secrets);
  ~Store() override = default;

  // Declared by two interfaces each; one implementation serves both.
  absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) override = 0;
  absl::Status RecordAttempt(AttemptRecord& attempt) override = 0;
  absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                         std::string_view reason) override = 0;
};

}  // namespace signal_host
