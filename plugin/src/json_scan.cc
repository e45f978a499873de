#include "json_scan.h"

#include <cstdint>

#include "operator_text.h"

namespace signal_hightouch::json {
namespace {

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads the four hex digits after "\u" at p (p points at the backslash).
inline int ReadUnicodeEscape(const char* p, const char* end) {
  if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
  int value = 0;
  for (int i = 2; i < 6; ++i) {
    int digit = HexValue(p[i]);
    if (digit < 0) return -1;
    value = (value << 4) | digit;
  }
  return value;
}

inline bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Validates one multi-byte UTF-8 sequence at c.p (lead byte >= 0x80) and steps over
// it. Rejects overlong forms, surrogates and code points above U+10FFFF.
bool ScanUtf8Sequence(Cursor& c) {
  const auto* s = reinterpret_cast<const unsigned char*>(c.p);
  const ptrdiff_t left = c.end - c.p;
  const unsigned char lead = s[0];
  int length;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return c.Fail("invalid UTF-8");
  }
  if (left < length) return c.Fail("invalid UTF-8");
  if (s[1] < second_min || s[1] > second_max) return c.Fail("invalid UTF-8");
  for (int i = 2; i < length; ++i) {
    if (!IsContinuation(s[i])) return c.Fail("invalid UTF-8");
  }
  c.p += length;
  return true;
}

// Validates one escape sequence at c.p (a backslash) and steps over it.
bool ScanEscape(Cursor& c) {
  if (c.end - c.p < 2) return c.Fail("unterminated string");
  switch (c.p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      c.p += 2;
      return true;
    case 'u':
      break;
    default:
      return c.Fail("invalid escape sequence");
  }
  int unit = ReadUnicodeEscape(c.p, c.end);
  if (unit < 0) return c.Fail("invalid \\u escape");
  if (unit >= 0xDC00 && unit <= 0xDFFF) return c.Fail("unpaired surrogate in \\u escape");
  if (unit >= 0xD800 && unit <= 0xDBFF) {
    const int low = c.end - c.p >= 12 ? ReadUnicodeEscape(c.p + 6, c.end) : -1;
    if (low < 0xDC00 || low > 0xDFFF) return c.Fail("unpaired surrogate in \\u escape");
    c.p += 12;
    return true;
  }
  c.p += 6;
  return true;
}

// Index of the first byte in [p, p+16) that is a quote, a backslash, a control
// character or non-ASCII; 16 when there is none.
#if defined(__SSE2__)
inline int FirstSpecialIn16(const char* p) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Signed compare: bytes below 0x20 and bytes 0x80..0xFF (negative) both match.
  const __m128i low = _mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20));
  const __m128i quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\'));
  const int mask = _mm_movemask_epi8(_mm_or_si128(low, _mm_or_si128(quote, backslash)));
  return mask == 0 ? 16 : __builtin_ctz(static_cast<unsigned>(mask));
}
#endif

inline bool IsPlainStringByte(unsigned char b) {
  return b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
}

}  // namespace

bool ScanStringSlow(Cursor& c, StringToken* token) {
  // Local copies of the cursor: the compiler cannot keep c.p in a register across
  // the byte loads otherwise (a char may alias it).
  const char* p = c.p + 1;  // past the opening quote
  const char* const start = p;
  const char* const end = c.end;
  bool escapes = false;
  for (;;) {
#if defined(__SSE2__)
    while (end - p >= 16) {
      const int skip = FirstSpecialIn16(p);
      p += skip;
      if (skip < 16) goto special;
    }
#endif
    while (p < end && IsPlainStringByte(static_cast<unsigned char>(*p))) ++p;
    if (p >= end) {
      c.p = p;
      return c.Fail("unterminated string");
    }
#if defined(__SSE2__)
  special:
#endif
    const unsigned char b = static_cast<unsigned char>(*p);
    if (b == '"') break;
    c.p = p;
    if (b == '\\') {
      escapes = true;
      if (!ScanEscape(c)) return false;
    } else if (b < 0x20) {
      return c.Fail("control character in string");
    } else if (!ScanUtf8Sequence(c)) {
      return false;
    }
    p = c.p;
  }
  if (token != nullptr) {
    token->content = std::string_view(start, static_cast<size_t>(p - start));
    token->has_escapes = escapes;
  }
  c.p = p + 1;  // past the closing quote
  return true;
}

