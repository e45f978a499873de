// A thin RAII layer over the SQLite C API for the store: one Connection per
// sqlite3 handle with its prepared statements cached, and Statement, a borrowed
// cached statement that is reset and unbound when it goes out of scope.
// A Connection is used by one thread at a time (the store serialises access).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace signal_host::sqlite {

// Maps an SQLite result code to a Status: busy/locked -> Unavailable, full ->
// ResourceExhausted, corrupt/not a database -> DataLoss, unique or primary-key
// violation -> AlreadyExists, other constraints -> FailedPrecondition, else Internal.
absl::Status ErrorStatus(sqlite3* db, int rc, absl::string_view what);

class Connection;

class Statement {
 public:
  Statement(Connection* connection, sqlite3_stmt* stmt) : connection_(connection), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based. Values are copied (SQLITE_TRANSIENT).
  Statement& Bind(int index, int64_t value);
  Statement& BindText(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);
  // Binds without copying: `value` must stay alive until the statement is reset
  // (large payloads, where the copy would cost a memcpy per row).
  Statement& BindBlobNoCopy(int index, std::string_view value);

  // True with a row, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, ignoring any rows (e.g. RETURNING output not needed).
  absl::Status Run();
  // Ready to bind and run again.
  void Reset();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  // Valid until the next Step or the end of the Statement.
  std::string_view View(int column) const;
  std::string Text(int column) const { return std::string(View(column)); }

 private:
  Connection* connection_;
  sqlite3_stmt* stmt_;
  int bind_error_ = SQLITE_OK;
};

class Connection {
 public:
  // Opens (and with `create`, creates) the database at `path` in multi-thread mode.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, bool create);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows the caller needs.
  absl::Status Exec(const char* sql);
  // A cached prepared statement for `sql`.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // The single integer a query returns (e.g. a PRAGMA or count), or an error.
  absl::StatusOr<int64_t> QueryInt(absl::string_view sql);
  absl::StatusOr<std::string> QueryText(absl::string_view sql);

  int64_t Changes() const { return sqlite3_changes64(db_); }
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  sqlite3* handle() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace signal_host::sqlite
