// Translate: how accepted events are packed into requests (count and byte limits).

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "translate.h"
#include "translate_test_util.h"

namespace signal_hightouch {
namespace {

using ::signal_hightouch::testing::EventBatch;
using ::signal_hightouch::testing::kFixedSentAt;
using ::signal_hightouch::testing::StrictJsonError;
using ::signal_hightouch::testing::TestConfig;
using ::testing::ElementsAre;

constexpr size_t kEnvelopeBytes = 48;  // {"batch":[ + ],"sentAt":"<24>"}

// A track event with a fixed-width id and `pad` bytes of property text, so records of
// equal pad have equal size.
std::string PaddedEvent(int id, size_t pad) {
  char message_id[16];
  std::snprintf(message_id, sizeof(message_id), "m-%06d", id);
  return std::string(R"({"type":"track","messageId":")") + message_id +
         R"(","anonymousId":"a","event":"E","properties":{"pad":")" + std::string(pad, 'x') +
         R"("},"timestamp":"2026-02-25T14:30:00.000Z"})";
}

// Size of the record PaddedEvent(id, pad) becomes.
size_t RecordSize(size_t pad) {
  Translator translator;
  EventBatch batch;
  batch.events = {PaddedEvent(0, pad)};
  batch.Translate(translator, TestConfig());
  EXPECT_EQ(batch.out.request_count, 1u);
  return batch.out.requests[0].body.size() - kEnvelopeBytes;
}

// Checks what holds for every output: each index exactly once, in order; limits kept;
// bodies well-formed with the message id ranges on the ids.
void ExpectWellFormed(const EventBatch& batch, size_t batch_size) {
  std::vector<int> seen(batch.events.size(), 0);
  uint32_t last_index = 0;
  bool first = true;
  for (size_t r = 0; r < batch.out.request_count; ++r) {
    const TranslatedRequest& request = batch.out.requests[r];
    SCOPED_TRACE("request " + std::to_string(r));
    EXPECT_LT(request.body.size(), kMaxRequestBytes);
    EXPECT_LE(request.event_indexes.size(), std::min<size_t>(batch_size, kMaxBatchSize));
    EXPECT_FALSE(request.event_indexes.empty());
    EXPECT_EQ(request.event_indexes.size(), request.message_id_ranges.size());
    EXPECT_EQ(request.url, "https://us-east-1.hightouch-events.com/v1/batch");
    EXPECT_TRUE(request.body.ends_with(R"(],"sentAt":")" + std::string(kFixedSentAt) + "\"}"));
    EXPECT_EQ(StrictJsonError(request.body), "");
    for (size_t i = 0; i < request.event_indexes.size(); ++i) {
      const uint32_t index = request.event_indexes[i];
      ASSERT_LT(index, seen.size());
      ++seen[index];
      if (!first) {
        EXPECT_GT(index, last_index);
      }
      first = false;
      last_index = index;
      const std::string& event = batch.events[index];
      const size_t at = event.find(R"("messageId":")");
      if (at != std::string::npos) {
        EXPECT_EQ(request.message_id(i), event.substr(at + 13, 8));
      }
    }
  }
  for (size_t i = 0; i < batch.out.rejection_count; ++i) {
    ASSERT_LT(batch.out.rejections[i].event_index, seen.size());
    ++seen[batch.out.rejections[i].event_index];
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "event " << i;
}

std::vector<size_t> RequestSizes(const TranslateOutput& out) {
  std::vector<size_t> sizes;
  for (size_t r = 0; r < out.request_count; ++r) {
    sizes.push_back(out.requests[r].event_indexes.size());
  }
  return sizes;
}

TEST(TranslateBatchingTest, BatchSizeOneGivesOneRequestPerEvent) {
  HightouchConfig config = TestConfig();
  config.batch_size = 1;
  Translator translator;
  EventBatch batch;
  for (int i = 0; i < 5; ++i) batch.events.push_back(PaddedEvent(i, 10));
  batch.Translate(translator, config);
  ASSERT_EQ(batch.out.request_count, 5u);
  for (size_t r = 0; r < 5; ++r) {
    EXPECT_THAT(batch.out.requests[r].event_indexes, ElementsAre(r));
  }
  ExpectWellFormed(batch, 1);
}

