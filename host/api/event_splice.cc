#include "event_splice.h"

#include "absl/strings/str_cat.h"
#include "json_util.h"

namespace signal_host::api {
namespace {

constexpr size_t kMaxMessageIdBytes = 256;

void AppendUtf8(unsigned code, std::string& out) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// `value` as a JSON string, escaped as RapidJSON's Writer does. The host's own values
// (the path's type, a generated messageId, a timestamp) are all it writes.
void AppendJsonString(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('"');
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != '"' && c != '\\') {
      out.push_back(ch);
      continue;
    }
    out.push_back('\\');
    switch (c) {
      case '"':
      case '\\':
        out.push_back(ch);
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
        break;
    }
  }
  out.push_back('"');
}

void AppendMember(std::string_view key, std::string_view value, bool comma, std::string& out) {
  if (comma) out.push_back(',');
  out.push_back('"');
  out.append(key.data(), key.size());
  out.append("\":");
  AppendJsonString(value, out);
}

}  // namespace

std::string_view DecodeJsonString(const JsonString& token, std::string& scratch) {
  using scanner_internal::ParseHex4;
  if (!token.has_escapes) return token.raw();
  scratch.clear();
  for (const char* p = token.begin; p < token.end;) {
    if (*p != '\\') {
      scratch.push_back(*p++);
      continue;
    }
    const char kind = p[1];
    p += 2;
    switch (kind) {
      case 'b':
        scratch.push_back('\b');
        break;
      case 'f':
        scratch.push_back('\f');
        break;
      case 'n':
        scratch.push_back('\n');
        break;
      case 'r':
        scratch.push_back('\r');
        break;
      case 't':
        scratch.push_back('\t');
        break;
      case 'u': {
        // The scanner let only whole pairs of surrogates through.
        unsigned code = 0;
        ParseHex4(p, &code);
        p += 4;
        if (code >= 0xD800 && code <= 0xDBFF) {
          unsigned low = 0;
          ParseHex4(p + 2, &low);
          p += 6;
          code = (((code - 0xD800) << 10) | (low - 0xDC00)) + 0x10000;
        }
        AppendUtf8(code, scratch);
        break;
      }
      default:  // '"', '\\', '/'
        scratch.push_back(kind);
        break;
    }
  }
  return scratch;
}

void EventSplicer::NoteSpecialKey(Special special) {
  bool& seen = special == Special::kType        ? type_key_seen_
               : special == Special::kMessageId ? message_id_key_seen_
                                                : timestamp_key_seen_;
  if (seen) {
    const char* name = special == Special::kType        ? "type"
                       : special == Special::kMessageId ? "messageId"
                                                        : "timestamp";
    MarkError("invalid_field", absl::StrCat("duplicate key \"", name, "\""));
  }
  seen = true;
  pending_ = special;
}

void EventSplicer::HandleSpecial(const ScalarToken* token) {
  const Special special = pending_;
  pending_ = Special::kNone;
  Member& member = members_.back();
  const bool is_string = token != nullptr && token->kind == ScalarToken::kString;
  const bool is_null = token != nullptr && token->kind == ScalarToken::kNull;
  // Raw and decoded text are empty together.
  const bool is_empty_string = is_string && token->string.begin == token->string.end;
  switch (special) {
    case Special::kType:
      if (!batch_mode_) {
        // The path decides the type, whatever the body said; keep the key's place.
        member.action = Action::kReplaceType;
        has_type_ = true;
      } else if (is_string) {
        type_ = DecodeJsonString(token->string, scratch_);
        has_type_ = true;
      } else {
        member.action = Action::kDrop;
        if (!is_null) MarkError("invalid_field", "type must be a string");
      }
      break;
    case Special::kMessageId:
      if (is_string && !is_empty_string) {
        const std::string_view id = DecodeJsonString(token->string, scratch_);
        if (id.size() > kMaxMessageIdBytes) {
          member.action = Action::kDrop;
          MarkError("invalid_field",
                    absl::StrCat("messageId is longer than ", kMaxMessageIdBytes, " bytes"));
          break;
        }
        message_id_ = id;
      } else {
        member.action = Action::kDrop;
        if (!is_null && !is_string) MarkError("invalid_field", "messageId must be a string");
      }
      break;
    case Special::kTimestamp:
      if (is_string && !is_empty_string) {
        has_timestamp_ = true;
      } else {
        member.action = Action::kDrop;
        if (!is_null && !is_string) {
          MarkError("invalid_field", "timestamp must be an ISO 8601 string");
        }
      }
      break;
    case Special::kNone:
      break;
  }
}

void EventSplicer::MarkError(std::string code, std::string message) {
  if (error_code_.empty()) {
    error_code_ = std::move(code);
    error_message_ = std::move(message);
  }
}

void EventSplicer::Finish(size_t index, IngestResult& result) {
  bool add_type = false;
  if (error_code_.empty()) {
    if (!has_type_) {
      if (batch_mode_) {
        MarkError("missing_type", "type is required in a batch (track, page, identify, group)");
      } else {
        add_type = true;
        type_ = options_.path_type;
      }
    } else if (!batch_mode_) {
      type_ = options_.path_type;
    } else if (!IsSignalEventType(type_)) {
      MarkError("unsupported_type",
                absl::StrCat("type \"", type_, "\" is not one of track, page, identify, group"));
    }
  }
  if (!error_code_.empty()) {
    result.errors.push_back({index, error_code_, error_message_});
    return;
  }
  const bool add_message_id = message_id_.empty();
  if (add_message_id) message_id_ = options_.new_message_id();
  if (!has_timestamp_ && timestamp_.empty()) timestamp_ = IsoMillis(options_.now_ms);

  IngestedEvent& event = result.events.emplace_back();
  event.index = index;
  event.message_id = message_id_;
  event.type = type_;
  BuildOutput(event.json, add_type, add_message_id);
}

void EventSplicer::BuildOutput(std::string& json, bool add_type, bool add_message_id) const {
  const size_t source_size =
      static_cast<size_t>(members_.empty() ? 2 : members_.back().value_end - event_begin_);
  json.reserve(source_size + 64 + message_id_.size() + timestamp_.size());
  json.push_back('{');
  // Consecutive kept members are copied as one run, separators and all.
  bool any = false;
  const char* run_begin = nullptr;
  const char* run_end = nullptr;
  auto flush_run = [&] {
    if (run_begin == nullptr) return;
    if (any) json.push_back(',');
    json.append(run_begin, static_cast<size_t>(run_end - run_begin));
    any = true;
    run_begin = nullptr;
  };
  for (const Member& member : members_) {
    if (member.action == Action::kKeep) {
      if (run_begin == nullptr) run_begin = member.key_begin;
      run_end = member.value_end;
      continue;
    }
    flush_run();
    if (member.action == Action::kReplaceType) {
      AppendMember("type", options_.path_type, any, json);
      any = true;
    }
  }
  flush_run();
  if (add_type) {
    AppendMember("type", options_.path_type, any, json);
    any = true;
  }
  if (add_message_id) {
    AppendMember("messageId", message_id_, any, json);
    any = true;
  }
  if (!has_timestamp_) AppendMember("timestamp", timestamp_, any, json);
  json.push_back('}');
}

}  // namespace signal_host::api
