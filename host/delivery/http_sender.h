// An asynchronous HTTP client for vendor requests: one thread drives a libcurl multi
// handle. Connections are kept alive and reused across requests (the multi handle's
// connection cache), easy handles are recycled, TLS peers and host names are always
// verified, and at most `max_in_flight` requests are outstanding (Submit blocks
// beyond that). Shutdown() finishes the requests in flight before it returns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace signal_host::delivery {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HeaderList headers;
  std::string body;
  uint32_t connect_timeout_ms = 5000;
  // Whole-request limit, connection included. 0: no limit (not recommended).
  uint32_t timeout_ms = 30000;
};

struct HttpResponse {
  int32_t status = 0;              // 0: no HTTP response (see transport_error)
  HeaderList headers;              // of the final response, in order
  std::string body;                // at most Options::max_response_body_bytes
  bool body_truncated = false;
  uint64_t body_bytes_received = 0;
  std::string transport_error;     // refused, reset, timeout, TLS...; empty on a response
  bool timed_out = false;
  // True when Shutdown() gave up on the request at its drain deadline: the vendor
  // may or may not have received it.
  bool aborted = false;
  int64_t latency_us = 0;          // from the start of the transfer to its end
  uint32_t new_connections = 0;    // connections this request had to open (0: reused)
};

class HttpSender {
 public:
  struct Options {
    size_t max_in_flight = 64;
    size_t max_response_body_bytes = 64 * 1024;
    // Response headers beyond these limits are dropped.
    size_t max_response_headers = 100;
    size_t max_response_header_bytes = 16 * 1024;
    // Size of the connection cache (idle connections kept open).
    long max_cached_connections = 64;
    // Extra CA bundle (PEM) to trust, e.g. for a local TLS endpoint. Empty: the system's.
    std::string ca_file;
    std::string user_agent = "signal-delivery-host";
  };

  // Runs on the sender's thread; keep it short (hand the response to another thread).
  using Callback = absl::AnyInvocable<void(HttpResponse&&)>;

  static absl::StatusOr<std::unique_ptr<HttpSender>> Create(const Options& options);
  ~HttpSender();  // Shutdown() with the default drain timeout.
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  // Starts a request; `done` is called exactly once, on the sender's thread, when it
  // ends. Blocks while max_in_flight requests are outstanding. After Shutdown() has
  // begun it returns FailedPrecondition and `done` is not called.
  absl::Status Submit(HttpRequest request, Callback done);

  // Stops accepting requests, waits up to `drain_timeout` for those in flight, then
  // aborts the rest (their callbacks see aborted=true) and joins the thread.
  // Idempotent; returns once every callback has run.
  void Shutdown(absl::Duration drain_timeout = absl::Seconds(30));

  size_t in_flight() const;

  struct Stats {
    uint64_t requests_completed = 0;
    uint64_t connections_opened = 0;
  };
  Stats stats() const;

 private:
  struct Transfer;
  explicit HttpSender(const Options& options);
  absl::Status Init();
  void Run();
  void StartTransfer(std::unique_ptr<Transfer> transfer);
  void FinishTransfer(Transfer* transfer, int curl_code);
  void AbortAll();
  void* TakeEasyHandle();

  const Options options_;
  void* multi_ = nullptr;  // CURLM*
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable capacity_cv_;
  std::deque<std::unique_ptr<Transfer>> submitted_;  // waiting for the sender's thread
  size_t in_flight_ = 0;                             // submitted, callback not yet run
  bool stopping_ = false;
  bool joined_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;

  std::mutex shutdown_mu_;  // serialises Shutdown() callers

  // Owned by the sender's thread.
  std::vector<void*> idle_easy_handles_;  // CURL*
  std::unordered_map<void*, std::unique_ptr<Transfer>> active_;  // by CURL*

  std::atomic<uint64_t> requests_completed_{0};
  std::atomic<uint64_t> connections_opened_{0};
};

}  // namespace signal_host::delivery
