// The two HTTP listeners (cpp-httplib): admin (Management API, UI, /metrics,
// /healthz, /readyz) and events (event API, /healthz). Maps each route onto the
// library-free services, turns httplib's own errors (unknown path, body over the
// limit) into Signal's JSON envelope, and streams SSE responses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "static_assets.h"

namespace signal_host::api {

class AdminService;
class EventService;

struct FrontendOptions {
  std::string bind_address = "127.0.0.1";
  int admin_port = 8084;  // 0: any free port
  int events_port = 8080;
  int admin_threads = 16;
  int events_threads = 32;
  size_t admin_max_body_bytes = 1 << 20;
  size_t events_max_body_bytes = 512 * 1024;
  std::vector<StaticAsset> ui_assets;
};

class HttpFrontend {
 public:
  // The services must outlive the frontend.
  HttpFrontend(FrontendOptions options, AdminService* admin, EventService* events);
  ~HttpFrontend();  // Stop()
  HttpFrontend(const HttpFrontend&) = delete;
  HttpFrontend& operator=(const HttpFrontend&) = delete;

  // Binds both listeners and starts serving; returns once both accept connections.
  absl::Status Start();
  int admin_port() const;
  int events_port() const;
  // Stops accepting, lets requests in progress finish (streams end), joins. Idempotent.
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace signal_host::api
