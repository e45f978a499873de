#include "translate.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "json_scan.h"
#include "time_iso8601.h"
#include "translate_hash.h"

namespace signal_hightouch {
namespace {

using json::Cursor;
using json::StringToken;

constexpr std::string_view kBodyPrefix = R"({"batch":[)";
constexpr std::string_view kSentAtPrefix = R"(],"sentAt":")";
constexpr std::string_view kBodySuffix = R"("})";
// Bytes a request body has besides its records and the commas between them.
constexpr size_t kEnvelopeBytes =
    kBodyPrefix.size() + kSentAtPrefix.size() + kIso8601MillisLength + kBodySuffix.size();

constexpr std::string_view kLibraryMember =
    R"("library":{"name":"datafly-signal","version":")" SIGNAL_HIGHTOUCH_VERSION R"("})";

// A record always fits in this much scratch space once its size has been checked.
constexpr size_t kRecordScratchBytes = 2 * kMaxEventBytes;

constexpr char kNotAnObject[] = "the event is not a JSON object";

// Longest excerpt of event text quoted in a rejection message.
constexpr size_t kMaxExcerptBytes = 64;

enum class EventType { kTrack, kPage, kIdentify, kGroup };

// The context.page fields a page event's properties inherit, in output order.
constexpr std::string_view kPageFields[] = {"url", "path", "referrer", "title", "search"};
constexpr int kPageFieldCount = 5;

// One top-level member of the event, as found by the scan.
struct Field {
  std::string_view raw;      // the value's JSON text; empty when the member is absent
  bool has_escapes = false;  // a string value with backslash escapes

  bool present() const { return !raw.empty(); }
  bool is_string() const { return !raw.empty() && raw.front() == '"'; }
  bool is_null() const { return !raw.empty() && raw.front() == 'n'; }
  bool is_object() const { return !raw.empty() && raw.front() == '{'; }
  // A string with at least one character.
  bool is_nonempty_string() const { return is_string() && raw.size() > 2; }
  // For a string value: its text between the quotes, still escaped.
  StringToken text() const { return {raw.substr(1, raw.size() - 2), has_escapes}; }
};

// What one scan of an event found. Plain data: lives on the stack, reset per event.
struct ScannedEvent {
  Field type, event, name, properties, traits, user_id, anonymous_id, group_id, context, timestamp,
      message_id;
  // Context members other than "library" are in Impl::context_members.
  bool context_has_library = false;
  std::string_view page_values[kPageFieldCount];  // context.page fields (raw JSON)
  uint8_t property_page_keys = 0;                 // bit i: properties has kPageFields[i]
  bool consent_denied = false;
};

// Equality for short names, compiled inline (no libc call for a few bytes).
inline bool NameIs(std::string_view name, std::string_view expected) {
  if (name.size() != expected.size()) return false;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (name[i] != expected[i]) return false;
  }
  return true;
}

// Decodes a member name for comparison; names longer than the buffer match nothing.
std::string_view KeyText(const StringToken& key, char (&buffer)[32]) {
  if (!key.has_escapes) return key.content;
  size_t n = json::Unescape(key, buffer, sizeof(buffer));
  return n == SIZE_MAX ? std::string_view() : std::string_view(buffer, n);
}

int PageFieldIndex(std::string_view key) {
  switch (key.size()) {
    case 3:
      return NameIs(key, "url") ? 0 : -1;
    case 4:
      return NameIs(key, "path") ? 1 : -1;
    case 8:
      return NameIs(key, "referrer") ? 2 : -1;
    case 5:
      return NameIs(key, "title") ? 3 : -1;
    case 6:
      return NameIs(key, "search") ? 4 : -1;
    default:
      return -1;
  }
}

// A number whose value is zero: every mantissa digit is '0'.
bool IsZeroNumber(std::string_view raw) {
  for (char c : raw) {
    if (c == 'e' || c == 'E') break;
    if (c >= '1' && c <= '9') return false;
  }
  return true;
}

