// Translation: canonical Signal events -> Hightouch /v1/batch requests.
//
// This is the measured hot path. A Translator owns its parser and buffers and
// reuses them across calls, so that in steady state translating an event allocates
// nothing on the heap.
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
  std::string url;            // {events base}/v1/batch
  std::string body;           // {"batch":[...],"sentAt":"..."}
  std::vector<uint32_t> event_indexes;  // input index of each event, body order
  // messageId of each event, as [offset, length) ranges into `body`.
  std::vector<std::pair<uint32_t, uint32_t>> message_id_ranges;

  std::string_view message_id(size_t i) const {
    return std::string_view(body).substr(message_id_ranges[i].first, message_id_ranges[i].second);
  }
};

struct TranslatedRejection {
  uint32_t event_index = 0;
  std::string message_id;  // empty when the event's messageId could not be read
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
  // sentAt (0: the system clock). Every input index ends up in exactly one request
  // or one rejection.
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
