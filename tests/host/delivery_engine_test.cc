// The delivery engine end to end: the real Hightouch plugin loaded through the
// loader, the fake Hightouch on loopback, and a real SQLite store in a temp dir
// (delivery_engine_fixture.h).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "delivery_engine_fixture.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;
using delivery_test::InstallOptions;
using delivery_test::kApiKey;
using delivery_test::kBadWriteKey;
using delivery_test::kWriteKey;
using delivery_test::MessageIdOf;
using delivery_test::PollUntil;
using delivery_test::TrackEvent;
using ::testing::Each;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

using DeliveryEngineTest = delivery_test::DeliveryEngineFixture;

TEST_F(DeliveryEngineTest, DeliversEveryEventExactlyOnce) {
  const std::string id = Install();
  StartEngine();
  const std::vector<std::string> first = Enqueue(id, 130, "a");
  const std::vector<std::string> second = Enqueue(id, 120, "b");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(250, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));

  std::multiset<std::string> expected(first.begin(), first.end());
  expected.insert(second.begin(), second.end());
  EXPECT_EQ(AcceptedMessageIds(), expected);
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  EXPECT_THAT(DeadLetters(id), IsEmpty());

  const std::vector<AttemptRecord> attempts = Attempts(id);
  ASSERT_FALSE(attempts.empty());
  size_t recorded_ids = 0;
  for (const AttemptRecord& attempt : attempts) {
    EXPECT_EQ(attempt.outcome, "delivered");
    EXPECT_EQ(attempt.http_status, 200);
    EXPECT_EQ(attempt.event_types, "track");
    EXPECT_EQ(attempt.attempt, 1u);
    EXPECT_LE(attempt.message_ids.size(), 100u);
    recorded_ids += attempt.message_ids.size();
    EXPECT_THAT(attempt.request, HasSubstr("\"Authorization\":\"***\""));
    EXPECT_THAT(attempt.request, HasSubstr("/v1/batch"));
    EXPECT_THAT(attempt.request, Not(HasSubstr(kWriteKey)));
    EXPECT_THAT(attempt.request, Not(HasSubstr(absl::Base64Escape(absl::StrCat(kWriteKey, ":")))));
  }
  EXPECT_EQ(recorded_ids, 250u);
  ASSERT_TRUE(PollUntil([&] {
    std::lock_guard<std::mutex> lock(listened_mu_);
    return listened_.size() == attempts.size();
  }));

  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("signal_events_delivered_total{integration=\"", id,
                                              "\"} 250\n")));
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("signal_queue_depth{integration=\"", id, "\"} 0\n")));
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("signal_delivery_request_duration_seconds_count{"
                                              "integration=\"",
                                              id, "\"} ", attempts.size(), "\n")));
}

