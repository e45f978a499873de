// The contiguous watermark of one Kafka partition: offsets are tracked in the order
// they are consumed and finished in any order; the committable offset is the one just
// past the longest finished prefix, i.e. the next offset a new owner of the partition
// must read so that no unfinished event is skipped. That is what the consumer stores
// with rd_kafka_offsets_store.
//
// Offsets only grow but need not be consecutive (compaction, transaction markers):
// the committable offset after a finished prefix is the first unfinished tracked
// offset, or the last tracked offset + 1 when every tracked one is finished.
//
// Memory is a ring of the unfinished window (from the oldest unfinished offset to the
// newest tracked one), not a node per event: Track is amortised O(1), Done is
// O(log window), and the ring shrinks back as the prefix finishes.
//
// Not thread-safe: the owner (the partition's state in KafkaDeliveryQueue) locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace signal_host::kafka {

class Watermark {
 public:
  // `start` is the first offset this owner will read (the committed position). Until
  // anything is tracked, Committable() is `start`.
  explicit Watermark(int64_t start = 0) : committable_(start) {}

  // Records a consumed offset. False (and no change) when it is not above every
  // offset tracked before: a record fetched again after a pause or a seek.
  bool Track(int64_t offset);
  // Marks a tracked offset finished. False when it is not tracked or already done
  // (a late or repeated outcome), which changes nothing.
  bool Done(int64_t offset);

  // The offset after the longest finished prefix (see the file comment).
  int64_t Committable() const { return committable_; }
  // Tracked offsets not finished yet.
  size_t Unfinished() const { return unfinished_; }
  // Offsets held in the window (unfinished ones and finished ones behind them).
  size_t WindowSize() const { return size_; }
  // The newest tracked offset, or -1 before any.
  int64_t LastTracked() const { return last_tracked_; }

 private:
  struct Slot {
    int64_t offset;
    bool done;
  };
  Slot& At(size_t i) { return ring_[(head_ + i) & (ring_.size() - 1)]; }
  const Slot& At(size_t i) const { return ring_[(head_ + i) & (ring_.size() - 1)]; }
  void Grow();
  void PopFinishedPrefix();

  std::vector<Slot> ring_;  // capacity a power of two (or empty)
  size_t head_ = 0;         // index of the oldest slot
  size_t size_ = 0;
  size_t unfinished_ = 0;
  int64_t committable_;
  int64_t last_tracked_ = -1;
};

}  // namespace signal_host::kafka
