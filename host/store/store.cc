// Store on SQLite. Layout of the implementation:
//  - one writer connection, used only by the committer thread. Every write is a job
//    handed to that thread; it runs all pending jobs in one transaction (each in its
//    own SAVEPOINT, so one failing job does not sink the others), commits once
//    (synchronous=FULL: one fsync for the whole group) and wakes every caller. A group
//    holding only "relaxed" writes (completions, retries, dead letters, attempt log)
//    commits with synchronous=NORMAL: no fsync of its own.
//    Jobs are either synchronous (the caller waits) or asynchronous (a callback runs
//    on the committer thread after the commit: the delivery hot path).
//  - one connection for Lease, behind lease_mu_ together with the in-memory state of
//    segments (which events are leased or finished) and the cache of new segments;
//  - a small pool of read connections for everything else;
//  - a checkpointer thread with its own connection: the writer's WAL hook wakes it when
//    the WAL is large, so checkpoints stay off the commit path.
// Effects that must only follow a successful COMMIT (dropping leases, marking events
// finished, queue depth and retention counters) are collected per job and applied
// after the commit.
#include "host/store/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "host/crypto/encoding.h"
#include "host/crypto/ids.h"
#include "host/crypto/secret_box.h"
#include "host/store/schema.h"
#include "host/store/segment_pack.h"
#include "host/store/sqlite_db.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace signal_host {
namespace {

using sqlite::Connection;
using sqlite::Statement;

#define STORE_CONCAT_INNER(a, b) a##b
#define STORE_CONCAT(a, b) STORE_CONCAT_INNER(a, b)
#define STORE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    absl::Status store_status_ = (expr);           \
    if (!store_status_.ok()) return store_status_; \
  } while (0)
#define STORE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = *std::move(tmp)
#define STORE_ASSIGN_OR_RETURN(lhs, expr) \
  STORE_ASSIGN_OR_RETURN_IMPL(STORE_CONCAT(store_statusor_, __LINE__), lhs, expr)

constexpr int kBusyTimeoutMs = 5000;
constexpr int kReaderConnections = 2;
constexpr size_t kMaxPageLimit = 1000;
constexpr int64_t kNoUpperBound = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxCursorChars = 64;
constexpr char kPageSizePragma[] = "PRAGMA page_size = 16384";
constexpr char kWriterCachePragma[] = "PRAGMA cache_size = -32768";  // KiB
// How long a checkpoint waits for the writer and readers before settling for a
// partial (passive) one.
constexpr int kCheckpointBusyTimeoutMs = 100;

// Abseil here is built with its own string_view; bridge std::string_view to it.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

int64_t SystemClockMs() { return absl::ToUnixMillis(absl::Now()); }

bool ValidStatus(std::string_view status) {
  return status == "active" || status == "held" || status == "disabled";
}

// Retention is enforced in steps of 1/16 of the limit, so trimming is amortised.
size_t RetentionSlack(size_t retention) { return retention / 16; }

// ---------------------------------------------------------------------------------
// Cursors: base64url("<kind>:<position>"), where position is the last row's key.

std::string EncodeCursor(std::string_view kind, int64_t position) {
  return Base64UrlEncode(absl::StrCat(Av(kind), ":", position));
}

absl::StatusOr<int64_t> DecodeCursor(std::string_view cursor, std::string_view kind,
                                     int64_t start) {
  if (cursor.empty()) return start;
  absl::Status invalid = absl::InvalidArgumentError("invalid cursor");
  if (cursor.size() > kMaxCursorChars) return invalid;
  std::optional<std::string> raw = Base64UrlDecode(cursor);
  if (!raw.has_value()) return invalid;
  std::string_view text = *raw;
  if (text.size() <= kind.size() + 1 || text.substr(0, kind.size()) != kind ||
      text[kind.size()] != ':') {
    return invalid;
  }
  text.remove_prefix(kind.size() + 1);
  int64_t position = 0;
  if (text.empty() || text[0] == '+' || text[0] == '-' || !absl::SimpleAtoi(Av(text), &position) ||
      position <= 0) {
    return invalid;
  }
  return position;
}

absl::StatusOr<int64_t> CheckLimit(const Page& page) {
  if (page.limit == 0) return absl::InvalidArgumentError("page limit must be at least 1");
  return static_cast<int64_t>(std::min(page.limit, kMaxPageLimit));
}

// ---------------------------------------------------------------------------------
// JSON string arrays (secret field names, attempt message ids).

std::string JsonQuote(std::string_view value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const std::string& value : values) {
    writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<std::vector<std::string>> ParseJsonStringArray(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return absl::DataLossError("stored string list is not a JSON array");
  }
  std::vector<std::string> values;
  values.reserve(doc.Size());
  for (const rapidjson::Value& value : doc.GetArray()) {
    if (!value.IsString()) return absl::DataLossError("stored string list holds a non-string");
    values.emplace_back(value.GetString(), value.GetStringLength());
  }
  return values;
}

// ---------------------------------------------------------------------------------
// SQL. Column lists match the Read* functions below.

constexpr char kIntegrationColumns[] =
    "id, org_id, name, vendor, description, catalog_vendor_key, catalog_variant_key, "
    "current_revision, status, status_reason, created_at_ms, updated_at_ms, seq";
constexpr int kIntegrationSeqColumn = 12;

constexpr char kRevisionColumns[] =
    "id, integration_id, org_id, revision_number, secret_fields, delivery_mode, "
    "change_summary, created_by, created_at_ms, delivery_settings, config_sealed";
constexpr int kRevisionNumberColumn = 3;

constexpr char kDeadLetterColumns[] =
    "id, integration_id, message_id, reason, message, last_status, attempts, created_at_ms, "
    "replayed, last_response, payload";

constexpr char kAttemptColumns[] =
    "id, integration_id, outcome, attempt, http_status, latency_ms, created_at_ms, "
    "event_types, message_ids, message, request, response";

IntegrationRecord ReadIntegration(const Statement& s) {
  IntegrationRecord r;
  r.id = s.Text(0);
  r.org_id = s.Text(1);
  r.name = s.Text(2);
  r.vendor = s.Text(3);
  r.description = s.Text(4);
  r.catalog_vendor_key = s.Text(5);
  r.catalog_variant_key = s.Text(6);
  r.current_revision = static_cast<int>(s.Int(7));
  r.status = s.Text(8);
  r.status_reason = s.Text(9);
  r.created_at_ms = s.Int(10);
  r.updated_at_ms = s.Int(11);
  return r;
}

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

// Reads up to `limit` rows as a page; one extra row (the SQL asks for limit + 1)
// tells whether there is a next page.
template <typename T, typename ReadRow>
absl::StatusOr<PageResult<T>> ReadPage(Statement& stmt, int64_t limit, std::string_view kind,
                                       int position_column, ReadRow read_row) {
  PageResult<T> page;
  int64_t last_position = 0;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int64_t>(page.items.size()) == limit) {
      page.next_cursor = EncodeCursor(kind, last_position);
      break;
    }
    STORE_ASSIGN_OR_RETURN(T item, read_row(stmt));
    page.items.push_back(std::move(item));
    last_position = stmt.Int(position_column);
  }
  return page;
}

// A change to a queue segment's row, mirrored into memory after COMMIT.
struct SegmentChange {
  int64_t segment = 0;
  uint32_t event_count = 0;
  std::vector<uint32_t> finished;  // events newly finished (delivered, dead, moved)
  bool removed = false;            // the row is gone
  bool rescheduled = false;        // attempts and due time changed: a cached copy is stale
};

// A segment just enqueued, for the cache.
struct NewSegment {
  int64_t segment = 0;
  std::shared_ptr<const std::string> events;
  uint32_t event_count = 0;
  int64_t enqueued_at_ms = 0;
};

// What a write job changes outside the database; applied only after COMMIT.
struct WriteEffects {
  int64_t attempts_added = 0;
  int64_t dead_letters_added = 0;
  absl::flat_hash_map<std::string, int64_t> depth_deltas;
  std::vector<std::string> depth_resets;  // deleted integrations
  std::vector<int64_t> released;          // leases to drop (event seqs)
  std::vector<SegmentChange> segment_changes;
  std::vector<NewSegment> new_segments;

  void MergeFrom(WriteEffects& other) {
    attempts_added += other.attempts_added;
    dead_letters_added += other.dead_letters_added;
    for (std::string& id : other.depth_resets) {
      depth_deltas.erase(id);
      depth_resets.push_back(std::move(id));
    }
    for (auto& [id, delta] : other.depth_deltas) depth_deltas[id] += delta;
    released.insert(released.end(), other.released.begin(), other.released.end());
    for (SegmentChange& change : other.segment_changes) {
      segment_changes.push_back(std::move(change));
    }
    for (NewSegment& segment : other.new_segments) new_segments.push_back(std::move(segment));
  }
};