TEST(TranslateBatchingTest, BatchSizeFillsRequestsInOrder) {
  HightouchConfig config = TestConfig();
  config.batch_size = 3;
  Translator translator;
  EventBatch batch;
  for (int i = 0; i < 7; ++i) batch.events.push_back(PaddedEvent(i, 10));
  batch.Translate(translator, config);
  EXPECT_THAT(RequestSizes(batch.out), ElementsAre(3u, 3u, 1u));
  EXPECT_THAT(batch.out.requests[1].event_indexes, ElementsAre(3u, 4u, 5u));
  ExpectWellFormed(batch, 3);
}

TEST(TranslateBatchingTest, BatchSizeIsCappedAt500) {
  HightouchConfig config = TestConfig();
  config.batch_size = 100000;
  Translator translator;
  EventBatch batch;
  for (int i = 0; i < 1201; ++i) batch.events.push_back(PaddedEvent(i, 10));
  batch.Translate(translator, config);
  EXPECT_THAT(RequestSizes(batch.out), ElementsAre(500u, 500u, 201u));
  ExpectWellFormed(batch, kMaxBatchSize);
}

TEST(TranslateBatchingTest, BatchSizeZeroIsTreatedAsOne) {
  HightouchConfig config = TestConfig();
  config.batch_size = 0;
  Translator translator;
  EventBatch batch;
  for (int i = 0; i < 3; ++i) batch.events.push_back(PaddedEvent(i, 10));
  batch.Translate(translator, config);
  EXPECT_THAT(RequestSizes(batch.out), ElementsAre(1u, 1u, 1u));
}

TEST(TranslateBatchingTest, RejectedEventsDoNotSplitBatches) {
  HightouchConfig config = TestConfig();
  config.batch_size = 2;
  Translator translator;
  EventBatch batch;
  batch.events = {PaddedEvent(0, 1),      "not json",       PaddedEvent(2, 1), PaddedEvent(3, 1),
                  R"({"type":"screen"})", PaddedEvent(5, 1)};
  batch.Translate(translator, config);
  ASSERT_EQ(batch.out.request_count, 2u);
  EXPECT_THAT(batch.out.requests[0].event_indexes, ElementsAre(0u, 2u));
  EXPECT_THAT(batch.out.requests[1].event_indexes, ElementsAre(3u, 5u));
  ASSERT_EQ(batch.out.rejection_count, 2u);
  EXPECT_EQ(batch.out.rejections[0].event_index, 1u);
  EXPECT_EQ(batch.out.rejections[1].event_index, 4u);
  ExpectWellFormed(batch, 2);
}

TEST(TranslateBatchingTest, NoEventsNoRequests) {
  Translator translator;
  EventBatch batch;
  batch.Translate(translator, TestConfig());
  EXPECT_EQ(batch.out.request_count, 0u);
  EXPECT_EQ(batch.out.rejection_count, 0u);
  batch.events = {"[]", "{}"};
  batch.Translate(translator, TestConfig());
  EXPECT_EQ(batch.out.request_count, 0u);
  EXPECT_EQ(batch.out.rejection_count, 2u);
}

// 14 records of 32,000 bytes and a last one sized so that the body would be exactly
// `body_bytes` with all 15 in one request.
EventBatch BoundaryBatch(size_t body_bytes) {
  const size_t base = RecordSize(0);
  const size_t big_pad = 32000 - base;
  const size_t last_record = body_bytes - kEnvelopeBytes - 14 * 32000 - 14;  // 14 commas
  EventBatch batch;
  for (int i = 0; i < 14; ++i) batch.events.push_back(PaddedEvent(i, big_pad));
  batch.events.push_back(PaddedEvent(14, last_record - base));
  return batch;
}

