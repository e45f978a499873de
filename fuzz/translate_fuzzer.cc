// Fuzz target: canonical Signal events through the plugin's Translator.
//
// Input: events one per line (a JSON-lines file, so the Translate goldens are seeds).
// The events are translated under two valid configs (batches of 2 with consent
// category "analytics"; batches of 500, category "essential", a write key and another
// region), then once more under the first with the same Translator, which must give
// the same output: a Translator reuses its buffers between calls.
//
// Invariants: every event ends up in exactly one request or one rejection, accepted
// events in input order; each request holds 1..batch_size events, its body is valid
// JSON under Hightouch's request limit with every record under the event limit, and
// its message ids point into the body; rejections carry a known reason and UTF-8 text;
// an event that is not valid JSON is rejected as invalid_json.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "fuzz_check.h"
#include "json_scan.h"
#include "options.h"
#include "strict_json.h"
#include "translate.h"

namespace {

using signal_hightouch::HightouchConfig;
using signal_hightouch::PluginOptions;
using signal_hightouch::TranslateOutput;
namespace json = signal_hightouch::json;

constexpr int64_t kSentAtMs = 1772029801250;  // 2026-02-25T14:30:01.250Z

HightouchConfig SmallBatches() {
  HightouchConfig config;
  config.api_key = "fuzz-api-key";
  config.workspace_id = "12345";
  config.source_id = "src-1";
  config.batch_size = 2;
  return config;
}

HightouchConfig LargeBatches() {
  HightouchConfig config = SmallBatches();
  config.write_key = "fuzz-write-key";
  config.region = "eu-west-1";
  config.batch_size = signal_hightouch::kMaxBatchSize;
  config.consent_category = "essential";
  return config;
}

std::vector<std::string_view> SplitLines(std::string_view input) {
  std::vector<std::string_view> lines;
  for (;;) {
    const size_t newline = input.find('\n');
    lines.push_back(input.substr(0, newline));
    if (newline == std::string_view::npos) return lines;
    input.remove_prefix(newline + 1);
  }
}

// The byte size of each record of a body {"batch":[record,...],"sentAt":"..."}, read
// with the plugin's scanner (the body's validity is judged separately).
std::vector<size_t> RecordSizes(std::string_view body) {
  constexpr std::string_view kPrefix = R"({"batch":[)";
  FUZZ_CHECK(body.starts_with(kPrefix), body.substr(0, 200));
  json::Cursor cursor(body);
  cursor.p += kPrefix.size();
  std::vector<size_t> sizes;
  while (cursor.p < cursor.end && *cursor.p != ']') {
    const char* start = cursor.p;
    FUZZ_CHECK(json::ScanValue(cursor, 2), body.substr(0, 200));
    sizes.push_back(static_cast<size_t>(cursor.p - start));
    if (cursor.p < cursor.end && *cursor.p == ',') ++cursor.p;
  }
  return sizes;
}

bool IsKnownReason(std::string_view reason) {
  using namespace signal_hightouch;
  for (std::string_view known :
       {kReasonInvalidJson, kReasonMissingIdentity, kReasonMissingEventName, kReasonMissingGroupId,
        kReasonUnsupportedType, kReasonEventTooLarge, kReasonConsentDenied,
        kReasonInvalidTimestamp}) {
    if (reason == known) return true;
  }
  return false;
}

void CheckOutput(std::span<const std::string_view> events, const HightouchConfig& config,
                 const PluginOptions& options, const TranslateOutput& out) {
  const size_t batch_limit =
      std::clamp<size_t>(config.batch_size, 1, signal_hightouch::kMaxBatchSize);
  const std::string url = options.EventsBaseUrl(config.region) + "/v1/batch";
  std::vector<int> placed(events.size(), 0);
  int64_t last_accepted = -1;

  for (size_t r = 0; r < out.request_count; ++r) {
    const signal_hightouch::TranslatedRequest& request = out.requests[r];
    const size_t count = request.event_indexes.size();
    FUZZ_CHECK(count >= 1 && count <= batch_limit, std::to_string(count));
    FUZZ_CHECK(request.message_id_ranges.size() == count, "one message id per event");
    FUZZ_CHECK(request.url == url, request.url);
    FUZZ_CHECK(request.body.size() < signal_hightouch::kMaxRequestBytes,
               std::to_string(request.body.size()));
    const std::string error = signal_fuzz::StrictJsonError(request.body);
    FUZZ_CHECK(error.empty(), error + " in " + request.body.substr(0, 2000));
    const std::vector<size_t> records = RecordSizes(request.body);
    FUZZ_CHECK(records.size() == count, request.body.substr(0, 2000));
    for (size_t bytes : records) {
      FUZZ_CHECK(bytes <= signal_hightouch::kMaxEventBytes, std::to_string(bytes));
    }
    for (size_t e = 0; e < count; ++e) {
      const uint32_t index = request.event_indexes[e];
      FUZZ_CHECK(index < events.size(), std::to_string(index));
      FUZZ_CHECK(static_cast<int64_t>(index) > last_accepted, "accepted events out of order");
      last_accepted = index;
      ++placed[index];
      const auto [offset, length] = request.message_id_ranges[e];
      FUZZ_CHECK(length > 0 && offset > 0 && uint64_t{offset} + length < request.body.size(),
                 "message id range outside the body");
      FUZZ_CHECK(request.body[offset - 1] == '"' && request.body[offset + length] == '"',
                 "message id range is not a JSON string's content");
    }
  }
  for (size_t i = 0; i < out.rejection_count; ++i) {
    const signal_hightouch::TranslatedRejection& rejection = out.rejections[i];
    FUZZ_CHECK(rejection.event_index < events.size(), std::to_string(rejection.event_index));
    ++placed[rejection.event_index];
    FUZZ_CHECK(IsKnownReason(rejection.reason), rejection.reason);
    FUZZ_CHECK(!rejection.message.empty(), "a rejection without a message");
    // Both go into proto3 string fields, which must be UTF-8.
    FUZZ_CHECK(signal_fuzz::IsValidUtf8(rejection.message), rejection.message);
    FUZZ_CHECK(signal_fuzz::IsValidUtf8(rejection.message_id), rejection.message_id);
    const std::string json_error = signal_fuzz::StrictJsonError(events[rejection.event_index]);
    FUZZ_CHECK(json_error.empty() || rejection.reason == signal_hightouch::kReasonInvalidJson,
               std::string(rejection.reason) + " for an event that is not JSON: " + json_error);
  }
  for (size_t i = 0; i < events.size(); ++i) {
    FUZZ_CHECK(placed[i] == 1,
               "event " + std::to_string(i) + " placed " + std::to_string(placed[i]) + " times");
  }
}

void CheckSame(const TranslateOutput& a, const TranslateOutput& b) {
  FUZZ_CHECK(a.request_count == b.request_count && a.rejection_count == b.rejection_count,
             "a reused Translator gave a different output");
  for (size_t r = 0; r < a.request_count; ++r) {
    FUZZ_CHECK(a.requests[r].body == b.requests[r].body &&
                   a.requests[r].event_indexes == b.requests[r].event_indexes &&
                   a.requests[r].message_id_ranges == b.requests[r].message_id_ranges,
               "a reused Translator wrote a different request");
  }
  for (size_t i = 0; i < a.rejection_count; ++i) {
    FUZZ_CHECK(a.rejections[i].event_index == b.rejections[i].event_index &&
                   a.rejections[i].reason == b.rejections[i].reason &&
                   a.rejections[i].message == b.rejections[i].message &&
                   a.rejections[i].message_id == b.rejections[i].message_id,
               "a reused Translator gave a different rejection");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const PluginOptions options;
  static const HightouchConfig small_batches = SmallBatches();
  static const HightouchConfig large_batches = LargeBatches();
  static signal_hightouch::Translator translator;
  static TranslateOutput first, second, repeat;

  const std::vector<std::string_view> events = SplitLines(signal_fuzz::AsText(data, size));
  translator.Translate(small_batches, options, events, kSentAtMs, first);
  CheckOutput(events, small_batches, options, first);
  translator.Translate(large_batches, options, events, kSentAtMs, second);
  CheckOutput(events, large_batches, options, second);
  translator.Translate(small_batches, options, events, kSentAtMs, repeat);
  CheckSame(first, repeat);
  return 0;
}
