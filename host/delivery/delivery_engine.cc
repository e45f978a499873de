#include "host/delivery/delivery_engine.h"

#include <pthread.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <queue>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/client_context.h"
#include "host/delivery/attempt_format.h"
#include "host/delivery/backoff.h"
#include "host/delivery/token_bucket.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;

constexpr int64_t kNever = INT64_MAX;

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string StatusClass(int32_t status) {
  if (status <= 0) return "network";
  return absl::StrCat(status / 100, "xx");
}

const char* OutcomeName(v1::ClassifyResponse::Outcome outcome) {
  switch (outcome) {
    case v1::ClassifyResponse::DELIVERED:
      return "delivered";
    case v1::ClassifyResponse::THROTTLE:
      return "throttle";
    case v1::ClassifyResponse::SPLIT:
      return "split";
    case v1::ClassifyResponse::SETUP_FAILURE:
      return "setup_failure";
    case v1::ClassifyResponse::REJECT:
      return "reject";
    default:
      return "transient";
  }
}

// Settings a plugin left at zero get workable values, so a sparse DeliverySettings
// can never make the engine spin or stall.
v1::DeliverySettings NormalizeSettings(v1::DeliverySettings settings) {
  if (settings.max_events_per_request() == 0) settings.set_max_events_per_request(100);
  if (settings.rate_limit_burst() == 0) settings.set_rate_limit_burst(1);
  if (settings.connect_timeout_ms() == 0) settings.set_connect_timeout_ms(5000);
  if (settings.request_timeout_ms() == 0) settings.set_request_timeout_ms(30000);
  v1::RetryPolicy* retry = settings.mutable_retry();
  if (retry->max_attempts() == 0) retry->set_max_attempts(1);
  if (retry->initial_backoff_ms() == 0) retry->set_initial_backoff_ms(1000);
  if (retry->max_backoff_ms() < retry->initial_backoff_ms()) {
    retry->set_max_backoff_ms(std::max<uint32_t>(retry->initial_backoff_ms(), 300000));
  }
  return settings;
}

// The event's top-level "type" ("track", "page", ...), or "" when unreadable.
std::string EventTypeOf(std::string_view payload) {
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string buffer;
  buffer.reserve(payload.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(payload);
  simdjson::ondemand::document document;
  if (parser.iterate(buffer.data(), payload.size(), buffer.capacity()).get(document)) return "";
  std::string_view type;
  if (document["type"].get_string().get(type)) return "";
  return std::string(type);
}

struct Item {
  QueuedEvent event;
  std::string type;
  int64_t ready_at_ms = 0;  // since when it has been ready to send (batching age)
};

struct Outgoing {
  std::vector<Item> items;  // in body order
  v1::HttpRequest request;
};

struct InFlight {
  std::vector<Item> items;
  std::vector<std::string> message_ids;
  std::string request_record;
  int64_t sent_at_ms = 0;
};

struct Completion {
  uint64_t request_id = 0;
  HttpResponse response;
};

struct RefreshData {
  IntegrationRecord record;
  RevisionRecord revision;
  DeliveryEngine::Stub* stub = nullptr;
};

std::vector<int64_t> SeqsOf(const std::vector<Item>& items) {
  std::vector<int64_t> seqs;
  seqs.reserve(items.size());
  for (const Item& item : items) seqs.push_back(item.event.seq);
  return seqs;
}

std::string DistinctTypes(const std::vector<Item>& items) {
  std::vector<std::string> types;
  for (const Item& item : items) {
    if (item.type.empty()) continue;
    if (std::find(types.begin(), types.end(), item.type) == types.end()) {
      types.push_back(item.type);
    }
  }
  return absl::StrJoin(types, ",");
}

uint32_t NextAttemptNumber(const std::vector<Item>& items) {
  uint32_t attempt = 0;
  for (const Item& item : items) attempt = std::max(attempt, item.event.attempts + 1);
  return attempt;
}

}  // namespace

class DeliveryEngine::Worker {
 public:
  Worker(DeliveryEngine* engine, IntegrationRecord record, RevisionRecord revision, Stub* stub)
      : engine_(engine), store_(engine->store_), id_(record.id) {
    if (engine->metrics_ != nullptr) {
      const metrics::HostMetrics& m = *engine->metrics_;
      delivered_ = &m.events_delivered->WithLabels({id_});
      duration_ = &m.request_duration->WithLabels({id_});
      held_gauge_ = &m.integrations_held->WithLabels({});
    }
    const int64_t now = engine_->NowMs();
    ApplyRevision(record, std::move(revision), stub);
    if (record.status == "held") {
      // Held before a restart: probe the credentials again right away.
      held_ = true;
      hold_reason_ = record.status_reason;
      next_probe_ms_ = now;
      if (held_gauge_) held_gauge_->Add(1);
    }
    record_ = std::move(record);
    PublishSnapshot(now);
  }

  ~Worker() { Join(); }

  const std::string& id() const { return id_; }

