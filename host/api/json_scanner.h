// The host's JSON scanner: one validating pass over a JSON text that reports each
// token, with where it lies in the text, to a handler. It decodes nothing and copies
// nothing. What it accepts is the JSON rule written down in docs/API.md ("What the JSON
// bodies may contain"), which the plugin's scanner (plugin/src/json_scan.h) implements
// too; tests/host/json_rule_differential_test.cc holds the two to it:
//   - RFC 8259 grammar, nothing before or after the one value but white space (no BOM,
//     no NUL);
//   - strings: UTF-8 as in utf8.h, no raw control characters (U+0000..U+001F), \u
//     escapes paired (a high surrogate followed by a low one; a lone one of either kind
//     is refused);
//   - numbers: the grammar only (no leading zeros, '+', ".5", "1.", NaN or Infinity);
//     any number of digits and any exponent, kept byte for byte;
//   - nesting: at most `max_depth` levels, counted in every value, also in the values
//     a handler skips.
// The event API's body reader (event_ingest.cc) is its hot path, so the scanner is a
// template over the handler and its string scan is vectorised.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "utf8.h"

namespace signal_host::api {

// Nesting deeper than this is refused: no legitimate body needs it, and the admin API's
// documents are serialised recursively. The outermost value is level 1.
inline constexpr int kMaxJsonDepth = 64;
// The event API's batch envelope ({"batch":[...]}) adds two levels above its events.
inline constexpr int kBatchEnvelopeLevels = 2;
inline constexpr int kMaxScanDepth = kMaxJsonDepth + kBatchEnvelopeLevels;

// A string token: the bytes between its quotes, still escaped.
struct JsonString {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool has_escapes = false;