namespace {

// Number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? from p (at '-' or a
// digit). On failure p is where the grammar broke.
inline bool ScanNumberAt(const char*& p, const char* end) {
  if (*p == '-') ++p;
  if (p >= end) return false;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    ++p;
    while (p < end && IsDigit(*p)) ++p;
  } else {
    return false;
  }
  if (p < end && *p == '.') {
    ++p;
    if (p >= end || !IsDigit(*p)) return false;
    while (p < end && IsDigit(*p)) ++p;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p >= end || !IsDigit(*p)) return false;
    while (p < end && IsDigit(*p)) ++p;
  }
  return true;
}

// true, false or null at p; steps over it.
inline bool ScanLiteralAt(const char*& p, const char* end) {
  const size_t left = static_cast<size_t>(end - p);
  std::string_view word;
  switch (*p) {
    case 't':
      word = "true";
      break;
    case 'f':
      word = "false";
      break;
    case 'n':
      word = "null";
      break;
    default:
      return false;
  }
  if (left < word.size() || std::memcmp(p, word.data(), word.size()) != 0) return false;
  p += word.size();
  return true;
}

inline void SkipSpaceAt(const char*& p, const char* end) {
  if (p<end&& static_cast<unsigned char>(*p)> ' ') return;
  while (p < end && IsJsonSpace(*p)) ++p;
}

// Steps over the string token at p (the opening quote) without keeping its text. On
// failure c holds the error.
inline bool SkipStringAt(Cursor& c, const char*& p, const char* end) {
  if (const char* after = ScanShortPlainString(p, end, nullptr)) {
    p = after;
    return true;
  }
  c.p = p;
  if (!ScanStringSlow(c, nullptr)) return false;
  p = c.p;
  return true;
}

}  // namespace

bool ScanValue(Cursor& c, int parent_depth) {
  // Containers are walked with an explicit stack of open brackets, so deep input
  // costs no native stack. The position lives in a local (a char store into `open`
  // could otherwise alias c.p and force reloads); c.p is written back on exit.
  // Room for every container one call may open (kMaxEventDepth - parent_depth); a
  // parent_depth below -kMaxWrapperDepth is refused as too deep, never written past it.
  char open[kMaxEventDepth + kMaxWrapperDepth];
  constexpr int kOpenCapacity = static_cast<int>(sizeof(open));
  int top = 0;
  const char* p = c.p;
  const char* const end = c.end;
  const auto fail = [&](const char* what) {
    c.p = p;
    return c.Fail(what);
  };
  for (;;) {
    // A value starts at p.
    if (p >= end) return fail("expected a value");
    switch (*p) {
      case '{':
      case '[': {
        if (parent_depth + top + 1 > kMaxEventDepth || top == kOpenCapacity) {
          return fail("nesting too deep");
        }
        const char bracket = *p;
        ++p;
        SkipSpaceAt(p, end);
        if (p < end && *p == (bracket == '{' ? '}' : ']')) {
          ++p;
          break;  // empty container: a complete value
        }
        open[top++] = bracket;
        if (bracket == '[') continue;  // next: the first element
        goto member_name;
      }
      case '"':
        if (!SkipStringAt(c, p, end)) return false;
        break;
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9':
        if (!ScanNumberAt(p, end)) return fail("invalid number");
        break;
      case 't':
      case 'f':
      case 'n':
        if (!ScanLiteralAt(p, end)) return fail("invalid literal");
        break;
      default:
        return fail("expected a value");
    }

    // A value just ended: close every container that ends here.
    for (;;) {
      if (top == 0) {
        c.p = p;
        return true;
      }
      SkipSpaceAt(p, end);
      if (p >= end) {
        return fail(open[top - 1] == '{' ? "unterminated object" : "unterminated array");
      }
      const char close = open[top - 1] == '{' ? '}' : ']';
      if (*p == close) {
        ++p;
        --top;
        continue;
      }
      if (*p != ',') {
        return fail(close == '}' ? "expected ',' or '}' in an object"
                                 : "expected ',' or ']' in an array");
      }
      ++p;
      SkipSpaceAt(p, end);
      if (close == ']') goto next_value;
      goto member_name;
    }

  member_name:
    if (p >= end) return fail("unterminated object");
    if (*p != '"') return fail("expected a member name");
    if (!SkipStringAt(c, p, end)) return false;
    SkipSpaceAt(p, end);
    if (p >= end || *p != ':') return fail("expected ':' after a member name");
    ++p;
  next_value:
    SkipSpaceAt(p, end);
  }
}

