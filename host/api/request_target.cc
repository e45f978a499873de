#include "request_target.h"

namespace signal_host::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `plus_is_space`: query strings (application/x-www-form-urlencoded) write a space as +.
std::optional<std::string> Decode(std::string_view text, bool plus_is_space, std::string* error) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      const int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        *error = "the request target has a malformed percent escape";
        return std::nullopt;
      }
      c = static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      *error = "the request target contains a control character";
      return std::nullopt;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::optional<RequestTarget> ParseRequestTarget(std::string_view target, std::string* error) {
  if (target.empty() || target.front() != '/') {
    *error = "the request target must be a path starting with /";
    return std::nullopt;
  }
  RequestTarget parsed;
  const size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  if (const size_t hash = path.find('#'); hash != std::string_view::npos)
    path = path.substr(0, hash);
  parsed.path = std::string(path);
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) {
      std::optional<std::string> segment = Decode(path.substr(start, end - start), false, error);
      if (!segment) return std::nullopt;
      parsed.segments.push_back(std::move(*segment));
    }
    start = end + 1;
  }
  if (question == std::string_view::npos) return parsed;
  std::string_view query = target.substr(question + 1);
  if (const size_t hash = query.find('#'); hash != std::string_view::npos) {
    query = query.substr(0, hash);
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::optional<std::string> name = Decode(pair.substr(0, eq), true, error);
    if (!name) return std::nullopt;
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::string() : Decode(pair.substr(eq + 1), true, error);
    if (!value) return std::nullopt;
    parsed.query.emplace(std::move(*name), std::move(*value));  // keeps the first
  }
  return parsed;
}

bool MatchRoute(std::string_view pattern, const std::vector<std::string>& segments,
                std::vector<std::string>* params) {
  std::vector<std::string> captured;
  size_t index = 0;
  size_t start = 1;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    const std::string_view part = pattern.substr(start, end - start);
    start = end + 1;
    if (part.empty()) continue;
    if (index >= segments.size()) return false;
    if (part == "{}") {
      captured.push_back(segments[index]);
    } else if (part != segments[index]) {
      return false;
    }
    ++index;
  }
  if (index != segments.size()) return false;
  params->insert(params->end(), captured.begin(), captured.end());
  return true;
}

}  // namespace signal_host::api
