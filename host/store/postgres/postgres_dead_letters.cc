// The PostgreSQL store as DeadLetterSink and DeadLetterStore: writing dead letters
// once per event, listing them, and replaying them into the IngestQueue.
#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "host/store/postgres/pg_rows.h"
#include "host/store/postgres/postgres_store.h"

namespace signal_host {
namespace {

using pg::Params;

// Events handed to the replay target per call, and rows locked per step.
constexpr int64_t kReplayChunk = 500;

constexpr char kDeadLetterColumns[] =
    "id, integration_id, message_id, reason, message, last_status, attempts, created_at_ms, "
    "replayed, last_response, payload";

DeadLetter ReadDeadLetter(const pg::Result& rows, int row) {
  DeadLetter d;
  d.id = rows.Int(row, 0);
  d.integration_id = rows.Text(row, 1);
  d.message_id = rows.Text(row, 2);
  d.reason = rows.Text(row, 3);
  d.message = rows.Bytes(row, 4);
  d.last_status = static_cast<int32_t>(rows.Int(row, 5));
  d.attempts = static_cast<uint32_t>(rows.Int(row, 6));
  d.created_at_ms = rows.Int(row, 7);
  d.replayed = rows.Bool(row, 8);
  d.last_response = rows.Bytes(row, 9);
  d.payload = rows.Bytes(row, 10);
  return d;
}

// Dead letters still replayable: not replayed, their integration exists (in the org,
// when one is given).
constexpr char kReplayable[] =
    "NOT d.replayed AND EXISTS (SELECT 1 FROM integrations i WHERE i.id = d.integration_id "
    "AND ($1 = '' OR i.org_id = $1))";

}  // namespace

absl::Status PostgresStore::AddDeadLetters(std::span<const DeadLetter> letters) {
  if (letters.empty()) return absl::OkStatus();
  for (const DeadLetter& letter : letters) {
    if (letter.integration_id.empty() || letter.message_id.empty()) {
      return absl::InvalidArgumentError("a dead letter needs an integration_id and a message_id");
    }
  }
  const int64_t now = clock_();
  // Inserted in key order, so two hosts writing overlapping sets wait for each other
  // instead of deadlocking on the unique index.
  std::vector<const DeadLetter*> ordered;
  for (const DeadLetter& letter : letters) ordered.push_back(&letter);
  std::sort(ordered.begin(), ordered.end(), [](const DeadLetter* a, const DeadLetter* b) {
    return std::tie(a->integration_id, a->message_id) < std::tie(b->integration_id, b->message_id);
  });
  return WithConnection<absl::Status>([&](pg::Connection& conn) -> absl::Status {
    int64_t added = 0;
    absl::Status status = conn.Transaction([&]() -> absl::Status {
      added = 0;
      for (const DeadLetter* next : ordered) {
        const DeadLetter& letter = *next;
        absl::StatusOr<pg::Result> inserted = conn.Exec(
            "INSERT INTO dead_letters (integration_id, message_id, reason, message, "
            "last_status, attempts, created_at_ms, last_response, payload) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (integration_id, message_id) WHERE NOT replayed DO NOTHING",
            Params()
                .Text(letter.integration_id)
                .Text(letter.message_id)
                .Text(letter.reason)
                .Bytes(letter.message)
                .Int(letter.last_status)
                .Int(letter.attempts)
                .Int(letter.created_at_ms != 0 ? letter.created_at_ms : now)
                .Bytes(letter.last_response)
                .Bytes(letter.payload));
        if (!inserted.ok()) return inserted.status();
        added += inserted->Affected();
      }
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    for (int64_t i = 0; i < added; ++i) {
      TrimIfDue(conn, dead_letters_since_trim_, options_.dead_letter_retention, "dead_letters");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<PageResult<DeadLetter>> PostgresStore::ListDeadLetters(
    std::string_view integration_id, std::string_view reason, const Page& page) {
  absl::StatusOr<int64_t> limit = pg::CheckLimit(page);
  if (!limit.ok()) return limit.status();
  absl::StatusOr<int64_t> before = pg::DecodeCursor(page.cursor, "dl", pg::kNoUpperBound);
  if (!before.ok()) return before.status();
  // Two shapes, so that a filtered list walks the (integration_id, id) index.
  const std::string sql =
      absl::StrCat("SELECT ", kDeadLetterColumns, " FROM dead_letters WHERE ",
                   integration_id.empty() ? "$1 = '' " : "integration_id = $1 ",
                   "AND ($2 = '' OR reason = $2) AND id < $3 ORDER BY id DESC LIMIT $4");
  return WithConnection<absl::StatusOr<PageResult<DeadLetter>>>(
      [&](pg::Connection& conn) -> absl::StatusOr<PageResult<DeadLetter>> {
        absl::StatusOr<pg::Result> rows =
            conn.Exec(sql, Params().Text(integration_id).Text(reason).Int(*before).Int(*limit + 1));
        if (!rows.ok()) return rows.status();
        PageResult<DeadLetter> result;
        for (int i = 0; i < rows->rows() && i < *limit; ++i) {
          result.items.push_back(ReadDeadLetter(*rows, i));
        }
        if (rows->rows() > *limit)
          result.next_cursor = pg::EncodeCursor("dl", result.items.back().id);
        return result;
      });
}

absl::StatusOr<size_t> PostgresStore::ReplayChunk(pg::Connection& conn, std::string_view org_id,
                                                  std::string_view integration_id,
                                                  std::string_view reason,
                                                  std::span<const int64_t> ids, int64_t* after) {
  // FOR UPDATE OF d: a second host replaying the same rows waits here, then sees them
  // replayed (the WHERE is checked again on the locked row) and skips them.
  absl::StatusOr<pg::Result> rows =
      ids.empty() ? conn.Exec(absl::StrCat("SELECT d.id, d.integration_id, d.message_id, d.payload "
                                           "FROM dead_letters d WHERE ",
                                           kReplayable,
                                           " AND ($2 = '' OR d.integration_id = $2) "
                                           "AND ($3 = '' OR d.reason = $3) AND d.id > $4 "
                                           "ORDER BY d.id LIMIT $5 FOR UPDATE OF d"),
                              Params()
                                  .Text(org_id)
                                  .Text(integration_id)
                                  .Text(reason)
                                  .Int(*after)
                                  .Int(kReplayChunk))
                  : conn.Exec(absl::StrCat("SELECT d.id, d.integration_id, d.message_id, d.payload "
                                           "FROM dead_letters d WHERE ",
                                           kReplayable,
                                           " AND d.id = ANY($2::bigint[]) AND d.id > $3 "
                                           "ORDER BY d.id LIMIT $4 FOR UPDATE OF d"),
                              Params()
                                  .Text(org_id)
                                  .Text(pg::IntArrayLiteral({ids.begin(), ids.end()}))
                                  .Int(*after)
                                  .Int(kReplayChunk));
  if (!rows.ok()) return rows.status();
  const int count = rows->rows();
  if (count == 0) return 0;
  std::vector<std::string> integration_ids(count), message_ids(count), payloads(count);
  std::vector<EnqueueItem> items(count);
  std::vector<int64_t> replayed(count);
  for (int i = 0; i < count; ++i) {
    replayed[i] = rows->Int(i, 0);
    integration_ids[i] = rows->Text(i, 1);
    message_ids[i] = rows->Text(i, 2);
    payloads[i] = rows->Bytes(i, 3);
    items[i] = {integration_ids[i], message_ids[i], payloads[i]};
  }
  *after =
      *std::max_element(replayed.begin(), replayed.end());  // locked rows may come out of order
  // Hand over first, mark after: a refused hand-over leaves them unreplayed.
  if (absl::Status queued = replay_target_->Enqueue(items); !queued.ok()) {
    return absl::Status(queued.code(),
                        absl::StrCat("replay: the queue refused the events: ", queued.message()));
  }
  absl::Status marked =
      conn.Run("UPDATE dead_letters SET replayed = true WHERE id = ANY($1::bigint[])",
               Params().Text(pg::IntArrayLiteral(replayed)));
  if (!marked.ok()) return marked;
  return static_cast<size_t>(count);
}

absl::StatusOr<size_t> PostgresStore::ReplayDeadLetters(std::string_view org_id,
                                                        std::string_view integration_id,
                                                        std::string_view reason,
                                                        std::span<const int64_t> ids) {
  if (replay_target_ == nullptr) {
    return absl::FailedPreconditionError("replay needs a queue to put the events back into");
  }
  return WithConnection<absl::StatusOr<size_t>>(
      [&](pg::Connection& conn) -> absl::StatusOr<size_t> {
        size_t total = 0;
        absl::Status status = conn.Transaction([&]() -> absl::Status {
          total = 0;
          int64_t after = 0;
          for (;;) {
            absl::StatusOr<size_t> chunk =
                ReplayChunk(conn, org_id, integration_id, reason, ids, &after);
            if (!chunk.ok()) return chunk.status();
            total += *chunk;
            if (*chunk == 0) return absl::OkStatus();
          }
        });
        if (!status.ok()) return status;
        return total;
      });
}

}  // namespace signal_host