// A consent value that withholds consent: false, "false", "denied", "0" or 0.
bool DeniesConsent(std::string_view raw, const StringToken& text) {
  switch (raw.front()) {
    case 'f':
      return true;  // the literal false
    case '"':
      return json::StringEqualsIgnoreCase(text, "false") ||
             json::StringEqualsIgnoreCase(text, "denied") || json::StringEquals(text, "0");
    case '-':
    case '0':
      return IsZeroNumber(raw);
    default:
      return false;
  }
}

constexpr size_t kDerivedMessageIdLength = 4 + 32;  // "sig-" + 32 hex digits

void WriteDerivedMessageId(std::string_view event, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t high, low;
  Hash128(event, &high, &low);
  std::memcpy(out, "sig-", 4);
  for (int i = 0; i < 16; ++i) {
    out[4 + i] = kHex[(high >> (60 - 4 * i)) & 0xF];
    out[20 + i] = kHex[(low >> (60 - 4 * i)) & 0xF];
  }
}

// Appends `text` quoted, cut to kMaxExcerptBytes at a UTF-8 character boundary.
void AppendExcerpt(std::string& out, std::string_view text) {
  out.push_back('"');
  if (text.size() <= kMaxExcerptBytes) {
    out.append(text);
  } else {
    size_t cut = kMaxExcerptBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    out.append(text.substr(0, cut));
    out.append("...");
  }
  out.push_back('"');
}

// The members of a scanned object's raw text, without its braces and the white space
// just inside them: "{ "a":1 }" gives "\"a\":1", "{}" gives "".
std::string_view ObjectMembers(std::string_view object_raw) {
  std::string_view inner = object_raw.substr(1, object_raw.size() - 2);
  while (!inner.empty() && json::IsJsonSpace(inner.front())) inner.remove_prefix(1);
  while (!inner.empty() && json::IsJsonSpace(inner.back())) inner.remove_suffix(1);
  return inner;
}

// A valid timestamp (ParseIso8601 accepted it) already in the output form
// "YYYY-MM-DDTHH:MM:SS.mmmZ".
bool IsCanonicalIso8601(std::string_view text) {
  return text.size() == kIso8601MillisLength && text[10] == 'T' && text[19] == '.' &&
         text[23] == 'Z';
}

// Writes a record without bounds checks (the caller sized the buffer), or only
// counts its bytes; the same emit code drives both.
class BufferWriter {
 public:
  explicit BufferWriter(char* buffer) : start_(buffer), p_(buffer) {}
  void Put(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Put(char c) { *p_++ = c; }
  char* Reserve(size_t n) {
    char* at = p_;
    p_ += n;
    return at;
  }
  size_t size() const { return static_cast<size_t>(p_ - start_); }

 private:
  char* start_;
  char* p_;
};

class CountingWriter {
 public:
  void Put(std::string_view s) { n_ += s.size(); }
  void Put(char) { ++n_; }
  char* Reserve(size_t n) {
    n_ += n;
    return nullptr;
  }
  size_t size() const { return n_; }

 private:
  size_t n_ = 0;
};

}  // namespace

void TranslateOutput::Clear() {
  request_count = 0;
  rejection_count = 0;
}

struct Translator::Impl {
  // Per call.
  std::string url_template;  // options.events_base_url the cached url was built from
  std::string url_region;
  std::string url;
  char sent_at[kIso8601MillisLength];
  int64_t sent_at_unix_ms = 0;
  size_t batch_limit = 1;
  std::string_view consent_category;  // empty: no consent check
  TranslatedRequest* open_request = nullptr;

  // Per event, reused.
  std::unique_ptr<char[]> record{new char[kRecordScratchBytes]};
  std::vector<std::string_view> context_members;  // raw "key":value text, no library

  void BeginCall(const HightouchConfig& config, const PluginOptions& options, int64_t sent_at_ms);
  void TranslateOne(uint32_t index, std::string_view event, TranslateOutput& out);
  void FinishCall();

