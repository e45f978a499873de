// What the Kafka delivery queue needs from a consumed record: its messageId, and
// whether its value is an event at all. Record format: see kafka_ingest_queue.h.
//
// Stateless and thread-safe (a parser per thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace signal_host::kafka {

struct ParsedRecord {
  bool valid = false;
  std::string message_id;  // when valid: from the header, else from the value
  std::string error;       // when not valid: why, for the dead letter
};

// The value must be one JSON object. Its messageId is the "message_id" header when
// present and non-empty, else the value's top-level string "messageId"; a record with
// neither is not valid.
ParsedRecord ParseRecord(std::string_view value, std::optional<std::string_view> header_message_id);

}  // namespace signal_host::kafka
