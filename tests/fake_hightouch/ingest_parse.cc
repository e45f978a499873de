#include "ingest_parse.h"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  return IngestEvent{text, std::move(fields.message_id)};
}

// One parser per server thread: parsers keep their buffers between requests.
od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

// ---- The fast path -------------------------------------------------------------------------
// A single pass over the body that validates strict RFC 8259 JSON and cuts out the batch's
// events, without simdjson's per-value overhead (a full On-Demand walk costs several times
// more). It only ever answers "accepted, with these events" or "not sure": every body it does
// not accept, valid or not, goes to the simdjson walk, which gives the answer and the error
// message. So it must never accept what the walk refuses; it is stricter wherever being exact
// would take more code: escaped keys among the fields it reads, escaped type or messageId
// values, a repeated type or messageId, lone surrogate escapes, and nesting beyond
// kFastMaxDepth all go to the walk.
namespace fast {

// Containers nested inside one member value; the plugin's events stay far below this.
constexpr int kFastMaxDepth = 128;

bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The value of four hex digits at p, or -1.
int HexQuad(const char* p) {
  int value = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    if (!IsHexDigit(c)) return -1;
    value = value * 16 + (IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return value;
}

const char* SkipSpace(const char* p, const char* end) {
  while (p < end && IsJsonSpace(*p)) ++p;
  return p;
}

bool IsStringSpecial(char c) {
  return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
}

// The first quote, backslash or control character in [p, end), or end.
const char* FindStringSpecial(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i last_control = _mm_set1_epi8(0x1f);
  while (end - p >= 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i is_control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, last_control), chunk);
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)), is_control);
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && !IsStringSpecial(*p)) ++p;
  return p;
}

// Scans the string whose opening quote is at p; returns the position after its closing quote,
// or nullptr. `contents` gets the raw text between the quotes, `escaped` whether it has escapes.
// UTF-8 validity is checked once for the whole body, not here.
const char* ScanString(const char* p, const char* end, std::string_view* contents,
                       bool* escaped) {
  const char* const begin = ++p;
  bool has_escape = false;
  while (true) {
    p = FindStringSpecial(p, end);
    if (p == end) return nullptr;
    if (*p == '"') break;
    if (*p != '\\') return nullptr;  // an unescaped control character
    has_escape = true;
    if (end - p < 2) return nullptr;
    switch (p[1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p += 2;
        break;
      case 'u': {
        if (end - p < 6) return nullptr;
        const int unit = HexQuad(p + 2);
        if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff)) return nullptr;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // Only a complete surrogate pair is taken here.
          if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return nullptr;
          const int low = HexQuad(p + 8);
          if (low < 0xdc00 || low > 0xdfff) return nullptr;
          p += 12;
        } else {
          p += 6;
        }
        break;
      }
      default:
        return nullptr;
    }
  }
  if (contents != nullptr) *contents = std::string_view(begin, static_cast<size_t>(p - begin));
  if (escaped != nullptr) *escaped = has_escape;
  return p + 1;
}

