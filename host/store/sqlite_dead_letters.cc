// The SQLite store as DeadLetterStore: listing and replaying dead letters (they are
// written by DeadLetterEvents, in sqlite_delivery_queue.cc), and as DeadLetterSink
// for a queue that keeps none of its own (AddDeadLetters).
#include <string>

#include "absl/strings/str_cat.h"
#include "host/store/segment_pack.h"
#include "host/store/sqlite_rows.h"
#include "host/store/sqlite_store.h"

namespace signal_host::sqlite_store {
namespace {

constexpr char kDeadLetterColumns[] =
    "id, integration_id, message_id, reason, message, last_status, attempts, created_at_ms, "
    "replayed, last_response, payload";

absl::StatusOr<DeadLetter> ReadDeadLetter(const Statement& s) {
  DeadLetter d;
  d.id = s.Int(0);
  d.integration_id = s.Text(1);
  d.message_id = s.Text(2);
  d.reason = s.Text(3);
  d.message = s.Text(4);
  d.last_status = static_cast<int32_t>(s.Int(5));
  d.attempts = static_cast<uint32_t>(s.Int(6));
  d.created_at_ms = s.Int(7);
  d.replayed = s.Int(8) != 0;
  d.last_response = s.Text(9);
  d.payload = s.Text(10);
  return d;
}

}  // namespace

absl::StatusOr<PageResult<DeadLetter>> SqliteStore::ListDeadLetters(std::string_view integration_id,
                                                                    std::string_view reason,
                                                                    const Page& page) {
  STORE_ASSIGN_OR_RETURN(int64_t limit, CheckLimit(page));
  STORE_ASSIGN_OR_RETURN(int64_t before, DecodeCursor(page.cursor, "dl", kNoUpperBound));
  // Two shapes so that a filtered list walks the (integration_id, id) index.
  std::string sql =
      absl::StrCat("SELECT ", kDeadLetterColumns, " FROM dead_letters WHERE ",
                   integration_id.empty() ? "?1 = '' " : "integration_id = ?1 ",
                   "AND (?2 = '' OR reason = ?2) AND id < ?3 ORDER BY id DESC LIMIT ?4");
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt, reader.db().Prepare(sql));
  stmt.BindText(1, integration_id).BindText(2, reason).Bind(3, before).Bind(4, limit + 1);
  return ReadPage<DeadLetter>(stmt, limit, "dl", 0, ReadDeadLetter);
}

