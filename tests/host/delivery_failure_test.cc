// The delivery engine's failure paths end to end: a plugin whose Translate or
// Classify fails (scripted over the real plugin), events too large for one
// Translate call, and a store that cannot write outcomes or lease (a FaultyQueue over
// the real SQLite store). Each must end in delivered or dead-lettered events with
// attempts counted, without a loop that floods the plugin, the vendor or the log.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "delivery_engine_fixture.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;
using delivery_test::InstallOptions;
using delivery_test::MessageIdOf;
using delivery_test::PollUntil;
using delivery_test::TrackEvent;
using ::testing::Each;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using DeliveryFailureTest = delivery_test::DeliveryEngineFixture;

InstallOptions RetryPolicy(uint32_t max_attempts, uint64_t window_s, int batch_size = 100) {
  InstallOptions options;
  options.batch_size = batch_size;
  options.tweak = [=](v1::DeliverySettings& settings) {
    settings.mutable_retry()->set_max_attempts(max_attempts);
    settings.mutable_retry()->set_retry_window_s(window_s);
    settings.mutable_retry()->set_initial_backoff_ms(20);
    settings.mutable_retry()->set_max_backoff_ms(200);
  };
  return options;
}

// A track event carrying `blob_bytes` of properties.
std::string BigEvent(const std::string& message_id, size_t blob_bytes) {
  return absl::StrCat(R"({"type":"track","event":"Big","userId":"u","messageId":")", message_id,
                      R"(","timestamp":"2026-01-02T03:04:05.678Z","properties":{"blob":")",
                      std::string(blob_bytes, 'z'), R"("}})");
}

bool AnyEventContains(const v1::TranslateRequest& request, absl::string_view needle) {
  for (const std::string& event : request.events()) {
    if (absl::StrContains(event, needle)) return true;
  }
  return false;
}

size_t CountLogLines(const std::vector<std::string>& lines, absl::string_view needle) {
  size_t count = 0;
  for (const std::string& line : lines) count += absl::StrContains(line, needle) ? 1 : 0;
  return count;
}

TEST_F(DeliveryFailureTest, TranslateThatAlwaysFailsDeadLettersAfterThePolicyWithoutALoop) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  stub.SetTranslate([](const v1::TranslateRequest&, v1::TranslateResponse*) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "Translate failed: boom");
  });
  const std::string id = Install(RetryPolicy(/*max_attempts=*/3, /*window_s=*/0));
  StartEngine();
  const std::vector<std::string> ids = Enqueue(id, 10, "tf");

  ASSERT_TRUE(PollUntil([&] { return DeadLetters(id).size() == 10; }));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  for (const DeadLetter& dead : DeadLetters(id)) {
    EXPECT_EQ(dead.reason, "translate_failed");
    EXPECT_EQ(dead.attempts, 3u);
    EXPECT_THAT(dead.message, HasSubstr("INTERNAL"));
    EXPECT_THAT(dead.message, HasSubstr("boom"));
    EXPECT_EQ(dead.last_status, 0);
  }
  // One attempt record per failed round, naming every event, for Live Events.
  const std::vector<AttemptRecord> attempts = Attempts(id, "transient");
  ASSERT_THAT(attempts, SizeIs(3));
  for (size_t i = 0; i < attempts.size(); ++i) {
    EXPECT_EQ(attempts[i].attempt, i + 1);
    EXPECT_THAT(attempts[i].message_ids, SizeIs(10));
    EXPECT_THAT(attempts[i].message, HasSubstr("translate_failed"));
  }
  // Each round bisects the batch down to single events: at most 2n-1 calls.
  const int calls = stub.translate_calls.load();
  EXPECT_GE(calls, 3);
  EXPECT_LE(calls, 3 * (2 * 10 - 1));
  // Nothing is left to try: more passes make no more calls.
  WaitForWorkerPasses(id, 5);
  EXPECT_EQ(stub.translate_calls.load(), calls);
  EXPECT_EQ(BatchRequests(), 0u);
  EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat("signal_events_dead_lettered_total{integration=\"",
                                                id, "\",reason=\"translate_failed\"} 10\n")));
}

