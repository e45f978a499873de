#include "http_frontend.h"

#include <array>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "admin_service.h"
#include "api_types.h"
#include "event_service.h"
#include "host/metrics/metrics.h"
#include "log.h"
#include "request_target.h"

namespace signal_host::api {
namespace {

// ---- Responses ----------------------------------------------------------------------

class StreamAdapter : public http::BodyStream {
 public:
  explicit StreamAdapter(std::shared_ptr<ResponseStream> stream) : stream_(std::move(stream)) {}
  bool Next(std::string& chunk) override { return stream_->Next(chunk); }
  void Close() override { stream_->Close(); }

 private:
  std::shared_ptr<ResponseStream> stream_;
};

http::Response ToHttp(ApiResponse response) {
  http::Response out;
  out.status = response.status;
  out.content_type = std::move(response.content_type);
  for (auto& [name, value] : response.headers) out.SetHeader(std::move(name), std::move(value));
  if (response.stream) {
    out.stream = std::make_shared<StreamAdapter>(std::move(response.stream));
    return out;
  }
  if (out.content_type == "application/json") out.SetHeader("Cache-Control", "no-store");
  out.body = std::move(response.body);
  return out;
}

http::Response ErrorResponse(int status, std::string_view code, std::string_view message,
                             const std::vector<http::Header>& headers = {}) {
  ApiResponse error;
  SendError(error, status, code, message);
  http::Response out = ToHttp(std::move(error));
  for (const http::Header& header : headers) out.SetHeader(header.name, header.value);
  return out;
}

http::Admission Inline(http::Response response) {
  http::Admission admission =
      http::Admission::Accept([response = std::move(response)](std::string) { return response; });
  admission.inline_handler = true;
  return admission;
}

// ---- Routes ---------------------------------------------------------------------------

struct AdminRouteEntry {
  const char* method;
  const char* pattern;
  AdminRoute route;
};

constexpr AdminRouteEntry kAdminRoutes[] = {
    {"GET", "/v1/admin/integration-catalog", AdminRoute::kCatalogList},
    {"GET", "/v1/admin/integration-catalog/{}", AdminRoute::kCatalogGet},
    {"POST", "/v1/admin/integration-catalog/{}/install", AdminRoute::kCatalogInstall},
    {"GET", "/v1/admin/integrations", AdminRoute::kIntegrationsList},
    {"GET", "/v1/admin/integrations/{}", AdminRoute::kIntegrationGet},
    {"DELETE", "/v1/admin/integrations/{}", AdminRoute::kIntegrationDelete},
    {"GET", "/v1/admin/integrations/{}/revisions", AdminRoute::kRevisionsList},
    {"GET", "/v1/admin/integrations/{}/revisions/{}", AdminRoute::kRevisionGet},
    {"POST", "/v1/admin/integrations/{}/revisions", AdminRoute::kRevisionCreate},
    {"GET", "/v1/admin/dead-letters", AdminRoute::kDeadLettersList},
    {"POST", "/v1/admin/dead-letters/replay", AdminRoute::kDeadLettersReplay},
    {"GET", "/v1/admin/live-events", AdminRoute::kLiveEventsList},
    {"GET", "/v1/admin/live-events/stream", AdminRoute::kLiveEventsStream},
    {"GET", "/healthz", AdminRoute::kHealth},
    {"GET", "/readyz", AdminRoute::kReady},
    {"GET", "/metrics", AdminRoute::kMetrics},
};

struct EventRouteEntry {
  const char* pattern;
  const char* type;  // "" for a batch
  const char* endpoint;
};

constexpr EventRouteEntry kEventRoutes[] = {{"/v1/t", "track", "/v1/t"},
                                            {"/v1/p", "page", "/v1/p"},
                                            {"/v1/i", "identify", "/v1/i"},
                                            {"/v1/g", "group", "/v1/g"},
                                            {"/v1/batch", "", "/v1/batch"}};

http::Admission MethodNotAllowed(const http::RequestHead& head, std::string allow) {
  return http::Admission::Refuse(ErrorResponse(
      405, "METHOD_NOT_ALLOWED", absl::StrCat(head.method, " is not allowed here; use ", allow),
      {{"Allow", allow}}));
}

http::Admission NoRoute(const http::RequestHead& head, const RequestTarget& target) {
  return http::Admission::Refuse(ErrorResponse(
      404, "NOT_FOUND", absl::StrCat("no route for ", head.method, " ", target.path)));
}

std::optional<RequestTarget> ParseTarget(const http::RequestHead& head, http::Admission* refusal) {
  std::string error;
  std::optional<RequestTarget> target = ParseRequestTarget(head.target, &error);
  if (!target) *refusal = http::Admission::Refuse(ErrorResponse(400, "BAD_REQUEST", error));
  return target;
}

// FNV-1a: a content fingerprint for the ETag, not a security measure.
uint64_t Fingerprint(std::string_view data) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

struct ServedAsset {
  std::string_view data;
  std::string content_type;
  std::string etag;
};

// ---- The admin listener -----------------------------------------------------------------

class AdminHandler : public http::Handler {
 public:
  AdminHandler(AdminService* admin, const std::vector<StaticAsset>& assets) : admin_(admin) {
    for (const StaticAsset& asset : assets) {
      assets_[std::string(asset.name)] =
          ServedAsset{asset.data, std::string(ContentTypeFor(asset.name)),
                      absl::StrFormat("\"%016x\"", Fingerprint(asset.data))};
    }
  }

