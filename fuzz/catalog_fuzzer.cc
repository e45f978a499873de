// Fuzz target: catalog YAML through ParseCatalog (yaml-cpp plus the plugin's checks).
//
// Invariants: never throws or crashes; an error message is UTF-8; an accepted entry has
// only UTF-8 strings, each variant's defaults are valid JSON, and ValidateConfig runs
// against it (empty config and a typical one) without crashing and with UTF-8 output.
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

constexpr std::string_view kTypicalConfig =
    R"({"api_key":"fuzz-api-key","workspace_id":"ws-12345","source_id":"src-1",)"
    R"("region":"eu-west-1","batch_size":50})";

void CheckValidation(const v1::CatalogEntry& entry, std::string_view config) {
  const v1::ValidateConfigResponse response = signal_hightouch::ValidateConfig(entry, "", config);
  const std::string not_utf8 = signal_fuzz::FirstInvalidUtf8Field(response);
  FUZZ_CHECK(not_utf8.empty(), not_utf8);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto entry = signal_hightouch::ParseCatalog(signal_fuzz::AsText(data, size));
  if (!entry.ok()) {
    const std::string message(entry.status().message());
    FUZZ_CHECK(!message.empty() && signal_fuzz::IsValidUtf8(message), message);
    return 0;
  }
  const std::string not_utf8 = signal_fuzz::FirstInvalidUtf8Field(*entry);
  FUZZ_CHECK(not_utf8.empty(), not_utf8);
  for (const v1::Variant& variant : entry->variants()) {
    const std::string error = signal_fuzz::StrictJsonError(variant.default_config_json());
    FUZZ_CHECK(error.empty(), error + " in " + variant.default_config_json());
  }
  CheckValidation(*entry, "{}");
  CheckValidation(*entry, kTypicalConfig);
  return 0;
}
