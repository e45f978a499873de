#include "event_ingest.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "json_util.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace signal_host::api {
namespace {

constexpr size_t kMaxMessageIdBytes = 256;

// What the event API accepts is defined by RapidJSON's Reader with these flags: the
// scanner below accepts exactly the same texts, and RapidJSON itself words the error
// when a body is malformed.
constexpr unsigned kReferenceParseFlags = rapidjson::kParseIterativeFlag |
                                          rapidjson::kParseValidateEncodingFlag |
                                          rapidjson::kParseNumbersAsStringsFlag;

// ---------------------------------------------------------------------------------
// Scanner: one validating pass over a JSON text that reports each token, with where it
// lies in the text, to a handler. It decodes nothing and copies nothing.

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

// Object-or-array flags of the open containers. Nesting is not limited here (the
// handler decides where depth matters), so deep nesting spills onto the heap.
class ContainerStack {
 public:
  bool empty() const { return size_ == 0; }
  void Push(bool object) {
    if (size_ < kInline) {
      inline_[size_] = object;
    } else {
      overflow_.push_back(object);
    }
    ++size_;
  }
  bool TopIsObject() const {
    return size_ <= kInline ? inline_[size_ - 1] != 0 : overflow_.back() != 0;
  }
  void Pop() {
    if (size_ > kInline) overflow_.pop_back();
    --size_;
  }

