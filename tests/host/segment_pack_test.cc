// Packing events into a queue segment and reading them back.
#include "host/store/segment_pack.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace signal_host::segment {
namespace {

TEST(SegmentPackTest, EventsRoundTripInOrderWithAnyBytes) {
  const std::string big(300000, 'p');  // a length needing a three-byte varint
  const std::string binary("a\0b\xff", 4);
  std::string packed;
  AppendEvent(packed, "m1", R"({"type":"track"})");
  AppendEvent(packed, "", "");
  AppendEvent(packed, binary, big);
  EXPECT_EQ(packed.size(), PackedSize("m1", R"({"type":"track"})") + PackedSize("", "") +
                               PackedSize(binary, big));
  std::vector<PackedEvent> events;
  ASSERT_TRUE(Unpack(packed, events));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].message_id, "m1");
  EXPECT_EQ(events[0].payload, R"({"type":"track"})");
  EXPECT_EQ(events[1].message_id, "");
  EXPECT_EQ(events[1].payload, "");
  EXPECT_EQ(events[2].message_id, binary);
  EXPECT_EQ(events[2].payload, big);
}

TEST(SegmentPackTest, AnEmptySegmentHasNoEvents) {
  std::vector<PackedEvent> events = {{"stale", "stale"}};
  ASSERT_TRUE(Unpack("", events));
  EXPECT_TRUE(events.empty());
}

TEST(SegmentPackTest, TruncatedOrOverlongInputIsRefused) {
  std::string packed;
  AppendEvent(packed, "m1", "payload");
  std::vector<PackedEvent> events;
  for (size_t cut = 1; cut < packed.size(); ++cut) {
    EXPECT_FALSE(Unpack(std::string_view(packed).substr(0, cut), events)) << cut;
    EXPECT_TRUE(events.empty());
  }
  // A length past the end, and a varint that never ends.
  EXPECT_FALSE(Unpack(std::string("\x05" "ab", 3), events));
  EXPECT_FALSE(Unpack(std::string(11, '\xff'), events));
}

TEST(SegmentPackTest, SeqsEncodeSegmentAndIndexInQueueOrder) {
  EXPECT_EQ(SegmentOf(EventSeq(7, 4095)), 7);
  EXPECT_EQ(IndexOf(EventSeq(7, 4095)), 4095u);
  EXPECT_LT(EventSeq(7, 4095), EventSeq(8, 0));
  EXPECT_LT(EventSeq(8, 0), EventSeq(8, 1));
  EXPECT_EQ(kMaxEventsPerSegment, 4096u);
}

}  // namespace
}  // namespace signal_host::segment
