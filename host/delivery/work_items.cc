#include "host/delivery/work_items.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"

namespace signal_host::delivery {

std::string EventTypeOf(std::string_view payload) {
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string buffer;
  buffer.reserve(payload.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(payload);
  simdjson::ondemand::document document;
  if (parser.iterate(buffer.data(), payload.size(), buffer.capacity()).get(document)) return "";
  std::string_view type;
  if (document["type"].get_string().get(type)) return "";
  return std::string(type);
}

std::vector<int64_t> SeqsOf(const std::vector<Item>& items) {
  std::vector<int64_t> seqs;
  seqs.reserve(items.size());
  for (const Item& item : items) seqs.push_back(item.event.seq);
  return seqs;
}

std::vector<std::string> MessageIdsOf(const std::vector<Item>& items) {
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (const Item& item : items) ids.push_back(item.event.message_id);
  return ids;
}

std::string DistinctTypes(const std::vector<Item>& items) {
  std::vector<absl::string_view> types;
  for (const Item& item : items) {
    if (item.type.empty()) continue;
    if (std::find(types.begin(), types.end(), item.type) == types.end()) {
      types.push_back(item.type);
    }
  }
  return absl::StrJoin(types, ",");
}

uint32_t NextAttemptNumber(const std::vector<Item>& items) {
  uint32_t attempt = 0;
  for (const Item& item : items) attempt = std::max(attempt, item.event.attempts + 1);
  return attempt;
}

uint32_t NextAttemptNumberAt(const std::vector<Item>& items, const std::vector<size_t>& indexes) {
  uint32_t attempt = 0;
  for (size_t index : indexes) attempt = std::max(attempt, items[index].event.attempts + 1);
  return attempt;
}

std::vector<int64_t> SeqsAt(const std::vector<Item>& items, const std::vector<size_t>& indexes) {
  std::vector<int64_t> seqs;
  seqs.reserve(indexes.size());
  for (size_t index : indexes) seqs.push_back(items[index].event.seq);
  return seqs;
}

AttemptRecord LocalAttemptRecord(const std::string& integration_id, const std::vector<Item>& items,
                                 std::string outcome, std::string message, int64_t now_ms) {
  AttemptRecord attempt;
  attempt.integration_id = integration_id;
  attempt.message_ids = MessageIdsOf(items);
  attempt.event_types = DistinctTypes(items);
  attempt.attempt = NextAttemptNumber(items);
  attempt.outcome = std::move(outcome);
  attempt.message = std::move(message);
  attempt.created_at_ms = now_ms;
  return attempt;
}

}  // namespace signal_host::delivery
