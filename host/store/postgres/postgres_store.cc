// The PostgreSQL store's life: opening (pool, schema, change feed), change notices
// and retention trimming.
#include "host/store/postgres/postgres_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "host/store/postgres/pg_migrations.h"

namespace signal_host {
namespace {

int64_t SystemClockMs() { return absl::ToUnixMillis(absl::Now()); }

int64_t TrimStep(size_t retention) { return std::max<int64_t>(1, retention / 16); }

}  // namespace

PostgresStore::PostgresStore(const PostgresOptions& options, const SecretBox* secrets,
                             IngestQueue* replay_target)
    : options_(options),
      secrets_(secrets),
      replay_target_(replay_target),
      clock_(options.clock_ms ? options.clock_ms : SystemClockMs),
      // The first insert after opening trims: rows may have piled up meanwhile.
      attempts_since_trim_(TrimStep(options.attempt_retention)),
      dead_letters_since_trim_(TrimStep(options.dead_letter_retention)) {}

PostgresStore::~PostgresStore() {
  feed_.reset();  // stops the listening thread before the pool goes
  pool_.reset();
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const PostgresOptions& options,
                                                                   const SecretBox* secrets,
                                                                   IngestQueue* replay_target) {
  if (secrets == nullptr) return absl::InvalidArgumentError("the store needs a SecretBox");
  if (options.url.empty()) {
    return absl::InvalidArgumentError("no database URL (set DATABASE_URL)");
  }
  if (options.attempt_retention == 0 || options.dead_letter_retention == 0) {
    return absl::InvalidArgumentError("retention limits must be at least 1");
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(options, secrets, replay_target));
  pg::PoolOptions pool_options;
  pool_options.url = options.url;
  pool_options.size = options.pool_size;
  pool_options.acquire_timeout = options.acquire_timeout;
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open(pool_options);
  if (!pool.ok()) return pool.status();
  store->pool_ = *std::move(pool);
  absl::Status schema = store->WithConnection<absl::Status>(
      [&](pg::Connection& conn) { return pg::PrepareSchema(conn, options.migrate); });
  if (!schema.ok()) return schema;
  absl::StatusOr<std::unique_ptr<pg::PgChangeFeed>> feed = pg::PgChangeFeed::Start(options.url);
  if (!feed.ok()) return feed.status();
  store->feed_ = *std::move(feed);
  return store;
}

absl::Status PostgresStore::Notify(pg::Connection& conn, std::string_view integration_id) {
  return conn.Run("SELECT pg_notify($1, $2)",
                  pg::Params().Text(pg::kConfigChangesChannel).Text(integration_id));
}

void PostgresStore::TrimIfDue(pg::Connection& conn, std::atomic<int64_t>& since, size_t retention,
                              const char* table) {
  if (since.fetch_add(1) + 1 < TrimStep(retention)) return;
  since = 0;
  // Everything older than the retention-th newest row goes.
  absl::Status trimmed =
      conn.Run(absl::StrCat("DELETE FROM ", table, " WHERE id <= (SELECT id FROM ", table,
                            " ORDER BY id DESC LIMIT 1 OFFSET $1)"),
               pg::Params().Int(static_cast<int64_t>(retention)));
  if (!trimmed.ok()) {
    since = TrimStep(retention);  // try again after the next insert
    std::fprintf(stderr, "postgres store: trimming %s failed: %s\n", table,
                 std::string(trimmed.message()).c_str());
  }
}

absl::Status PostgresStore::Ping() {
  return WithConnection<absl::Status>([](pg::Connection& conn) { return conn.Run("SELECT 1"); });
}

}  // namespace signal_host
