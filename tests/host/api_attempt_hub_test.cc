// The live-event hub behind GET /v1/admin/live-events/stream: every open stream gets
// every attempt, a slow stream costs a bounded queue (oldest dropped, counted), and
// closing the hub ends every stream at once.
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "attempt_hub.h"
#include "gtest/gtest.h"

namespace signal_host::api {
namespace {

using namespace std::chrono_literals;

AttemptRecord Attempt(int64_t id) {
  AttemptRecord attempt;
  attempt.id = id;
  attempt.integration_id = "tmpl_1";
  attempt.outcome = "delivered";
  return attempt;
}

TEST(AttemptHubTest, ASlowReaderLosesTheOldestAttemptsAndIsToldHowMany) {
  AttemptHub hub(/*queue_limit=*/3);
  auto subscription = hub.Subscribe();
  for (int64_t id = 1; id <= 5; ++id) hub.Publish(Attempt(id));
  EXPECT_EQ(subscription->dropped(), 2u);
  for (int64_t id = 3; id <= 5; ++id) {
    std::optional<AttemptRecord> next = subscription->Next(1s);
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->id, id);
  }
  EXPECT_FALSE(subscription->Next(10ms).has_value());  // nothing more: a timeout
  EXPECT_FALSE(subscription->closed());
}

TEST(AttemptHubTest, EveryStreamGetsEveryAttemptUntilItUnsubscribes) {
  AttemptHub hub;
  auto first = hub.Subscribe();
  auto second = hub.Subscribe();
  EXPECT_EQ(hub.subscribers(), 2u);
  hub.Publish(Attempt(1));
  hub.Unsubscribe(first);
  EXPECT_EQ(hub.subscribers(), 1u);
  hub.Publish(Attempt(2));
  ASSERT_EQ(first->Next(10ms)->id, 1);
  EXPECT_FALSE(first->Next(10ms).has_value());
  ASSERT_EQ(second->Next(10ms)->id, 1);
  ASSERT_EQ(second->Next(10ms)->id, 2);
  EXPECT_EQ(first->dropped() + second->dropped(), 0u);
}

TEST(AttemptHubTest, ClosingWakesWaitingReadersAndLaterStreamsStartClosed) {
  AttemptHub hub;
  auto subscription = hub.Subscribe();
  std::future<std::optional<AttemptRecord>> waiting =
      std::async(std::launch::async, [&] { return subscription->Next(60s); });
  std::this_thread::sleep_for(20ms);  // let it wait
  hub.Close();
  // Woken by the close, long before its own timeout.
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(waiting.get().has_value());
  EXPECT_TRUE(subscription->closed());
  EXPECT_EQ(hub.subscribers(), 0u);

  auto late = hub.Subscribe();
  EXPECT_TRUE(late->closed());
  hub.Publish(Attempt(7));
  EXPECT_FALSE(late->Next(0ms).has_value());
  EXPECT_EQ(hub.subscribers(), 0u);
}

}  // namespace
}  // namespace signal_host::api