TEST_F(DeliveryFailureTest, PluginThatIsDownBacksOffAndLosesNothing) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  stub.SetTranslate([](const v1::TranslateRequest&, v1::TranslateResponse*) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused");
  });
  // The window keeps every event alive however many attempts it takes.
  const std::string id = Install(RetryPolicy(/*max_attempts=*/2, /*window_s=*/3600));
  StartEngine();
  const std::vector<std::string> ids = Enqueue(id, 300, "down");
  ASSERT_TRUE(PollUntil([&] { return Attempts(id, "transient").size() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  // A plugin that does not answer is not bisected, and the integration waits longer
  // after each failure (20 ms doubling to 200 ms here): a handful of calls, not a loop.
  // Read in this order, an attempt of the call in progress can only be missing.
  const std::vector<AttemptRecord> attempts = Attempts(id, "transient");
  const int calls = stub.translate_calls.load();
  EXPECT_LE(calls, 30);
  EXPECT_LE(attempts.size(), static_cast<size_t>(calls));
  EXPECT_GE(attempts.size() + 1, static_cast<size_t>(calls));
  for (const AttemptRecord& attempt : attempts) {
    EXPECT_THAT(attempt.message_ids, SizeIs(100));
    EXPECT_THAT(attempt.message, HasSubstr("UNAVAILABLE"));
  }
  EXPECT_THAT(DeadLetters(id), IsEmpty());
  EXPECT_EQ(QueueDepth(id), 300u);
  EXPECT_LE(CountLogLines(logs(), "Translate failed"), 3u);

  // The plugin is back: everything is delivered, once.
  stub.SetTranslate(nullptr);
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(300, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  EXPECT_THAT(DeadLetters(id), IsEmpty());
}

TEST_F(DeliveryFailureTest, ANewRevisionEndsThePluginsBackoff) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  std::atomic<bool> broken{true};
  v1::Integration::StubInterface* real = plugin_->stub();
  stub.SetTranslate([&broken, real](const v1::TranslateRequest& request,
                                    v1::TranslateResponse* response) {
    if (broken.load()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid config");
    grpc::ClientContext context;
    return real->Translate(&context, request, response);
  });
  // Every call fails: after one failed batch the integration waits 5 s.
  InstallOptions options = RetryPolicy(/*max_attempts=*/5, /*window_s=*/3600);
  options.tweak = [](v1::DeliverySettings& settings) {
    settings.mutable_retry()->set_max_attempts(5);
    settings.mutable_retry()->set_retry_window_s(3600);
    settings.mutable_retry()->set_initial_backoff_ms(5000);
    settings.mutable_retry()->set_max_backoff_ms(60000);
  };
  const std::string id = Install(options);
  StartEngine();
  Enqueue(id, 20, "cfg");
  ASSERT_TRUE(PollUntil([&] { return Attempts(id, "transient").size() == 1; }));
  const int calls = stub.translate_calls.load();
  EXPECT_LE(calls, 2 * 20 - 1);  // bisected once, then waiting

  // The operator fixes the config: new events go out at once, not after the pause.
  broken = false;
  RevisionRecord fixed = ValidatedRevision(options);
  fixed.integration_id = id;
  fixed.org_id = "org_default";
  ASSERT_TRUE(store_->AddRevision(fixed).ok());
  ASSERT_TRUE(engine_->Refresh(id).ok());
  const std::vector<std::string> fresh = Enqueue(id, 5, "fresh");
  ASSERT_TRUE(PollUntil([&] { return fake_->GetStats().events_accepted >= 5; },
                        std::chrono::milliseconds(3000)));
  std::multiset<std::string> accepted = AcceptedMessageIds();
  for (const std::string& message_id : fresh) EXPECT_EQ(accepted.count(message_id), 1u);
  EXPECT_THAT(DeadLetters(id), IsEmpty());
}

TEST_F(DeliveryFailureTest, OnePoisonousEventIsBisectedOutAndTheOthersDelivered) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  v1::Integration::StubInterface* real = plugin_->stub();
  stub.SetTranslate([real](const v1::TranslateRequest& request, v1::TranslateResponse* response) {
    if (AnyEventContains(request, "poison-")) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "Translate failed: choked on an event");
    }
    grpc::ClientContext context;
    return real->Translate(&context, request, response);
  });
  const std::string id = Install(RetryPolicy(/*max_attempts=*/2, /*window_s=*/0));
  StartEngine();
  std::vector<std::string> payloads;
  std::multiset<std::string> good;
  for (int i = 0; i < 40; ++i) {
    const std::string message_id = i == 17 ? "poison-17" : absl::StrCat("ok-", i);
    payloads.push_back(TrackEvent(message_id, i));
    if (i != 17) good.insert(message_id);
  }
  EnqueuePayloads(id, payloads);

  ASSERT_TRUE(fake_->WaitForAcceptedEvents(39, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(AcceptedMessageIds(), good);
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  const std::vector<DeadLetter> dead = DeadLetters(id);
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].message_id, "poison-17");
  EXPECT_EQ(dead[0].reason, "translate_failed");
  EXPECT_EQ(dead[0].attempts, 2u);
  EXPECT_THAT(dead[0].message, HasSubstr("choked on an event"));
  // Only the poisonous event's attempts are failures.
  for (const AttemptRecord& attempt : Attempts(id, "transient")) {
    EXPECT_EQ(attempt.message_ids, std::vector<std::string>{"poison-17"});
  }
}