  bool Scan(std::string_view event, ScannedEvent& scanned, Cursor& c);
  bool ScanContext(Cursor& c, ScannedEvent& scanned);
  bool ScanConsent(Cursor& c, int depth, ScannedEvent& scanned);

  template <typename Writer>
  void Emit(Writer& w, EventType type, const ScannedEvent& e, std::string_view event,
            const char* timestamp, size_t* message_id_offset, size_t* message_id_size);

  TranslatedRejection& Reject(TranslateOutput& out, uint32_t index, std::string_view reason,
                              const ScannedEvent* scanned, std::string_view event);
  void AddRecord(TranslateOutput& out, uint32_t index, std::string_view record,
                 size_t message_id_offset, size_t message_id_size);
};

void Translator::Impl::BeginCall(const HightouchConfig& config, const PluginOptions& options,
                                 int64_t sent_at_ms) {
  if (url.empty() || url_template != options.events_base_url || url_region != config.region) {
    url_template = options.events_base_url;
    url_region = config.region;
    url = options.EventsBaseUrl(config.region);
    url.append("/v1/batch");
  }
  if (sent_at_ms == 0) {
    sent_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  }
  sent_at_unix_ms = std::clamp(sent_at_ms, kMinIso8601UnixMs, kMaxIso8601UnixMs);
  FormatIso8601Millis(sent_at_unix_ms, sent_at);
  batch_limit = std::clamp<size_t>(config.batch_size, 1, kMaxBatchSize);
  consent_category = config.consent_category;
  if (consent_category == "essential") consent_category = {};
  open_request = nullptr;
}

void Translator::Impl::FinishCall() {
  if (open_request == nullptr) return;
  std::string& body = open_request->body;
  body.append(kSentAtPrefix);
  body.append(sent_at, kIso8601MillisLength);
  body.append(kBodySuffix);
  open_request = nullptr;
}

bool Translator::Impl::ScanConsent(Cursor& c, int depth, ScannedEvent& scanned) {
  return json::WalkObject(c, depth, [&](const StringToken& key, const char*) {
    char buffer[32];
    const std::string_view name = KeyText(key, buffer);
    if (!consent_category.empty() && NameIs(name, consent_category)) {
      const char* start = c.p;
      StringToken text;
      if (*c.p == '"') {
        if (!json::ScanString(c, &text)) return false;
      } else if (!json::ScanValue(c, depth)) {
        return false;
      }
      if (DeniesConsent(std::string_view(start, static_cast<size_t>(c.p - start)), text)) {
        scanned.consent_denied = true;
      }
      return true;
    }
    if (NameIs(name, "canonical") && *c.p == '{') return ScanConsent(c, depth + 1, scanned);
    return json::ScanValue(c, depth);
  });
}

bool Translator::Impl::ScanContext(Cursor& c, ScannedEvent& scanned) {
  constexpr int kDepth = 2;  // the event object is depth 1
  return json::WalkObject(c, kDepth, [&](const StringToken& key, const char* key_start) {
    char buffer[32];
    const std::string_view name = KeyText(key, buffer);
    bool ok;
    if (NameIs(name, "page") && *c.p == '{') {
      for (auto& value : scanned.page_values) value = {};
      ok = json::WalkObject(c, kDepth + 1, [&](const StringToken& page_key, const char*) {
        char page_buffer[32];
        const int field = PageFieldIndex(KeyText(page_key, page_buffer));
        const char* start = c.p;
        if (!json::ScanValue(c, kDepth + 1)) return false;
        if (field >= 0) scanned.page_values[field] = {start, static_cast<size_t>(c.p - start)};
        return true;
      });
    } else if (NameIs(name, "consent") && *c.p == '{') {
      ok = ScanConsent(c, kDepth + 1, scanned);
    } else {
      ok = json::ScanValue(c, kDepth);
    }
    if (!ok) return false;
    if (NameIs(name, "library")) {
      scanned.context_has_library = true;
    } else {
      context_members.emplace_back(key_start, static_cast<size_t>(c.p - key_start));
    }
    return true;
  });
}

