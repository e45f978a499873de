// Install-time config: merging variant defaults, validation, delivery settings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_hightouch {

// A merged, validated config in typed form, as Translate and CheckCredentials use it.
struct HightouchConfig {
  std::string api_key;
  std::string workspace_id;  // digits only ("ws-12345" is normalised to "12345")
  std::string source_id;     // as given by the operator
  std::string write_key;     // empty: api_key is the ingest credential
  std::string region = "us-east-1";

  // Delivery settings (keys of the variant's default_config).
  uint32_t batch_size = 100;
  uint32_t batch_interval_ms = 5000;
  double rate_limit_rps = 100;
  uint32_t rate_limit_burst = 200;
  uint32_t max_attempts = 5;
  uint32_t retry_window_hours = 24;
  std::string consent_category = "analytics";

  const std::string& ingest_key() const { return write_key.empty() ? api_key : write_key; }
};

// Hightouch's limits, shared by validation, translation and the delivery settings.
inline constexpr uint32_t kMaxEventBytes = 32 * 1024;       // per event record
inline constexpr uint32_t kMaxRequestBytes = 475000;        // per request body (vendor cap 500 KB)
inline constexpr uint32_t kMaxBatchSize = 500;              // events per request

// ValidateConfig: merges the variant's default_config under the user's config JSON,
// checks every field and fills the response (violations, merged config, secret
// field keys, delivery settings, variant). Never puts a secret value in a message.
// An empty variant means the first; empty config text means "{}". The merged config
// keeps the user's values as typed (normalisation happens in ParseMergedConfig), user
// keys first, then the defaults they did not set; JSON nulls take the default. The
// delivery settings are filled only when the config is valid.
signal::integration::v1::ValidateConfigResponse ValidateConfig(
    const signal::integration::v1::CatalogEntry& entry, std::string_view variant,
    std::string_view user_config_json);

// Reads a merged config (the output of ValidateConfig, as stored by the host) into
// typed form. Fails with the first violation when it is not valid.
absl::StatusOr<HightouchConfig> ParseMergedConfig(
    const signal::integration::v1::CatalogEntry& entry, std::string_view merged_config_json);

// The delivery settings for a typed config.
signal::integration::v1::DeliverySettings DeliverySettingsFor(const HightouchConfig& config);

}  // namespace signal_hightouch
