// JSON renderings that signal-plugin prints: Signal's snake_case catalog object, a
// merged config with its secrets masked, and plain proto messages.
#pragma once

#include <string>
#include <string_view>

#include "google/protobuf/message.h"
#include "google/protobuf/repeated_field.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_plugin_tool {

// The catalog entry as Signal's catalog JSON: variants' default_config is an object,
// a field's default_value is "default", options appear on select fields.
std::string CatalogEntryJson(const signal::integration::v1::CatalogEntry& entry);

// A proto message as a JSON object with the proto field names, every field present,
// 64-bit integers as numbers and enum values as lowercase names without their
// message prefix (Outcome UNREACHABLE -> "unreachable").
std::string MessageJson(const google::protobuf::Message& message, bool pretty);

// `config_json` with the value of every key in `secret_fields` replaced by "***"
// (empty values stay empty: nothing to hide). Text that is not a JSON object comes
// back as a JSON string so that nothing is lost.
std::string MaskedConfigJson(std::string_view config_json,
                             const google::protobuf::RepeatedPtrField<std::string>& secret_fields,
                             bool pretty);

// The JSON string literal for `text` (quoted and escaped).
std::string JsonString(std::string_view text);

// The lowercase name of an enum value (INVALID_API_KEY -> "invalid_api_key").
std::string EnumValueName(const google::protobuf::EnumValueDescriptor* value);

}  // namespace signal_plugin_tool
