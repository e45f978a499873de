#include "host/store/list_codec.h"

#include <algorithm>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "host/crypto/encoding.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace signal_host::store_lists {
namespace {

constexpr size_t kMaxPageLimit = 1000;
constexpr size_t kMaxCursorChars = 64;

// Debian's Abseil has its own string_view type.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

std::string EncodeCursor(std::string_view kind, int64_t position) {
  return Base64UrlEncode(absl::StrCat(Av(kind), ":", position));
}

absl::StatusOr<int64_t> DecodeCursor(std::string_view cursor, std::string_view kind,
                                     int64_t start) {
  if (cursor.empty()) return start;
  absl::Status invalid = absl::InvalidArgumentError("invalid cursor");
  if (cursor.size() > kMaxCursorChars) return invalid;
  std::optional<std::string> raw = Base64UrlDecode(cursor);
  if (!raw.has_value()) return invalid;
  std::string_view text = *raw;
  if (text.size() <= kind.size() + 1 || text.substr(0, kind.size()) != kind ||
      text[kind.size()] != ':') {
    return invalid;
  }
  text.remove_prefix(kind.size() + 1);
  int64_t position = 0;
  if (text.empty() || text[0] == '+' || text[0] == '-' || !absl::SimpleAtoi(Av(text), &position) ||
      position <= 0) {
    return invalid;
  }
  return position;
}

absl::StatusOr<int64_t> CheckLimit(const Page& page) {
  if (page.limit == 0) return absl::InvalidArgumentError("page limit must be at least 1");
  return static_cast<int64_t>(std::min(page.limit, kMaxPageLimit));
}

std::string JsonQuote(std::string_view value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const std::string& value : values) {
    writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return absl::DataLossError("stored string list is not a JSON array");
  }
  std::vector<std::string> values;
  values.reserve(doc.Size());
  for (const rapidjson::Value& value : doc.GetArray()) {
    if (!value.IsString()) return absl::DataLossError("stored string list holds a non-string");
    values.emplace_back(value.GetString(), value.GetStringLength());
  }
  return values;
}

}  // namespace signal_host::store_lists