using WriteFn = absl::FunctionRef<absl::Status(Connection&, WriteEffects&)>;
using OwnedWriteFn = std::function<absl::Status(Connection&, WriteEffects&)>;

struct WriteJob {
  // A synchronous job: the caller owns it and waits for `done`.
  WriteJob(WriteFn fn, bool durable) : run(fn), durable(durable) {}
  // An asynchronous job: owned by the committer, which runs `on_done` and deletes it.
  WriteJob(OwnedWriteFn fn, std::function<void(absl::Status)> on_done)
      : owned_run(std::move(fn)), run(owned_run), durable(false), on_done(std::move(on_done)) {}
  OwnedWriteFn owned_run;
  WriteFn run;
  bool durable;  // must be fsynced before the caller is told
  std::function<void(absl::Status)> on_done;
  WriteEffects effects;
  absl::Status status;
  bool done = false;
};

absl::Status Run(Connection& db, absl::string_view sql) {
  STORE_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
  return stmt.Run();
}

absl::Status WithPath(const absl::Status& status, absl::string_view path) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("store ", path, ": ", status.message()));
}

// Inserts one queue segment; `segment` gets its row id.
absl::Status InsertSegment(Connection& db, std::string_view integration_id, uint32_t event_count,
                           uint32_t attempts, int64_t enqueued_at_ms, int64_t first_attempt_at_ms,
                           int64_t next_attempt_at_ms, std::string_view events, int64_t& segment) {
  STORE_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO queue_segments (integration_id, event_count, attempts, "
                 "enqueued_at_ms, first_attempt_at_ms, next_attempt_at_ms, events) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  STORE_RETURN_IF_ERROR(insert.BindText(1, integration_id)
                            .Bind(2, event_count)
                            .Bind(3, attempts)
                            .Bind(4, enqueued_at_ms)
                            .Bind(5, first_attempt_at_ms)
                            .Bind(6, next_attempt_at_ms)
                            .BindBlobNoCopy(7, events)
                            .Run());
  segment = sqlite3_last_insert_rowid(db.handle());
  if (segment >= (int64_t{1} << (62 - segment::kSegmentIndexBits))) {
    return absl::ResourceExhaustedError("queue segment ids are exhausted");
  }
  return absl::OkStatus();
}

// Schema version 2's data step: rows of the version-1 `queue` table (one per event)
// become one-event segments, then the old table goes.
absl::Status MoveV1QueueIntoSegments(Connection& db) {
  STORE_ASSIGN_OR_RETURN(
      int64_t has_v1_queue,
      db.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'queue'"));
  if (has_v1_queue == 0) return absl::OkStatus();
  STORE_ASSIGN_OR_RETURN(
      Statement rows,
      db.Prepare("SELECT integration_id, message_id, attempts, enqueued_at_ms, "
                 "first_attempt_at_ms, next_attempt_at_ms, payload FROM queue ORDER BY seq"));
  std::string packed;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    packed.clear();
    segment::AppendEvent(packed, rows.View(1), rows.View(6));
    int64_t segment = 0;
    STORE_RETURN_IF_ERROR(InsertSegment(db, rows.View(0), 1, static_cast<uint32_t>(rows.Int(2)),
                                        rows.Int(3), rows.Int(4), rows.Int(5), packed, segment));
  }
  return db.Exec("DROP TABLE queue");
}

class StoreImpl final : public Store {
 public:
  StoreImpl(const StoreOptions& options, const SecretBox* secrets)
      : options_(options), secrets_(secrets) {
    clock_ = options_.clock_ms ? options_.clock_ms : SystemClockMs;
  }

  ~StoreImpl() override {
    if (committer_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(write_mu_);
        stopping_ = true;
      }
      write_cv_.notify_all();
      committer_.join();
    }
    if (checkpointer_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(checkpoint_mu_);
        checkpoint_stopping_ = true;
      }
      checkpoint_cv_.notify_all();
      checkpointer_.join();
    }
    checkpoint_db_.reset();
    readers_.clear();
    lease_db_.reset();
    writer_.reset();  // the last connection to close checkpoints the WAL
    if (lock_fd_ >= 0) close(lock_fd_);
  }

  absl::Status Init();

  absl::Status CreateIntegration(IntegrationRecord& integration,
                                 RevisionRecord& first_revision) override;
  absl::StatusOr<IntegrationRecord> GetIntegration(std::string_view org_id,
                                                   std::string_view id) override;
  absl::StatusOr<PageResult<IntegrationRecord>> ListIntegrations(std::string_view org_id,
                                                                 const Page& page) override;
  absl::StatusOr<std::vector<IntegrationRecord>> AllIntegrations() override;
  absl::Status DeleteIntegration(std::string_view org_id, std::string_view id) override;
  absl::Status AddRevision(RevisionRecord& revision) override;
  absl::StatusOr<RevisionRecord> GetRevision(std::string_view integration_id,
                                             int revision_number) override;
  absl::StatusOr<PageResult<RevisionRecord>> ListRevisions(std::string_view integration_id,
                                                           const Page& page) override;
  absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                         std::string_view reason) override;

  absl::Status Enqueue(std::span<const EnqueueItem> items) override;
  absl::StatusOr<std::vector<QueuedEvent>> Lease(std::string_view integration_id, size_t max,
                                                 int64_t now_ms) override;
  void Release(std::span<const int64_t> seqs) override;
  absl::Status Complete(std::span<const int64_t> seqs) override;
  absl::Status ScheduleRetry(std::span<const int64_t> seqs, int64_t next_attempt_at_ms,
                             int64_t attempted_at_ms) override;
  absl::Status DeadLetterEvents(std::span<const int64_t> seqs, std::string_view reason,
                                std::string_view message, int32_t last_status,
                                std::string_view last_response, uint32_t attempts_added) override;
  void CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                              AsyncDone done) override;
  absl::StatusOr<size_t> QueueDepth(std::string_view integration_id) override;

  absl::StatusOr<PageResult<DeadLetter>> ListDeadLetters(std::string_view integration_id,
                                                         std::string_view reason,
                                                         const Page& page) override;
  absl::StatusOr<size_t> ReplayDeadLetters(std::string_view org_id,
                                           std::string_view integration_id, std::string_view reason,
                                           std::span<const int64_t> ids) override;

  absl::Status RecordAttempt(AttemptRecord& attempt) override;
  absl::StatusOr<PageResult<AttemptRecord>> ListAttempts(std::string_view integration_id,
                                                         std::string_view message_id,
                                                         std::string_view outcome,
                                                         const Page& page) override;

 private:
  // A read connection borrowed from the pool for one call.
  class Reader {
   public:
    Reader(StoreImpl* store, Connection* db) : store_(store), db_(db) {}
    Reader(const Reader&) = delete;
    ~Reader() {
      {
        std::lock_guard<std::mutex> lock(store_->reader_mu_);
        store_->free_readers_.push_back(db_);
      }
      store_->reader_cv_.notify_one();
    }
    Connection& db() { return *db_; }

   private:
    StoreImpl* store_;
    Connection* db_;
  };

  Reader AcquireReader() {
    std::unique_lock<std::mutex> lock(reader_mu_);
    reader_cv_.wait(lock, [&] { return !free_readers_.empty(); });
    Connection* db = free_readers_.back();
    free_readers_.pop_back();
    return Reader(this, db);
  }

  absl::Status ConfigureWriter(Connection& db);
  absl::Status ConfigureReader(Connection& db);
  absl::Status Migrate(Connection& db);
  absl::Status LoadCounters(Connection& db);

  // Hands `fn` to the committer and waits until its transaction committed (or failed)
  // and, with synchronous_full, reached the disk.
  absl::Status Write(WriteFn fn) { return Submit(fn, /*durable=*/true); }
  // The same, but the commit need not be fsynced before returning: for writes whose
  // loss in a power cut only means re-delivery (Complete, ScheduleRetry, dead-lettering)
  // or a missing log line (RecordAttempt). The next durable commit or checkpoint syncs
  // them; a process crash loses nothing either way.
  absl::Status WriteRelaxed(WriteFn fn) { return Submit(fn, /*durable=*/false); }
  absl::Status Submit(WriteFn fn, bool durable);
  // Queues an asynchronous job (see WriteJob); `on_done` gets its status.
  void SubmitAsync(OwnedWriteFn fn, std::function<void(absl::Status)> on_done);
  absl::Status SetSynchronous(Connection& db, bool full);
  void CommitterLoop();
  void RunBatch(std::span<WriteJob* const> batch);
  absl::Status TrimLogs(Connection& db, WriteEffects& effects);
  void ApplyEffects(WriteEffects& effects);

  absl::StatusOr<RevisionRecord> ReadRevision(const Statement& s) const;

  // Queue internals (queue section below).
  absl::Status CompleteIn(Connection& db, std::span<const int64_t> seqs, WriteEffects& effects);
  // Segment state in memory; lease_mu_ held.
  struct SegmentState;
  SegmentState& StateFor(int64_t segment, uint32_t event_count);
  void MarkFinished(int64_t segment, uint32_t event_count, std::span<const uint32_t> indexes);
  void ReleaseLocked(std::span<const int64_t> seqs);
  void CacheSegment(NewSegment segment);
  void DropCached(int64_t segment);

  // The checkpointer.
  static int OnWalCommit(void* store, sqlite3* db, const char* name, int pages);
  void CheckpointLoop();

  const StoreOptions options_;
  const SecretBox* const secrets_;
  std::function<int64_t()> clock_;
  int lock_fd_ = -1;

  // Writer side: the connection is touched only by the committer thread (and by Init
  // before it starts).
  std::unique_ptr<Connection> writer_;
  std::mutex write_mu_;
  std::condition_variable write_cv_;  // committer: work arrived or stopping
  std::condition_variable done_cv_;   // callers: a batch finished
  std::vector<WriteJob*> pending_;
  bool stopping_ = false;
  std::thread committer_;
  int64_t attempt_count_ = 0;          // committer thread only
  int64_t dead_letter_count_ = 0;      // committer thread only
  bool synchronous_full_now_ = false;  // the writer's current PRAGMA synchronous

  // Leasing: which events of which segments are leased or finished, and new
  // segments kept in memory for their first lease.
  struct SegmentState {
    static constexpr uint8_t kLeased = 1;
    static constexpr uint8_t kFinished = 2;
    std::vector<uint8_t> flags;  // per event
    uint32_t unavailable = 0;    // events with any flag set
  };
  struct CachedSegment {
    std::shared_ptr<const std::string> events;
    uint32_t event_count = 0;
    int64_t enqueued_at_ms = 0;
  };
  std::mutex lease_mu_;
  std::unique_ptr<Connection> lease_db_;
  absl::flat_hash_map<int64_t, SegmentState> segments_;
  absl::flat_hash_map<int64_t, CachedSegment> cache_;
  std::deque<int64_t> cache_order_;  // oldest first; may name segments already dropped
  size_t cache_bytes_ = 0;

  // Checkpointing.
  std::unique_ptr<Connection> checkpoint_db_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool checkpoint_stopping_ = false;
  std::thread checkpointer_;
  int checkpoint_pages_ = 0;  // WAL size (in pages) that wakes the checkpointer
  // The checkpointer copied most of the WAL: the committer copies the rest.
  std::atomic<bool> finish_checkpoint_{false};

  // Other reads.
  std::mutex reader_mu_;
  std::condition_variable reader_cv_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> free_readers_;

  std::mutex depth_mu_;
  absl::flat_hash_map<std::string, int64_t> depth_;
};

