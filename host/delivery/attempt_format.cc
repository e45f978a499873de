#include "host/delivery/attempt_format.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace signal_host::delivery {
namespace {

bool LooksSecret(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(std::string(name));
  for (const char* needle : {"authorization", "cookie", "key", "token", "secret", "password"}) {
    if (absl::StrContains(lower, needle)) return true;
  }
  return false;
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is invalid.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t code_point;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr uint32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinimum[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

}  // namespace

bool IsSecretHeaderName(std::string_view name) { return LooksSecret(name); }

std::string RedactUrl(std::string_view url) {
  std::string out;
  out.reserve(url.size());
  // Drop credentials in the authority (scheme://user:pass@host).
  size_t start = 0;
  const size_t scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    const size_t authority = scheme_end + 3;
    const size_t authority_end = url.find_first_of("/?#", authority);
    const std::string_view host_part =
        url.substr(authority, authority_end == std::string_view::npos ? std::string_view::npos
                                                                      : authority_end - authority);
    const size_t at = host_part.rfind('@');
    out.append(url.substr(0, authority));
    start = authority;
    if (at != std::string_view::npos) start = authority + at + 1;
  }
  const size_t query = url.find('?', start);
  if (query == std::string_view::npos) {
    out.append(url.substr(start));
    return out;
  }
  out.append(url.substr(start, query + 1 - start));
  const size_t fragment = url.find('#', query);
  const std::string_view params =
      url.substr(query + 1, fragment == std::string_view::npos ? std::string_view::npos
                                                               : fragment - query - 1);
  size_t pos = 0;
  bool first = true;
  while (pos <= params.size()) {
    size_t end = params.find('&', pos);
    if (end == std::string_view::npos) end = params.size();
    const std::string_view pair = params.substr(pos, end - pos);
    if (!first) out += '&';
    first = false;
    const size_t equals = pair.find('=');
    if (equals != std::string_view::npos && LooksSecret(pair.substr(0, equals))) {
      out.append(pair.substr(0, equals + 1));
      out.append(kRedacted);
    } else {
      out.append(pair);
    }
    pos = end + 1;
  }
  if (fragment != std::string_view::npos) out.append(url.substr(fragment));
  return out;
}

std::string_view TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  const auto continuation = [&](size_t k) {
    return (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80;
  };
  // text[max_bytes] is the first byte cut off. When it continues a sequence, cut
  // before that sequence's lead byte instead.
  size_t end = max_bytes;
  size_t back = 0;
  while (back < 3 && back < end && continuation(end - back)) ++back;
  if (back > 0 && !continuation(end - back)) end -= back;
  return text.substr(0, end);
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(text, i);
      if (length == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

std::string RequestRecordJson(std::string_view method, std::string_view url,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view body, size_t max_body_bytes) {
  std::string out;
  out.reserve(128 + url.size() + std::min(body.size(), max_body_bytes) + headers.size() * 48);
  out += "{\"method\":";
  AppendJsonString(out, method);
  out += ",\"url\":";
  AppendJsonString(out, RedactUrl(url));
  out += ",\"headers\":{";
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, name);
    out += ':';
    AppendJsonString(out, IsSecretHeaderName(name) ? kRedacted : std::string_view(value));
  }
  out += "},\"body\":";
  AppendJsonString(out, TruncateUtf8(body, max_body_bytes));
  out += '}';
  return out;
}

}  // namespace signal_host::delivery
