#include "utf8.h"

namespace signal_host::api {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// The bytes at `p` (an ill-formed sequence) that one U+FFFD replaces: the lead byte
// and the continuation bytes that could still have completed it.
size_t MaximalSubpartLength(const char* p, const char* end) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const size_t available = static_cast<size_t>(end - p);
  const unsigned char lead = s[0];
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 1;
  }
  if (available < 2 || s[1] < low || s[1] > high) return 1;
  size_t taken = 2;
  while (taken < length && taken < available && (s[taken] & 0xC0) == 0x80) ++taken;
  return taken;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    const size_t length = WellFormedUtf8Length(p, end);
    if (length == 0) return false;
    p += length;
  }
  return true;
}

void AppendValidUtf8(std::string_view text, std::string& out) {
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;  // start of the bytes not yet appended, all well-formed
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    const size_t length = WellFormedUtf8Length(p, end);
    if (length != 0) {
      p += length;
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    out.append(kReplacementCharacter);
    p += MaximalSubpartLength(p, end);
    run = p;
  }
  out.append(run, static_cast<size_t>(end - run));
}

std::string ValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string repaired;
  repaired.reserve(text.size() + 8);
  AppendValidUtf8(text, repaired);
  return repaired;
}

}  // namespace signal_host::api
