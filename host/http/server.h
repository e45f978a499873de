// A hardened HTTP/1.1 server for the host's listeners (admin API and event API), on
// Boost.Beast. It knows nothing about the APIs it serves: a Handler decides, from the
// request head alone, whether to read the body at all, and then answers on a worker
// thread. What it guarantees to every handler, whatever the client does:
//
//   - the head is complete within `header_timeout` of its first byte, and at most
//     `max_header_bytes` long (else 408 / 431, and the connection closes);
//   - the handler's admission (authentication) runs before any body byte is read;
//   - the body is cut off (413) as soon as the bytes read off the wire (chunk framing
//     included) or the decoded bytes (Content-Encoding gzip / deflate) pass their
//     limits, or the whole body decodes to more than `max_inflate_ratio` times its
//     wire size; a Content-Length above the limit is refused unread;
//   - the whole body arrives within `body_timeout`; an idle keep-alive connection is
//     closed after `idle_timeout`; a response not taken by the client within
//     `write_timeout` is abandoned;
//   - a slow client holds a socket, never a thread: reads and writes are asynchronous
//     on a few I/O threads, handlers run on a separate worker pool;
//   - at most `max_connections` connections, and `max_connections_per_client` from one
//     address (503 beyond, with the connection closed);
//   - the accept backlog is `backlog`, and accept errors (out of descriptors) back off.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace signal_host::http {

// Per-request limits of one listener.
struct Limits {
  size_t max_header_bytes = 16 * 1024;
  // Body bytes after Content-Encoding is undone: what the handler receives.
  size_t max_body_bytes = 512 * 1024;
  // Body bytes as read off the wire, chunk framing included. 0: max_body_bytes plus an
  // eighth for framing, plus 4 KiB.
  size_t max_wire_body_bytes = 0;
  // Decoded bytes per wire byte allowed for a compressed body, judged on the whole
  // body (bodies that decode to 64 KiB or less are not judged on their ratio).
  double max_inflate_ratio = 100;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{5000};
  std::chrono::milliseconds write_timeout{10000};
  // After an answer that leaves a body unread (refused before or while reading it),
  // how long and how much of the rest is read and dropped before closing, so that the
  // client sees the answer instead of a reset.
  std::chrono::milliseconds linger_timeout{2000};
  size_t linger_bytes = 1 << 20;
  size_t max_requests_per_connection = 1000;

  size_t WireBodyLimit() const {
    return max_wire_body_bytes != 0 ? max_wire_body_bytes
                                    : max_body_bytes + max_body_bytes / 8 + 4096;
  }
};

struct ServerOptions {
  std::string name = "http";  // names the listener in logs and statistics
  std::string bind_address = "127.0.0.1";
  int port = 0;  // 0: any free port
  int backlog = 4096;
  int io_threads = 1;
  int worker_threads = 16;
  size_t max_connections = 4096;
  size_t max_connections_per_client = 256;  // 0: no per-client cap
  // Streamed responses (Server-Sent Events) each hold a thread while open.
  size_t max_streams = 8;
  Limits limits;
  // How long Stop() waits for requests being handled and streams to finish.
  std::chrono::milliseconds drain_timeout{10000};
  // Operational log lines (accept failures); empty: stderr.
  std::function<void(std::string_view)> log;
};

struct Header {
  std::string name;  // as sent
  std::string value;
};

// What is known before the body: method, target, headers, peer.
struct RequestHead {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // path and query as sent, still percent-encoded
  std::vector<Header> headers;
  std::string peer_address;
  bool has_body = false;  // Content-Length > 0 or chunked

  // The first value of a header (case-insensitive), or "" when absent.
  std::string_view HeaderValue(std::string_view name) const;
};

// A response body produced over time (Server-Sent Events), sent chunked.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // Waits briefly for more output and appends it to `chunk` (possibly nothing).
  // Returns false once the stream has ended.
  virtual bool Next(std::string& chunk) = 0;
  // Called once when the response is finished, the client has gone or the server stops.
  virtual void Close() = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<Header> headers;
  std::shared_ptr<BodyStream> stream;  // when set, replaces `body`
  bool close = false;                  // close the connection after this response

  void SetHeader(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
  }
};

// Runs on a worker thread with the decoded body.
using BodyHandler = std::function<Response(std::string body)>;

struct Admission {
  // Set: answer with it and never read the body.
  std::optional<Response> refusal;
  // Otherwise: the body is read (within `max_body_bytes`, when lower than the
  // listener's limit) and handed to `handler`.
  BodyHandler handler;
  size_t max_body_bytes = 0;  // 0: the listener's limit
  // Answers that must not wait behind the worker pool (health checks): run on the
  // I/O thread. Only for handlers that never block.
  bool inline_handler = false;

  static Admission Refuse(Response response) {
    Admission admission;
    admission.refusal = std::move(response);
    return admission;
  }
  static Admission Accept(BodyHandler handler) {
    Admission admission;
    admission.handler = std::move(handler);
    return admission;
  }
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on an I/O thread once the head is read, before any body byte: route,
  // authenticate, decide. Must not block.
  virtual Admission Admit(const RequestHead& head) = 0;
  // The server's own answers (400, 408, 413, 415, 431, 500, 503) in the API's format.
  virtual Response Error(int status, std::string_view code, std::string_view message) = 0;
};

// Counters since start, for /metrics and tests.
struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t refused_connection_limit = 0;  // max_connections or per-client cap
  uint64_t header_timeouts = 0;
  uint64_t body_timeouts = 0;
  uint64_t idle_closes = 0;
  uint64_t bodies_too_large = 0;
  uint64_t headers_too_large = 0;
  uint64_t malformed_requests = 0;
  uint64_t requests = 0;
  uint64_t accept_errors = 0;
};

class HttpServer {
 public:
  // `handler` must outlive the server.
  HttpServer(ServerOptions options, Handler* handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; returns once connections are accepted.
  absl::Status Start();
  int port() const;
  // Stops accepting, lets requests being handled finish (within drain_timeout), ends
  // streams, closes every connection and joins the threads. Idempotent.
  void Stop();
  ServerStats Stats() const;

  class Core;  // shared with the connections; defined in server_core.h

 private:
  std::unique_ptr<Core> core_;
};

}  // namespace signal_host::http
