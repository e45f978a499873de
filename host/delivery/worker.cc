#include "host/delivery/worker.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/delivery/attempt_format.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;

constexpr int64_t kPluginLogIntervalMs = 5000;

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

ResponsePolicyOptions PolicyOptions(const EngineOptions& options) {
  ResponsePolicyOptions policy;
  policy.classify_body_bytes = options.classify_body_bytes;
  policy.record_response_bytes = options.record_response_bytes;
  policy.plugin_call_timeout = options.plugin_call_timeout;
  return policy;
}

uint64_t AtLeastOneMs(absl::Duration duration) {
  return static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

}  // namespace

int64_t Worker::SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Worker::Worker(WorkerContext context, IntegrationRecord record, RevisionRecord revision,
               DeliveryEngine::Stub* stub)
    : ctx_(std::move(context)),
      id_(record.id),
      policy_(PolicyOptions(*ctx_.options)),
      hold_(ctx_.options->credential_probe_interval,
            ctx_.metrics != nullptr ? &ctx_.metrics->integrations_held->WithLabels({}) : nullptr),
      committer_(ctx_.queue, record.id, AtLeastOneMs(ctx_.options->store_retry_initial),
                 AtLeastOneMs(ctx_.options->store_retry_max),
                 OutcomeCommitter::Hooks{
                     ctx_.log, [this](const AttemptRecord& attempt) { ctx_.publish(attempt); },
                     [this](const Outcome& outcome) { OnCommitted(outcome); }}),
      plugin_log_(kPluginLogIntervalMs) {
  if (ctx_.metrics != nullptr) {
    delivered_ = &ctx_.metrics->events_delivered->WithLabels({id_});
    duration_ = &ctx_.metrics->request_duration->WithLabels({id_});
  }
  const int64_t now = ctx_.now_ms();
  ApplyRevision(std::move(revision), stub);
  // Held before a restart: probe the credentials again right away.
  if (record.status == "held") hold_.Restore(record.status_reason, now);
  record_ = std::move(record);
  PublishSnapshot(now);
}

Worker::~Worker() { Join(); }

void Worker::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "deliver");
    Run();
  });
}

void Worker::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void Worker::PostRefresh(RefreshData data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    refresh_ = std::move(data);
  }
  cv_.notify_one();
}

void Worker::RequestStop(bool retire) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
    retire_ = retire_ || retire;
  }
  cv_.notify_one();
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

IntegrationDeliveryStatus Worker::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

// ---- Loop -----------------------------------------------------------------------

void Worker::Run() {
  int64_t wake_at_ms = 0;
  while (true) {
    std::deque<Completion> completions;
    std::deque<FailedCommit> failed;
    bool notified = false;
    bool stop = false;
    bool retire = false;
    std::optional<RefreshData> refresh;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const auto ready = [&] {
        return !completions_.empty() || !failed_commits_.empty() || notified_ ||
               refresh_.has_value() || (stop_requested_ && !stopping_);
      };
      if (!ready()) {
        if (wake_at_ms == kNever) {
          cv_.wait(lock, ready);
        } else {
          const int64_t delay = wake_at_ms - ctx_.now_ms();
          if (delay > 0) cv_.wait_for(lock, std::chrono::milliseconds(delay), ready);
        }
      }
      completions.swap(completions_);
      failed.swap(failed_commits_);
      notified = std::exchange(notified_, false);
      refresh.swap(refresh_);
      refresh_.reset();
      stop = stop_requested_;
      retire = retire_;
    }
    if (refresh.has_value()) ApplyRefresh(std::move(*refresh));
    if (stop && !stopping_) BeginStopping(retire);
    for (FailedCommit& commit : failed) {
      committer_.Park(std::move(commit.outcome), commit.status, ctx_.now_ms());
    }
    for (Completion& completion : completions) HandleCompletion(completion);
    if (stopping_) {
      PublishSnapshot(ctx_.now_ms());
      if (in_flight_.empty()) break;
      wake_at_ms = kNever;
      continue;
    }
    if (notified) queue_may_have_due_ = true;
    wake_at_ms = Pump();
    PublishSnapshot(ctx_.now_ms());
  }
  std::deque<FailedCommit> failed;
  {
    // Outcomes still being committed call back into this worker.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return settling_ == 0; });
    failed.swap(failed_commits_);
  }
  for (FailedCommit& commit : failed) {
    committer_.Park(std::move(commit.outcome), commit.status, ctx_.now_ms());
  }
  committer_.FlushOrRelease(ctx_.now_ms());
  finished_.store(true);
}

void Worker::PushCompletion(uint64_t request_id, HttpResponse&& response) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    completions_.push_back(Completion{request_id, std::move(response)});
  }
  cv_.notify_one();
}

void Worker::PublishSnapshot(int64_t now) {
  IntegrationDeliveryStatus status;
  status.integration_id = id_;
  if (stub_ == nullptr) {
    status.status = "held";
    status.reason = absl::StrCat("no plugin is loaded for vendor '", record_.vendor, "'");
  } else if (hold_.held()) {
    status.status = "held";
    status.reason = hold_.reason();
    status.next_attempt_at_ms = hold_.next_probe_ms();
  } else {
    status.status = "active";
    if (committer_.failing()) {
      status.next_attempt_at_ms = committer_.retry_at_ms();
    } else if (pause_until_ms_ > now) {
      status.next_attempt_at_ms = pause_until_ms_;
    } else if (buffer_.empty() && pending_.empty() && !retry_due_.empty()) {
      status.next_attempt_at_ms = retry_due_.top();
    }
  }
  status.store_error = committer_.error();
  status.revision = revision_.revision_number;
  status.requests_in_flight = in_flight_.size();
  status.passes = ++passes_;
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(status);
}

