// A strict, validating JSON scanner that never builds a tree.
//
// Translate copies the raw text of sub-values (properties, traits, context) into
// the request body, so every byte it forwards must first be proven to be valid JSON.
// What is valid is the JSON rule Signal's host applies at its event API (docs/API.md
// in signal-hightouch, "What the JSON bodies may contain"; the host's scanner is
// host/api/json_scanner.h), so that an event the host acknowledged is never refused
// here as invalid: RFC 8259 grammar; strings of valid UTF-8 (no overlong forms, no
// encoded surrogates, nothing above U+10FFFF) without raw control characters; \u
// escapes paired (a lone surrogate of either kind is refused); numbers by the grammar
// alone, of any length; nesting at most kMaxEventDepth levels, also inside values
// nobody reads. A lazy parser (simdjson on-demand) skips values it is not asked about
// without checking them; this scanner checks everything it passes over and reports
// where each value starts and ends, in one pass, with no allocation and no input
// padding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace signal_hightouch::json {

// Deepest nesting a scanned event may have; the event object is depth 1. The host
// refuses deeper events at its door (the same rule), and a translated event, two levels
// down in the request body ({"batch":[event]}), stays far within any parser's limit.
inline constexpr int kMaxEventDepth = 64;

// Where and why scanning failed.
struct ScanError {
  const char* what = nullptr;  // static text, e.g. "invalid escape sequence"
  size_t offset = 0;           // byte offset into the scanned input
};

// A position in an input. `begin` is kept for error offsets.
struct Cursor {
  const char* begin;
  const char* p;
  const char* end;
  ScanError error;

  explicit Cursor(std::string_view input)
      : begin(input.data()), p(input.data()), end(input.data() + input.size()) {}

  bool Fail(const char* what) { return FailAt(p, what); }
  bool FailAt(const char* at, const char* what) {
    error.what = what;
    error.offset = static_cast<size_t>(at - begin);
    return false;
  }
  bool AtEnd() const { return p >= end; }
};

inline bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

inline void SkipSpace(Cursor& c) {
  // Compact JSON has no space between tokens: one compare for the common case.
  if (c.p<c.end&& static_cast<unsigned char>(*c.p)> ' ') return;
  while (c.p < c.end && IsJsonSpace(*c.p)) ++c.p;
}

// The text of a string token: `content` is between the quotes, still escaped.
struct StringToken {
  std::string_view content;
  bool has_escapes = false;
};

// Scans a string token; c.p is at the opening quote. On success c.p is past the
// closing quote.
bool ScanStringSlow(Cursor& c, StringToken* token);

// The common case, inline: a plain string (no escapes, ASCII) whose closing quote
// lies within 16 bytes of p (p at the opening quote). Returns the position past the
// closing quote, or nullptr when the general scan is needed.
inline const char* ScanShortPlainString(const char* p, const char* end, StringToken* token) {
#if defined(__SSE2__)
  ++p;
  if (end - p < 16) return nullptr;
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('"'));
  const __m128i special =
      _mm_or_si128(_mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20)),  // below 0x20, and 0x80..0xFF
                   _mm_or_si128(quote, _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\'))));
  const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
  const unsigned first = mask & (0u - mask);  // the lowest special byte
  if ((first & static_cast<unsigned>(_mm_movemask_epi8(quote))) == 0) return nullptr;
  const int length = __builtin_ctz(first);
  if (token != nullptr) {
    token->content = std::string_view(p, static_cast<size_t>(length));
    token->has_escapes = false;
  }
  return p + length + 1;
#else
  return nullptr;
#endif
}

inline bool ScanString(Cursor& c, StringToken* token) {
  if (const char* after = ScanShortPlainString(c.p, c.end, token)) {
    c.p = after;
    return true;
  }
  return ScanStringSlow(c, token);
}

// How far below 0 ScanValue's parent_depth may start: text that wraps events scanned
// whole, e.g. a batch body ({"batch":[event]}) from -2 so that its events sit at depth 1.
inline constexpr int kMaxWrapperDepth = 2;

// Scans one value of any type; c.p is at its first byte (no leading space).
// `parent_depth` is the depth of the container holding the value (0 at the top, at
// least -kMaxWrapperDepth): an object or array value sits at parent_depth + 1.
bool ScanValue(Cursor& c, int parent_depth);

// Walks the members of an object; c.p is at '{'. For each member calls
// on_member(const StringToken& key, const char* key_start) with c.p at the first
// byte of the value; the callback must scan the value (leaving c.p past it) and
// return false to abort with c.error set. `depth` is the object's own depth.
template <typename OnMember>
bool WalkObject(Cursor& c, int depth, OnMember&& on_member) {
  if (depth > kMaxEventDepth) return c.Fail("nesting too deep");
  ++c.p;  // '{'
  SkipSpace(c);
  if (c.p < c.end && *c.p == '}') {
    ++c.p;
    return true;
  }
  for (;;) {
    if (c.p >= c.end) return c.Fail("unterminated object");
    if (*c.p != '"') return c.Fail("expected a member name");
    const char* key_start = c.p;
    StringToken key;
    if (!ScanString(c, &key)) return false;
    SkipSpace(c);
    if (c.p >= c.end || *c.p != ':') return c.Fail("expected ':' after a member name");
    ++c.p;
    SkipSpace(c);
    if (c.p >= c.end) return c.Fail("unterminated object");
    if (!on_member(static_cast<const StringToken&>(key), key_start)) return false;
    SkipSpace(c);
    if (c.p >= c.end) return c.Fail("unterminated object");
    if (*c.p == ',') {
      ++c.p;
      SkipSpace(c);
      continue;
    }
    if (*c.p == '}') {
      ++c.p;
      return true;
    }
    return c.Fail("expected ',' or '}' in an object");
  }
}

// Decodes a validated string token's content into `out` (capacity `cap`). Returns
// the decoded length, or SIZE_MAX when it does not fit.
size_t Unescape(const StringToken& token, char* out, size_t cap);

// True when a validated string token decodes to exactly `text`.
bool StringEquals(const StringToken& token, std::string_view text);

// True when a validated string token decodes to `text`, ignoring ASCII case.
bool StringEqualsIgnoreCase(const StringToken& token, std::string_view text);

}  // namespace signal_hightouch::json
