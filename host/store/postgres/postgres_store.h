// The PostgreSQL mode: state shared by every host pointed at one database
// (DATABASE_URL). Configs (integrations, immutable revisions sealed with SecretBox,
// the revision id as associated data), the hold, dead letters and the attempt log of
// Live Events; the queue itself lives elsewhere (Kafka, host/kafka), which hands
// failed events to AddDeadLetters and takes replays through the IngestQueue given at
// Open.
//
// Every write that changes an integration (create, delete, new revision, status) sends
// NOTIFY signal_config_changes with the integration id in its own transaction, and
// the store's ConfigChangeFeed (pg_change_feed.h) passes those notices on, so an
// install, a revision or a hold on one host takes effect on all of them.
//
// Thread-safe: calls take a connection from a pool (pg_pool.h). Durable when a write
// returns (committed, synchronous_commit on), except RecordAttempt, which commits
// without waiting for the server's flush (AttemptLog's contract: a power cut of the
// database server may lose the newest records). A server that goes away makes calls
// fail with Unavailable, and the pool reconnects with backoff once it is back.
//
// Retention (attempts, dead letters) is trimmed in amortised steps: each store
// instance trims after every retention/16 of its own inserts, so with N hosts a table
// holds at most retention + N * retention/16 rows. Ids come from a sequence: a row
// committed late may carry a lower id than one already listed, so a list walked page
// by page while others write can miss such a row (it shows on the next walk).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/attempt_log.h"
#include "host/store/config_changes.h"
#include "host/store/config_store.h"
#include "host/store/dead_letter_sink.h"
#include "host/store/dead_letter_store.h"
#include "host/store/ingest_queue.h"
#include "host/store/integration_status.h"
#include "host/store/postgres/pg_change_feed.h"
#include "host/store/postgres/pg_pool.h"

namespace signal_host {

class SecretBox;

struct PostgresOptions {
  std::string url;  // DATABASE_URL: postgresql://user:password@host:port/db?sslmode=...
  size_t pool_size = 4;
  std::chrono::milliseconds acquire_timeout{5000};
  size_t attempt_retention = 10000;       // newest attempt records kept
  size_t dead_letter_retention = 100000;  // newest dead letters kept
  // Apply pending schema migrations at Open; otherwise a database behind this build
  // is refused (run `signal-delivery-host migrate`). A newer one is always refused.
  bool migrate = false;
  // Unix milliseconds for created_at/updated_at; default the system clock.
  std::function<int64_t()> clock_ms;
};

class PostgresStore : public ConfigStore,
                      public DeadLetterStore,
                      public DeadLetterSink,
                      public AttemptLog,
                      public IntegrationStatusStore,
                      public ConfigChangeFeed {
 public:
  // Connects, checks (or migrates) the schema and starts the change feed. `secrets`
  // is required; `replay_target` receives replayed dead letters (null: replay is
  // FailedPrecondition). Both must outlive the store.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const PostgresOptions& options,
                                                             const SecretBox* secrets,
                                                             IngestQueue* replay_target);
  ~PostgresStore() override;

  // ConfigReader / ConfigStore.
  absl::StatusOr<IntegrationRecord> GetIntegration(std::string_view org_id,
                                                   std::string_view id) override;
  absl::StatusOr<PageResult<IntegrationRecord>> ListIntegrations(std::string_view org_id,
                                                                 const Page& page) override;
  absl::StatusOr<std::vector<IntegrationRecord>> AllIntegrations() override;
  absl::StatusOr<RevisionRecord> GetRevision(std::string_view integration_id,
                                             int revision_number) override;
  absl::StatusOr<PageResult<RevisionRecord>> ListRevisions(std::string_view integration_id,
                                                           const Page& page) override;
  absl::Status CreateIntegration(IntegrationRecord& integration,
                                 RevisionRecord& first_revision) override;
  // Deletes the integration and its revisions (dead letters stay, and are no longer
  // replayable; attempts stay until retention drops them).
  absl::Status DeleteIntegration(std::string_view org_id, std::string_view id) override;
  absl::Status AddRevision(RevisionRecord& revision) override;

  // IntegrationStatusStore.
  absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                         std::string_view reason) override;

  // DeadLetterSink: INSERT ... ON CONFLICT DO NOTHING against the unique index of
  // events not yet replayed, so a re-delivered event never makes a second one.
  absl::Status AddDeadLetters(std::span<const DeadLetter> letters) override;

  // DeadLetterStore. Replay locks the matching rows (FOR UPDATE, so two hosts never
  // replay one twice), hands their events to `replay_target` in chunks, and marks them
  // replayed in the same transaction only after every chunk was accepted: a refused
  // chunk rolls the marks back (nothing is replayed; chunks accepted before it are
  // sent again by the next replay), and a crash between the hand-over and the COMMIT
  // sends them again too. At least once, never lost.
  absl::StatusOr<PageResult<DeadLetter>> ListDeadLetters(std::string_view integration_id,
                                                         std::string_view reason,
                                                         const Page& page) override;
  absl::StatusOr<size_t> ReplayDeadLetters(std::string_view org_id, std::string_view integration_id,
                                           std::string_view reason,
                                           std::span<const int64_t> ids) override;

  // AttemptLog (synchronous_commit off for the insert).
  absl::Status RecordAttempt(AttemptRecord& attempt) override;
  absl::StatusOr<PageResult<AttemptRecord>> ListAttempts(std::string_view integration_id,
                                                         std::string_view message_id,
                                                         std::string_view outcome,
                                                         const Page& page) override;

  // OK when a pooled connection answers a trivial query (readiness probes); Unavailable
  // while the server cannot be reached.
  absl::Status Ping();

  // ConfigChangeFeed: changes made by any host on this database, this one included.
  void SetListener(Listener listener) override { feed_->SetListener(std::move(listener)); }
  int feed_reconnects() const { return feed_->reconnects(); }

 private:
  PostgresStore(const PostgresOptions& options, const SecretBox* secrets,
                IngestQueue* replay_target);

  // Runs `body` with a pooled connection.
  template <typename T, typename Body>
  T WithConnection(Body body) {
    absl::StatusOr<pg::Pool::Lease> lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    return body(**lease);
  }
  // Sends the change notice inside the caller's transaction.
  static absl::Status Notify(pg::Connection& conn, std::string_view integration_id);
  // Trims a log table to `retention` rows once `since` reaches retention/16 (best
  // effort: a failed trim is retried after the next insert).
  void TrimIfDue(pg::Connection& conn, std::atomic<int64_t>& since, size_t retention,
                 const char* table);
  absl::StatusOr<RevisionRecord> ReadRevision(const pg::Result& rows, int row) const;
  // One chunk of a replay (inside its transaction): locks, hands over and marks up to
  // `limit` rows with id > *after; returns how many; advances *after.
  absl::StatusOr<size_t> ReplayChunk(pg::Connection& conn, std::string_view org_id,
                                     std::string_view integration_id, std::string_view reason,
                                     std::span<const int64_t> ids, int64_t* after);

  const PostgresOptions options_;
  const SecretBox* const secrets_;
  IngestQueue* const replay_target_;
  std::function<int64_t()> clock_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<pg::PgChangeFeed> feed_;
  std::atomic<int64_t> attempts_since_trim_;
  std::atomic<int64_t> dead_letters_since_trim_;
};

}  // namespace signal_host
