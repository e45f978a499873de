// What every store implementation's lists share (SQLite: sqlite_rows.h; PostgreSQL:
// postgres/pg_rows.h): opaque cursors, page limits, and the JSON string arrays kept
// in a column (secret field names, an attempt's message ids).
//
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "host/store/page.h"

namespace signal_host::store_lists {

inline constexpr int64_t kNoUpperBound = std::numeric_limits<int64_t>::max();

// Cursors: base64url("<kind>:<position>"), where position is the last row's key.
std::string EncodeCursor(std::string_view kind, int64_t position);
// `start` for an empty cursor; InvalidArgument for one not issued with `kind`.
absl::StatusOr<int64_t> DecodeCursor(std::string_view cursor, std::string_view kind, int64_t start);
// The page's limit, capped at 1000; InvalidArgument for 0.
absl::StatusOr<int64_t> CheckLimit(const Page& page);

std::string JsonQuote(std::string_view value);
std::string JsonStringArray(const std::vector<std::string>& values);
// DataLoss for anything but an array of strings.
absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(std::string_view json);

}  // namespace signal_host::store_lists
