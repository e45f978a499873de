#include "host/delivery/delivery_engine.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/delivery/worker.h"
#include "host/store/store.h"

namespace signal_host::delivery {

// ---- DeliveryEngine -------------------------------------------------------------

DeliveryEngine::DeliveryEngine(ConfigReader* configs, DeliveryQueue* queue, PluginLookup plugins,
                               metrics::HostMetrics* metrics, EngineOptions options)
    : configs_(configs), queue_(queue), plugins_(std::move(plugins)), metrics_(metrics),
      options_(std::move(options)) {}

DeliveryEngine::DeliveryEngine(Store* store, PluginLookup plugins, metrics::HostMetrics* metrics,
                               EngineOptions options)
    : DeliveryEngine(store, store, std::move(plugins), metrics, std::move(options)) {}

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

void DeliveryEngine::PublishAttempt(const AttemptRecord& attempt) {
  std::shared_ptr<const AttemptListener> listener;
  {
    std::lock_guard<std::mutex> lock(listener_mu_);
    listener = listener_;
  }
  if (listener && *listener) (*listener)(attempt);
}

absl::Status DeliveryEngine::Start() {
  {
    std::unique_lock<std::shared_mutex> lock(workers_mu_);
    if (started_) return absl::FailedPreconditionError("the delivery engine was already started");
    absl::StatusOr<std::unique_ptr<HttpSender>> sender = HttpSender::Create(options_.sender);
    if (!sender.ok()) return sender.status();
    sender_ = std::move(*sender);
    absl::StatusOr<std::vector<IntegrationRecord>> integrations = configs_->AllIntegrations();
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
      configs_->GetRevision(record.id, record.current_revision);
  if (!revision.ok()) return revision.status();
  WorkerContext context;
  context.queue = queue_;
  context.sender = sender_.get();
  context.metrics = metrics_;
  context.options = &options_;
  context.log = [this](std::string_view line) { Log(line); };
  context.now_ms = [this] { return NowMs(); };
  context.publish = [this](const AttemptRecord& attempt) { PublishAttempt(attempt); };
  auto worker = std::make_unique<Worker>(std::move(context), record, std::move(*revision),
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
  absl::StatusOr<std::vector<IntegrationRecord>> integrations = configs_->AllIntegrations();
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
      configs_->GetRevision(record->id, record->current_revision);
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
  absl::StatusOr<size_t> depth = queue_->QueueDepth(integration_id);
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
    absl::StatusOr<size_t> depth = queue_->QueueDepth(status.integration_id);
    if (depth.ok()) status.queue_depth = *depth;
  }
  return statuses;
}

absl::Status DeliveryEngine::StoreHealth() const {
  std::shared_lock<std::shared_mutex> lock(workers_mu_);
  for (const auto& [id, worker] : workers_) {
    const IntegrationDeliveryStatus status = worker->Snapshot();
    if (!status.store_error.empty()) {
      return absl::UnavailableError(absl::StrCat("the store is failing for integration ", id,
                                                 ": ", status.store_error,
                                                 "; delivery paused and retried with backoff"));
    }
  }
  return absl::OkStatus();
}

void DeliveryEngine::UpdateQueueDepthGauges() {
  std::vector<std::string> ids;
  {
    std::shared_lock<std::shared_mutex> lock(workers_mu_);
    for (const auto& [id, worker] : workers_) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    absl::StatusOr<size_t> depth = queue_->QueueDepth(id);
    if (depth.ok()) metrics_->queue_depth->WithLabels({id}).Set(static_cast<double>(*depth));
  }
}

}  // namespace signal_host::delivery