// ---------------------------------------------------------------------------------
// Opening.

absl::Status StoreImpl::ConfigureWriter(Connection& db) {
  sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs);
  // Only takes effect while the file is new. Segments are 10-500 KB: larger pages
  // mean fewer overflow pages (and WAL frame headers) per segment.
  STORE_RETURN_IF_ERROR(db.Exec(kPageSizePragma));
  STORE_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot switch to WAL journaling (journal_mode is ", mode, ")"));
  }
  synchronous_full_now_ = !options_.synchronous_full;  // force the PRAGMA once
  STORE_RETURN_IF_ERROR(SetSynchronous(db, options_.synchronous_full));
  // After a burst the WAL is truncated back to this size once checkpointed.
  STORE_RETURN_IF_ERROR(db.Exec("PRAGMA journal_size_limit = 67108864"));
  STORE_RETURN_IF_ERROR(db.Exec(kWriterCachePragma));
  // Debian builds SQLite with secure_delete on: every delivered segment would have its
  // pages zeroed and written to the WAL again, doubling the bytes written. FAST still
  // clears deleted rows on B-tree pages that are written anyway; freed overflow pages
  // keep their old bytes until reused, which in a busy queue is soon.
  STORE_RETURN_IF_ERROR(db.Exec("PRAGMA secure_delete = FAST"));
  STORE_ASSIGN_OR_RETURN(int64_t page_size, db.QueryInt("PRAGMA page_size"));
  checkpoint_pages_ = static_cast<int>(
      std::max<int64_t>(64, static_cast<int64_t>(options_.checkpoint_wal_bytes) / page_size));
  // Replaces SQLite's automatic checkpoint, which would run inside a commit.
  sqlite3_wal_hook(db.handle(), &StoreImpl::OnWalCommit, this);
  return db.Exec("PRAGMA foreign_keys = ON");
}

absl::Status StoreImpl::ConfigureReader(Connection& db) {
  sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs);
  return db.Exec("PRAGMA query_only = ON");
}

absl::Status StoreImpl::Migrate(Connection& db) {
  STORE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    STORE_RETURN_IF_ERROR(
        db.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
    STORE_ASSIGN_OR_RETURN(int64_t rows, db.QueryInt("SELECT count(*) FROM schema_version"));
    if (rows == 0) STORE_RETURN_IF_ERROR(db.Exec("INSERT INTO schema_version VALUES (0)"));
    STORE_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("SELECT max(version) FROM schema_version"));
    std::span<const char* const> migrations = store_schema::Migrations();
    if (version < 0 || version > static_cast<int64_t>(migrations.size())) {
      return absl::FailedPreconditionError(
          absl::StrCat("database schema version ", version, " is not one this build knows (0..",
                       migrations.size(), "); it was written by a newer signal-delivery-host"));
    }
    for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
      STORE_RETURN_IF_ERROR(db.Exec(migrations[i]));
      if (i + 1 == 2) STORE_RETURN_IF_ERROR(MoveV1QueueIntoSegments(db));
      STORE_ASSIGN_OR_RETURN(Statement update,
                             db.Prepare("UPDATE schema_version SET version = ?1"));
      STORE_RETURN_IF_ERROR(update.Bind(1, static_cast<int64_t>(i + 1)).Run());
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    db.Exec("ROLLBACK").IgnoreError();
    return status;
  }
  return db.Exec("COMMIT");
}

absl::Status StoreImpl::LoadCounters(Connection& db) {
  STORE_ASSIGN_OR_RETURN(attempt_count_, db.QueryInt("SELECT count(*) FROM attempts"));
  STORE_ASSIGN_OR_RETURN(dead_letter_count_, db.QueryInt("SELECT count(*) FROM dead_letters"));
  {
    STORE_ASSIGN_OR_RETURN(Statement stmt,
                           db.Prepare("SELECT integration_id, sum(event_count) FROM "
                                      "queue_segments GROUP BY integration_id"));
    for (;;) {
      STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      depth_[stmt.Text(0)] = stmt.Int(1);
    }
  }
  // Finished events of partly finished segments: out of the depth, and never leased.
  STORE_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare("SELECT p.seq, s.integration_id, s.event_count, p.done FROM "
                 "queue_segment_progress p JOIN queue_segments s ON s.seq = p.seq"));
  std::vector<uint32_t> finished;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    const uint32_t count = static_cast<uint32_t>(stmt.Int(2));
    const std::string_view done = stmt.View(3);
    finished.clear();
    for (uint32_t i = 0; i < count && i / 8 < done.size(); ++i) {
      if ((static_cast<uint8_t>(done[i / 8]) >> (i % 8)) & 1) finished.push_back(i);
    }
    MarkFinished(stmt.Int(0), count, finished);
    depth_[stmt.Text(1)] -= static_cast<int64_t>(finished.size());
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::Init() {
  const std::string& path = options_.path;
  // Leases live in this process's memory, so two processes on one queue would deliver
  // everything twice; an advisory lock next to the database refuses the second.
  std::string lock_path = path + ".lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open lock file ", lock_path, ": ", std::strerror(errno)));
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", path, " is already open (lock ", lock_path, " is held)"));
  }
  // Create the file ourselves so that it (and the -wal/-shm files SQLite derives from
  // it) is private: it holds event payloads and sealed secrets.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open database file ", path, ": ", std::strerror(errno)));
  }
  close(fd);

  STORE_ASSIGN_OR_RETURN(writer_, Connection::Open(path, /*create=*/true));
  STORE_RETURN_IF_ERROR(WithPath(ConfigureWriter(*writer_), path));
  STORE_RETURN_IF_ERROR(WithPath(Migrate(*writer_), path));
  STORE_RETURN_IF_ERROR(WithPath(LoadCounters(*writer_), path));

  STORE_ASSIGN_OR_RETURN(lease_db_, Connection::Open(path, /*create=*/false));
  STORE_RETURN_IF_ERROR(WithPath(ConfigureReader(*lease_db_), path));
  for (int i = 0; i < kReaderConnections; ++i) {
    STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                           Connection::Open(path, /*create=*/false));
    STORE_RETURN_IF_ERROR(WithPath(ConfigureReader(*reader), path));
    free_readers_.push_back(reader.get());
    readers_.push_back(std::move(reader));
  }
  STORE_ASSIGN_OR_RETURN(checkpoint_db_, Connection::Open(path, /*create=*/false));
  sqlite3_busy_timeout(checkpoint_db_->handle(), kCheckpointBusyTimeoutMs);
  // A connection learns that the file is in WAL mode on its first read; until then
  // a checkpoint through it does nothing.
  STORE_RETURN_IF_ERROR(
      WithPath(checkpoint_db_->QueryInt("SELECT count(*) FROM sqlite_master").status(), path));
  // Named for top and perf (at most 15 characters).
  committer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "store-commit");
    CommitterLoop();
  });
  checkpointer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "store-checkpt");
    CheckpointLoop();
  });
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------
// The checkpointer.

