// Dead letters as the admin API sees them: list, and replay into the queue. Events
// become dead letters through DeliveryQueue::DeadLetterEvents, which takes them out
// of the queue in the same step.
//
// Thread-safe. A replay is durable when it returns and is all or nothing. Retention
// is bounded and trimmed in amortised steps (up to 1/16 above the limit between
// trims). Lists are newest first; empty filters match everything; a cursor the store
// did not issue is InvalidArgument.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "host/store/page.h"

namespace signal_host {

struct DeadLetter {
  int64_t id = 0;  // assigned by the store, increasing
  std::string integration_id;
  std::string message_id;
  std::string payload;
  std::string reason;  // plugin reason code or classification code
  std::string message;
  int32_t last_status = 0;    // last vendor HTTP status (0: none)
  std::string last_response;  // truncated vendor response body
  uint32_t attempts = 0;
  int64_t created_at_ms = 0;
  bool replayed = false;
};

class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;

  virtual absl::StatusOr<PageResult<DeadLetter>> ListDeadLetters(std::string_view integration_id,
                                                                 std::string_view reason,
                                                                 const Page& page) = 0;
  // Re-queues dead letters (by id, or all matching integration/reason when ids is
  // empty) and marks them replayed. Returns how many were re-queued. Dead letters already
  // replayed, whose integration was deleted, or (with a non-empty org_id) whose
  // integration belongs to another org, are skipped. Re-queued events start again with
  // attempts 0, due now, after the events already queued.
  virtual absl::StatusOr<size_t> ReplayDeadLetters(std::string_view org_id,
                                                   std::string_view integration_id,
                                                   std::string_view reason,
                                                   std::span<const int64_t> ids) = 0;
};

}  // namespace signal_host
