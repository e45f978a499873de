// Two PostgresStore instances on one database, as two hosts: what one writes the other
// reads, and its ConfigChangeFeed reports each change (install, revision, hold,
// delete) within a bounded wait; after its listening connection is killed the feed
// reconnects and asks for a full re-sync.
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/postgres/pg_test_support.h"

namespace signal_test {
namespace {

using ::signal_host::RevisionRecord;
using ::testing::Contains;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

class PostgresTwoHostsTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    other_ = OpenStore();
    ASSERT_NE(other_, nullptr);
    other_->SetListener(notices_.Listener());
  }
  void TearDown() override { other_.reset(); }

  Notices notices_;
  std::unique_ptr<signal_host::PostgresStore> other_;
};

TEST_F(PostgresTwoHostsTest, AnInstallOnOneHostIsSeenAndAnnouncedOnTheOther) {
  const auto before = std::chrono::steady_clock::now();
  std::string id = Install("Hightouch");
  ASSERT_TRUE(notices_.WaitFor(id));
  const auto latency = std::chrono::steady_clock::now() - before;
  EXPECT_LT(latency, std::chrono::seconds(2));
  // The notice comes after the commit: the other host can read what it announces.
  absl::StatusOr<signal_host::IntegrationRecord> seen = other_->GetIntegration("org_default", id);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->name, "Hightouch");
  EXPECT_EQ(other_->GetRevision(id, 1)->config_json.find(kSecretValue) != std::string::npos, true);
}

TEST_F(PostgresTwoHostsTest, RevisionsHoldsAndDeletesAreAnnounced) {
  std::string id = Install("Hightouch");
  ASSERT_TRUE(notices_.WaitFor(id));

  notices_.Clear();
  ASSERT_TRUE(store_->SetStatus(id, "held", "401").ok());
  ASSERT_TRUE(notices_.WaitFor(id));
  EXPECT_EQ(other_->GetIntegration("org_default", id)->status, "held");

  notices_.Clear();
  RevisionRecord revision;
  revision.integration_id = id;
  revision.config_json = "{}";
  ASSERT_TRUE(store_->AddRevision(revision).ok());
  ASSERT_TRUE(notices_.WaitFor(id));
  EXPECT_EQ(other_->GetIntegration("org_default", id)->status, "active");
  EXPECT_EQ(other_->GetIntegration("org_default", id)->current_revision, 2);

  notices_.Clear();
  ASSERT_TRUE(store_->DeleteIntegration("org_default", id).ok());
  ASSERT_TRUE(notices_.WaitFor(id));
  EXPECT_EQ(other_->GetIntegration("org_default", id).status().code(), absl::StatusCode::kNotFound);

  // A failed write announces nothing.
  notices_.Clear();
  EXPECT_EQ(store_->SetStatus("tmpl_missing", "held", "").code(), absl::StatusCode::kNotFound);
  std::string marker = Install("Marker");  // a later change, to know the feed caught up
  ASSERT_TRUE(notices_.WaitFor(marker));
  EXPECT_THAT(notices_.Seen(), testing::Not(Contains("tmpl_missing")));
}

TEST_F(PostgresTwoHostsTest, TheFeedResyncsAfterItsConnectionIsKilled) {
  auto raw = Raw();
  absl::StatusOr<signal_host::pg::Result> killed = raw->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name = $1 AND datname = current_database()",
      signal_host::pg::Params().Text(signal_host::pg::kFeedApplicationName));
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(killed->Int(0, 0), 2);  // both hosts' feeds
  // The feed comes back on its own and asks for everything once.
  ASSERT_TRUE(notices_.WaitFor(""));
  EXPECT_EQ(other_->feed_reconnects(), 1);
  // And listens again: a later change is announced.
  std::string id = Install("After");
  ASSERT_TRUE(notices_.WaitFor(id));
}

TEST_F(PostgresTwoHostsTest, AnEmptyListenerStopsTheCalls) {
  other_->SetListener(nullptr);
  std::string id = Install("Quiet");
  Notices mine;
  store_->SetListener(mine.Listener());  // this host's own feed hears its own writes
  std::string second = Install("Loud");
  ASSERT_TRUE(mine.WaitFor(second));
  EXPECT_TRUE(notices_.Seen().empty());
  store_->SetListener(nullptr);
}

}  // namespace
}  // namespace signal_test