int StoreImpl::OnWalCommit(void* store, sqlite3*, const char*, int pages) {
  auto* self = static_cast<StoreImpl*>(store);
  if (pages >= self->checkpoint_pages_) {
    {
      std::lock_guard<std::mutex> lock(self->checkpoint_mu_);
      self->checkpoint_wanted_ = true;
    }
    self->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void StoreImpl::CheckpointLoop() {
  sqlite3* db = checkpoint_db_->handle();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(checkpoint_mu_);
      checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_wanted_; });
      if (checkpoint_stopping_) return;
      checkpoint_wanted_ = false;
    }
    // PASSIVE copies pages without blocking anyone, but commits keep arriving while
    // it runs, so it rarely copies the very last frame. The committer then copies the
    // few frames left between two of its transactions (see CommitterLoop); with the
    // WAL fully copied, SQLite's next write starts the WAL file over instead of
    // growing it. A blocking (RESTART) checkpoint here would stall commits instead.
    int log_frames = 0;
    int copied = 0;
    sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    finish_checkpoint_.store(true);
  }
}

// ---------------------------------------------------------------------------------
// The committer.

absl::Status StoreImpl::Submit(WriteFn fn, bool durable) {
  WriteJob job(fn, durable);
  std::unique_lock<std::mutex> lock(write_mu_);
  if (stopping_) return absl::FailedPreconditionError("the store is closing");
  pending_.push_back(&job);
  write_cv_.notify_one();
  done_cv_.wait(lock, [&] { return job.done; });
  return job.status;
}

void StoreImpl::SubmitAsync(OwnedWriteFn fn, std::function<void(absl::Status)> on_done) {
  auto job = std::make_unique<WriteJob>(std::move(fn), std::move(on_done));
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (!stopping_) {
      pending_.push_back(job.release());
      write_cv_.notify_one();
      return;
    }
  }
  job->on_done(absl::FailedPreconditionError("the store is closing"));
}

void StoreImpl::CommitterLoop() {
  std::vector<WriteJob*> batch;
  std::vector<std::unique_ptr<WriteJob>> finished_async;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(write_mu_);
      write_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and nothing left to write
      batch.swap(pending_);
    }
    if (finish_checkpoint_.exchange(false)) {
      int log_frames = 0;
      int copied = 0;
      sqlite3_wal_checkpoint_v2(writer_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                &log_frames, &copied);
    }
    RunBatch(batch);
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      for (WriteJob* job : batch) {
        if (job->on_done) {
          finished_async.emplace_back(job);
        } else {
          job->done = true;  // its caller may free it from here on
        }
      }
    }
    done_cv_.notify_all();
    for (std::unique_ptr<WriteJob>& job : finished_async) job->on_done(job->status);
    finished_async.clear();
    batch.clear();
  }
}

absl::Status StoreImpl::SetSynchronous(Connection& db, bool full) {
  if (full == synchronous_full_now_) return absl::OkStatus();
  // WAL frames are appended in order, so a FULL commit's fsync also covers every
  // NORMAL commit before it.
  STORE_RETURN_IF_ERROR(
      db.Exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
  synchronous_full_now_ = full;
  return absl::OkStatus();
}

void StoreImpl::RunBatch(std::span<WriteJob* const> batch) {
  Connection& db = *writer_;
  bool durable = false;
  for (const WriteJob* job : batch) durable = durable || job->durable;
  absl::Status fatal = SetSynchronous(db, options_.synchronous_full && durable);
  if (fatal.ok()) fatal = Run(db, "BEGIN IMMEDIATE");
  WriteEffects effects;
  for (WriteJob* job : batch) {
    if (!fatal.ok()) {
      job->status = fatal;
      continue;
    }
    absl::Status status = Run(db, "SAVEPOINT job");
    if (status.ok()) status = job->run(db, job->effects);
    if (status.ok()) {
      status = Run(db, "RELEASE job");
    } else if (db.InTransaction()) {
      Run(db, "ROLLBACK TO job").IgnoreError();
      Run(db, "RELEASE job").IgnoreError();
    }
    if (!db.InTransaction()) {
      // SQLite rolled the whole transaction back (I/O error, disk full): everything in
      // this batch is lost, including jobs that had succeeded.
      fatal = status.ok() ? absl::InternalError("sqlite: the transaction was rolled back") : status;
      job->status = fatal;
      continue;
    }
    job->status = status;
    if (status.ok()) effects.MergeFrom(job->effects);
  }
  if (fatal.ok()) fatal = TrimLogs(db, effects);
  if (fatal.ok()) fatal = Run(db, "COMMIT");
  if (!fatal.ok()) {
    if (db.InTransaction()) Run(db, "ROLLBACK").IgnoreError();
    for (WriteJob* job : batch) {
      if (job->status.ok()) job->status = fatal;
    }
    return;
  }
  ApplyEffects(effects);
}

absl::Status StoreImpl::TrimLogs(Connection& db, WriteEffects& effects) {
  auto trim = [&](int64_t count, int64_t& added, size_t retention,
                  const char* sql) -> absl::Status {
    if (added <= 0 ||
        count + added <= static_cast<int64_t>(retention + RetentionSlack(retention))) {
      return absl::OkStatus();
    }
    STORE_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
    STORE_RETURN_IF_ERROR(stmt.Bind(1, static_cast<int64_t>(retention)).Run());
    added -= db.Changes();
    return absl::OkStatus();
  };
  // Deletes everything older than the retention-th newest row.
  STORE_RETURN_IF_ERROR(trim(attempt_count_, effects.attempts_added, options_.attempt_retention,
                             "DELETE FROM attempts WHERE id <= (SELECT id FROM attempts "
                             "ORDER BY id DESC LIMIT 1 OFFSET ?1)"));
  return trim(dead_letter_count_, effects.dead_letters_added, options_.dead_letter_retention,
              "DELETE FROM dead_letters WHERE id <= (SELECT id FROM dead_letters "
              "ORDER BY id DESC LIMIT 1 OFFSET ?1)");
}

void StoreImpl::ApplyEffects(WriteEffects& effects) {
  attempt_count_ += effects.attempts_added;
  dead_letter_count_ += effects.dead_letters_added;
  if (!effects.released.empty() || !effects.segment_changes.empty() ||
      !effects.new_segments.empty()) {
    std::lock_guard<std::mutex> lock(lease_mu_);
    for (NewSegment& segment : effects.new_segments) CacheSegment(std::move(segment));
    // Finished before released: a Lease between the two could otherwise see an event
    // neither leased nor finished.
    for (const SegmentChange& change : effects.segment_changes) {
      if (change.removed) {
        segments_.erase(change.segment);
        DropCached(change.segment);
        continue;
      }
      if (change.rescheduled) DropCached(change.segment);
      if (!change.finished.empty()) {
        MarkFinished(change.segment, change.event_count, change.finished);
      }
    }
    ReleaseLocked(effects.released);
  }
  if (!effects.depth_resets.empty() || !effects.depth_deltas.empty()) {
    std::lock_guard<std::mutex> lock(depth_mu_);
    for (const std::string& id : effects.depth_resets) depth_.erase(id);
    for (const auto& [id, delta] : effects.depth_deltas) {
      int64_t& depth = depth_[id];
      depth += delta;
      if (depth <= 0) depth_.erase(id);
    }
  }
}

// ---------------------------------------------------------------------------------
// Integrations and revisions.

absl::StatusOr<RevisionRecord> StoreImpl::ReadRevision(const Statement& s) const {
  RevisionRecord r;
  r.id = s.Text(0);
  r.integration_id = s.Text(1);
  r.org_id = s.Text(2);
  r.revision_number = static_cast<int>(s.Int(3));
  STORE_ASSIGN_OR_RETURN(r.secret_fields, ParseJsonStringArray(s.View(4)));
  r.delivery_mode = s.Text(5);
  r.change_summary = s.Text(6);
  r.created_by = s.Text(7);
  r.created_at_ms = s.Int(8);
  r.delivery_settings = s.Text(9);
  absl::StatusOr<std::string> config = secrets_->Open(s.View(10), r.id);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat("revision ", r.id, " config: ", config.status().message()));
  }
  r.config_json = *std::move(config);
  return r;
}

