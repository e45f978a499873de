// The delivery worker's parts on their own: batch cutting by count and bytes,
// Translate with bisection and the response policy against a scripted plugin stub,
// the retry plan, the outcome committer's backoff over a real SQLite store with
// injected failures, holds and credential probes, what a failed plugin call means,
// and the throttled log.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "delivery_faulty_queue.h"
#include "delivery_scripted_stub.h"
#include "host/crypto/secret_box.h"
#include "host/delivery/batch_buffer.h"
#include "host/delivery/hold_control.h"
#include "host/delivery/outcome_committer.h"
#include "host/delivery/plugin_calls.h"
#include "host/delivery/response_policy.h"
#include "host/delivery/retry_plan.h"
#include "host/delivery/throttled_log.h"
#include "host/delivery/translation.h"
#include "host/store/store.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

Item MakeItem(int64_t seq, std::string payload, uint32_t attempts = 0) {
  Item item;
  item.event.seq = seq;
  item.event.message_id = absl::StrCat("m-", seq);
  item.event.payload = std::move(payload);
  item.event.attempts = attempts;
  item.type = "track";
  return item;
}

std::vector<Item> MakeItems(int count, size_t payload_bytes = 10) {
  std::vector<Item> items;
  for (int i = 0; i < count; ++i) {
    items.push_back(MakeItem(i, absl::StrCat("e", i, std::string(payload_bytes, 'x'))));
  }
  return items;
}

std::vector<int64_t> Seqs(const std::vector<Item>& items) { return SeqsOf(items); }

// A deterministic backoff: every delay is its ceiling.
std::unique_ptr<Backoff> CeilingBackoff(uint64_t initial_ms, uint64_t max_ms) {
  return std::make_unique<Backoff>(initial_ms, max_ms, [](uint64_t upper) { return upper; });
}

// ---- BatchBuffer ------------------------------------------------------------------

TEST(BatchBufferTest, CutsByCountAndByBytesAndSetsOversizedEventsApart) {
  BatchBuffer buffer;
  for (Item& item : MakeItems(5, 100)) buffer.PushBack(std::move(item));
  buffer.PushBack(MakeItem(5, std::string(5000, 'y')));  // over the byte budget alone
  for (int i = 6; i < 9; ++i) buffer.PushBack(MakeItem(i, std::string(300, 'z')));
  const size_t total = buffer.bytes();

  BatchLimits limits{3, 1000};
  EXPECT_TRUE(buffer.HasFullBatch(limits));
  std::vector<Item> oversized;
  std::vector<Item> first = buffer.TakeBatch(limits, oversized);
  EXPECT_THAT(Seqs(first), ElementsAre(0, 1, 2));  // the count cut
  EXPECT_THAT(oversized, IsEmpty());
  std::vector<Item> second = buffer.TakeBatch(limits, oversized);
  // Two events fit, the oversized one is set apart, then 300-byte events fill the
  // rest of the 1000-byte budget.
  EXPECT_THAT(Seqs(second), ElementsAre(3, 4, 6));
  EXPECT_THAT(Seqs(oversized), ElementsAre(5));
  std::vector<Item> third = buffer.TakeBatch(limits, oversized);
  EXPECT_THAT(Seqs(third), ElementsAre(7, 8));
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.bytes(), 0u);
  size_t taken = oversized[0].event.payload.size();
  for (const auto* batch : {&first, &second, &third}) {
    for (const Item& item : *batch) taken += item.event.payload.size();
  }
  EXPECT_EQ(taken, total);
}

TEST(BatchBufferTest, ByteBudgetMakesABatchFullBeforeTheCount) {
  BatchBuffer buffer;
  BatchLimits limits{100, 1000};
  buffer.PushBack(MakeItem(1, std::string(600, 'a')));
  EXPECT_FALSE(buffer.HasFullBatch(limits));
  buffer.PushBack(MakeItem(2, std::string(600, 'a')));
  EXPECT_TRUE(buffer.HasFullBatch(limits));
  std::vector<Item> oversized;
  EXPECT_THAT(Seqs(buffer.TakeBatch(limits, oversized)), ElementsAre(1));
  EXPECT_EQ(buffer.bytes(), 600u);
  buffer.PushFront(MakeItem(0, std::string(50, 'b')));
  EXPECT_EQ(buffer.bytes(), 650u);
  EXPECT_EQ(buffer.front().event.seq, 0);
  EXPECT_THAT(Seqs(buffer.TakeAll()), ElementsAre(0, 2));
  EXPECT_EQ(buffer.bytes(), 0u);
}

// ---- TranslateBatch ---------------------------------------------------------------

// A plugin that makes one request of every event it is given, unless a script says
// otherwise.
grpc::Status TranslateAll(const v1::TranslateRequest& request, v1::TranslateResponse* response) {
  v1::HttpRequest* http = response->add_requests();
  http->set_url("https://vendor.test/batch");
  for (int i = 0; i < request.events_size(); ++i) http->add_event_indexes(i);
  return grpc::Status::OK;
}

