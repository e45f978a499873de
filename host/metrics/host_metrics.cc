#include "host/metrics/host_metrics.h"

namespace signal_host::metrics {

absl::StatusOr<std::unique_ptr<HostMetrics>> HostMetrics::Create(Registry& registry) {
  auto metrics = std::make_unique<HostMetrics>();
  metrics->registry = &registry;

  auto accepted = registry.AddCounter("signal_events_accepted_total",
                                      "Events durably queued for delivery.", {"integration"});
  if (!accepted.ok()) return accepted.status();
  metrics->events_accepted = *accepted;

  auto delivered = registry.AddCounter("signal_events_delivered_total",
                                       "Events the vendor accepted.", {"integration"});
  if (!delivered.ok()) return delivered.status();
  metrics->events_delivered = *delivered;

  auto rejected = registry.AddCounter("signal_events_rejected_total",
                                      "Events refused by the plugin or the vendor.",
                                      {"integration", "reason"});
  if (!rejected.ok()) return rejected.status();
  metrics->events_rejected = *rejected;

  auto dead = registry.AddCounter("signal_events_dead_lettered_total",
                                  "Events moved to dead letters.", {"integration", "reason"});
  if (!dead.ok()) return dead.status();
  metrics->events_dead_lettered = *dead;

  auto retries = registry.AddCounter("signal_delivery_retries_total",
                                     "Vendor requests whose events were scheduled for a retry.",
                                     {"integration", "status_class"});
  if (!retries.ok()) return retries.status();
  metrics->delivery_retries = *retries;

  auto depth = registry.AddGauge("signal_queue_depth", "Events waiting for delivery.",
                                 {"integration"});
  if (!depth.ok()) return depth.status();
  metrics->queue_depth = *depth;

  auto held = registry.AddGauge("signal_integrations_held",
                                "Integrations held after a setup failure.");
  if (!held.ok()) return held.status();
  metrics->integrations_held = *held;

  auto duration = registry.AddHistogram("signal_delivery_request_duration_seconds",
                                        "Latency of vendor delivery requests.", {"integration"},
                                        LatencyBucketsSeconds());
  if (!duration.ok()) return duration.status();
  metrics->request_duration = *duration;
  return metrics;
}

}  // namespace signal_host::metrics
