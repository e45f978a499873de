#include "json_util.h"

#include <chrono>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace signal_host::api {
namespace {

// Forwards SAX events to a Document and fails once nesting exceeds kMaxJsonDepth.
class DepthLimitedBuilder {
 public:
  explicit DepthLimitedBuilder(rapidjson::Document& document) : document_(document) {}

  bool Null() { return document_.Null(); }
  bool Bool(bool b) { return document_.Bool(b); }
  bool Int(int i) { return document_.Int(i); }
  bool Uint(unsigned u) { return document_.Uint(u); }
  bool Int64(int64_t i) { return document_.Int64(i); }
  bool Uint64(uint64_t u) { return document_.Uint64(u); }
  bool Double(double d) { return document_.Double(d); }
  bool RawNumber(const char* str, rapidjson::SizeType length, bool copy) {
    return document_.RawNumber(str, length, copy);
  }
  bool String(const char* str, rapidjson::SizeType length, bool copy) {
    return document_.String(str, length, copy);
  }
  bool StartObject() { return Enter() && document_.StartObject(); }
  bool Key(const char* str, rapidjson::SizeType length, bool copy) {
    return document_.Key(str, length, copy);
  }
  bool EndObject(rapidjson::SizeType count) {
    --depth_;
    return document_.EndObject(count);
  }
  bool StartArray() { return Enter() && document_.StartArray(); }
  bool EndArray(rapidjson::SizeType count) {
    --depth_;
    return document_.EndArray(count);
  }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > kMaxJsonDepth) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  rapidjson::Document& document_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

absl::StatusOr<rapidjson::Document> ParseJson(std::string_view text) {
  rapidjson::Document document;
  rapidjson::ParseResult result;
  bool too_deep = false;
  auto generate = [&](rapidjson::Document& target) {
    DepthLimitedBuilder builder(target);
    rapidjson::MemoryStream stream(text.data(), text.size());
    rapidjson::Reader reader;
    result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
        stream, builder);
    too_deep = builder.too_deep();
    return !result.IsError();
  };
  document.Populate(generate);
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nests deeper than ", kMaxJsonDepth, " levels"));
  }
  if (result.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON at byte ", result.Offset(), ": ",
                                                   rapidjson::GetParseError_En(result.Code())));
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
    // Splice the extra members into the inner object, before its closing brace.
    body.insert(body.size() - 2, absl::StrCat(",", AbslView(extra_members)));
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
