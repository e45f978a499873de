// This file includes httplib.h and therefore must not include any generated
// protobuf header (see api_types.h).
#include "http_frontend.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "admin_service.h"
#include "api_types.h"
#include "event_service.h"
#include "httplib.h"
#include "log.h"

namespace signal_host::api {
namespace {

ApiRequest ToApiRequest(const httplib::Request& req) {
  ApiRequest request;
  request.method = req.method;
  request.path = req.path;
  for (size_t i = 1; i < req.matches.size(); ++i) request.path_params.push_back(req.matches[i]);
  for (const auto& [name, value] : req.params) request.query.emplace(name, value);
  request.authorization = req.get_header_value("Authorization");
  request.body = req.body;
  return request;
}

void Apply(ApiResponse response, httplib::Response& res) {
  res.status = response.status;
  for (auto& [name, value] : response.headers) res.set_header(name.c_str(), value);
  if (response.stream) {
    std::shared_ptr<ResponseStream> stream = std::move(response.stream);
    res.set_chunked_content_provider(
        response.content_type,
        [stream](size_t, httplib::DataSink& sink) {
          std::string chunk;
          if (!stream->Next(chunk)) {
            sink.done();
            return true;
          }
          if (chunk.empty()) return true;
          return sink.write(chunk.data(), chunk.size());
        },
        [stream](bool) { stream->Close(); });
    return;
  }
  if (response.status == 204 || response.status == 304) return;
  if (response.content_type == "application/json") res.set_header("Cache-Control", "no-store");
  res.set_content(std::move(response.body), response.content_type);
}

void Configure(httplib::Server& server, int threads, size_t max_body_bytes) {
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(max_body_bytes);
  // httplib's default sets SO_REUSEPORT, which would let a second host bind the same
  // port and silently take half the connections. SO_REUSEADDR alone still allows a
  // quick restart over connections in TIME_WAIT.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof(yes));
  });
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  server.set_keep_alive_max_count(100);
  server.set_keep_alive_timeout(5);
  // Without it Nagle holds each small response for the client's delayed ACK: a 44 ms
  // floor on every accept (measured by bench_e2e, docs/PERFORMANCE.md).
  server.set_tcp_nodelay(true);
  httplib::Server::HandlerWithResponse error_handler = [max_body_bytes](const httplib::Request& req,
                                                                        httplib::Response& res) {
    // Only responses httplib made itself: the services always fill a body.
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiResponse error;
    switch (res.status) {
      case 404:
        SendError(error, 404, "NOT_FOUND",
                  absl::StrCat("no route for ", req.method, " ", req.path));
        break;
      case 413:
        SendError(error, 413, "PAYLOAD_TOO_LARGE",
                  absl::StrCat("the request body is larger than the limit of ", max_body_bytes,
                               " bytes"));
        break;
      case 400:
        SendError(error, 400, "BAD_REQUEST", "the request could not be read");
        break;
      default:
        if (res.status >= 500) {
          SendError(error, res.status, "INTERNAL", "the request failed");
        } else {
          SendError(error, res.status, "BAD_REQUEST", "the request could not be served");
        }
    }
    res.set_content(error.body, error.content_type);
    return httplib::Server::HandlerResponse::Handled;
  };
  server.set_error_handler(error_handler);
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                  std::exception_ptr error) {
    std::string what = "unknown exception";
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    LogError(absl::StrCat("unhandled exception serving ", req.method, " ", req.path, ": ", what));
    ApiResponse failure;
    SendError(failure, 500, "INTERNAL", "the request failed inside the host; see its log");
    res.status = 500;
    res.set_content(failure.body, failure.content_type);
  });
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

void ServeAsset(const ServedAsset& asset, const httplib::Request& req, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", asset.etag);
  res.set_header("X-Content-Type-Options", "nosniff");
  if (req.get_header_value("If-None-Match") == asset.etag) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(asset.data.data(), asset.data.size(), asset.content_type.c_str());
}

void RegisterStaticAssets(httplib::Server& server, const std::vector<StaticAsset>& assets) {
  auto served = std::make_shared<std::map<std::string, ServedAsset, std::less<>>>();
  for (const StaticAsset& asset : assets) {
    (*served)[std::string(asset.name)] =
        ServedAsset{asset.data, std::string(ContentTypeFor(asset.name)),
                    absl::StrFormat("\"%016x\"", Fingerprint(asset.data))};
  }
  auto index = [served](const httplib::Request& req, httplib::Response& res) {
    auto it = served->find("index.html");
    if (it == served->end()) {
      ApiResponse missing;
      SendError(missing, 404, "NOT_FOUND", "this build has no Management UI");
      return Apply(std::move(missing), res);
    }
    ServeAsset(it->second, req, res);
  };
  server.Get("/", index);
  server.Get("/index.html", index);
  server.Get(R"(/ui/([A-Za-z0-9._-]+))",
             [served](const httplib::Request& req, httplib::Response& res) {
               std::string name = req.matches[1];
               auto it = served->find(name);
               if (it == served->end()) {
                 ApiResponse missing;
                 SendError(missing, 404, "NOT_FOUND", absl::StrCat("no UI file ", name));
                 return Apply(std::move(missing), res);
               }
               ServeAsset(it->second, req, res);
             });
}

void AllowBrowsers(httplib::Response& res) {
  // Collectors post from the customer's web pages.
  res.set_header("Access-Control-Allow-Origin", "*");
  res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
  res.set_header("Access-Control-Allow-Methods", "POST, OPTIONS");
  res.set_header("Access-Control-Max-Age", "600");
}