// One pass of work. Returns when the worker should wake up again by itself.
int64_t Worker::Pump() {
  int64_t now = ctx_.now_ms();
  if (stub_ == nullptr) return kNever;  // waits for a Refresh with a plugin
  // Outcomes the store refused come first; nothing is sent while any is parked.
  if (committer_.outcomes_parked() && !committer_.RetryParked(now)) {
    return committer_.retry_at_ms();
  }
  if (hold_.held()) {
    if (now >= hold_.next_probe_ms()) Probe(now);
    if (hold_.held()) return hold_.next_probe_ms();
    now = ctx_.now_ms();
  }
  if (now < pause_until_ms_) return pause_until_ms_;
  ApplyRateShare();

  while (!retry_due_.empty() && retry_due_.top() <= now) {
    retry_due_.pop();
    queue_may_have_due_ = true;
  }
  if (now - last_lease_ms_ >= idle_poll_ms()) queue_may_have_due_ = true;

  int64_t wake = kNever;
  for (int round = 0; round < 64; ++round) {
    bool progress = false;
    if (queue_may_have_due_ && WantsLease() && !committer_.lease_blocked(now)) {
      progress |= LeaseMore(now);
    }
    wake = kNever;
    progress |= SendReady(now, wake);
    if (hold_.held() || stopping_) return hold_.held() ? hold_.next_probe_ms() : kNever;
    if (committer_.outcomes_parked()) return committer_.retry_at_ms();
    if (pause_until_ms_ > now) return pause_until_ms_;
    if (!progress) break;
    now = ctx_.now_ms();
  }
  wake = std::min(wake, last_lease_ms_ + idle_poll_ms());
  if (!retry_due_.empty()) wake = std::min(wake, retry_due_.top());
  if (queue_may_have_due_ && WantsLease()) {
    wake = std::min(wake, committer_.lease_blocked(now) ? committer_.retry_at_ms() : now);
  }
  return wake;
}

// ---- Configuration --------------------------------------------------------------

void Worker::ApplyRevision(RevisionRecord revision, DeliveryEngine::Stub* stub) {
  v1::DeliverySettings parsed;
  if (!revision.delivery_settings.empty() && !parsed.ParseFromString(revision.delivery_settings)) {
    ctx_.log(absl::StrCat("integration ", id_, ": revision ", revision.revision_number,
                          " has unreadable delivery settings; using defaults"));
    parsed.Clear();
  }
  settings_ = NormalizeSettings(std::move(parsed));
  revision_ = std::move(revision);
  stub_ = stub;
  if (!backoff_) {
    backoff_ = std::make_unique<Backoff>(settings_.retry().initial_backoff_ms(),
                                         settings_.retry().max_backoff_ms());
  } else {
    backoff_->Reconfigure(settings_.retry().initial_backoff_ms(),
                          settings_.retry().max_backoff_ms());
  }
  ConfigureBucket();
}

void Worker::ApplyRateShare() {
  double share = ctx_.queue->RateShare(id_);
  if (!(share > 0.0) || share > 1.0) share = 1.0;
  if (share == rate_share_) return;
  rate_share_ = share;
  ConfigureBucket();
}

void Worker::ConfigureBucket() {
  // The burst shrinks with the rate but never below one request.
  const double rate = settings_.rate_limit_rps() * rate_share_;
  const double burst = std::max(1.0, settings_.rate_limit_burst() * rate_share_);
  const int64_t steady = SteadyNowNs();
  if (!bucket_) {
    bucket_ = std::make_unique<TokenBucket>(rate, burst, steady);
  } else {
    bucket_->Reconfigure(rate, burst, steady);
  }
}

void Worker::ApplyRefresh(RefreshData data) {
  const bool new_revision = data.revision.revision_number != revision_.revision_number;
  ApplyRevision(std::move(data.revision), data.stub);
  const bool store_says_active = data.record.status == "active";
  record_ = std::move(data.record);
  if (hold_.held() && (new_revision || store_says_active)) {
    Unhold(new_revision ? "a new revision was saved" : "the integration was resumed",
           /*write_status=*/!store_says_active);
  }
  // A new config may well fix what the plugin failed on: its backoff starts over, and
  // a pause of its own ends (a vendor's throttle does not).
  if (new_revision) {
    plugin_failures_ = 0;
    if (pause_until_ms_ == plugin_pause_until_ms_) pause_until_ms_ = 0;
  }
  queue_may_have_due_ = true;
}

size_t Worker::lease_limit() const {
  return static_cast<size_t>(settings_.max_events_per_request()) *
         std::max<size_t>(1, ctx_.options->lease_ahead_requests);
}

int64_t Worker::idle_poll_ms() const {
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(ctx_.options->idle_poll_interval));
}

BatchLimits Worker::batch_limits() const {
  return BatchLimits{settings_.max_events_per_request(),
                     std::max<size_t>(1, ctx_.options->max_translate_bytes)};
}

// ---- Leases given back --------------------------------------------------------------

void Worker::ReleaseItems(const std::vector<Item>& items) {
  if (items.empty()) return;
  const std::vector<int64_t> seqs = SeqsOf(items);
  ctx_.queue->Release(seqs);
}

void Worker::ReleaseBuffered() {
  std::vector<int64_t> seqs;
  for (const Item& item : buffer_.TakeAll()) seqs.push_back(item.event.seq);
  for (const Outgoing& outgoing : pending_) {
    for (const Item& item : outgoing.items) seqs.push_back(item.event.seq);
  }
  pending_.clear();
  if (!seqs.empty()) ctx_.queue->Release(seqs);
}

void Worker::BeginStopping(bool retire) {
  stopping_ = true;
  ReleaseBuffered();
  if (retire) hold_.Retire();
}

}  // namespace signal_host::delivery
