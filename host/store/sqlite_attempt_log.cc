// The SQLite store as AttemptLog: recording and listing delivery attempts.
#include <string>

#include "absl/strings/str_cat.h"
#include "host/store/sqlite_rows.h"
#include "host/store/sqlite_store.h"

namespace signal_host::sqlite_store {
namespace {

constexpr char kAttemptColumns[] =
    "id, integration_id, outcome, attempt, http_status, latency_ms, created_at_ms, "
    "event_types, message_ids, message, request, response";

absl::StatusOr<AttemptRecord> ReadAttempt(const Statement& s) {
  AttemptRecord a;
  a.id = s.Int(0);
  a.integration_id = s.Text(1);
  a.outcome = s.Text(2);
  a.attempt = static_cast<uint32_t>(s.Int(3));
  a.http_status = static_cast<int32_t>(s.Int(4));
  a.latency_ms = s.Int(5);
  a.created_at_ms = s.Int(6);
  a.event_types = s.Text(7);
  STORE_ASSIGN_OR_RETURN(a.message_ids, ParseJsonStringArray(s.View(8)));
  a.message = s.Text(9);
  a.request = s.Text(10);
  a.response = s.Text(11);
  return a;
}

}  // namespace

absl::Status InsertAttempt(Connection& db, AttemptRecord& attempt, std::string_view message_ids,
                           WriteEffects& effects) {
  STORE_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO attempts (integration_id, outcome, attempt, http_status, "
                 "latency_ms, created_at_ms, event_types, message_ids, message, request, "
                 "response) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  STORE_RETURN_IF_ERROR(insert.BindText(1, attempt.integration_id)
                            .BindText(2, attempt.outcome)
                            .Bind(3, attempt.attempt)
                            .Bind(4, attempt.http_status)
                            .Bind(5, attempt.latency_ms)
                            .Bind(6, attempt.created_at_ms)
                            .BindText(7, attempt.event_types)
                            .BindText(8, message_ids)
                            .BindText(9, attempt.message)
                            .BindText(10, attempt.request)
                            .BindText(11, attempt.response)
                            .Run());
  attempt.id = sqlite3_last_insert_rowid(db.handle());
  ++effects.attempts_added;
  return absl::OkStatus();
}

absl::Status SqliteStore::RecordAttempt(AttemptRecord& attempt) {
  if (attempt.integration_id.empty()) {
    return absl::InvalidArgumentError("an attempt record needs an integration_id");
  }
  if (attempt.created_at_ms == 0) attempt.created_at_ms = clock_();
  const std::string message_ids = JsonStringArray(attempt.message_ids);
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    return InsertAttempt(db, attempt, message_ids, effects);
  });
}

absl::StatusOr<PageResult<AttemptRecord>> SqliteStore::ListAttempts(std::string_view integration_id,
                                                                    std::string_view message_id,
                                                                    std::string_view outcome,
                                                                    const Page& page) {
  STORE_ASSIGN_OR_RETURN(int64_t limit, CheckLimit(page));
  STORE_ASSIGN_OR_RETURN(int64_t before, DecodeCursor(page.cursor, "att", kNoUpperBound));
  // The message-id filter first looks for the id's exact JSON encoding in the stored
  // array (cheap), then confirms it is a whole element.
  std::string sql =
      absl::StrCat("SELECT ", kAttemptColumns, " FROM attempts WHERE ",
                   integration_id.empty() ? "?1 = '' " : "integration_id = ?1 ",
                   "AND (?2 = '' OR outcome = ?2) AND id < ?3 AND (?4 = '' OR "
                   "(instr(message_ids, ?5) > 0 AND EXISTS "
                   "(SELECT 1 FROM json_each(attempts.message_ids) WHERE value = ?4))) "
                   "ORDER BY id DESC LIMIT ?6");
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt, reader.db().Prepare(sql));
  stmt.BindText(1, integration_id)
      .BindText(2, outcome)
      .Bind(3, before)
      .BindText(4, message_id)
      .BindText(5, JsonQuote(message_id))
      .Bind(6, limit + 1);
  return ReadPage<AttemptRecord>(stmt, limit, "att", 0, ReadAttempt);
}

}  // namespace signal_host::sqlite_store
