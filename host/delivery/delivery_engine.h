// The delivery engine: for every installed integration, a worker (worker.h) that
// leases due events from the queue, cuts them into batches by count and by bytes,
// has the integration's plugin translate them into vendor requests, sends those
// through the shared HttpSender under a token bucket, and acts on the plugin's
// classification of each response (response_policy.h):
//
//   DELIVERED      the events leave the queue, committed together with the attempt
//                  record and without the worker waiting (CompleteAndRecordAsync).
//   TRANSIENT      ScheduleRetry after full-jitter backoff, Retry-After as a floor; an
//                  event is dead-lettered only once BOTH max_attempts and
//                  retry_window_s (from its first attempt) are exhausted.
//   THROTTLE       as TRANSIENT, and no request to the integration before the deadline.
//   SPLIT          each half is translated and sent on its own, down to single events.
//   SETUP_FAILURE  the integration is held (store status "held"), its leased events
//                  released without counting an attempt; a periodic credential
//                  re-probe or a new revision (Refresh) resumes it.
//   REJECT         dead letters with the classification code and the last response.
//
// Failures of the machinery itself are bounded the same way (decisions):
//   - A failed Translate or Classify call is an attempt like a vendor failure: it is
//     counted in the store (ScheduleRetry), retried with the integration's backoff,
//     and dead-lettered only once the SAME retry policy is spent (attempts AND
//     window), as translate_failed / translate_incomplete / classify_failed with
//     the gRPC status. A failing batch is bisected first (translation.h; for Classify,
//     response_policy.h) when the failure may come from one event, so one poisonous
//     event cannot hold back the others. A plugin that does not answer at all
//     (UNAVAILABLE, DEADLINE_EXCEEDED), or fails every call of a batch, is taken to be
//     down: the batch gets one counted attempt and the whole integration pauses,
//     longer after each such failure in a row (the retry policy's backoff ceiling),
//     so that a plugin that is down costs one batch an attempt per pause instead of
//     burning every queued event into the dead-letter queue. A new revision ends the
//     pause. Operators see the attempts in Live Events and the backoff in the log
//     (at most one line per 5 s).
//   - Batches are cut at EngineOptions::max_translate_bytes of payload, far below the
//     plugin channel's 64 MiB gRPC limit; an event alone over it is dead-lettered as
//     event_too_large without reaching the plugin.
//   - When the store cannot write an outcome, the outcome is parked with its events
//     still leased (outcome_committer.h): the integration sends nothing, writes are
//     tried again at 100 ms doubling to 30 s, one log line per step, and the vendor
//     never sees those events again. StoreHealth() reports it (the host's /readyz).
//
// Every vendor request (and every local rejection or plugin failure) becomes an
// AttemptRecord in the store, then goes to the attempt listener. At-least-once: an
// event leaves the queue only through Complete or DeadLetterEvents; leases are given
// back otherwise.
//
// The engine knows no vendor: everything vendor-specific comes from the plugin's
// gRPC service (Translate, Classify, CheckCredentials).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "host/delivery/http_sender.h"
#include "host/metrics/host_metrics.h"
#include "host/store/config_store.h"
#include "host/store/delivery_queue.h"
#include "signal/integration/v1/integration.grpc.pb.h"

namespace signal_host {
class Store;  // host/store/store.h: every store interface at once
}