  void Start() {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "deliver");
      Run();
    });
  }

  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      notified_ = true;
    }
    cv_.notify_one();
  }

  void PostRefresh(RefreshData data) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      refresh_ = std::move(data);
    }
    cv_.notify_one();
  }

  // Stops leasing and sending; the worker exits once its in-flight requests are
  // done. `retire`: the integration is gone (deleted or disabled).
  void RequestStop(bool retire) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_requested_ = true;
      retire_ = retire_ || retire;
    }
    cv_.notify_one();
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  bool finished() const { return finished_.load(); }

  IntegrationDeliveryStatus Snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshot_;
  }

 private:
  // ---- Thread loop --------------------------------------------------------------

  void Run() {
    int64_t wake_at_ms = 0;
    while (true) {
      std::deque<Completion> completions;
      bool notified = false;
      bool stop = false;
      bool retire = false;
      std::optional<RefreshData> refresh;
      {
        std::unique_lock<std::mutex> lock(mu_);
        const auto ready = [&] {
          return !completions_.empty() || notified_ || refresh_.has_value() ||
                 (stop_requested_ && !stopping_);
        };
        if (!ready()) {
          if (wake_at_ms == kNever) {
            cv_.wait(lock, ready);
          } else {
            const int64_t delay = wake_at_ms - engine_->NowMs();
            if (delay > 0) cv_.wait_for(lock, std::chrono::milliseconds(delay), ready);
          }
        }
        completions.swap(completions_);
        notified = std::exchange(notified_, false);
        refresh.swap(refresh_);
        refresh_.reset();
        stop = stop_requested_;
        retire = retire_;
      }
      if (refresh.has_value()) ApplyRefresh(std::move(*refresh));
      if (stop && !stopping_) BeginStopping(retire);
      for (Completion& completion : completions) HandleCompletion(completion);
      if (stopping_) {
        PublishSnapshot(engine_->NowMs());
        if (in_flight_.empty()) break;
        wake_at_ms = kNever;
        continue;
      }
      if (notified) queue_may_have_due_ = true;
      wake_at_ms = Pump();
      PublishSnapshot(engine_->NowMs());
    }
    {
      // Outcomes still being committed call back into this worker.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return settling_ == 0; });
    }
    finished_.store(true);
  }

  void PushCompletion(uint64_t request_id, HttpResponse&& response) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      completions_.push_back(Completion{request_id, std::move(response)});
    }
    cv_.notify_one();
  }

  void PublishSnapshot(int64_t now) {
    IntegrationDeliveryStatus status;
    status.integration_id = id_;
    if (stub_ == nullptr) {
      status.status = "held";
      status.reason = absl::StrCat("no plugin is loaded for vendor '", record_.vendor, "'");
    } else if (held_) {
      status.status = "held";
      status.reason = hold_reason_;
      status.next_attempt_at_ms = next_probe_ms_;
    } else {
      status.status = "active";
      if (pause_until_ms_ > now) {
        status.next_attempt_at_ms = pause_until_ms_;
      } else if (buffer_.empty() && pending_.empty() && !retry_due_.empty()) {
        status.next_attempt_at_ms = retry_due_.top();
      }
    }
    status.revision = revision_.revision_number;
    status.requests_in_flight = in_flight_.size();
    status.passes = ++passes_;
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(status);
  }

  // ---- Configuration ------------------------------------------------------------

  void ApplyRevision(const IntegrationRecord& record, RevisionRecord revision, Stub* stub) {
    v1::DeliverySettings parsed;
    if (!revision.delivery_settings.empty() &&
        !parsed.ParseFromString(revision.delivery_settings)) {
      engine_->Log(absl::StrCat("integration ", id_, ": revision ", revision.revision_number,
                                " has unreadable delivery settings; using defaults"));
      parsed.Clear();
    }
    settings_ = NormalizeSettings(std::move(parsed));
    revision_ = std::move(revision);
    stub_ = stub;
    const int64_t steady = SteadyNowNs();
    if (!bucket_) {
      bucket_ = std::make_unique<TokenBucket>(settings_.rate_limit_rps(),
                                              settings_.rate_limit_burst(), steady);
      backoff_ = std::make_unique<Backoff>(settings_.retry().initial_backoff_ms(),
                                           settings_.retry().max_backoff_ms());
    } else {
      bucket_->Reconfigure(settings_.rate_limit_rps(), settings_.rate_limit_burst(), steady);
      backoff_->Reconfigure(settings_.retry().initial_backoff_ms(),
                            settings_.retry().max_backoff_ms());
    }
    (void)record;
  }

  void ApplyRefresh(RefreshData data) {
    const bool new_revision = data.revision.revision_number != revision_.revision_number;
    ApplyRevision(data.record, std::move(data.revision), data.stub);
    const bool store_says_active = data.record.status == "active";
    record_ = std::move(data.record);
    if (held_ && (new_revision || store_says_active)) {
      Unhold(new_revision ? "a new revision was saved" : "the integration was resumed",
             /*write_status=*/!store_says_active);
    }
    queue_may_have_due_ = true;
  }

  size_t lease_limit() const {
    return static_cast<size_t>(settings_.max_events_per_request()) *
           std::max<size_t>(1, engine_->options_.lease_ahead_requests);
  }

  int64_t idle_poll_ms() const {
    return std::max<int64_t>(1, absl::ToInt64Milliseconds(engine_->options_.idle_poll_interval));
  }

  // ---- Leasing, batching, sending -------------------------------------------------

  // One pass of work. Returns when the worker should wake up again by itself.
  int64_t Pump() {
    int64_t now = engine_->NowMs();
    if (stub_ == nullptr) return kNever;  // waits for a Refresh with a plugin
    if (held_) {
      if (now >= next_probe_ms_) Probe();
      if (held_) return next_probe_ms_;
      now = engine_->NowMs();
    }
    if (now < pause_until_ms_) return pause_until_ms_;

    while (!retry_due_.empty() && retry_due_.top() <= now) {
      retry_due_.pop();
      queue_may_have_due_ = true;
    }
    if (now - last_lease_ms_ >= idle_poll_ms()) queue_may_have_due_ = true;

    int64_t wake = kNever;
    for (int round = 0; round < 64; ++round) {
      bool progress = false;
      if (queue_may_have_due_ && WantsLease()) progress |= LeaseMore(now);
      wake = kNever;
      progress |= SendReady(now, wake);
      if (held_ || stopping_) return held_ ? next_probe_ms_ : kNever;
      if (pause_until_ms_ > now) return pause_until_ms_;
      if (!progress) break;
      now = engine_->NowMs();
    }
    wake = std::min(wake, last_lease_ms_ + idle_poll_ms());
    if (!retry_due_.empty()) wake = std::min(wake, retry_due_.top());
    if (queue_may_have_due_ && WantsLease()) wake = now;
    return wake;
  }

  // Leases come in large chunks, once less than half the lease-ahead is left: each
  // Lease is a query that also steps over the rows already leased.
  bool WantsLease() const {
    const size_t buffered = BufferedEvents();
    return buffered < lease_limit() &&
           buffered < std::max<size_t>(settings_.max_events_per_request(), lease_limit() / 2);
  }

  size_t BufferedEvents() const {
    size_t count = buffer_.size();
    for (const Outgoing& outgoing : pending_) count += outgoing.items.size();
    return count;
  }

  bool LeaseMore(int64_t now) {
    const size_t want = lease_limit() - BufferedEvents();
    last_lease_ms_ = now;
    absl::StatusOr<std::vector<QueuedEvent>> leased = store_->Lease(id_, want, now);
    if (!leased.ok()) {
      engine_->Log(absl::StrCat("integration ", id_, ": lease failed: ",
                                leased.status().ToString()));
      queue_may_have_due_ = false;
      return false;
    }
    if (leased->size() < want) queue_may_have_due_ = false;
    for (QueuedEvent& event : *leased) {
      Item item;
      item.type = EventTypeOf(event.payload);
      // A retry that fell due has waited since it was enqueued: it does not wait for
      // a batch to fill again.
      item.ready_at_ms = event.enqueued_at_ms;
      item.event = std::move(event);
      buffer_.push_back(std::move(item));
    }
    return !leased->empty();
  }

  // Translates full (or aged) batches and sends what the window and the token
  // bucket allow. Lowers `wake` to when it can do more by itself.
  bool SendReady(int64_t now, int64_t& wake) {
    bool progress = false;
    const size_t max_events = settings_.max_events_per_request();
    while (!held_ && !stopping_ && now >= pause_until_ms_ &&
           in_flight_.size() < engine_->options_.max_in_flight_per_integration) {
      if (pending_.empty()) {
        if (buffer_.empty()) break;
        const int64_t flush_at = buffer_.front().ready_at_ms + settings_.batch_interval_ms();
        if (buffer_.size() < max_events && now < flush_at) {
          wake = std::min(wake, flush_at);
          break;
        }
        const size_t take = std::min(max_events, buffer_.size());
        std::vector<Item> batch;
        batch.reserve(take);
        for (size_t i = 0; i < take; ++i) {
          batch.push_back(std::move(buffer_.front()));
          buffer_.pop_front();
        }
        TranslateInto(std::move(batch), now, /*to_front=*/false);
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
      now = engine_->NowMs();
    }
    return progress;
  }

  // Has the plugin translate `items` (sent_at = now) and queues the requests, at the
  // front of the pending queue when they are a split's halves. Rejected events are
  // dead-lettered at once.
  void TranslateInto(std::vector<Item> items, int64_t now, bool to_front) {
    const size_t count = items.size();
    v1::TranslateRequest request;
    request.set_config_json(revision_.config_json);
    request.set_sent_at_unix_ms(now);
    request.mutable_events()->Reserve(static_cast<int>(count));
    // The payloads are lent to the request and taken back after the call: a split
    // translates them again, and copying 500 payloads per request is measurable.
    for (Item& item : items) request.add_events()->swap(item.event.payload);
    v1::TranslateResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoNanoseconds(engine_->options_.plugin_call_timeout));
    const grpc::Status status = stub_->Translate(&context, request, &response);
    for (size_t i = 0; i < count; ++i) {
      request.mutable_events(static_cast<int>(i))->swap(items[i].event.payload);
    }
    if (!status.ok()) {
      ++translate_failures_;
      const uint64_t delay = backoff_->DelayMs(translate_failures_);
      engine_->Log(absl::StrCat("integration ", id_, ": Translate failed (",
                                static_cast<int>(status.error_code()), " ",
                                status.error_message(), "); ", count,
                                " events released, next try in ", delay, " ms"));
      ReleaseItems(items);
      pause_until_ms_ = std::max(pause_until_ms_, now + static_cast<int64_t>(delay));
      return;
    }
    translate_failures_ = 0;

    std::vector<char> accounted(count, 0);
    std::map<std::pair<std::string, std::string>, std::vector<size_t>> rejected;
    for (const v1::Rejection& rejection : response.rejections()) {
      const uint32_t index = rejection.event_index();
      if (index >= count || accounted[index]) continue;
      accounted[index] = 1;
      rejected[{rejection.reason(), rejection.message()}].push_back(index);
    }
    for (auto& [reason_and_message, indexes] : rejected) {
      std::vector<Item> group;
      group.reserve(indexes.size());
      for (size_t index : indexes) group.push_back(std::move(items[index]));
      const std::string reason =
          reason_and_message.first.empty() ? "rejected" : reason_and_message.first;
      RecordLocalRejection(group, reason, reason_and_message.second, now);
      DeadLetterItems(group, reason, reason_and_message.second, 0, "", /*rejected=*/true,
                      /*attempted=*/false);
    }

    std::vector<Outgoing> outgoing;
    outgoing.reserve(response.requests_size());
    for (v1::HttpRequest& http : *response.mutable_requests()) {
      Outgoing out;
      out.items.reserve(http.event_indexes_size());
      for (uint32_t index : http.event_indexes()) {
        if (index >= count || accounted[index]) continue;
        accounted[index] = 1;
        out.items.push_back(std::move(items[index]));
      }
      if (out.items.empty()) continue;
      out.request = std::move(http);
      outgoing.push_back(std::move(out));
    }

    std::vector<Item> missing;
    for (size_t i = 0; i < count; ++i) {
      if (!accounted[i]) missing.push_back(std::move(items[i]));
    }
    if (!missing.empty()) {
      engine_->Log(absl::StrCat("integration ", id_, ": the plugin's Translate left ",
                                missing.size(), " events unaccounted for; they were released"));
      ReleaseItems(missing);
    }
    if (to_front) {
      pending_.insert(pending_.begin(), std::make_move_iterator(outgoing.begin()),
                      std::make_move_iterator(outgoing.end()));
    } else {
      for (Outgoing& out : outgoing) pending_.push_back(std::move(out));
    }
  }

  void Send(Outgoing outgoing, int64_t now) {
    const uint64_t request_id = ++next_request_id_;
    v1::HttpRequest& source = outgoing.request;
    InFlight flight;
    flight.sent_at_ms = now;
    if (static_cast<size_t>(source.message_ids_size()) == outgoing.items.size()) {
      flight.message_ids.assign(source.message_ids().begin(), source.message_ids().end());
    } else {
      for (const Item& item : outgoing.items) flight.message_ids.push_back(item.event.message_id);
    }
    HttpRequest http;
    http.method = source.method().empty() ? "POST" : source.method();
    http.headers.reserve(source.headers_size());
    for (const v1::Header& header : source.headers()) {
      http.headers.emplace_back(header.name(), header.value());
    }
    flight.request_record = RequestRecordJson(http.method, source.url(), http.headers,
                                              source.body(), engine_->options_.record_body_bytes);
    http.url = std::move(*source.mutable_url());
    http.body = std::move(*source.mutable_body());
    http.connect_timeout_ms = settings_.connect_timeout_ms();
    http.timeout_ms = settings_.request_timeout_ms();
    flight.items = std::move(outgoing.items);
    auto [it, inserted] = in_flight_.emplace(request_id, std::move(flight));
    const absl::Status submitted = engine_->sender_->Submit(
        std::move(http), [this, request_id](HttpResponse&& response) {
          PushCompletion(request_id, std::move(response));
        });
    if (!submitted.ok()) {
      // Only when the sender is shutting down: the events go back untouched.
      ReleaseItems(it->second.items);
      in_flight_.erase(it);
    }
  }

  // ---- Outcomes -----------------------------------------------------------------

  void HandleCompletion(Completion& completion) {
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
    const int64_t now = engine_->NowMs();

    v1::ClassifyRequest classify;
    classify.set_http_status(response.status);
    for (const auto& [name, value] : response.headers) {
      v1::Header* header = classify.add_headers();
      header->set_name(name);
      header->set_value(value);
    }
    classify.set_body(response.body.substr(
        0, std::min(response.body.size(), engine_->options_.classify_body_bytes)));
    classify.set_event_count(static_cast<uint32_t>(flight.items.size()));
    classify.set_transport_error(response.transport_error);
    classify.set_now_unix_ms(now);
    v1::ClassifyResponse verdict;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoNanoseconds(engine_->options_.plugin_call_timeout));
    const grpc::Status status = stub_->Classify(&context, classify, &verdict);
    if (!status.ok()) {
      verdict.Clear();
      verdict.set_outcome(v1::ClassifyResponse::TRANSIENT);
      verdict.set_code("classify_failed");
      verdict.set_message(absl::StrCat("the plugin could not classify the response: ",
                                       status.error_message()));
    } else if (!v1::ClassifyResponse::Outcome_IsValid(verdict.outcome()) ||
               verdict.outcome() == v1::ClassifyResponse::OUTCOME_UNSPECIFIED) {
      verdict.set_outcome(v1::ClassifyResponse::TRANSIENT);
      if (verdict.code().empty()) verdict.set_code("unclassified");
    }
    if (verdict.outcome() == v1::ClassifyResponse::SPLIT && flight.items.size() <= 1) {
      // Nothing left to split: the single event is what the vendor refuses.
      verdict.set_outcome(v1::ClassifyResponse::REJECT);
    }

    const std::string response_text =
        response.status == 0
            ? response.transport_error
            : std::string(TruncateUtf8(response.body, engine_->options_.record_response_bytes));

    AttemptRecord attempt;
    attempt.integration_id = id_;
    attempt.message_ids = std::move(flight.message_ids);
    attempt.event_types = DistinctTypes(flight.items);
    attempt.attempt = NextAttemptNumber(flight.items);
    attempt.http_status = response.status;
    attempt.latency_ms = response.latency_us / 1000;
    attempt.outcome = OutcomeName(verdict.outcome());
    attempt.request = std::move(flight.request_record);
    attempt.response = response_text;
    attempt.message = verdict.message();
    attempt.created_at_ms = flight.sent_at_ms;
    if (verdict.outcome() == v1::ClassifyResponse::DELIVERED) {
      // The hot path: recorded and completed in one commit, without waiting for it.
      OnDelivered(flight.items, std::move(attempt));
      return;
    }
    // Recorded before the outcome is committed, so that an empty queue implies every
    // attempt is already in the log.
    Record(attempt);

    switch (verdict.outcome()) {
      case v1::ClassifyResponse::SPLIT:
        OnSplit(std::move(flight.items), now);
        break;
      case v1::ClassifyResponse::SETUP_FAILURE:
        Hold(verdict.message().empty() ? verdict.code() : verdict.message(), now);
        ReleaseItems(flight.items);
        break;
      case v1::ClassifyResponse::REJECT:
        DeadLetterItems(flight.items, verdict.code().empty() ? "rejected" : verdict.code(),
                        verdict.message(), response.status, response_text, /*rejected=*/true,
                        /*attempted=*/true);
        break;
      default:  // TRANSIENT, THROTTLE
        OnRetry(flight, verdict, response.status, response_text, now);
        break;
    }
  }

  // Hands the outcome to the store without waiting. The callback runs on the store's
  // committer thread once it is committed; until then the events stay leased, and
  // Run() waits for every outstanding callback before the worker finishes.
  void OnDelivered(const std::vector<Item>& items, AttemptRecord attempt) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++settling_;
    }
    std::vector<int64_t> seqs = SeqsOf(items);
    store_->CompleteAndRecordAsync(
        seqs, std::move(attempt),
        [this, seqs](absl::Status status, const AttemptRecord& recorded) {
          if (!status.ok()) {
            // Delivered but not removed: it will be sent again (at-least-once). The
            // attempt record was rolled back with it, so Live Events does not show it.
            engine_->Log(absl::StrCat("integration ", id_, ": could not complete ", seqs.size(),
                                      " delivered events: ", status.ToString()));
            store_->Release(seqs);
          } else {
            if (delivered_ != nullptr) delivered_->Inc(seqs.size());
            Publish(recorded);
          }
          // Notified under the lock: once settling_ reaches 0 the worker may finish and
          // be destroyed, so nothing here may touch it after the unlock.
          std::lock_guard<std::mutex> lock(mu_);
          --settling_;
          cv_.notify_one();
        });
  }

  void OnRetry(const InFlight& flight, const v1::ClassifyResponse& verdict, int32_t http_status,
               const std::string& response_text, int64_t now) {
    const v1::RetryPolicy& policy = settings_.retry();
    const int64_t window_ms = static_cast<int64_t>(policy.retry_window_s()) * 1000;
    std::vector<Item> give_up;
    std::vector<int64_t> retry;
    uint32_t attempt = 0;
    for (const Item& item : flight.items) {
      const uint32_t attempts_after = item.event.attempts + 1;
      const int64_t first =
          item.event.first_attempt_at_ms > 0 ? item.event.first_attempt_at_ms : flight.sent_at_ms;
      if (attempts_after >= policy.max_attempts() && now - first >= window_ms) {
        give_up.push_back(item);
      } else {
        retry.push_back(item.event.seq);
        attempt = std::max(attempt, attempts_after);
      }
    }
    if (!give_up.empty()) {
      const std::string message = absl::StrCat("gave up after ", NextAttemptNumber(give_up),
                                               " attempts: ", verdict.message());
      DeadLetterItems(give_up, "retries_exhausted", message, http_status, response_text,
                      /*rejected=*/false, /*attempted=*/true);
    }
    const uint64_t retry_after = verdict.retry_after_ms();
    uint64_t delay = retry_after;
    if (!retry.empty()) {
      delay = backoff_->DelayMs(attempt, retry_after);
      const int64_t next = now + static_cast<int64_t>(delay);
      const absl::Status status = store_->ScheduleRetry(retry, next, flight.sent_at_ms);
      if (!status.ok()) {
        engine_->Log(absl::StrCat("integration ", id_, ": could not schedule ", retry.size(),
                                  " events for retry: ", status.ToString()));
        store_->Release(retry);
      } else {
        retry_due_.push(next);
      }
      if (engine_->metrics_ != nullptr) {
        engine_->metrics_->delivery_retries->WithLabels({id_, StatusClass(http_status)}).Inc();
      }
    }
    if (verdict.outcome() == v1::ClassifyResponse::THROTTLE) {
      if (delay == 0) delay = backoff_->CeilingMs(std::max<uint32_t>(attempt, 1));
      Pause(now + static_cast<int64_t>(retry_after > 0 ? retry_after : delay));
    }
  }

  // No request to the integration before `until`. Requests translated but not sent
  // go back to the batch buffer, so that their sentAt is fresh when they do go.
  void Pause(int64_t until) {
    pause_until_ms_ = std::max(pause_until_ms_, until);
    while (!pending_.empty()) {
      Outgoing& last = pending_.back();
      for (auto it = last.items.rbegin(); it != last.items.rend(); ++it) {
        buffer_.push_front(std::move(*it));
      }
      pending_.pop_back();
    }
  }

  void OnSplit(std::vector<Item> items, int64_t now) {
    if (stopping_ || held_) {
      ReleaseItems(items);
      return;
    }
    const size_t middle = items.size() / 2;
    std::vector<Item> first(std::make_move_iterator(items.begin()),
                            std::make_move_iterator(items.begin() + middle));
    std::vector<Item> second(std::make_move_iterator(items.begin() + middle),
                             std::make_move_iterator(items.end()));
    // Queued at the front, second half first, so the first half goes out first.
    TranslateInto(std::move(second), now, /*to_front=*/true);
    TranslateInto(std::move(first), now, /*to_front=*/true);
  }

  void Hold(const std::string& reason, int64_t now) {
    if (!held_) {
      held_ = true;
      hold_reason_ = reason;
      next_probe_ms_ = now + absl::ToInt64Milliseconds(engine_->options_.credential_probe_interval);
      const absl::Status status = store_->SetStatus(id_, "held", reason);
      if (!status.ok()) {
        engine_->Log(absl::StrCat("integration ", id_, ": could not save the hold: ",
                                  status.ToString()));
      }
      if (held_gauge_) held_gauge_->Add(1);
      engine_->Log(absl::StrCat("integration ", id_, " held after a setup failure: ", reason));
    }
    ReleaseBuffered();
  }

  void Unhold(std::string_view why, bool write_status) {
    if (!held_) return;
    held_ = false;
    hold_reason_.clear();
    pause_until_ms_ = 0;
    queue_may_have_due_ = true;
    if (write_status) {
      const absl::Status status = store_->SetStatus(id_, "active", "");
      if (!status.ok()) {
        engine_->Log(absl::StrCat("integration ", id_, ": could not save the resume: ",
                                  status.ToString()));
      }
    }
    if (held_gauge_) held_gauge_->Add(-1);
    engine_->Log(absl::StrCat("integration ", id_, " resumed: ", std::string(why)));
  }

  void Probe() {
    v1::CheckCredentialsRequest request;
    request.set_config_json(revision_.config_json);
    v1::CheckCredentialsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoNanoseconds(engine_->options_.plugin_call_timeout));
    const grpc::Status status = stub_->CheckCredentials(&context, request, &response);
    if (status.ok() && response.outcome() == v1::CheckCredentialsResponse::OK) {
      Unhold("the credential re-probe succeeded", /*write_status=*/true);
      return;
    }
    next_probe_ms_ =
        engine_->NowMs() + absl::ToInt64Milliseconds(engine_->options_.credential_probe_interval);
  }

  // ---- Store helpers --------------------------------------------------------------

  void ReleaseItems(const std::vector<Item>& items) {
    if (items.empty()) return;
    const std::vector<int64_t> seqs = SeqsOf(items);
    store_->Release(seqs);
  }

  void ReleaseBuffered() {
    std::vector<int64_t> seqs;
    for (const Item& item : buffer_) seqs.push_back(item.event.seq);
    for (const Outgoing& outgoing : pending_) {
      for (const Item& item : outgoing.items) seqs.push_back(item.event.seq);
    }
    buffer_.clear();
    pending_.clear();
    if (!seqs.empty()) store_->Release(seqs);
  }

  void BeginStopping(bool retire) {
    stopping_ = true;
    ReleaseBuffered();
    if (retire && held_ && held_gauge_) held_gauge_->Add(-1);
  }

  // `attempted`: a request carrying these events was just made, and the dead
  // letter's attempt count includes it.
  void DeadLetterItems(const std::vector<Item>& items, const std::string& reason,
                       const std::string& message, int32_t last_status,
                       const std::string& last_response, bool rejected, bool attempted) {
    const std::vector<int64_t> seqs = SeqsOf(items);
    const absl::Status status = store_->DeadLetterEvents(seqs, reason, message, last_status,
                                                         last_response, attempted ? 1 : 0);
    if (!status.ok()) {
      engine_->Log(absl::StrCat("integration ", id_, ": could not dead-letter ", seqs.size(),
                                " events (", reason, "): ", status.ToString()));
      store_->Release(seqs);
      return;
    }
    if (engine_->metrics_ != nullptr) {
      engine_->metrics_->events_dead_lettered->WithLabels({id_, reason}).Inc(seqs.size());
      if (rejected) engine_->metrics_->events_rejected->WithLabels({id_, reason}).Inc(seqs.size());
    }
  }

  void RecordLocalRejection(const std::vector<Item>& items, const std::string& reason,
                            const std::string& message, int64_t now) {
    AttemptRecord attempt;
    attempt.integration_id = id_;
    attempt.message_ids.reserve(items.size());
    for (const Item& item : items) attempt.message_ids.push_back(item.event.message_id);
    attempt.event_types = DistinctTypes(items);
    attempt.attempt = NextAttemptNumber(items);
    attempt.outcome = "reject";
    attempt.message = message.empty() ? reason : absl::StrCat(reason, ": ", message);
    attempt.created_at_ms = now;
    Record(attempt);
  }

  void Record(AttemptRecord& attempt) {
    const absl::Status status = store_->RecordAttempt(attempt);
    if (!status.ok()) {
      engine_->Log(absl::StrCat("integration ", id_, ": could not record an attempt: ",
                                status.ToString()));
    }
    Publish(attempt);
  }

  // Hands a recorded attempt to the attempt listener (Live Events).
  void Publish(const AttemptRecord& attempt) {
    std::shared_ptr<const AttemptListener> listener;
    {
      std::lock_guard<std::mutex> lock(engine_->listener_mu_);
      listener = engine_->listener_;
    }
    if (listener && *listener) (*listener)(attempt);
  }

  DeliveryEngine* const engine_;
  Store* const store_;
  const std::string id_;
  std::thread thread_;
  std::atomic<bool> finished_{false};

  // Shared with other threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion> completions_;
  bool notified_ = false;
  bool stop_requested_ = false;
  bool retire_ = false;
  size_t settling_ = 0;  // delivered outcomes handed to the store, not yet committed
  std::optional<RefreshData> refresh_;
  IntegrationDeliveryStatus snapshot_;

  // Owned by the worker's thread.
  IntegrationRecord record_;
  RevisionRecord revision_;
  v1::DeliverySettings settings_;
  Stub* stub_ = nullptr;
  std::unique_ptr<TokenBucket> bucket_;
  std::unique_ptr<Backoff> backoff_;
  std::deque<Item> buffer_;        // leased, not yet translated
  std::deque<Outgoing> pending_;   // translated, waiting for a window slot or a token
  std::unordered_map<uint64_t, InFlight> in_flight_;
  uint64_t next_request_id_ = 0;
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>> retry_due_;
  bool queue_may_have_due_ = true;
  int64_t last_lease_ms_ = 0;
  int64_t pause_until_ms_ = 0;
  uint32_t translate_failures_ = 0;
  bool held_ = false;
  std::string hold_reason_;
  int64_t next_probe_ms_ = 0;
  bool stopping_ = false;
  uint64_t passes_ = 0;

  metrics::Counter* delivered_ = nullptr;
  metrics::Histogram* duration_ = nullptr;
  metrics::Gauge* held_gauge_ = nullptr;
};

