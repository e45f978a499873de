// Fuzz target: Classify over vendor responses, and VendorErrorText over their bodies.
//
// Input, as text (see corpus/classify/):
//   line 1        "<http status> <event count> <host clock, unix ms>"; a missing number
//                 takes 200, 1 or 2026-02-25, one out of range saturates
//   header lines  "Name: value", up to the first empty line; the pseudo-header
//                 ":transport: text" sets the transport error
//   the rest      the body
//
// Invariants: an outcome is always given and matches the documented status table
// (docs/ARCHITECTURE.md, "Response classes"); a Retry-After wait appears only on
// throttle and transient outcomes and never exceeds the cap (the default and a small
// one); the code names the status; the message is non-empty, bounded and UTF-8.
// VendorErrorText never shows a redacted credential and stays within its bound.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "classify.h"
#include "fuzz_check.h"
#include "proto_utf8.h"
#include "vendor_error.h"

namespace {

namespace v1 = signal::integration::v1;
using Outcome = v1::ClassifyResponse::Outcome;

constexpr std::string_view kCanary = "tok_9Zx8Yw7Vu6";
constexpr uint32_t kSmallCap = 5;
// Fixed text plus a 300-byte transport error or a 200-byte vendor error, with room to
// spare.
constexpr size_t kMaxMessageBytes = 1500;

// Reads a decimal integer (optionally negative) from the front of `text`, clamped to
// [lo, hi]; `fallback` when there is none.
int64_t TakeNumber(std::string_view& text, int64_t lo, int64_t hi, int64_t fallback) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  const bool negative = !text.empty() && text.front() == '-';
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end == text.data()) return fallback;
  text.remove_prefix(static_cast<size_t>(end - text.data()));
  if (error == std::errc::result_out_of_range) return negative ? lo : hi;
  return std::clamp(value, lo, hi);
}

std::string_view TakeLine(std::string_view& input) {
  const size_t newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  input = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  return line;
}

v1::ClassifyRequest ParseInput(std::string_view input) {
  v1::ClassifyRequest request;
  std::string_view first = TakeLine(input);
  request.set_http_status(static_cast<int32_t>(TakeNumber(
      first, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), 200)));
  request.set_event_count(
      static_cast<uint32_t>(TakeNumber(first, 0, std::numeric_limits<uint32_t>::max(), 1)));
  request.set_now_unix_ms(TakeNumber(first, std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max(), 1772029800123));
  while (!input.empty()) {
    std::string_view line = TakeLine(input);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const size_t colon = line.find(':', 1);
    const std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == ":transport") {
      request.set_transport_error(std::string(value));
    } else {
      v1::Header* header = request.add_headers();
      header->set_name(std::string(name));
      header->set_value(std::string(value));
    }
  }
  request.set_body(std::string(input));
  return request;
}

// The outcome docs/ARCHITECTURE.md promises for a status.
Outcome Expected(int status, uint32_t events) {
  if (status < 100 || status > 599) return v1::ClassifyResponse::TRANSIENT;  // 0: no answer
  if (status >= 200 && status < 300) return v1::ClassifyResponse::DELIVERED;
  if (status < 400) return v1::ClassifyResponse::REJECT;
  if (status == 400 || status == 413) {
    return events > 1 ? v1::ClassifyResponse::SPLIT : v1::ClassifyResponse::REJECT;
  }
  if (status == 401 || status == 403 || status == 404) return v1::ClassifyResponse::SETUP_FAILURE;
  if (status == 408 || status == 429) return v1::ClassifyResponse::THROTTLE;
  if (status >= 500 && status != 501 && status != 505) return v1::ClassifyResponse::TRANSIENT;
  return v1::ClassifyResponse::REJECT;
}

void CheckResponse(const v1::ClassifyRequest& request, const v1::ClassifyResponse& response,
                   uint32_t cap_s) {
  const std::string shown = request.DebugString().substr(0, 2000) + response.DebugString();
  const int status = request.http_status();
  FUZZ_CHECK(response.outcome() == Expected(status, request.event_count()), shown);
  FUZZ_CHECK(response.code() == (status == 0 ? "network_error" : "http_" + std::to_string(status)),
             shown);
  FUZZ_CHECK(response.retry_after_ms() <= uint64_t{cap_s} * 1000, shown);
  FUZZ_CHECK(response.retry_after_ms() == 0 ||
                 response.outcome() == v1::ClassifyResponse::THROTTLE ||
                 response.outcome() == v1::ClassifyResponse::TRANSIENT,
             shown);
  FUZZ_CHECK(!response.message().empty() && response.message().size() <= kMaxMessageBytes, shown);
  const std::string not_utf8 = signal_fuzz::FirstInvalidUtf8Field(response);
  FUZZ_CHECK(not_utf8.empty(), not_utf8 + ": " + shown);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const v1::ClassifyRequest request = ParseInput(signal_fuzz::AsText(data, size));
  CheckResponse(request, signal_hightouch::Classify(request),
                signal_hightouch::kDefaultMaxRetryAfterSeconds);
  CheckResponse(request, signal_hightouch::Classify(request, kSmallCap), kSmallCap);

  const std::string text = signal_hightouch::VendorErrorText(request.body(), {kCanary});
  FUZZ_CHECK(text.find(kCanary) == std::string::npos, text);
  FUZZ_CHECK(text.size() <= signal_hightouch::kMaxVendorErrorBytes + 3, text);  // + "..."
  FUZZ_CHECK(signal_fuzz::IsValidUtf8(text), text);
  return 0;
}