// RFC 8259 number at p; returns the position after it, or nullptr.
const char* ScanNumber(const char* p, const char* end) {
  if (p < end && *p == '-') ++p;
  if (p == end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (IsDigit(*p)) {
    while (++p < end && IsDigit(*p)) {
    }
  } else {
    return nullptr;
  }
  if (p < end && *p == '.') {
    if (++p == end || !IsDigit(*p)) return nullptr;
    while (++p < end && IsDigit(*p)) {
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !IsDigit(*p)) return nullptr;
    while (++p < end && IsDigit(*p)) {
    }
  }
  return p;
}

const char* ScanLiteral(const char* p, const char* end, std::string_view literal) {
  if (static_cast<size_t>(end - p) < literal.size() ||
      std::string_view(p, literal.size()) != literal) {
    return nullptr;
  }
  return p + literal.size();
}

// A member's key (at p, after any space) and colon; returns the start of its value.
const char* ScanKeyAndColon(const char* p, const char* end, std::string_view* key,
                            bool* escaped) {
  if (p == end || *p != '"') return nullptr;
  p = ScanString(p, end, key, escaped);
  if (p == nullptr) return nullptr;
  p = SkipSpace(p, end);
  if (p == end || *p != ':') return nullptr;
  return SkipSpace(p + 1, end);
}

// Validates the value starting at p (no leading space); returns the position after it, or
// nullptr. A follower that is not a delimiter ("1x", "truex") is left for the caller's
// grammar, which refuses it.
const char* ScanValue(const char* p, const char* end) {
  bool in_object[kFastMaxDepth];
  int depth = 0;
  while (true) {
    // p is at the start of a value.
    if (p == end) return nullptr;
    bool opened = false;
    switch (*p) {
      case '{':
      case '[': {
        const bool is_object = *p == '{';
        p = SkipSpace(p + 1, end);
        if (p < end && *p == (is_object ? '}' : ']')) {
          ++p;  // empty: a complete value
          break;
        }
        if (depth == kFastMaxDepth) return nullptr;
        in_object[depth++] = is_object;
        if (is_object) p = ScanKeyAndColon(p, end, nullptr, nullptr);
        opened = true;
        break;
      }
      case '"':
        p = ScanString(p, end, nullptr, nullptr);
        break;
      case 't':
        p = ScanLiteral(p, end, "true");
        break;
      case 'f':
        p = ScanLiteral(p, end, "false");
        break;
      case 'n':
        p = ScanLiteral(p, end, "null");
        break;
      default:
        p = ScanNumber(p, end);
        break;
    }
    if (p == nullptr) return nullptr;
    if (opened) continue;  // at the first member's or element's value
    // A value ended: close containers until one goes on with another member or element.
    while (true) {
      if (depth == 0) return p;
      p = SkipSpace(p, end);
      if (p == end) return nullptr;
      const bool is_object = in_object[depth - 1];
      if (*p == ',') {
        p = SkipSpace(p + 1, end);
        if (is_object) p = ScanKeyAndColon(p, end, nullptr, nullptr);
        if (p == nullptr) return nullptr;
        break;
      }
      if (*p != (is_object ? '}' : ']')) return nullptr;
      ++p;
      --depth;
    }
  }
}

enum class EventKey { kOther, kType, kMessageId, kIdentity };

EventKey ClassifyEventKey(std::string_view key) {
  if (key == "type") return EventKey::kType;
  if (key == "messageId") return EventKey::kMessageId;
  if (key == "userId" || key == "anonymousId") return EventKey::kIdentity;
  return EventKey::kOther;
}

// One batch item at p ('{'): validates it, checks the fields ParseEvent checks, and appends it
// to `events`. Returns the position after it, or nullptr for anything ParseEvent should decide.
const char* ScanBatchEvent(const char* p, const char* end, size_t max_event_bytes,
                           std::vector<IngestEvent>& events) {
  const char* const begin = p;
  bool has_type = false;
  bool has_message_id = false;
  bool has_identity = false;
  std::string_view message_id;
  p = SkipSpace(p + 1, end);
  if (p < end && *p == '}') return nullptr;  // no messageId
  while (true) {
    std::string_view key;
    bool key_escaped = false;
    p = ScanKeyAndColon(p, end, &key, &key_escaped);
    if (p == nullptr || key_escaped) return nullptr;
    const EventKey kind = ClassifyEventKey(key);
    if (kind == EventKey::kOther || p == end || *p != '"') {
      // Not a string: only a number can still make a valid identity.
      if (kind == EventKey::kType || kind == EventKey::kMessageId) return nullptr;
      if (kind == EventKey::kIdentity && p < end && (*p == '-' || IsDigit(*p))) {
        has_identity = true;
      }
      p = ScanValue(p, end);
    } else {
      std::string_view text;
      bool escaped = false;
      p = ScanString(p, end, &text, &escaped);
      if (p == nullptr) return nullptr;
      if (kind == EventKey::kType) {
        if (has_type || escaped || !IsEventType(text)) return nullptr;
        has_type = true;
      } else if (kind == EventKey::kMessageId) {
        if (has_message_id || escaped || text.empty()) return nullptr;
        has_message_id = true;
        message_id = text;
      } else if (!text.empty()) {
        has_identity = true;
      }
    }
    if (p == nullptr) return nullptr;
    p = SkipSpace(p, end);
    if (p == end) return nullptr;
    if (*p == '}') break;
    if (*p != ',') return nullptr;
    p = SkipSpace(p + 1, end);
  }
  ++p;
  const size_t size = static_cast<size_t>(p - begin);
  if (size > max_event_bytes || !has_type || !has_message_id || !has_identity) return nullptr;
  events.push_back(IngestEvent{std::string_view(begin, size), std::string(message_id)});
  return p;
}

// The whole batch body; false when the simdjson walk must decide.
bool ParseBatch(std::string_view body, size_t max_event_bytes, std::vector<IngestEvent>& events) {
  if (!simdjson::validate_utf8(body.data(), body.size())) return false;
  const char* const end = body.data() + body.size();
  const char* p = SkipSpace(body.data(), end);
  if (p == end || *p != '{') return false;
  p = SkipSpace(p + 1, end);
  bool saw_batch = false;
  while (true) {
    std::string_view key;
    bool key_escaped = false;
    p = ScanKeyAndColon(p, end, &key, &key_escaped);
    if (p == nullptr || key_escaped) return false;
    if (key != "batch") {
      p = ScanValue(p, end);
      if (p == nullptr) return false;
    } else {
      if (saw_batch || p == end || *p != '[') return false;
      saw_batch = true;
      p = SkipSpace(p + 1, end);
      if (p < end && *p == ']') {
        ++p;
      } else {
        while (true) {
          if (p == end || *p != '{') return false;
          p = ScanBatchEvent(p, end, max_event_bytes, events);
          if (p == nullptr) return false;
          p = SkipSpace(p, end);
          if (p == end) return false;
          if (*p == ']') break;
          if (*p != ',') return false;
          p = SkipSpace(p + 1, end);
        }
        ++p;
      }
    }
    p = SkipSpace(p, end);
    if (p == end) return false;
    if (*p == '}') break;
    if (*p != ',') return false;
    p = SkipSpace(p + 1, end);
  }
  return saw_batch && SkipSpace(p + 1, end) == end;
}

}  // namespace fast
}  // namespace