TEST_F(DeliveryFailureTest, EventsLeftOutOfTranslateAreCountedNotResentAtOnce) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  v1::Integration::StubInterface* real = plugin_->stub();
  // The plugin silently drops the event named "lost-3" from its answer.
  stub.SetTranslate([real](const v1::TranslateRequest& request, v1::TranslateResponse* response) {
    v1::TranslateRequest kept = request;
    kept.clear_events();
    std::vector<uint32_t> original;
    for (int i = 0; i < request.events_size(); ++i) {
      if (absl::StrContains(request.events(i), "lost-3")) continue;
      kept.add_events(request.events(i));
      original.push_back(static_cast<uint32_t>(i));
    }
    grpc::ClientContext context;
    grpc::Status status = real->Translate(&context, kept, response);
    for (v1::HttpRequest& http : *response->mutable_requests()) {
      for (uint32_t& index : *http.mutable_event_indexes()) index = original[index];
    }
    for (v1::Rejection& rejection : *response->mutable_rejections()) {
      rejection.set_event_index(original[rejection.event_index()]);
    }
    return status;
  });
  const std::string id = Install(RetryPolicy(/*max_attempts=*/3, /*window_s=*/0));
  StartEngine();
  Enqueue(id, 8, "lost");

  ASSERT_TRUE(fake_->WaitForAcceptedEvents(7, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  const std::vector<DeadLetter> dead = DeadLetters(id);
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].message_id, "lost-3");
  EXPECT_EQ(dead[0].reason, "translate_incomplete");
  EXPECT_EQ(dead[0].attempts, 3u);
  // One Translate for the batch, then one per retry of the lost event.
  EXPECT_LE(stub.translate_calls.load(), 1 + 3);
}

