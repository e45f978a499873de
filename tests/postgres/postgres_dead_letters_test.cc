// PostgresStore as DeadLetterSink and DeadLetterStore against a real server: one dead
// letter per event among those not replayed, even when two hosts write it at once;
// replay hands events to the IngestQueue and marks them only once it accepted them;
// retention keeps the newest.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/postgres/pg_test_support.h"

namespace signal_test {
namespace {

using ::signal_host::DeadLetter;
using ::signal_host::Page;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

DeadLetter Letter(const std::string& integration_id, const std::string& message_id,
                  const std::string& reason = "rejected") {
  DeadLetter letter;
  letter.integration_id = integration_id;
  letter.message_id = message_id;
  letter.payload = R"({"type":"track","messageId":")" + message_id + R"("})";
  letter.reason = reason;
  letter.message = "Hightouch refused the event";
  letter.last_status = 400;
  letter.last_response = std::string("bad\0\xff request", 14);  // any bytes
  letter.attempts = 3;
  return letter;
}

class PostgresDeadLettersTest : public PgStoreTest {
 protected:
  std::vector<DeadLetter> ListAll(std::string_view integration = "", std::string_view reason = "") {
    absl::StatusOr<signal_host::PageResult<DeadLetter>> page =
        store_->ListDeadLetters(integration, reason, Page{.cursor = "", .limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->items : std::vector<DeadLetter>{};
  }
  int64_t Rows(const std::string& where) {
    auto raw = Raw();
    absl::StatusOr<signal_host::pg::Result> rows =
        raw->Exec("SELECT count(*) FROM dead_letters WHERE " + where);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? rows->Int(0, 0) : -1;
  }
};

TEST_F(PostgresDeadLettersTest, StoredOncePerEventAndListedNewestFirst) {
  std::string id = Install("Hightouch");
  std::vector<DeadLetter> letters = {Letter(id, "m1"), Letter(id, "m2"), Letter(id, "m1")};
  ASSERT_TRUE(store_->AddDeadLetters(letters).ok());
  // The same event again (a host died before its offset commit): nothing new.
  std::vector<DeadLetter> again = {Letter(id, "m2", "other")};
  ASSERT_TRUE(store_->AddDeadLetters(again).ok());

  std::vector<DeadLetter> listed = ListAll();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].message_id, "m2");  // newest first
  EXPECT_EQ(listed[1].message_id, "m1");
  EXPECT_GT(listed[0].id, listed[1].id);
  EXPECT_EQ(listed[0].reason, "rejected");  // the first write stays
  EXPECT_EQ(listed[1].last_response, std::string("bad\0\xff request", 14));
  EXPECT_EQ(listed[1].payload, letters[0].payload);
  EXPECT_EQ(listed[1].attempts, 3u);
  EXPECT_EQ(listed[1].last_status, 400);
  EXPECT_EQ(listed[1].created_at_ms, kStart);
  EXPECT_FALSE(listed[1].replayed);
  EXPECT_THAT(ListAll(id, "rejected"), testing::SizeIs(2));
  EXPECT_THAT(ListAll(id, "nope"), testing::IsEmpty());
  EXPECT_THAT(ListAll("tmpl_other"), testing::IsEmpty());

