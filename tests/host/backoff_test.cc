#include "host/delivery/backoff.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace signal_host::delivery {
namespace {

TEST(BackoffTest, CeilingDoublesFromInitialUpToTheCap) {
  Backoff backoff(100, 1000, [](uint64_t upper) { return upper; });
  EXPECT_EQ(backoff.CeilingMs(1), 100u);
  EXPECT_EQ(backoff.CeilingMs(2), 200u);
  EXPECT_EQ(backoff.CeilingMs(3), 400u);
  EXPECT_EQ(backoff.CeilingMs(4), 800u);
  EXPECT_EQ(backoff.CeilingMs(5), 1000u);
  EXPECT_EQ(backoff.CeilingMs(0), 100u);
}

TEST(BackoffTest, DelayIsDrawnBetweenZeroAndTheCeiling) {
  std::vector<uint64_t> uppers;
  Backoff backoff(100, 1000, [&](uint64_t upper) {
    uppers.push_back(upper);
    return upper / 2;
  });
  EXPECT_EQ(backoff.DelayMs(1), 50u);
  EXPECT_EQ(backoff.DelayMs(3), 200u);
  EXPECT_EQ(uppers, (std::vector<uint64_t>{100, 400}));
}

TEST(BackoffTest, RetryAfterIsAFloor) {
  Backoff zero(100, 1000, [](uint64_t) { return 0; });
  EXPECT_EQ(zero.DelayMs(1), 0u);
  EXPECT_EQ(zero.DelayMs(1, 5000), 5000u);
  Backoff full(100, 1000, [](uint64_t upper) { return upper; });
  // A Retry-After shorter than the backoff does not shorten it.
  EXPECT_EQ(full.DelayMs(4, 10), 800u);
}

TEST(BackoffTest, HugeAttemptNumbersDoNotOverflow) {
  Backoff backoff(1000, 3600000, [](uint64_t upper) { return upper; });
  EXPECT_EQ(backoff.DelayMs(1000000), 3600000u);
  Backoff uncapped(UINT64_MAX / 3, UINT64_MAX, [](uint64_t upper) { return upper; });
  EXPECT_EQ(uncapped.CeilingMs(200), UINT64_MAX);
}

TEST(BackoffTest, ARandomSourceOutOfRangeIsClampedToTheCeiling) {
  Backoff backoff(100, 1000, [](uint64_t) { return UINT64_MAX; });
  EXPECT_EQ(backoff.DelayMs(2), 200u);
}

TEST(BackoffTest, ZeroInitialMeansNoDelayBeyondRetryAfter) {
  Backoff backoff(0, 1000, [](uint64_t upper) { return upper; });
  EXPECT_EQ(backoff.DelayMs(5), 0u);
  EXPECT_EQ(backoff.DelayMs(5, 30), 30u);
}

TEST(BackoffTest, CapBelowInitialWins) {
  Backoff backoff(500, 200, [](uint64_t upper) { return upper; });
  EXPECT_EQ(backoff.DelayMs(1), 200u);
}

TEST(BackoffTest, DefaultRandomStaysInRangeAndVaries) {
  Backoff backoff(1000, 60000);
  std::set<uint64_t> seen;
  for (int i = 0; i < 200; ++i) {
    const uint64_t delay = backoff.DelayMs(3);
    EXPECT_LE(delay, 4000u);
    seen.insert(delay);
  }
  EXPECT_GT(seen.size(), 50u);
}

}  // namespace
}  // namespace signal_host::delivery
