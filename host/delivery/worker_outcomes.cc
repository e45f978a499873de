// The worker's way back: what each response, failure and hold does to the events,
// written through the OutcomeCommitter.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/delivery/worker.h"

namespace signal_host::delivery {
namespace {

std::string StatusClass(int32_t status) {
  if (status <= 0) return "network";
  return absl::StrCat(status / 100, "xx");
}

}  // namespace

// ---- Outcomes ---------------------------------------------------------------------

void Worker::HandleCompletion(Completion& completion) {
  auto it = in_flight_.find(completion.request_id);
  if (it == in_flight_.end()) return;
  InFlight flight = std::move(it->second);
  in_flight_.erase(it);
  HttpResponse& response = completion.response;
  if (duration_ != nullptr) duration_->Observe(static_cast<double>(response.latency_us) / 1e6);
  if (response.aborted || stub_ == nullptr) {
    // Abandoned at shutdown (the vendor may not have seen it), or the plugin is gone
    // and cannot read the answer: not an attempt, the events go back.
    ReleaseItems(flight.items);
    return;
  }
  const int64_t now = ctx_.now_ms();
  ResponseDecision decision =
      policy_.Decide(*stub_, response, flight, id_, settings_.retry(), *backoff_, now);
  if (decision.action == ResponseDecision::Action::kDelivered) {
    // The hot path: recorded and completed in one commit, without waiting for it.
    plugin_failures_ = 0;
    OnDelivered(flight.items, std::move(decision.attempt), now);
    return;
  }
  if (decision.classify_failed) {
    plugin_log_.Log(absl::StrCat("integration ", id_, ": ", decision.attempt.message, " (",
                                 flight.items.size(), " events)"),
                    now, ctx_.log);
    if (decision.plugin_unreachable) BackOffPlugin(now);
  } else {
    plugin_failures_ = 0;
  }

  switch (decision.action) {
    case ResponseDecision::Action::kSplit: {
      Outcome record;
      record.attempt = std::move(decision.attempt);
      committer_.Commit(std::move(record), now);
      OnSplit(std::move(flight.items), now);
      break;
    }
    case ResponseDecision::Action::kHold: {
      Outcome record;
      record.attempt = std::move(decision.attempt);
      committer_.Commit(std::move(record), now);
      Hold(decision.reason, now);
      ReleaseItems(flight.items);  // not an attempt: they wait for the hold to end
      break;
    }
    case ResponseDecision::Action::kReject:
      DeadLetter(flight.items, std::move(decision.attempt), decision.reason, decision.message,
                 decision.http_status, decision.response_text, /*rejected=*/true,
                 /*attempts_added=*/1, now);
      break;
    default:  // kRetry: TRANSIENT, THROTTLE, a failed Classify
      ApplyRetry(flight.items, decision.plan, std::move(decision.attempt), decision.give_up_reason,
                 decision.give_up_message, decision.http_status, decision.response_text,
                 flight.sent_at_ms, now);
      if (!decision.plan.retry.empty() && ctx_.metrics != nullptr) {
        ctx_.metrics->delivery_retries->WithLabels({id_, StatusClass(decision.http_status)}).Inc();
      }
      if (decision.pause_until_ms > 0) Pause(decision.pause_until_ms);
      break;
  }
}

// Hands the outcome to the store without waiting. The callback runs on the store's
// committer thread once it is committed; until then the events stay leased, and
// Run() waits for every outstanding callback before the worker finishes. A failed
// commit comes back to this thread to be parked: the events stay leased and are
// not sent again.
void Worker::OnDelivered(const std::vector<Item>& items, AttemptRecord attempt, int64_t now) {
  std::vector<int64_t> seqs = SeqsOf(items);
  if (committer_.outcomes_parked()) {
    Outcome outcome;
    outcome.kind = Outcome::Kind::kComplete;
    outcome.seqs = std::move(seqs);
    outcome.attempt = std::move(attempt);
    committer_.Commit(std::move(outcome), now);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++settling_;
  }
  ctx_.queue->CompleteAndRecordAsync(
      seqs, std::move(attempt), [this, seqs](absl::Status status, const AttemptRecord& recorded) {
        std::optional<FailedCommit> failed;
        if (status.ok()) {
          if (delivered_ != nullptr) delivered_->Inc(seqs.size());
          ctx_.publish(recorded);
        } else {
          // The attempt record was rolled back with it; it is written again with the
          // completion once the store works.
          failed.emplace();
          failed->outcome.kind = Outcome::Kind::kComplete;
          failed->outcome.seqs = seqs;
          failed->outcome.attempt = recorded;
          failed->outcome.attempt->id = 0;
          failed->status = std::move(status);
        }
        // Notified under the lock: once settling_ reaches 0 the worker may finish and
        // be destroyed, so nothing here may touch it after the unlock.
        std::lock_guard<std::mutex> lock(mu_);
        if (failed.has_value()) failed_commits_.push_back(std::move(*failed));
        --settling_;
        cv_.notify_one();
      });
}

void Worker::ApplyRetry(const std::vector<Item>& items, const RetryPlan& plan,
                        std::optional<AttemptRecord> attempt, const std::string& give_up_reason,
                        const std::string& give_up_message, int32_t last_status,
                        const std::string& last_response, int64_t attempted_at, int64_t now) {
  if (!plan.give_up.empty()) {
    Outcome outcome;
    outcome.kind = Outcome::Kind::kDeadLetter;
    outcome.seqs = SeqsAt(items, plan.give_up);
    outcome.attempt = std::exchange(attempt, std::nullopt);
    outcome.reason = give_up_reason;
    outcome.message = give_up_message;
    outcome.last_status = last_status;
    outcome.last_response = last_response;
    outcome.attempts_added = 1;
    committer_.Commit(std::move(outcome), now);
  }
  if (!plan.retry.empty()) {
    Outcome outcome;
    outcome.kind = Outcome::Kind::kRetry;
    outcome.seqs = SeqsAt(items, plan.retry);
    outcome.attempt = std::exchange(attempt, std::nullopt);
    outcome.next_attempt_at_ms = plan.next_attempt_at_ms;
    outcome.attempted_at_ms = attempted_at;
    committer_.Commit(std::move(outcome), now);
  }
}

void Worker::DeadLetter(const std::vector<Item>& items, std::optional<AttemptRecord> attempt,
                        std::string reason, std::string message, int32_t last_status,
                        std::string last_response, bool rejected, uint32_t attempts_added,
                        int64_t now) {
  Outcome outcome;
  outcome.kind = Outcome::Kind::kDeadLetter;
  outcome.seqs = SeqsOf(items);
  outcome.attempt = std::move(attempt);
  outcome.reason = std::move(reason);
  outcome.message = std::move(message);
  outcome.last_status = last_status;
  outcome.last_response = std::move(last_response);
  outcome.attempts_added = attempts_added;
  outcome.rejected = rejected;
  committer_.Commit(std::move(outcome), now);
}

// What a written outcome changes in memory: metrics and the next retry's wake-up.
void Worker::OnCommitted(const Outcome& outcome) {
  switch (outcome.kind) {
    case Outcome::Kind::kComplete:
      if (delivered_ != nullptr) delivered_->Inc(outcome.seqs.size());
      break;
    case Outcome::Kind::kRetry:
      retry_due_.push(outcome.next_attempt_at_ms);
      break;
    case Outcome::Kind::kDeadLetter:
      if (ctx_.metrics != nullptr) {
        ctx_.metrics->events_dead_lettered->WithLabels({id_, outcome.reason})
            .Inc(outcome.seqs.size());
        if (outcome.rejected) {
          ctx_.metrics->events_rejected->WithLabels({id_, outcome.reason}).Inc(outcome.seqs.size());
        }
      }
      break;
    default:
      break;
  }
}

// No request to the integration before `until`. Requests translated but not sent
// go back to the batch buffer, so that their sentAt is fresh when they do go.
void Worker::Pause(int64_t until) {
  pause_until_ms_ = std::max(pause_until_ms_, until);
  while (!pending_.empty()) {
    Outgoing& last = pending_.back();
    for (auto it = last.items.rbegin(); it != last.items.rend(); ++it) {
      buffer_.PushFront(std::move(*it));
    }
    pending_.pop_back();
  }
}

// The plugin did not answer (or answered nothing but failures): the integration
// waits, longer after each failure in a row, up to the retry policy's maximum.
void Worker::BackOffPlugin(int64_t now) {
  ++plugin_failures_;
  plugin_pause_until_ms_ = now + static_cast<int64_t>(backoff_->CeilingMs(plugin_failures_));
  Pause(plugin_pause_until_ms_);
}

void Worker::OnSplit(std::vector<Item> items, int64_t now) {
  if (stopping_ || hold_.held()) {
    ReleaseItems(items);
    return;
  }
  const size_t middle = items.size() / 2;
  std::vector<Item> first(std::make_move_iterator(items.begin()),
                          std::make_move_iterator(items.begin() + middle));
  std::vector<Item> second(std::make_move_iterator(items.begin() + middle),
                           std::make_move_iterator(items.end()));
  // Queued at the front, second half first, so the first half goes out first.
  TranslateAndQueue(std::move(second), now, /*to_front=*/true);
  TranslateAndQueue(std::move(first), now, /*to_front=*/true);
}

// ---- Holds ------------------------------------------------------------------------

void Worker::Hold(const std::string& reason, int64_t now) {
  if (hold_.Hold(reason, now)) {
    Outcome status;
    status.kind = Outcome::Kind::kStatus;
    status.status = "held";
    status.reason = reason;
    committer_.Commit(std::move(status), now);
    ctx_.log(absl::StrCat("integration ", id_, " held after a setup failure: ", reason));
  }
  ReleaseBuffered();
}

void Worker::Unhold(std::string_view why, bool write_status) {
  if (!hold_.Unhold()) return;
  pause_until_ms_ = 0;
  queue_may_have_due_ = true;
  if (write_status) {
    Outcome status;
    status.kind = Outcome::Kind::kStatus;
    status.status = "active";
    committer_.Commit(std::move(status), ctx_.now_ms());
  }
  ctx_.log(absl::StrCat("integration ", id_, " resumed: ", std::string(why)));
}

void Worker::Probe(int64_t now) {
  if (hold_.Probe(*stub_, revision_.config_json, ctx_.options->plugin_call_timeout, now)) {
    Unhold("the credential re-probe succeeded", /*write_status=*/true);
  }
}

}  // namespace signal_host::delivery