  http::Admission Admit(const http::RequestHead& head) override {
    http::Admission refusal;
    std::optional<RequestTarget> target = ParseTarget(head, &refusal);
    if (!target) return refusal;
    const bool get = head.method == "GET" || head.method == "HEAD";
    if (get && (target->segments.empty() ||
                (target->segments.size() == 1 && target->segments[0] == "index.html"))) {
      return Inline(Asset("index.html", head));
    }
    if (get && target->segments.size() == 2 && target->segments[0] == "ui") {
      return Inline(Asset(target->segments[1], head));
    }
    std::string allowed;
    for (const AdminRouteEntry& entry : kAdminRoutes) {
      std::vector<std::string> params;
      if (!MatchRoute(entry.pattern, target->segments, &params)) continue;
      // Both arms string_view: with a literal and a std::string the conditional would
      // make a temporary std::string, gone before `method` is read.
      const std::string_view method =
          head.method == "HEAD" ? std::string_view("GET") : std::string_view(head.method);
      if (method != entry.method) {
        absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", entry.method);
        continue;
      }
      ApiRequest request;
      request.method = std::string(method);
      request.path = target->path;
      request.path_params = std::move(params);
      request.query = std::move(target->query);
      request.authorization = std::string(head.HeaderValue("Authorization"));
      return Route(entry.route, std::move(request));
    }
    if (!allowed.empty()) return MethodNotAllowed(head, allowed);
    return NoRoute(head, *target);
  }

  http::Response Error(int status, std::string_view code, std::string_view message) override {
    return ErrorResponse(status, code, message);
  }

 private:
  http::Admission Route(AdminRoute route, ApiRequest request) {
    // Probes answer on the I/O thread: they never wait behind busy workers.
    if (route == AdminRoute::kHealth || route == AdminRoute::kReady) {
      return Inline(ToHttp(admin_->Handle(route, request)));
    }
    AdminAdmission admission = admin_->Admit(route, request);
    if (!admission.admitted) return http::Admission::Refuse(ToHttp(std::move(admission.refusal)));
    AdminService* admin = admin_;
    return http::Admission::Accept([admin, route, request = std::move(request),
                                    admission = std::move(admission)](std::string body) mutable {
      request.body = std::move(body);
      return ToHttp(admin->Handle(route, request, admission));
    });
  }

  http::Response Asset(const std::string& name, const http::RequestHead& head) const {
    auto it = assets_.find(name);
    if (it == assets_.end()) {
      return ErrorResponse(404, "NOT_FOUND",
                           name == "index.html" ? "this build has no Management UI"
                                                : absl::StrCat("no UI file ", name));
    }
    http::Response response;
    response.SetHeader("Cache-Control", "no-cache");
    response.SetHeader("ETag", it->second.etag);
    response.SetHeader("X-Content-Type-Options", "nosniff");
    if (head.HeaderValue("If-None-Match") == it->second.etag) {
      response.status = 304;
      return response;
    }
    response.content_type = it->second.content_type;
    response.body = std::string(it->second.data);
    return response;
  }

