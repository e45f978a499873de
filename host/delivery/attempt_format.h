// How a vendor request and response are written into an attempt record: secrets
// redacted, bodies cut to a size at a UTF-8 boundary, the request as a small JSON
// object {"method","url","headers","body"} that the admin API can embed as is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace signal_host::delivery {

inline constexpr std::string_view kRedacted = "***";

// True for headers whose value must never be recorded: Authorization (and
// Proxy-Authorization), Cookie, and any name containing "key", "token", "secret"
// or "password", case-insensitively.
bool IsSecretHeaderName(std::string_view name);

// The URL with the values of query parameters whose names look secret (as above)
// replaced by "***", and any user:password@ part dropped.
std::string RedactUrl(std::string_view url);

// At most max_bytes of `text`, never ending inside a UTF-8 sequence; "…[truncated]"
// is not appended (callers know the limit).
std::string_view TruncateUtf8(std::string_view text, size_t max_bytes);

// A JSON string literal (with quotes) for `text`; bytes that are not valid UTF-8
// become U+FFFD so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view text);

// {"method":...,"url":...,"headers":{name:value,...},"body":...} with secrets
// redacted and the body truncated to max_body_bytes.
std::string RequestRecordJson(std::string_view method, std::string_view url,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view body, size_t max_body_bytes);

}  // namespace signal_host::delivery
