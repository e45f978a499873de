// The SQLite store behind every narrow store interface (Store, store.h). Internal to
// host/store: its member definitions live in files by concern:
//   sqlite_store.cc         opening, migrations, the committer and the checkpointer
//   sqlite_config_store.cc  integrations, revisions (configs sealed) and status
//   sqlite_delivery_queue.cc  the queue as segments: enqueue, lease, outcomes
//   sqlite_dead_letters.cc  dead letters: list, replay, and the sink (AddDeadLetters)
//   sqlite_attempt_log.cc   the attempt log
//   sqlite_rows.h/.cc       cursors, pages and JSON string arrays shared by the lists
//
// Layout:
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
#pragma once

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "host/store/sqlite_db.h"
#include "host/store/store.h"

namespace signal_host::sqlite_store {

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

// Abseil here is built with its own string_view; bridge std::string_view to it.
inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

inline int64_t SystemClockMs() { return absl::ToUnixMillis(absl::Now()); }

inline bool ValidStatus(std::string_view status) {
  return status == "active" || status == "held" || status == "disabled";
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

// Helpers shared between the files (defined beside their concern).
// Inserts one queue segment; `segment` gets its row id (sqlite_delivery_queue.cc).
absl::Status InsertSegment(Connection& db, std::string_view integration_id, uint32_t event_count,
                           uint32_t attempts, int64_t enqueued_at_ms, int64_t first_attempt_at_ms,
                           int64_t next_attempt_at_ms, std::string_view events, int64_t& segment);
// Schema version 2's data step (sqlite_delivery_queue.cc).
absl::Status MoveV1QueueIntoSegments(Connection& db);
// Inserts one attempt record; sets attempt.id (sqlite_attempt_log.cc).
absl::Status InsertAttempt(Connection& db, AttemptRecord& attempt, std::string_view message_ids,
                           WriteEffects& effects);

class SqliteStore final : public Store {
 public:
  SqliteStore(const StoreOptions& options, const SecretBox* secrets);
  ~SqliteStore() override;

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
  absl::StatusOr<size_t> ReplayDeadLetters(std::string_view org_id, std::string_view integration_id,
                                           std::string_view reason,
                                           std::span<const int64_t> ids) override;
  absl::Status AddDeadLetters(std::span<const DeadLetter> letters) override;

  absl::Status RecordAttempt(AttemptRecord& attempt) override;
  absl::StatusOr<PageResult<AttemptRecord>> ListAttempts(std::string_view integration_id,
                                                         std::string_view message_id,
                                                         std::string_view outcome,
                                                         const Page& page) override;

 private:
  // A read connection borrowed from the pool for one call.
  class Reader {
   public:
    Reader(SqliteStore* store, Connection* db) : store_(store), db_(db) {}
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
    SqliteStore* store_;
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

}  // namespace signal_host::sqlite_store
