// PostgresStore as AttemptLog against a real server: records round-trip, filters
// (a message id matches whole elements only), newest first, cursors, retention.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/postgres/pg_test_support.h"

namespace signal_test {
namespace {

using ::signal_host::AttemptRecord;
using ::signal_host::Page;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

AttemptRecord Attempt(const std::string& integration_id, std::vector<std::string> message_ids,
                      const std::string& outcome) {
  AttemptRecord attempt;
  attempt.integration_id = integration_id;
  attempt.message_ids = std::move(message_ids);
  attempt.event_types = "track,page";
  attempt.attempt = 2;
  attempt.http_status = 503;
  attempt.latency_ms = 87;
  attempt.outcome = outcome;
  attempt.request = "POST https://us-east-1.hightouch-events.com/v1/batch";
  attempt.response = "upstream \xe2\x9c unavailable";  // cut mid-character: not UTF-8
  attempt.message = "Hightouch is unavailable; retrying";
  return attempt;
}

class PostgresAttemptLogTest : public PgStoreTest {
 protected:
  std::vector<int64_t> Ids(std::string_view integration, std::string_view message,
                           std::string_view outcome) {
    std::vector<int64_t> out;
    absl::StatusOr<signal_host::PageResult<AttemptRecord>> page =
        store_->ListAttempts(integration, message, outcome, Page{.cursor = "", .limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const AttemptRecord& a : page->items) out.push_back(a.id);
    }
    return out;
  }
};

TEST_F(PostgresAttemptLogTest, AttemptsAreRecordedAndFiltered) {
  AttemptRecord first = Attempt("tmpl_a", {"m1", "m2", ","}, "transient");
  ASSERT_TRUE(store_->RecordAttempt(first).ok());
  EXPECT_GT(first.id, 0);
  EXPECT_EQ(first.created_at_ms, kStart);
  AttemptRecord second = Attempt("tmpl_a", {"m22", "quote\"d"}, "delivered");
  ASSERT_TRUE(store_->RecordAttempt(second).ok());
  AttemptRecord third = Attempt("tmpl_b", {"m1"}, "delivered");
  ASSERT_TRUE(store_->RecordAttempt(third).ok());

  EXPECT_THAT(Ids("", "", ""), ElementsAre(third.id, second.id, first.id));
  EXPECT_THAT(Ids("tmpl_a", "", ""), ElementsAre(second.id, first.id));
  EXPECT_THAT(Ids("", "", "delivered"), ElementsAre(third.id, second.id));
  EXPECT_THAT(Ids("", "m1", ""), ElementsAre(third.id, first.id));
  EXPECT_THAT(Ids("", "m2", ""), ElementsAre(first.id));  // not a prefix match on m22
  EXPECT_THAT(Ids("", "m", ""), IsEmpty());
  EXPECT_THAT(Ids("", ",", ""), ElementsAre(first.id));
  EXPECT_THAT(Ids("", "quote\"d", ""), ElementsAre(second.id));
  EXPECT_THAT(Ids("tmpl_b", "m2", ""), IsEmpty());

  AttemptRecord stored = store_->ListAttempts("tmpl_a", "m1", "", Page{})->items.at(0);
  EXPECT_THAT(stored.message_ids, ElementsAre("m1", "m2", ","));
  EXPECT_EQ(stored.event_types, "track,page");
  EXPECT_EQ(stored.attempt, 2u);
  EXPECT_EQ(stored.http_status, 503);
  EXPECT_EQ(stored.latency_ms, 87);
  EXPECT_EQ(stored.outcome, "transient");
  EXPECT_EQ(stored.request, first.request);
  EXPECT_EQ(stored.response, first.response);  // bytes kept as they were
  EXPECT_EQ(stored.message, first.message);

  AttemptRecord nameless = Attempt("", {}, "delivered");
  EXPECT_EQ(store_->RecordAttempt(nameless).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresAttemptLogTest, PagesWalkNewestFirstWithoutRepeats) {
  std::vector<int64_t> recorded;
  for (int i = 0; i < 5; ++i) {
    AttemptRecord a = Attempt("tmpl_a", {"m"}, "delivered");
    ASSERT_TRUE(store_->RecordAttempt(a).ok());
    recorded.insert(recorded.begin(), a.id);
  }
  std::vector<int64_t> seen;
  Page page{.cursor = "", .limit = 2};
  int pages = 0;
  for (;; ++pages) {
    absl::StatusOr<signal_host::PageResult<AttemptRecord>> result =
        store_->ListAttempts("", "m", "", page);
    ASSERT_TRUE(result.ok()) << result.status();
    for (const AttemptRecord& a : result->items) seen.push_back(a.id);
    if (result->next_cursor.empty()) break;
    page.cursor = result->next_cursor;
  }
  EXPECT_EQ(seen, recorded);
  EXPECT_EQ(pages, 2);
}

TEST_F(PostgresAttemptLogTest, RetentionDropsTheOldestAndHoldsAcrossAReopen) {
  attempt_retention_ = 64;
  store_ = OpenStore();
  std::vector<int64_t> recorded;
  for (int i = 0; i < 300; ++i) {
    AttemptRecord attempt = Attempt("tmpl_a", {"m" + std::to_string(i)}, "delivered");
    ASSERT_TRUE(store_->RecordAttempt(attempt).ok());
    recorded.push_back(attempt.id);
  }
  std::vector<int64_t> kept = Ids("", "", "");
  EXPECT_GE(kept.size(), 64u);
  EXPECT_LE(kept.size(), 64u + 64u / 16);
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i], recorded[299 - i]);
  store_ = OpenStore();
  for (int i = 0; i < 100; ++i) {
    AttemptRecord attempt = Attempt("tmpl_a", {"n"}, "delivered");
    ASSERT_TRUE(store_->RecordAttempt(attempt).ok());
  }
  EXPECT_LE(Ids("", "", "").size(), 64u + 4u);
}

}  // namespace
}  // namespace signal_test
