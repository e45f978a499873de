// A fake Hightouch for tests, the demo and benchmarks: a real HTTP server on loopback that
// speaks the Events ingest API (/v1/track ... /v1/batch), the one REST call the integration
// makes (GET /api/v1/sources/{id}), and a control plane under /_fake/ for inspecting what
// arrived and injecting faults. The fault language is documented in kFaultLanguageHelp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fake_hightouch {

// A REST-visible source: what GET /api/v1/sources/{id} answers for.
struct Source {
  std::string id;            // a number in JSON when it is all digits, else a string
  std::string workspace_id;  // a number in JSON when it is all digits, else a string
  std::string name;          // defaults to "HTTP Events <id>" when empty
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;                         // 0 picks a free port; see FakeHightouch::port()
  std::vector<std::string> write_keys;  // accepted ingest keys (HTTP Basic)
  std::vector<std::string> api_keys;    // accepted REST keys (Bearer)
  std::vector<Source> sources;
  size_t max_event_bytes = 32 * 1024;     // serialized size of one event
  size_t max_request_bytes = 500 * 1024;  // request body (after gzip decoding)
  // Events stored for AcceptedEvents() and /_fake/events (each one's full JSON); later ones
  // are only counted.
  size_t max_recorded_events = 1'000'000;
  // Distinct messageIds remembered for duplicate detection, independently of the stored
  // events (~20 bytes each); ids first seen beyond this many are not checked.
  size_t message_id_window = 1'000'000;
  // When set, the messageId of every accepted event is appended to this file, one a line
  // (line breaks in an id become spaces), by one write(2) per request before the request is
  // answered: the file survives a kill -9 of the fake and a restart appends to it, so a test
  // can count every delivery per id across restarts.
  std::string message_id_log_path;
  // REST requests allowed per API key (one key stands for one workspace) per window; 429 beyond.
  int rest_rate_limit = 200;
  std::chrono::milliseconds rest_rate_window{10'000};
  // Latency added to every ingest and REST answer, on top of any "latency_ms" fault.
  std::chrono::milliseconds base_latency{0};
  // Server worker threads: bounds concurrent connections being served (hung requests hold one).
  int worker_threads = 64;
};

struct Stats {
  std::map<int, uint64_t> requests_by_status;        // answered API requests by HTTP status
  std::map<std::string, uint64_t> requests_by_path;  // e.g. "/v1/batch", "/api/v1/sources/{id}"
  uint64_t events_accepted = 0;                      // events in 200-answered ingest requests
  uint64_t events_recorded = 0;        // of those, how many are stored (max_recorded_events)
  uint64_t duplicate_message_ids = 0;  // accepted events whose messageId was accepted before
                                       // (among the first message_id_window distinct ids)
  uint64_t bytes_received = 0;         // API request bodies, after gzip decoding
  uint64_t connections_reset = 0;      // requests dropped by "reset_connections"
  uint64_t requests_hung = 0;          // requests held by "hang"

  std::string ToJson() const;  // the body of GET /_fake/stats
};

// One API request as seen by the server (bounded history, newest last). The Authorization
// header is reduced to its scheme so that keys never leave the fake.
struct RequestRecord {
  std::string method;
  std::string path;
  int status = 0;  // 0 when the connection was reset or hung instead of answered
  size_t body_bytes = 0;
  size_t event_count = 0;                      // events recorded from this request
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body_prefix;                     // the first 4096 bytes of the body

  std::string ToJson() const;
};

// The fault language accepted by SetFaults() and POST /_fake/faults (shown by --help).
extern const char kFaultLanguageHelp[];

class FakeHightouch {
 public:
  explicit FakeHightouch(Options options);
  ~FakeHightouch();  // calls Stop()
  FakeHightouch(const FakeHightouch&) = delete;
  FakeHightouch& operator=(const FakeHightouch&) = delete;

  // Binds and starts serving on background threads. Fails if the address is unavailable.
  absl::Status Start();
  // Releases hung and delayed requests, closes open connections and joins all threads.
  // Idempotent.
  void Stop();

  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT", no trailing slash

  // Thread-safe views and controls; the same data as the /_fake/ endpoints.
  std::vector<std::string> AcceptedEvents() const;    // each event's JSON bytes as received
  std::vector<RequestRecord> RecentRequests() const;  // the last 256 API requests
  Stats GetStats() const;
  // Blocks until at least `count` events have been accepted or `timeout` passes.
  bool WaitForAcceptedEvents(uint64_t count, absl::Duration timeout) const;
  absl::Status SetFaults(std::string_view faults_json);  // replaces the current faults
  void ClearFaults();
  std::string FaultsJson() const;  // the body of GET /_fake/faults
  void Reset();                    // clears events, stats, request history, faults, rate limits

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fake_hightouch
