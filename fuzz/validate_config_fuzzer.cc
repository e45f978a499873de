// Fuzz target: an operator's config JSON through ValidateConfig, against the embedded
// catalog entry and its first variant.
//
// Invariants: never crashes; `valid` exactly when there is no violation; every
// violation has a code and a message; every string is UTF-8 (proto3); a merged config
// is valid JSON. For a valid config: ParseMergedConfig reads the merged config and gives
// the same delivery settings, which stay within Hightouch's limits, and validating the
// merged config again is valid and changes nothing (a stored config never drifts).
#include <cstdint>
#include <string>
#include <string_view>

#include "catalog.h"
#include "config.h"
#include "fuzz_check.h"
#include "proto_utf8.h"
#include "strict_json.h"

namespace {

namespace v1 = signal::integration::v1;

void CheckResponse(const v1::ValidateConfigResponse& response) {
  FUZZ_CHECK(response.valid() == (response.violations_size() == 0), response.DebugString());
  for (const v1::FieldViolation& violation : response.violations()) {
    FUZZ_CHECK(!violation.code().empty() && !violation.message().empty(), violation.DebugString());
  }
  const std::string not_utf8 = signal_fuzz::FirstInvalidUtf8Field(response);
  FUZZ_CHECK(not_utf8.empty(), not_utf8);
  if (!response.merged_config_json().empty()) {
    const std::string error = signal_fuzz::StrictJsonError(response.merged_config_json());
    FUZZ_CHECK(error.empty(), error + " in " + response.merged_config_json());
  }
}

void CheckValid(const v1::CatalogEntry& entry, const v1::ValidateConfigResponse& response) {
  const std::string& merged = response.merged_config_json();
  auto parsed = signal_hightouch::ParseMergedConfig(entry, merged);
  FUZZ_CHECK(parsed.ok(), std::string(parsed.status().message()) + " for " + merged);
  const v1::DeliverySettings settings = signal_hightouch::DeliverySettingsFor(*parsed);
  FUZZ_CHECK(settings.SerializeAsString() == response.delivery().SerializeAsString(),
             settings.DebugString() + " vs " + response.delivery().DebugString());
  FUZZ_CHECK(settings.max_events_per_request() >= 1 &&
                 settings.max_events_per_request() <= signal_hightouch::kMaxBatchSize,
             settings.DebugString());
  FUZZ_CHECK(settings.max_bytes_per_request() <= signal_hightouch::kMaxRequestBytes &&
                 settings.max_event_bytes() <= signal_hightouch::kMaxEventBytes,
             settings.DebugString());

  const v1::ValidateConfigResponse again =
      signal_hightouch::ValidateConfig(entry, response.variant(), merged);
  FUZZ_CHECK(again.valid(), again.DebugString() + " for " + merged);
  FUZZ_CHECK(again.merged_config_json() == merged, again.merged_config_json() + " vs " + merged);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const v1::CatalogEntry* const entry = *signal_hightouch::EmbeddedCatalog();
  const v1::ValidateConfigResponse response =
      signal_hightouch::ValidateConfig(*entry, "", signal_fuzz::AsText(data, size));
  CheckResponse(response);
  if (response.valid()) CheckValid(*entry, response);
  return 0;
}