bool Translator::Impl::Scan(std::string_view event, ScannedEvent& e, Cursor& c) {
  json::SkipSpace(c);
  if (c.AtEnd() || *c.p != '{') return c.Fail(kNotAnObject);
  const bool walked = json::WalkObject(c, 1, [&](const StringToken& key, const char*) {
    char buffer[32];
    const std::string_view name = KeyText(key, buffer);
    Field* field = nullptr;
    switch (name.size()) {
      case 4:
        if (NameIs(name, "type"))
          field = &e.type;
        else if (NameIs(name, "name"))
          field = &e.name;
        break;
      case 5:
        if (NameIs(name, "event")) field = &e.event;
        break;
      case 6:
        if (NameIs(name, "userId"))
          field = &e.user_id;
        else if (NameIs(name, "traits"))
          field = &e.traits;
        break;
      case 7:
        if (NameIs(name, "context"))
          field = &e.context;
        else if (NameIs(name, "groupId"))
          field = &e.group_id;
        break;
      case 9:
        if (NameIs(name, "messageId"))
          field = &e.message_id;
        else if (NameIs(name, "timestamp"))
          field = &e.timestamp;
        break;
      case 10:
        if (NameIs(name, "properties")) field = &e.properties;
        break;
      case 11:
        if (NameIs(name, "anonymousId")) field = &e.anonymous_id;
        break;
    }
    const char* start = c.p;
    if (field == nullptr) return json::ScanValue(c, 1);
    // A repeated member replaces the earlier one, and with it what was found inside.
    field->has_escapes = false;
    if (field == &e.context) {
      context_members.clear();
      e.context_has_library = false;
      e.consent_denied = false;
      for (auto& value : e.page_values) value = {};
    } else if (field == &e.properties) {
      e.property_page_keys = 0;
    }
    bool ok;
    if (*c.p == '"') {
      StringToken token;
      ok = json::ScanString(c, &token);
      field->has_escapes = token.has_escapes;
    } else if (field == &e.context && *c.p == '{') {
      ok = ScanContext(c, e);
    } else if (field == &e.properties && *c.p == '{') {
      ok = json::WalkObject(c, 2, [&](const StringToken& property, const char*) {
        char property_buffer[32];
        const int index = PageFieldIndex(KeyText(property, property_buffer));
        if (index >= 0) e.property_page_keys |= static_cast<uint8_t>(1u << index);
        return json::ScanValue(c, 2);
      });
    } else {
      ok = json::ScanValue(c, 1);
    }
    field->raw = std::string_view(start, static_cast<size_t>(c.p - start));
    return ok;
  });
  if (!walked) return false;
  json::SkipSpace(c);
  if (!c.AtEnd()) return c.Fail("unexpected data after the event object");
  return true;
}