// ---- DeliveryEngine -------------------------------------------------------------

DeliveryEngine::DeliveryEngine(Store* store, PluginLookup plugins, metrics::HostMetrics* metrics,
                               EngineOptions options)
    : store_(store), plugins_(std::move(plugins)), metrics_(metrics),
      options_(std::move(options)) {}

DeliveryEngine::~DeliveryEngine() { Stop(); }

void DeliveryEngine::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "delivery: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

int64_t DeliveryEngine::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return absl::ToUnixMillis(absl::Now());
}

absl::Status DeliveryEngine::Start() {
  {
    std::unique_lock<std::shared_mutex> lock(workers_mu_);
    if (started_) return absl::FailedPreconditionError("the delivery engine was already started");
    absl::StatusOr<std::unique_ptr<HttpSender>> sender = HttpSender::Create(options_.sender);
    if (!sender.ok()) return sender.status();
    sender_ = std::move(*sender);
    absl::StatusOr<std::vector<IntegrationRecord>> integrations = store_->AllIntegrations();
    if (!integrations.ok()) return integrations.status();
    started_ = true;
    for (const IntegrationRecord& record : *integrations) {
      if (record.status == "disabled") continue;
      if (absl::Status status = StartWorkerLocked(record); !status.ok()) {
        Log(absl::StrCat("integration ", record.id, " not started: ", status.ToString()));
      }
    }
  }
  if (metrics_ != nullptr) {
    collect_hook_ = metrics_->registry->AddCollectHook([this] { UpdateQueueDepthGauges(); });
  }
  return absl::OkStatus();
}

