// Whole-text checks against the host's JSON rule (json_scanner.h, docs/API.md), and the
// wording of its errors, shared by the event API and the admin API.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "json_scanner.h"

namespace signal_host::api {

// OK when `text` is one JSON value by the rule, nesting at most `max_depth` levels
// (at most kMaxScanDepth); else InvalidArgument worded as below.
absl::Status ValidateJson(std::string_view text, int max_depth = kMaxJsonDepth);

// "malformed JSON at byte <offset>: <what>"
absl::Status MalformedJsonError(size_t offset, std::string_view what);
// "JSON nests deeper than 64 levels"
absl::Status TooDeepJsonError();

}  // namespace signal_host::api
