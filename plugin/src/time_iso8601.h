// ISO 8601 date-times: parsing any offset and fraction, writing UTC with milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace signal_hightouch {

// Length of "YYYY-MM-DDTHH:MM:SS.mmmZ".
inline constexpr size_t kIso8601MillisLength = 24;

// Earliest and latest instants that fit a four-digit year (0000-01-01 to 9999-12-31).
inline constexpr int64_t kMinIso8601UnixMs = -62167219200000;
inline constexpr int64_t kMaxIso8601UnixMs = 253402300799999;

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM|±HH]" into Unix milliseconds.
// The separator may be 'T', 't' or a space; 'z' is accepted for 'Z'; no zone means
// UTC. The fraction may have any number of digits and is truncated to milliseconds.
// Fields are range-checked (month length and leap years included; second 60 is not
// accepted). Returns false for anything else, or when the instant does not fit
// [kMinIso8601UnixMs, kMaxIso8601UnixMs].
bool ParseIso8601(std::string_view text, int64_t* unix_ms);

// Writes unix_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (exactly kIso8601MillisLength bytes,
// no terminator). unix_ms must lie in [kMinIso8601UnixMs, kMaxIso8601UnixMs].
void FormatIso8601Millis(int64_t unix_ms, char* out);

}  // namespace signal_hightouch