absl::Status DeliveryEngine::StartWorkerLocked(const IntegrationRecord& record) {
  absl::StatusOr<RevisionRecord> revision =
      store_->GetRevision(record.id, record.current_revision);
  if (!revision.ok()) return revision.status();
  auto worker = std::make_unique<Worker>(this, record, std::move(*revision),
                                         plugins_ ? plugins_(record.vendor) : nullptr);
  worker->Start();
  workers_[record.id] = std::move(worker);
  return absl::OkStatus();
}

void DeliveryEngine::ReapRetiredLocked() {
  for (auto it = retired_.begin(); it != retired_.end();) {
    if ((*it)->finished()) {
      (*it)->Join();
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
}

void DeliveryEngine::Stop() {
  {
    std::unique_lock<std::shared_mutex> lock(workers_mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
  }
  // Outside workers_mu_: the hook itself takes it.
  if (metrics_ != nullptr && collect_hook_ != 0) metrics_->registry->RemoveCollectHook(collect_hook_);
  std::vector<Worker*> all;
  {
    std::shared_lock<std::shared_mutex> lock(workers_mu_);
    for (auto& [id, worker] : workers_) all.push_back(worker.get());
    for (auto& worker : retired_) all.push_back(worker.get());
  }
  for (Worker* worker : all) worker->RequestStop(/*retire=*/false);
  // Lets the requests in flight finish (their completions reach the workers), then
  // abandons what is left at the deadline.
  sender_->Shutdown(options_.stop_drain_timeout);
  for (Worker* worker : all) worker->Join();
}

void DeliveryEngine::Notify(std::string_view integration_id) {
  std::shared_lock<std::shared_mutex> lock(workers_mu_);
  auto it = workers_.find(std::string(integration_id));
  if (it != workers_.end()) it->second->Notify();
}

absl::Status DeliveryEngine::Refresh(std::string_view integration_id) {
  std::unique_lock<std::shared_mutex> lock(workers_mu_);
  if (!started_ || stopped_) {
    return absl::FailedPreconditionError("the delivery engine is not running");
  }
  ReapRetiredLocked();
  absl::StatusOr<std::vector<IntegrationRecord>> integrations = store_->AllIntegrations();
  if (!integrations.ok()) return integrations.status();
  const IntegrationRecord* record = nullptr;
  for (const IntegrationRecord& candidate : *integrations) {
    if (candidate.id == integration_id) record = &candidate;
  }
  auto existing = workers_.find(std::string(integration_id));
  if (record == nullptr || record->status == "disabled") {
    if (existing != workers_.end()) {
      existing->second->RequestStop(/*retire=*/true);
      retired_.push_back(std::move(existing->second));
      workers_.erase(existing);
      if (metrics_ != nullptr) metrics_->queue_depth->Remove({integration_id});
    }
    return absl::OkStatus();
  }
  if (existing == workers_.end()) return StartWorkerLocked(*record);
  absl::StatusOr<RevisionRecord> revision =
      store_->GetRevision(record->id, record->current_revision);
  if (!revision.ok()) return revision.status();
  existing->second->PostRefresh(
      RefreshData{*record, std::move(*revision), plugins_ ? plugins_(record->vendor) : nullptr});
  return absl::OkStatus();
}

void DeliveryEngine::SetAttemptListener(AttemptListener listener) {
  auto shared = std::make_shared<const AttemptListener>(std::move(listener));
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(shared);
}

absl::StatusOr<IntegrationDeliveryStatus> DeliveryEngine::IntegrationStatus(
    std::string_view integration_id) {
  IntegrationDeliveryStatus status;
  {
    std::shared_lock<std::shared_mutex> lock(workers_mu_);
    auto it = workers_.find(std::string(integration_id));
    if (it == workers_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no delivery worker for integration ", std::string(integration_id)));
    }
    status = it->second->Snapshot();
  }
  absl::StatusOr<size_t> depth = store_->QueueDepth(integration_id);
  if (depth.ok()) status.queue_depth = *depth;
  return status;
}

std::vector<IntegrationDeliveryStatus> DeliveryEngine::AllStatuses() {
  std::vector<IntegrationDeliveryStatus> statuses;
  {
    std::shared_lock<std::shared_mutex> lock(workers_mu_);
    for (const auto& [id, worker] : workers_) statuses.push_back(worker->Snapshot());
  }
  for (IntegrationDeliveryStatus& status : statuses) {
    absl::StatusOr<size_t> depth = store_->QueueDepth(status.integration_id);
    if (depth.ok()) status.queue_depth = *depth;
  }
  return statuses;
}

void DeliveryEngine::UpdateQueueDepthGauges() {
  std::vector<std::string> ids;
  {
    std::shared_lock<std::shared_mutex> lock(workers_mu_);
    for (const auto& [id, worker] : workers_) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    absl::StatusOr<size_t> depth = store_->QueueDepth(id);
    if (depth.ok()) metrics_->queue_depth->WithLabels({id}).Set(static_cast<double>(*depth));
  }
}

}  // namespace signal_host::delivery