absl::Status InsertRevision(Connection& db, const RevisionRecord& r, std::string_view sealed) {
  STORE_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare("INSERT INTO revisions (integration_id, revision_number, id, org_id, "
                 "secret_fields, delivery_mode, change_summary, created_by, created_at_ms, "
                 "delivery_settings, config_sealed) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  return stmt.BindText(1, r.integration_id)
      .Bind(2, r.revision_number)
      .BindText(3, r.id)
      .BindText(4, r.org_id)
      .BindText(5, JsonStringArray(r.secret_fields))
      .BindText(6, r.delivery_mode)
      .BindText(7, r.change_summary)
      .BindText(8, r.created_by)
      .Bind(9, r.created_at_ms)
      .BindBlob(10, r.delivery_settings)
      .BindText(11, sealed)
      .Run();
}

absl::Status StoreImpl::CreateIntegration(IntegrationRecord& integration,
                                          RevisionRecord& first_revision) {
  if (integration.org_id.empty() || integration.name.empty() || integration.vendor.empty()) {
    return absl::InvalidArgumentError("an integration needs an org_id, a name and a vendor");
  }
  if (!ValidStatus(integration.status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown integration status \"", integration.status, "\""));
  }
  if (integration.id.empty()) integration.id = NewId("tmpl");
  if (first_revision.id.empty()) first_revision.id = NewId("rev");
  const int64_t now = clock_();
  integration.created_at_ms = now;
  integration.updated_at_ms = now;
  integration.current_revision = 1;
  first_revision.integration_id = integration.id;
  first_revision.org_id = integration.org_id;
  first_revision.revision_number = 1;
  first_revision.created_at_ms = now;
  STORE_ASSIGN_OR_RETURN(std::string sealed,
                         secrets_->Seal(first_revision.config_json, first_revision.id));

  return Write([&](Connection& db, WriteEffects&) -> absl::Status {
    {
      STORE_ASSIGN_OR_RETURN(
          Statement exists,
          db.Prepare("SELECT 1 FROM integrations WHERE org_id = ?1 AND name = ?2"));
      exists.BindText(1, integration.org_id).BindText(2, integration.name);
      STORE_ASSIGN_OR_RETURN(bool found, exists.Step());
      if (found) {
        return absl::AlreadyExistsError(
            absl::StrCat("an integration named \"", integration.name, "\" already exists"));
      }
    }
    STORE_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare("INSERT INTO integrations (id, org_id, name, vendor, description, "
                   "catalog_vendor_key, catalog_variant_key, current_revision, status, "
                   "status_reason, created_at_ms, updated_at_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    STORE_RETURN_IF_ERROR(insert.BindText(1, integration.id)
                              .BindText(2, integration.org_id)
                              .BindText(3, integration.name)
                              .BindText(4, integration.vendor)
                              .BindText(5, integration.description)
                              .BindText(6, integration.catalog_vendor_key)
                              .BindText(7, integration.catalog_variant_key)
                              .Bind(8, integration.current_revision)
                              .BindText(9, integration.status)
                              .BindText(10, integration.status_reason)
                              .Bind(11, integration.created_at_ms)
                              .Bind(12, integration.updated_at_ms)
                              .Run());
    return InsertRevision(db, first_revision, sealed);
  });
}

absl::StatusOr<IntegrationRecord> StoreImpl::GetIntegration(std::string_view org_id,
                                                            std::string_view id) {
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt, reader.db().Prepare(absl::StrCat(
                                             "SELECT ", kIntegrationColumns,
                                             " FROM integrations WHERE id = ?1 AND org_id = ?2")));
  stmt.BindText(1, id).BindText(2, org_id);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no integration ", Av(id)));
  return ReadIntegration(stmt);
}

absl::StatusOr<PageResult<IntegrationRecord>> StoreImpl::ListIntegrations(std::string_view org_id,
                                                                          const Page& page) {
  STORE_ASSIGN_OR_RETURN(int64_t limit, CheckLimit(page));
  STORE_ASSIGN_OR_RETURN(int64_t after, DecodeCursor(page.cursor, "int", 0));
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt, reader.db().Prepare(absl::StrCat(
                                             "SELECT ", kIntegrationColumns,
                                             " FROM integrations WHERE org_id = ?1 AND seq > ?2 "
                                             "ORDER BY seq LIMIT ?3")));
  stmt.BindText(1, org_id).Bind(2, after).Bind(3, limit + 1);
  return ReadPage<IntegrationRecord>(
      stmt, limit, "int", kIntegrationSeqColumn,
      [](const Statement& s) -> absl::StatusOr<IntegrationRecord> { return ReadIntegration(s); });
}

absl::StatusOr<std::vector<IntegrationRecord>> StoreImpl::AllIntegrations() {
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         reader.db().Prepare(absl::StrCat("SELECT ", kIntegrationColumns,
                                                          " FROM integrations ORDER BY seq")));
  std::vector<IntegrationRecord> all;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    all.push_back(ReadIntegration(stmt));
  }
  return all;
}

absl::Status StoreImpl::DeleteIntegration(std::string_view org_id, std::string_view id) {
  return Write([&](Connection& db, WriteEffects& effects) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(Statement remove,
                           db.Prepare("DELETE FROM integrations WHERE id = ?1 AND org_id = ?2"));
    STORE_RETURN_IF_ERROR(remove.BindText(1, id).BindText(2, org_id).Run());
    if (db.Changes() == 0) return absl::NotFoundError(absl::StrCat("no integration ", Av(id)));
    // Revisions go by ON DELETE CASCADE; queued events are discarded explicitly.
    STORE_ASSIGN_OR_RETURN(Statement revisions,
                           db.Prepare("DELETE FROM revisions WHERE integration_id = ?1"));
    STORE_RETURN_IF_ERROR(revisions.BindText(1, id).Run());
    STORE_ASSIGN_OR_RETURN(
        Statement progress,
        db.Prepare("DELETE FROM queue_segment_progress WHERE seq IN "
                   "(SELECT seq FROM queue_segments WHERE integration_id = ?1)"));
    STORE_RETURN_IF_ERROR(progress.BindText(1, id).Run());
    STORE_ASSIGN_OR_RETURN(
        Statement queue,
        db.Prepare("DELETE FROM queue_segments WHERE integration_id = ?1 RETURNING seq"));
    queue.BindText(1, id);
    for (;;) {
      STORE_ASSIGN_OR_RETURN(bool row, queue.Step());
      if (!row) break;
      SegmentChange& change = effects.segment_changes.emplace_back();
      change.segment = queue.Int(0);
      change.removed = true;
    }
    effects.depth_resets.emplace_back(id);
    return absl::OkStatus();
  });
}

