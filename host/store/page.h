// Cursor pagination for the stores' list methods: items after an opaque cursor that
// only the implementation that issued it understands.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace signal_host {

// Items after `cursor` (opaque, empty = start), at most `limit`.
struct Page {
  std::string cursor;
  size_t limit = 50;
};

template <typename T>
struct PageResult {
  std::vector<T> items;
  std::string next_cursor;  // empty when there are no more
};

}  // namespace signal_host
