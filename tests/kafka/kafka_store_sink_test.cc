// The SQLite store as the Kafka queue's dead-letter sink and status store: a dead
// letter is unique per (integration, messageId) among those not replayed, and is
// durable and listable; the status is written through the narrow interface.
#include <gtest/gtest.h>

#include "kafka_test_support.h"

namespace signal_host::kafka::kafka_test {
namespace {

class StoreSinkTest : public KafkaFixture {
 protected:
  DeadLetter Letter(const std::string& integration_id, const std::string& message_id) {
    DeadLetter letter;
    letter.integration_id = integration_id;
    letter.message_id = message_id;
    letter.payload = Event(message_id, "u");
    letter.reason = "reject";
    letter.message = "bad event";
    letter.last_status = 400;
    letter.last_response = R"({"error":"bad"})";
    letter.attempts = 2;
    return letter;
  }
  std::vector<DeadLetter> List(const std::string& integration_id) {
    Page page;
    page.limit = 100;
    auto listed = store_->ListDeadLetters(integration_id, "", page);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? listed->items : std::vector<DeadLetter>{};
  }
};

TEST_F(StoreSinkTest, AddsListableDeadLettersOncePerMessageId) {
  const std::string id = Install("Sink");
  DeadLetterSink& sink = *store_;
  std::vector<DeadLetter> letters = {Letter(id, "a"), Letter(id, "b"), Letter(id, "a")};
  ASSERT_TRUE(sink.AddDeadLetters(letters).ok());
  // The same events again (a re-read after a crash): nothing new.
  ASSERT_TRUE(sink.AddDeadLetters(std::vector<DeadLetter>{Letter(id, "b")}).ok());
  std::vector<DeadLetter> listed = List(id);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].message_id, "b");  // newest first
  EXPECT_EQ(listed[1].message_id, "a");
  EXPECT_EQ(listed[1].reason, "reject");
  EXPECT_EQ(listed[1].last_status, 400);
  EXPECT_EQ(listed[1].attempts, 2u);
  EXPECT_EQ(listed[1].payload, Event("a", "u"));
  EXPECT_GT(listed[1].created_at_ms, 0);
  // Another integration's letter with the same messageId is its own.
  const std::string other = Install("Other");
  ASSERT_TRUE(sink.AddDeadLetters(std::vector<DeadLetter>{Letter(other, "a")}).ok());
  EXPECT_EQ(List(other).size(), 1u);
  EXPECT_EQ(List(id).size(), 2u);
}

TEST_F(StoreSinkTest, AReplayedLetterMayComeBackAsANewOne) {
  const std::string id = Install("Replay");
  ASSERT_TRUE(store_->AddDeadLetters(std::vector<DeadLetter>{Letter(id, "a")}).ok());
  auto replayed = store_->ReplayDeadLetters("", id, "", {});
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(*replayed, 1u);
  ASSERT_TRUE(store_->AddDeadLetters(std::vector<DeadLetter>{Letter(id, "a")}).ok());
  std::vector<DeadLetter> listed = List(id);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_FALSE(listed[0].replayed);
  EXPECT_TRUE(listed[1].replayed);
}

TEST_F(StoreSinkTest, WritesTheStatusThroughTheNarrowInterface) {
  const std::string id = Install("Status");
  IntegrationStatusStore& statuses = *store_;
  ASSERT_TRUE(statuses.SetStatus(id, "held", "write key revoked").ok());
  auto record = store_->GetIntegration("org_default", id);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->status, "held");
  EXPECT_EQ(record->status_reason, "write key revoked");
  EXPECT_EQ(statuses.SetStatus("tmpl_unknown", "held", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(statuses.SetStatus(id, "sleeping", "x").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace signal_host::kafka::kafka_test
