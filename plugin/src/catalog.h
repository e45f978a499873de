// The catalog entry: parsed from catalog/hightouch.yaml, which the build embeds.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_hightouch {

// Parses a catalog YAML document. Errors name the line (1-based) and the field,
// e.g. "line 14: config_fields[1].type: expected one of string, secret, select, ...".
absl::StatusOr<signal::integration::v1::CatalogEntry> ParseCatalog(std::string_view yaml_text);

// The YAML text embedded at build time.
std::string_view EmbeddedCatalogYaml();

// The embedded catalog, parsed on first use and cached for the process.
absl::StatusOr<const signal::integration::v1::CatalogEntry*> EmbeddedCatalog();

}  // namespace signal_hightouch