  AdminService* const admin_;
  std::map<std::string, ServedAsset, std::less<>> assets_;
};

// ---- The event listener -----------------------------------------------------------------

// Collectors post from the customer's web pages.
void AllowBrowsers(http::Response& response) {
  response.SetHeader("Access-Control-Allow-Origin", "*");
  response.SetHeader("Access-Control-Allow-Headers",
                     "Authorization, Content-Type, Content-Encoding");
  response.SetHeader("Access-Control-Allow-Methods", "POST, OPTIONS");
  response.SetHeader("Access-Control-Max-Age", "600");
}

class EventHandler : public http::Handler {
 public:
  explicit EventHandler(EventService* events) : events_(events) {}

  http::Admission Admit(const http::RequestHead& head) override {
    http::Admission admission = Decide(head);
    // Browsers post events from other origins: every refusal must be readable by them.
    if (admission.refusal) AllowBrowsers(*admission.refusal);
    return admission;
  }

  http::Response Error(int status, std::string_view code, std::string_view message) override {
    http::Response response = ErrorResponse(status, code, message);
    AllowBrowsers(response);
    return response;
  }

 private:
  http::Admission Decide(const http::RequestHead& head) {
    http::Admission refusal;
    std::optional<RequestTarget> target = ParseTarget(head, &refusal);
    if (!target) return refusal;
    std::vector<std::string> params;
    if (MatchRoute("/healthz", target->segments, &params)) {
      if (head.method != "GET" && head.method != "HEAD") return MethodNotAllowed(head, "GET");
      http::Response ok;
      ok.body = R"({"status":"ok"})";
      return Inline(std::move(ok));
    }
    for (const EventRouteEntry& entry : kEventRoutes) {
      if (!MatchRoute(entry.pattern, target->segments, &params)) continue;
      if (head.method == "OPTIONS") {
        http::Response preflight;
        preflight.status = 204;
        AllowBrowsers(preflight);
        return Inline(std::move(preflight));
      }
      if (head.method != "POST") return MethodNotAllowed(head, "POST, OPTIONS");
      return Route(entry, head);
    }
    return NoRoute(head, *target);
  }

  http::Admission Route(const EventRouteEntry& entry, const http::RequestHead& head) {
    const std::string endpoint = entry.endpoint;
    auto admission = std::make_shared<EventAdmission>(
        events_->Admit(endpoint, head.HeaderValue("Authorization")));
    if (admission->pipeline == nullptr) {
      http::Response refusal = ToHttp(std::move(admission->refusal));
      AllowBrowsers(refusal);
      return http::Admission::Refuse(std::move(refusal));
    }
    EventService* events = events_;
    std::string type = entry.type;
    return http::Admission::Accept(
        [events, type = std::move(type), endpoint, admission](std::string body) {
          http::Response response = ToHttp(events->Handle(type, endpoint, *admission, body));
          AllowBrowsers(response);
          return response;
        });
  }

  EventService* const events_;
};

// ---- Listener statistics as metrics ---------------------------------------------------

// Mirrors the listeners' counters into Prometheus families at every scrape.
class ListenerMetrics {
 public:
  using Source = std::pair<std::string, std::function<http::ServerStats()>>;

  ListenerMetrics(metrics::Registry* registry, std::vector<Source> sources)
      : registry_(registry), sources_(std::move(sources)), last_(sources_.size()) {
    auto open = registry->AddGauge("signal_http_connections_open",
                                   "Open connections per HTTP listener.", {"listener"});
    auto accepted = registry->AddCounter("signal_http_connections_accepted_total",
                                         "Connections accepted per HTTP listener.", {"listener"});
    auto refused = registry->AddCounter(
        "signal_http_refused_total",
        "Requests and connections an HTTP listener refused or cut off, by reason.",
        {"listener", "reason"});
    if (open.ok()) open_ = *open;
    if (accepted.ok()) accepted_ = *accepted;
    if (refused.ok()) refused_ = *refused;
    hook_ = registry->AddCollectHook([this] { Collect(); });
  }
  ~ListenerMetrics() { registry_->RemoveCollectHook(hook_); }

