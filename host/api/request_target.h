// Splits an HTTP request target ("/v1/admin/integrations/int_1?limit=5") into
// percent-decoded path segments and query parameters, and matches it against route
// patterns. Decoding happens per segment, so an encoded "/" (%2F) stays inside its
// segment instead of changing the route.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signal_host::api {

struct RequestTarget {
  std::string path;                          // as sent (still encoded), without the query
  std::vector<std::string> segments;         // decoded, without empty ones
  std::map<std::string, std::string> query;  // decoded; the first value of each name
};

// nullopt (with the reason in `error`) when the target is not an origin-form path, a
// percent escape is malformed, or a decoded byte is NUL or another control character.
std::optional<RequestTarget> ParseRequestTarget(std::string_view target, std::string* error);

// A route pattern: "/v1/admin/integrations/{}/revisions" ("{}" matches one segment).
// On a match, the captured segments are appended to `params`.
bool MatchRoute(std::string_view pattern, const std::vector<std::string>& segments,
                std::vector<std::string>* params);

}  // namespace signal_host::api
