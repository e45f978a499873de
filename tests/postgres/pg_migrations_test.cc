// Schema migrations against a real server: from an empty database, from version 1 to
// the latest (with the duplicates version 2 removes), hosts migrating at once, the
// refusal of a newer schema (and of an older one unless told to migrate), and the
// `signal-delivery-host migrate` command.
#include "host/store/postgres/pg_migrations.h"

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/postgres/pg_test_support.h"

namespace signal_test {
namespace {

using ::signal_host::pg::Connection;
using ::signal_host::pg::Params;
using ::testing::HasSubstr;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

// A fresh, empty database per test (no store opened on it).
class PgMigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(PostgresEnvironment::server(), nullptr);
    absl::StatusOr<std::string> url = PostgresEnvironment::server()->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(url_, "test");
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = *std::move(conn);
  }
  int Version() {
    absl::StatusOr<int> version = signal_host::pg::SchemaVersion(*conn_);
    EXPECT_TRUE(version.ok()) << version.status();
    return version.ok() ? *version : -1;
  }
  int64_t Count(const std::string& sql) {
    absl::StatusOr<signal_host::pg::Result> rows = conn_->Exec(sql);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? rows->Int(0, 0) : -1;
  }
  absl::Status OpenStore(bool migrate) {
    signal_host::SecretBox box = *signal_host::SecretBox::FromKeyText(kKey);
    signal_host::PostgresOptions options;
    options.url = url_;
    options.migrate = migrate;
    return signal_host::PostgresStore::Open(options, &box, nullptr).status();
  }
  absl::Status AddDeadLetter(const std::string& message_id, bool replayed) {
    return conn_->Run(
        "INSERT INTO dead_letters (integration_id, message_id, reason, message, last_status, "
        "attempts, created_at_ms, replayed, last_response, payload) "
        "VALUES ('tmpl_a', $1, 'rejected', '', 400, 1, 0, $2, '', '{}')",
        Params().Text(message_id).Bool(replayed));
  }

  std::string url_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(PgMigrationsTest, FromEmptyToTheLatestVersion) {
  EXPECT_EQ(Version(), 0);
  ASSERT_TRUE(signal_host::pg::Migrate(*conn_).ok());
  EXPECT_EQ(Version(), signal_host::pg::LatestSchemaVersion());
  EXPECT_EQ(signal_host::pg::LatestSchemaVersion(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations WHERE applied_at <= now()"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN "
                  "('integrations', 'revisions', 'dead_letters', 'attempts')"),
            4);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_indexes WHERE indexname IN "
                  "('dead_letters_pending_event', 'attempts_message_ids')"),
            2);
  // Again: nothing to do, nothing changes.
  ASSERT_TRUE(signal_host::pg::Migrate(*conn_).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"), 2);
  EXPECT_TRUE(OpenStore(/*migrate=*/false).ok());
}

TEST_F(PgMigrationsTest, FromVersion1DuplicateDeadLettersCollapseIntoOne) {
  ASSERT_TRUE(signal_host::pg::Migrate(*conn_, 1).ok());
  EXPECT_EQ(Version(), 1);
  // Version 1 has no uniqueness yet: an older build could write an event twice.
  ASSERT_TRUE(AddDeadLetter("m1", false).ok());
  ASSERT_TRUE(AddDeadLetter("m1", false).ok());
  ASSERT_TRUE(AddDeadLetter("m1", true).ok());  // a replayed one is history, kept
  ASSERT_TRUE(AddDeadLetter("m2", false).ok());

  // A host does not run against an older schema unless told to migrate.
  absl::Status refused = OpenStore(/*migrate=*/false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("signal-delivery-host migrate"));
  EXPECT_EQ(Version(), 1);

  ASSERT_TRUE(signal_host::pg::Migrate(*conn_).ok());
  EXPECT_EQ(Version(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM dead_letters WHERE NOT replayed AND message_id = 'm1'"), 1);
  EXPECT_EQ(Count("SELECT min(id) FROM dead_letters WHERE NOT replayed AND message_id = 'm1'"),
            1);  // the first one stays
  EXPECT_EQ(Count("SELECT count(*) FROM dead_letters"), 3);
  // And from now on the index keeps it so.
  EXPECT_EQ(AddDeadLetter("m1", false).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(OpenStore(/*migrate=*/false).ok());
}

TEST_F(PgMigrationsTest, HostsStartingTogetherApplyEachStepOnce) {
  std::vector<std::thread> hosts;
  std::vector<absl::Status> results(4);
  for (int i = 0; i < 4; ++i) {
    hosts.emplace_back([&, i] { results[i] = OpenStore(/*migrate=*/true); });
  }
  for (std::thread& host : hosts) host.join();
  for (const absl::Status& status : results) EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"), 2);
}

TEST_F(PgMigrationsTest, ANewerSchemaIsRefused) {
  ASSERT_TRUE(signal_host::pg::Migrate(*conn_).ok());
  ASSERT_TRUE(conn_->Run("INSERT INTO schema_migrations (version) VALUES (3)").ok());
  for (bool migrate : {false, true}) {
    absl::Status refused = OpenStore(migrate);
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(refused.message(), HasSubstr("newer than this build"));
  }
  EXPECT_EQ(signal_host::pg::Migrate(*conn_).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Version(), 3);
}

#ifdef SIGNAL_HOST_BINARY
struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `signal-delivery-host migrate ARGS` with extra environment ENV.
CommandResult RunMigrate(const std::string& args, const std::string& env = "") {
  CommandResult result;
  const std::string command = env + " " SIGNAL_HOST_BINARY " migrate " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) result.output += buffer;
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST_F(PgMigrationsTest, TheMigrateCommand) {
  CommandResult status = RunMigrate("--status --database-url " + url_);
  EXPECT_EQ(status.exit_code, 3) << status.output;
  EXPECT_THAT(status.output, HasSubstr("schema version 0 (this build knows 2)"));
  EXPECT_THAT(status.output, HasSubstr("signal-delivery-host migrate"));

  CommandResult migrate = RunMigrate("", "DATABASE_URL=" + url_);  // from the environment
  EXPECT_EQ(migrate.exit_code, 0) << migrate.output;
  EXPECT_THAT(migrate.output, HasSubstr("0 -> 2"));
  EXPECT_EQ(Version(), 2);
  CommandResult again = RunMigrate("--database-url " + url_);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("up to date"));
  EXPECT_EQ(RunMigrate("--status --database-url " + url_).exit_code, 0);

  ASSERT_TRUE(conn_->Run("INSERT INTO schema_migrations (version) VALUES (3)").ok());
  CommandResult newer = RunMigrate("--database-url " + url_);
  EXPECT_EQ(newer.exit_code, 1);
  EXPECT_THAT(newer.output, HasSubstr("newer than this build"));
  EXPECT_EQ(RunMigrate("--status --database-url " + url_).exit_code, 1);

  CommandResult unreachable =
      RunMigrate("--status --database-url postgresql://signal@127.0.0.1:1/x");
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.output, HasSubstr("cannot connect"));
  EXPECT_EQ(RunMigrate("", "DATABASE_URL=").exit_code, 2) << "no database named";
  EXPECT_EQ(RunMigrate("--frobnicate --database-url " + url_).exit_code, 2);
}
#else
TEST(PgMigrationsCommand, IsBuilt) {
  FAIL() << "signal-delivery-host was not built with this test";
}
#endif

}  // namespace
}  // namespace signal_test
