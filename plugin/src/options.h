// Plugin options: settings the loader (host or signal-plugin) gives the plugin when
// it creates the service. They are deployment facts, not per-install config: where
// Hightouch's APIs live (tests and the demo point them at the fake Hightouch) and
// how long a credential probe may take.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace signal_hightouch {

struct PluginOptions {
  // Events API base. "{region}" is replaced with the config's region.
  std::string events_base_url = "https://{region}.hightouch-events.com";
  // REST API base (the source lookup at install).
  std::string api_base_url = "https://api.hightouch.com";
  // Credential-probe timeouts. A probe never blocks longer than probe_timeout_ms.
  uint32_t probe_connect_timeout_ms = 5000;
  uint32_t probe_timeout_ms = 10000;
  // Verify TLS peers on probes (only a test may turn this off).
  bool tls_verify = true;

  // Parses key/value options; an unknown key or a bad value is an error naming it.
  // Keys: events_base_url, api_base_url, probe_connect_timeout_ms, probe_timeout_ms,
  // tls_verify (true/false).
  static absl::StatusOr<PluginOptions> FromKeyValues(
      const std::vector<std::pair<std::string, std::string>>& options);

  // The Events API base for a region, without a trailing slash.
  std::string EventsBaseUrl(std::string_view region) const;
};

}  // namespace signal_hightouch
