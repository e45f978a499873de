// The delivery-attempt log behind Live Events: one record per request sent to a
// vendor (or local rejection), with bounded retention. The delivery engine appends
// through DeliveryQueue, with the outcome the attempt explains; the admin API lists.
//
// Thread-safe. RecordAttempt returns once committed but without waiting for an fsync
// of its own: a power cut can lose the newest records, a process crash none.
// Retention is trimmed in amortised steps (up to 1/16 above the limit between
// trims). Lists are newest first; empty filters match everything; a cursor the log
// did not issue is InvalidArgument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/page.h"

namespace signal_host {

// One request sent to a vendor (or a local rejection), for Live Events.
struct AttemptRecord {
  int64_t id = 0;  // assigned by the log, increasing
  std::string integration_id;
  std::vector<std::string> message_ids;
  std::string event_types;  // comma-separated distinct Signal types in the request
  uint32_t attempt = 0;     // highest attempt number among its events
  int32_t http_status = 0;  // 0: no response
  int64_t latency_ms = 0;
  std::string outcome;   // delivered, transient, throttle, split, setup_failure, reject
  std::string request;   // method, url, headers (secrets redacted), truncated body
  std::string response;  // truncated response body or transport error
  std::string message;   // the plugin's classification message
  int64_t created_at_ms = 0;
};

class AttemptLog {
 public:
  virtual ~AttemptLog() = default;

  // Appends; sets attempt.id (and created_at_ms when 0).
  virtual absl::Status RecordAttempt(AttemptRecord& attempt) = 0;
  virtual absl::StatusOr<PageResult<AttemptRecord>> ListAttempts(std::string_view integration_id,
                                                                 std::string_view message_id,
                                                                 std::string_view outcome,
                                                                 const Page& page) = 0;
};

}  // namespace signal_host