absl::Status StoreImpl::AddRevision(RevisionRecord& revision) {
  if (revision.integration_id.empty()) {
    return absl::InvalidArgumentError("a revision needs an integration_id");
  }
  if (revision.id.empty()) revision.id = NewId("rev");
  revision.created_at_ms = clock_();
  STORE_ASSIGN_OR_RETURN(std::string sealed, secrets_->Seal(revision.config_json, revision.id));

  return Write([&](Connection& db, WriteEffects&) -> absl::Status {
    std::string org_id;
    int64_t current = 0;
    {
      STORE_ASSIGN_OR_RETURN(
          Statement lookup,
          db.Prepare("SELECT org_id, current_revision FROM integrations WHERE id = ?1"));
      lookup.BindText(1, revision.integration_id);
      STORE_ASSIGN_OR_RETURN(bool found, lookup.Step());
      if (found) {
        org_id = lookup.Text(0);
        current = lookup.Int(1);
      }
      if (!found || (!revision.org_id.empty() && revision.org_id != org_id)) {
        return absl::NotFoundError(absl::StrCat("no integration ", revision.integration_id));
      }
    }
    revision.org_id = org_id;
    revision.revision_number = static_cast<int>(current + 1);
    STORE_RETURN_IF_ERROR(InsertRevision(db, revision, sealed));
    STORE_ASSIGN_OR_RETURN(
        Statement update,
        db.Prepare("UPDATE integrations SET current_revision = ?2, updated_at_ms = ?3, "
                   "status = CASE WHEN status = 'held' THEN 'active' ELSE status END, "
                   "status_reason = CASE WHEN status = 'held' THEN '' ELSE status_reason END "
                   "WHERE id = ?1"));
    return update.BindText(1, revision.integration_id)
        .Bind(2, revision.revision_number)
        .Bind(3, revision.created_at_ms)
        .Run();
  });
}

absl::StatusOr<RevisionRecord> StoreImpl::GetRevision(std::string_view integration_id,
                                                      int revision_number) {
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(
      Statement stmt, reader.db().Prepare(absl::StrCat(
                          "SELECT ", kRevisionColumns,
                          " FROM revisions WHERE integration_id = ?1 AND revision_number = ?2")));
  stmt.BindText(1, integration_id).Bind(2, revision_number);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("no revision ", revision_number, " of integration ", Av(integration_id)));
  }
  return ReadRevision(stmt);
}

absl::StatusOr<PageResult<RevisionRecord>> StoreImpl::ListRevisions(std::string_view integration_id,
                                                                    const Page& page) {
  STORE_ASSIGN_OR_RETURN(int64_t limit, CheckLimit(page));
  STORE_ASSIGN_OR_RETURN(int64_t before, DecodeCursor(page.cursor, "rev", kNoUpperBound));
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         reader.db().Prepare(absl::StrCat(
                             "SELECT ", kRevisionColumns,
                             " FROM revisions WHERE integration_id = ?1 AND revision_number < ?2 "
                             "ORDER BY revision_number DESC LIMIT ?3")));
  stmt.BindText(1, integration_id).Bind(2, before).Bind(3, limit + 1);
  return ReadPage<RevisionRecord>(stmt, limit, "rev", kRevisionNumberColumn,
                                  [this](const Statement& s) { return ReadRevision(s); });
}

absl::Status StoreImpl::SetStatus(std::string_view integration_id, std::string_view status,
                                  std::string_view reason) {
  if (!ValidStatus(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown integration status \"", Av(status), "\""));
  }
  const int64_t now = clock_();
  return Write([&](Connection& db, WriteEffects&) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(
        Statement update,
        db.Prepare("UPDATE integrations SET status = ?2, status_reason = ?3, updated_at_ms = ?4 "
                   "WHERE id = ?1"));
    STORE_RETURN_IF_ERROR(update.BindText(1, integration_id)
                              .BindText(2, status)
                              .BindText(3, reason)
                              .Bind(4, now)
                              .Run());
    if (db.Changes() == 0)
      return absl::NotFoundError(absl::StrCat("no integration ", Av(integration_id)));
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------------
// Queue: segments (see segment_pack.h and the schema's version 2).

// A segment's row without its events.
struct SegmentRow {
  int64_t segment = 0;
  std::string integration_id;
  uint32_t event_count = 0;
  uint32_t attempts = 0;
  int64_t enqueued_at_ms = 0;
  int64_t first_attempt_at_ms = 0;
  std::string done;  // progress bitmap, one bit per event

  bool IsDone(uint32_t index) const {
    return index / 8 < done.size() && ((Byte(index / 8) >> (index % 8)) & 1);
  }
  void SetDone(uint32_t index) {
    if (done.size() < (event_count + 7) / 8) done.resize((event_count + 7) / 8, '\0');
    done[index / 8] = static_cast<char>(Byte(index / 8) | (1u << (index % 8)));
  }
  uint32_t DoneCount() const {
    uint32_t count = 0;
    for (size_t i = 0; i < done.size(); ++i) count += __builtin_popcount(Byte(i));
    return count;
  }

 private:
  uint8_t Byte(size_t i) const { return static_cast<uint8_t>(done[i]); }
};

absl::StatusOr<std::optional<SegmentRow>> ReadSegmentRow(Connection& db, int64_t segment) {
  STORE_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare("SELECT s.integration_id, s.event_count, s.attempts, s.enqueued_at_ms, "
                 "s.first_attempt_at_ms, p.done FROM queue_segments s "
                 "LEFT JOIN queue_segment_progress p ON p.seq = s.seq WHERE s.seq = ?1"));
  stmt.Bind(1, segment);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<SegmentRow>();
  SegmentRow row;
  row.segment = segment;
  row.integration_id = stmt.Text(0);
  row.event_count = static_cast<uint32_t>(stmt.Int(1));
  row.attempts = static_cast<uint32_t>(stmt.Int(2));
  row.enqueued_at_ms = stmt.Int(3);
  row.first_attempt_at_ms = stmt.Int(4);
  if (!stmt.IsNull(5)) row.done = stmt.Text(5);
  return std::optional<SegmentRow>(std::move(row));
}

// Reads a segment's packed events into `packed` and splits them into `events`, which
// view `packed` (so the caller keeps it alive and unmoved while using them).
absl::Status ReadSegmentEvents(Connection& db, int64_t segment, uint32_t event_count,
                               std::string& packed, std::vector<segment::PackedEvent>& events) {
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         db.Prepare("SELECT events FROM queue_segments WHERE seq = ?1"));
  stmt.Bind(1, segment);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no queue segment ", segment));
  packed = stmt.Text(0);
  if (!segment::Unpack(packed, events) || events.size() != event_count) {
    return absl::DataLossError(absl::StrCat("queue segment ", segment, " is corrupt"));
  }
  return absl::OkStatus();
}

// Event seqs grouped by segment, segments in ascending order, indexes deduplicated.
std::vector<std::pair<int64_t, std::vector<uint32_t>>> GroupBySegment(
    std::span<const int64_t> seqs) {
  absl::flat_hash_map<int64_t, std::vector<uint32_t>> by_segment;
  for (int64_t seq : seqs) {
    if (seq <= 0) continue;
    by_segment[segment::SegmentOf(seq)].push_back(segment::IndexOf(seq));
  }
  std::vector<std::pair<int64_t, std::vector<uint32_t>>> groups(by_segment.begin(),
                                                                by_segment.end());
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [segment, indexes] : groups) {
    std::sort(indexes.begin(), indexes.end());
    indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
  }
  return groups;
}

// Of `indexes`, those that exist in the segment and are not finished yet.
std::vector<uint32_t> PendingOf(const SegmentRow& row, const std::vector<uint32_t>& indexes) {
  std::vector<uint32_t> pending;
  pending.reserve(indexes.size());
  for (uint32_t index : indexes) {
    if (index < row.event_count && !row.IsDone(index)) pending.push_back(index);
  }
  return pending;
}

// Marks `pending` (unfinished events of `row`) finished: the progress row is updated,
// or the segment deleted once nothing in it is left. Takes them out of the depth.
absl::Status FinishInSegment(Connection& db, SegmentRow& row, std::vector<uint32_t> pending,
                             WriteEffects& effects) {
  if (pending.empty()) return absl::OkStatus();
  for (uint32_t index : pending) row.SetDone(index);
  effects.depth_deltas[row.integration_id] -= static_cast<int64_t>(pending.size());
  SegmentChange& change = effects.segment_changes.emplace_back();
  change.segment = row.segment;
  change.event_count = row.event_count;
  if (row.DoneCount() == row.event_count) {
    STORE_ASSIGN_OR_RETURN(Statement remove,
                           db.Prepare("DELETE FROM queue_segments WHERE seq = ?1"));
    STORE_RETURN_IF_ERROR(remove.Bind(1, row.segment).Run());
    STORE_ASSIGN_OR_RETURN(Statement progress,
                           db.Prepare("DELETE FROM queue_segment_progress WHERE seq = ?1"));
    STORE_RETURN_IF_ERROR(progress.Bind(1, row.segment).Run());
    change.removed = true;
    return absl::OkStatus();
  }
  STORE_ASSIGN_OR_RETURN(
      Statement progress,
      db.Prepare("INSERT OR REPLACE INTO queue_segment_progress (seq, done) VALUES (?1, ?2)"));
  STORE_RETURN_IF_ERROR(progress.Bind(1, row.segment).BindBlob(2, row.done).Run());
  change.finished = std::move(pending);
  return absl::OkStatus();
}

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

