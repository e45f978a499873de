#include "strict_json.h"

#include <cstddef>

#include "fuzz_check.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"

namespace signal_fuzz {
namespace {

constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag |
                            rapidjson::kParseNumbersAsStringsFlag;

// Checks every decoded string: RapidJSON turns a lone surrogate escape ("\udc00") into
// bytes that are not UTF-8 instead of refusing it, and that is not valid JSON for us.
struct DecodedStringCheck : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DecodedStringCheck> {
  bool String(const char* text, rapidjson::SizeType length, bool) {
    if (IsValidUtf8(std::string_view(text, length))) return true;
    bad_string = true;
    return false;
  }
  bool Key(const char* text, rapidjson::SizeType length, bool copy) {
    return String(text, length, copy);
  }
  bool bad_string = false;
};

// Length of the RFC 8259 number at the start of `text`, or 0 when there is none.
size_t NumberLength(std::string_view text) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return 0;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (digits() == 0) return 0;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return 0;
  }
  return i;
}

}  // namespace

std::string StrictJsonError(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return "a raw NUL byte";
  // Parsed as a NUL-terminated string: RapidJSON's UTF-8 validation may read up to three
  // bytes past a sequence cut off at the end, so those bytes must exist.
  std::string copy(text);
  copy.append(4, '\0');
  for (;;) {
    rapidjson::Reader reader;
    DecodedStringCheck handler;
    rapidjson::StringStream stream(copy.c_str());
    const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
    if (!result.IsError()) return {};
    if (handler.bad_string) return "a string that decodes to invalid UTF-8 (lone surrogate)";
    // RFC 8259 allows numbers beyond a double's range, RapidJSON does not: once the
    // grammar is confirmed, blank such a number out and go on.
    const size_t offset = result.Offset();
    if (result.Code() == rapidjson::kParseErrorNumberTooBig && offset < text.size()) {
      const size_t length = NumberLength(std::string_view(copy).substr(offset));
      if (length > 1) {
        copy.replace(offset, length, "0" + std::string(length - 1, ' '));
        continue;
      }
    }
    return std::string(rapidjson::GetParseError_En(result.Code())) + " at byte " +
           std::to_string(offset);
  }
}

}  // namespace signal_fuzz
