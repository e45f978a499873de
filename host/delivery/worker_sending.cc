// The worker's way out: leasing, cutting batches, translating, sending.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/delivery/attempt_format.h"
#include "host/delivery/worker.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;

inline constexpr char kReasonEventTooLarge[] = "event_too_large";

}  // namespace

// ---- Leasing, batching, translating, sending --------------------------------------

// Leases come in large chunks, once less than half the lease-ahead is left: each
// Lease is a query that also steps over the rows already leased. Large events are
// leased about two Translate calls' worth of bytes at a time.
bool Worker::WantsLease() const {
  const size_t buffered = BufferedEvents();
  return buffered < lease_limit() &&
         buffered < std::max<size_t>(settings_.max_events_per_request(), lease_limit() / 2) &&
         buffer_.bytes() < 2 * batch_limits().max_bytes;
}

size_t Worker::BufferedEvents() const {
  size_t count = buffer_.size();
  for (const Outgoing& outgoing : pending_) count += outgoing.items.size();
  return count;
}

bool Worker::LeaseMore(int64_t now) {
  size_t want = lease_limit() - BufferedEvents();
  if (lease_event_bytes_ > 0) {
    const size_t byte_room =
        2 * batch_limits().max_bytes - std::min(buffer_.bytes(), 2 * batch_limits().max_bytes);
    want = std::min(want, std::max<size_t>(1, byte_room / lease_event_bytes_));
  }
  last_lease_ms_ = now;
  absl::StatusOr<std::vector<QueuedEvent>> leased = ctx_.queue->Lease(id_, want, now);
  if (!leased.ok()) {
    // queue_may_have_due_ stays set: the lease is tried again at the next step.
    committer_.LeaseFailed(leased.status(), now);
    return false;
  }
  committer_.LeaseSucceeded(now);
  if (leased->size() < want) queue_may_have_due_ = false;
  size_t bytes = 0;
  for (QueuedEvent& event : *leased) {
    bytes += event.payload.size();
    Item item;
    item.type = EventTypeOf(event.payload);
    // A retry that fell due has waited since it was enqueued: it does not wait for
    // a batch to fill again.
    item.ready_at_ms = event.enqueued_at_ms;
    item.event = std::move(event);
    buffer_.PushBack(std::move(item));
  }
  if (!leased->empty()) lease_event_bytes_ = std::max<size_t>(1, bytes / leased->size());
  return !leased->empty();
}

// Translates full (or aged) batches and sends what the window and the token bucket
// allow. Lowers `wake` to when it can do more by itself.
bool Worker::SendReady(int64_t now, int64_t& wake) {
  bool progress = false;
  const BatchLimits limits = batch_limits();
  while (!hold_.held() && !stopping_ && now >= pause_until_ms_ && !committer_.outcomes_parked() &&
         in_flight_.size() < ctx_.options->max_in_flight_per_integration) {
    if (pending_.empty()) {
      if (buffer_.empty()) break;
      const int64_t flush_at = buffer_.front().ready_at_ms + settings_.batch_interval_ms();
      if (!buffer_.HasFullBatch(limits) && now < flush_at) {
        wake = std::min(wake, flush_at);
        break;
      }
      std::vector<Item> oversized;
      std::vector<Item> batch = buffer_.TakeBatch(limits, oversized);
      if (!oversized.empty()) RejectOversized(std::move(oversized), now);
      if (!batch.empty()) TranslateAndQueue(std::move(batch), now, /*to_front=*/false);
      progress = true;
      continue;
    }
    const int64_t wait_ns = bucket_->WaitNanos(SteadyNowNs());
    if (wait_ns > 0) {
      wake = std::min(wake, now + (wait_ns + 999999) / 1000000);
      break;
    }
    bucket_->TryTake(SteadyNowNs());
    Outgoing outgoing = std::move(pending_.front());
    pending_.pop_front();
    Send(std::move(outgoing), now);
    progress = true;
    now = ctx_.now_ms();
  }
  return progress;
}