TEST(TranslateBatchingTest, BodyOf474999BytesStaysInOneRequest) {
  HightouchConfig config = TestConfig();
  config.batch_size = 500;
  Translator translator;
  EventBatch batch = BoundaryBatch(kMaxRequestBytes - 1);
  batch.Translate(translator, config);
  ASSERT_EQ(batch.out.request_count, 1u);
  EXPECT_EQ(batch.out.requests[0].body.size(), kMaxRequestBytes - 1);
  EXPECT_EQ(batch.out.requests[0].event_indexes.size(), 15u);
  ExpectWellFormed(batch, 500);
}

TEST(TranslateBatchingTest, BodyOfExactly475000BytesIsSplit) {
  HightouchConfig config = TestConfig();
  config.batch_size = 500;
  Translator translator;
  EventBatch batch = BoundaryBatch(kMaxRequestBytes);
  batch.Translate(translator, config);
  ASSERT_EQ(batch.out.request_count, 2u);
  EXPECT_THAT(RequestSizes(batch.out), ElementsAre(14u, 1u));
  // The first request is the 15-record body minus the last record and its comma.
  const size_t last_record = batch.out.requests[1].body.size() - kEnvelopeBytes;
  EXPECT_EQ(batch.out.requests[0].body.size(), kMaxRequestBytes - last_record - 1);
  ExpectWellFormed(batch, 500);
}

TEST(TranslateBatchingTest, FiveHundredEventsOf30KiBArePackedGreedily) {
  HightouchConfig config = TestConfig();
  config.batch_size = 500;
  const size_t base = RecordSize(0);
  Translator translator;
  EventBatch batch;
  for (int i = 0; i < 500; ++i) {
    // Records from 30,000 to 30,719 bytes, so packing is not one fixed count.
    batch.events.push_back(PaddedEvent(i, 30 * 1000 - base + static_cast<size_t>(i * 37 % 720)));
  }
  batch.Translate(translator, config);
  EXPECT_EQ(batch.out.rejection_count, 0u);
  ExpectWellFormed(batch, 500);
  // Greedy: a request was closed only because the next record did not fit.
  for (size_t r = 0; r + 1 < batch.out.request_count; ++r) {
    const TranslatedRequest& next = batch.out.requests[r + 1];
    // The next request's first record: up to the comma before its second record.
    const size_t next_size =
        next.event_indexes.size() == 1
            ? next.body.size() - kEnvelopeBytes
            : next.message_id_ranges[1].first - next.message_id_ranges[0].first - 1;
    EXPECT_GE(batch.out.requests[r].body.size() + 1 + next_size, kMaxRequestBytes)
        << "request " << r;
  }
  // About 15 records of ~30 KB fit under 475,000 bytes.
  for (size_t r = 0; r + 1 < batch.out.request_count; ++r) {
    EXPECT_EQ(batch.out.requests[r].event_indexes.size(), 15u) << "request " << r;
  }
}

TEST(TranslateBatchingTest, ByteLimitAndCountLimitWhicheverComesFirst) {
  HightouchConfig config = TestConfig();
  config.batch_size = 16;
  Translator translator;
  EventBatch batch;
  // 0-19: records of ~31 KB (15 fit under the byte limit); 20-39: small; 25: too large.
  for (int i = 0; i < 40; ++i) {
    batch.events.push_back(PaddedEvent(i, i == 25 ? 100000 : (i < 20 ? 31000 : 10)));
  }
  batch.Translate(translator, config);
  EXPECT_THAT(RequestSizes(batch.out), ElementsAre(15u, 16u, 8u));  // bytes, count, rest
  EXPECT_EQ(batch.out.requests[1].event_indexes.front(), 15u);
  EXPECT_EQ(batch.out.requests[1].event_indexes.back(), 31u);
  ASSERT_EQ(batch.out.rejection_count, 1u);
  EXPECT_EQ(batch.out.rejections[0].reason, kReasonEventTooLarge);
  EXPECT_EQ(batch.out.rejections[0].event_index, 25u);
  ExpectWellFormed(batch, 16);
}

}  // namespace
}  // namespace signal_hightouch
