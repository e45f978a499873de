#include "host/delivery/token_bucket.h"

#include <gtest/gtest.h>

namespace signal_host::delivery {
namespace {

constexpr int64_t kMs = 1000000;  // nanoseconds

TEST(TokenBucketTest, StartsFullAndEmptiesAfterTheBurst) {
  TokenBucket bucket(10, 3, 0);
  EXPECT_TRUE(bucket.TryTake(0));
  EXPECT_TRUE(bucket.TryTake(0));
  EXPECT_TRUE(bucket.TryTake(0));
  EXPECT_FALSE(bucket.TryTake(0));
}

TEST(TokenBucketTest, RefillsAtTheRateAndSaysHowLongToWait) {
  TokenBucket bucket(10, 1, 0);  // one token per 100 ms
  ASSERT_TRUE(bucket.TryTake(0));
  EXPECT_EQ(bucket.WaitNanos(0), 100 * kMs);
  EXPECT_EQ(bucket.WaitNanos(40 * kMs), 60 * kMs);
  EXPECT_FALSE(bucket.TryTake(99 * kMs));
  EXPECT_TRUE(bucket.TryTake(100 * kMs));
  EXPECT_FALSE(bucket.TryTake(100 * kMs));
}

TEST(TokenBucketTest, NeverHoldsMoreThanTheBurst) {
  TokenBucket bucket(100, 2, 0);
  ASSERT_TRUE(bucket.TryTake(0));
  ASSERT_TRUE(bucket.TryTake(0));
  // An hour idle refills only up to the burst.
  const int64_t later = 3600LL * 1000 * kMs;
  EXPECT_DOUBLE_EQ(bucket.tokens(later), 2.0);
  EXPECT_TRUE(bucket.TryTake(later));
  EXPECT_TRUE(bucket.TryTake(later));
  EXPECT_FALSE(bucket.TryTake(later));
}

TEST(TokenBucketTest, ZeroOrNegativeRateIsUnlimited) {
  TokenBucket zero(0, 1, 0);
  TokenBucket negative(-5, 1, 0);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(zero.TryTake(0));
    EXPECT_TRUE(negative.TryTake(0));
  }
  EXPECT_EQ(zero.WaitNanos(0), 0);
}

TEST(TokenBucketTest, BurstBelowOneIsRaisedToOne) {
  TokenBucket bucket(1, 0, 0);
  EXPECT_TRUE(bucket.TryTake(0));
  EXPECT_FALSE(bucket.TryTake(0));
  EXPECT_TRUE(bucket.TryTake(1000 * kMs));
}

TEST(TokenBucketTest, AClockSteppingBackAddsNothing) {
  TokenBucket bucket(10, 1, 500 * kMs);
  ASSERT_TRUE(bucket.TryTake(500 * kMs));
  EXPECT_FALSE(bucket.TryTake(0));
  EXPECT_FALSE(bucket.TryTake(550 * kMs));
  EXPECT_TRUE(bucket.TryTake(600 * kMs));
}

TEST(TokenBucketTest, ReconfigureCapsHeldTokensAndChangesTheRate) {
  TokenBucket bucket(1, 10, 0);
  bucket.Reconfigure(1000, 2, 0);
  EXPECT_DOUBLE_EQ(bucket.tokens(0), 2.0);
  ASSERT_TRUE(bucket.TryTake(0));
  ASSERT_TRUE(bucket.TryTake(0));
  EXPECT_EQ(bucket.WaitNanos(0), 1 * kMs);
}

}  // namespace
}  // namespace signal_host::delivery
