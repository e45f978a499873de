// Fuzz target: Retry-After values (delta-seconds and the three HTTP-date forms) through
// ParseRetryAfterMs, read against several clocks, the extremes of int64 included: the
// value comes from the vendor and the clock from whoever calls the plugin's Classify.
//
// Invariants: never crashes (UBSan: no overflow); surrounding spaces and tabs do not
// change the result; delta-seconds are exact (saturating); a date names one instant, so
// two clocks' waits for it differ by the clocks' difference.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "classify.h"
#include "fuzz_check.h"

namespace {

// 2026-02-25T14:30:00.123Z, the turn of a century (RFC 850 two-digit years), the last
// millisecond of year 9999, the Unix epoch, and the ends of int64.
constexpr int64_t kClocks[] = {1772029800123,
                               946684799999,
                               253402300799999,
                               0,
                               std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max()};

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view TrimSpaceAndTab(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string Shown(std::string_view value, int64_t now) {
  return "\"" + std::string(value) + "\" at " + std::to_string(now);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using signal_hightouch::ParseRetryAfterMs;
  const std::string_view value = signal_fuzz::AsText(data, size);
  const std::string padded = " \t" + std::string(value) + "\t ";
  const std::string_view trimmed = TrimSpaceAndTab(value);

  for (int64_t now : kClocks) {
    const std::optional<uint64_t> wait = ParseRetryAfterMs(value, now);
    FUZZ_CHECK(ParseRetryAfterMs(padded, now) == wait, Shown(value, now));
    if (AllDigits(trimmed)) {
      FUZZ_CHECK(wait.has_value(), Shown(value, now));
      // Exact below the saturation point, which only 17 digits or more reach.
      if (trimmed.size() <= 15) {
        FUZZ_CHECK(*wait == std::stoull(std::string(trimmed)) * 1000, Shown(value, now));
      }
    }
  }

  // As long as both clocks are before the date and in the same century (which fixes an
  // RFC 850 year), their waits differ by exactly the clocks' difference. The first clock
  // and one 30 days earlier qualify.
  constexpr int64_t kNow = kClocks[0];
  constexpr int64_t kEarlier = kNow - int64_t{30} * 24 * 3600 * 1000;
  const std::optional<uint64_t> wait_now = ParseRetryAfterMs(value, kNow);
  const std::optional<uint64_t> wait_earlier = ParseRetryAfterMs(value, kEarlier);
  FUZZ_CHECK(wait_now.has_value() == wait_earlier.has_value(), Shown(value, kEarlier));
  if (wait_now && !AllDigits(trimmed) && *wait_now > 0) {
    FUZZ_CHECK(*wait_earlier == *wait_now + static_cast<uint64_t>(kNow - kEarlier),
               Shown(value, kEarlier));
  }
  return 0;
}
