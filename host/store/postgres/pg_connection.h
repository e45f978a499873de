// A thin RAII layer over libpq: one connection (PGconn), a query's result (PGresult),
// parameters passed out of line (PQexecParams; never spliced into the SQL), errors
// mapped to absl::Status with the server's message and SQLSTATE, and transactions.
//
// Error mapping: unique violation (23505) is AlreadyExists; a lost or refused
// connection (class 08, server shutdown 57P01-57P03, or the connection found broken)
// is Unavailable; invalid data (class 22, e.g. bad UTF-8) is InvalidArgument; a
// serialization failure or deadlock (40001, 40P01) is Aborted; other errors Internal.
//
// Not thread-safe: one Connection is used by one thread at a time (pg_pool.h hands
// them out). Durability is PostgreSQL's: a COMMIT that returned is on the server's disk
// (synchronous_commit on, the default).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace signal_host::pg {

// The rows of one query, read as text (bytea decoded by Bytes).
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* result) : result_(result) {}

  int rows() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view View(int row, int column) const;
  std::string Text(int row, int column) const { return std::string(View(row, column)); }
  int64_t Int(int row, int column) const;  // 0 for NULL or a value that is not a number
  bool Bool(int row, int column) const { return View(row, column) == "t"; }
  // A bytea column (hex output format) as raw bytes.
  std::string Bytes(int row, int column) const;
  // Rows changed by an INSERT/UPDATE/DELETE.
  int64_t Affected() const;
  const PGresult* raw() const { return result_.get(); }

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// Query parameters $1, $2, ... in order. Text values are sent in text format (so they
// must hold no NUL byte: refused with InvalidArgument); Bytes in binary format (bytea,
// any bytes).
class Params {
 public:
  Params& Text(std::string_view value);
  Params& Int(int64_t value);
  Params& Bool(bool value) { return Text(value ? "true" : "false"); }
  Params& Bytes(std::string_view value);

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }
  const absl::Status& error() const { return error_; }

 private:
  void Add(std::string value, int format);
  std::deque<std::string> storage_;  // stable addresses for values_
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  absl::Status error_;
};

class Connection {
 public:
  // Connects to `url` (a libpq URI or key=value string) and checks the session
  // (UTF8 client encoding). Unavailable when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& url,
                                                          std::string_view application_name,
                                                          int connect_timeout_seconds = 5);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement (no ';'-separated lists) with parameters.
  absl::StatusOr<Result> Exec(std::string_view sql, const Params& params = Params());
  // Exec, keeping only the status.
  absl::Status Run(std::string_view sql, const Params& params = Params());

  // Runs `body` between BEGIN and COMMIT; rolls back when it fails. The COMMIT's own
  // failure is returned (the body's effects are then undone by the server).
  absl::Status Transaction(absl::FunctionRef<absl::Status()> body);

  // The server closed the connection or it failed: it must be replaced.
  bool Broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // For an idle connection: reads whatever the server sent (a shutdown notice, EOF) so
  // that a connection the server dropped reports Broken before it is used.
  void CheckIdle();
  int BackendPid() const { return PQbackendPID(conn_); }
  PGconn* handle() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// The Status for a failed result (or a null one), with the server's message and SQLSTATE.
absl::Status StatusFromResult(PGconn* conn, const PGresult* result);

// A Postgres array literal of integers, e.g. "{1,2,3}", for `$1::bigint[]`.
std::string IntArrayLiteral(const std::vector<int64_t>& values);

}  // namespace signal_host::pg
