#include "host/store/postgres/pg_connection.h"

#include <poll.h>

#include <charconv>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace signal_host::pg {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusCode CodeForSqlState(std::string_view state) {
  if (state == "23505") return absl::StatusCode::kAlreadyExists;
  if (state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03") {
    return absl::StatusCode::kUnavailable;
  }
  if (state.substr(0, 2) == "22") return absl::StatusCode::kInvalidArgument;
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (state == "55P03" || state == "57014") return absl::StatusCode::kDeadlineExceeded;
  return absl::StatusCode::kInternal;
}

}  // namespace

std::string_view Result::View(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  return std::string_view(value, static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t Result::Int(int row, int column) const {
  std::string_view text = View(row, column);
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::string Result::Bytes(int row, int column) const {
  std::string_view text = View(row, column);
  if (text.substr(0, 2) != "\\x") return std::string(text);  // not hex output: as is
  text.remove_prefix(2);
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<char>(HexValue(text[i]) * 16 + HexValue(text[i + 1])));
  }
  return out;
}

int64_t Result::Affected() const {
  const char* tuples = PQcmdTuples(result_.get());
  int64_t value = 0;
  std::from_chars(tuples, tuples + std::char_traits<char>::length(tuples), value);
  return value;
}

void Params::Add(std::string value, int format) {
  const std::string& stored = storage_.emplace_back(std::move(value));
  values_.push_back(stored.c_str());
  lengths_.push_back(static_cast<int>(stored.size()));
  formats_.push_back(format);
}

Params& Params::Text(std::string_view value) {
  if (value.find('\0') != std::string_view::npos && error_.ok()) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat("query parameter $", values_.size() + 1, " holds a NUL byte"));
  }
  Add(std::string(value), 0);
  return *this;
}

Params& Params::Int(int64_t value) {
  Add(std::to_string(value), 0);
  return *this;
}

Params& Params::Bytes(std::string_view value) {
  Add(std::string(value), 1);
  return *this;
}

absl::Status StatusFromResult(PGconn* conn, const PGresult* result) {
  const bool broken = conn == nullptr || PQstatus(conn) != CONNECTION_OK;
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary ? primary : (conn ? PQerrorMessage(conn) : "no connection");
  absl::StripTrailingAsciiWhitespace(&message);
  if (message.empty()) message = "query failed";
  absl::StatusCode code = broken  ? absl::StatusCode::kUnavailable
                          : state ? CodeForSqlState(state)
                                  : absl::StatusCode::kInternal;
  if (state != nullptr && CodeForSqlState(state) == absl::StatusCode::kUnavailable) {
    code = absl::StatusCode::kUnavailable;
  }
  return absl::Status(code, absl::StrCat("postgres: ", message,
                                         state ? absl::StrCat(" (SQLSTATE ", state, ")") : ""));
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& url,
                                                             std::string_view application_name,
                                                             int connect_timeout_seconds) {
  // Keywords after "dbname" (expanded from the URL) override what the URL says.
  const std::string name(application_name);
  const std::string timeout = std::to_string(connect_timeout_seconds);
  const char* keywords[] = {"dbname", "application_name", "connect_timeout", "client_encoding",
                            nullptr};
  const char* values[] = {url.c_str(), name.c_str(), timeout.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    absl::StripTrailingAsciiWhitespace(&message);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("postgres: cannot connect: ", message));
  }
  // Server notices (e.g. "relation already exists, skipping") are not errors; libpq
  // would print them on stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

absl::StatusOr<Result> Connection::Exec(std::string_view sql, const Params& params) {
  if (!params.error().ok()) return params.error();
  const std::string statement(sql);
  Result result(PQexecParams(conn_, statement.c_str(), params.size(), /*paramTypes=*/nullptr,
                             params.values(), params.lengths(), params.formats(),
                             /*resultFormat=*/0));
  // PQexecParams returns null only when out of memory or the connection is gone.
  ExecStatusType status = result.raw() ? PQresultStatus(result.raw()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return StatusFromResult(conn_, result.raw());
  }
  return result;
}

absl::Status Connection::Run(std::string_view sql, const Params& params) {
  return Exec(sql, params).status();
}

absl::Status Connection::Transaction(absl::FunctionRef<absl::Status()> body) {
  if (absl::Status begin = Run("BEGIN"); !begin.ok()) return begin;
  absl::Status status = body();
  if (status.ok()) return Run("COMMIT");
  if (!Broken()) Run("ROLLBACK").IgnoreError();
  return status;
}

void Connection::CheckIdle() {
  if (Broken()) return;
  pollfd fd{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
  if (fd.fd < 0) return;
  // Data on an idle connection is a notice, a notification or the server's goodbye
  // (an error message, then end of file: two reads).
  for (int reads = 0; reads < 3 && !Broken() && poll(&fd, 1, 0) > 0; ++reads) {
    if (PQconsumeInput(conn_) == 0) break;
    while (PGnotify* notify = PQnotifies(conn_)) PQfreemem(notify);
  }
}

std::string IntArrayLiteral(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

}  // namespace signal_host::pg