TranslateParams Params(const std::string& config) {
  TranslateParams params;
  params.config_json = &config;
  params.sent_at_ms = 1000;
  return params;
}

TEST(TranslateBatchTest, OneCallWhenThePluginAnswers) {
  delivery_test::ScriptedStub stub;
  stub.SetTranslate(TranslateAll);
  const std::string config = "{}";
  std::vector<Item> items = MakeItems(6);
  Translation out = TranslateBatch(stub, Params(config), std::move(items));
  EXPECT_EQ(out.calls, 1u);
  EXPECT_EQ(out.failed_calls, 0u);
  ASSERT_THAT(out.requests, SizeIs(1));
  EXPECT_THAT(Seqs(out.requests[0].items), ElementsAre(0, 1, 2, 3, 4, 5));
  // The payloads lent to the call came back.
  EXPECT_EQ(out.requests[0].items[2].event.payload, "e2xxxxxxxxxx");
  EXPECT_THAT(out.failures, IsEmpty());
}

TEST(TranslateBatchTest, AFailureThatMayComeFromOneEventIsBisectedToThatEvent) {
  delivery_test::ScriptedStub stub;
  stub.SetTranslate([](const v1::TranslateRequest& request, v1::TranslateResponse* response) {
    for (const std::string& event : request.events()) {
      if (absl::StartsWith(event, "e5x")) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "threw on an event");
      }
    }
    return TranslateAll(request, response);
  });
  const std::string config = "{}";
  Translation out = TranslateBatch(stub, Params(config), MakeItems(8));
  ASSERT_THAT(out.failures, SizeIs(1));
  EXPECT_THAT(Seqs(out.failures[0].items), ElementsAre(5));
  EXPECT_EQ(out.failures[0].reason, "translate_failed");
  EXPECT_THAT(out.failures[0].message, HasSubstr("INTERNAL (13): threw on an event"));
  EXPECT_FALSE(out.failures[0].call_level);
  std::vector<int64_t> sent;
  for (const Outgoing& request : out.requests) {
    for (const Item& item : request.items) sent.push_back(item.event.seq);
  }
  EXPECT_THAT(sent, ElementsAre(0, 1, 2, 3, 4, 6, 7));
  // 8 -> 4+4 -> 2+2 -> 1+1: 7 calls, 4 of which failed.
  EXPECT_EQ(out.calls, 7u);
  EXPECT_EQ(out.failed_calls, 4u);
  EXPECT_LE(out.calls, 2u * 8 - 1);
}

TEST(TranslateBatchTest, APluginThatIsNotThereIsNotBisected) {
  delivery_test::ScriptedStub stub;
  stub.SetTranslate([](const v1::TranslateRequest&, v1::TranslateResponse*) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused");
  });
  const std::string config = "{}";
  Translation out = TranslateBatch(stub, Params(config), MakeItems(50));
  EXPECT_EQ(out.calls, 1u);
  ASSERT_THAT(out.failures, SizeIs(1));
  EXPECT_TRUE(out.failures[0].call_level);
  EXPECT_THAT(out.failures[0].items, SizeIs(50));
  EXPECT_EQ(out.failures[0].items[49].event.payload, "e49xxxxxxxxxx");
}

TEST(TranslateBatchTest, APluginThatGoesAwayMidBisectionIsNotCalledAgain) {
  delivery_test::ScriptedStub stub;
  stub.SetTranslate([&stub](const v1::TranslateRequest&, v1::TranslateResponse*) {
    if (stub.translate_calls.load() == 1) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "threw");
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone");
  });
  const std::string config = "{}";
  Translation out = TranslateBatch(stub, Params(config), MakeItems(8));
  // The whole batch, then its first half; the second half is not sent.
  EXPECT_EQ(out.calls, 2u);
  size_t failed = 0;
  for (const TranslateFailure& failure : out.failures) failed += failure.items.size();
  EXPECT_EQ(failed, 8u);
  EXPECT_TRUE(out.failures.back().call_level);
}

TEST(TranslateBatchTest, RejectionsAreGroupedAndEventsLeftOutAreFailures) {
  delivery_test::ScriptedStub stub;
  stub.SetTranslate([](const v1::TranslateRequest&, v1::TranslateResponse* response) {
    v1::HttpRequest* http = response->add_requests();
    http->add_event_indexes(0);
    http->add_event_indexes(2);
    http->add_event_indexes(99);  // out of range: ignored
    for (uint32_t index : {1u, 4u}) {
      v1::Rejection* rejection = response->add_rejections();
      rejection->set_event_index(index);
      rejection->set_reason("missing_identity");
      rejection->set_message("no userId");
    }
    v1::Rejection* unnamed = response->add_rejections();
    unnamed->set_event_index(5);
    return grpc::Status::OK;
  });
  const std::string config = "{}";
  Translation out = TranslateBatch(stub, Params(config), MakeItems(7));
  ASSERT_THAT(out.requests, SizeIs(1));
  EXPECT_THAT(Seqs(out.requests[0].items), ElementsAre(0, 2));
  ASSERT_THAT(out.rejections, SizeIs(2));
  std::map<std::string, std::vector<int64_t>> by_reason;
  for (const TranslateRejection& rejection : out.rejections) {
    by_reason[rejection.reason] = Seqs(rejection.items);
  }
  EXPECT_THAT(by_reason["missing_identity"], ElementsAre(1, 4));
  EXPECT_THAT(by_reason["rejected"], ElementsAre(5));
  ASSERT_THAT(out.failures, SizeIs(1));
  EXPECT_EQ(out.failures[0].reason, "translate_incomplete");
  EXPECT_THAT(Seqs(out.failures[0].items), ElementsAre(3, 6));
  EXPECT_EQ(out.failed_calls, 0u);
}