template <typename Writer>
void Translator::Impl::Emit(Writer& w, EventType type, const ScannedEvent& e,
                            std::string_view event, const char* timestamp,
                            size_t* message_id_offset, size_t* message_id_size) {
  switch (type) {
    case EventType::kTrack:
      w.Put(R"({"type":"track","messageId":")");
      break;
    case EventType::kPage:
      w.Put(R"({"type":"page","messageId":")");
      break;
    case EventType::kIdentify:
      w.Put(R"({"type":"identify","messageId":")");
      break;
    case EventType::kGroup:
      w.Put(R"({"type":"group","messageId":")");
      break;
  }
  *message_id_offset = w.size();
  if (e.message_id.is_nonempty_string()) {
    w.Put(e.message_id.text().content);
  } else {
    char* at = w.Reserve(kDerivedMessageIdLength);
    if (at != nullptr) WriteDerivedMessageId(event, at);
  }
  *message_id_size = w.size() - *message_id_offset;
  w.Put('"');
  if (e.anonymous_id.is_nonempty_string()) {
    w.Put(R"(,"anonymousId":)");
    w.Put(e.anonymous_id.raw);
  }
  if (e.user_id.is_nonempty_string()) {
    w.Put(R"(,"userId":)");
    w.Put(e.user_id.raw);
  }
  switch (type) {
    case EventType::kTrack:
      w.Put(R"(,"event":)");
      w.Put(e.event.raw);
      if (e.properties.is_object()) {
        w.Put(R"(,"properties":)");
        w.Put(e.properties.raw);
      }
      break;
    case EventType::kPage: {
      if (e.name.is_nonempty_string()) {
        w.Put(R"(,"name":)");
        w.Put(e.name.raw);
      }
      // The event's properties, then the context.page fields they lack.
      bool opened = false, any_member = false;
      if (e.properties.is_object()) {
        const std::string_view inner = ObjectMembers(e.properties.raw);
        w.Put(R"(,"properties":{)");
        w.Put(inner);
        opened = true;
        any_member = !inner.empty();
      }
      for (int i = 0; i < kPageFieldCount; ++i) {
        if (e.page_values[i].empty() || (e.property_page_keys & (1u << i)) != 0) continue;
        if (!opened) {
          w.Put(R"(,"properties":{)");
          opened = true;
        }
        if (any_member) w.Put(',');
        w.Put('"');
        w.Put(kPageFields[i]);
        w.Put(R"(":)");
        w.Put(e.page_values[i]);
        any_member = true;
      }
      if (opened) w.Put('}');
      break;
    }
    case EventType::kIdentify:
      if (e.traits.is_object()) {
        w.Put(R"(,"traits":)");
        w.Put(e.traits.raw);
      }
      break;
    case EventType::kGroup:
      w.Put(R"(,"groupId":)");
      w.Put(e.group_id.raw);
      if (e.traits.is_object()) {
        w.Put(R"(,"traits":)");
        w.Put(e.traits.raw);
      }
      break;
  }
  w.Put(R"(,"context":{)");
  w.Put(kLibraryMember);
  if (e.context.is_object()) {
    if (!e.context_has_library) {
      // No member to drop: copy the members as one run of text.
      const std::string_view inner = ObjectMembers(e.context.raw);
      if (!inner.empty()) {
        w.Put(',');
        w.Put(inner);
      }
    } else {
      for (std::string_view member : context_members) {
        w.Put(',');
        w.Put(member);
      }
    }
  }
  w.Put(R"(},"timestamp":")");
  w.Put(std::string_view(timestamp, kIso8601MillisLength));
  w.Put(R"(","originalTimestamp":")");
  w.Put(std::string_view(timestamp, kIso8601MillisLength));
  w.Put(R"("})");
}

TranslatedRejection& Translator::Impl::Reject(TranslateOutput& out, uint32_t index,
                                              std::string_view reason, const ScannedEvent* scanned,
                                              std::string_view event) {
  if (out.rejection_count == out.rejections.size()) out.rejections.emplace_back();
  TranslatedRejection& rejection = out.rejections[out.rejection_count++];
  rejection.event_index = index;
  rejection.reason = reason;
  rejection.message.clear();
  rejection.message_id.clear();
  if (scanned != nullptr) {
    if (scanned->message_id.is_nonempty_string()) {
      rejection.message_id.assign(scanned->message_id.text().content);
    } else if (!scanned->message_id.present() || scanned->message_id.is_string() ||
               scanned->message_id.is_null()) {
      char derived[kDerivedMessageIdLength];
      WriteDerivedMessageId(event, derived);
      rejection.message_id.assign(derived, kDerivedMessageIdLength);
    }
  }
  return rejection;
}