 private:
  void Collect() {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < sources_.size(); ++i) {
      const std::string& listener = sources_[i].first;
      const http::ServerStats now = sources_[i].second();
      const http::ServerStats& last = last_[i];
      if (open_ != nullptr) {
        open_->WithLabels({listener}).Set(static_cast<double>(now.connections_open));
      }
      if (accepted_ != nullptr) {
        accepted_->WithLabels({listener}).Inc(now.connections_accepted - last.connections_accepted);
      }
      if (refused_ != nullptr) {
        const std::array<std::pair<const char*, uint64_t>, 6> reasons = {{
            {"connection_limit", now.refused_connection_limit - last.refused_connection_limit},
            {"header_timeout", now.header_timeouts - last.header_timeouts},
            {"body_timeout", now.body_timeouts - last.body_timeouts},
            {"body_too_large", now.bodies_too_large - last.bodies_too_large},
            {"header_too_large", now.headers_too_large - last.headers_too_large},
            {"malformed", now.malformed_requests - last.malformed_requests},
        }};
        for (const auto& [reason, delta] : reasons) {
          refused_->WithLabels({listener, reason}).Inc(delta);
        }
      }
      last_[i] = now;
    }
  }

  metrics::Registry* const registry_;
  const std::vector<Source> sources_;
  metrics::Family<metrics::Gauge>* open_ = nullptr;
  metrics::Family<metrics::Counter>* accepted_ = nullptr;
  metrics::Family<metrics::Counter>* refused_ = nullptr;
  int hook_ = 0;
  std::mutex mu_;
  std::vector<http::ServerStats> last_;
};

}  // namespace

std::string_view ContentTypeFor(std::string_view name) {
  auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".json")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

http::ServerOptions FrontendOptions::DefaultAdminListener() {
  http::ServerOptions options;
  options.port = 8084;
  options.worker_threads = 16;
  options.io_threads = 1;
  options.max_connections = 1024;
  options.max_connections_per_client = 64;
  options.limits.max_body_bytes = 1 << 20;
  return options;
}

http::ServerOptions FrontendOptions::DefaultEventListener() {
  http::ServerOptions options;
  options.port = 8080;
  options.worker_threads = 32;
  options.io_threads = 2;
  options.max_connections = 10000;
  options.max_connections_per_client = 1024;
  options.max_streams = 0;  // the event API streams nothing
  options.limits.max_body_bytes = 512 * 1024;
  return options;
}

struct HttpFrontend::State {
  FrontendOptions options;
  std::unique_ptr<AdminHandler> admin_handler;
  std::unique_ptr<EventHandler> event_handler;
  std::unique_ptr<http::HttpServer> admin_server;
  std::unique_ptr<http::HttpServer> events_server;
  std::unique_ptr<ListenerMetrics> metrics;
  bool started = false;
  bool stopped = false;
};

HttpFrontend::HttpFrontend(FrontendOptions options, AdminService* admin, EventService* events)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = std::move(options);
  s.admin_handler = std::make_unique<AdminHandler>(admin, s.options.ui_assets);
  s.event_handler = std::make_unique<EventHandler>(events);
}

HttpFrontend::~HttpFrontend() { Stop(); }

int HttpFrontend::admin_port() const {
  return state_->admin_server ? state_->admin_server->port() : -1;
}
int HttpFrontend::events_port() const {
  return state_->events_server ? state_->events_server->port() : -1;
}

absl::Status HttpFrontend::Start() {
  State& s = *state_;
  auto prepare = [&](http::ServerOptions options, const char* name) {
    options.name = name;
    options.bind_address = s.options.bind_address;
    options.log = [](std::string_view line) { LogError(line); };
    return options;
  };
  s.admin_server =
      std::make_unique<http::HttpServer>(prepare(s.options.admin, "admin"), s.admin_handler.get());
  s.events_server =
      std::make_unique<http::HttpServer>(prepare(s.options.events, "event"), s.event_handler.get());
  if (absl::Status status = s.admin_server->Start(); !status.ok()) return status;
  if (absl::Status status = s.events_server->Start(); !status.ok()) {
    s.admin_server->Stop();
    return status;
  }
  s.started = true;
  if (s.options.registry != nullptr) {
    http::HttpServer* admin = s.admin_server.get();
    http::HttpServer* events = s.events_server.get();
    s.metrics = std::make_unique<ListenerMetrics>(
        s.options.registry,
        std::vector<ListenerMetrics::Source>{{"admin", [admin] { return admin->Stats(); }},
                                             {"event", [events] { return events->Stats(); }}});
  }
  return absl::OkStatus();
}

void HttpFrontend::Stop() {
  State& s = *state_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.metrics.reset();
  s.events_server->Stop();
  s.admin_server->Stop();
}

}  // namespace signal_host::api