 private:
  static constexpr size_t kInline = 128;
  uint8_t inline_[kInline];
  std::vector<uint8_t> overflow_;
  size_t size_ = 0;
};

// Bytes that end a run of plain string content: '"', '\\', controls and non-ASCII.
constexpr bool IsStringSpecial(unsigned char c) {
  return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
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

enum class ScanOutcome { kDone, kSyntaxError, kStopped };

template <typename Handler>
class Scanner {
 public:
  Scanner(std::string_view text, Handler& handler)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), handler_(handler) {}

  ScanOutcome Run() {
    SkipSpace();
    for (;;) {
      // p_ is at the first byte of a value.
      if (p_ == end_) return SyntaxError("a value is missing");
      switch (*p_) {
        case '{':
          if (!handler_.StartContainer(/*object=*/true, p_)) return ScanOutcome::kStopped;
          ++p_;
          stack_.Push(true);
          SkipSpace();
          if (p_ < end_ && *p_ == '}') break;  // empty: closed below
          if (!ScanKey()) return Outcome();
          continue;
        case '[':
          if (!handler_.StartContainer(/*object=*/false, p_)) return ScanOutcome::kStopped;
          ++p_;
          stack_.Push(false);
          SkipSpace();
          if (p_ < end_ && *p_ == ']') break;  // empty: closed below
          continue;
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
        if (stack_.empty()) {
          SkipSpace();
          // RapidJSON stops reading at a NUL byte between tokens.
          if (p_ != end_ && *p_ != '\0') return SyntaxError("text after the end of the document");
          return ScanOutcome::kDone;
        }
        SkipSpace();
        if (p_ == end_) return SyntaxError("unterminated object or array");
        const bool object = stack_.TopIsObject();
        if (*p_ == ',') {
          ++p_;
          SkipSpace();
          if (object && !ScanKey()) {
            return Outcome();
          }
          break;
        }
        if (*p_ != (object ? '}' : ']')) return SyntaxError("expected ',' or a closing bracket");
        ++p_;
        stack_.Pop();
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
  ScanOutcome Outcome() const {
    return stopped_ ? ScanOutcome::kStopped : ScanOutcome::kSyntaxError;
  }

  void SkipSpace() {
    // Compact JSON has no space between tokens: one test for the common case.
    if (p_ < end_ && static_cast<unsigned char>(*p_) > ' ') return;
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
      q = FindStringSpecial(q, end_);
      if (q == end_) {
        p_ = q;
        return Fail("unterminated string");
      }
      const unsigned char c = static_cast<unsigned char>(*q);
      if (c == '"') break;
      if (c == '\\') {
        escapes = true;
        if (!ScanEscape(&q)) return false;
      } else if (c < 0x20) {
        p_ = q;
        return Fail("control character in a string");
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
  // *q at a backslash: one escape, with the low half of a surrogate pair when the
  // escape is a high half (RapidJSON's rule; a lone low half passes).
  __attribute__((noinline)) bool ScanEscape(const char** q) {
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
        s += 6;
        if (code >= 0xD800 && code <= 0xDBFF) {
          unsigned low = 0;
          if (end_ - s < 6 || s[0] != '\\' || s[1] != 'u' || !ParseHex4(s + 2, &low) ||
              low < 0xDC00 || low > 0xDFFF) {
            return FailAt(s, "invalid surrogate pair");
          }
          s += 6;
        }
        *q = s;
        return true;
      }
      default:
        return FailAt(s, "invalid escape");
    }
  }

  // *q at a byte >= 0x80: one well-formed UTF-8 sequence (no overlong forms, no
  // surrogates, nothing above U+10FFFF).
  __attribute__((noinline)) bool ScanUtf8(const char** q) {
    const auto* s = reinterpret_cast<const unsigned char*>(*q);
    const auto* end = reinterpret_cast<const unsigned char*>(end_);
    const unsigned char lead = s[0];
    int continuation = 0;
    unsigned char low = 0x80, high = 0xBF;  // range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      continuation = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      continuation = 2;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      continuation = 3;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return FailAt(*q, "invalid UTF-8");
    }
    if (end - s <= continuation || s[1] < low || s[1] > high) return FailAt(*q, "invalid UTF-8");
    for (int i = 2; i <= continuation; ++i) {
      if ((s[i] & 0xC0) != 0x80) return FailAt(*q, "invalid UTF-8");
    }
    *q += continuation + 1;
    return true;
  }

  bool FailAt(const char* at, const char* what) {
    p_ = at;
    return Fail(what);
  }

  // p_ at '-' or a digit. The usual shapes are checked here; anything else (an
  // exponent, hundreds of digits, a malformed number) goes to RapidJSON, whose limits
  // on exponents and huge integers are part of what the API accepts.
  bool ScanNumber() {
    const char* start = p_;
    const char* q = p_;
    if (*q == '-') ++q;
    bool simple = false;
    if (q < end_ && IsDigit(*q)) {
      const char* digits = q;
      if (*q == '0') {
        ++q;
      } else {
        while (q < end_ && IsDigit(*q)) ++q;
      }
      if (q - digits <= 300) {
        simple = true;
        if (q < end_ && *q == '.') {
          const char* fraction = ++q;
          while (q < end_ && IsDigit(*q)) ++q;
          simple = q > fraction;
        }
        if (simple && q < end_ && IsNumberChar(*q)) simple = false;
      }
    }
    if (!simple) {
      // In context RapidJSON reads the longest number it can and then needs a
      // separator, which is never a number character: so the whole run of number
      // characters must be one number, exactly as when it stands alone.
      q = start;
      while (q < end_ && IsNumberChar(*q)) ++q;
      rapidjson::Reader reader;
      rapidjson::BaseReaderHandler<> ignore;
      rapidjson::MemoryStream stream(start, static_cast<size_t>(q - start));
      if (reader.Parse<kReferenceParseFlags>(stream, ignore).IsError()) {
        return Fail("invalid number");
      }
    }
    p_ = q;
    return true;
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  Handler& handler_;
  ContainerStack stack_;
  bool stopped_ = false;  // the handler asked to stop
  const char* error_what_ = nullptr;
};

// ---------------------------------------------------------------------------------
// Decoding, only for the few strings the host reads (member names it matches, type,
// messageId), and only when they hold escapes.

void AppendUtf8(unsigned code, std::string& out) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// The text of a scanned (so valid) string token; `scratch` holds it when decoding is
// needed.
std::string_view Decode(const JsonString& token, std::string& scratch) {
  if (!token.has_escapes) return token.raw();
  scratch.clear();
  for (const char* p = token.begin; p < token.end;) {
    if (*p != '\\') {
      scratch.push_back(*p++);
      continue;
    }
    const char kind = p[1];
    p += 2;
    switch (kind) {
      case 'b':
        scratch.push_back('\b');
        break;
      case 'f':
        scratch.push_back('\f');
        break;
      case 'n':
        scratch.push_back('\n');
        break;
      case 'r':
        scratch.push_back('\r');
        break;
      case 't':
        scratch.push_back('\t');
        break;
      case 'u': {
        unsigned code = 0;
        ParseHex4(p, &code);
        p += 4;
        if (code >= 0xD800 && code <= 0xDBFF) {
          unsigned low = 0;
          ParseHex4(p + 2, &low);
          p += 6;
          code = (((code - 0xD800) << 10) | (low - 0xDC00)) + 0x10000;
        }
        AppendUtf8(code, scratch);
        break;
      }
      default:  // '"', '\\', '/'
        scratch.push_back(kind);
        break;
    }
  }
  return scratch;
}

// `value` as a JSON string, escaped as RapidJSON's Writer does.
void AppendJsonString(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('"');
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != '"' && c != '\\') {
      out.push_back(ch);
      continue;
    }
    out.push_back('\\');
    switch (c) {
      case '"':
      case '\\':
        out.push_back(ch);
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
        break;
    }
  }
  out.push_back('"');
}

void AppendMember(std::string_view key, std::string_view value, bool comma, std::string& out) {
  if (comma) out.push_back(',');
  out.push_back('"');
  out.append(key.data(), key.size());
  out.append("\":");
  AppendJsonString(value, out);
}

// ---------------------------------------------------------------------------------
// The handler: finds the events of the body and each event's top-level members, and
// builds each event's output from its own bytes plus what the host adds or replaces.

class IngestHandler {
 public:
  IngestHandler(const IngestOptions& options, size_t body_size)
      : options_(options),
        batch_mode_(options.path_type.empty()),
        max_depth_(kMaxJsonDepth + (batch_mode_ ? 2 : 0)) {
    // Events average about a kilobyte; a batch holds at most max_batch_events.
    result_.events.reserve(batch_mode_ ? std::min(options.max_batch_events, body_size / 1024 + 1)
                                       : 1);
    members_.reserve(32);
  }

  bool StartContainer(bool object, const char* at) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      ++depth_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
      ++depth_;
      return true;
    }
    ++depth_;
    if (depth_ > max_depth_) {
      return Fail(absl::StrCat("JSON nests deeper than ", kMaxJsonDepth, " levels"));
    }
    if (in_event_) {
      if (depth_ - 1 == event_depth_ && pending_ != Special::kNone) {
        HandleSpecial(nullptr);
        skip_depth_ = 1;
      }
      return true;
    }
    if (!batch_mode_) {
      if (!object) return Fail("the body must be a JSON object");
      BeginEvent(at);
      return true;
    }
    if (depth_ == 1) {
      if (!object) return Fail("the body must be a JSON object");
      return true;
    }
    if (depth_ == kBatchArrayDepth) {
      // The value of the root's "batch" key (other keys are skipped).
      if (object) return Fail("\"batch\" must be an array of events");
      batch_open_ = true;
      saw_batch_ = true;
      return true;
    }
    // An element of the batch array.
    if (object) {
      BeginEvent(at);
      return true;
    }
    AddElementError("invalid_event", "each event must be a JSON object");
    skip_depth_ = 1;
    return NextElement();
  }

