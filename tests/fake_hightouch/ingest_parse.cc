#include "ingest_parse.h"

#include <simdjson.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fake_hightouch::internal {
namespace {

namespace od = simdjson::ondemand;

// simdjson's default depth limit; events the plugin sends stay within it.
constexpr int kMaxDepth = 1024;

bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view TrimJsonSpace(std::string_view s) {
  while (!s.empty() && IsJsonSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsJsonSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar, checked on the raw token so that integers of any size pass
// (simdjson's number parsers refuse integers beyond 64 bits).
bool IsJsonNumber(std::string_view t) {
  size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  if (i >= t.size()) return false;
  if (t[i] == '0') {
    ++i;
  } else if (IsDigit(t[i])) {
    while (i < t.size() && IsDigit(t[i])) ++i;
  } else {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (i >= t.size() || !IsDigit(t[i])) return false;
    while (i < t.size() && IsDigit(t[i])) ++i;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (i >= t.size() || !IsDigit(t[i])) return false;
    while (i < t.size() && IsDigit(t[i])) ++i;
  }
  return i == t.size();
}

simdjson::error_code WalkValue(od::value value, int depth);

simdjson::error_code WalkObject(od::object object, int depth) {
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return error;
    od::value child;
    if (auto error = field.value().get(child)) return error;
    if (auto error = WalkValue(child, depth + 1)) return error;
  }
  return simdjson::SUCCESS;
}

// Visits every value below `value` so that the lazy parser checks all of it: strings and
// their escapes, literals, numbers, nesting.
simdjson::error_code WalkValue(od::value value, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      return WalkObject(object, depth);
    }
    case od::json_type::array: {
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element : array) {
        od::value child;
        if (auto error = element.get(child)) return error;
        if (auto error = WalkValue(child, depth + 1)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view text;
      return value.get_string().get(text);
    }
    case od::json_type::number: {
      const std::string_view token = value.raw_json_token();
      return IsJsonNumber(TrimJsonSpace(token)) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    }
    case od::json_type::boolean: {
      bool flag;
      return value.get_bool().get(flag);
    }
    case od::json_type::null: {
      bool is_null;
      if (auto error = value.is_null().get(is_null)) return error;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

// After a full walk, anything left in the document is trailing garbage.
bool HasTrailingContent(od::document& document) {
  return document.current_location().error() != simdjson::OUT_OF_BOUNDS;
}

absl::Status Malformed(const std::string& where, simdjson::error_code error) {
  return absl::InvalidArgumentError(
      absl::StrCat(where, "malformed JSON: ", simdjson::error_message(error)));
}

// The fields of an event the fake checks.
struct EventFields {
  bool has_type = false;
  std::string type;  // empty when not a string
  bool has_message_id = false;
  std::string message_id;
  bool has_identity = false;  // a userId or anonymousId that is a non-empty string or a number
};

// Walks the top-level object of one event, noting the fields above.
simdjson::error_code WalkEvent(od::object event, EventFields& fields) {
  for (auto field : event) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return error;
    od::value child;
    if (auto error = field.value().get(child)) return error;
    const bool is_type = key == "type";
    const bool is_message_id = key == "messageId";
    const bool is_identity = key == "userId" || key == "anonymousId";
    if (!is_type && !is_message_id && !is_identity) {
      if (auto error = WalkValue(child, 2)) return error;
      continue;
    }
    od::json_type type;
    if (auto error = child.type().get(type)) return error;
    if (type == od::json_type::string) {
      std::string_view text;
      if (auto error = child.get_string().get(text)) return error;
      if (is_type) {
        fields.has_type = true;
        fields.type = std::string(text);
      } else if (is_message_id) {
        fields.has_message_id = !text.empty();
        fields.message_id = std::string(text);
      } else if (!text.empty()) {
        fields.has_identity = true;
      }
      continue;
    }
    if (auto error = WalkValue(child, 2)) return error;
    if (is_type) fields.has_type = true;  // present but not a string: refused below
    if (is_identity && type == od::json_type::number) fields.has_identity = true;
  }
  return simdjson::SUCCESS;
}

// Parses one event whose text lies inside a buffer with at least SIMDJSON_PADDING readable
// bytes after it. `where` prefixes error messages ("" or "batch[3]: ").
absl::StatusOr<IngestEvent> ParseEvent(od::parser& parser, std::string_view text,
                                       size_t readable_after, const std::string& where,
                                       bool type_required, size_t max_event_bytes) {
  if (text.size() > max_event_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "event is ", text.size(), " bytes, over the ", max_event_bytes, "-byte limit"));
  }
  od::document document;
  if (auto error =
          parser.iterate(text.data(), text.size(), text.size() + readable_after).get(document)) {
    return Malformed(where, error);
  }
  od::object object;
  if (auto error = document.get_object().get(object)) {
    if (error == simdjson::INCORRECT_TYPE) {
      return absl::InvalidArgumentError(absl::StrCat(where, "an event must be a JSON object"));
    }
    return Malformed(where, error);
  }
  EventFields fields;
  if (auto error = WalkEvent(object, fields)) return Malformed(where, error);
  if (HasTrailingContent(document)) return Malformed(where, simdjson::TRAILING_CONTENT);

  if (fields.has_type && !IsEventType(fields.type)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "type must be one of track, page, identify, group, screen, alias"));
  }
  if (type_required && !fields.has_type) {
    return absl::InvalidArgumentError(absl::StrCat(where, "missing type"));
  }
  if (!fields.has_message_id) {
    return absl::InvalidArgumentError(absl::StrCat(where, "missing messageId"));
  }
  if (!fields.has_identity) {
    return absl::InvalidArgumentError(absl::StrCat(where, "missing userId or anonymousId"));
  }
  return IngestEvent{std::string(text), std::move(fields.message_id)};
}

