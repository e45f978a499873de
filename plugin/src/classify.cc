#include "classify.h"

#include <array>
#include <limits>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "operator_text.h"
#include "vendor_error.h"

// Choices beyond the obvious rows:
// - 413 Payload Too Large is treated like 400: a request of several events is split
//   (each half may fit), a single event is rejected (it can never fit).
// - 1xx and 3xx are rejected: the Events API never redirects, so a redirect means the
//   base URL points somewhere else, and following it could leak the Authorization
//   header to another host.
// - A status outside 100..599 (a broken proxy) is transient: retrying loses nothing.

namespace signal_hightouch {
namespace {

using signal::integration::v1::ClassifyRequest;
using signal::integration::v1::ClassifyResponse;

constexpr size_t kMaxTransportErrorBytes = 300;

// ---- Retry-After -----------------------------------------------------------------

constexpr std::array<std::string_view, 7> kShortDays = {"Mon", "Tue", "Wed", "Thu",
                                                        "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Reads an HTTP-date left to right; any mismatch sets failed().
class DateCursor {
 public:
  explicit DateCursor(std::string_view text) : text_(text) {}

  void Literal(std::string_view expected) {
    if (!ok_ || !text_.starts_with(expected)) return Fail();
    text_.remove_prefix(expected.size());
  }

  // Exactly `count` digits; a leading space stands for a zero when space_pad is set
  // (asctime writes " 6" for the sixth).
  int Digits(size_t count, bool space_pad = false) {
    if (!ok_ || text_.size() < count) return Fail(), 0;
    int value = 0;
    for (size_t i = 0; i < count; ++i) {
      const char c = text_[i];
      if (i == 0 && space_pad && c == ' ') continue;
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return Fail(), 0;
      value = value * 10 + (c - '0');
    }
    if (space_pad && text_[0] == ' ' && value == 0) return Fail(), 0;
    text_.remove_prefix(count);
    return value;
  }

  // Index of the name `text_` starts with, matched case-insensitively.
  template <size_t N>
  int Name(const std::array<std::string_view, N>& names) {
    if (!ok_) return -1;
    for (size_t i = 0; i < N; ++i) {
      if (text_.size() >= names[i].size() &&
          EqualsNoCase(text_.substr(0, names[i].size()), names[i])) {
        text_.remove_prefix(names[i].size());
        return static_cast<int>(i);
      }
    }
    Fail();
    return -1;
  }

  // hh:mm:ss
  void Time(int& hour, int& minute, int& second) {
    hour = Digits(2);
    Literal(":");
    minute = Digits(2);
    Literal(":");
    second = Digits(2);
  }

  bool Done() const { return ok_ && text_.empty(); }

 private:
  void Fail() { ok_ = false; }

  std::string_view text_;
  bool ok_ = true;
};

struct DateParts {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool ParseImfFixdate(std::string_view text, DateParts& out) {
  DateCursor cursor(text);
  cursor.Name(kShortDays);
  cursor.Literal(", ");
  out.day = cursor.Digits(2);
  cursor.Literal(" ");
  out.month = cursor.Name(kMonths) + 1;
  cursor.Literal(" ");
  out.year = cursor.Digits(4);
  cursor.Literal(" ");
  cursor.Time(out.hour, out.minute, out.second);
  cursor.Literal(" GMT");
  return cursor.Done();
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; the year is resolved by the caller.
bool ParseRfc850(std::string_view text, DateParts& out) {
  DateCursor cursor(text);
  cursor.Name(kLongDays);
  cursor.Literal(", ");
  out.day = cursor.Digits(2);
  cursor.Literal("-");
  out.month = cursor.Name(kMonths) + 1;
  cursor.Literal("-");
  out.year = cursor.Digits(2);
  cursor.Literal(" ");
  cursor.Time(out.hour, out.minute, out.second);
  cursor.Literal(" GMT");
  return cursor.Done();
}

// "Sun Nov  6 08:49:37 1994"
bool ParseAsctime(std::string_view text, DateParts& out) {
  DateCursor cursor(text);
  cursor.Name(kShortDays);
  cursor.Literal(" ");
  out.month = cursor.Name(kMonths) + 1;
  cursor.Literal(" ");
  out.day = cursor.Digits(2, /*space_pad=*/true);
  cursor.Literal(" ");
  cursor.Time(out.hour, out.minute, out.second);
  cursor.Literal(" ");
  out.year = cursor.Digits(4);
  return cursor.Done();
}

// Unix seconds of a valid date, or nullopt (Feb 30, 25:00, ...). Years beyond four
// digits come only from an RFC 850 date read against an absurd clock.
std::optional<int64_t> ToUnixSeconds(const DateParts& parts) {
  if (parts.year < 0 || parts.year > 9999 || parts.month < 1 || parts.month > 12 || parts.day < 1 ||
      parts.hour > 23 || parts.minute > 59 || parts.second > 60) {
    return std::nullopt;
  }
  const absl::CivilDay day(parts.year, parts.month, parts.day);
  if (day.year() != parts.year || day.month() != parts.month || day.day() != parts.day) {
    return std::nullopt;  // The day does not exist in that month.
  }
  // A leap second (:60) is read as the following second.
  const absl::CivilSecond when(parts.year, parts.month, parts.day, parts.hour, parts.minute,
                               parts.second);
  return absl::ToUnixSeconds(absl::FromCivil(when, absl::UTCTimeZone()));
}

std::optional<int64_t> ParseHttpDate(std::string_view text, int64_t now_unix_ms) {
  if (text.size() > 40) return std::nullopt;  // The longest form is 33 characters.
  DateParts parts;
  if (ParseImfFixdate(text, parts) || ParseAsctime(text, parts)) return ToUnixSeconds(parts);
  if (ParseRfc850(text, parts)) {
    // A two-digit year that would be more than 50 years ahead is in the past century.
    const int now_year = static_cast<int>(
        absl::ToCivilYear(absl::FromUnixMillis(now_unix_ms), absl::UTCTimeZone()).year());
    int year = now_year - now_year % 100 + parts.year;
    if (year > now_year + 50) year -= 100;
    parts.year = year;
    return ToUnixSeconds(parts);
  }
  return std::nullopt;
}

int64_t NowUnixMs(const ClassifyRequest& request) {
  return request.now_unix_ms() != 0 ? request.now_unix_ms() : absl::ToUnixMillis(absl::Now());
}

// ---- response reading ------------------------------------------------------------

// "HTTP 401" or "HTTP 401: Authentication error (Token is invalid)".
std::string StatusWithDetail(int status, std::string_view body) {
  const std::string detail = VendorErrorText(body);
  if (detail.empty()) return Cat("HTTP ", status);
  return Cat("HTTP ", status, ": ", detail);
}

std::optional<uint64_t> RetryAfterHeaderMs(const ClassifyRequest& request, uint32_t cap_s) {
  for (const auto& header : request.headers()) {
    if (!EqualsNoCase(header.name(), "retry-after")) continue;
    std::optional<uint64_t> wait = ParseRetryAfterMs(header.value(), NowUnixMs(request));
    if (!wait) return std::nullopt;  // Unreadable: the host's own backoff applies.
    return std::min<uint64_t>(*wait, uint64_t{cap_s} * 1000);
  }
  return std::nullopt;
}

std::string WaitText(uint64_t wait_ms) { return Cat((wait_ms + 999) / 1000, " s"); }

std::string EventsText(uint32_t count) { return count == 1 ? "1 event" : Cat(count, " events"); }

}  // namespace

std::optional<uint64_t> ParseRetryAfterMs(std::string_view value, int64_t now_unix_ms) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;

  bool all_digits = true;
  for (char c : value)
    all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (all_digits) {
    // delta-seconds; absurd values saturate instead of overflowing.
    constexpr uint64_t kMaxSeconds = std::numeric_limits<uint64_t>::max() / 1000;
    uint64_t seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
      if (seconds > kMaxSeconds) return kMaxSeconds * 1000;
    }
    return seconds * 1000;
  }

  const std::optional<int64_t> date_s = ParseHttpDate(value, now_unix_ms);
  if (!date_s) return std::nullopt;
  const int64_t date_ms = *date_s * 1000;  // Years 0..9999: far from overflow.
  if (date_ms <= now_unix_ms) return 0;
  // The clock is the caller's and may be anything: a difference in int64 could overflow,
  // one in uint64 is exact here (it lies in [1, 2^64)).
  return static_cast<uint64_t>(date_ms) - static_cast<uint64_t>(now_unix_ms);
}

ClassifyResponse Classify(const ClassifyRequest& request, uint32_t max_retry_after_s) {
  if (max_retry_after_s == 0) max_retry_after_s = kDefaultMaxRetryAfterSeconds;
  ClassifyResponse response;
  const int status = request.http_status();
  const uint32_t events = request.event_count();

  if (status == 0) {
    response.set_outcome(ClassifyResponse::TRANSIENT);
    response.set_code("network_error");
    const std::string cause =
        request.transport_error().empty()
            ? std::string("no response and no transport error reported")
            : PrintableText(request.transport_error(), kMaxTransportErrorBytes);
    response.set_message(Cat("network_error: ", cause, ". Hightouch could not be reached; the ",
                             EventsText(events), " will be retried with backoff."));
    return response;
  }

  response.set_code(Cat("http_", status));
  const std::string seen = StatusWithDetail(status, request.body());

  if (status < 100 || status > 599) {
    response.set_outcome(ClassifyResponse::TRANSIENT);
    response.set_message(Cat("Received an invalid HTTP status ", status,
                             " (not from Hightouch itself; check any proxy in between). "
                             "The request will be retried with backoff."));
    return response;
  }
  if (status >= 200 && status < 300) {
    response.set_outcome(ClassifyResponse::DELIVERED);
    response.set_message(
        Cat("Hightouch accepted the request (HTTP ", status, ") with ", EventsText(events), "."));
    return response;
  }
  if (status < 400) {  // 1xx and 3xx.
    response.set_outcome(ClassifyResponse::REJECT);
    response.set_message(Cat(
        "Hightouch answered with ", status < 200 ? "an informational" : "a redirect", " status (",
        seen,
        ") where a final answer was expected. The Events API does not redirect, so the plugin's "
        "events_base_url probably points at the wrong host; fix it and replay the ",
        EventsText(events), " from dead letters."));
    return response;
  }
  if (status == 400 || status == 413) {
    const char* what = status == 400 ? "as invalid" : "as too large";
    if (events > 1) {
      response.set_outcome(ClassifyResponse::SPLIT);
      response.set_message(Cat("Hightouch refused the batch of ", EventsText(events), " ", what,
                               " (", seen,
                               "). Resending it in halves to isolate the events at "
                               "fault."));
    } else {
      response.set_outcome(ClassifyResponse::REJECT);
      response.set_message(Cat(
          "Hightouch refused the event ", what, " (", seen,
          "). It cannot be delivered as it is; it goes to dead letters. Check the event against "
          "Hightouch's event spec (type, messageId, userId or anonymousId, size under 32 KB)."));
    }
    return response;
  }
  if (status == 401 || status == 403) {
    response.set_outcome(ClassifyResponse::SETUP_FAILURE);
    response.set_message(Cat(
        "Hightouch refused the credentials (", seen,
        "). Create a new API key in Hightouch under Settings > API Keys, or copy the HTTP Events "
        "source's write key again if you set one, then save a new revision of the integration. "
        "Events are held, not lost, until then."));
    return response;
  }
  if (status == 404) {
    response.set_outcome(ClassifyResponse::SETUP_FAILURE);
    response.set_message(Cat(
        "Hightouch did not find the destination (", seen,
        "). Check the workspace ID, the source ID and the region against the Hightouch dashboard "
        "(the region must be the one the workspace was created in), then save a new revision. "
        "Events are held, not lost, until then."));
    return response;
  }

  const std::optional<uint64_t> wait_ms = RetryAfterHeaderMs(request, max_retry_after_s);
  if (wait_ms) response.set_retry_after_ms(*wait_ms);
  const std::string wait_text = wait_ms
                                    ? Cat("after the ", WaitText(*wait_ms), " Hightouch asked for")
                                    : std::string("with backoff");

  if (status == 408 || status == 429) {
    response.set_outcome(ClassifyResponse::THROTTLE);
    response.set_message(
        Cat(status == 429 ? "Hightouch is rate limiting requests ("
                          : "Hightouch timed out reading "
                            "the request (",
            seen, "). The ", EventsText(events), " will be retried ", wait_text,
            ". If this persists, lower rate_limit_rps, or ask Hightouch support to raise the "
            "limit."));
    return response;
  }
  if (status >= 500 && status != 501 && status != 505) {
    response.set_outcome(ClassifyResponse::TRANSIENT);
    response.set_message(Cat("Hightouch had a temporary server error (", seen, "). The ",
                             EventsText(events), " will be retried ", wait_text, "."));
    return response;
  }
  response.set_retry_after_ms(0);
  response.set_outcome(ClassifyResponse::REJECT);
  response.set_message(Cat("Hightouch refused the request and will refuse it again (", seen,
                           "). The ", EventsText(events), events == 1 ? " goes" : " go",
                           " to dead letters and can be replayed once the cause is fixed."));
  return response;
}

}  // namespace signal_hightouch
