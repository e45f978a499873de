// fake-hightouch: the fake Hightouch as a standalone server, for the demo, benchmarks and
// manual testing. See --help.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "fake_hightouch.h"

namespace {

constexpr char kUsage[] = R"USAGE(Usage: fake-hightouch [flags]

A fake Hightouch Events API and REST API for tests, the demo and benchmarks. Prints
"listening on http://HOST:PORT" as its first line once it accepts connections, and runs
until SIGINT or SIGTERM.

FLAGS
  --port N                  Port to listen on; 0 (default) picks a free one.
  --host ADDR               Address to bind (default 127.0.0.1).
  --write-key KEY           Accept this ingest write key (repeatable).
  --api-key KEY             Accept this REST API key (repeatable).
  --source ID:WORKSPACE[:NAME]
                            A source GET /api/v1/sources/ID knows (repeatable).
  --max-event-bytes N       Largest accepted event, serialized (default 32768).
  --max-request-bytes N     Largest accepted request body (default 512000).
  --max-recorded-events N   Events stored (full JSON) for /_fake/events; later ones are
                            only counted (default 1000000).
  --message-id-window N     Distinct messageIds remembered for duplicate detection
                            (duplicate_message_ids), about 20 bytes each; ids first
                            seen beyond this many are not checked (default 1000000).
  --message-id-log FILE     Append the messageId of every accepted event to FILE, one a
                            line, before answering (survives kill -9; a restart appends).
  --rest-rate-limit N       REST requests allowed per API key per 10 s (default 200).
  --latency-ms N            Delay added to every ingest and REST answer (default 0).
  --threads N               Server worker threads, i.e. connections served at once
                            (default 64).
  --faults JSON             Initial fault set (see FAULTS).
  --help                    Show this text.

INGEST (Hightouch Events API)
  POST /v1/track, /v1/page, /v1/identify, /v1/group, /v1/screen, /v1/alias
      One event per request; the path gives its type.
  POST /v1/batch (alias /v1/b)
      {"batch":[event, ...], "sentAt": ...}. An empty batch answers 200 and records
      nothing (a credential probe).
  Auth: "Authorization: Basic base64(WRITE_KEY:)" (the key without the colon works too);
  a missing or unknown key answers 401. A "Content-Encoding: gzip" body is decoded
  first; the limits apply to the decoded bytes.
  400 for: a Content-Type other than application/json, a body over --max-request-bytes,
  malformed JSON, "batch" not an array, an event over --max-event-bytes, an event
  without a non-empty string messageId, without userId or anonymousId, or (in a batch)
  without a valid type. One bad event fails the whole request. Success answers 200 {}
  and records each event's bytes as received.

REST (Hightouch REST API)
  GET /api/v1/sources/{id} with "Authorization: Bearer API_KEY"
      401 {"message":"Authentication error","details":...} for a missing or unknown key,
      429 beyond --rest-rate-limit, 404 for an unknown id, else 200 with the source
      ({"id","name","slug","workspaceId","type":"http_events",...}).

CONTROL PLANE (no auth)
  GET    /_fake/healthz    200 {"status":"ok"}
  GET    /_fake/events     accepted events, one JSON document per line, in arrival order
  GET    /_fake/requests   the last 256 API requests (method, path, status, headers with
                           the Authorization value reduced to its scheme, body prefix)
  GET    /_fake/stats      requests_by_status, requests_by_path, events_accepted,
                           events_recorded, duplicate_message_ids, bytes_received,
                           connections_reset, requests_hung
  GET    /_fake/faults     the current fault set and its progress
  POST   /_fake/faults     replace the fault set (body: JSON below); 400 if invalid
  DELETE /_fake/faults     clear the fault set
  POST   /_fake/reset      clear events, stats, request history, faults and rate limits

)USAGE";

bool ParseSize(const std::string& text, size_t* out) {
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return false;
  *out = static_cast<size_t>(value);
  return true;
}

bool ParseInt(const std::string& text, int* out, int min) {
  return absl::SimpleAtoi(text, out) && *out >= min;
}

int Fail(std::string_view message) {
  std::cerr << "fake-hightouch: " << message << " (see --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  fake_hightouch::Options options;
  std::string initial_faults;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage << fake_hightouch::kFaultLanguageHelp;
      return 0;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return Fail(flag + " needs a value");
      value = args[++i];
    }
    int latency_ms = 0;
    if (flag == "--port") {
      if (!ParseInt(value, &options.port, 0) || options.port > 65535) {
        return Fail("--port must be 0-65535");
      }
    } else if (flag == "--host") {
      options.host = value;
    } else if (flag == "--write-key") {
      options.write_keys.push_back(value);
    } else if (flag == "--api-key") {
      options.api_keys.push_back(value);
    } else if (flag == "--source") {
      std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(':', 2));
      if (parts.size() < 2 || parts[0].empty() || parts[1].empty()) {
        return Fail("--source must be ID:WORKSPACE[:NAME]");
      }
      options.sources.push_back({parts[0], parts[1], parts.size() > 2 ? parts[2] : ""});
    } else if (flag == "--max-event-bytes") {
      if (!ParseSize(value, &options.max_event_bytes)) return Fail("bad --max-event-bytes");
    } else if (flag == "--max-request-bytes") {
      if (!ParseSize(value, &options.max_request_bytes)) return Fail("bad --max-request-bytes");
    } else if (flag == "--max-recorded-events") {
      if (!ParseSize(value, &options.max_recorded_events)) {
        return Fail("bad --max-recorded-events");
      }
    } else if (flag == "--message-id-window") {
      if (!ParseSize(value, &options.message_id_window)) return Fail("bad --message-id-window");
    } else if (flag == "--message-id-log") {
      options.message_id_log_path = value;
    } else if (flag == "--rest-rate-limit") {
      if (!ParseInt(value, &options.rest_rate_limit, 0)) return Fail("bad --rest-rate-limit");
    } else if (flag == "--latency-ms") {
      if (!ParseInt(value, &latency_ms, 0)) return Fail("bad --latency-ms");
      options.base_latency = std::chrono::milliseconds(latency_ms);
    } else if (flag == "--threads") {
      if (!ParseInt(value, &options.worker_threads, 2)) return Fail("--threads must be >= 2");
    } else if (flag == "--faults") {
      initial_faults = value;
    } else {
      return Fail("unknown flag " + flag);
    }
  }

  // Signals are taken synchronously below; block them before any server thread exists.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  fake_hightouch::FakeHightouch server(std::move(options));
  if (!initial_faults.empty()) {
    if (absl::Status status = server.SetFaults(initial_faults); !status.ok()) {
      return Fail(std::string(status.message()));
    }
  }
  if (absl::Status status = server.Start(); !status.ok()) {
    std::cerr << "fake-hightouch: " << status.message() << "\n";
    return 1;
  }
  std::cout << "listening on " << server.base_url() << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  server.Stop();
  return 0;
}