int Bind(httplib::Server& server, const std::string& address, int port) {
  if (port == 0) return server.bind_to_any_port(address);
  return server.bind_to_port(address, port) ? port : -1;
}

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

struct HttpFrontend::State {
  FrontendOptions options;
  AdminService* admin = nullptr;
  EventService* events = nullptr;
  httplib::Server admin_server;
  httplib::Server events_server;
  std::thread admin_thread;
  std::thread events_thread;
  int admin_port = -1;
  int events_port = -1;
  bool started = false;
  bool stopped = false;
};

HttpFrontend::HttpFrontend(FrontendOptions options, AdminService* admin, EventService* events)
    : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->admin = admin;
  state_->events = events;
}

HttpFrontend::~HttpFrontend() { Stop(); }

int HttpFrontend::admin_port() const { return state_->admin_port; }
int HttpFrontend::events_port() const { return state_->events_port; }

absl::Status HttpFrontend::Start() {
  State& s = *state_;
  Configure(s.admin_server, s.options.admin_threads, s.options.admin_max_body_bytes);
  Configure(s.events_server, s.options.events_threads, s.options.events_max_body_bytes);

  struct AdminRouteSpec {
    const char* method;
    const char* pattern;
    AdminRoute route;
  };
  static const AdminRouteSpec kAdminRoutes[] = {
      {"GET", "/v1/admin/integration-catalog", AdminRoute::kCatalogList},
      {"GET", R"(/v1/admin/integration-catalog/([^/]+))", AdminRoute::kCatalogGet},
      {"POST", R"(/v1/admin/integration-catalog/([^/]+)/install)", AdminRoute::kCatalogInstall},
      {"GET", "/v1/admin/integrations", AdminRoute::kIntegrationsList},
      {"GET", R"(/v1/admin/integrations/([^/]+))", AdminRoute::kIntegrationGet},
      {"DELETE", R"(/v1/admin/integrations/([^/]+))", AdminRoute::kIntegrationDelete},
      {"GET", R"(/v1/admin/integrations/([^/]+)/revisions)", AdminRoute::kRevisionsList},
      {"GET", R"(/v1/admin/integrations/([^/]+)/revisions/([^/]+))", AdminRoute::kRevisionGet},
      {"POST", R"(/v1/admin/integrations/([^/]+)/revisions)", AdminRoute::kRevisionCreate},
      {"GET", "/v1/admin/dead-letters", AdminRoute::kDeadLettersList},
      {"POST", "/v1/admin/dead-letters/replay", AdminRoute::kDeadLettersReplay},
      {"GET", "/v1/admin/live-events", AdminRoute::kLiveEventsList},
      {"GET", "/v1/admin/live-events/stream", AdminRoute::kLiveEventsStream},
      {"GET", "/healthz", AdminRoute::kHealth},
      {"GET", "/readyz", AdminRoute::kReady},
      {"GET", "/metrics", AdminRoute::kMetrics},
  };
  AdminService* admin = s.admin;
  for (const AdminRouteSpec& spec : kAdminRoutes) {
    AdminRoute route = spec.route;
    auto handler = [admin, route](const httplib::Request& req, httplib::Response& res) {
      Apply(admin->Handle(route, ToApiRequest(req)), res);
    };
    std::string method = spec.method;
    if (method == "GET") s.admin_server.Get(spec.pattern, handler);
    if (method == "POST") s.admin_server.Post(spec.pattern, handler);
    if (method == "DELETE") s.admin_server.Delete(spec.pattern, handler);
  }
  RegisterStaticAssets(s.admin_server, s.options.ui_assets);

  EventService* events = s.events;
  const std::pair<const char*, const char*> kEventRoutes[] = {{"/v1/t", "track"},
                                                              {"/v1/p", "page"},
                                                              {"/v1/i", "identify"},
                                                              {"/v1/g", "group"},
                                                              {"/v1/batch", ""}};
  for (const auto& [path, type] : kEventRoutes) {
    std::string event_type = type;
    std::string endpoint = path;
    s.events_server.Post(
        path, [events, event_type, endpoint](const httplib::Request& req, httplib::Response& res) {
          AllowBrowsers(res);
          Apply(events->Handle(event_type, endpoint, ToApiRequest(req)), res);
        });
    s.events_server.Options(path, [](const httplib::Request&, httplib::Response& res) {
      AllowBrowsers(res);
      res.status = 204;
    });
  }
  s.events_server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });

  s.admin_port = Bind(s.admin_server, s.options.bind_address, s.options.admin_port);
  if (s.admin_port < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", s.options.bind_address, ":",
                                               s.options.admin_port, " (admin API)"));
  }
  s.events_port = Bind(s.events_server, s.options.bind_address, s.options.events_port);
  if (s.events_port < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", s.options.bind_address, ":",
                                               s.options.events_port, " (event API)"));
  }
  s.admin_thread = std::thread([&s] { s.admin_server.listen_after_bind(); });
  s.events_thread = std::thread([&s] { s.events_server.listen_after_bind(); });
  s.started = true;
  // stop() only takes effect on a running server; wait until both run.
  while (!s.admin_server.is_running() || !s.events_server.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

void HttpFrontend::Stop() {
  State& s = *state_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.events_server.stop();
  s.admin_server.stop();
  if (s.events_thread.joinable()) s.events_thread.join();
  if (s.admin_thread.joinable()) s.admin_thread.join();
}

}  // namespace signal_host::api
