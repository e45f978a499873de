// The SQLite store's life: opening (lock, pragmas, migrations, counters), the
// checkpointer thread and the committer thread (group commit), and Store::Open.
#include "host/store/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "host/store/schema.h"

namespace signal_host {
namespace sqlite_store {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kReaderConnections = 2;
constexpr char kPageSizePragma[] = "PRAGMA page_size = 16384";
constexpr char kWriterCachePragma[] = "PRAGMA cache_size = -32768";  // KiB
// How long a checkpoint waits for the writer and readers before settling for a
// partial (passive) one.
constexpr int kCheckpointBusyTimeoutMs = 100;

// Retention is enforced in steps of 1/16 of the limit, so trimming is amortised.
size_t RetentionSlack(size_t retention) { return retention / 16; }

absl::Status Run(Connection& db, absl::string_view sql) {
  STORE_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
  return stmt.Run();
}

absl::Status WithPath(const absl::Status& status, absl::string_view path) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("store ", path, ": ", status.message()));
}

}  // namespace

SqliteStore::SqliteStore(const StoreOptions& options, const SecretBox* secrets)
    : options_(options), secrets_(secrets) {
  clock_ = options_.clock_ms ? options_.clock_ms : SystemClockMs;
}

SqliteStore::~SqliteStore() {
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

// ---------------------------------------------------------------------------------
// Opening.

absl::Status SqliteStore::ConfigureWriter(Connection& db) {
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
  sqlite3_wal_hook(db.handle(), &SqliteStore::OnWalCommit, this);
  return db.Exec("PRAGMA foreign_keys = ON");
}

absl::Status SqliteStore::ConfigureReader(Connection& db) {
  sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs);
  return db.Exec("PRAGMA query_only = ON");
}

absl::Status SqliteStore::Migrate(Connection& db) {
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

absl::Status SqliteStore::LoadCounters(Connection& db) {
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

absl::Status SqliteStore::Init() {
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

int SqliteStore::OnWalCommit(void* store, sqlite3*, const char*, int pages) {
  auto* self = static_cast<SqliteStore*>(store);
  if (pages >= self->checkpoint_pages_) {
    {
      std::lock_guard<std::mutex> lock(self->checkpoint_mu_);
      self->checkpoint_wanted_ = true;
    }
    self->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::CheckpointLoop() {
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

absl::Status SqliteStore::Submit(WriteFn fn, bool durable) {
  WriteJob job(fn, durable);
  std::unique_lock<std::mutex> lock(write_mu_);
  if (stopping_) return absl::FailedPreconditionError("the store is closing");
  pending_.push_back(&job);
  write_cv_.notify_one();
  done_cv_.wait(lock, [&] { return job.done; });
  return job.status;
}

void SqliteStore::SubmitAsync(OwnedWriteFn fn, std::function<void(absl::Status)> on_done) {
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

void SqliteStore::CommitterLoop() {
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

absl::Status SqliteStore::SetSynchronous(Connection& db, bool full) {
  if (full == synchronous_full_now_) return absl::OkStatus();
  // WAL frames are appended in order, so a FULL commit's fsync also covers every
  // NORMAL commit before it.
  STORE_RETURN_IF_ERROR(
      db.Exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
  synchronous_full_now_ = full;
  return absl::OkStatus();
}

void SqliteStore::RunBatch(std::span<WriteJob* const> batch) {
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

absl::Status SqliteStore::TrimLogs(Connection& db, WriteEffects& effects) {
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

void SqliteStore::ApplyEffects(WriteEffects& effects) {
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

}  // namespace sqlite_store

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                                   const SecretBox* secrets) {
  if (secrets == nullptr) {
    return absl::InvalidArgumentError("the store needs a SecretBox to encrypt configs at rest");
  }
  if (options.path.empty() || options.path == ":memory:" ||
      absl::StartsWith(options.path, "file:")) {
    return absl::InvalidArgumentError("the store needs a plain file path (WAL needs a file)");
  }
  auto store = std::make_unique<sqlite_store::SqliteStore>(options, secrets);
  STORE_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace signal_host
