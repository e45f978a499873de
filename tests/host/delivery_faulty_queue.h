// A DeliveryQueue decorator for delivery tests: every call goes to the real SQLite
// store underneath, except while a fault is switched on, when the matching calls
// fail as a full disk would (and change nothing). Calls are counted.
#pragma once

#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "host/store/delivery_queue.h"

namespace signal_host::delivery::delivery_test {

class FaultyQueue : public DeliveryQueue {
 public:
  explicit FaultyQueue(DeliveryQueue* real) : real_(real) {}

  // Writes: Complete, ScheduleRetry, DeadLetterEvents, CompleteAndRecordAsync,
  // RecordAttempt, SetStatus. Leases: Lease.
  std::atomic<bool> fail_writes{false};
  std::atomic<bool> fail_leases{false};
  // Only CompleteAndRecordAsync (the delivered path) fails.
  std::atomic<bool> fail_delivered_commits{false};
  // Only the writes that change events fail (Complete, ScheduleRetry,
  // DeadLetterEvents, CompleteAndRecordAsync); RecordAttempt and SetStatus work.
  std::atomic<bool> fail_event_writes{false};

  // What RateShare answers (as a Kafka queue does for its share of the partitions).
  std::atomic<double> rate_share{1.0};

  std::atomic<int> failed_writes{0};
  std::atomic<int> failed_leases{0};
  std::atomic<int> write_calls{0};

  absl::StatusOr<std::vector<QueuedEvent>> Lease(std::string_view integration_id, size_t max,
                                                 int64_t now_ms) override {
    if (fail_leases.load()) {
      ++failed_leases;
      return DiskFull();
    }
    return real_->Lease(integration_id, max, now_ms);
  }
  void Release(std::span<const int64_t> seqs) override { real_->Release(seqs); }
  double RateShare(std::string_view) override { return rate_share.load(); }
  absl::Status Complete(std::span<const int64_t> seqs) override {
    if (FailWrite() || FailEventWrite()) return DiskFull();
    return real_->Complete(seqs);
  }
  absl::Status ScheduleRetry(std::span<const int64_t> seqs, int64_t next_attempt_at_ms,
                             int64_t attempted_at_ms) override {
    if (FailWrite() || FailEventWrite()) return DiskFull();
    return real_->ScheduleRetry(seqs, next_attempt_at_ms, attempted_at_ms);
  }
  absl::Status DeadLetterEvents(std::span<const int64_t> seqs, std::string_view reason,
                                std::string_view message, int32_t last_status,
                                std::string_view last_response, uint32_t attempts_added) override {
    if (FailWrite() || FailEventWrite()) return DiskFull();
    return real_->DeadLetterEvents(seqs, reason, message, last_status, last_response,
                                   attempts_added);
  }
  void CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                              AsyncDone done) override {
    if (FailWrite() || FailEventWrite() || FailDeliveredCommit()) {
      attempt.id = 0;
      done(DiskFull(), attempt);
      return;
    }
    real_->CompleteAndRecordAsync(std::move(seqs), std::move(attempt), std::move(done));
  }
  absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) override {
    return real_->QueueDepth(integration_id);
  }
  absl::Status RecordAttempt(AttemptRecord& attempt) override {
    if (FailWrite()) return DiskFull();
    return real_->RecordAttempt(attempt);
  }
  absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                         std::string_view reason) override {
    if (FailWrite()) return DiskFull();
    return real_->SetStatus(integration_id, status, reason);
  }

 private:
  static absl::Status DiskFull() {
    return absl::ResourceExhaustedError("database or disk is full (injected)");
  }
  bool FailWrite() {
    ++write_calls;
    if (!fail_writes.load()) return false;
    ++failed_writes;
    return true;
  }
  bool FailEventWrite() {
    if (!fail_event_writes.load()) return false;
    ++failed_writes;
    return true;
  }
  bool FailDeliveredCommit() {
    if (!fail_delivered_commits.load()) return false;
    ++failed_writes;
    return true;
  }

  DeliveryQueue* const real_;
};

}  // namespace signal_host::delivery::delivery_test