bool ParseBatchFast(std::string_view body, size_t max_event_bytes,
                    std::vector<IngestEvent>& events) {
  events.clear();
  return fast::ParseBatch(body, max_event_bytes, events);
}

bool IsEventType(std::string_view type) {
  return type == "track" || type == "page" || type == "identify" || type == "group" ||
         type == "screen" || type == "alias";
}

absl::StatusOr<std::vector<IngestEvent>> ParseIngestBodyWithSimdjson(std::string_view body,
                                                                     std::string_view implied_type,
                                                                     size_t max_event_bytes) {
  const simdjson::padded_string padded(body);
  // Events are cut from the padded copy; hand out the same bytes of `body` instead.
  auto in_body = [&](std::string_view text) {
    return body.substr(static_cast<size_t>(text.data() - padded.data()), text.size());
  };
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
    event->json = in_body(event->json);
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
    event->json = in_body(event->json);
    events.push_back(*std::move(event));
  }
  return events;
}

absl::StatusOr<std::vector<IngestEvent>> ParseIngestBody(std::string_view body,
                                                         std::string_view implied_type,
                                                         size_t max_event_bytes) {
  if (implied_type.empty()) {
    std::vector<IngestEvent> events;
    if (ParseBatchFast(body, max_event_bytes, events)) return events;
  }
  return ParseIngestBodyWithSimdjson(body, implied_type, max_event_bytes);
}

}  // namespace fake_hightouch::internal
