// Text for operators: values and vendor replies made safe to put in a message, and
// string helpers that accept std::string_view. (Debian's Abseil is built in its own
// absl::string_view mode, which does not convert from std::string_view.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace signal_hightouch {

// `text` as printable, valid UTF-8 of at most `max_bytes` bytes (plus "..." when
// cut): control characters become spaces, invalid UTF-8 bytes become '?', and a cut
// never splits a character. Messages are proto3 strings, which must be valid UTF-8.
std::string PrintableText(std::string_view text, size_t max_bytes);

inline absl::string_view AbslView(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

namespace text_internal {
inline absl::string_view Piece(std::string_view text) { return AbslView(text); }
template <typename T>
const T& Piece(const T& value) {
  return value;
}
}  // namespace text_internal

// absl::StrCat that also takes std::string_view arguments.
template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(text_internal::Piece(args)...);
}

// True when `text` starts with `prefix`, ignoring ASCII case.
bool StartsWithNoCase(std::string_view text, std::string_view prefix);
// True when `a` equals `b`, ignoring ASCII case.
bool EqualsNoCase(std::string_view a, std::string_view b);
// `text` without leading and trailing ASCII whitespace.
std::string_view TrimWhitespace(std::string_view text);

}  // namespace signal_hightouch