  bool EndContainer(bool object, const char* after) {
    // The end of a container that is the value of one of the event's members.
    if (in_event_ && depth_ == event_depth_ + 1) members_.back().value_end = after;
    if (skip_depth_ > 0) {
      --skip_depth_;
      --depth_;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_) {
        FinishEvent();
        --depth_;
        return batch_mode_ ? NextElement() : true;
      }
      --depth_;
      return true;
    }
    if (batch_mode_ && depth_ == kBatchArrayDepth) batch_open_ = false;
    --depth_;
    return true;
  }

  bool Key(const JsonString& key, const char* key_begin) {
    if (skip_depth_ > 0) return true;
    if (in_event_) {
      if (depth_ == event_depth_) {
        members_.push_back({key_begin, nullptr, Action::kKeep});
        const Special special = ClassifyEventKey(key);
        if (special != Special::kNone) {
          bool& seen = special == Special::kType        ? type_key_seen_
                       : special == Special::kMessageId ? message_id_key_seen_
                                                        : timestamp_key_seen_;
          if (seen) {
            MarkEventError("invalid_field",
                           absl::StrCat("duplicate key \"", AbslView(SpecialName(special)), "\""));
          }
          seen = true;
          pending_ = special;
        }
      }
      return true;
    }
    // A key of a batch body's root object.
    if (Decode(key, scratch_) == "batch") {
      if (saw_batch_) return Fail("duplicate \"batch\" key");
    } else {
      skip_next_ = true;
    }
    return true;
  }

  bool Scalar(const ScalarToken& token) {
    if (skip_depth_ > 0) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_) {
        members_.back().value_end = token.end;
        if (pending_ != Special::kNone) HandleSpecial(&token);
      }
      return true;
    }
    if (depth_ == 0) return Fail("the body must be a JSON object");
    if (batch_mode_ && batch_open_ && depth_ == kBatchArrayDepth) {
      AddElementError("invalid_event", "each event must be a JSON object");
      return NextElement();
    }
    // A scalar directly under the root of a batch body: only "batch" matters.
    return Fail("\"batch\" must be an array of events");
  }

  // After a complete document: body-level checks that need the whole body.
  absl::Status Finish() {
    if (batch_mode_ && !saw_batch_) {
      return absl::InvalidArgumentError("the body must be an object with a \"batch\" array");
    }
    return absl::OkStatus();
  }

  const std::string& body_error() const { return body_error_; }
  IngestResult& result() { return result_; }

 private:
  enum class Special { kNone, kType, kMessageId, kTimestamp };
  // What becomes of one top-level member of an event in the output.
  enum class Action { kKeep, kDrop, kReplaceType };

  struct Member {
    const char* key_begin;  // the key's opening quote
    const char* value_end;  // just past the value
    Action action;
  };

  static std::string_view SpecialName(Special special) {
    return special == Special::kType        ? "type"
           : special == Special::kMessageId ? "messageId"
                                            : "timestamp";
  }

  Special ClassifyEventKey(const JsonString& key) {
    const std::string_view raw = key.raw();
    // Escaped names are rare; a plain name can only match with the right length.
    if (!key.has_escapes && raw.size() != 4 && raw.size() != 9) return Special::kNone;
    const std::string_view name = Decode(key, scratch_);
    return name == "type"        ? Special::kType
           : name == "messageId" ? Special::kMessageId
           : name == "timestamp" ? Special::kTimestamp
                                 : Special::kNone;
  }

  bool Fail(std::string message) {
    if (body_error_.empty()) body_error_ = std::move(message);
    return false;
  }

  void BeginEvent(const char* at) {
    in_event_ = true;
    event_depth_ = depth_;
    event_begin_ = at;
    members_.clear();
    pending_ = Special::kNone;
    type_key_seen_ = message_id_key_seen_ = timestamp_key_seen_ = false;
    type_.clear();
    message_id_.clear();
    has_type_ = has_timestamp_ = false;
    event_error_code_.clear();
    event_error_message_.clear();
  }

  // The value of a top-level type/messageId/timestamp key; null `token` means an
  // object or array (which the caller skips).
  void HandleSpecial(const ScalarToken* token) {
    const Special special = pending_;
    pending_ = Special::kNone;
    Member& member = members_.back();
    const bool is_string = token != nullptr && token->kind == ScalarToken::kString;
    const bool is_null = token != nullptr && token->kind == ScalarToken::kNull;
    // Raw and decoded text are empty together.
    const bool is_empty_string = is_string && token->string.begin == token->string.end;
    switch (special) {
      case Special::kType:
        if (!batch_mode_) {
          // The path decides the type, whatever the body said; keep the key's place.
          member.action = Action::kReplaceType;
          has_type_ = true;
        } else if (is_string) {
          type_ = Decode(token->string, scratch_);
          has_type_ = true;
        } else {
          member.action = Action::kDrop;
          if (!is_null) MarkEventError("invalid_field", "type must be a string");
        }
        break;
      case Special::kMessageId:
        if (is_string && !is_empty_string) {
          const std::string_view id = Decode(token->string, scratch_);
          if (id.size() > kMaxMessageIdBytes) {
            member.action = Action::kDrop;
            MarkEventError("invalid_field",
                           absl::StrCat("messageId is longer than ", kMaxMessageIdBytes, " bytes"));
            break;
          }
          message_id_ = id;
        } else {
          member.action = Action::kDrop;
          if (!is_null && !is_string) {
            MarkEventError("invalid_field", "messageId must be a string");
          }
        }
        break;
      case Special::kTimestamp:
        if (is_string && !is_empty_string) {
          has_timestamp_ = true;
        } else {
          member.action = Action::kDrop;
          if (!is_null && !is_string) {
            MarkEventError("invalid_field", "timestamp must be an ISO 8601 string");
          }
        }
        break;
      case Special::kNone:
        break;
    }
  }

  void MarkEventError(std::string code, std::string message) {
    if (event_error_code_.empty()) {
      event_error_code_ = std::move(code);
      event_error_message_ = std::move(message);
    }
  }

  void FinishEvent() {
    in_event_ = false;
    bool add_type = false;
    if (event_error_code_.empty()) {
      if (!has_type_) {
        if (batch_mode_) {
          MarkEventError("missing_type",
                         "type is required in a batch (track, page, identify, group)");
        } else {
          add_type = true;
          type_ = options_.path_type;
        }
      } else if (!batch_mode_) {
        type_ = options_.path_type;
      } else if (!IsSignalEventType(type_)) {
        MarkEventError(
            "unsupported_type",
            absl::StrCat("type \"", type_, "\" is not one of track, page, identify, group"));
      }
    }
    if (!event_error_code_.empty()) {
      result_.errors.push_back({index_, event_error_code_, event_error_message_});
      if (!batch_mode_) Fail(event_error_message_);
      return;
    }
    const bool add_message_id = message_id_.empty();
    if (add_message_id) message_id_ = options_.new_message_id();
    if (!has_timestamp_ && timestamp_.empty()) timestamp_ = IsoMillis(options_.now_ms);

    IngestedEvent& event = result_.events.emplace_back();
    event.index = index_;
    event.message_id = message_id_;
    event.type = type_;
    std::string& json = event.json;
    const size_t source_size =
        static_cast<size_t>(members_.empty() ? 2 : members_.back().value_end - event_begin_);
    json.reserve(source_size + 64 + message_id_.size() + timestamp_.size());
    json.push_back('{');
    // Consecutive kept members are copied as one run, separators and all.
    bool any = false;
    const char* run_begin = nullptr;
    const char* run_end = nullptr;
    auto flush_run = [&] {
      if (run_begin == nullptr) return;
      if (any) json.push_back(',');
      json.append(run_begin, static_cast<size_t>(run_end - run_begin));
      any = true;
      run_begin = nullptr;
    };
    for (const Member& member : members_) {
      if (member.action == Action::kKeep) {
        if (run_begin == nullptr) run_begin = member.key_begin;
        run_end = member.value_end;
        continue;
      }
      flush_run();
      if (member.action == Action::kReplaceType) {
        AppendMember("type", options_.path_type, any, json);
        any = true;
      }
    }
    flush_run();
    if (add_type) {
      AppendMember("type", options_.path_type, any, json);
      any = true;
    }
    if (add_message_id) {
      AppendMember("messageId", message_id_, any, json);
      any = true;
    }
    if (!has_timestamp_) AppendMember("timestamp", timestamp_, any, json);
    json.push_back('}');
  }

  void AddElementError(std::string code, std::string message) {
    result_.errors.push_back({index_, std::move(code), std::move(message)});
  }

  bool NextElement() {
    ++index_;
    if (index_ > options_.max_batch_events) {
      return Fail(absl::StrCat("a batch holds at most ", options_.max_batch_events, " events"));
    }
    return true;
  }

  // Root object at depth 1, the batch array at depth 2, its events at depth 3.
  static constexpr int kBatchArrayDepth = 2;

  const IngestOptions& options_;
  const bool batch_mode_;
  const int max_depth_;
  IngestResult result_;
  std::string body_error_;
  std::string scratch_;    // decoded strings
  std::string timestamp_;  // options_.now_ms as ISO 8601, made once when first needed

  int depth_ = 0;
  int skip_depth_ = 0;
  bool skip_next_ = false;
  bool batch_open_ = false;
  bool saw_batch_ = false;
  size_t index_ = 0;

  bool in_event_ = false;
  int event_depth_ = 0;
  const char* event_begin_ = nullptr;
  std::vector<Member> members_;  // the current event's top-level members
  Special pending_ = Special::kNone;
  bool type_key_seen_ = false;
  bool message_id_key_seen_ = false;
  bool timestamp_key_seen_ = false;
  bool has_type_ = false;
  bool has_timestamp_ = false;
  std::string type_;
  std::string message_id_;
  std::string event_error_code_;
  std::string event_error_message_;
};

