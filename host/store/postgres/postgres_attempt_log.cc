// The PostgreSQL store as AttemptLog: recording and listing delivery attempts for
// Live Events, with retention.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/store/postgres/pg_rows.h"
#include "host/store/postgres/postgres_store.h"

namespace signal_host {
namespace {

using pg::Params;

constexpr char kAttemptColumns[] =
    "id, integration_id, outcome, attempt, http_status, latency_ms, created_at_ms, "
    "event_types, message_ids::text, message, request, response";

absl::StatusOr<AttemptRecord> ReadAttempt(const pg::Result& rows, int row) {
  AttemptRecord a;
  a.id = rows.Int(row, 0);
  a.integration_id = rows.Text(row, 1);
  a.outcome = rows.Text(row, 2);
  a.attempt = static_cast<uint32_t>(rows.Int(row, 3));
  a.http_status = static_cast<int32_t>(rows.Int(row, 4));
  a.latency_ms = rows.Int(row, 5);
  a.created_at_ms = rows.Int(row, 6);
  a.event_types = rows.Text(row, 7);
  absl::StatusOr<std::vector<std::string>> ids = pg::ParseJsonStringArray(rows.View(row, 8));
  if (!ids.ok()) return ids.status();
  a.message_ids = *std::move(ids);
  a.message = rows.Bytes(row, 9);
  a.request = rows.Bytes(row, 10);
  a.response = rows.Bytes(row, 11);
  return a;
}

}  // namespace

absl::Status PostgresStore::RecordAttempt(AttemptRecord& attempt) {
  if (attempt.integration_id.empty()) {
    return absl::InvalidArgumentError("an attempt record needs an integration_id");
  }
  if (attempt.created_at_ms == 0) attempt.created_at_ms = clock_();
  return WithConnection<absl::Status>([&](pg::Connection& conn) -> absl::Status {
    absl::Status status = conn.Transaction([&]() -> absl::Status {
      // The AttemptLog contract: committed, without waiting for a flush of its own (a
      // power cut may lose the newest records), so the delivery path never waits on
      // the server's fsync for Live Events.
      if (absl::Status relaxed = conn.Run("SET LOCAL synchronous_commit = off"); !relaxed.ok()) {
        return relaxed;
      }
      absl::StatusOr<pg::Result> inserted = conn.Exec(
          "INSERT INTO attempts (integration_id, outcome, attempt, http_status, latency_ms, "
          "created_at_ms, event_types, message_ids, message, request, response) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11) RETURNING id",
          Params()
              .Text(attempt.integration_id)
              .Text(attempt.outcome)
              .Int(attempt.attempt)
              .Int(attempt.http_status)
              .Int(attempt.latency_ms)
              .Int(attempt.created_at_ms)
              .Text(attempt.event_types)
              .Text(pg::JsonStringArray(attempt.message_ids))
              .Bytes(attempt.message)
              .Bytes(attempt.request)
              .Bytes(attempt.response));
      if (!inserted.ok()) return inserted.status();
      attempt.id = inserted->Int(0, 0);
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    TrimIfDue(conn, attempts_since_trim_, options_.attempt_retention, "attempts");
    return absl::OkStatus();
  });
}

absl::StatusOr<PageResult<AttemptRecord>> PostgresStore::ListAttempts(
    std::string_view integration_id, std::string_view message_id, std::string_view outcome,
    const Page& page) {
  absl::StatusOr<int64_t> limit = pg::CheckLimit(page);
  if (!limit.ok()) return limit.status();
  absl::StatusOr<int64_t> before = pg::DecodeCursor(page.cursor, "att", pg::kNoUpperBound);
  if (!before.ok()) return before.status();
  // The message-id filter is containment of ["<id>"] in the stored array: a whole
  // element, answered by the GIN index.
  const std::string sql = absl::StrCat(
      "SELECT ", kAttemptColumns, " FROM attempts WHERE ",
      integration_id.empty() ? "$1 = '' " : "integration_id = $1 ",
      "AND ($2 = '' OR outcome = $2) AND id < $3 ",
      message_id.empty() ? "AND $4 = '' " : "AND message_ids @> jsonb_build_array($4::text) ",
      "ORDER BY id DESC LIMIT $5");
  return WithConnection<absl::StatusOr<PageResult<AttemptRecord>>>(
      [&](pg::Connection& conn) -> absl::StatusOr<PageResult<AttemptRecord>> {
        absl::StatusOr<pg::Result> rows = conn.Exec(sql, Params()
                                                             .Text(integration_id)
                                                             .Text(outcome)
                                                             .Int(*before)
                                                             .Text(message_id)
                                                             .Int(*limit + 1));
        if (!rows.ok()) return rows.status();
        PageResult<AttemptRecord> result;
        for (int i = 0; i < rows->rows() && i < *limit; ++i) {
          absl::StatusOr<AttemptRecord> attempt = ReadAttempt(*rows, i);
          if (!attempt.ok()) return attempt.status();
          result.items.push_back(*std::move(attempt));
        }
        if (rows->rows() > *limit) {
          result.next_cursor = pg::EncodeCursor("att", result.items.back().id);
        }
        return result;
      });
}

}  // namespace signal_host