TEST_F(DeliveryFailureTest, ClassifyThatFailsSplitsThenDeadLettersAsClassifyFailed) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  v1::Integration::StubInterface* real = plugin_->stub();
  // Classify breaks on any answer to a request of more than one event, and on every
  // answer once the test says so.
  std::atomic<bool> always{false};
  stub.SetClassify(
      [real, &always](const v1::ClassifyRequest& request, v1::ClassifyResponse* response) {
        if (always.load() || request.event_count() > 1) {
          return grpc::Status(grpc::StatusCode::INTERNAL, "Classify failed: bad body");
        }
        grpc::ClientContext context;
        return real->Classify(&context, request, response);
      });
  const std::string id = Install(RetryPolicy(/*max_attempts=*/2, /*window_s=*/0));
  StartEngine();
  const std::vector<std::string> ids = Enqueue(id, 4, "cf");
  // Split down to single events, each of which is classified and delivered.
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_THAT(DeadLetters(id), IsEmpty());
  EXPECT_THAT(Attempts(id, "delivered"), SizeIs(4));
  EXPECT_FALSE(Attempts(id, "split").empty());

  // A single event whose answer cannot be classified: counted, then given up.
  always = true;
  Enqueue(id, 1, "never");
  ASSERT_TRUE(PollUntil([&] { return DeadLetters(id).size() == 1; }));
  const DeadLetter dead = DeadLetters(id).front();
  EXPECT_EQ(dead.message_id, "never-0");
  EXPECT_EQ(dead.reason, "classify_failed");
  EXPECT_EQ(dead.attempts, 2u);
  EXPECT_THAT(dead.message, HasSubstr("INTERNAL"));
  EXPECT_EQ(dead.last_status, 200);
}

TEST_F(DeliveryFailureTest, OversizedEventIsDeadLetteredWithoutReachingThePlugin) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  v1::Integration::StubInterface* real = plugin_->stub();
  std::atomic<size_t> largest_event{0};
  std::atomic<size_t> largest_call{0};
  stub.SetTranslate(
      [&, real](const v1::TranslateRequest& request, v1::TranslateResponse* response) {
        size_t total = 0;
        for (const std::string& event : request.events()) {
          total += event.size();
          if (event.size() > largest_event.load()) largest_event = event.size();
        }
        if (total > largest_call.load()) largest_call = total;
        grpc::ClientContext context;
        return real->Translate(&context, request, response);
      });
  const std::string id = Install();
  EngineOptions options;
  options.max_translate_bytes = 64 * 1024;
  StartEngine(options);
  std::vector<std::string> payloads;
  std::multiset<std::string> small;
  for (int i = 0; i < 30; ++i) {
    if (i == 11) {
      payloads.push_back(BigEvent("huge-11", 100 * 1024));
      continue;
    }
    // 3 KB each: 30 of them do not fit in one 64 KB call.
    payloads.push_back(BigEvent(absl::StrCat("s-", i), 3 * 1024));
    small.insert(absl::StrCat("s-", i));
  }
  EnqueuePayloads(id, payloads);

  ASSERT_TRUE(fake_->WaitForAcceptedEvents(29, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(AcceptedMessageIds(), small);
  const std::vector<DeadLetter> dead = DeadLetters(id);
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].message_id, "huge-11");
  EXPECT_EQ(dead[0].reason, "event_too_large");
  EXPECT_THAT(dead[0].message, HasSubstr("65536"));
  EXPECT_LT(largest_event.load(), 64u * 1024);
  EXPECT_LE(largest_call.load(), 64u * 1024);
  EXPECT_GE(stub.translate_calls.load(), 2);
  EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat("signal_events_rejected_total{integration=\"", id,
                                                "\",reason=\"event_too_large\"} 1\n")));
}

TEST_F(DeliveryFailureTest, ManyLargeEventsAreTranslatedInSeveralCallsAndNeverWedge) {
  delivery_test::ScriptedStub& stub = UseScriptedStub();
  std::atomic<size_t> largest_call{0};
  v1::Integration::StubInterface* real = plugin_->stub();
  stub.SetTranslate(
      [&, real](const v1::TranslateRequest& request, v1::TranslateResponse* response) {
        const size_t bytes = request.ByteSizeLong();
        if (bytes > largest_call.load()) largest_call = bytes;
        grpc::ClientContext context;
        return real->Translate(&context, request, response);
      });
  // Hightouch's largest batch: 150 events of 480 KB (72 MB) would be one call of more
  // than gRPC's 64 MiB limit if batches were cut by count alone.
  const std::string id = Install(RetryPolicy(/*max_attempts=*/3, /*window_s=*/0, 500));
  StartEngine();
  for (int chunk = 0; chunk < 3; ++chunk) {
    std::vector<std::string> payloads;
    for (int i = 0; i < 50; ++i) {
      payloads.push_back(BigEvent(absl::StrCat("big-", chunk * 50 + i), 480 * 1000));
    }
    EnqueuePayloads(id, payloads);
  }
  const std::vector<std::string> after = Enqueue(id, 20, "after");

  ASSERT_TRUE(fake_->WaitForAcceptedEvents(20, absl::Seconds(30)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }, std::chrono::seconds(30)));
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(after.begin(), after.end()));
  // Every large event is accounted for: Hightouch takes at most 32 KB per event, so
  // the plugin rejects each one.
  const std::vector<DeadLetter> dead = DeadLetters(id);
  EXPECT_THAT(dead, SizeIs(150));
  EXPECT_THAT(dead, Each(Field(&DeadLetter::reason, "event_too_large")));
  EXPECT_GE(stub.translate_calls.load(), 5);
  EXPECT_LE(largest_call.load(), (16u << 20) + 64 * 1024);
}

