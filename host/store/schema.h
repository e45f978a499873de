// The store's schema as an ordered list of migrations. Migration i (1-based) moves
// the database from schema version i-1 to i; `schema_version` holds the current one.
#pragma once

#include <span>

namespace signal_host::store_schema {

// Each entry is one or more SQL statements run in the migrating transaction.
std::span<const char* const> Migrations();

}  // namespace signal_host::store_schema
