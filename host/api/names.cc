#include "names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "utf8.h"

namespace signal_host::api {
namespace {

// The code point of the well-formed sequence of `length` bytes at `p`.
char32_t DecodeUtf8(const char* p, size_t length) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  if (length == 1) return s[0];
  char32_t code = s[0] & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) code = code << 6 | (s[i] & 0x3F);
  return code;
}

// What kind of refused character `code` is, or nullptr when it is allowed.
const char* RefusedCharacter(char32_t code, TextKind kind) {
  if (kind == TextKind::kFreeText && (code == '\t' || code == '\n' || code == '\r')) {
    return nullptr;
  }
  if (code < 0x20 || (code >= 0x7F && code <= 0x9F)) return "a control character";
  if (code == 0x2028 || code == 0x2029) return "a line or paragraph separator";
  if ((code >= 0x202A && code <= 0x202E) || (code >= 0x2066 && code <= 0x2069)) {
    return "a bidirectional control";
  }
  return nullptr;
}

FieldDetail Problem(std::string_view field, std::string code, std::string message) {
  return {std::string(field), std::move(code), std::move(message)};
}

}  // namespace

std::optional<FieldDetail> CheckText(std::string_view field, std::string_view value, TextKind kind,
                                     size_t max_bytes) {
  const absl::string_view name = AbslView(field);
  if (value.size() > max_bytes) {
    return Problem(field, "too_long",
                   absl::StrCat("\"", name, "\" is longer than ", max_bytes, " bytes"));
  }
  if (kind == TextKind::kName && value.empty()) {
    return Problem(field, "required", absl::StrCat("\"", name, "\" must not be empty"));
  }
  if (kind != TextKind::kFreeText && !value.empty()) {
    if (value.front() == ' ' || value.back() == ' ') {
      return Problem(field, "invalid_format",
                     absl::StrCat("\"", name, "\" must not start or end with a space"));
    }
  }
  const char* const begin = value.data();
  const char* const end = begin + value.size();
  for (const char* p = begin; p < end;) {
    size_t length = 1;
    if (static_cast<unsigned char>(*p) >= 0x80) {
      length = WellFormedUtf8Length(p, end);
      if (length == 0) {
        return Problem(field, "invalid_characters",
                       absl::StrCat("\"", name, "\" is not valid UTF-8 at byte ", p - begin));
      }
    }
    const char32_t code = DecodeUtf8(p, length);
    if (const char* what = RefusedCharacter(code, kind)) {
      return Problem(field, "invalid_characters",
                     absl::StrFormat("\"%s\" must not contain U+%04X (%s) at byte %d", name,
                                     static_cast<uint32_t>(code), what, p - begin));
    }
    p += length;
  }
  return std::nullopt;
}

}  // namespace signal_host::api
