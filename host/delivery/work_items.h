// What a delivery worker carries between leasing an event and committing its
// outcome: the leased event, the vendor request the plugin made of a batch, and a
// request in flight. Plus the small questions asked of a group of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/store/delivery_queue.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_host::delivery {

struct Item {
  QueuedEvent event;
  std::string type;         // the event's "type", for attempt records
  int64_t ready_at_ms = 0;  // since when it has been ready to send (batching age)
};

// A vendor request translated from `items`, waiting for a window slot or a token.
struct Outgoing {
  std::vector<Item> items;  // in body order
  signal::integration::v1::HttpRequest request;
};

struct InFlight {
  std::vector<Item> items;
  std::vector<std::string> message_ids;
  std::string request_record;  // redacted, for the attempt record
  int64_t sent_at_ms = 0;
};

// The event's top-level "type" ("track", "page", ...), or "" when unreadable.
std::string EventTypeOf(std::string_view payload);

std::vector<int64_t> SeqsOf(const std::vector<Item>& items);
std::vector<std::string> MessageIdsOf(const std::vector<Item>& items);
// Comma-separated distinct event types, in first-seen order.
std::string DistinctTypes(const std::vector<Item>& items);
// The attempt number a new attempt at these events would have (highest wins).
uint32_t NextAttemptNumber(const std::vector<Item>& items);
// The same for the items at `indexes`, and their seqs.
uint32_t NextAttemptNumberAt(const std::vector<Item>& items, const std::vector<size_t>& indexes);
std::vector<int64_t> SeqsAt(const std::vector<Item>& items, const std::vector<size_t>& indexes);

// An attempt record for events that never reached the vendor (a rejection by the
// plugin or the engine, a failed Translate).
AttemptRecord LocalAttemptRecord(const std::string& integration_id, const std::vector<Item>& items,
                                 std::string outcome, std::string message, int64_t now_ms);

}  // namespace signal_host::delivery