// One parser per server thread: parsers keep their buffers between requests.
od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

}  // namespace

bool IsEventType(std::string_view type) {
  return type == "track" || type == "page" || type == "identify" || type == "group" ||
         type == "screen" || type == "alias";
}

absl::StatusOr<std::vector<IngestEvent>> ParseIngestBody(std::string_view body,
                                                         std::string_view implied_type,
                                                         size_t max_event_bytes) {
  const simdjson::padded_string padded(body);
  const std::string_view text(padded.data(), padded.size());
  const char* const buffer_end = padded.data() + padded.size() + simdjson::SIMDJSON_PADDING;
  od::parser& parser = ThreadParser();
  std::vector<IngestEvent> events;

  if (!implied_type.empty()) {
    const std::string_view event_text = TrimJsonSpace(text);
    if (event_text.empty()) return absl::InvalidArgumentError("malformed JSON: empty body");
    const size_t readable_after =
        static_cast<size_t>(buffer_end - (event_text.data() + event_text.size()));
    auto event = ParseEvent(parser, event_text, readable_after, "", false, max_event_bytes);
    if (!event.ok()) return event.status();
    events.push_back(*std::move(event));
    return events;
  }

  // First pass: check the envelope and cut out each batch item's bytes.
  std::vector<std::string_view> items;
  {
    od::document document;
    if (auto error = parser.iterate(padded).get(document)) return Malformed("", error);
    od::object envelope;
    if (auto error = document.get_object().get(envelope)) {
      if (error == simdjson::INCORRECT_TYPE) {
        return absl::InvalidArgumentError("the body must be a JSON object");
      }
      return Malformed("", error);
    }
    bool saw_batch = false;
    for (auto field : envelope) {
      std::string_view key;
      if (auto error = field.unescaped_key().get(key)) return Malformed("", error);
      od::value value;
      if (auto error = field.value().get(value)) return Malformed("", error);
      if (key != "batch") {
        if (auto error = WalkValue(value, 2)) return Malformed("", error);
        continue;
      }
      if (saw_batch) return absl::InvalidArgumentError("batch appears twice");
      saw_batch = true;
      od::json_type type;
      if (auto error = value.type().get(type)) return Malformed("", error);
      if (type != od::json_type::array) {
        if (auto error = WalkValue(value, 2)) return Malformed("", error);
        return absl::InvalidArgumentError("batch must be an array");
      }
      od::array batch;
      if (auto error = value.get_array().get(batch)) return Malformed("", error);
      for (auto element : batch) {
        const std::string where = absl::StrCat("batch[", items.size(), "]: ");
        od::value item;
        if (auto error = element.get(item)) return Malformed(where, error);
        od::json_type item_type;
        if (auto error = item.type().get(item_type)) return Malformed(where, error);
        if (item_type != od::json_type::object) {
          return absl::InvalidArgumentError(absl::StrCat(where, "an event must be a JSON object"));
        }
        od::object object;
        if (auto error = item.get_object().get(object)) return Malformed(where, error);
        std::string_view raw;
        if (auto error = object.raw_json().get(raw)) return Malformed(where, error);
        items.push_back(TrimJsonSpace(raw));
      }
    }
    if (HasTrailingContent(document)) return Malformed("", simdjson::TRAILING_CONTENT);
    if (!saw_batch) return absl::InvalidArgumentError("missing batch");
  }

  // Second pass: check each item completely (the first pass only skipped over them).
  events.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string_view item = items[i];
    const size_t readable_after = static_cast<size_t>(buffer_end - (item.data() + item.size()));
    auto event = ParseEvent(parser, item, readable_after, absl::StrCat("batch[", i, "]: "), true,
                            max_event_bytes);
    if (!event.ok()) return event.status();
    events.push_back(*std::move(event));
  }
  return events;
}

}  // namespace fake_hightouch::internal