size_t Unescape(const StringToken& token, char* out, size_t cap) {
  const char* p = token.content.data();
  const char* end = p + token.content.size();
  size_t n = 0;
  auto put = [&](char ch) {
    if (n >= cap) return false;
    out[n++] = ch;
    return true;
  };
  while (p < end) {
    if (*p != '\\') {
      if (!put(*p++)) return SIZE_MAX;
      continue;
    }
    char decoded;
    switch (p[1]) {
      case 'b':
        decoded = '\b';
        break;
      case 'f':
        decoded = '\f';
        break;
      case 'n':
        decoded = '\n';
        break;
      case 'r':
        decoded = '\r';
        break;
      case 't':
        decoded = '\t';
        break;
      case 'u': {
        uint32_t code = static_cast<uint32_t>(ReadUnicodeEscape(p, end));
        p += 6;
        if (code >= 0xD800 && code <= 0xDBFF) {
          uint32_t low = static_cast<uint32_t>(ReadUnicodeEscape(p, end));
          p += 6;
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        bool ok;
        if (code < 0x80) {
          ok = put(static_cast<char>(code));
        } else if (code < 0x800) {
          ok = put(static_cast<char>(0xC0 | (code >> 6))) &&
               put(static_cast<char>(0x80 | (code & 0x3F)));
        } else if (code < 0x10000) {
          ok = put(static_cast<char>(0xE0 | (code >> 12))) &&
               put(static_cast<char>(0x80 | ((code >> 6) & 0x3F))) &&
               put(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
          ok = put(static_cast<char>(0xF0 | (code >> 18))) &&
               put(static_cast<char>(0x80 | ((code >> 12) & 0x3F))) &&
               put(static_cast<char>(0x80 | ((code >> 6) & 0x3F))) &&
               put(static_cast<char>(0x80 | (code & 0x3F)));
        }
        if (!ok) return SIZE_MAX;
        continue;
      }
      default:
        decoded = p[1];
        break;  // '"', '\\', '/'
    }
    if (!put(decoded)) return SIZE_MAX;
    p += 2;
  }
  return n;
}

bool StringEquals(const StringToken& token, std::string_view text) {
  if (!token.has_escapes) return token.content == text;
  char buffer[64];
  if (text.size() > sizeof(buffer)) return false;
  size_t n = Unescape(token, buffer, sizeof(buffer));
  return n == text.size() && std::memcmp(buffer, text.data(), n) == 0;
}

bool StringEqualsIgnoreCase(const StringToken& token, std::string_view text) {
  char buffer[64];
  std::string_view decoded = token.content;
  if (token.has_escapes) {
    size_t n = Unescape(token, buffer, sizeof(buffer));
    if (n == SIZE_MAX) return false;
    decoded = std::string_view(buffer, n);
  }
  return EqualsNoCase(decoded, text);
}

}  // namespace signal_hightouch::json
