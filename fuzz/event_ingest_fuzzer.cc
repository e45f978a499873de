// Fuzz target: event API request bodies through IngestEvents (host/api/event_ingest.h),
// read once as a /v1/batch body and once as a single /v1/t (track) body.
//
// Invariants: never crashes; a refused body is InvalidArgument with a UTF-8 message;
// a batch holds no more events than allowed, a single body one, each reported once; an
// accepted event is valid JSON (an independent judge) that the plugin's scanner accepts
// too, so nothing the event API acknowledges is later dead-lettered as invalid JSON,
// with a Signal type and a UTF-8 messageId; refusals carry a known code and UTF-8 text.
// (Raw bodies only: the decoded-body target comes with the streaming decoder.)
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event_ingest.h"
#include "fuzz_check.h"
#include "json_scan.h"
#include "strict_json.h"

namespace {

using signal_host::api::IngestOptions;
using signal_host::api::IngestResult;
namespace json = signal_hightouch::json;

constexpr size_t kMaxBatchEvents = 50;

IngestOptions Options(std::string path_type) {
  IngestOptions options;
  options.path_type = std::move(path_type);
  options.max_batch_events = kMaxBatchEvents;
  options.now_ms = 1772029800123;  // 2026-02-25T14:30:00.123Z
  options.new_message_id = [] { return std::string("00000000-0000-4000-8000-000000000000"); };
  return options;
}

// The plugin's scanner on a whole event, as Translate reads it.
std::string PluginScanError(std::string_view event) {
  json::Cursor cursor(event);
  json::SkipSpace(cursor);
  if (cursor.AtEnd()) return "empty";
  if (!json::ScanValue(cursor, 0)) {
    return std::string(cursor.error.what) + " at byte " + std::to_string(cursor.error.offset);
  }
  json::SkipSpace(cursor);
  return cursor.AtEnd() ? std::string() : "text after the event";
}

bool IsKnownCode(std::string_view code) {
  return code == "invalid_event" || code == "invalid_field" || code == "missing_type" ||
         code == "unsupported_type";
}

void Check(std::string_view body, const IngestOptions& options) {
  const absl::StatusOr<IngestResult> result = signal_host::api::IngestEvents(body, options);
  if (!result.ok()) {
    FUZZ_CHECK(result.status().code() == absl::StatusCode::kInvalidArgument,
               result.status().ToString());
    FUZZ_CHECK(signal_fuzz::IsValidUtf8(std::string(result.status().message())),
               result.status().ToString());
    return;
  }
  const size_t total = result->events.size() + result->errors.size();
  FUZZ_CHECK(total <= kMaxBatchEvents, std::to_string(total));
  if (!options.path_type.empty()) FUZZ_CHECK(total == 1, std::to_string(total));
  std::vector<int> seen(total, 0);
  for (const auto& event : result->events) {
    FUZZ_CHECK(event.index < total, std::to_string(event.index));
    ++seen[event.index];
    const std::string error = signal_fuzz::StrictJsonError(event.json);
    FUZZ_CHECK(error.empty(), error + " in accepted event " + event.json.substr(0, 2000));
    const std::string plugin_error = PluginScanError(event.json);
    FUZZ_CHECK(plugin_error.empty(), "the plugin's scanner refuses an accepted event (" +
                                         plugin_error + "): " + event.json.substr(0, 2000));
    FUZZ_CHECK(signal_host::api::IsSignalEventType(event.type), event.type);
    FUZZ_CHECK(options.path_type.empty() || event.type == options.path_type, event.type);
    FUZZ_CHECK(!event.message_id.empty() && signal_fuzz::IsValidUtf8(event.message_id),
               event.message_id);
  }
  for (const auto& error : result->errors) {
    FUZZ_CHECK(error.index < total, std::to_string(error.index));
    ++seen[error.index];
    FUZZ_CHECK(IsKnownCode(error.code), error.code);
    FUZZ_CHECK(!error.message.empty() && signal_fuzz::IsValidUtf8(error.message), error.message);
  }
  for (size_t i = 0; i < total; ++i) {
    FUZZ_CHECK(seen[i] == 1,
               "event " + std::to_string(i) + " reported " + std::to_string(seen[i]) + " times");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const IngestOptions batch = Options("");
  static const IngestOptions track = Options("track");
  const std::string_view body = signal_fuzz::AsText(data, size);
  Check(body, batch);
  Check(body, track);
  return 0;
}
