// Signal's event API: POST /v1/t, /v1/p, /v1/i, /v1/g (one event) and /v1/batch,
// authenticated by a pipeline key. Events are queued durably for every integration
// the pipeline routes to before the answer goes out.
//
// HTTP-library free (see api_types.h); http_frontend.cc maps routes onto Handle().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api_types.h"
#include "host/metrics/host_metrics.h"
#include "host/store/ingest_queue.h"
#include "integration_directory.h"

namespace signal_host::delivery {
class DeliveryEngine;
}

namespace signal_host::api {

struct PipelineRoute {
  std::string name;
  std::string key;  // the Bearer key
  std::string org_id;
  // Integration names; empty means every integration of the org that is not disabled.
  std::vector<std::string> integrations;
};

struct EventServiceOptions {
  std::vector<PipelineRoute> pipelines;
  size_t max_batch_events = 500;
  // Backpressure: while any integration a request routes to has this many events
  // queued or more, the request is refused (503 QUEUE_FULL, Retry-After: 1) and nothing
  // is queued. 0: no limit.
  size_t max_queue_depth = 5000000;
};

struct EventServiceDeps {
  IngestQueue* queue = nullptr;  // where accepted events go, and their depth
  IntegrationDirectory* directory = nullptr;
  delivery::DeliveryEngine* engine = nullptr;   // Notify after each enqueue; may be null
  metrics::HostMetrics* metrics = nullptr;      // may be null
  std::function<std::string()> new_message_id;  // UUID v4
};

// What admission found out before the body was read: who sends, and where the
// events will go.
struct EventAdmission {
  const PipelineRoute* pipeline = nullptr;  // null: refused, see `refusal`
  ApiResponse refusal;
  std::shared_ptr<const IntegrationDirectory::Snapshot> snapshot;  // owns `targets`
  std::vector<const DirectoryEntry*> targets;
};

class EventService {
 public:
  EventService(EventServiceOptions options, EventServiceDeps deps);

  // Before the body is read: authenticates the pipeline key and refuses at once when
  // a target queue is full, so that a refused request costs no body. Never blocks.
  EventAdmission Admit(const std::string& endpoint, std::string_view authorization);

  // With the body, after a successful Admit. `type` is track, page, identify or group
  // for the single-event paths, "" for /v1/batch; `endpoint` labels the request metric.
  ApiResponse Handle(const std::string& type, const std::string& endpoint,
                     const EventAdmission& admission, std::string_view body);

 private:
  const PipelineRoute* Authenticate(std::string_view authorization, ApiResponse& res) const;
  // False (with the 503 answer in `res`) when one of `targets` is at the queue limit.
  bool QueuesHaveRoom(const std::vector<const DirectoryEntry*>& targets, ApiResponse& res) const;
  void Count(const std::string& endpoint, int status);

  const EventServiceOptions options_;
  const EventServiceDeps deps_;
  metrics::Family<metrics::Counter>* requests_ = nullptr;
};

}  // namespace signal_host::api
