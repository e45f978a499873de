// Writes a worker's outcomes to the queue, and keeps them when the store cannot.
//
// Every outcome (delivered, retry later, dead letter, attempt record, hold status)
// is written here. When a write fails (a full disk, say) the outcome is parked with
// its events still leased, so nothing is released and nothing is sent to the vendor
// again: the worker stops leasing and sending while failing() holds, and at each
// step of a bounded exponential backoff (100 ms doubling to 30 s by default) the
// parked outcomes are written again, in order. Outcomes that arrive while it fails
// are parked behind them without a try. One log line per step, not per outcome. A
// failing lease takes the same backoff, so that no store failure turns into a loop.
//
// Owned by one worker's thread; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "host/delivery/backoff.h"
#include "host/store/delivery_queue.h"

namespace signal_host::delivery {

struct Outcome {
  enum class Kind {
    kComplete,    // delivered: remove the events
    kRetry,       // count the attempt, due again at next_attempt_at_ms
    kDeadLetter,  // move to dead letters
    kRecordOnly,  // only the attempt record (a split, a hold)
    kStatus,      // the integration's delivery status
  };
  Kind kind = Kind::kRecordOnly;
  std::vector<int64_t> seqs;
  // Written before the events' change, so that an empty queue implies every attempt
  // is in the log. Cleared once written.
  std::optional<AttemptRecord> attempt;
  // kRetry.
  int64_t next_attempt_at_ms = 0;
  int64_t attempted_at_ms = 0;
  // kDeadLetter: reason, message, last_status, last_response, attempts_added.
  // kStatus: status ("held", "active") and reason.
  std::string reason;
  std::string message;
  int32_t last_status = 0;
  std::string last_response;
  uint32_t attempts_added = 0;
  bool rejected = false;  // counted as a rejection too
  std::string status;
};

class OutcomeCommitter {
 public:
  struct Hooks {
    std::function<void(std::string_view)> log;
    // After an attempt record is written (it has its id).
    std::function<void(const AttemptRecord&)> recorded;
    // After an outcome's change to its events (or status) is written.
    std::function<void(const Outcome&)> committed;
  };

  OutcomeCommitter(DeliveryQueue* queue, std::string integration_id, uint64_t initial_backoff_ms,
                   uint64_t max_backoff_ms, Hooks hooks);

  // Writes the outcome now, or parks it while the store is failing. True: written.
  bool Commit(Outcome outcome, int64_t now_ms);
  // An outcome written elsewhere (the asynchronous delivered path) failed with
  // `status`: park it for the next step.
  void Park(Outcome outcome, const absl::Status& status, int64_t now_ms);
  // A lease failed / succeeded.
  void LeaseFailed(const absl::Status& status, int64_t now_ms);
  void LeaseSucceeded(int64_t now_ms);

  // True while outcomes are parked or the last lease failed (the store is unhealthy).
  bool failing() const { return !parked_.empty() || lease_failing_; }
  // Outcomes are parked: nothing may be sent until they are written.
  bool outcomes_parked() const { return !parked_.empty(); }
  // The last lease failed and its next try is not due yet.
  bool lease_blocked(int64_t now_ms) const { return lease_failing_ && now_ms < retry_at_ms_; }
  // When the next step is due (meaningful while failing()).
  int64_t retry_at_ms() const { return retry_at_ms_; }
  // Writes the parked outcomes again, in order, once retry_at_ms() has come. True
  // when none is left parked (a lease may still have to succeed).
  bool RetryParked(int64_t now_ms);
  // Why the store is failing; empty while it is not.
  std::string error() const;
  size_t parked() const { return parked_.size(); }

  // Shutdown: one last try for each parked outcome; the events of those that still
  // fail are released (delivered or retried again later: at-least-once).
  void FlushOrRelease(int64_t now_ms);

 private:
  absl::Status Write(Outcome& outcome);
  void Failed(const absl::Status& status, std::string_view what, int64_t now_ms);
  void Recovered();

  DeliveryQueue* const queue_;
  const std::string id_;
  Backoff backoff_;
  Hooks hooks_;
  std::deque<Outcome> parked_;
  bool lease_failing_ = false;
  uint32_t step_ = 0;  // failed tries in a row
  int64_t retry_at_ms_ = 0;
  int64_t failing_since_ms_ = 0;
  absl::Status last_error_;
  std::string last_what_;
  uint64_t written_late_ = 0;
};

}  // namespace signal_host::delivery
