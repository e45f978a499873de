// Translation: canonical Signal events -> Hightouch /v1/batch requests.
//
// This is the measured hot path. A Translator owns its parser and buffers and
// reuses them across calls, so that in steady state translating an event allocates
// nothing on the heap. Event values (properties, traits, context) are copied into the
// body as the exact JSON text they arrived in, after the whole event has been
// validated as strict JSON; nothing is re-serialised.
//
// Record: {"type","messageId","anonymousId"?,"userId"?, then per type
//   track: "event","properties"?   page: "name"?,"properties"? (the event's, then the
//   context.page url/path/referrer/title/search it lacks)   identify: "traits"?
//   group: "groupId","traits"?,
// "context" (the event's members minus any "library", after our own "library"),
// "timestamp" = "originalTimestamp" (event time in UTC, ms, 'Z'; sentAt when absent)}.
// Absent, null and empty-string ids and names are omitted. Member order in the input
// does not matter; a repeated member counts once, the last one.
//
// Checks, first failure wins: invalid_json (the JSON rule of json_scan.h: syntax,
// UTF-8, lone surrogates, nesting beyond json::kMaxEventDepth) > unsupported_type > invalid_json (a field the type uses has
// the wrong JSON type) > consent_denied (context.consent[.canonical].<category> false, "false",
// "denied", "0" or 0; category "essential" never) > missing_identity > missing_event_name /
// missing_group_id > invalid_timestamp > event_too_large (record over kMaxEventBytes).
//
// A Translator is not thread-safe: use one per thread (or lend them out, as the gRPC
// service does).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "options.h"

namespace signal_hightouch {

struct TranslatedRequest {
  std::string url;                      // {events base}/v1/batch
  std::string body;                     // {"batch":[...],"sentAt":"..."}
  std::vector<uint32_t> event_indexes;  // input index of each event, body order
  // messageId of each event, as (offset, length) ranges into `body`: the JSON string's
  // text between its quotes, exactly as the body carries it (escapes kept). Events
  // without a messageId get "sig-" + 32 hex digits of a 128-bit hash of their bytes.
  std::vector<std::pair<uint32_t, uint32_t>> message_id_ranges;

  std::string_view message_id(size_t i) const {
    return std::string_view(body).substr(message_id_ranges[i].first, message_id_ranges[i].second);
  }
};

struct TranslatedRejection {
  uint32_t event_index = 0;
  // The event's messageId (as message_id_ranges reads it), the derived "sig-..." id
  // when it has none, or empty when the event is not valid JSON or its messageId is
  // not a string.
  std::string message_id;
  std::string_view reason;  // one of the kReason* constants (static storage)
  std::string message;
};

// Reason codes.
inline constexpr std::string_view kReasonInvalidJson = "invalid_json";
inline constexpr std::string_view kReasonMissingIdentity = "missing_identity";
inline constexpr std::string_view kReasonMissingEventName = "missing_event_name";
inline constexpr std::string_view kReasonMissingGroupId = "missing_group_id";
inline constexpr std::string_view kReasonUnsupportedType = "unsupported_type";
inline constexpr std::string_view kReasonEventTooLarge = "event_too_large";
inline constexpr std::string_view kReasonConsentDenied = "consent_denied";
inline constexpr std::string_view kReasonInvalidTimestamp = "invalid_timestamp";

// Output of one Translate call. Reuse one instance across calls: Clear() keeps the
// capacity of every buffer.
struct TranslateOutput {
  std::vector<TranslatedRequest> requests;  // only the first request_count are valid
  size_t request_count = 0;
  std::vector<TranslatedRejection> rejections;  // only the first rejection_count are valid
  size_t rejection_count = 0;

  void Clear();
};

class Translator {
 public:
  Translator();
  ~Translator();
  Translator(const Translator&) = delete;
  Translator& operator=(const Translator&) = delete;

  // Translates `events` for `config`. sent_at_unix_ms is written as each request's
  // sentAt (0: the system clock), and is the event time of events without a
  // timestamp. Every input index ends up in exactly one request or one rejection;
  // accepted events keep their input order across and within requests. Requests hold
  // at most min(config.batch_size, kMaxBatchSize) events (a batch_size of 0 counts
  // as 1) and their bodies stay under kMaxRequestBytes. `out` is cleared first.
  void Translate(const HightouchConfig& config, const PluginOptions& options,
                 std::span<const std::string_view> events, int64_t sent_at_unix_ms,
                 TranslateOutput& out);

  // Value of the Authorization header for a config: "Basic base64(ingest_key:)".
  static std::string AuthorizationHeader(const HightouchConfig& config);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace signal_hightouch
