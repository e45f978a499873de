// The Management API (docs/API.md): integration catalog and install, integrations
// and revisions, dead letters, live events (list and SSE stream), plus /metrics,
// /healthz and /readyz. Every /v1/admin route authenticates a HS256 JWT, applies the
// per-user rate limit, then checks the role's permission.
//
// HTTP-library free (see api_types.h); http_frontend.cc maps routes onto Handle().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api_types.h"
#include "attempt_hub.h"
#include "host/auth/jwt.h"
#include "host/metrics/metrics.h"
#include "host/store/attempt_log.h"
#include "host/store/config_store.h"
#include "host/store/dead_letter_store.h"
#include "host/store/ingest_queue.h"
#include "integration_directory.h"

namespace signal_host::daemon {
class PluginRegistry;
}
namespace signal_host::delivery {
class DeliveryEngine;
}

namespace signal_host::api {

enum class AdminRoute {
  kCatalogList,        // GET  /v1/admin/integration-catalog
  kCatalogGet,         // GET  /v1/admin/integration-catalog/{key}
  kCatalogInstall,     // POST /v1/admin/integration-catalog/{key}/install
  kIntegrationsList,   // GET  /v1/admin/integrations
  kIntegrationGet,     // GET  /v1/admin/integrations/{id}
  kIntegrationDelete,  // DELETE /v1/admin/integrations/{id}
  kRevisionsList,      // GET  /v1/admin/integrations/{id}/revisions
  kRevisionGet,        // GET  /v1/admin/integrations/{id}/revisions/{n}
  kRevisionCreate,     // POST /v1/admin/integrations/{id}/revisions
  kDeadLettersList,    // GET  /v1/admin/dead-letters
  kDeadLettersReplay,  // POST /v1/admin/dead-letters/replay
  kLiveEventsList,     // GET  /v1/admin/live-events
  kLiveEventsStream,   // GET  /v1/admin/live-events/stream
  kHealth,             // GET  /healthz
  kReady,              // GET  /readyz
  kMetrics,            // GET  /metrics
};

struct AdminServiceOptions {
  std::string jwt_secret;
  int rate_limit_per_minute = 100;
  // Deadlines of the plugin calls made while serving a request.
  std::chrono::milliseconds validate_timeout{10000};
  std::chrono::milliseconds credentials_timeout{30000};
  // How often an idle live-event stream sends a keep-alive comment.
  std::chrono::milliseconds stream_keepalive{15000};
  // Each open live-event stream holds one of the listener's threads; beyond this many
  // a new stream is refused (503) so the API stays responsive.
  int max_live_streams = 8;
};

struct AdminServiceDeps {
  ConfigStore* configs = nullptr;
  DeadLetterStore* dead_letters = nullptr;
  AttemptLog* attempts = nullptr;  // Live Events' list
  IngestQueue* queue = nullptr;    // queue depths shown with each integration
  const daemon::PluginRegistry* plugins = nullptr;
  IntegrationDirectory* directory = nullptr;
  delivery::DeliveryEngine* engine = nullptr;  // may be null (no delivery)
  AttemptHub* hub = nullptr;
  metrics::Registry* registry = nullptr;
  // True once start-up finished and until shutdown begins.
  const std::atomic<bool>* ready = nullptr;
  // Reachability of the database and brokers in the scale-out mode (for /readyz);
  // empty: nothing beyond the local store to check.
  std::function<absl::Status()> backend_health;
  // Runs after an install, revision or delete was applied to the directory and the
  // engine (the daemon updates its Kafka subscriptions there); may be empty.
  std::function<void(std::string_view integration_id)> after_change;
};

// What admission found out before the body was read.
struct AdminAdmission {
  bool admitted = false;
  ApiResponse refusal;  // when not admitted
  Claims caller;        // when admitted to a guarded route
  std::chrono::steady_clock::time_point start;
};

class AdminService {
 public:
  AdminService(AdminServiceOptions options, AdminServiceDeps deps);
  ~AdminService();
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  // Before the body is read: authenticates, rate-limits and authorises (JWT and
  // in-memory checks only; never blocks). `head` has no body.
  AdminAdmission Admit(AdminRoute route, const ApiRequest& head);
  // With the body, after a successful Admit.
  ApiResponse Handle(AdminRoute route, const ApiRequest& request, const AdminAdmission& admission);
  // Both steps at once.
  ApiResponse Handle(AdminRoute route, const ApiRequest& request);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace signal_host::api
