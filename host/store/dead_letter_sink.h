// Where a delivery queue that keeps no dead letters of its own writes them: the Kafka
// queue (host/kafka) hands failed events here and moves its offsets past them
// only once this returns OK. DeadLetterStore (dead_letter_store.h) lists and replays
// what lands here.
//
// Thread-safe. Durable when it returns OK (PostgreSQL: committed; SQLite:
// synchronous=FULL). All or nothing. A dead letter is unique per (integration_id,
// message_id) among those not yet replayed: writing one again (a host died between
// this write and its offset commit, and the event came back) changes nothing, so a
// re-delivery never makes a second dead letter.
#pragma once

#include <span>

#include "absl/status/status.h"
#include "host/store/dead_letter_store.h"

namespace signal_host {

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;

  // Stores each letter; `id` and `replayed` are ignored, `created_at_ms` is set by
  // the sink when 0.
  virtual absl::Status AddDeadLetters(std::span<const DeadLetter> letters) = 0;
};

}  // namespace signal_host