// ---- The store fails -------------------------------------------------------------

EngineOptions QuickStoreRetries() {
  EngineOptions options;
  options.store_retry_initial = absl::Milliseconds(50);
  options.store_retry_max = absl::Milliseconds(400);
  return options;
}

TEST_F(DeliveryFailureTest, DeliveredOutcomesThatCannotBeStoredAreNotSentAgain) {
  delivery_test::FaultyQueue& queue = UseFaultyQueue();
  const std::string id = Install();
  queue.fail_writes = true;  // the disk is full
  StartEngine(QuickStoreRetries());
  const std::vector<std::string> ids = Enqueue(id, 300, "full");

  ASSERT_TRUE(fake_->WaitForAcceptedEvents(300, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return !engine_->StoreHealth().ok(); }));
  // One request per batch of 100 (the fake counts a request once it has answered).
  ASSERT_TRUE(PollUntil([&] { return BatchRequests() == 3; }));
  const uint64_t requests = BatchRequests();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(BatchRequests(), requests);
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  EXPECT_EQ(QueueDepth(id), 300u);
  const IntegrationDeliveryStatus status = Status(id);
  EXPECT_THAT(status.store_error, HasSubstr("disk is full"));
  EXPECT_THAT(std::string(engine_->StoreHealth().message()), HasSubstr(id));
  // One log line per backoff step (50 ms doubling to 400 ms: about 6 in 1.5 s).
  EXPECT_LE(CountLogLines(logs(), "the store could not"), 10u);
  EXPECT_GE(queue.failed_writes.load(), 3);
  EXPECT_LE(queue.failed_writes.load(), 20);

  // The disk has room again: the outcomes are written, nothing is sent again.
  queue.fail_writes = false;
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  ASSERT_TRUE(PollUntil([&] { return engine_->StoreHealth().ok(); }));
  EXPECT_EQ(BatchRequests(), requests);
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(fake_->GetStats().duplicate_message_ids, 0u);
  EXPECT_THAT(Status(id).store_error, IsEmpty());
  size_t recorded = 0;
  for (const AttemptRecord& attempt : Attempts(id, "delivered")) {
    recorded += attempt.message_ids.size();
  }
  EXPECT_EQ(recorded, 300u);
  EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat("signal_events_delivered_total{integration=\"", id,
                                                "\"} 300\n")));
  EXPECT_EQ(CountLogLines(logs(), "the store works again"), 1u);
}

