// A queue segment: the events one Enqueue call queued for one integration, stored
// as a single SQLite row so that the per-row costs (B-tree insert and delete, index
// entries, WAL frame headers) are paid once per request instead of once per event.
// The events are packed back to back as
//   varint(len(message_id)) message_id varint(len(payload)) payload
// with LEB128 varints, so a segment can be read without copying or parsing JSON.
//
// Each event is addressed by one int64 "seq": the segment's row id shifted left by
// kSegmentIndexBits, plus the event's position in the segment. Seqs therefore grow
// with queue order, and a segment row id is never reused (AUTOINCREMENT), so neither
// is an event seq.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace signal_host::segment {

inline constexpr int kSegmentIndexBits = 12;
inline constexpr uint32_t kMaxEventsPerSegment = 1u << kSegmentIndexBits;  // 4096
// A new segment is started rather than exceed this (SQLite's blob limit is 1 GB; one
// event-API request is at most 512 KB).
inline constexpr size_t kMaxSegmentBytes = size_t{64} << 20;

inline int64_t EventSeq(int64_t segment_seq, uint32_t index) {
  return (segment_seq << kSegmentIndexBits) | static_cast<int64_t>(index);
}
inline int64_t SegmentOf(int64_t event_seq) { return event_seq >> kSegmentIndexBits; }
inline uint32_t IndexOf(int64_t event_seq) {
  return static_cast<uint32_t>(event_seq & ((int64_t{1} << kSegmentIndexBits) - 1));
}

struct PackedEvent {
  std::string_view message_id;
  std::string_view payload;
};

// Appends one event to `out`.
void AppendEvent(std::string& out, std::string_view message_id, std::string_view payload);
// Bytes AppendEvent will add, for reserving.
size_t PackedSize(std::string_view message_id, std::string_view payload);

// Splits a packed segment into its events (views into `packed`). False when the
// bytes are not a well-formed segment (truncated, or a length past the end).
bool Unpack(std::string_view packed, std::vector<PackedEvent>& events);

}  // namespace signal_host::segment
