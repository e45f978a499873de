// The host's durable state in SQLite (WAL): installed integrations (templates) and
// their immutable revisions, the per-integration delivery queue, dead letters and
// the delivery-attempt log. Knows nothing about any vendor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/delivery_queue.h"

namespace signal_host {

class SecretBox;  // host/crypto/secret_box.h: AES-256-GCM under ENCRYPTION_KEY

// An installed integration (Signal's "integration template").
struct IntegrationRecord {
  std::string id;  // "tmpl_<26 chars>"
  std::string org_id;
  std::string name;    // unique within the org
  std::string vendor;  // catalog key, e.g. "hightouch"
  std::string description;
  std::string catalog_vendor_key;  // set when installed from the catalog
  std::string catalog_variant_key;
  int current_revision = 0;  // highest revision_number
  // Delivery status: "active", "held" (setup failure; events kept) or "disabled".
  std::string status = "active";
  std::string status_reason;  // why it is held, for operators
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// One immutable snapshot of an integration's config.
struct RevisionRecord {
  std::string id;  // "rev_<26 chars>"
  std::string integration_id;
  std::string org_id;
  int revision_number = 0;
  std::string config_json;  // merged config, plaintext in memory, encrypted at rest
  std::vector<std::string> secret_fields;
  std::string delivery_mode;      // "server_side"
  std::string delivery_settings;  // serialized signal.integration.v1.DeliverySettings
  std::string change_summary;
  std::string created_by;  // user id (JWT sub)
  int64_t created_at_ms = 0;
};

struct EnqueueItem {
  std::string_view integration_id;
  std::string_view message_id;
  std::string_view payload;
};

struct DeadLetter {
  int64_t id = 0;
  std::string integration_id;
  std::string message_id;
  std::string payload;
  std::string reason;  // plugin reason code or classification code
  std::string message;
  int32_t last_status = 0;    // last vendor HTTP status (0: none)
  std::string last_response;  // truncated vendor response body
  uint32_t attempts = 0;
  int64_t created_at_ms = 0;
  bool replayed = false;
};

// Cursor pagination: items after `cursor` (opaque, empty = start), at most `limit`.
struct Page {
  std::string cursor;
  size_t limit = 50;
};
template <typename T>
struct PageResult {
  std::vector<T> items;
  std::string next_cursor;  // empty when there are no more
};

struct StoreOptions {
  std::string path;                       // SQLite file; ":memory:" not supported (WAL)
  size_t attempt_retention = 10000;       // newest attempt records kept
  size_t dead_letter_retention = 100000;  // newest dead letters kept
  // Unix milliseconds for enqueued_at/created_at and the due time of new events; tests
  // inject one so that Lease's now_ms and Enqueue agree. Default: the system clock.
  std::function<int64_t()> clock_ms;
  // synchronous=FULL makes durable writes (see Store) reach the disk before the call
  // returns, power loss included. NORMAL (false) survives process crashes only; kept
  // for measurements.
  bool synchronous_full = true;
  // Segments just enqueued are kept in memory (up to this many bytes, oldest dropped
  // first) so that the first Lease does not read back what was written moments
  // before. 0 disables the cache.
  size_t segment_cache_bytes = 32u << 20;
  // The WAL is checkpointed by a background thread once it holds this many bytes, so
  // that the commit path copies at most the few pages committed while that ran.
  size_t checkpoint_wal_bytes = 16u << 20;
};

// Thread-safe. Writes from all threads go through one committer thread that commits
// whatever is pending in one transaction (group commit); reads use their own
// connections. The queue is kept as segments (host/store/segment_pack.h): the events
// of one Enqueue call for one integration share a row, and an event's seq names its
// segment and position. A retry of only some of a segment's events moves them to a
// new segment, so a retried event may come back from Lease with a new seq; use the
// seqs of the latest lease. One process at a time may open a given path (FailedPrecondition
// otherwise). List methods return InvalidArgument for a cursor they did not issue.
class Store : public DeliveryQueue {
 public:
  // `secrets` is required and must outlive the store.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                                     const SecretBox* secrets);
  virtual ~Store() = default;

  // Integrations and revisions. CreateIntegration stores the template and its first
  // revision in one transaction; a duplicate (org_id, name) is AlreadyExists.
  virtual absl::Status CreateIntegration(IntegrationRecord& integration,
                                         RevisionRecord& first_revision) = 0;
  virtual absl::StatusOr<IntegrationRecord> GetIntegration(std::string_view org_id,
                                                           std::string_view id) = 0;
  // In creation order.
  virtual absl::StatusOr<PageResult<IntegrationRecord>> ListIntegrations(std::string_view org_id,
                                                                         const Page& page) = 0;
  // Every integration of every org (the delivery engine's view).
  virtual absl::StatusOr<std::vector<IntegrationRecord>> AllIntegrations() = 0;
  // Deletes the integration, its revisions and its queued events.
  virtual absl::Status DeleteIntegration(std::string_view org_id, std::string_view id) = 0;
  // Appends a revision (number = current + 1) and makes it current; clears a hold.
  virtual absl::Status AddRevision(RevisionRecord& revision) = 0;
  virtual absl::StatusOr<RevisionRecord> GetRevision(std::string_view integration_id,
                                                     int revision_number) = 0;
  // Newest first.
  virtual absl::StatusOr<PageResult<RevisionRecord>> ListRevisions(std::string_view integration_id,
                                                                   const Page& page) = 0;
  // SetStatus is declared by DeliveryQueue.

  // Queue. Enqueue returns only after the events are committed to disk; concurrent
  // callers are grouped into one transaction (group commit).
  // All items or none; an unknown integration id is NotFound. New events are due at
  // once (next_attempt_at = enqueued_at = clock_ms()).
  virtual absl::Status Enqueue(std::span<const EnqueueItem> items) = 0;
  // Lease, Release, Complete, ScheduleRetry, DeadLetterEvents, CompleteAndRecordAsync
  // and QueueDepth are declared by DeliveryQueue (host/store/delivery_queue.h).

  // Dead letters.
  virtual absl::StatusOr<PageResult<DeadLetter>> ListDeadLetters(std::string_view integration_id,
                                                                 std::string_view reason,
                                                                 const Page& page) = 0;
  // Re-queues dead letters (by id, or all matching integration/reason when ids is
  // empty) and marks them replayed. Returns how many were re-queued. Dead letters already
  // replayed, whose integration was deleted, or (with a non-empty org_id) whose
  // integration belongs to another org, are skipped. Re-queued events start again with
  // attempts 0, due now, after the events already queued.
  virtual absl::StatusOr<size_t> ReplayDeadLetters(std::string_view org_id,
                                                   std::string_view integration_id,
                                                   std::string_view reason,
                                                   std::span<const int64_t> ids) = 0;

  // Attempt log with bounded retention (trimmed in amortised steps, so up to 1/16
  // above the limit between trims). Dead letters are trimmed the same way. Lists of
  // dead letters and attempts are newest first; empty filters match everything.
  // RecordAttempt is declared by DeliveryQueue.
  virtual absl::StatusOr<PageResult<AttemptRecord>> ListAttempts(std::string_view integration_id,
                                                                 std::string_view message_id,
                                                                 std::string_view outcome,
                                                                 const Page& page) = 0;
};

}  // namespace signal_host