TEST_F(DeliveryEngineTest, UnauthorisedWriteKeyHoldsWithoutLossUntilANewRevision) {
  InstallOptions bad;
  bad.write_key = kBadWriteKey;
  const std::string id = Install(bad);
  EngineOptions options;
  options.credential_probe_interval = absl::Seconds(600);  // only a new revision resumes here
  StartEngine(options);
  const std::vector<std::string> ids = Enqueue(id, 30, "h");
  ASSERT_TRUE(PollUntil([&] { return Status(id).status == "held"; }));

  const IntegrationDeliveryStatus held = Status(id);
  EXPECT_THAT(held.reason, Not(IsEmpty()));
  EXPECT_THAT(held.reason, Not(HasSubstr(kBadWriteKey)));
  EXPECT_GT(held.next_attempt_at_ms, 0);
  auto record = store_->GetIntegration("org_default", id);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->status, "held");
  EXPECT_EQ(record->status_reason, held.reason);
  EXPECT_THAT(DeadLetters(id), IsEmpty());
  EXPECT_EQ(QueueDepth(id), 30u);
  EXPECT_THAT(Attempts(id, "setup_failure"), SizeIs(1));
  EXPECT_THAT(Metrics(), HasSubstr("signal_integrations_held 1\n"));

  // More events and several worker passes: still no request reaches Hightouch.
  const uint64_t requests = BatchRequests();
  Enqueue(id, 10, "h2");
  WaitForWorkerPasses(id, 5);
  EXPECT_EQ(BatchRequests(), requests);
  EXPECT_EQ(QueueDepth(id), 40u);
  // The held events' attempt counts were not burned.
  auto leased = store_->Lease(id, 100, INT64_MAX);
  ASSERT_TRUE(leased.ok());
  EXPECT_THAT(*leased, Each(Field(&QueuedEvent::attempts, 0u)));
  std::vector<int64_t> seqs;
  for (const QueuedEvent& event : *leased) seqs.push_back(event.seq);
  store_->Release(seqs);

  // A new revision with the right key resumes delivery of every held event.
  RevisionRecord fixed = ValidatedRevision(InstallOptions{});
  fixed.integration_id = id;
  fixed.org_id = "org_default";
  ASSERT_TRUE(store_->AddRevision(fixed).ok());
  ASSERT_TRUE(engine_->Refresh(id).ok());
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(40, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(Status(id).status, "active");
  EXPECT_EQ(Status(id).revision, 2);
  EXPECT_EQ(store_->GetIntegration("org_default", id)->status, "active");
  EXPECT_EQ(AcceptedMessageIds().size(), 40u);
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  EXPECT_THAT(Metrics(), HasSubstr("signal_integrations_held 0\n"));
}

TEST_F(DeliveryEngineTest, SetupFailureResumesAfterASuccessfulCredentialProbe) {
  const std::string id = Install();
  EngineOptions options;
  options.credential_probe_interval = absl::Milliseconds(300);
  StartEngine(options);
  // Hightouch answers 401 once (keys revoked, say), then accepts again.
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[401]})").ok());
  const std::vector<std::string> ids = Enqueue(id, 25, "p");
  ASSERT_TRUE(PollUntil([&] { return !Attempts(id, "setup_failure").empty(); }));
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(25, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0 && Status(id).status == "active"; }));
  EXPECT_EQ(store_->GetIntegration("org_default", id)->status, "active");
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
  EXPECT_THAT(DeadLetters(id), IsEmpty());
}

TEST_F(DeliveryEngineTest, ThrottleWithRetryAfterSecondsWaitsBeforeTheNextRequest) {
  const std::string id = Install();
  StartEngine();
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[429],"retry_after":"2"})").ok());
  const std::vector<std::string> ids = Enqueue(id, 50, "t");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(50, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));

  const std::vector<AttemptRecord> attempts = Attempts(id);
  ASSERT_THAT(attempts, SizeIs(2));
  EXPECT_EQ(attempts[0].outcome, "throttle");
  EXPECT_EQ(attempts[0].http_status, 429);
  EXPECT_EQ(attempts[1].outcome, "delivered");
  EXPECT_EQ(attempts[1].attempt, 2u);
  EXPECT_GE(attempts[1].created_at_ms, attempts[0].created_at_ms + 2000);
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
  EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat("signal_delivery_retries_total{integration=\"", id,
                                                "\",status_class=\"4xx\"} 1\n")));
}

TEST_F(DeliveryEngineTest, ThrottleWithRetryAfterDateHoldsEveryRequestUntilTheDate) {
  const std::string id = Install();
  StartEngine();
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[429],"retry_after_http_date_in_s":2})").ok());
  Enqueue(id, 40, "d");
  ASSERT_TRUE(PollUntil([&] { return !Attempts(id, "throttle").empty(); }));
  // Events arriving during the pause wait for it too.
  Enqueue(id, 40, "e");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(80, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));

  const std::vector<AttemptRecord> attempts = Attempts(id);
  ASSERT_GE(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome, "throttle");
  for (size_t i = 1; i < attempts.size(); ++i) {
    EXPECT_EQ(attempts[i].outcome, "delivered");
    EXPECT_GE(attempts[i].created_at_ms, attempts[0].created_at_ms + 2000) << "attempt " << i;
  }
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
}

