// Reading the event API's bodies: one canonical Signal event (/v1/t, /v1/p, /v1/i,
// /v1/g) or {"batch":[...]} (/v1/batch). The body is checked against the JSON rule
// (json_scanner.h, docs/API.md) in one pass, and each event's output is its own bytes,
// copied, with the host's fields spliced in (event_splice.h): `type` from the path, and
// `messageId` and `timestamp` when absent, null or empty. So numbers stay as written
// (integers beyond 2^53 survive), key order is kept, and escapes and whitespace inside
// the event's values are kept as sent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace signal_host::api {

struct IngestedEvent {
  size_t index = 0;  // position in the request (0 for a single event)
  std::string message_id;
  std::string type;
  std::string json;  // the canonical event, ready to queue
};

struct EventError {
  size_t index = 0;
  std::string code;  // invalid_event, invalid_field, missing_type, unsupported_type
  std::string message;
};

struct IngestResult {
  std::vector<IngestedEvent> events;
  std::vector<EventError> errors;
};

struct IngestOptions {
  // "track", "page", "identify" or "group" for the single-event paths; empty for a
  // batch, whose events must carry their own type.
  std::string path_type;
  size_t max_batch_events = 500;
  int64_t now_ms = 0;
  // Makes a fresh messageId (UUID v4).
  std::function<std::string()> new_message_id;
};

// Body-level problems are InvalidArgument, reported in this order: a body that breaks
// the JSON rule anywhere ("malformed JSON at byte N: ...", "JSON nests deeper than 64
// levels"), then a body of the wrong shape (not an object, no "batch" array, too many
// events). Problems with one event of a batch are EventErrors; a single-event body with
// a bad event is InvalidArgument.
absl::StatusOr<IngestResult> IngestEvents(std::string_view body, const IngestOptions& options);

// True for track, page, identify and group.
bool IsSignalEventType(std::string_view type);

}  // namespace signal_host::api
