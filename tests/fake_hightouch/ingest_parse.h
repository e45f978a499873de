// Validation of Events API request bodies for the fake Hightouch (internal to the fake).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fake_hightouch::internal {

// One event of an accepted request.
struct IngestEvent {
  // The event's bytes exactly as received (no surrounding space): a view into the body given to
  // ParseIngestBody, valid as long as that body is.
  std::string_view json;
  std::string message_id;  // unescaped
};

// The event types Hightouch's /v1/<type> paths and batch items use.
bool IsEventType(std::string_view type);

// Validates a request body for POST /v1/<implied_type>, or for /v1/batch when implied_type
// is empty, and returns its events in order. The whole body must be valid JSON (every value
// is checked, including numbers of any size); each event must be an object of at most
// max_event_bytes carrying a non-empty string messageId, a userId or anonymousId, and (in a
// batch) a type. On failure returns InvalidArgument with a message fit for the 400 body.
//
// Batches are first checked by a single-pass scanner that accepts only strict RFC 8259 JSON
// in the shapes the plugin sends; anything it does not accept (including every error) is
// decided by ParseIngestBodyWithSimdjson, so both give the same answer for every body.
absl::StatusOr<std::vector<IngestEvent>> ParseIngestBody(std::string_view body,
                                                         std::string_view implied_type,
                                                         size_t max_event_bytes);

// The fast path alone, exposed for tests: true, with the events, when it accepts a batch body
// (implied_type empty); false when the simdjson walk must decide.
bool ParseBatchFast(std::string_view body, size_t max_event_bytes,
                    std::vector<IngestEvent>& events);

// The same contract, always decided by a full simdjson walk: the reference ParseIngestBody's
// fast path is tested against, and the source of every error message.
absl::StatusOr<std::vector<IngestEvent>> ParseIngestBodyWithSimdjson(std::string_view body,
                                                                     std::string_view implied_type,
                                                                     size_t max_event_bytes);

}  // namespace fake_hightouch::internal
