// The two HTTP listeners: admin (Management API, UI, /metrics, /healthz, /readyz)
// and events (event API, /healthz), each a host/http server. Routes each request from
// its head alone, authenticates it before its body is read (AdminService::Admit,
// EventService::Admit), hands the body to the library-free services on a worker
// thread, and writes the server's own errors in Signal's JSON envelope.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "host/http/server.h"
#include "static_assets.h"

namespace signal_host::metrics {
class Registry;
}

namespace signal_host::api {

class AdminService;
class EventService;

struct FrontendOptions {
  std::string bind_address = "127.0.0.1";
  // Ports, threads and limits of each listener; name, bind_address and log are set by
  // the frontend. Port 0: any free port.
  http::ServerOptions admin = DefaultAdminListener();
  http::ServerOptions events = DefaultEventListener();
  std::vector<StaticAsset> ui_assets;
  metrics::Registry* registry = nullptr;  // listener statistics; may be null

  static http::ServerOptions DefaultAdminListener();
  static http::ServerOptions DefaultEventListener();
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