TEST_F(DeliveryEngineTest, ServerErrorStormThenRecoveryDeliversEverything) {
  InstallOptions options;
  options.tweak = [](v1::DeliverySettings& settings) {
    settings.mutable_retry()->set_max_attempts(20);
  };
  const std::string id = Install(options);
  StartEngine();
  ASSERT_TRUE(
      fake_->SetFaults(R"({"statuses":[500,503,502,500,504,500,503,500],"reset_connections":2})")
          .ok());
  const std::vector<std::string> ids = Enqueue(id, 300, "s");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(300, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
  EXPECT_THAT(DeadLetters(id), IsEmpty());
  EXPECT_GE(Attempts(id, "transient").size(), 10u);
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("signal_delivery_retries_total{integration=\"", id,
                                              "\",status_class=\"5xx\"}")));
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("signal_delivery_retries_total{integration=\"", id,
                                              "\",status_class=\"network\"}")));
}

TEST_F(DeliveryEngineTest, OnePoisonEventInABatchIsIsolatedBySplitting) {
  const std::string id = Install();
  StartEngine();
  ASSERT_TRUE(fake_->SetFaults(R"({"poison_message_ids":["x-37"]})").ok());
  const std::vector<std::string> ids = Enqueue(id, 100, "x");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(99, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));

  const std::vector<DeadLetter> dead = DeadLetters(id);
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].message_id, "x-37");
  EXPECT_EQ(dead[0].last_status, 400);
  EXPECT_THAT(dead[0].reason, Not(IsEmpty()));
  EXPECT_EQ(dead[0].attempts, 1u);
  std::multiset<std::string> expected(ids.begin(), ids.end());
  expected.erase("x-37");
  EXPECT_EQ(AcceptedMessageIds(), expected);
  EXPECT_FALSE(Attempts(id, "split").empty());
  EXPECT_THAT(Attempts(id, "reject"), SizeIs(1));
  EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat("signal_events_dead_lettered_total{integration=\"",
                                                id, "\",reason=\"", dead[0].reason, "\"} 1\n")));
}

TEST_F(DeliveryEngineTest, PluginRejectionsAreDeadLetteredWithThePluginsReason) {
  const std::string id = Install();
  StartEngine();
  const std::string good = TrackEvent("ok-1", 1);
  const std::string anonymous =
      R"({"type":"track","event":"Signed Up","messageId":"no-identity","timestamp":"2026-01-02T03:04:05.678Z"})";
  const std::string nameless =
      R"({"type":"track","userId":"u","messageId":"no-name","timestamp":"2026-01-02T03:04:05.678Z"})";
  const std::string malformed = R"({"type":"track","messageId":"broken","userId":)";
  const std::string oversized = absl::StrCat(
      R"({"type":"track","event":"Big","userId":"u","messageId":"too-big","timestamp":"2026-01-02T03:04:05.678Z","properties":{"blob":")",
      std::string(40 * 1024, 'z'), R"("}})");
  EnqueuePayloads(id, {good, anonymous, nameless, malformed, oversized});
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(1, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));

  std::map<std::string, std::string> reason_by_id;
  for (const DeadLetter& dead : DeadLetters(id)) reason_by_id[dead.message_id] = dead.reason;
  EXPECT_EQ(reason_by_id["no-identity"], "missing_identity");
  EXPECT_EQ(reason_by_id["no-name"], "missing_event_name");
  EXPECT_EQ(reason_by_id["too-big"], "event_too_large");
  EXPECT_EQ(reason_by_id.size(), 4u);
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>{"ok-1"});
  const std::vector<AttemptRecord> rejected = Attempts(id, "reject");
  EXPECT_FALSE(rejected.empty());
  for (const AttemptRecord& attempt : rejected) EXPECT_EQ(attempt.http_status, 0);
  EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat("signal_events_rejected_total{integration=\"", id,
                                                "\",reason=\"missing_identity\"} 1\n")));
}

