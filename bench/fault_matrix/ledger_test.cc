// The fault matrix's per-id accounting: lost, duplicates (host versus client retries),
// dead letters and foreign ids are told apart exactly.
#include "ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "batch_bodies.h"

namespace fault_matrix {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

constexpr uint32_t kNonce = 0x1234abcd;

TEST(MessageIds, SequenceRoundTripsAndOtherIdsAreForeign) {
  const std::string head = bench_harness::IdHead(kNonce);
  EXPECT_EQ(bench_harness::MessageId(kNonce, 0x2a), "1234abcd-0000-4000-8000-00000000002a");
  EXPECT_EQ(bench_harness::SequenceOf(bench_harness::MessageId(kNonce, 987654321), head),
            987654321u);
  EXPECT_EQ(bench_harness::SequenceOf(bench_harness::MessageId(kNonce + 1, 5), head), std::nullopt);
  EXPECT_EQ(bench_harness::SequenceOf("1234abcd-0000-4000-8000-00000000002A", head), std::nullopt);
  EXPECT_EQ(bench_harness::SequenceOf("1234abcd-0000-4000-8000-2a", head), std::nullopt);
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TMPDIR");
    log_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/ledger_test." +
           std::to_string(getpid()) + ".log";
  }
  void TearDown() override { std::remove(log_.c_str()); }

  void WriteLog(const std::vector<uint64_t>& sequences, const std::string& extra_line = "") {
    std::ofstream out(log_);
    for (uint64_t sequence : sequences) out << bench_harness::MessageId(kNonce, sequence) << "\n";
    if (!extra_line.empty()) out << extra_line << "\n";
  }

  std::string log_;
};

TEST_F(LedgerTest, ClassifiesEveryId) {
  Ledger ledger(12, bench_harness::IdHead(kNonce));
  ledger.MarkSent(0, 10);
  ledger.MarkAccepted(0, 8);
  ledger.MarkUnconfirmed(8, 2);  // no answer; 8 is posted again and accepted, 9 never
  ledger.MarkAccepted(8, 1);
  WriteLog({0, 1, 1, 2, 2, 2, 4, 8, 8, 9, 11}, "someone-else's-id");
  ASSERT_TRUE(ledger.AddDeliveriesFromLog(log_).ok());
  ledger.AddDeadLetter(bench_harness::MessageId(kNonce, 3), "http_400");
  ledger.AddDeadLetter(bench_harness::MessageId(kNonce, 4), "http_400");
  ledger.AddDeadLetter(bench_harness::MessageId(kNonce + 7, 3), "http_400");

  const LedgerSummary s = ledger.Summarize();
  EXPECT_EQ(s.accepted, 9u);
  EXPECT_EQ(s.delivered, 5u);  // 0, 1, 2, 4, 8
  EXPECT_EQ(s.dead_lettered, 2u);
  EXPECT_THAT(s.dead_letters_by_reason, ElementsAre(Pair("http_400", 2u)));
  EXPECT_EQ(s.lost, 3u);
  EXPECT_THAT(s.lost_examples, ElementsAre(5u, 6u, 7u));
  EXPECT_EQ(s.host_duplicates, 3u);          // 1 twice, 2 three times
  EXPECT_EQ(s.client_retry_duplicates, 1u);  // 8, posted again after no answer
  EXPECT_EQ(s.max_deliveries_of_an_id, 3u);
  EXPECT_EQ(s.delivered_unconfirmed, 1u);  // 9
  EXPECT_EQ(s.delivered_never_sent, 1u);   // 11
  EXPECT_EQ(s.dead_lettered_and_delivered, 1u);  // 4
  EXPECT_EQ(s.foreign_ids, 2u);
}

TEST_F(LedgerTest, EverythingDeliveredOnceIsClean) {
  Ledger ledger(1000, bench_harness::IdHead(kNonce));
  ledger.MarkSent(0, 1000);
  ledger.MarkAccepted(0, 1000);
  std::vector<uint64_t> all;
  for (uint64_t i = 0; i < 1000; ++i) all.push_back(999 - i);
  WriteLog(all);
  ASSERT_TRUE(ledger.AddDeliveriesFromLog(log_).ok());
  const LedgerSummary s = ledger.Summarize();
  EXPECT_EQ(s.accepted, 1000u);
  EXPECT_EQ(s.delivered, 1000u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.host_duplicates + s.client_retry_duplicates, 0u);
  EXPECT_EQ(s.max_deliveries_of_an_id, 1u);
}

TEST_F(LedgerTest, AMissingLogMeansNothingDeliveredAndAnUnreadableOneIsAnError) {
  Ledger ledger(3, bench_harness::IdHead(kNonce));
  ledger.MarkSent(0, 3);
  ledger.MarkAccepted(0, 3);
  ASSERT_TRUE(ledger.AddDeliveriesFromLog(log_ + ".absent").ok());
  EXPECT_EQ(ledger.Summarize().lost, 3u);
  EXPECT_FALSE(ledger.AddDeliveriesFromLog("/proc/self/mem/none").ok());
}

}  // namespace
}  // namespace fault_matrix