TEST_F(DeliveryFailureTest, RetriesThatCannotBeScheduledAreNotSentInALoop) {
  delivery_test::FaultyQueue& queue = UseFaultyQueue();
  const std::string id = Install(RetryPolicy(/*max_attempts=*/20, /*window_s=*/0));
  ASSERT_TRUE(fake_->SetFaults(R"({"statuses":[500],"repeat":true})").ok());
  queue.fail_writes = true;
  StartEngine(QuickStoreRetries());
  const std::vector<std::string> ids = Enqueue(id, 50, "r");

  ASSERT_TRUE(PollUntil([&] { return BatchRequests() >= 1 && !engine_->StoreHealth().ok(); }));
  const uint64_t requests = BatchRequests();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(BatchRequests(), requests);

  // Hightouch first, so that the retry the kept outcome schedules meets a working one.
  fake_->ClearFaults();
  queue.fail_writes = false;
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(50, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
  EXPECT_THAT(DeadLetters(id), IsEmpty());
  // The failed attempt was kept and written late: it counts.
  const std::vector<AttemptRecord> delivered = Attempts(id, "delivered");
  ASSERT_THAT(delivered, SizeIs(1));
  EXPECT_EQ(delivered[0].attempt, 2u);
  EXPECT_THAT(Attempts(id, "transient"), SizeIs(1));
}

TEST_F(DeliveryFailureTest, FailingLeasesBackOffWhateverTheNotifications) {
  delivery_test::FaultyQueue& queue = UseFaultyQueue();
  const std::string id = Install();
  queue.fail_leases = true;
  StartEngine(QuickStoreRetries());
  const std::vector<std::string> ids = Enqueue(id, 20, "l");
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  while (std::chrono::steady_clock::now() < until) {
    engine_->Notify(id);  // as a busy event API would
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_FALSE(engine_->StoreHealth().ok());
  EXPECT_GE(queue.failed_leases.load(), 2);
  EXPECT_LE(queue.failed_leases.load(), 12);
  EXPECT_LE(CountLogLines(logs(), "could not lease events"), 12u);

  queue.fail_leases = false;
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(20, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return engine_->StoreHealth().ok(); }));
  EXPECT_EQ(AcceptedMessageIds(), std::multiset<std::string>(ids.begin(), ids.end()));
}

TEST_F(DeliveryFailureTest, AHoldThatCannotBeSavedIsSavedOnceTheStoreWorks) {
  delivery_test::FaultyQueue& queue = UseFaultyQueue();
  InstallOptions bad;
  bad.write_key = delivery_test::kBadWriteKey;
  const std::string id = Install(bad);
  EngineOptions options = QuickStoreRetries();
  options.credential_probe_interval = absl::Seconds(600);
  queue.fail_writes = true;
  StartEngine(options);
  Enqueue(id, 5, "h");
  ASSERT_TRUE(PollUntil([&] { return Status(id).status == "held"; }));
  ASSERT_TRUE(PollUntil([&] { return BatchRequests() == 1; }));
  const uint64_t requests = BatchRequests();
  EXPECT_EQ(store_->GetIntegration("org_default", id)->status, "active");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(BatchRequests(), requests);

  queue.fail_writes = false;
  ASSERT_TRUE(
      PollUntil([&] { return store_->GetIntegration("org_default", id)->status == "held"; }));
  EXPECT_THAT(Attempts(id, "setup_failure"), SizeIs(1));
  EXPECT_EQ(QueueDepth(id), 5u);
  EXPECT_THAT(DeadLetters(id), IsEmpty());
  ASSERT_TRUE(PollUntil([&] { return engine_->StoreHealth().ok(); }));
}

TEST_F(DeliveryFailureTest, StopWithTheStoreStillFailingReleasesTheKeptEvents) {
  delivery_test::FaultyQueue& queue = UseFaultyQueue();
  const std::string id = Install();
  queue.fail_writes = true;
  StartEngine(QuickStoreRetries());
  Enqueue(id, 10, "s");
  ASSERT_TRUE(fake_->WaitForAcceptedEvents(10, absl::Seconds(15)));
  ASSERT_TRUE(PollUntil([&] { return !engine_->StoreHealth().ok(); }));
  engine_->Stop();
  engine_.reset();
  // Still queued, and leasable again: delivered again after a restart (at-least-once).
  EXPECT_EQ(QueueDepth(id), 10u);
  queue.fail_writes = false;
  auto leased = store_->Lease(id, 100, INT64_MAX);
  ASSERT_TRUE(leased.ok());
  EXPECT_THAT(*leased, SizeIs(10));
}

}  // namespace
}  // namespace signal_host::delivery
