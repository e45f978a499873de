#include "host/delivery/outcome_committer.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace signal_host::delivery {
namespace {

std::string WhatFailed(const Outcome& outcome) {
  if (outcome.attempt.has_value()) return "record an attempt";
  switch (outcome.kind) {
    case Outcome::Kind::kComplete:
      return absl::StrCat("mark ", outcome.seqs.size(), " delivered events done");
    case Outcome::Kind::kRetry:
      return absl::StrCat("schedule ", outcome.seqs.size(), " events for retry");
    case Outcome::Kind::kDeadLetter:
      return absl::StrCat("dead-letter ", outcome.seqs.size(), " events (", outcome.reason, ")");
    case Outcome::Kind::kStatus:
      return absl::StrCat("save the integration's status \"", outcome.status, "\"");
    case Outcome::Kind::kRecordOnly:
      break;
  }
  return "record an attempt";
}

}  // namespace

OutcomeCommitter::OutcomeCommitter(DeliveryQueue* queue, std::string integration_id,
                                   uint64_t initial_backoff_ms, uint64_t max_backoff_ms,
                                   Hooks hooks)
    : queue_(queue),
      id_(std::move(integration_id)),
      backoff_(initial_backoff_ms, max_backoff_ms),
      hooks_(std::move(hooks)) {}

absl::Status OutcomeCommitter::Write(Outcome& outcome) {
  if (outcome.attempt.has_value()) {
    if (absl::Status status = queue_->RecordAttempt(*outcome.attempt); !status.ok()) {
      return status;
    }
    if (hooks_.recorded) hooks_.recorded(*outcome.attempt);
    outcome.attempt.reset();  // a later try of the rest must not record it twice
  }
  switch (outcome.kind) {
    case Outcome::Kind::kComplete:
      return queue_->Complete(outcome.seqs);
    case Outcome::Kind::kRetry:
      return queue_->ScheduleRetry(outcome.seqs, outcome.next_attempt_at_ms,
                                   outcome.attempted_at_ms);
    case Outcome::Kind::kDeadLetter:
      return queue_->DeadLetterEvents(outcome.seqs, outcome.reason, outcome.message,
                                      outcome.last_status, outcome.last_response,
                                      outcome.attempts_added);
    case Outcome::Kind::kStatus:
      return queue_->SetStatus(id_, outcome.status, outcome.reason);
    case Outcome::Kind::kRecordOnly:
      break;
  }
  return absl::OkStatus();
}

bool OutcomeCommitter::Commit(Outcome outcome, int64_t now_ms) {
  if (failing()) {
    // Behind the ones already parked, without hammering a failing store.
    parked_.push_back(std::move(outcome));
    return false;
  }
  if (absl::Status status = Write(outcome); !status.ok()) {
    const std::string what = WhatFailed(outcome);
    parked_.push_back(std::move(outcome));
    Failed(status, what, now_ms);
    return false;
  }
  if (hooks_.committed) hooks_.committed(outcome);
  return true;
}

void OutcomeCommitter::Park(Outcome outcome, const absl::Status& status, int64_t now_ms) {
  const bool was_failing = failing();
  const std::string what = WhatFailed(outcome);
  parked_.push_back(std::move(outcome));
  // Several writes in flight fail together: one step, one log line.
  if (!was_failing) Failed(status, what, now_ms);
}

void OutcomeCommitter::LeaseFailed(const absl::Status& status, int64_t now_ms) {
  lease_failing_ = true;
  Failed(status, "lease events", now_ms);
}

void OutcomeCommitter::LeaseSucceeded(int64_t /*now_ms*/) {
  if (!lease_failing_) return;
  lease_failing_ = false;
  if (parked_.empty()) Recovered();
}

bool OutcomeCommitter::RetryParked(int64_t now_ms) {
  if (parked_.empty()) return true;
  if (now_ms < retry_at_ms_) return false;
  while (!parked_.empty()) {
    Outcome& front = parked_.front();
    if (absl::Status status = Write(front); !status.ok()) {
      Failed(status, WhatFailed(front), now_ms);
      return false;
    }
    if (hooks_.committed) hooks_.committed(front);
    parked_.pop_front();
    ++written_late_;
  }
  if (!lease_failing_) Recovered();
  return true;
}

void OutcomeCommitter::Failed(const absl::Status& status, std::string_view what, int64_t now_ms) {
  if (step_ == 0) failing_since_ms_ = now_ms;
  ++step_;
  const uint64_t delay = backoff_.CeilingMs(step_);
  retry_at_ms_ = now_ms + static_cast<int64_t>(delay);
  last_error_ = status;
  last_what_ = std::string(what);
  if (hooks_.log) {
    hooks_.log(absl::StrCat("integration ", id_, ": the store could not ", last_what_, ": ",
                            status.ToString(), "; ", parked_.size(),
                            " outcomes kept with their events leased (nothing is sent again); "
                            "delivery paused, next try in ",
                            delay, " ms (failure ", step_, ")"));
  }
}

void OutcomeCommitter::Recovered() {
  if (step_ == 0) return;
  if (hooks_.log) {
    hooks_.log(absl::StrCat("integration ", id_, ": the store works again after ", step_,
                            " failed tries; ", written_late_,
                            " kept outcomes written; delivery resumed"));
  }
  step_ = 0;
  written_late_ = 0;
  last_error_ = absl::OkStatus();
  last_what_.clear();
}

std::string OutcomeCommitter::error() const {
  if (!failing()) return "";
  return absl::StrCat("could not ", last_what_, ": ", last_error_.ToString());
}

void OutcomeCommitter::FlushOrRelease(int64_t now_ms) {
  size_t released = 0;
  bool store_works = true;  // after one failure the rest is released without a try
  while (!parked_.empty()) {
    Outcome& front = parked_.front();
    store_works = store_works && Write(front).ok();
    if (store_works) {
      if (hooks_.committed) hooks_.committed(front);
    } else if (!front.seqs.empty()) {
      queue_->Release(front.seqs);
      released += front.seqs.size();
    }
    parked_.pop_front();
  }
  if (released > 0 && hooks_.log) {
    hooks_.log(absl::StrCat("integration ", id_, ": stopping with the store still failing; ",
                            released, " events released, to be sent again later"));
  }
  lease_failing_ = false;
  step_ = 0;
  (void)now_ms;
}

}  // namespace signal_host::delivery