namespace signal_host::delivery {

struct EngineOptions {
  // How often a held integration's credentials are checked again.
  absl::Duration credential_probe_interval = absl::Seconds(60);
  // Vendor requests outstanding per integration (pipelining).
  size_t max_in_flight_per_integration = 6;
  // Events leased ahead per integration, in requests' worth (× max_events_per_request).
  size_t lease_ahead_requests = 4;
  // The queue is polled at least this often even without Notify (retries falling
  // due, replayed dead letters, events enqueued by another process).
  absl::Duration idle_poll_interval = absl::Seconds(1);
  // Response bytes handed to Classify, and bytes kept in attempt records.
  size_t classify_body_bytes = 64 * 1024;
  size_t record_body_bytes = 4 * 1024;
  size_t record_response_bytes = 4 * 1024;
  // Deadline of each plugin call (Translate, Classify, CheckCredentials).
  absl::Duration plugin_call_timeout = absl::Seconds(30);
  // How long Stop() lets in-flight requests finish before abandoning them (their
  // events are released, not counted as attempted).
  absl::Duration stop_drain_timeout = absl::Seconds(30);
  // Payload bytes handed to the plugin in one Translate call: batches are cut by bytes
  // as well as by count. Keep it well below the plugin channel's gRPC message limit
  // (LoadOptions::max_message_bytes, 64 MiB): the answer carries the translated
  // events too. An event alone over it is dead-lettered as event_too_large.
  size_t max_translate_bytes = 16u << 20;
  // Backoff while the store cannot write outcomes or lease events.
  absl::Duration store_retry_initial = absl::Milliseconds(100);
  absl::Duration store_retry_max = absl::Seconds(30);
  HttpSender::Options sender;
  // Wall clock, unix milliseconds; empty: the system clock.
  std::function<int64_t()> now_ms;
  // Operational log lines (never contain secrets); empty: stderr.
  std::function<void(std::string_view)> log;
};

// What the admin API shows about an integration's delivery.
struct IntegrationDeliveryStatus {
  std::string integration_id;
  std::string status;           // "active" or "held"
  std::string reason;           // why it is held; empty when active
  size_t queue_depth = 0;
  // Held: the next credential probe. Throttled: the end of the pause. Otherwise 0.
  int64_t next_attempt_at_ms = 0;
  int revision = 0;
  size_t requests_in_flight = 0;
  // Passes the worker's loop has made; tests wait on it to know the worker looked.
  uint64_t passes = 0;
  // While the store cannot write this integration's outcomes (or lease its events):
  // what failed. Delivery is paused meanwhile. Empty otherwise.
  std::string store_error;
};

class Worker;  // host/delivery/worker.h

class DeliveryEngine {
 public:
  using Stub = signal::integration::v1::Integration::StubInterface;
  // The loaded plugin serving a catalog key (the integration's vendor), or null.
  using PluginLookup = std::function<Stub*(std::string_view vendor)>;
  // Called on a worker thread after each attempt is recorded; keep it short.
  using AttemptListener = std::function<void(const AttemptRecord&)>;

  // Integrations and revisions are read from `configs`; leases and outcomes go
  // through `queue` (tests pass a decorator that injects store failures). Both and
  // the plugins must outlive the engine; `metrics` may be null.
  DeliveryEngine(ConfigReader* configs, DeliveryQueue* queue, PluginLookup plugins,
                 metrics::HostMetrics* metrics, EngineOptions options = {});
  // The same with one object for both (the SQLite store).
  DeliveryEngine(Store* store, PluginLookup plugins, metrics::HostMetrics* metrics,
                 EngineOptions options = {});
  ~DeliveryEngine();  // Stop()
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;

  // Creates the HTTP sender and a worker per integration that is not disabled.
  absl::Status Start();
  // Stops leasing, finishes the requests in flight and commits their outcomes, gives
  // back every other lease, and joins the workers. Idempotent.
  void Stop();

  // Wakes the integration's worker: events were enqueued for it. Cheap; call it
  // after every Enqueue.
  void Notify(std::string_view integration_id);
  // Re-reads the integration and its current revision after an install, a new
  // revision (which also resumes a held integration), a status change or a delete.
  absl::Status Refresh(std::string_view integration_id);

  void SetAttemptListener(AttemptListener listener);

  absl::StatusOr<IntegrationDeliveryStatus> IntegrationStatus(std::string_view integration_id);
  std::vector<IntegrationDeliveryStatus> AllStatuses();

  // OK while every worker can write its outcomes; Unavailable, naming an integration
  // and the store's error, while any cannot (delivery is paused and retried with
  // backoff meanwhile). Cheap: for readiness probes.
  absl::Status StoreHealth() const;

 private:
  void Log(std::string_view line) const;
  int64_t NowMs() const;
  void PublishAttempt(const AttemptRecord& attempt);
  absl::Status StartWorkerLocked(const IntegrationRecord& record);
  void ReapRetiredLocked();
  void UpdateQueueDepthGauges();

  ConfigReader* const configs_;
  DeliveryQueue* const queue_;
  const PluginLookup plugins_;
  metrics::HostMetrics* const metrics_;
  EngineOptions options_;
  std::unique_ptr<HttpSender> sender_;

  mutable std::shared_mutex workers_mu_;
  std::unordered_map<std::string, std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Worker>> retired_;  // draining after delete/disable
  bool started_ = false;
  bool stopped_ = false;
  int collect_hook_ = 0;

  std::mutex listener_mu_;
  std::shared_ptr<const AttemptListener> listener_;
};

}  // namespace signal_host::delivery