TEST_F(DeliveryEngineTest, RetriesContinueUntilBothAttemptsAndWindowAreExhausted) {
  // Many attempts allowed but a zero window: dead-lettered after the attempts.
  InstallOptions attempts_bound;
  attempts_bound.tweak = [](v1::DeliverySettings& settings) {
    settings.mutable_retry()->set_max_attempts(3);
    settings.mutable_retry()->set_retry_window_s(0);
  };
  const std::string quick = Install(attempts_bound, "quick");
  // Few attempts allowed but an hour's window: kept retrying.
  InstallOptions window_bound;
  window_bound.tweak = [](v1::DeliverySettings& settings) {
    settings.mutable_retry()->set_max_attempts(2);
    settings.mutable_retry()->set_retry_window_s(3600);
  };
  const std::string patient = Install(window_bound, "patient");
  StartEngine();
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[500],"repeat":true})").ok());
  Enqueue(quick, 5, "q");
  Enqueue(patient, 5, "w");

  ASSERT_TRUE(PollUntil([&] { return DeadLetters(quick).size() == 5; }));
  for (const DeadLetter& dead : DeadLetters(quick)) {
    EXPECT_EQ(dead.reason, "retries_exhausted");
    EXPECT_EQ(dead.attempts, 3u);
    EXPECT_EQ(dead.last_status, 500);
  }
  EXPECT_THAT(Attempts(quick, "transient"), SizeIs(3));

  ASSERT_TRUE(PollUntil([&] { return Attempts(patient, "transient").size() >= 4; }));
  EXPECT_THAT(DeadLetters(patient), IsEmpty());
  EXPECT_EQ(QueueDepth(patient), 5u);

  // Once Hightouch recovers, the patient integration's events all arrive.
  fake_->ClearFaults();
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(patient) == 0; }));
  EXPECT_EQ(AcceptedMessageIds().size(), 5u);
}

TEST_F(DeliveryEngineTest, StopFinishesRequestsInFlightAndCommitsThem) {
  const std::string id = Install();
  StartEngine();
  ASSERT_TRUE(fake_->SetFaults(R"({"latency_ms":400})").ok());
  Enqueue(id, 100, "f");
  ASSERT_TRUE(PollUntil([&] { return Status(id).requests_in_flight > 0; }));
  engine_->Stop();
  EXPECT_EQ(QueueDepth(id), 0u);
  EXPECT_EQ(fake_->GetStats().events_accepted, 100u);
  EXPECT_THAT(Attempts(id, "delivered"), SizeIs(1));
}