// ---- PlanRetry --------------------------------------------------------------------

TEST(PlanRetryTest, GivesUpOnlyWhenBothAttemptsAndWindowAreSpent) {
  v1::RetryPolicy policy;
  policy.set_max_attempts(3);
  policy.set_retry_window_s(60);
  auto backoff = CeilingBackoff(100, 10000);
  std::vector<Item> items;
  items.push_back(MakeItem(1, "a", /*attempts=*/2));  // 3rd attempt, window spent
  items.back().event.first_attempt_at_ms = 1000;
  items.push_back(MakeItem(2, "b", /*attempts=*/2));  // 3rd attempt, window open
  items.back().event.first_attempt_at_ms = 50000;
  items.push_back(MakeItem(3, "c", /*attempts=*/0));  // first attempt
  const RetryPlan plan =
      PlanRetry(items, /*attempted_at_ms=*/90000, /*now_ms=*/100000, policy, *backoff);
  EXPECT_THAT(plan.give_up, ElementsAre(0));
  EXPECT_THAT(plan.retry, ElementsAre(1, 2));
  EXPECT_EQ(plan.retry_attempt, 3u);
  EXPECT_EQ(plan.delay_ms, 400u);  // 100 * 2^(3-1)
  EXPECT_EQ(plan.next_attempt_at_ms, 100400);
  // Retry-After is a floor.
  const RetryPlan floored = PlanRetry(items, 90000, 100000, policy, *backoff, 5000);
  EXPECT_EQ(floored.delay_ms, 5000u);
}

// ---- ResponsePolicy ----------------------------------------------------------------

class ResponsePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.set_max_attempts(3);
    policy_.set_retry_window_s(0);
    backoff_ = CeilingBackoff(100, 1000);
  }

  InFlight Flight(int count, uint32_t attempts = 0) {
    InFlight flight;
    for (int i = 0; i < count; ++i) {
      flight.items.push_back(MakeItem(i, "{}", attempts));
      flight.message_ids.push_back(absl::StrCat("m-", i));
    }
    flight.request_record = R"({"method":"POST"})";
    flight.sent_at_ms = 5000;
    return flight;
  }

  // Classify answers `outcome` (with a code, message and Retry-After).
  void Answer(v1::ClassifyResponse::Outcome outcome, uint64_t retry_after_ms = 0) {
    stub_.SetClassify([this, outcome, retry_after_ms](const v1::ClassifyRequest& request,
                                                      v1::ClassifyResponse* response) {
      last_request_ = request;
      response->set_outcome(outcome);
      response->set_code("vendor_code");
      response->set_message("vendor says so");
      response->set_retry_after_ms(retry_after_ms);
      return grpc::Status::OK;
    });
  }

  ResponseDecision Decide(InFlight& flight, int32_t status = 200) {
    HttpResponse response;
    response.status = status;
    response.body = std::string(100, 'b');
    response.headers = {{"Retry-After", "2"}};
    response.latency_us = 12000;
    ResponsePolicyOptions options;
    options.classify_body_bytes = 40;
    options.record_response_bytes = 10;
    return ResponsePolicy(options).Decide(stub_, response, flight, "tmpl_x", policy_, *backoff_,
                                          /*now_ms=*/6000);
  }

  delivery_test::ScriptedStub stub_;
  v1::RetryPolicy policy_;
  std::unique_ptr<Backoff> backoff_;
  v1::ClassifyRequest last_request_;
};

TEST_F(ResponsePolicyTest, DeliveredKeepsTheRequestAndResponseInTheAttempt) {
  Answer(v1::ClassifyResponse::DELIVERED);
  InFlight flight = Flight(3);
  const ResponseDecision decision = Decide(flight);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kDelivered);
  EXPECT_EQ(decision.attempt.outcome, "delivered");
  EXPECT_EQ(decision.attempt.integration_id, "tmpl_x");
  EXPECT_THAT(decision.attempt.message_ids, ElementsAre("m-0", "m-1", "m-2"));
  EXPECT_EQ(decision.attempt.request, R"({"method":"POST"})");
  EXPECT_EQ(decision.attempt.response, std::string(10, 'b'));
  EXPECT_EQ(decision.attempt.attempt, 1u);
  EXPECT_EQ(decision.attempt.latency_ms, 12);
  EXPECT_EQ(decision.attempt.created_at_ms, 5000);
  // What Classify was given: the body cut to classify_body_bytes, the event count.
  EXPECT_EQ(last_request_.body().size(), 40u);
  EXPECT_EQ(last_request_.event_count(), 3u);
  EXPECT_EQ(last_request_.now_unix_ms(), 6000);
  EXPECT_FALSE(decision.classify_failed);
}

