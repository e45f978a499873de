// One event of an event-API body, read as the scanner reports its top-level members,
// and rebuilt from its own bytes with the host's fields spliced in: `type` from the path
// (single events), and `messageId` and `timestamp` when absent, null or empty. Members
// are copied as runs of the original text, so numbers, escapes, key order and white
// space inside values stay exactly as sent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "event_ingest.h"
#include "json_scanner.h"

namespace signal_host::api {

// The text of a scanned (so valid) string token; `scratch` holds it when decoding is
// needed.
std::string_view DecodeJsonString(const JsonString& token, std::string& scratch);

class EventSplicer {
 public:
  explicit EventSplicer(const IngestOptions& options)
      : options_(options), batch_mode_(options.path_type.empty()) {
    members_.reserve(32);
  }

  // At the event's opening brace.
  void Begin(const char* at) {
    event_begin_ = at;
    members_.clear();
    pending_ = Special::kNone;
    type_key_seen_ = message_id_key_seen_ = timestamp_key_seen_ = false;
    type_.clear();
    message_id_.clear();
    has_type_ = has_timestamp_ = false;
    error_code_.clear();
    error_message_.clear();
  }

  // A top-level member name (`key_begin` at its opening quote).
  void Key(const JsonString& key, const char* key_begin) {
    members_.push_back({key_begin, nullptr, Action::kKeep});
    const Special special = ClassifyKey(key);
    if (special != Special::kNone) NoteSpecialKey(special);
  }

  // The member's value when it is a scalar.
  void ScalarValue(const ScalarToken& token) {
    members_.back().value_end = token.end;
    if (pending_ != Special::kNone) HandleSpecial(&token);
  }

  // The member's value when it is an object or array. True when the caller must skip
  // it: the value of a host field is never kept.
  bool ContainerValue() {
    if (pending_ == Special::kNone) return false;
    HandleSpecial(nullptr);
    return true;
  }
  // Just past the end of a container value.
  void ContainerValueEnd(const char* after) { members_.back().value_end = after; }

  // At the event's closing brace: appends the event to result.events, or its error to
  // result.errors.
  void Finish(size_t index, IngestResult& result);

 private:
  enum class Special { kNone, kType, kMessageId, kTimestamp };
  // What becomes of one top-level member of the event in the output.
  enum class Action { kKeep, kDrop, kReplaceType };

  struct Member {
    const char* key_begin;  // the key's opening quote
    const char* value_end;  // just past the value
    Action action;
  };

  Special ClassifyKey(const JsonString& key) {
    const std::string_view raw = key.raw();
    // Escaped names are rare; a plain name can only match with the right length.
    if (!key.has_escapes && raw.size() != 4 && raw.size() != 9) return Special::kNone;
    const std::string_view name = DecodeJsonString(key, scratch_);
    return name == "type"        ? Special::kType
           : name == "messageId" ? Special::kMessageId
           : name == "timestamp" ? Special::kTimestamp
                                 : Special::kNone;
  }

  void NoteSpecialKey(Special special);
  // The value of a top-level type/messageId/timestamp key; null `token` means an
  // object or array (which the caller skips).
  void HandleSpecial(const ScalarToken* token);
  void MarkError(std::string code, std::string message);
  void BuildOutput(std::string& json, bool add_type, bool add_message_id) const;

  const IngestOptions& options_;
  const bool batch_mode_;
  std::string scratch_;    // decoded strings
  std::string timestamp_;  // options_.now_ms as ISO 8601, made once when first needed

  const char* event_begin_ = nullptr;
  std::vector<Member> members_;  // the event's top-level members
  Special pending_ = Special::kNone;
  bool type_key_seen_ = false;
  bool message_id_key_seen_ = false;
  bool timestamp_key_seen_ = false;
  bool has_type_ = false;
  bool has_timestamp_ = false;
  std::string type_;
  std::string message_id_;
  std::string error_code_;
  std::string error_message_;
};

}  // namespace signal_host::api
