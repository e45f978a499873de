#include "host/delivery/batch_buffer.h"

#include <algorithm>
#include <utility>

namespace signal_host::delivery {

void BatchBuffer::PushBack(Item item) {
  bytes_ += item.event.payload.size();
  items_.push_back(std::move(item));
}

void BatchBuffer::PushFront(Item item) {
  bytes_ += item.event.payload.size();
  items_.push_front(std::move(item));
}

bool BatchBuffer::HasFullBatch(const BatchLimits& limits) const {
  return items_.size() >= limits.max_events || bytes_ >= limits.max_bytes;
}

std::vector<Item> BatchBuffer::TakeBatch(const BatchLimits& limits, std::vector<Item>& oversized) {
  std::vector<Item> batch;
  batch.reserve(std::min(limits.max_events, items_.size()));
  size_t batch_bytes = 0;
  while (!items_.empty() && batch.size() < limits.max_events) {
    const size_t size = items_.front().event.payload.size();
    if (size > limits.max_bytes) {
      bytes_ -= size;
      oversized.push_back(std::move(items_.front()));
      items_.pop_front();
      continue;
    }
    // The first event always fits; the others only while the batch stays in budget.
    if (!batch.empty() && batch_bytes + size > limits.max_bytes) break;
    batch_bytes += size;
    bytes_ -= size;
    batch.push_back(std::move(items_.front()));
    items_.pop_front();
  }
  return batch;
}

std::vector<Item> BatchBuffer::TakeAll() {
  std::vector<Item> all(std::make_move_iterator(items_.begin()),
                        std::make_move_iterator(items_.end()));
  items_.clear();
  bytes_ = 0;
  return all;
}

}  // namespace signal_host::delivery