  std::string_view raw() const { return {begin, static_cast<size_t>(end - begin)}; }
};

struct ScalarToken {
  enum Kind { kNull, kBool, kNumber, kString } kind;
  const char* end;  // just past the token
  JsonString string;
};

enum class ScanOutcome { kDone, kSyntaxError, kTooDeep, kStopped };

namespace scanner_internal {

// Bytes that end a run of plain string content: '"', '\\', controls and non-ASCII.
constexpr bool IsStringSpecial(unsigned char c) {
  return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A byte that may continue a number: after a complete number it means a malformed one.
constexpr bool IsNumberChar(char c) {
  return IsDigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The first byte at or after `p` that ends plain string content, or `end`.
inline const char* FindStringSpecial(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: below 0x20 and 0x80..0xFF both test as less than 0x20.
    const __m128i special =
        _mm_or_si128(_mm_cmplt_epi8(bytes, space),
                     _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  while (p < end && !IsStringSpecial(static_cast<unsigned char>(*p))) ++p;
  return p;
}

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at p (the caller checked they are there).
inline bool ParseHex4(const char* p, unsigned* value) {
  unsigned result = 0;
  for (int i = 0; i < 4; ++i) {
    const int digit = HexValue(p[i]);
    if (digit < 0) return false;
    result = result << 4 | static_cast<unsigned>(digit);
  }
  *value = result;
  return true;
}

}  // namespace scanner_internal

// Handler interface (each returns false to stop the scan):
//   bool StartContainer(bool object, const char* at);   // at the '{' or '['
//   bool EndContainer(bool object, const char* after);  // just past the '}' or ']'
//   bool Key(const JsonString& key, const char* key_begin);  // at the opening quote
//   bool Scalar(const ScalarToken& token);
template <typename Handler>
class Scanner {
 public:
  // `max_depth` is at most kMaxScanDepth.
  Scanner(std::string_view text, Handler& handler, int max_depth)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        handler_(handler),
        max_depth_(max_depth < kMaxScanDepth ? max_depth : kMaxScanDepth) {}

  ScanOutcome Run() {
    using scanner_internal::IsDigit;
    SkipSpace();
    for (;;) {
      // p_ is at the first byte of a value.
      if (p_ == end_) return SyntaxError("a value is missing");
      switch (*p_) {
        case '{':
        case '[': {
          const bool object = *p_ == '{';
          if (depth_ == max_depth_) return ScanOutcome::kTooDeep;
          if (!handler_.StartContainer(object, p_)) return ScanOutcome::kStopped;
          ++p_;
          open_[depth_++] = object;
          SkipSpace();
          if (p_ < end_ && *p_ == (object ? '}' : ']')) break;  // empty: closed below
          if (object && !ScanKey()) return Outcome();
          continue;
        }
        case '"': {
          ScalarToken token{ScalarToken::kString, nullptr, {}};
          if (!ScanString(&token.string)) return ScanOutcome::kSyntaxError;
          token.end = p_;
          if (!handler_.Scalar(token)) return ScanOutcome::kStopped;
          break;
        }
        case 't':
          if (!ScanLiteral("true", ScalarToken::kBool)) return Outcome();
          break;
        case 'f':
          if (!ScanLiteral("false", ScalarToken::kBool)) return Outcome();
          break;
        case 'n':
          if (!ScanLiteral("null", ScalarToken::kNull)) return Outcome();
          break;
        default:
          if (*p_ != '-' && !IsDigit(*p_)) return SyntaxError("invalid value");
          if (!ScanNumber()) return ScanOutcome::kSyntaxError;
          if (!handler_.Scalar({ScalarToken::kNumber, p_, {}})) return ScanOutcome::kStopped;
          break;
      }
      // After a value (or at the closing bracket of an empty container): close
      // containers until a separator leads to the next value.
      for (;;) {
        SkipSpace();
        if (depth_ == 0) {
          if (p_ != end_) return SyntaxError("text after the end of the document");
          return ScanOutcome::kDone;
        }
        if (p_ == end_) return SyntaxError("unterminated object or array");
        const bool object = open_[depth_ - 1];
        if (*p_ == ',') {
          ++p_;
          SkipSpace();
          if (object && !ScanKey()) return Outcome();
          break;
        }
        if (*p_ != (object ? '}' : ']')) return SyntaxError("expected ',' or a closing bracket");
        ++p_;
        --depth_;
        if (!handler_.EndContainer(object, p_)) return ScanOutcome::kStopped;
      }
    }
  }

  // Where scanning stopped and why (for a syntax error).
  size_t error_offset() const { return static_cast<size_t>(p_ - begin_); }
  const char* error_what() const { return error_what_; }

 private:
  ScanOutcome SyntaxError(const char* what) {
    error_what_ = what;
    return ScanOutcome::kSyntaxError;
  }
  bool Fail(const char* what) {
    error_what_ = what;
    return false;
  }
  bool FailAt(const char* at, const char* what) {
    p_ = at;
    return Fail(what);
  }
  ScanOutcome Outcome() const {
    return stopped_ ? ScanOutcome::kStopped : ScanOutcome::kSyntaxError;
  }

  void SkipSpace() {
    // Compact JSON has no space between tokens: one test for the common case.
    if (p_<end_&& static_cast<unsigned char>(*p_)> ' ') return;
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // A member name, its colon and the space up to the value.
  bool ScanKey() {
    if (p_ == end_ || *p_ != '"') return Fail("expected a member name");
    const char* key_begin = p_;
    JsonString key;
    if (!ScanString(&key)) return false;
    if (!handler_.Key(key, key_begin)) {
      stopped_ = true;
      return false;
    }
    SkipSpace();
    if (p_ == end_ || *p_ != ':') return Fail("expected ':' after a member name");
    ++p_;
    SkipSpace();
    return true;
  }

  bool ScanLiteral(std::string_view word, ScalarToken::Kind kind) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return Fail("invalid literal");
    }
    p_ += word.size();
    if (!handler_.Scalar({kind, p_, {}})) {
      stopped_ = true;
      return false;
    }
    return true;
  }

  // p_ at the opening quote; on success p_ is past the closing quote.
  __attribute__((always_inline)) bool ScanString(JsonString* out) {
    const char* q = p_ + 1;
    out->begin = q;
    bool escapes = false;
    for (;;) {
      q = scanner_internal::FindStringSpecial(q, end_);
      if (q == end_) return FailAt(q, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(*q);
      if (c == '"') break;
      if (c == '\\') {
        escapes = true;
        if (!ScanEscape(&q)) return false;
      } else if (c < 0x20) {
        return FailAt(q, "control character in a string (escape it)");
      } else if (!ScanUtf8(&q)) {
        return false;
      }
    }
    out->end = q;
    out->has_escapes = escapes;
    p_ = q + 1;
    return true;
  }

  // Rare paths stay out of line so that the common string scan inlines.
  // *q at a backslash: one escape; a \u escape of a high surrogate takes the low one
  // that must follow it.
  __attribute__((noinline)) bool ScanEscape(const char** q) {
    using scanner_internal::ParseHex4;
    const char* s = *q;
    if (end_ - s < 2) return FailAt(s, "unterminated escape");
    switch (s[1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        *q = s + 2;
        return true;
      case 'u': {
        unsigned code = 0;
        if (end_ - s < 6 || !ParseHex4(s + 2, &code)) return FailAt(s, "invalid \\u escape");
        if (code >= 0xDC00 && code <= 0xDFFF) {
          return FailAt(s, "lone low surrogate in a \\u escape");
        }
        if (code >= 0xD800 && code <= 0xDBFF) {
          unsigned low = 0;
          if (end_ - s < 12 || s[6] != '\\' || s[7] != 'u' || !ParseHex4(s + 8, &low) ||
              low < 0xDC00 || low > 0xDFFF) {
            return FailAt(s, "high surrogate in a \\u escape without a low one after it");
          }
          s += 6;
        }
        *q = s + 6;
        return true;
      }
      default:
        return FailAt(s, "invalid escape");
    }
  }

  // *q at a byte >= 0x80: one well-formed UTF-8 sequence.
  __attribute__((noinline)) bool ScanUtf8(const char** q) {
    const size_t length = WellFormedUtf8Length(*q, end_);
    if (length == 0) return FailAt(*q, "invalid UTF-8");
    *q += length;
    return true;
  }

  // p_ at '-' or a digit: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool ScanNumber() {
    using scanner_internal::IsDigit;
    const char* q = p_;
    if (*q == '-') ++q;
    if (q == end_ || !IsDigit(*q)) return FailAt(q, "invalid number");
    if (*q == '0') {
      ++q;
    } else {
      while (q < end_ && IsDigit(*q)) ++q;
    }
    if (q < end_ && *q == '.') {
      ++q;
      if (q == end_ || !IsDigit(*q)) return FailAt(q, "invalid number");
      while (q < end_ && IsDigit(*q)) ++q;
    }
    if (q < end_ && (*q == 'e' || *q == 'E')) {
      ++q;
      if (q < end_ && (*q == '+' || *q == '-')) ++q;
      if (q == end_ || !IsDigit(*q)) return FailAt(q, "invalid number");
      while (q < end_ && IsDigit(*q)) ++q;
    }
    // "01", "1.2.3", "1e5e5": a number character right after a complete number.
    if (q < end_ && scanner_internal::IsNumberChar(*q)) return FailAt(q, "invalid number");
    p_ = q;
    return true;
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  Handler& handler_;
  const int max_depth_;
  int depth_ = 0;
  bool open_[kMaxScanDepth];  // per open container: an object (else an array)
  bool stopped_ = false;      // the handler asked to stop
  const char* error_what_ = nullptr;
};

}  // namespace signal_host::api