// Accepts everything, so RapidJSON reports only syntax and encoding errors.
struct ValidateOnly : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ValidateOnly> {};

absl::Status MalformedJson(std::string_view body, size_t scanner_offset, const char* scanner_what) {
  rapidjson::Reader reader;
  ValidateOnly handler;
  rapidjson::MemoryStream stream(body.data(), body.size());
  const rapidjson::ParseResult parsed = reader.Parse<kReferenceParseFlags>(stream, handler);
  if (parsed.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON at byte ", parsed.Offset(), ": ",
                                                   rapidjson::GetParseError_En(parsed.Code())));
  }
  // Unreachable while the scanner and RapidJSON agree (the tests compare them).
  return absl::InvalidArgumentError(
      absl::StrCat("malformed JSON at byte ", scanner_offset, ": ", scanner_what));
}

}  // namespace

bool IsSignalEventType(std::string_view type) {
  return type == "track" || type == "page" || type == "identify" || type == "group";
}

absl::StatusOr<IngestResult> IngestEvents(std::string_view body, const IngestOptions& options) {
  IngestHandler handler(options, body.size());
  Scanner<IngestHandler> scanner(body, handler);
  const ScanOutcome outcome = scanner.Run();
  if (!handler.body_error().empty()) return absl::InvalidArgumentError(handler.body_error());
  if (outcome != ScanOutcome::kDone) {
    return MalformedJson(body, scanner.error_offset(), scanner.error_what());
  }
  if (absl::Status status = handler.Finish(); !status.ok()) return status;
  return std::move(handler.result());
}

}  // namespace signal_host::api