absl::StatusOr<size_t> SqliteStore::ReplayDeadLetters(std::string_view org_id,
                                                      std::string_view integration_id,
                                                      std::string_view reason,
                                                      std::span<const int64_t> ids) {
  const int64_t now = clock_();
  size_t replayed = 0;
  absl::Status status = Write([&](Connection& db, WriteEffects& effects) -> absl::Status {
    replayed = 0;
    // Consecutive dead letters of one integration share a new segment.
    std::string open_integration;
    std::string packed;
    uint32_t packed_count = 0;
    auto flush = [&]() -> absl::Status {
      if (packed_count == 0) return absl::OkStatus();
      int64_t segment = 0;
      STORE_RETURN_IF_ERROR(
          InsertSegment(db, open_integration, packed_count, 0, now, 0, now, packed, segment));
      effects.depth_deltas[open_integration] += packed_count;
      replayed += packed_count;
      packed.clear();
      packed_count = 0;
      return absl::OkStatus();
    };
    // Rows: integration_id, message_id, payload.
    auto add = [&](const Statement& row) -> absl::Status {
      if (packed_count > 0 &&
          (row.View(0) != open_integration || packed_count == segment::kMaxEventsPerSegment ||
           packed.size() + segment::PackedSize(row.View(1), row.View(2)) >
               segment::kMaxSegmentBytes)) {
        STORE_RETURN_IF_ERROR(flush());
      }
      if (packed_count == 0) open_integration = row.Text(0);
      segment::AppendEvent(packed, row.View(1), row.View(2));
      ++packed_count;
      return absl::OkStatus();
    };
    if (!ids.empty()) {
      STORE_ASSIGN_OR_RETURN(
          Statement select,
          db.Prepare("SELECT d.integration_id, d.message_id, d.payload FROM dead_letters d "
                     "WHERE d.id = ?1 AND d.replayed = 0 AND EXISTS "
                     "(SELECT 1 FROM integrations i WHERE i.id = d.integration_id AND "
                     "(?2 = '' OR i.org_id = ?2))"));
      STORE_ASSIGN_OR_RETURN(Statement mark,
                             db.Prepare("UPDATE dead_letters SET replayed = 1 WHERE id = ?1"));
      for (int64_t id : ids) {
        select.Reset();
        select.Bind(1, id).BindText(2, org_id);
        STORE_ASSIGN_OR_RETURN(bool found, select.Step());
        if (!found) continue;
        STORE_RETURN_IF_ERROR(add(select));
        mark.Reset();
        STORE_RETURN_IF_ERROR(mark.Bind(1, id).Run());
      }
      return flush();
    }
    constexpr char kMatch[] =
        "replayed = 0 AND (?1 = '' OR integration_id = ?1) AND (?2 = '' OR reason = ?2) AND "
        "EXISTS (SELECT 1 FROM integrations i WHERE i.id = dead_letters.integration_id AND "
        "(?3 = '' OR i.org_id = ?3))";
    STORE_ASSIGN_OR_RETURN(
        Statement select,
        db.Prepare(absl::StrCat("SELECT integration_id, message_id, payload FROM dead_letters "
                                "WHERE ",
                                kMatch, " ORDER BY integration_id, id")));
    select.BindText(1, integration_id).BindText(2, reason).BindText(3, org_id);
    for (;;) {
      STORE_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      STORE_RETURN_IF_ERROR(add(select));
    }
    STORE_RETURN_IF_ERROR(flush());
    STORE_ASSIGN_OR_RETURN(
        Statement mark,
        db.Prepare(absl::StrCat("UPDATE dead_letters SET replayed = 1 WHERE ", kMatch)));
    return mark.BindText(1, integration_id).BindText(2, reason).BindText(3, org_id).Run();
  });
  if (!status.ok()) return status;
  return replayed;
}

absl::Status SqliteStore::AddDeadLetters(std::span<const DeadLetter> letters) {
  if (letters.empty()) return absl::OkStatus();
  const int64_t now = clock_();
  // Durable (synchronous=FULL): the caller moves its offsets past these events next.
  return Write([&](Connection& db, WriteEffects& effects) -> absl::Status {
    // Unique per (integration_id, message_id) among rows not replayed: the same
    // event dead-lettered again after a re-read changes nothing. The check walks the
    // integration's rows through the (integration_id, id) index.
    STORE_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare("INSERT INTO dead_letters (integration_id, message_id, reason, message, "
                   "last_status, attempts, created_at_ms, replayed, last_response, payload) "
                   "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9 WHERE NOT EXISTS "
                   "(SELECT 1 FROM dead_letters WHERE integration_id = ?1 AND message_id = ?2 "
                   "AND replayed = 0)"));
    for (const DeadLetter& letter : letters) {
      insert.Reset();
      STORE_RETURN_IF_ERROR(insert.BindText(1, letter.integration_id)
                                .BindText(2, letter.message_id)
                                .BindText(3, letter.reason)
                                .BindText(4, letter.message)
                                .Bind(5, letter.last_status)
                                .Bind(6, static_cast<int64_t>(letter.attempts))
                                .Bind(7, letter.created_at_ms != 0 ? letter.created_at_ms : now)
                                .BindText(8, letter.last_response)
                                .BindBlob(9, letter.payload)
                                .Run());
      effects.dead_letters_added += db.Changes();
    }
    return absl::OkStatus();
  });
}

}  // namespace signal_host::sqlite_store
