// What the SQLite store's list methods share: opaque cursors, page limits, reading
// a page of rows, and the JSON string arrays stored in text columns.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "host/store/page.h"
#include "host/store/sqlite_store.h"

namespace signal_host::sqlite_store {

inline constexpr int64_t kNoUpperBound = std::numeric_limits<int64_t>::max();

// Cursors: base64url("<kind>:<position>"), where position is the last row's key.
std::string EncodeCursor(std::string_view kind, int64_t position);
// `start` for an empty cursor; InvalidArgument for one not issued with `kind`.
absl::StatusOr<int64_t> DecodeCursor(std::string_view cursor, std::string_view kind,
                                     int64_t start);
// The page's limit, capped; InvalidArgument for 0.
absl::StatusOr<int64_t> CheckLimit(const Page& page);

// JSON string arrays (secret field names, attempt message ids).
std::string JsonQuote(std::string_view value);
std::string JsonStringArray(const std::vector<std::string>& values);
absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(std::string_view json);

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
