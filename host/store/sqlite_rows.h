// What the SQLite store's list methods share: reading a page of rows, over the
// cursors, limits and JSON string arrays of list_codec.h.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "host/store/list_codec.h"
#include "host/store/page.h"
#include "host/store/sqlite_store.h"

namespace signal_host::sqlite_store {

// Cursors, limits and JSON string arrays: host/store/list_codec.h.
using store_lists::CheckLimit;
using store_lists::DecodeCursor;
using store_lists::EncodeCursor;
using store_lists::JsonQuote;
using store_lists::JsonStringArray;
using store_lists::kNoUpperBound;
using store_lists::ParseJsonStringArray;

// Reads up to `limit` rows as a page; one extra row (the SQL asks for limit + 1)
// tells whether there is a next page.
template <typename T, typename ReadRow>
absl::StatusOr<PageResult<T>> ReadPage(Statement& stmt, int64_t limit, std::string_view kind,
                                       int position_column, ReadRow read_row) {
  PageResult<T> page;
  int64_t last_position = 0;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int64_t>(page.items.size()) == limit) {
      page.next_cursor = EncodeCursor(kind, last_position);
      break;
    }
    STORE_ASSIGN_OR_RETURN(T item, read_row(stmt));
    page.items.push_back(std::move(item));
    last_position = stmt.Int(position_column);
  }
  return page;
}

}  // namespace signal_host::sqlite_store