void Translator::Impl::AddRecord(TranslateOutput& out, uint32_t index, std::string_view record,
                                 size_t message_id_offset, size_t message_id_size) {
  if (open_request != nullptr &&
      (open_request->event_indexes.size() >= batch_limit ||
       open_request->body.size() + 1 + record.size() + (kEnvelopeBytes - kBodyPrefix.size()) >=
           kMaxRequestBytes)) {
    FinishCall();
  }
  if (open_request == nullptr) {
    if (out.request_count == out.requests.size()) out.requests.emplace_back();
    open_request = &out.requests[out.request_count++];
    open_request->url.assign(url);
    open_request->body.assign(kBodyPrefix);
    open_request->event_indexes.clear();
    open_request->message_id_ranges.clear();
  } else {
    open_request->body.push_back(',');
  }
  std::string& body = open_request->body;
  const size_t offset = body.size();
  body.append(record);
  open_request->event_indexes.push_back(index);
  open_request->message_id_ranges.emplace_back(static_cast<uint32_t>(offset + message_id_offset),
                                               static_cast<uint32_t>(message_id_size));
}

void Translator::Impl::TranslateOne(uint32_t index, std::string_view event, TranslateOutput& out) {
  ScannedEvent e;
  Cursor c(event);
  if (!Scan(event, e, c)) {
    TranslatedRejection& r = Reject(out, index, kReasonInvalidJson, nullptr, event);
    if (c.error.what == kNotAnObject) {
      r.message.assign(kNotAnObject);
    } else {
      absl::StrAppend(&r.message, "invalid JSON at byte ", c.error.offset, ": ", c.error.what);
    }
    return;
  }

  // The event type decides which fields matter.
  EventType type;
  if (!e.type.is_string()) {
    TranslatedRejection& r = Reject(out, index, kReasonUnsupportedType, &e, event);
    r.message.assign(e.type.present() && !e.type.is_null() ? "type is not a string"
                                                           : "the event has no type");
    return;
  }
  if (json::StringEquals(e.type.text(), "track")) {
    type = EventType::kTrack;
  } else if (json::StringEquals(e.type.text(), "page")) {
    type = EventType::kPage;
  } else if (json::StringEquals(e.type.text(), "identify")) {
    type = EventType::kIdentify;
  } else if (json::StringEquals(e.type.text(), "group")) {
    type = EventType::kGroup;
  } else {
    TranslatedRejection& r = Reject(out, index, kReasonUnsupportedType, &e, event);
    r.message.assign("event type ");
    AppendExcerpt(r.message, e.type.text().content);
    r.message.append(" is not supported (track, page, identify, group)");
    return;
  }

  // Fields of the wrong JSON type: the event does not follow the canonical schema.
  const char* wrong_type = nullptr;
  auto must_be_string = [&](const Field& f, const char* message) {
    if (wrong_type == nullptr && f.present() && !f.is_string() && !f.is_null()) {
      wrong_type = message;
    }
  };
  auto must_be_object = [&](const Field& f, const char* message) {
    if (wrong_type == nullptr && f.present() && !f.is_object() && !f.is_null()) {
      wrong_type = message;
    }
  };
  must_be_string(e.message_id, "messageId is not a string");
  must_be_string(e.anonymous_id, "anonymousId is not a string");
  must_be_string(e.user_id, "userId is not a string");
  must_be_object(e.context, "context is not an object");
  switch (type) {
    case EventType::kTrack:
      must_be_string(e.event, "event is not a string");
      must_be_object(e.properties, "properties is not an object");
      break;
    case EventType::kPage:
      must_be_string(e.name, "name is not a string");
      must_be_object(e.properties, "properties is not an object");
      break;
    case EventType::kIdentify:
      must_be_object(e.traits, "traits is not an object");
      break;
    case EventType::kGroup:
      must_be_string(e.group_id, "groupId is not a string");
      must_be_object(e.traits, "traits is not an object");
      break;
  }
  if (wrong_type != nullptr) {
    Reject(out, index, kReasonInvalidJson, &e, event).message.assign(wrong_type);
    return;
  }

  if (e.consent_denied && e.context.is_object()) {
    TranslatedRejection& r = Reject(out, index, kReasonConsentDenied, &e, event);
    r.message.assign("consent for ");
    AppendExcerpt(r.message, consent_category);
    r.message.append(" is denied in context.consent");
    return;
  }
  if (!e.anonymous_id.is_nonempty_string() && !e.user_id.is_nonempty_string()) {
    Reject(out, index, kReasonMissingIdentity, &e, event)
        .message.assign("the event has neither a userId nor an anonymousId");
    return;
  }
  if (type == EventType::kTrack && !e.event.is_nonempty_string()) {
    Reject(out, index, kReasonMissingEventName, &e, event)
        .message.assign("a track event needs a non-empty event name");
    return;
  }
  if (type == EventType::kGroup && !e.group_id.is_nonempty_string()) {
    Reject(out, index, kReasonMissingGroupId, &e, event)
        .message.assign("a group event needs a non-empty groupId");
    return;
  }

  char timestamp[kIso8601MillisLength];
  if (e.timestamp.is_string()) {
    const StringToken token = e.timestamp.text();
    char decoded[64];
    std::string_view text = token.content;
    if (token.has_escapes) {
      const size_t n = json::Unescape(token, decoded, sizeof(decoded));
      text = n == SIZE_MAX ? std::string_view() : std::string_view(decoded, n);
    }
    int64_t unix_ms;
    if (!ParseIso8601(text, &unix_ms)) {
      TranslatedRejection& r = Reject(out, index, kReasonInvalidTimestamp, &e, event);
      r.message.assign("timestamp ");
      AppendExcerpt(r.message, token.content);
      r.message.append(" is not an ISO 8601 date-time");
      return;
    }
    if (IsCanonicalIso8601(text)) {
      std::memcpy(timestamp, text.data(), kIso8601MillisLength);  // already UTC, ms, 'Z'
    } else {
      FormatIso8601Millis(unix_ms, timestamp);
    }
  } else if (!e.timestamp.present() || e.timestamp.is_null()) {
    std::memcpy(timestamp, sent_at, kIso8601MillisLength);
  } else {
    Reject(out, index, kReasonInvalidTimestamp, &e, event)
        .message.assign("timestamp is not a string");
    return;
  }

  // Records that cannot fit the scratch buffer are measured before they are written.
  auto too_large = [&](size_t record_bytes) {
    if (record_bytes <= kMaxEventBytes) return false;
    TranslatedRejection& r = Reject(out, index, kReasonEventTooLarge, &e, event);
    absl::StrAppend(&r.message, "the translated event is ", record_bytes,
                    " bytes, over Hightouch's limit of ", kMaxEventBytes, " bytes per event");
    return true;
  };
  size_t id_offset, id_size;
  const size_t upper_bound = 2 * event.size() + 1024;
  if (upper_bound > kRecordScratchBytes) {
    CountingWriter counter;
    Emit(counter, type, e, event, timestamp, &id_offset, &id_size);
    if (too_large(counter.size())) return;
  }
  BufferWriter writer(record.get());
  Emit(writer, type, e, event, timestamp, &id_offset, &id_size);
  if (too_large(writer.size())) return;
  AddRecord(out, index, std::string_view(record.get(), writer.size()), id_offset, id_size);
}

Translator::Translator() : impl_(new Impl) {}

Translator::~Translator() { delete impl_; }

void Translator::Translate(const HightouchConfig& config, const PluginOptions& options,
                           std::span<const std::string_view> events, int64_t sent_at_unix_ms,
                           TranslateOutput& out) {
  out.Clear();
  impl_->BeginCall(config, options, sent_at_unix_ms);
  for (size_t i = 0; i < events.size(); ++i) {
    // Each event is its own allocation: fetch the start of the next one while this
    // one is translated (the hardware prefetcher follows on from there).
    if (i + 1 < events.size()) {
      const std::string_view next = events[i + 1];
      for (size_t at = 0; at < next.size() && at < 512; at += 64) {
        __builtin_prefetch(next.data() + at);
      }
    }
    impl_->TranslateOne(static_cast<uint32_t>(i), events[i], out);
  }
  impl_->FinishCall();
}

std::string Translator::AuthorizationHeader(const HightouchConfig& config) {
  std::string credential = config.ingest_key();
  credential.push_back(':');
  return absl::StrCat("Basic ", absl::Base64Escape(credential));
}

}  // namespace signal_hightouch