// In-memory segment state (lease_mu_ held).

StoreImpl::SegmentState& StoreImpl::StateFor(int64_t segment, uint32_t event_count) {
  SegmentState& state = segments_[segment];
  if (state.flags.size() < event_count) state.flags.resize(event_count, 0);
  return state;
}

void StoreImpl::MarkFinished(int64_t segment, uint32_t event_count,
                             std::span<const uint32_t> indexes) {
  SegmentState& state = StateFor(segment, event_count);
  for (uint32_t index : indexes) {
    if (index >= state.flags.size()) continue;
    uint8_t& flags = state.flags[index];
    if (flags & SegmentState::kFinished) continue;
    if (flags == 0) ++state.unavailable;
    flags |= SegmentState::kFinished;
  }
}

void StoreImpl::ReleaseLocked(std::span<const int64_t> seqs) {
  for (int64_t seq : seqs) {
    auto it = segments_.find(segment::SegmentOf(seq));
    if (it == segments_.end()) continue;
    SegmentState& state = it->second;
    const uint32_t index = segment::IndexOf(seq);
    if (index >= state.flags.size() || !(state.flags[index] & SegmentState::kLeased)) continue;
    state.flags[index] &= static_cast<uint8_t>(~SegmentState::kLeased);
    if (state.flags[index] == 0) --state.unavailable;
    // A segment with nothing leased or finished needs no state.
    if (state.unavailable == 0) segments_.erase(it);
  }
}

void StoreImpl::CacheSegment(NewSegment segment) {
  const size_t budget = options_.segment_cache_bytes;
  if (budget == 0 || segment.events->size() > budget) return;
  cache_bytes_ += segment.events->size();
  cache_order_.push_back(segment.segment);
  cache_[segment.segment] = CachedSegment{std::move(segment.events), segment.event_count,
                                          segment.enqueued_at_ms};
  // Oldest first; entries already dropped cost nothing but their slot here.
  while (!cache_order_.empty() &&
         (cache_bytes_ > budget || !cache_.contains(cache_order_.front()))) {
    DropCached(cache_order_.front());
    cache_order_.pop_front();
  }
  // A long-lived oldest entry (say, an integration that is held) would keep the slots
  // of everything dropped after it: compact once they outnumber the live entries.
  if (cache_order_.size() > 2 * cache_.size() + 64) {
    std::erase_if(cache_order_, [&](int64_t id) { return !cache_.contains(id); });
  }
}

void StoreImpl::DropCached(int64_t segment) {
  auto it = cache_.find(segment);
  if (it == cache_.end()) return;
  cache_bytes_ -= it->second.events->size();
  cache_.erase(it);
}

absl::Status StoreImpl::Enqueue(std::span<const EnqueueItem> items) {
  if (items.empty()) return absl::OkStatus();
  for (const EnqueueItem& item : items) {
    if (item.integration_id.empty() || item.message_id.empty()) {
      return absl::InvalidArgumentError(
          "every queued event needs an integration id and a message id");
    }
  }
  // Packed here, on the caller's thread, so that the committer only inserts.
  struct Pending {
    std::string_view integration_id;
    uint32_t event_count = 0;
    std::shared_ptr<std::string> events;
  };
  std::vector<Pending> segments;
  {
    absl::flat_hash_map<std::string_view, size_t> open;  // integration -> its last segment
    for (const EnqueueItem& item : items) {
      auto it = open.find(item.integration_id);
      if (it == open.end() || segments[it->second].event_count == segment::kMaxEventsPerSegment ||
          segments[it->second].events->size() + segment::PackedSize(item.message_id, item.payload) >
              segment::kMaxSegmentBytes) {
        segments.push_back(Pending{item.integration_id, 0, std::make_shared<std::string>()});
        open[item.integration_id] = segments.size() - 1;
        it = open.find(item.integration_id);
      }
      Pending& segment = segments[it->second];
      segment::AppendEvent(*segment.events, item.message_id, item.payload);
      ++segment.event_count;
    }
  }
  const int64_t now = clock_();
  return Write([&](Connection& db, WriteEffects& effects) -> absl::Status {
    {
      STORE_ASSIGN_OR_RETURN(Statement exists,
                             db.Prepare("SELECT 1 FROM integrations WHERE id = ?1"));
      for (const Pending& segment : segments) {
        if (effects.depth_deltas.contains(Av(segment.integration_id))) continue;
        exists.Reset();
        exists.BindText(1, segment.integration_id);
        STORE_ASSIGN_OR_RETURN(bool found, exists.Step());
        if (!found) {
          return absl::NotFoundError(absl::StrCat("no integration ", Av(segment.integration_id)));
        }
        effects.depth_deltas[std::string(segment.integration_id)] = 0;
      }
    }
    for (const Pending& pending : segments) {
      int64_t segment = 0;
      STORE_RETURN_IF_ERROR(InsertSegment(db, pending.integration_id, pending.event_count, 0, now,
                                          0, now, *pending.events, segment));
      effects.depth_deltas.find(Av(pending.integration_id))->second += pending.event_count;
      effects.new_segments.push_back(NewSegment{segment, pending.events, pending.event_count, now});
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<QueuedEvent>> StoreImpl::Lease(std::string_view integration_id,
                                                          size_t max, int64_t now_ms) {
  std::vector<QueuedEvent> events;
  if (max == 0) return events;
  // Held across the query: a commit that finishes a leased event marks it finished
  // and drops its lease in one step under this mutex, so a query here either still
  // sees it leased or sees it finished (or its row gone). Never neither.
  std::lock_guard<std::mutex> lock(lease_mu_);
  // Only the due index is read to walk segments; a segment's row (or its cached copy)
  // is fetched only when it has events left to lease.
  STORE_ASSIGN_OR_RETURN(
      Statement due,
      lease_db_->Prepare("SELECT seq FROM queue_segments WHERE integration_id = ?1 AND "
                         "next_attempt_at_ms <= ?2 ORDER BY next_attempt_at_ms, seq"));
  due.BindText(1, integration_id).Bind(2, now_ms);
  std::vector<segment::PackedEvent> unpacked;
  while (events.size() < max) {
    STORE_ASSIGN_OR_RETURN(bool row, due.Step());
    if (!row) break;
    const int64_t segment = due.Int(0);
    auto state_it = segments_.find(segment);
    if (state_it != segments_.end() &&
        state_it->second.unavailable >= state_it->second.flags.size()) {
      continue;  // everything in it is leased or finished
    }
    uint32_t attempts = 0;
    int64_t enqueued_at = 0, first_attempt_at = 0, next_attempt_at = 0;
    std::shared_ptr<const std::string> cached_events;
    std::optional<Statement> fetched;  // keeps the row's bytes alive while unpacked
    std::string_view packed;
    uint32_t event_count = 0;
    if (auto cached = cache_.find(segment); cached != cache_.end()) {
      cached_events = cached->second.events;
      packed = *cached_events;
      event_count = cached->second.event_count;
      enqueued_at = next_attempt_at = cached->second.enqueued_at_ms;
    } else {
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          lease_db_->Prepare("SELECT event_count, attempts, enqueued_at_ms, first_attempt_at_ms, "
                             "next_attempt_at_ms, events FROM queue_segments WHERE seq = ?1"));
      stmt.Bind(1, segment);
      STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
      if (!found) continue;
      event_count = static_cast<uint32_t>(stmt.Int(0));
      attempts = static_cast<uint32_t>(stmt.Int(1));
      enqueued_at = stmt.Int(2);
      first_attempt_at = stmt.Int(3);
      next_attempt_at = stmt.Int(4);
      packed = stmt.View(5);
      fetched.emplace(std::move(stmt));
    }
    if (!segment::Unpack(packed, unpacked) || unpacked.size() != event_count) {
      return absl::DataLossError(absl::StrCat("queue segment ", segment, " is corrupt"));
    }
    SegmentState& state = StateFor(segment, event_count);
    for (uint32_t index = 0; index < event_count && events.size() < max; ++index) {
      uint8_t& flags = state.flags[index];
      if (flags != 0) continue;
      flags = SegmentState::kLeased;
      ++state.unavailable;
      QueuedEvent& event = events.emplace_back();
      event.seq = segment::EventSeq(segment, index);
      event.integration_id = std::string(integration_id);
      event.message_id = std::string(unpacked[index].message_id);
      event.payload = std::string(unpacked[index].payload);
      event.attempts = attempts;
      event.enqueued_at_ms = enqueued_at;
      event.first_attempt_at_ms = first_attempt_at;
      event.next_attempt_at_ms = next_attempt_at;
    }
  }
  return events;
}

void StoreImpl::Release(std::span<const int64_t> seqs) {
  std::lock_guard<std::mutex> lock(lease_mu_);
  ReleaseLocked(seqs);
}

absl::Status StoreImpl::CompleteIn(Connection& db, std::span<const int64_t> seqs,
                                   WriteEffects& effects) {
  for (auto& [segment, indexes] : GroupBySegment(seqs)) {
    STORE_ASSIGN_OR_RETURN(std::optional<SegmentRow> row, ReadSegmentRow(db, segment));
    if (!row.has_value()) continue;  // already gone
    STORE_RETURN_IF_ERROR(FinishInSegment(db, *row, PendingOf(*row, indexes), effects));
  }
  effects.released.insert(effects.released.end(), seqs.begin(), seqs.end());
  return absl::OkStatus();
}

absl::Status StoreImpl::Complete(std::span<const int64_t> seqs) {
  if (seqs.empty()) return absl::OkStatus();
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    return CompleteIn(db, seqs, effects);
  });
}

void StoreImpl::CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                                       AsyncDone done) {
  if (attempt.created_at_ms == 0) attempt.created_at_ms = clock_();
  struct Job {
    std::vector<int64_t> seqs;
    AttemptRecord attempt;
    std::string message_ids;
  };
  auto job = std::make_shared<Job>();
  job->message_ids = JsonStringArray(attempt.message_ids);
  job->seqs = std::move(seqs);
  job->attempt = std::move(attempt);
  if (job->attempt.integration_id.empty()) {
    done(absl::InvalidArgumentError("an attempt record needs an integration_id"), job->attempt);
    return;
  }
  SubmitAsync(
      [this, job](Connection& db, WriteEffects& effects) -> absl::Status {
        STORE_RETURN_IF_ERROR(InsertAttempt(db, job->attempt, job->message_ids, effects));
        return CompleteIn(db, job->seqs, effects);
      },
      [job, done = std::move(done)](absl::Status status) {
        if (!status.ok()) job->attempt.id = 0;  // its insert was rolled back
        done(status, job->attempt);
      });
}

