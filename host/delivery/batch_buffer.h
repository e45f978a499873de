// The events a worker has leased but not yet translated, and how the next Translate
// batch is cut from them: at most max_events events AND at most max_bytes of payload,
// so that a batch of large events stays far below the plugin channel's gRPC message
// limit (64 MiB, LoadOptions::max_message_bytes) whatever the vendor's batch size.
// An event that alone is over max_bytes is never put in a batch: it is handed back
// as oversized, for the worker to dead-letter (event_too_large).
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "host/delivery/work_items.h"

namespace signal_host::delivery {

struct BatchLimits {
  size_t max_events = 100;
  size_t max_bytes = 16u << 20;
};

class BatchBuffer {
 public:
  void PushBack(Item item);
  // Puts a batch's events back in front (a request given back before it was sent).
  void PushFront(Item item);

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  // Payload bytes buffered.
  size_t bytes() const { return bytes_; }
  const Item& front() const { return items_.front(); }

  // True when the next batch is as big as it may get: max_events events, or max_bytes
  // of payload (an oversized event counts, so it leaves at once).
  bool HasFullBatch(const BatchLimits& limits) const;
  // Takes the next batch off the front. Oversized events met on the way go to
  // `oversized` instead; the batch may then be empty.
  std::vector<Item> TakeBatch(const BatchLimits& limits, std::vector<Item>& oversized);
  // Takes everything (to give the leases back).
  std::vector<Item> TakeAll();

 private:
  std::deque<Item> items_;
  size_t bytes_ = 0;
};

}  // namespace signal_host::delivery
