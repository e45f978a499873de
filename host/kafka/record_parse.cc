#include "host/kafka/record_parse.h"

#include <simdjson.h>

namespace signal_host::kafka {

ParsedRecord ParseRecord(std::string_view value,
                         std::optional<std::string_view> header_message_id) {
  ParsedRecord result;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  // The DOM parser validates the whole document, not only the fields it reads.
  if (parser.parse(value.data(), value.size(), /*realloc_if_needed=*/true).get(root) !=
      simdjson::SUCCESS) {
    result.error = "the record's value is not valid JSON";
    return result;
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    result.error = "the record's value is not a JSON object";
    return result;
  }
  if (header_message_id.has_value() && !header_message_id->empty()) {
    result.message_id.assign(*header_message_id);
  } else {
    std::string_view id;
    if (object["messageId"].get_string().get(id) != simdjson::SUCCESS || id.empty()) {
      result.error = "the record has no message_id header and its value no string messageId";
      return result;
    }
    result.message_id.assign(id);
  }
  result.valid = true;
  return result;
}

}  // namespace signal_host::kafka
