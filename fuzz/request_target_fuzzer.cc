// Fuzz target: request targets (host/api request_target), the path and query of every
// request, routed before anything else is read.
//
// Invariants: a parsed target's segments and query hold no control character and no
// empty segment; encoding every segment again and parsing gives the same segments (an
// encoded "/" stays inside its segment); route matching never captures more segments
// than the pattern has placeholders.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "request_target.h"

namespace {

bool HasControl(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string Encode(std::string_view segment) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

constexpr const char* kPatterns[] = {"/v1/admin/integrations/{}/revisions/{}",
                                     "/v1/admin/integration-catalog/{}/install", "/v1/batch",
                                     "/{}", "/"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using signal_host::api::ParseRequestTarget;
  const std::string_view target = signal_fuzz::AsText(data, size);
  std::string error;
  const auto parsed = ParseRequestTarget(target, &error);
  if (!parsed) {
    FUZZ_CHECK(!error.empty(), "a refusal without a reason");
    return 0;
  }
  std::string again = "/";
  for (const std::string& segment : parsed->segments) {
    FUZZ_CHECK(!segment.empty(), "an empty segment");
    FUZZ_CHECK(!HasControl(segment), "a control character in a segment");
    again += Encode(segment) + "/";
  }
  for (const auto& [name, value] : parsed->query) {
    FUZZ_CHECK(!HasControl(name) && !HasControl(value), "a control character in the query");
  }
  std::string error_again;
  const auto reparsed = ParseRequestTarget(again, &error_again);
  FUZZ_CHECK(reparsed.has_value(), "an encoded target no longer parses: " + error_again);
  FUZZ_CHECK(reparsed->segments == parsed->segments, "segments change through encoding");
  for (const char* pattern : kPatterns) {
    std::vector<std::string> params;
    if (signal_host::api::MatchRoute(pattern, parsed->segments, &params)) {
      size_t holes = 0;
      for (std::string_view p = pattern; p.find("{}") != std::string_view::npos;
           p.remove_prefix(p.find("{}") + 2)) {
        ++holes;
      }
      FUZZ_CHECK(params.size() == holes, "captures differ from the pattern's placeholders");
    }
  }
  return 0;
}
