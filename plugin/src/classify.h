// Reading Hightouch responses: what the host must do with a request's events.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "signal/integration/v1/integration.pb.h"

namespace signal_hightouch {

// Longest wait a Retry-After may impose before it is capped.
inline constexpr uint32_t kDefaultMaxRetryAfterSeconds = 300;

// Parses a Retry-After value given as delta-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2026 07:28:00 GMT", also the obsolete RFC 850 and asctime forms).
// Returns the wait in milliseconds from now_unix_ms (0 for a date in the past), or
// nullopt for a value that is neither. Never throws; any input is safe.
std::optional<uint64_t> ParseRetryAfterMs(std::string_view value, int64_t now_unix_ms);

// Classifies one response. The request's now_unix_ms 0 means the system clock;
// max_retry_after_s caps a Retry-After (0 means kDefaultMaxRetryAfterSeconds).
signal::integration::v1::ClassifyResponse Classify(
    const signal::integration::v1::ClassifyRequest& request,
    uint32_t max_retry_after_s = kDefaultMaxRetryAfterSeconds);

}  // namespace signal_hightouch
