// ISO 8601 parsing and formatting for event timestamps, checked against Abseil's
// civil-time arithmetic as an independent reference.
#include <string>

#include "../../bench/corpus/event_corpus.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "time_iso8601.h"

namespace signal_hightouch {
namespace {

std::string Format(int64_t unix_ms) {
  char out[kIso8601MillisLength];
  FormatIso8601Millis(unix_ms, out);
  return std::string(out, kIso8601MillisLength);
}

std::string AbslFormat(int64_t unix_ms) {
  return absl::FormatTime("%E4Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

int64_t Parse(const std::string& text) {
  int64_t ms = -1;
  EXPECT_TRUE(ParseIso8601(text, &ms)) << text;
  return ms;
}

TEST(Iso8601Test, FormatsKnownInstants) {
  EXPECT_EQ(Format(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Format(1772029801250), "2026-02-25T14:30:01.250Z");
  EXPECT_EQ(Format(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(Format(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(Format(kMinIso8601UnixMs), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(Format(kMaxIso8601UnixMs), "9999-12-31T23:59:59.999Z");
}

TEST(Iso8601Test, ParsesZonesFractionsAndSeparators) {
  EXPECT_EQ(Parse("2026-02-25T14:30:01.250Z"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T14:30:01.25Z"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T14:30:01.2509999Z"), 1772029801250);  // truncated
  EXPECT_EQ(Parse("2026-02-25T14:30:01,250Z"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25t14:30:01.250z"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25 14:30:01.250"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T16:30:01.250+02:00"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T16:30:01.250+0200"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T16:30:01.250+02"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T09:00:01.250-05:30"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-26T04:30:01.250+14:00"), 1772029801250);
  EXPECT_EQ(Parse("2026-02-25T14:30:01.250-00:00"), 1772029801250);
  EXPECT_EQ(Parse("0000-01-01T00:00:00Z"), kMinIso8601UnixMs);
  EXPECT_EQ(Parse("9999-12-31T23:59:59.999Z"), kMaxIso8601UnixMs);
}

TEST(Iso8601Test, RejectsMalformedOrOutOfRange) {
  for (const char* text : {"",
                           "2026",
                           "2026-02-25",
                           "2026-02-25T14:30",
                           "2026-02-25T14:30:01.Z",
                           "2026-02-25T14:30:01.250ZZ",
                           "2026-02-25T14:30:01.250 ",
                           " 2026-02-25T14:30:01Z",
                           "2026-2-25T14:30:01Z",
                           "2026-02-25X14:30:01Z",
                           "2026-13-01T00:00:00Z",
                           "2026-00-01T00:00:00Z",
                           "2026-02-29T00:00:00Z",
                           "2100-02-29T00:00:00Z",
                           "2026-04-31T00:00:00Z",
                           "2026-02-00T00:00:00Z",
                           "2026-02-25T24:00:00Z",
                           "2026-02-25T23:60:00Z",
                           "2026-02-25T23:59:60Z",
                           "2026-02-25T14:30:01+24:00",
                           "2026-02-25T14:30:01+02:60",
                           "2026-02-25T14:30:01+2:00",
                           "2026-02-25T14:30:01+02:0",
                           "2026-02-25T14:30:01+02:00:00",
                           "2026-02-25T14:30:01UTC",
                           "+2026-02-25T14:30:01Z",
                           "-001-01-01T00:00:00Z",
                           "0000-01-01T00:00:00+00:01",
                           "9999-12-31T23:59:59.999-00:01",
                           "2026-02-25T14:30:01\xc3\xa9",
                           "2026-02-25T14:30:01.\xd9\xa1Z"}) {
    int64_t ms = 0;
    EXPECT_FALSE(ParseIso8601(text, &ms)) << text;
  }
}

TEST(Iso8601Test, AgreesWithAbseilOverTheWholeRange) {
  signal_bench::CorpusRng rng(2026);
  const uint64_t span = static_cast<uint64_t>(kMaxIso8601UnixMs - kMinIso8601UnixMs) + 1;
  for (int i = 0; i < 200000; ++i) {
    const int64_t ms = kMinIso8601UnixMs + static_cast<int64_t>(rng.Next() % span);
    const std::string text = Format(ms);
    ASSERT_EQ(text, AbslFormat(ms)) << ms;
    int64_t back = 0;
    ASSERT_TRUE(ParseIso8601(text, &back)) << text;
    ASSERT_EQ(back, ms) << text;
  }
  // Every day boundary of a leap-year cycle around the epoch.
  for (int64_t day = -800; day <= 800; ++day) {
    const int64_t ms = day * 86400000;
    ASSERT_EQ(Format(ms), AbslFormat(ms));
    ASSERT_EQ(Format(ms - 1), AbslFormat(ms - 1));
  }
}

}  // namespace
}  // namespace signal_hightouch
