// One integration's delivery worker: a thread that leases the integration's due
// events, cuts them into batches (BatchBuffer), has the plugin translate them
// (TranslateBatch), sends the requests through the shared HttpSender under the
// integration's token bucket, decides what each response means (ResponsePolicy),
// and writes the outcomes through its OutcomeCommitter. Holds and credential
// re-probes are HoldControl's. The pieces each live in their own file; the worker
// wires them together: worker.cc (thread, loop, configuration), worker_sending.cc
// (leasing, batching, translating, sending), worker_outcomes.cc (what responses,
// failures and holds do to the events).
//
// No path loops without a backoff:
//   - a Translate or Classify failure counts an attempt (retry policy backoff), and a
//     plugin that does not answer pauses the integration (exponential, per failure);
//   - events the plugin leaves unaccounted for are counted like a failed attempt;
//   - a store write or lease that fails parks the outcome and pauses the integration
//     (OutcomeCommitter, 100 ms doubling to 30 s); nothing is released to be re-sent;
//   - a held integration probes its credentials once per probe interval;
//   - leases are given back (Release) only when the integration is held, the plugin
//     is gone, a request was abandoned at shutdown, or the worker stops: none of these
//     leases again until something changes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "host/delivery/backoff.h"
#include "host/delivery/batch_buffer.h"
#include "host/delivery/delivery_engine.h"
#include "host/delivery/hold_control.h"
#include "host/delivery/outcome_committer.h"
#include "host/delivery/response_policy.h"
#include "host/delivery/throttled_log.h"
#include "host/delivery/token_bucket.h"
#include "host/delivery/translation.h"
#include "host/delivery/work_items.h"

namespace signal_host::delivery {

// What a worker uses of its engine. Everything must outlive the worker.
struct WorkerContext {
  DeliveryQueue* queue = nullptr;
  HttpSender* sender = nullptr;
  metrics::HostMetrics* metrics = nullptr;  // may be null
  const EngineOptions* options = nullptr;
  std::function<void(std::string_view)> log;
  std::function<int64_t()> now_ms;
  // Hands a recorded attempt to the attempt listener (Live Events).
  std::function<void(const AttemptRecord&)> publish;
};

// A new revision, status or plugin for a running worker.
struct RefreshData {
  IntegrationRecord record;
  RevisionRecord revision;
  DeliveryEngine::Stub* stub = nullptr;
};

class Worker {
 public:
  Worker(WorkerContext context, IntegrationRecord record, RevisionRecord revision,
         DeliveryEngine::Stub* stub);
  ~Worker();  // Join()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const std::string& id() const { return id_; }

  void Start();
  void Notify();
  void PostRefresh(RefreshData data);
  // Stops leasing and sending; the worker exits once its in-flight requests are
  // done. `retire`: the integration is gone (deleted or disabled).
  void RequestStop(bool retire);
  void Join();
  bool finished() const { return finished_.load(); }
  IntegrationDeliveryStatus Snapshot() const;

 private:
  static constexpr int64_t kNever = INT64_MAX;
  // The token bucket's clock.
  static int64_t SteadyNowNs();

  struct Completion {
    uint64_t request_id = 0;
    HttpResponse response;
  };
  // A delivered outcome whose asynchronous commit failed.
  struct FailedCommit {
    Outcome outcome;
    absl::Status status;
  };

  // Loop.
  void Run();
  void PushCompletion(uint64_t request_id, HttpResponse&& response);
  void PublishSnapshot(int64_t now);
  int64_t Pump();

  // Configuration.
  void ApplyRevision(RevisionRecord revision, DeliveryEngine::Stub* stub);
  // Follows the queue's RateShare; ConfigureBucket sets the token bucket to the
  // revision's rate and burst times that share.
  void ApplyRateShare();
  void ConfigureBucket();
  void ApplyRefresh(RefreshData data);
  size_t lease_limit() const;
  int64_t idle_poll_ms() const;
  BatchLimits batch_limits() const;

  // Leasing, batching, translating, sending.
  bool WantsLease() const;
  size_t BufferedEvents() const;
  bool LeaseMore(int64_t now);
  bool SendReady(int64_t now, int64_t& wake);
  void TranslateAndQueue(std::vector<Item> items, int64_t now, bool to_front);
  void OnTranslateFailure(TranslateFailure& failure, int64_t now);
  void RejectOversized(std::vector<Item> items, int64_t now);
  void Send(Outgoing outgoing, int64_t now);

  // Outcomes.
  void HandleCompletion(Completion& completion);
  void OnDelivered(const std::vector<Item>& items, AttemptRecord attempt, int64_t now);
  void ApplyRetry(const std::vector<Item>& items, const RetryPlan& plan,
                  std::optional<AttemptRecord> attempt, const std::string& give_up_reason,
                  const std::string& give_up_message, int32_t last_status,
                  const std::string& last_response, int64_t attempted_at, int64_t now);
  void DeadLetter(const std::vector<Item>& items, std::optional<AttemptRecord> attempt,
                  std::string reason, std::string message, int32_t last_status,
                  std::string last_response, bool rejected, uint32_t attempts_added, int64_t now);
  void OnCommitted(const Outcome& outcome);
  void Pause(int64_t until);
  void BackOffPlugin(int64_t now);
  void OnSplit(std::vector<Item> items, int64_t now);

  // Holds.
  void Hold(const std::string& reason, int64_t now);
  void Unhold(std::string_view why, bool write_status);
  void Probe(int64_t now);

  // Leases given back.
  void ReleaseItems(const std::vector<Item>& items);
  void ReleaseBuffered();
  void BeginStopping(bool retire);

  WorkerContext ctx_;
  const std::string id_;
  std::thread thread_;
  std::atomic<bool> finished_{false};

  // Shared with other threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion> completions_;
  std::deque<FailedCommit> failed_commits_;
  bool notified_ = false;
  bool stop_requested_ = false;
  bool retire_ = false;
  size_t settling_ = 0;  // delivered outcomes handed to the store, not yet committed
  std::optional<RefreshData> refresh_;
  IntegrationDeliveryStatus snapshot_;

  // Owned by the worker's thread.
  IntegrationRecord record_;
  RevisionRecord revision_;
  signal::integration::v1::DeliverySettings settings_;
  DeliveryEngine::Stub* stub_ = nullptr;
  std::unique_ptr<TokenBucket> bucket_;
  // The part of the rate limit this host may use (DeliveryQueue::RateShare).
  double rate_share_ = 1.0;
  std::unique_ptr<Backoff> backoff_;
  BatchBuffer buffer_;            // leased, not yet translated
  std::deque<Outgoing> pending_;  // translated, waiting for a window slot or a token
  std::unordered_map<uint64_t, InFlight> in_flight_;
  uint64_t next_request_id_ = 0;
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>> retry_due_;
  bool queue_may_have_due_ = true;
  int64_t last_lease_ms_ = 0;
  int64_t pause_until_ms_ = 0;
  uint32_t plugin_failures_ = 0;       // plugin calls in a row that got no answer
  int64_t plugin_pause_until_ms_ = 0;  // the end of the last pause BackOffPlugin made
  size_t lease_event_bytes_ = 0;       // mean payload size of the last lease
  ResponsePolicy policy_;
  HoldControl hold_;
  OutcomeCommitter committer_;
  ThrottledLog plugin_log_;
  bool stopping_ = false;
  uint64_t passes_ = 0;

  metrics::Counter* delivered_ = nullptr;
  metrics::Histogram* duration_ = nullptr;
};

}  // namespace signal_host::delivery
