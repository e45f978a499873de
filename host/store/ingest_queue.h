// The delivery queue as the event API sees it: put events in, durably, for the
// integrations a request routes to, and read how deep each queue is (backpressure;
// the admin API shows it too). The delivery engine takes events out through
// DeliveryQueue (delivery_queue.h).
//
// Thread-safe. Enqueue returns only once the events are durable (on the disk, power
// loss included, with the SQLite store's synchronous=FULL), so an event API answer
// sent after it never acknowledges an event that could be lost.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace signal_host {

struct EnqueueItem {
  std::string_view integration_id;
  std::string_view message_id;
  std::string_view payload;  // canonical Signal event JSON
};

class IngestQueue {
 public:
  virtual ~IngestQueue() = default;

  // All items or none; an unknown integration id is NotFound. New events are due at
  // once. Concurrent callers may share one commit (the SQLite store's group commit).
  virtual absl::Status Enqueue(std::span<const EnqueueItem> items) = 0;
  // Events queued (leased or not); cheap enough to call per request. 0 for an
  // unknown id.
  virtual absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) = 0;
};

}  // namespace signal_host
