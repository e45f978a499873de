#include "host/kafka/record_parse.h"

#include <simdjson.h>

#include <string>

namespace signal_host::kafka {

// The value is read with simdjson's on-demand API: only its top level is walked and
// no number is converted, so an event the plugin accepts (integers beyond 64 bits
// included, kept byte for byte) is never refused here. Nested values and trailing
// bytes are not checked in depth: the plugin's Translate applies the full JSON rule
// and dead-letters what breaks it with its own reason.
ParsedRecord ParseRecord(std::string_view value,
                         std::optional<std::string_view> header_message_id) {
  ParsedRecord result;
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string padded;
  padded.reserve(value.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(value);
  const char* const kInvalid = "the record's value is not valid JSON";
  simdjson::ondemand::document document;
  if (parser.iterate(padded.data(), value.size(), padded.capacity()).get(document) !=
      simdjson::SUCCESS) {
    result.error = kInvalid;
    return result;
  }
  simdjson::ondemand::json_type type;
  if (document.type().get(type) != simdjson::SUCCESS) {
    result.error = kInvalid;
    return result;
  }
  if (type != simdjson::ondemand::json_type::object) {
    result.error = "the record's value is not a JSON object";
    return result;
  }
  simdjson::ondemand::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    result.error = kInvalid;
    return result;
  }
  std::string value_id;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      result.error = kInvalid;
      return result;
    }
    if (key != "messageId") continue;  // the loop skips the value
    std::string_view id;
    if (field.value().get_string().get(id) == simdjson::SUCCESS) value_id.assign(id);
  }
  if (header_message_id.has_value() && !header_message_id->empty()) {
    result.message_id.assign(*header_message_id);
  } else if (!value_id.empty()) {
    result.message_id = std::move(value_id);
  } else {
    result.error = "the record has no message_id header and its value no string messageId";
    return result;
  }
  result.valid = true;
  return result;
}

}  // namespace signal_host::kafka
