// The delivery queue as the delivery engine sees it: lease due events, give them
// back, commit each one's outcome (delivered, retry later, dead letter) with the
// attempt record that explains it, and hold an integration. Events come in through
// IngestQueue (ingest_queue.h). Every write an outcome makes goes through here, so an
// implementation can commit the events' change and its record together (the SQLite
// store: one transaction). The engine codes against this narrow interface alone for
// its queue work, so that tests can wrap the real store in a decorator that injects
// failures (a full disk, a locked file).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/attempt_log.h"

namespace signal_host {

// An event waiting for delivery to one integration.
struct QueuedEvent {
  int64_t seq = 0;  // opaque handle for this lease, unique across the queue (> 0)
  std::string integration_id;
  std::string message_id;
  std::string payload;    // canonical Signal event JSON
  uint32_t attempts = 0;  // delivery attempts made so far
  int64_t enqueued_at_ms = 0;
  int64_t first_attempt_at_ms = 0;  // 0 until the first attempt
  int64_t next_attempt_at_ms = 0;   // not before this time
};

// Thread-safe. Durability of each write is stated with it below.
class DeliveryQueue {
 public:
  virtual ~DeliveryQueue() = default;

  // Up to `max` events of the integration that are due (next_attempt_at <= now) and
  // not already leased, earliest due first, ties in seq order (so events never retried
  // come in enqueue order, and a retry whose time has come is not starved by new
  // events). Cost is O(max + leased), whatever the queue depth. Leases live in memory:
  // after a restart every queued event is due again (at-least-once).
  virtual absl::StatusOr<std::vector<QueuedEvent>> Lease(std::string_view integration_id,
                                                         size_t max, int64_t now_ms) = 0;
  // Gives leased events back without change (e.g. the integration was held).
  virtual void Release(std::span<const int64_t> seqs) = 0;
  // Complete, ScheduleRetry, DeadLetterEvents and RecordAttempt return once committed
  // but without waiting for an fsync of their own: the next durable commit (any other
  // write) or checkpoint makes them durable. A power cut can undo them, which at worst
  // delivers or retries an event again; it never loses one. A process crash loses none.
  // A failed call changes nothing: the events stay queued and leased.
  // Delivered: removes the events.
  virtual absl::Status Complete(std::span<const int64_t> seqs) = 0;
  // Failed but retryable: counts the attempt, schedules the next one, releases the lease.
  virtual absl::Status ScheduleRetry(std::span<const int64_t> seqs, int64_t next_attempt_at_ms,
                                     int64_t attempted_at_ms) = 0;
  // Moves events to dead letters with a reason, atomically, and releases their leases.
  // The dead letter's attempts is the event's count plus `attempts_added` (1 when the
  // attempt that failed has not been counted with ScheduleRetry).
  virtual absl::Status DeadLetterEvents(std::span<const int64_t> seqs, std::string_view reason,
                                        std::string_view message, int32_t last_status,
                                        std::string_view last_response,
                                        uint32_t attempts_added) = 0;
  // The delivery hot path: RecordAttempt and Complete in one transaction, without
  // making the caller wait. Returns at once; `done` runs on the store's committer
  // thread after the commit (OK, `recorded` has its id) or the failure (the events
  // are still queued and leased, and the attempt was not recorded). The events stay
  // leased until then. `done` must be quick; it may call Release and QueueDepth but
  // no write method.
  using AsyncDone = std::function<void(absl::Status status, const AttemptRecord& recorded)>;
  virtual void CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                                      AsyncDone done) = 0;
  // Events queued (leased or not); kept in memory, so cheap. 0 for an unknown id.
  virtual absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) = 0;
  // Appends to the attempt log (AttemptLog::RecordAttempt's contract); sets attempt.id.
  virtual absl::Status RecordAttempt(AttemptRecord& attempt) = 0;
  // The share of the integration's vendor rate limit this host may use, in (0, 1]:
  // 1 where one host serves the queue alone (the default); with several hosts
  // consuming one topic, the fraction of its partitions assigned here, so that the
  // hosts together keep to the limit. Cheap; the engine polls it.
  virtual double RateShare(std::string_view integration_id) {
    (void)integration_id;
    return 1.0;
  }
  // The hold: the integration's delivery status, "active", "held" (setup failure;
  // events kept) or "disabled", with the reason shown to operators. Durable when it
  // returns; a new revision (ConfigStore::AddRevision) clears a hold.
  virtual absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                                 std::string_view reason) = 0;
};

}  // namespace signal_host