// Has the plugin translate `items` (sent_at = now) and queues the requests, at the
// front of the pending queue when they are a split's halves. Rejected events are
// dead-lettered at once; failed ones are counted as an attempt.
void Worker::TranslateAndQueue(std::vector<Item> items, int64_t now, bool to_front) {
  const size_t count = items.size();
  TranslateParams params;
  params.config_json = &revision_.config_json;
  params.sent_at_ms = now;
  params.timeout = ctx_.options->plugin_call_timeout;
  Translation translation = TranslateBatch(*stub_, params, std::move(items));

  for (TranslateRejection& rejection : translation.rejections) {
    AttemptRecord attempt = LocalAttemptRecord(
        id_, rejection.items, "reject",
        rejection.message.empty() ? rejection.reason
                                  : absl::StrCat(rejection.reason, ": ", rejection.message),
        now);
    DeadLetter(rejection.items, std::move(attempt), rejection.reason, rejection.message, 0, "",
               /*rejected=*/true, /*attempts_added=*/0, now);
  }
  if (!translation.failures.empty()) {
    size_t failed_events = 0;
    bool unreachable = false;
    for (TranslateFailure& failure : translation.failures) {
      failed_events += failure.items.size();
      unreachable |= failure.call_level;
      OnTranslateFailure(failure, now);
    }
    // Not one call answered, or the plugin is not there: the next batch would fail
    // alike, so the whole integration waits (bisection found no event to blame).
    const bool plugin_trouble = unreachable || (translation.failed_calls > 0 &&
                                                translation.failed_calls == translation.calls);
    plugin_log_.Log(
        absl::StrCat("integration ", id_, ": Translate failed for ", failed_events, " of ", count,
                     " events (", translation.failed_calls, " of ", translation.calls,
                     " calls failed; ", translation.failures.front().message,
                     "); each failure counts an attempt",
                     plugin_trouble ? ", integration backing off" : ""),
        now, ctx_.log);
    if (plugin_trouble) BackOffPlugin(now);
  }
  if (translation.failed_calls < translation.calls) plugin_failures_ = 0;

  if (to_front) {
    pending_.insert(pending_.begin(), std::make_move_iterator(translation.requests.begin()),
                    std::make_move_iterator(translation.requests.end()));
  } else {
    for (Outgoing& out : translation.requests) pending_.push_back(std::move(out));
  }
}

// The events of a failed Translate (or left out of its answer) have had an attempt:
// counted, retried with backoff, and dead-lettered once the retry policy is spent.
void Worker::OnTranslateFailure(TranslateFailure& failure, int64_t now) {
  AttemptRecord attempt = LocalAttemptRecord(
      id_, failure.items, "transient", absl::StrCat(failure.reason, ": ", failure.message), now);
  const RetryPlan plan = PlanRetry(failure.items, now, now, settings_.retry(), *backoff_);
  const std::string give_up_message =
      plan.give_up.empty()
          ? ""
          : absl::StrCat("gave up after ", NextAttemptNumberAt(failure.items, plan.give_up),
                         " attempts: ", failure.message);
  ApplyRetry(failure.items, plan, std::move(attempt), failure.reason, give_up_message, 0, "", now,
             now);
}

// Events that alone exceed the Translate budget never reach the plugin.
void Worker::RejectOversized(std::vector<Item> items, int64_t now) {
  const size_t limit = batch_limits().max_bytes;
  for (Item& item : items) {
    std::vector<Item> one;
    const std::string message = absl::StrCat("the event is ", item.event.payload.size(),
                                             " bytes; the host hands the plugin at most ", limit,
                                             " bytes per Translate call");
    one.push_back(std::move(item));
    AttemptRecord attempt = LocalAttemptRecord(
        id_, one, "reject", absl::StrCat(kReasonEventTooLarge, ": ", message), now);
    DeadLetter(one, std::move(attempt), kReasonEventTooLarge, message, 0, "",
               /*rejected=*/true, /*attempts_added=*/0, now);
  }
}

void Worker::Send(Outgoing outgoing, int64_t now) {
  const uint64_t request_id = ++next_request_id_;
  v1::HttpRequest& source = outgoing.request;
  InFlight flight;
  flight.sent_at_ms = now;
  if (static_cast<size_t>(source.message_ids_size()) == outgoing.items.size()) {
    flight.message_ids.assign(source.message_ids().begin(), source.message_ids().end());
  } else {
    flight.message_ids = MessageIdsOf(outgoing.items);
  }
  HttpRequest http;
  http.method = source.method().empty() ? "POST" : source.method();
  http.headers.reserve(source.headers_size());
  for (const v1::Header& header : source.headers()) {
    http.headers.emplace_back(header.name(), header.value());
  }
  flight.request_record = RequestRecordJson(http.method, source.url(), http.headers, source.body(),
                                            ctx_.options->record_body_bytes);
  http.url = std::move(*source.mutable_url());
  http.body = std::move(*source.mutable_body());
  http.connect_timeout_ms = settings_.connect_timeout_ms();
  http.timeout_ms = settings_.request_timeout_ms();
  flight.items = std::move(outgoing.items);
  auto [it, inserted] = in_flight_.emplace(request_id, std::move(flight));
  const absl::Status submitted =
      ctx_.sender->Submit(std::move(http), [this, request_id](HttpResponse&& response) {
        PushCompletion(request_id, std::move(response));
      });
  if (!submitted.ok()) {
    // Only when the sender is shutting down: the events go back untouched.
    ReleaseItems(it->second.items);
    in_flight_.erase(it);
  }
}

}  // namespace signal_host::delivery