TEST_F(ResponsePolicyTest, TransientRetriesUntilThePolicyIsSpent) {
  Answer(v1::ClassifyResponse::TRANSIENT);
  InFlight fresh = Flight(2);
  ResponseDecision decision = Decide(fresh, 503);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kRetry);
  EXPECT_THAT(decision.plan.retry, ElementsAre(0, 1));
  EXPECT_EQ(decision.plan.delay_ms, 100u);
  EXPECT_EQ(decision.pause_until_ms, 0);

  InFlight spent = Flight(2, /*attempts=*/2);
  decision = Decide(spent, 503);
  EXPECT_THAT(decision.plan.give_up, ElementsAre(0, 1));
  EXPECT_EQ(decision.give_up_reason, "retries_exhausted");
  EXPECT_EQ(decision.give_up_message, "gave up after 3 attempts: vendor says so");
  EXPECT_EQ(decision.http_status, 503);
}

TEST_F(ResponsePolicyTest, ThrottlePausesTheIntegrationForRetryAfter) {
  Answer(v1::ClassifyResponse::THROTTLE, /*retry_after_ms=*/2000);
  InFlight flight = Flight(2);
  const ResponseDecision decision = Decide(flight, 429);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kRetry);
  EXPECT_EQ(decision.attempt.outcome, "throttle");
  EXPECT_EQ(decision.plan.delay_ms, 2000u);
  EXPECT_EQ(decision.pause_until_ms, 8000);
}

TEST_F(ResponsePolicyTest, SplitHoldAndReject) {
  Answer(v1::ClassifyResponse::SPLIT);
  InFlight pair = Flight(2);
  EXPECT_EQ(Decide(pair, 400).action, ResponseDecision::Action::kSplit);
  InFlight single = Flight(1);
  ResponseDecision decision = Decide(single, 400);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kReject);  // nothing left to split
  EXPECT_EQ(decision.reason, "vendor_code");

  Answer(v1::ClassifyResponse::SETUP_FAILURE);
  InFlight held = Flight(2);
  decision = Decide(held, 401);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kHold);
  EXPECT_EQ(decision.reason, "vendor says so");
  EXPECT_EQ(decision.attempt.outcome, "setup_failure");

  Answer(v1::ClassifyResponse::OUTCOME_UNSPECIFIED);
  InFlight unknown = Flight(1);
  decision = Decide(unknown, 418);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kRetry);
  EXPECT_EQ(decision.attempt.outcome, "transient");
}

TEST_F(ResponsePolicyTest, AFailedClassifySplitsABatchAndCountsASingleEvent) {
  stub_.SetClassify([](const v1::ClassifyRequest&, v1::ClassifyResponse*) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "Classify failed: bad body");
  });
  InFlight batch = Flight(4);
  ResponseDecision decision = Decide(batch);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kSplit);
  EXPECT_TRUE(decision.classify_failed);
  EXPECT_FALSE(decision.plugin_unreachable);
  EXPECT_THAT(decision.attempt.message, HasSubstr("classify_failed"));

  InFlight single = Flight(1, /*attempts=*/2);
  decision = Decide(single);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kRetry);
  EXPECT_THAT(decision.plan.give_up, ElementsAre(0));
  EXPECT_EQ(decision.give_up_reason, "classify_failed");
  EXPECT_THAT(decision.give_up_message, HasSubstr("INTERNAL (13): Classify failed: bad body"));
}

TEST_F(ResponsePolicyTest, APluginThatDoesNotAnswerClassifyIsRetriedWhole) {
  stub_.SetClassify([](const v1::ClassifyRequest&, v1::ClassifyResponse*) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "too slow");
  });
  InFlight batch = Flight(4);
  const ResponseDecision decision = Decide(batch);
  EXPECT_EQ(decision.action, ResponseDecision::Action::kRetry);
  EXPECT_TRUE(decision.plugin_unreachable);
  EXPECT_THAT(decision.plan.retry, SizeIs(4));
}

// ---- OutcomeCommitter --------------------------------------------------------------

class OutcomeCommitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("outcome_committer_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto box = SecretBox::FromRawKey(std::string(SecretBox::kKeyBytes, '\x42'));
    ASSERT_TRUE(box.ok());
    box_ = std::make_unique<SecretBox>(*box);
    StoreOptions options;
    options.path = (dir_ / "signal.db").string();
    auto store = Store::Open(options, box_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    IntegrationRecord integration;
    integration.org_id = "org";
    integration.name = "x";
    integration.vendor = "v";
    RevisionRecord revision;
    revision.config_json = "{}";
    ASSERT_TRUE(store_->CreateIntegration(integration, revision).ok());
    id_ = integration.id;
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(absl::StrCat("m-", i));
    std::vector<EnqueueItem> items;
    for (const std::string& message_id : ids) items.push_back({id_, message_id, "{}"});
    ASSERT_TRUE(store_->Enqueue(items).ok());
    auto leased = store_->Lease(id_, 10, INT64_MAX);
    ASSERT_TRUE(leased.ok());
    for (const QueuedEvent& event : *leased) seqs_.push_back(event.seq);
    queue_ = std::make_unique<delivery_test::FaultyQueue>(store_.get());
    OutcomeCommitter::Hooks hooks;
    hooks.log = [this](std::string_view line) { logs_.emplace_back(line); };
    hooks.recorded = [this](const AttemptRecord& attempt) { recorded_.push_back(attempt.id); };
    hooks.committed = [this](const Outcome& outcome) { committed_.push_back(outcome.kind); };
    committer_ = std::make_unique<OutcomeCommitter>(queue_.get(), id_, 100, 800, hooks);
  }

  void TearDown() override {
    committer_.reset();
    queue_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Outcome Complete(std::vector<int64_t> seqs, bool with_attempt) {
    Outcome outcome;
    outcome.kind = Outcome::Kind::kComplete;
    outcome.seqs = std::move(seqs);
    if (with_attempt) {
      AttemptRecord attempt;
      attempt.integration_id = id_;
      attempt.outcome = "delivered";
      attempt.message_ids = {"m-0"};
      outcome.attempt = attempt;
    }
    return outcome;
  }

  Outcome DeadLetter(std::vector<int64_t> seqs) {
    Outcome outcome;
    outcome.kind = Outcome::Kind::kDeadLetter;
    outcome.seqs = std::move(seqs);
    outcome.reason = "translate_failed";
    outcome.message = "gave up";
    outcome.attempts_added = 1;
    return outcome;
  }

  size_t DeadLetterCount() {
    auto page = store_->ListDeadLetters(id_, "", Page{});
    return page.ok() ? page->items.size() : 0;
  }

  size_t AttemptCount() {
    auto page = store_->ListAttempts(id_, "", "", Page{});
    return page.ok() ? page->items.size() : 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<Store> store_;
  std::string id_;
  std::vector<int64_t> seqs_;
  std::unique_ptr<delivery_test::FaultyQueue> queue_;
  std::unique_ptr<OutcomeCommitter> committer_;
  std::vector<std::string> logs_;
  std::vector<int64_t> recorded_;
  std::vector<Outcome::Kind> committed_;
};

TEST_F(OutcomeCommitterTest, WritesAtOnceWhileTheStoreWorks) {
  EXPECT_TRUE(committer_->Commit(Complete({seqs_[0], seqs_[1]}, true), 1000));
  EXPECT_FALSE(committer_->failing());
  EXPECT_EQ(store_->QueueDepth(id_).value(), 4u);
  ASSERT_THAT(recorded_, SizeIs(1));
  EXPECT_GT(recorded_[0], 0);
  EXPECT_THAT(committed_, ElementsAre(Outcome::Kind::kComplete));
  EXPECT_THAT(logs_, IsEmpty());
}

TEST_F(OutcomeCommitterTest, ParksOutcomesAndRetriesThemWithBoundedBackoff) {
  queue_->fail_writes = true;
  EXPECT_FALSE(committer_->Commit(Complete({seqs_[0]}, true), 1000));
  EXPECT_TRUE(committer_->failing());
  EXPECT_EQ(committer_->retry_at_ms(), 1100);
  EXPECT_THAT(committer_->error(), HasSubstr("disk is full"));
  // While failing, later outcomes wait behind without touching the store.
  const int writes = queue_->write_calls.load();
  EXPECT_FALSE(committer_->Commit(DeadLetter({seqs_[1]}), 1010));
  EXPECT_FALSE(committer_->RetryParked(1050));  // not due yet
  EXPECT_EQ(queue_->write_calls.load(), writes);
  EXPECT_EQ(committer_->parked(), 2u);

  // Each due step makes one try and doubles the wait, up to the maximum.
  int64_t now = 1100;
  std::vector<int64_t> waits;
  for (int step = 0; step < 5; ++step) {
    EXPECT_FALSE(committer_->RetryParked(now));
    waits.push_back(committer_->retry_at_ms() - now);
    now = committer_->retry_at_ms();
  }
  EXPECT_THAT(waits, ElementsAre(200, 400, 800, 800, 800));
  EXPECT_EQ(queue_->write_calls.load(), writes + 5);
  EXPECT_THAT(logs_, SizeIs(6));  // one per step, not one per outcome
  EXPECT_EQ(store_->QueueDepth(id_).value(), 6u);
  EXPECT_THAT(recorded_, IsEmpty());

  // The store works again: everything is written, in order, once.
  queue_->fail_writes = false;
  EXPECT_TRUE(committer_->RetryParked(now));
  EXPECT_FALSE(committer_->failing());
  EXPECT_THAT(committer_->error(), IsEmpty());
  EXPECT_THAT(committed_, ElementsAre(Outcome::Kind::kComplete, Outcome::Kind::kDeadLetter));
  EXPECT_EQ(store_->QueueDepth(id_).value(), 4u);
  EXPECT_EQ(DeadLetterCount(), 1u);
  EXPECT_THAT(recorded_, SizeIs(1));
  EXPECT_THAT(logs_.back(), HasSubstr("works again"));
  // The backoff starts over for the next failure.
  queue_->fail_writes = true;
  EXPECT_FALSE(committer_->Commit(Complete({seqs_[2]}, false), now));
  EXPECT_EQ(committer_->retry_at_ms(), now + 100);
}

TEST_F(OutcomeCommitterTest, AnAttemptWrittenBeforeTheFailureIsNotWrittenTwice) {
  queue_->fail_event_writes = true;
  EXPECT_FALSE(committer_->Commit(Complete({seqs_[0]}, true), 1000));
  EXPECT_EQ(AttemptCount(), 1u);
  queue_->fail_event_writes = false;
  EXPECT_TRUE(committer_->RetryParked(1100));
  EXPECT_EQ(AttemptCount(), 1u);
  EXPECT_THAT(recorded_, SizeIs(1));
  EXPECT_EQ(store_->QueueDepth(id_).value(), 5u);
}

TEST_F(OutcomeCommitterTest, AFailedAsynchronousWriteIsParkedOncePerStep) {
  const absl::Status full = absl::ResourceExhaustedError("disk is full");
  committer_->Park(Complete({seqs_[0]}, true), full, 1000);
  committer_->Park(Complete({seqs_[1]}, true), full, 1001);
  committer_->Park(Complete({seqs_[2]}, true), full, 1002);
  EXPECT_EQ(committer_->parked(), 3u);
  EXPECT_THAT(logs_, SizeIs(1));
  EXPECT_EQ(committer_->retry_at_ms(), 1100);
  EXPECT_TRUE(committer_->RetryParked(1100));
  EXPECT_EQ(store_->QueueDepth(id_).value(), 3u);
  EXPECT_EQ(AttemptCount(), 3u);
}

TEST_F(OutcomeCommitterTest, FailingLeasesBlockLeasingUntilTheNextStep) {
  const absl::Status full = absl::UnavailableError("database is locked");
  committer_->LeaseFailed(full, 1000);
  EXPECT_TRUE(committer_->failing());
  EXPECT_FALSE(committer_->outcomes_parked());
  EXPECT_TRUE(committer_->lease_blocked(1050));
  EXPECT_FALSE(committer_->lease_blocked(1100));
  committer_->LeaseFailed(full, 1100);
  EXPECT_TRUE(committer_->lease_blocked(1250));
  EXPECT_FALSE(committer_->lease_blocked(1300));
  committer_->LeaseSucceeded(1300);
  EXPECT_FALSE(committer_->failing());
  EXPECT_THAT(logs_, SizeIs(3));
}

TEST_F(OutcomeCommitterTest, StoppingReleasesWhatStillCannotBeWritten) {
  queue_->fail_writes = true;
  committer_->Commit(Complete({seqs_[0], seqs_[1]}, true), 1000);
  committer_->Commit(DeadLetter({seqs_[2]}), 1000);
  committer_->FlushOrRelease(1200);
  EXPECT_EQ(committer_->parked(), 0u);
  EXPECT_FALSE(committer_->failing());
  queue_->fail_writes = false;
  // Released: leasable again, still queued.
  auto leased = store_->Lease(id_, 10, INT64_MAX);
  ASSERT_TRUE(leased.ok());
  EXPECT_THAT(*leased, SizeIs(3));
  EXPECT_EQ(store_->QueueDepth(id_).value(), 6u);
  EXPECT_THAT(logs_.back(), HasSubstr("3 events released"));
}

TEST_F(OutcomeCommitterTest, TheErrorAndLogNameTheWriteThatFailed) {
  // error() is what /readyz reports while the store fails: it must say which write.
  queue_->fail_writes = true;
  Outcome retry;
  retry.kind = Outcome::Kind::kRetry;
  retry.seqs = {seqs_[0], seqs_[1]};
  retry.next_attempt_at_ms = 5000;
  retry.attempted_at_ms = 1000;
  EXPECT_FALSE(committer_->Commit(retry, 1000));
  EXPECT_THAT(committer_->error(), HasSubstr("could not schedule 2 events for retry"));
  EXPECT_THAT(committer_->error(), HasSubstr("RESOURCE_EXHAUSTED"));
  ASSERT_THAT(logs_, SizeIs(1));
  EXPECT_THAT(logs_[0], HasSubstr("the store could not schedule 2 events for retry"));
  EXPECT_THAT(logs_[0], HasSubstr("nothing is sent again"));

  Outcome held;
  held.kind = Outcome::Kind::kStatus;
  held.status = "held";
  held.reason = "invalid write key";
  EXPECT_FALSE(committer_->Commit(held, 1010));  // parked behind, no try
  committer_->Park(DeadLetter({seqs_[2]}), absl::ResourceExhaustedError("disk is full"), 1020);
  EXPECT_EQ(committer_->parked(), 3u);
  EXPECT_THAT(logs_, SizeIs(1));  // already failing: no line per outcome

  // The next step fails on the first parked outcome again and names it.
  EXPECT_FALSE(committer_->RetryParked(1100));
  EXPECT_THAT(logs_.back(), HasSubstr("schedule 2 events for retry"));

  // A status write and a dead letter are named too, each when it is the one that fails.
  OutcomeCommitter status_only(queue_.get(), id_, 100, 800, {});
  EXPECT_FALSE(status_only.Commit(held, 2000));
  EXPECT_THAT(status_only.error(), HasSubstr("could not save the integration's status \"held\""));
  OutcomeCommitter dead_letter_only(queue_.get(), id_, 100, 800, {});
  EXPECT_FALSE(dead_letter_only.Commit(DeadLetter({seqs_[3]}), 2000));
  EXPECT_THAT(dead_letter_only.error(),
              HasSubstr("could not dead-letter 1 events (translate_failed)"));
  Outcome split;  // a record-only outcome without its record still says what it is
  split.kind = Outcome::Kind::kRecordOnly;
  committer_->Park(split, absl::ResourceExhaustedError("disk is full"), 2000);

  // Stopping once the store works again writes everything that was kept, in order.
  queue_->fail_writes = false;
  committed_.clear();
  committer_->FlushOrRelease(3000);
  EXPECT_THAT(committed_, ElementsAre(Outcome::Kind::kRetry, Outcome::Kind::kStatus,
                                      Outcome::Kind::kDeadLetter, Outcome::Kind::kRecordOnly));
  EXPECT_EQ(committer_->parked(), 0u);
  EXPECT_EQ(DeadLetterCount(), 1u);
  auto integration = store_->GetIntegration("org", id_);
  ASSERT_TRUE(integration.ok()) << integration.status();
  EXPECT_EQ(integration->status, "held");
  // The retried events are no longer leased: due again at their retry time.
  EXPECT_THAT(*store_->Lease(id_, 10, 4999), IsEmpty());
  EXPECT_THAT(*store_->Lease(id_, 10, 5000), SizeIs(2));
}

// ---- HoldControl -------------------------------------------------------------------

class HoldControlTest : public ::testing::Test {
 protected:
  static grpc::Status Answer(v1::CheckCredentialsResponse::Outcome outcome,
                             v1::CheckCredentialsResponse* response, uint32_t retry_after_s = 0) {
    response->set_outcome(outcome);
    response->set_retry_after_s(retry_after_s);
    return grpc::Status::OK;
  }

  metrics::Gauge held_gauge_;
  delivery_test::ScriptedStub stub_;
  HoldControl hold_{absl::Minutes(1), &held_gauge_};
};

TEST_F(HoldControlTest, HoldAndUnholdCountOnceInTheGauge) {
  EXPECT_TRUE(hold_.Hold("invalid write key", 1000));
  EXPECT_FALSE(hold_.Hold("again", 2000));  // already held: the first reason stays
  EXPECT_TRUE(hold_.held());
  EXPECT_EQ(hold_.reason(), "invalid write key");
  EXPECT_EQ(hold_.next_probe_ms(), 61000);
  EXPECT_EQ(held_gauge_.Value(), 1);
  EXPECT_TRUE(hold_.Unhold());
  EXPECT_FALSE(hold_.Unhold());
  EXPECT_EQ(held_gauge_.Value(), 0);
  EXPECT_EQ(hold_.reason(), "");
  hold_.Retire();  // not held: nothing to take back
  EXPECT_EQ(held_gauge_.Value(), 0);
}

TEST_F(HoldControlTest, AHoldRestoredAfterARestartIsProbedAtOnce) {
  hold_.Restore("invalid write key", 5000);
  EXPECT_TRUE(hold_.held());
  EXPECT_EQ(hold_.reason(), "invalid write key");
  EXPECT_EQ(hold_.next_probe_ms(), 5000);
  hold_.Restore("invalid write key", 6000);  // counted once
  EXPECT_EQ(held_gauge_.Value(), 1);
  hold_.Retire();  // the worker goes away while held
  EXPECT_EQ(held_gauge_.Value(), 0);
}

TEST_F(HoldControlTest, FailedProbesWaitAnIntervalOrTheVendorsRetryAfter) {
  std::atomic<int> step{0};
  stub_.SetCheckCredentials(
      [&](const v1::CheckCredentialsRequest& request, v1::CheckCredentialsResponse* response) {
        EXPECT_EQ(request.config_json(), R"({"api_key":"k"})");
        switch (step.load()) {
          case 0:
            return Answer(v1::CheckCredentialsResponse::INVALID_WRITE_KEY, response);
          case 1:  // the vendor's rate limit, longer than the interval
            return Answer(v1::CheckCredentialsResponse::RATE_LIMITED, response, 300);
          case 2:  // shorter than the interval: the interval wins
            return Answer(v1::CheckCredentialsResponse::RATE_LIMITED, response, 5);
          case 3:
            return grpc::Status(grpc::StatusCode::UNAVAILABLE, "plugin gone");
          default:
            return Answer(v1::CheckCredentialsResponse::OK, response);
        }
      });
  const std::string config = R"({"api_key":"k"})";
  ASSERT_TRUE(hold_.Hold("invalid write key", 0));
  EXPECT_FALSE(hold_.Probe(stub_, config, absl::Seconds(1), 60000));
  EXPECT_EQ(hold_.next_probe_ms(), 120000);
  ++step;
  EXPECT_FALSE(hold_.Probe(stub_, config, absl::Seconds(1), 120000));
  EXPECT_EQ(hold_.next_probe_ms(), 420000);
  ++step;
  EXPECT_FALSE(hold_.Probe(stub_, config, absl::Seconds(1), 420000));
  EXPECT_EQ(hold_.next_probe_ms(), 480000);
  ++step;
  EXPECT_FALSE(hold_.Probe(stub_, config, absl::Seconds(1), 480000));
  EXPECT_EQ(hold_.next_probe_ms(), 540000);
  ++step;
  EXPECT_TRUE(hold_.Probe(stub_, config, absl::Seconds(1), 540000));
  EXPECT_EQ(stub_.check_calls.load(), 5);
  EXPECT_TRUE(hold_.held());  // the caller decides to resume
}

// ---- Plugin call failures ------------------------------------------------------------

TEST(PluginCallsTest, OnlyCodesThatSayNothingAboutTheEventsAreCallLevel) {
  // Call-level failures pause the whole batch; any other failure may come from one
  // event, so the batch is bisected.
  const std::map<grpc::StatusCode, bool> expected = {
      {grpc::StatusCode::CANCELLED, true},
      {grpc::StatusCode::UNKNOWN, false},
      {grpc::StatusCode::INVALID_ARGUMENT, false},
      {grpc::StatusCode::DEADLINE_EXCEEDED, true},
      {grpc::StatusCode::NOT_FOUND, false},
      {grpc::StatusCode::ALREADY_EXISTS, false},
      {grpc::StatusCode::PERMISSION_DENIED, false},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, false},
      {grpc::StatusCode::FAILED_PRECONDITION, false},
      {grpc::StatusCode::ABORTED, false},
      {grpc::StatusCode::OUT_OF_RANGE, false},
      {grpc::StatusCode::UNIMPLEMENTED, true},
      {grpc::StatusCode::INTERNAL, false},
      {grpc::StatusCode::UNAVAILABLE, true},
      {grpc::StatusCode::DATA_LOSS, false},
      {grpc::StatusCode::UNAUTHENTICATED, false},
  };
  for (const auto& [code, call_level] : expected) {
    EXPECT_EQ(IsCallLevelFailure(code), call_level) << static_cast<int>(code);
  }
}

TEST(PluginCallsTest, EveryCodeIsDescribedByItsNameAndNumber) {
  // These descriptions end up in dead letters and attempt records that operators read.
  const std::vector<std::pair<grpc::StatusCode, std::string>> names = {
      {grpc::StatusCode::OK, "OK (0)"},
      {grpc::StatusCode::CANCELLED, "CANCELLED (1)"},
      {grpc::StatusCode::UNKNOWN, "UNKNOWN (2)"},
      {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT (3)"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED (4)"},
      {grpc::StatusCode::NOT_FOUND, "NOT_FOUND (5)"},
      {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS (6)"},
      {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED (7)"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED (8)"},
      {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION (9)"},
      {grpc::StatusCode::ABORTED, "ABORTED (10)"},
      {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE (11)"},
      {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED (12)"},
      {grpc::StatusCode::INTERNAL, "INTERNAL (13)"},
      {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE (14)"},
      {grpc::StatusCode::DATA_LOSS, "DATA_LOSS (15)"},
      {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED (16)"},
      // A code gRPC does not define (within the enum's range: anything else is UB).
      {static_cast<grpc::StatusCode>(31), "UNKNOWN_CODE (31)"},
  };
  for (const auto& [code, text] : names) {
    EXPECT_EQ(DescribeCallStatus(grpc::Status(code, "")), text);
  }
  EXPECT_EQ(DescribeCallStatus(grpc::Status(grpc::StatusCode::INTERNAL, "Translate threw")),
            "INTERNAL (13): Translate threw");
}

// ---- ThrottledLog ------------------------------------------------------------------

TEST(ThrottledLogTest, OneLinePerIntervalAndACountOfTheRest) {
  std::vector<std::string> lines;
  const std::function<void(std::string_view)> sink = [&](std::string_view line) {
    lines.emplace_back(line);
  };
  ThrottledLog log(1000);
  log.Log("a", 0, sink);
  log.Log("b", 10, sink);
  log.Log("c", 999, sink);
  log.Log("d", 1000, sink);
  log.Log("e", 1500, sink);
  log.Log("f", 2100, sink);
  EXPECT_THAT(lines,
              ElementsAre("a", "d (2 similar lines left out)", "f (1 similar lines left out)"));
}

}  // namespace
}  // namespace signal_host::delivery
