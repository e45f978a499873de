#include "host/kafka/watermark.h"

#include <utility>

namespace signal_host::kafka {

bool Watermark::Track(int64_t offset) {
  if (offset < 0 || offset <= last_tracked_ || offset < committable_) return false;
  if (size_ == ring_.size()) Grow();
  ring_[(head_ + size_) & (ring_.size() - 1)] = Slot{offset, false};
  ++size_;
  ++unfinished_;
  last_tracked_ = offset;
  // The first unfinished offset is now the next one to read.
  if (size_ == 1) committable_ = offset;
  return true;
}

bool Watermark::Done(int64_t offset) {
  // Binary search over the window: offsets grow from the head.
  size_t lo = 0;
  size_t hi = size_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (At(mid).offset < offset) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == size_ || At(lo).offset != offset || At(lo).done) return false;
  At(lo).done = true;
  --unfinished_;
  if (lo == 0) PopFinishedPrefix();
  return true;
}

void Watermark::PopFinishedPrefix() {
  while (size_ > 0 && At(0).done) {
    head_ = (head_ + 1) & (ring_.size() - 1);
    --size_;
  }
  committable_ = size_ > 0 ? At(0).offset : last_tracked_ + 1;
  // Give memory back after a burst: a quarter-full ring halves.
  if (ring_.size() > 64 && size_ < ring_.size() / 4) {
    std::vector<Slot> smaller(ring_.size() / 2);
    for (size_t i = 0; i < size_; ++i) smaller[i] = At(i);
    ring_ = std::move(smaller);
    head_ = 0;
  }
}

void Watermark::Grow() {
  std::vector<Slot> bigger(ring_.empty() ? 16 : ring_.size() * 2);
  for (size_t i = 0; i < size_; ++i) bigger[i] = At(i);
  ring_ = std::move(bigger);
  head_ = 0;
}

}  // namespace signal_host::kafka
