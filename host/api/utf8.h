// UTF-8 as the host's JSON rule defines it (docs/API.md, "What the JSON bodies may
// contain"): no overlong forms, no surrogates (U+D800..U+DFFF) encoded in UTF-8, nothing
// above U+10FFFF. The event API's scanner, the JSON writer and the name checks share it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace signal_host::api {

// The length (2 to 4) of the well-formed multi-byte sequence at `p`, whose lead byte is
// 0x80 or above, or 0 when it is ill-formed or cut short by `end`.
inline size_t WellFormedUtf8Length(const char* p, const char* end) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const unsigned char lead = s[0];
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong below U+0800
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong below U+10000
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < length || s[1] < low || s[1] > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
  }
  return length;
}

bool IsValidUtf8(std::string_view text);

// Appends `text` with each maximal ill-formed subsequence replaced by U+FFFD, as the
// Unicode standard recommends (so "\xF0\x9F\x98" is one replacement, "\xFF\xFE" two).
void AppendValidUtf8(std::string_view text, std::string& out);

// `text` when it is valid UTF-8, else its repaired copy (see AppendValidUtf8).
std::string ValidUtf8(std::string_view text);

}  // namespace signal_host::api
