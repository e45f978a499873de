#include "json_util.h"

#include <chrono>
#include <cmath>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "json_rule.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "utf8.h"

namespace signal_host::api {

bool JsonWriter::String(const char* text, rapidjson::SizeType length, bool copy) {
  const std::string_view view(text, length);
  if (IsValidUtf8(view)) return Base::String(text, length, copy);
  const std::string repaired = ValidUtf8(view);
  return Base::String(repaired.data(), static_cast<rapidjson::SizeType>(repaired.size()), true);
}

bool JsonWriter::Key(const char* text, rapidjson::SizeType length, bool copy) {
  const std::string_view view(text, length);
  if (IsValidUtf8(view)) return Base::Key(text, length, copy);
  const std::string repaired = ValidUtf8(view);
  return Base::Key(repaired.data(), static_cast<rapidjson::SizeType>(repaired.size()), true);
}

bool JsonWriter::Double(double value) {
  // RapidJSON writes nothing for NaN and infinities, which would leave a key without
  // a value.
  if (!std::isfinite(value)) return Base::Null();
  return Base::Double(value);
}

bool JsonWriter::RawValue(const char* json, size_t length, rapidjson::Type type) {
  if (ValidateJson(std::string_view(json, length)).ok()) return Base::RawValue(json, length, type);
  return String(json, static_cast<rapidjson::SizeType>(length));
}

absl::StatusOr<rapidjson::Document> ParseJson(std::string_view text) {
  // The rule first (surrogates, depth, grammar), in the host's own words; then the DOM.
  if (absl::Status valid = ValidateJson(text); !valid.ok()) return valid;
  rapidjson::Document document;
  rapidjson::MemoryStream stream(text.data(), text.size());
  document.ParseStream<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
      stream);
  if (document.HasParseError()) {
    // Only numbers beyond a double's range get here.
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported JSON at byte ", document.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(document.GetParseError())));
  }
  return document;
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

void WriteRawJson(JsonWriter& writer, std::string_view raw) {
  // The type only decides the separator logic, which is the same for every value.
  writer.RawValue(raw.data(), raw.size(), rapidjson::kObjectType);
}

void WriteString(JsonWriter& writer, std::string_view value) {
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void WriteKey(JsonWriter& writer, std::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

std::string ErrorBody(std::string_view code, std::string_view message,
                      const std::vector<FieldDetail>& details, std::string_view extra_members) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteKey(writer, "error");
  writer.StartObject();
  WriteKey(writer, "code");
  WriteString(writer, code);
  WriteKey(writer, "message");
  WriteString(writer, message);
  if (!details.empty()) {
    WriteKey(writer, "details");
    writer.StartArray();
    for (const FieldDetail& detail : details) {
      writer.StartObject();
      WriteKey(writer, "field");
      WriteString(writer, detail.field);
      WriteKey(writer, "code");
      WriteString(writer, detail.code);
      WriteKey(writer, "message");
      WriteString(writer, detail.message);
      writer.EndObject();
    }
    writer.EndArray();
  }
  writer.EndObject();
  writer.EndObject();
  std::string body(buffer.GetString(), buffer.GetSize());
  if (!extra_members.empty()) {
    // Splice the extra members into the inner object, before its closing brace; a
    // splice that would break the body is left out rather than sent.
    std::string spliced = body;
    spliced.insert(spliced.size() - 2, absl::StrCat(",", AbslView(extra_members)));
    if (ValidateJson(spliced).ok()) return spliced;
  }
  return body;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string IsoMillis(int64_t unix_ms) {
  int64_t seconds = unix_ms / 1000;
  int64_t millis = unix_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

}  // namespace signal_host::api
