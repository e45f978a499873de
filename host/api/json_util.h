// JSON helpers shared by the admin and event APIs: bounded parsing, the writer every
// response goes through, the error envelope, and ISO 8601 times. RapidJSON throughout;
// parsing is iterative so a deeply nested body cannot exhaust the stack.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "json_scanner.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace signal_host::api {

// RapidJSON's compact writer, made safe for whatever bytes a caller hands it, so that
// every response is valid JSON in valid UTF-8 whatever was stored or echoed (a vendor's
// response body, a path or query parameter in an error message): ill-formed UTF-8 in
// strings and keys is replaced by U+FFFD, a raw value that is not JSON by the rule is
// written as a string, and a non-finite number as null.
class JsonWriter : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using Base = rapidjson::Writer<rapidjson::StringBuffer>;
  explicit JsonWriter(rapidjson::StringBuffer& buffer) : Base(buffer) {}

  bool String(const char* text, rapidjson::SizeType length, bool copy = false);
  bool Key(const char* text, rapidjson::SizeType length, bool copy = false);
  bool Double(double value);
  bool RawValue(const char* json, size_t length, rapidjson::Type type);
};

// Debian's Abseil is built with its own absl::string_view, distinct from
// std::string_view; these convert at the boundary.
inline std::string_view StdView(absl::string_view text) { return {text.data(), text.size()}; }
inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

// Parses `text` as JSON: the host's JSON rule (json_scanner.h; at most kMaxJsonDepth
// levels), and numbers a double can hold. The error message says where parsing failed.
absl::StatusOr<rapidjson::Document> ParseJson(std::string_view text);

// Serialises a value compactly.
std::string ToJson(const rapidjson::Value& value);

// Writes `raw` (a JSON text) into `writer` as a nested value.
void WriteRawJson(JsonWriter& writer, std::string_view raw);

void WriteString(JsonWriter& writer, std::string_view value);
void WriteKey(JsonWriter& writer, std::string_view key);

// One field-level validation problem.
struct FieldDetail {
  std::string field;
  std::string code;
  std::string message;
};

// {"error":{"code":...,"message":...[,"details":[...]]}}; `extra_json`, when given,
// holds more members of the error object already serialised without braces
// ("\"vendor_status\":401,\"outcome\":\"invalid_api_key\"").
std::string ErrorBody(std::string_view code, std::string_view message,
                      const std::vector<FieldDetail>& details = {},
                      std::string_view extra_members = {});

// Milliseconds since the epoch, UTC.
int64_t NowMillis();
// 2026-02-25T14:30:00.000Z
std::string IsoMillis(int64_t unix_ms);

}  // namespace signal_host::api