TEST_F(DeliveryEngineTest, StopReleasesUnsentEventsAndANewEngineDeliversThem) {
  const std::string id = Install();
  EngineOptions options;
  options.credential_probe_interval = absl::Seconds(600);
  StartEngine(options);
  Enqueue(id, 20, "r");  // waits up to the batch interval before it is sent
  engine_->Stop();
  engine_.reset();
  const uint64_t accepted = fake_->GetStats().events_accepted;
  EXPECT_EQ(QueueDepth(id), 20u - accepted);

  StartEngine();
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(20, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
}

TEST_F(DeliveryEngineTest, DeletedIntegrationIsRetiredOnRefresh) {
  const std::string id = Install();
  StartEngine();
  Enqueue(id, 5, "z");
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  ASSERT_TRUE(store_->DeleteIntegration("org_default", id).ok());
  ASSERT_TRUE(engine_->Refresh(id).ok());
  EXPECT_EQ(engine_->IntegrationStatus(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(engine_->AllStatuses().empty());
  // Notifying an unknown integration is harmless.
  engine_->Notify(id);
  engine_->Notify("tmpl_unknown");
}

TEST_F(DeliveryEngineTest, NewInstallStartsDeliveringAfterRefresh) {
  StartEngine();
  EXPECT_TRUE(engine_->AllStatuses().empty());
  const std::string id = Install();
  ASSERT_TRUE(engine_->Refresh(id).ok());
  const std::vector<std::string> ids = Enqueue(id, 10, "n");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(10, absl::Seconds(15)));
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
}

TEST_F(DeliveryEngineTest, IntegrationWithoutAPluginWaitsWithItsEvents) {
  IntegrationRecord integration;
  integration.org_id = "org_default";
  integration.name = "Unknown vendor";
  integration.vendor = "not_loaded";
  RevisionRecord revision = ValidatedRevision(InstallOptions{});
  ASSERT_TRUE(store_->CreateIntegration(integration, revision).ok());
  StartEngine();
  EnqueuePayloads(integration.id, {TrackEvent("u-1", 1)});
  WaitForWorkerPasses(integration.id, 3);
  const IntegrationDeliveryStatus status = Status(integration.id);
  EXPECT_EQ(status.status, "held");
  EXPECT_THAT(status.reason, HasSubstr("not_loaded"));
  EXPECT_EQ(QueueDepth(integration.id), 1u);
  EXPECT_EQ(BatchRequests(), 0u);
}

TEST_F(DeliveryEngineTest, UnreadableDeliverySettingsFallBackToWorkableDefaults) {
  IntegrationRecord integration;
  integration.org_id = "org_default";
  integration.name = "Garbled";
  integration.vendor = "hightouch";
  RevisionRecord revision = ValidatedRevision(InstallOptions{});
  revision.delivery_settings = "\xff\xff\xff not a protobuf";
  ASSERT_TRUE(store_->CreateIntegration(integration, revision).ok());
  StartEngine();
  Enqueue(integration.id, 3, "g");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(3, absl::Seconds(15)));
  bool warned = false;
  for (const std::string& line : logs())
    warned |= line.find("unreadable delivery settings") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST_F(DeliveryEngineTest, StartTwiceAndRefreshBeforeStartAreRefused) {
  const std::string id = Install();
  DeliveryEngine idle(store_.get(), nullptr, nullptr);
  EXPECT_EQ(idle.Refresh(id).code(), absl::StatusCode::kFailedPrecondition);
  StartEngine();
  EXPECT_EQ(engine_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

// With several hosts consuming one topic, each may use only its share of the
// vendor's rate limit (DeliveryQueue::RateShare): the token bucket follows it.
TEST_F(DeliveryEngineTest, TheQueuesRateShareScalesTheTokenBucket) {
  delivery_test::FaultyQueue& queue = UseFaultyQueue();
  queue.rate_share = 0.2;  // 50 requests/s, burst 10 -> 10/s, burst 2
  InstallOptions options;
  options.batch_size = 1;  // one event a request
  options.tweak = [](v1::DeliverySettings& settings) {
    settings.set_rate_limit_rps(50);
    settings.set_rate_limit_burst(10);
    settings.set_batch_interval_ms(0);
  };
  const std::string id = Install(options);
  const auto started = std::chrono::steady_clock::now();
  StartEngine();
  Enqueue(id, 60, "share");
  ASSERT_TRUE(PollUntil([&] { return BatchRequests() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const uint64_t sent = BatchRequests();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // The bucket allows its burst plus rate x time; at the full share all 60 would be out
  // by now (10 + 50/s).
  EXPECT_LE(sent, static_cast<uint64_t>(2 + 10 * elapsed + 1)) << "after " << elapsed << " s";
  EXPECT_LT(sent, 60u);

  queue.rate_share = 1.0;  // the other host left the group
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(60, absl::Seconds(15)));
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
}

}  // namespace
}  // namespace signal_host::delivery
