// signal-db: the PostgreSQL schema of the delivery host's shared state.
//
//   signal-db migrate [--database-url URL]   apply pending migrations
//   signal-db status  [--database-url URL]   show the database's and this build's version
//
// The URL defaults to $DATABASE_URL. Exit codes: 0 done / up to date; 1 error (cannot
// connect, a migration failed, the database is newer than this build); 2 usage;
// 3 (status only) migrations pending.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "host/store/postgres/pg_connection.h"
#include "host/store/postgres/pg_migrations.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitPending = 3;

constexpr char kUsage[] =
    "usage: signal-db migrate [--database-url URL]\n"
    "       signal-db status  [--database-url URL]\n"
    "The URL defaults to $DATABASE_URL (postgresql://user:password@host:port/db).\n"
    "Exit: 0 ok, 1 error, 2 usage, 3 (status) migrations pending.\n";

int Usage(const char* problem) {
  if (problem != nullptr) std::fprintf(stderr, "signal-db: %s\n", problem);
  std::fputs(kUsage, stderr);
  return kExitUsage;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "signal-db: %s\n", std::string(status.message()).c_str());
  return kExitError;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage("no command");
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command != "migrate" && command != "status") return Usage("unknown command");
  const char* env_url = std::getenv("DATABASE_URL");
  std::string url = env_url != nullptr ? env_url : "";
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--database-url" && i + 1 < argc) {
      url = argv[++i];
    } else if (arg.substr(0, 15) == "--database-url=") {
      url = std::string(arg.substr(15));
    } else {
      return Usage("unknown or incomplete option");
    }
  }
  if (url.empty()) return Usage("no database: pass --database-url or set DATABASE_URL");

  absl::StatusOr<std::unique_ptr<signal_host::pg::Connection>> conn =
      signal_host::pg::Connection::Open(url, "signal-db");
  if (!conn.ok()) return Fail(conn.status());
  const int known = signal_host::pg::LatestSchemaVersion();
  absl::StatusOr<int> before = signal_host::pg::SchemaVersion(**conn);
  if (!before.ok()) return Fail(before.status());

  if (command == "status") {
    std::printf("schema version %d (this build knows %d)\n", *before, known);
    if (*before > known) {
      std::fprintf(stderr, "signal-db: the database is newer than this build: upgrade it\n");
      return kExitError;
    }
    if (*before < known) {
      std::printf("%d migration(s) pending: run `signal-db migrate`\n", known - *before);
      return kExitPending;
    }
    return kExitOk;
  }
  if (absl::Status migrated = signal_host::pg::Migrate(**conn); !migrated.ok()) {
    return Fail(migrated);
  }
  absl::StatusOr<int> after = signal_host::pg::SchemaVersion(**conn);
  if (!after.ok()) return Fail(after.status());
  if (*after == *before) {
    std::printf("schema version %d: up to date\n", *after);
  } else {
    std::printf("schema version %d -> %d: migrated\n", *before, *after);
  }
  return kExitOk;
}
