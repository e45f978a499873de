#include "options.h"

#include <charconv>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "operator_text.h"

namespace signal_hightouch {
namespace {

constexpr std::string_view kRegionPlaceholder = "{region}";
// A probe that may take longer than ten minutes is a typo, not a setting.
constexpr uint32_t kMaxTimeoutMs = 600000;

std::string_view StripTrailingSlashes(std::string_view url) {
  while (url.ends_with('/')) url.remove_suffix(1);
  return url;
}

// Shown in messages; long values are cut so a pasted blob cannot flood a log.
std::string Shown(std::string_view value) { return PrintableText(value, 80); }

// Checks an http(s) base URL. `allow_region` permits the "{region}" placeholder.
absl::StatusOr<std::string> ParseBaseUrl(std::string_view key, std::string_view value,
                                         bool allow_region) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(Cat("plugin option ", key, ": ", why));
  };
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return bad("must not contain spaces, control characters or non-ASCII bytes");
    }
  }
  std::string_view rest;
  if (StartsWithNoCase(value, "https://")) {
    rest = value.substr(8);
  } else if (StartsWithNoCase(value, "http://")) {
    rest = value.substr(7);
  } else {
    return bad(Cat("'", Shown(value),
                   "' is not an http:// or https:// address, e.g. https://api.hightouch.com"));
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return bad(Cat("'", Shown(value), "' names no host"));
  if (authority.find('@') != std::string_view::npos) {
    // Never echoed: the part before '@' would be a credential.
    return bad("must not carry credentials (user:password@); give the bare host");
  }
  if (value.find_first_of("?#") != std::string_view::npos) {
    return bad(Cat("'", Shown(value),
                   "' has a query or fragment; give a base address such as "
                   "https://api.hightouch.com"));
  }
  const std::string without_region =
      absl::StrReplaceAll(AbslView(value), {{AbslView(kRegionPlaceholder), ""}});
  if (without_region.find_first_of("{}") != std::string::npos) {
    return bad(Cat("'", Shown(value), "' has braces other than the ",
                   allow_region ? "{region} placeholder" : "none allowed here"));
  }
  if (!allow_region && without_region.size() != value.size()) {
    return bad("the {region} placeholder is only allowed in events_base_url");
  }
  return std::string(StripTrailingSlashes(value));
}

absl::StatusOr<uint32_t> ParseTimeoutMs(std::string_view key, std::string_view value) {
  bool digits = !value.empty();
  for (char c : value) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits) {
    return absl::InvalidArgumentError(Cat("plugin option ", key, ": '", Shown(value),
                                          "' is not a whole number of milliseconds, e.g. 5000"));
  }
  uint32_t parsed = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (ec != std::errc()) parsed = kMaxTimeoutMs + 1;  // More than 32 bits: out of range.
  if (parsed == 0 || parsed > kMaxTimeoutMs) {
    return absl::InvalidArgumentError(Cat("plugin option ", key, ": must be between 1 and ",
                                          kMaxTimeoutMs, " milliseconds, got ", Shown(value)));
  }
  return parsed;
}

}  // namespace

absl::StatusOr<PluginOptions> PluginOptions::FromKeyValues(
    const std::vector<std::pair<std::string, std::string>>& options) {
  PluginOptions out;
  std::set<std::string> seen;
  for (const auto& [key, value] : options) {
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(
          Cat("plugin option ", Shown(key), ": given more than once"));
    }
    if (key == "events_base_url") {
      auto url = ParseBaseUrl(key, value, /*allow_region=*/true);
      if (!url.ok()) return url.status();
      out.events_base_url = *std::move(url);
    } else if (key == "api_base_url") {
      auto url = ParseBaseUrl(key, value, /*allow_region=*/false);
      if (!url.ok()) return url.status();
      out.api_base_url = *std::move(url);
    } else if (key == "probe_connect_timeout_ms") {
      auto ms = ParseTimeoutMs(key, value);
      if (!ms.ok()) return ms.status();
      out.probe_connect_timeout_ms = *ms;
    } else if (key == "probe_timeout_ms") {
      auto ms = ParseTimeoutMs(key, value);
      if (!ms.ok()) return ms.status();
      out.probe_timeout_ms = *ms;
    } else if (key == "tls_verify") {
      if (value == "true") {
        out.tls_verify = true;
      } else if (value == "false") {
        out.tls_verify = false;
      } else {
        return absl::InvalidArgumentError(
            Cat("plugin option tls_verify: expected true or false, got '", Shown(value), "'"));
      }
    } else {
      return absl::InvalidArgumentError(
          Cat("unknown plugin option '", Shown(key),
              "'; known options are events_base_url, api_base_url, probe_connect_timeout_ms, "
              "probe_timeout_ms and tls_verify"));
    }
  }
  return out;
}

std::string PluginOptions::EventsBaseUrl(std::string_view region) const {
  const std::string url =
      absl::StrReplaceAll(events_base_url, {{AbslView(kRegionPlaceholder), AbslView(region)}});
  return std::string(StripTrailingSlashes(url));
}

}  // namespace signal_hightouch