absl::Status StoreImpl::ScheduleRetry(std::span<const int64_t> seqs, int64_t next_attempt_at_ms,
                                      int64_t attempted_at_ms) {
  if (seqs.empty()) return absl::OkStatus();
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    std::vector<segment::PackedEvent> unpacked;
    for (auto& [segment, indexes] : GroupBySegment(seqs)) {
      STORE_ASSIGN_OR_RETURN(std::optional<SegmentRow> row, ReadSegmentRow(db, segment));
      if (!row.has_value()) continue;
      std::vector<uint32_t> pending = PendingOf(*row, indexes);
      if (pending.empty()) continue;
      const int64_t first =
          row->first_attempt_at_ms == 0 ? attempted_at_ms : row->first_attempt_at_ms;
      if (pending.size() == row->event_count - row->DoneCount()) {
        // Every event left in the segment: reschedule the segment in place.
        STORE_ASSIGN_OR_RETURN(
            Statement update,
            db.Prepare("UPDATE queue_segments SET attempts = attempts + 1, "
                       "next_attempt_at_ms = ?2, first_attempt_at_ms = ?3 WHERE seq = ?1"));
        STORE_RETURN_IF_ERROR(
            update.Bind(1, segment).Bind(2, next_attempt_at_ms).Bind(3, first).Run());
        SegmentChange& change = effects.segment_changes.emplace_back();
        change.segment = segment;
        change.event_count = row->event_count;
        change.rescheduled = true;
        continue;
      }
      // Only some: they move to a segment of their own with the new schedule.
      std::string packed;
      STORE_RETURN_IF_ERROR(ReadSegmentEvents(db, segment, row->event_count, packed, unpacked));
      std::string moved;
      for (uint32_t index : pending) {
        segment::AppendEvent(moved, unpacked[index].message_id, unpacked[index].payload);
      }
      int64_t new_segment = 0;
      STORE_RETURN_IF_ERROR(InsertSegment(db, row->integration_id,
                                          static_cast<uint32_t>(pending.size()),
                                          row->attempts + 1, row->enqueued_at_ms, first,
                                          next_attempt_at_ms, moved, new_segment));
      effects.depth_deltas[row->integration_id] += static_cast<int64_t>(pending.size());
      STORE_RETURN_IF_ERROR(FinishInSegment(db, *row, std::move(pending), effects));
    }
    effects.released.insert(effects.released.end(), seqs.begin(), seqs.end());
    return absl::OkStatus();
  });
}

absl::Status StoreImpl::DeadLetterEvents(std::span<const int64_t> seqs, std::string_view reason,
                                         std::string_view message, int32_t last_status,
                                         std::string_view last_response,
                                         uint32_t attempts_added) {
  if (seqs.empty()) return absl::OkStatus();
  const int64_t now = clock_();
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare("INSERT INTO dead_letters (integration_id, message_id, reason, message, "
                   "last_status, attempts, created_at_ms, replayed, last_response, payload) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9)"));
    std::vector<segment::PackedEvent> unpacked;
    for (auto& [segment, indexes] : GroupBySegment(seqs)) {
      STORE_ASSIGN_OR_RETURN(std::optional<SegmentRow> row, ReadSegmentRow(db, segment));
      if (!row.has_value()) continue;  // already gone (completed or deleted)
      std::vector<uint32_t> pending = PendingOf(*row, indexes);
      if (pending.empty()) continue;
      std::string packed;
      STORE_RETURN_IF_ERROR(ReadSegmentEvents(db, segment, row->event_count, packed, unpacked));
      for (uint32_t index : pending) {
        insert.Reset();
        STORE_RETURN_IF_ERROR(insert.BindText(1, row->integration_id)
                                  .BindText(2, unpacked[index].message_id)
                                  .BindText(3, reason)
                                  .BindText(4, message)
                                  .Bind(5, last_status)
                                  .Bind(6, static_cast<int64_t>(row->attempts) + attempts_added)
                                  .Bind(7, now)
                                  .BindText(8, last_response)
                                  .BindBlob(9, unpacked[index].payload)
                                  .Run());
        ++effects.dead_letters_added;
      }
      STORE_RETURN_IF_ERROR(FinishInSegment(db, *row, std::move(pending), effects));
    }
    effects.released.insert(effects.released.end(), seqs.begin(), seqs.end());
    return absl::OkStatus();
  });
}

absl::StatusOr<size_t> StoreImpl::QueueDepth(std::string_view integration_id) {
  std::lock_guard<std::mutex> lock(depth_mu_);
  auto it = depth_.find(Av(integration_id));
  return it == depth_.end() ? 0 : static_cast<size_t>(it->second);
}

// ---------------------------------------------------------------------------------
// Dead letters.

absl::StatusOr<PageResult<DeadLetter>> StoreImpl::ListDeadLetters(std::string_view integration_id,
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

absl::StatusOr<size_t> StoreImpl::ReplayDeadLetters(std::string_view org_id,
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

// ---------------------------------------------------------------------------------
// Attempts.

absl::Status StoreImpl::RecordAttempt(AttemptRecord& attempt) {
  if (attempt.integration_id.empty()) {
    return absl::InvalidArgumentError("an attempt record needs an integration_id");
  }
  if (attempt.created_at_ms == 0) attempt.created_at_ms = clock_();
  const std::string message_ids = JsonStringArray(attempt.message_ids);
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    return InsertAttempt(db, attempt, message_ids, effects);
  });
}

absl::StatusOr<PageResult<AttemptRecord>> StoreImpl::ListAttempts(std::string_view integration_id,
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

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                                   const SecretBox* secrets) {
  if (secrets == nullptr) {
    return absl::InvalidArgumentError("the store needs a SecretBox to encrypt configs at rest");
  }
  if (options.path.empty() || options.path == ":memory:" ||
      absl::StartsWith(options.path, "file:")) {
    return absl::InvalidArgumentError("the store needs a plain file path (WAL needs a file)");
  }
  auto store = std::make_unique<StoreImpl>(options, secrets);
  STORE_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace signal_host
