// What the PostgreSQL store's lists share: opaque cursors (the same shape as the
// SQLite store's, base64url("<kind>:<position>")), page limits, and the JSON string
// arrays kept in jsonb columns.
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

namespace signal_host::pg {

inline constexpr int64_t kNoUpperBound = std::numeric_limits<int64_t>::max();

std::string EncodeCursor(std::string_view kind, int64_t position);
// `start` for an empty cursor; InvalidArgument for one not issued with `kind`.
absl::StatusOr<int64_t> DecodeCursor(std::string_view cursor, std::string_view kind, int64_t start);
// The page's limit, capped at 1000; InvalidArgument for 0.
absl::StatusOr<int64_t> CheckLimit(const Page& page);

std::string JsonStringArray(const std::vector<std::string>& values);
absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(std::string_view json);

}  // namespace signal_host::pg
