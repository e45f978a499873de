// A plugin's catalog entry (from Describe) as Signal's catalog JSON.
#pragma once

#include <string>

#include "json_util.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_host::api {

// Writes one entry object: key, name, description, category, status, website,
// initials, brand_color, config_fields (with "default" typed by the field type and
// "options" for selects), variants (with default_config as an object),
// delivery_modes, event_mappings.
void WriteCatalogEntry(JsonWriter& writer, const signal::integration::v1::CatalogEntry& entry);

// True when `entry` matches the list filters: `category` exactly (empty: any) and
// `query` as a case-insensitive substring of key, name or description (empty: any).
bool CatalogEntryMatches(const signal::integration::v1::CatalogEntry& entry,
                         std::string_view category, std::string_view query);

}  // namespace signal_host::api
