// The PostgreSQL schema as numbered steps. Each step runs in a transaction of its own
// that first takes a transaction-scoped advisory lock, so hosts (or `signal-delivery-host
// migrate` runs) starting together apply each step once, one after the other; the
// applied versions are rows of schema_migrations(version, applied_at).
//
// Version 1: the tables (integrations, revisions, dead letters, attempts).
// Version 2: the indexes that make dead letters unique per event among those not yet
// replayed (older duplicates removed first), and the list indexes of dead letters and
// attempts (including the message-id lookup of Live Events).
//
// Not thread-safe per Connection; safe between processes (the lock).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/postgres/pg_connection.h"

namespace signal_host::pg {

// The newest schema version this build knows.
int LatestSchemaVersion();

// The database's version: 0 for an empty database.
absl::StatusOr<int> SchemaVersion(Connection& conn);

// Applies the steps after the database's version up to `target` (LatestSchemaVersion()
// by default). FailedPrecondition when the database is newer than this build knows.
absl::Status Migrate(Connection& conn, int target);
inline absl::Status Migrate(Connection& conn) { return Migrate(conn, LatestSchemaVersion()); }

// What a host does at start: OK when the database is at the latest version (after
// migrating when `migrate` is set). FailedPrecondition, saying what to do, for a
// database newer than this build or (without `migrate`) an older one.
absl::Status PrepareSchema(Connection& conn, bool migrate);

}  // namespace signal_host::pg
