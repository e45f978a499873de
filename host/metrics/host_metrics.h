// The metrics signal-delivery-host exposes on /metrics, registered in one place so
// the event API, the delivery engine and the admin API share one set of names.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "host/metrics/metrics.h"

namespace signal_host::metrics {

struct HostMetrics {
  // Creates the families in `registry`, which must outlive the result.
  static absl::StatusOr<std::unique_ptr<HostMetrics>> Create(Registry& registry);

  Registry* registry = nullptr;
  // {integration}: events durably queued for the integration by the event API.
  Family<Counter>* events_accepted = nullptr;
  // {integration}: events the vendor accepted.
  Family<Counter>* events_delivered = nullptr;
  // {integration, reason}: events the plugin (Translate) or the vendor (REJECT)
  // refused; every one of them is also dead-lettered.
  Family<Counter>* events_rejected = nullptr;
  // {integration, reason}: events moved to dead letters, whatever the cause.
  Family<Counter>* events_dead_lettered = nullptr;
  // {integration, status_class}: requests whose events were scheduled for a retry;
  // status_class is 2xx, 3xx, 4xx, 5xx or network.
  Family<Counter>* delivery_retries = nullptr;
  // {integration}: events queued (sampled at scrape time).
  Family<Gauge>* queue_depth = nullptr;
  // Integrations on hold after a setup failure.
  Family<Gauge>* integrations_held = nullptr;
  // {integration}: vendor request latency, seconds.
  Family<Histogram>* request_duration = nullptr;
};

}  // namespace signal_host::metrics
