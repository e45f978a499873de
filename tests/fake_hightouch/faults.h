// The fake Hightouch's fault language (internal to the fake): parsing and display.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fake_hightouch::internal {

enum class FaultTarget { kIngest, kRest, kAll };

// A parsed fault set; kFaultLanguageHelp (fake_hightouch.h) documents each field.
struct FaultSpec {
  FaultTarget target = FaultTarget::kIngest;
  std::vector<int> statuses;  // answered in order by the next requests; 200 = behave normally
  bool repeat = false;        // cycle through statuses forever
  std::optional<std::string> retry_after;             // sent verbatim with injected 429/503
  std::optional<int64_t> retry_after_http_date_in_s;  // HTTP-date this far ahead, per answer
  int64_t latency_ms = 0;
  bool hang = false;
  int64_t reset_connections = 0;
  std::vector<std::string> poison_message_ids;

  bool AppliesTo(FaultTarget endpoint) const {
    return target == FaultTarget::kAll || target == endpoint;
  }
};

// Parses a fault set. An empty object (or empty text) means no faults. Unknown keys and
// wrong types are errors (InvalidArgument, with a message naming the key).
absl::StatusOr<FaultSpec> ParseFaults(std::string_view json);

// The spec as JSON (only the fields that differ from "no faults"), plus progress counters
// when given: how many statuses were used and how many resets are left.
std::string FaultsToJson(const FaultSpec& spec, uint64_t statuses_used,
                         int64_t reset_connections_left);

// Appends `text` as a JSON string literal (quotes included). UTF-8 passes through.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace fake_hightouch::internal