  std::vector<DeadLetter> bad = {Letter(id, "")};
  EXPECT_EQ(store_->AddDeadLetters(bad).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresDeadLettersTest, TwoHostsWritingTheSameEventsMakeOneRowEach) {
  std::string id = Install("Hightouch");
  std::unique_ptr<signal_host::PostgresStore> other = OpenStore();
  std::vector<DeadLetter> forward, backward;
  for (int i = 0; i < 200; ++i) forward.push_back(Letter(id, "m" + std::to_string(i)));
  backward.assign(forward.rbegin(), forward.rend());  // opposite order: no deadlock either
  for (int round = 0; round < 3; ++round) {
    absl::Status a, b;
    std::thread first([&] { a = store_->AddDeadLetters(forward); });
    std::thread second([&] { b = other->AddDeadLetters(backward); });
    first.join();
    second.join();
    ASSERT_TRUE(a.ok()) << a;
    ASSERT_TRUE(b.ok()) << b;
  }
  EXPECT_EQ(Rows("true"), 200);
  EXPECT_EQ(Rows("message_id = 'm7'"), 1);
}

TEST_F(PostgresDeadLettersTest, ReplayHandsEventsOverAndMarksThemReplayed) {
  std::string id = Install("Hightouch");
  std::vector<DeadLetter> letters = {Letter(id, "m1"), Letter(id, "m2", "translate_failed"),
                                     Letter(id, "m3")};
  ASSERT_TRUE(store_->AddDeadLetters(letters).ok());

  // A queue that refuses leaves every dead letter unreplayed.
  queue_.fail = true;
  absl::StatusOr<size_t> refused = store_->ReplayDeadLetters("org_default", id, "", {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("broker down"));
  EXPECT_EQ(Rows("replayed"), 0);
  queue_.fail = false;

  // By reason first, then by id, then everything left.
  absl::StatusOr<size_t> by_reason =
      store_->ReplayDeadLetters("org_default", id, "translate_failed", {});
  ASSERT_TRUE(by_reason.ok()) << by_reason.status();
  EXPECT_EQ(*by_reason, 1u);
  std::vector<DeadLetter> listed = ListAll();
  int64_t m1_id = listed[2].id;
  std::vector<int64_t> ids = {m1_id, 999999};
  EXPECT_EQ(*store_->ReplayDeadLetters("", "", "", ids), 1u);
  EXPECT_EQ(*store_->ReplayDeadLetters("org_default", "", "", {}), 1u);  // m3
  EXPECT_EQ(*store_->ReplayDeadLetters("org_default", "", "", {}), 0u);  // nothing left

  std::vector<std::string> replayed;
  for (const RecordingQueue::Item& item : queue_.Items()) {
    EXPECT_EQ(item.integration_id, id);
    replayed.push_back(item.message_id);
  }
  EXPECT_THAT(replayed, ElementsAre("m2", "m1", "m3"));
  EXPECT_EQ(queue_.Items()[0].payload, letters[1].payload);
  EXPECT_EQ(Rows("replayed"), 3);
  for (const DeadLetter& d : ListAll()) EXPECT_TRUE(d.replayed) << d.message_id;

  // Once replayed, the same event may die again and gets a new dead letter.
  std::vector<DeadLetter> again = {Letter(id, "m1")};
  ASSERT_TRUE(store_->AddDeadLetters(again).ok());
  EXPECT_EQ(Rows("message_id = 'm1'"), 2);
}

TEST_F(PostgresDeadLettersTest, ReplaySkipsOtherOrgsAndDeletedIntegrations) {
  std::string mine = Install("Mine");
  std::string theirs = Install("Theirs", "org_other");
  std::string gone = Install("Gone");
  std::vector<DeadLetter> letters = {Letter(mine, "a"), Letter(theirs, "b"), Letter(gone, "c")};
  ASSERT_TRUE(store_->AddDeadLetters(letters).ok());
  ASSERT_TRUE(store_->DeleteIntegration("org_default", gone).ok());
  EXPECT_EQ(*store_->ReplayDeadLetters("org_default", "", "", {}), 1u);
  ASSERT_EQ(queue_.Items().size(), 1u);
  EXPECT_EQ(queue_.Items()[0].message_id, "a");
  EXPECT_EQ(Rows("NOT replayed"), 2);
}

TEST_F(PostgresDeadLettersTest, ConcurrentReplaysFromTwoHostsSendEachEventOnce) {
  std::string id = Install("Hightouch");
  std::vector<DeadLetter> letters;
  for (int i = 0; i < 1200; ++i) letters.push_back(Letter(id, "m" + std::to_string(i)));
  ASSERT_TRUE(store_->AddDeadLetters(letters).ok());
  std::unique_ptr<signal_host::PostgresStore> other = OpenStore();
  absl::StatusOr<size_t> a, b;
  std::thread first([&] { a = store_->ReplayDeadLetters("", "", "", {}); });
  std::thread second([&] { b = other->ReplayDeadLetters("", "", "", {}); });
  first.join();
  second.join();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a + *b, 1200u);
  std::vector<RecordingQueue::Item> items = queue_.Items();
  std::set<std::string> distinct;
  for (const RecordingQueue::Item& item : items) distinct.insert(item.message_id);
  EXPECT_EQ(items.size(), 1200u);
  EXPECT_EQ(distinct.size(), 1200u);
}

TEST_F(PostgresDeadLettersTest, RetentionKeepsTheNewest) {
  dead_letter_retention_ = 32;
  store_ = OpenStore();
  std::string id = Install("Hightouch");
  for (int i = 0; i < 100; ++i) {
    std::vector<DeadLetter> one = {Letter(id, "m" + std::to_string(i))};
    ASSERT_TRUE(store_->AddDeadLetters(one).ok());
  }
  std::vector<DeadLetter> kept = ListAll();
  EXPECT_GE(kept.size(), 32u);
  EXPECT_LE(kept.size(), 32u + 32u / 16);
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].message_id, "m" + std::to_string(99 - i));
  }
}

}  // namespace
}  // namespace signal_test
