// The contiguous watermark against a simple model (a set of finished offsets),
// over random completion orders and offsets with gaps.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "host/kafka/watermark.h"

namespace signal_host::kafka {
namespace {

// The model: the committable offset is the first tracked offset not finished, or
// one past the last tracked offset when all are finished.
int64_t ModelCommittable(const std::vector<int64_t>& tracked, const std::set<int64_t>& done,
                         int64_t start) {
  for (int64_t offset : tracked) {
    if (!done.contains(offset)) return offset;
  }
  return tracked.empty() ? start : tracked.back() + 1;
}

TEST(WatermarkTest, NothingTrackedKeepsTheStart) {
  Watermark watermark(42);
  EXPECT_EQ(watermark.Committable(), 42);
  EXPECT_EQ(watermark.Unfinished(), 0u);
  EXPECT_EQ(watermark.LastTracked(), -1);
}

TEST(WatermarkTest, InOrderCompletionAdvancesOneByOne) {
  Watermark watermark;
  for (int64_t offset = 0; offset < 5; ++offset) ASSERT_TRUE(watermark.Track(offset));
  EXPECT_EQ(watermark.Committable(), 0);
  for (int64_t offset = 0; offset < 5; ++offset) {
    ASSERT_TRUE(watermark.Done(offset));
    EXPECT_EQ(watermark.Committable(), offset + 1);
  }
  EXPECT_EQ(watermark.Unfinished(), 0u);
  EXPECT_EQ(watermark.WindowSize(), 0u);
}

TEST(WatermarkTest, OutOfOrderCompletionWaitsForTheOldest) {
  Watermark watermark;
  for (int64_t offset = 10; offset < 15; ++offset) ASSERT_TRUE(watermark.Track(offset));
  ASSERT_TRUE(watermark.Done(12));
  ASSERT_TRUE(watermark.Done(14));
  ASSERT_TRUE(watermark.Done(11));
  EXPECT_EQ(watermark.Committable(), 10);
  ASSERT_TRUE(watermark.Done(10));
  EXPECT_EQ(watermark.Committable(), 13);
  ASSERT_TRUE(watermark.Done(13));
  EXPECT_EQ(watermark.Committable(), 15);
}

TEST(WatermarkTest, GapsCommitPastTheLastFinishedOffset) {
  // Compaction and transaction markers leave holes: 3, 7, 8, 20.
  Watermark watermark(3);
  for (int64_t offset : {3, 7, 8, 20}) ASSERT_TRUE(watermark.Track(offset));
  ASSERT_TRUE(watermark.Done(3));
  EXPECT_EQ(watermark.Committable(), 7);  // the next one to read is 7, not 4
  ASSERT_TRUE(watermark.Done(8));
  ASSERT_TRUE(watermark.Done(7));
  EXPECT_EQ(watermark.Committable(), 20);
  ASSERT_TRUE(watermark.Done(20));
  EXPECT_EQ(watermark.Committable(), 21);
}

TEST(WatermarkTest, RefusesRefetchedUntrackedAndRepeatedOffsets) {
  Watermark watermark;
  ASSERT_TRUE(watermark.Track(5));
  ASSERT_TRUE(watermark.Track(6));
  EXPECT_FALSE(watermark.Track(6));  // fetched again after a pause
  EXPECT_FALSE(watermark.Track(2));
  EXPECT_FALSE(watermark.Track(-1));
  EXPECT_FALSE(watermark.Done(7));  // never tracked
  EXPECT_FALSE(watermark.Done(4));
  ASSERT_TRUE(watermark.Done(6));
  EXPECT_FALSE(watermark.Done(6));  // a repeated outcome
  EXPECT_EQ(watermark.Unfinished(), 1u);
  ASSERT_TRUE(watermark.Done(5));
  EXPECT_FALSE(watermark.Done(5));  // behind the watermark now
  EXPECT_FALSE(watermark.Track(6));
  EXPECT_EQ(watermark.Committable(), 7);
}

TEST(WatermarkTest, RandomPermutationsWithGapsMatchTheModel) {
  std::mt19937_64 random(20261203);
  for (int round = 0; round < 300; ++round) {
    const int64_t start = static_cast<int64_t>(random() % 1000);
    const int count = 1 + static_cast<int>(random() % 300);
    std::vector<int64_t> tracked;
    int64_t next = start;
    for (int i = 0; i < count; ++i) {
      tracked.push_back(next);
      next += (random() % 5 == 0) ? 1 + static_cast<int64_t>(random() % 4) : 1;  // gaps
    }
    // Interleave tracking and finishing: any tracked, unfinished offset may finish
    // next (a random completion order).
    Watermark watermark(start);
    std::set<int64_t> done;
    size_t tracked_count = 0;
    std::vector<int64_t> pending;
    while (done.size() < tracked.size()) {
      const bool can_track = tracked_count < tracked.size();
      if (can_track && (pending.empty() || random() % 2 == 0)) {
        ASSERT_TRUE(watermark.Track(tracked[tracked_count]));
        pending.push_back(tracked[tracked_count]);
        ++tracked_count;
      } else {
        const size_t pick = random() % pending.size();
        const int64_t offset = pending[pick];
        pending[pick] = pending.back();
        pending.pop_back();
        ASSERT_TRUE(watermark.Done(offset)) << "offset " << offset;
        done.insert(offset);
      }
      const std::vector<int64_t> so_far(tracked.begin(), tracked.begin() + tracked_count);
      ASSERT_EQ(watermark.Committable(), ModelCommittable(so_far, done, start))
          << "round " << round;
      ASSERT_EQ(watermark.Unfinished(), tracked_count - done.size());
    }
    EXPECT_EQ(watermark.Committable(), tracked.back() + 1);
    EXPECT_EQ(watermark.WindowSize(), 0u);
  }
}

TEST(WatermarkTest, MemoryFollowsTheUnfinishedWindow) {
  Watermark watermark;
  // A long stream with at most 8 unfinished at a time never holds more than a
  // small window, however many offsets pass.
  size_t largest_window = 0;
  for (int64_t offset = 0; offset < 100000; ++offset) {
    ASSERT_TRUE(watermark.Track(offset));
    if (offset >= 8) ASSERT_TRUE(watermark.Done(offset - 8));
    largest_window = std::max(largest_window, watermark.WindowSize());
  }
  EXPECT_LE(largest_window, 9u);
  EXPECT_EQ(watermark.Committable(), 100000 - 8);
}

}  // namespace
}  // namespace signal_host::kafka
