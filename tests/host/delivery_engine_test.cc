// The delivery engine end to end: the real Hightouch plugin loaded through the
// loader, the fake Hightouch on loopback, and a real SQLite store in a temp dir.

#include "host/delivery/delivery_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fake_hightouch.h"
#include "grpcpp/client_context.h"
#include "host/crypto/secret_box.h"
#include "host/loader/plugin_loader.h"
#include "host/metrics/host_metrics.h"
#include "host/store/store.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;
using ::testing::Each;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kWriteKey[] = "wk_good_0123456789";
constexpr char kBadWriteKey[] = "wk_wrong_9876543210";
constexpr char kApiKey[] = "ak_good_0123456789";

// Polls `condition` until it holds or `timeout` passes.
bool PollUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

std::string TrackEvent(const std::string& message_id, int index) {
  return absl::StrCat(R"({"type":"track","event":"Order Completed","userId":"user-)", index % 7,
                      R"(","messageId":")", message_id,
                      R"(","timestamp":"2026-01-02T03:04:05.678Z","properties":{"index":)", index,
                      R"(,"total":19.99}})");
}

std::string MessageIdOf(const std::string& json) {
  const std::string key = "\"messageId\":\"";
  const size_t start = json.find(key);
  if (start == std::string::npos) return "";
  const size_t end = json.find('"', start + key.size());
  return json.substr(start + key.size(), end - start - key.size());
}

struct InstallOptions {
  std::string write_key = kWriteKey;
  int batch_size = 100;
  std::function<void(v1::DeliverySettings&)> tweak;
};

class DeliveryEngineTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("delivery_engine_", getpid(), "_",
                        testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);

    fake_hightouch::Options fake_options;
    fake_options.write_keys = {kWriteKey};
    fake_options.api_keys = {kApiKey};
    fake_options.sources = {{"src-1", "12345", ""}};
    fake_ = std::make_unique<fake_hightouch::FakeHightouch>(fake_options);
    ASSERT_TRUE(fake_->Start().ok());

    auto plugin = LoadPlugin(SIGNAL_HIGHTOUCH_PLUGIN, {{"events_base_url", fake_->base_url()},
                                                       {"api_base_url", fake_->base_url()}});
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    plugin_ = std::move(*plugin);

    auto box = SecretBox::FromRawKey(std::string(SecretBox::kKeyBytes, '\x42'));
    ASSERT_TRUE(box.ok()) << box.status();
    box_ = std::make_unique<SecretBox>(*box);
    StoreOptions store_options;
    store_options.path = (dir_ / "signal.db").string();
    auto store = Store::Open(store_options, box_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);

    auto metrics = metrics::HostMetrics::Create(registry_);
    ASSERT_TRUE(metrics.ok());
    metrics_ = std::move(*metrics);
  }

  void TearDown() override {
    if (engine_) engine_->Stop();
    engine_.reset();
    store_.reset();
    plugin_.reset();
    if (fake_) fake_->Stop();
    std::filesystem::remove_all(dir_);
    for (const std::string& line : logs()) {
      for (const char* secret : {kWriteKey, kBadWriteKey, kApiKey}) {
        EXPECT_THAT(line, Not(HasSubstr(secret))) << "a secret reached the log";
      }
    }
  }

  std::string UserConfig(const InstallOptions& options) {
    return absl::StrCat(R"({"api_key":")", kApiKey,
                        R"(","workspace_id":"12345","source_id":"src-1","write_key":")",
                        options.write_key, R"(","batch_size":)", options.batch_size,
                        R"(,"batch_interval_ms":100,"rate_limit_rps":1000,"rate_limit_burst":100})");
  }

  // The plugin's verdict on a config, with the test's delivery-setting overrides.
  RevisionRecord ValidatedRevision(const InstallOptions& options) {
    v1::ValidateConfigRequest request;
    request.set_config_json(UserConfig(options));
    v1::ValidateConfigResponse response;
    grpc::ClientContext context;
    const grpc::Status status = plugin_->stub()->ValidateConfig(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.valid()) << response.DebugString();
    v1::DeliverySettings settings = response.delivery();
    // Quick retries for tests; each test may tighten further.
    settings.mutable_retry()->set_initial_backoff_ms(20);
    settings.mutable_retry()->set_max_backoff_ms(200);
    if (options.tweak) options.tweak(settings);
    RevisionRecord revision;
    revision.config_json = response.merged_config_json();
    revision.secret_fields.assign(response.secret_fields().begin(), response.secret_fields().end());
    revision.delivery_mode = "server_side";
    revision.delivery_settings = settings.SerializeAsString();
    revision.change_summary = "test install";
    revision.created_by = "usr_test";
    return revision;
  }

  std::string Install(const InstallOptions& options = {}, const std::string& name = "Hightouch") {
    IntegrationRecord integration;
    integration.org_id = "org_default";
    integration.name = name;
    integration.vendor = "hightouch";
    integration.catalog_vendor_key = "hightouch";
    integration.catalog_variant_key = "default";
    RevisionRecord revision = ValidatedRevision(options);
    const absl::Status status = store_->CreateIntegration(integration, revision);
    EXPECT_TRUE(status.ok()) << status;
    return integration.id;
  }

  void StartEngine(EngineOptions options = {}) {
    options.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(logs_mu_);
      logs_.emplace_back(line);
    };
    engine_ = std::make_unique<DeliveryEngine>(
        store_.get(),
        [this](std::string_view vendor) -> DeliveryEngine::Stub* {
          return vendor == "hightouch" ? plugin_->stub() : nullptr;
        },
        metrics_.get(), std::move(options));
    engine_->SetAttemptListener([this](const AttemptRecord& attempt) {
      std::lock_guard<std::mutex> lock(listened_mu_);
      listened_.push_back(attempt);
    });
    ASSERT_TRUE(engine_->Start().ok());
  }

  // Enqueues events (payloads given, or `count` valid track events) and notifies.
  std::vector<std::string> Enqueue(const std::string& integration_id, int count,
                                   const std::string& prefix = "m") {
    std::vector<std::string> payloads;
    for (int i = 0; i < count; ++i) {
      payloads.push_back(TrackEvent(absl::StrCat(prefix, "-", i), i));
    }
    EnqueuePayloads(integration_id, payloads);
    std::vector<std::string> ids;
    for (const std::string& payload : payloads) ids.push_back(MessageIdOf(payload));
    return ids;
  }

  void EnqueuePayloads(const std::string& integration_id, const std::vector<std::string>& payloads) {
    std::vector<std::string> ids;
    ids.reserve(payloads.size());
    for (const std::string& payload : payloads) {
      std::string id = MessageIdOf(payload);
      ids.push_back(id.empty() ? absl::StrCat("local-", ids.size()) : id);
    }
    std::vector<EnqueueItem> items;
    for (size_t i = 0; i < payloads.size(); ++i) {
      items.push_back(EnqueueItem{integration_id, ids[i], payloads[i]});
    }
    ASSERT_TRUE(store_->Enqueue(items).ok());
    if (engine_) engine_->Notify(integration_id);
  }

  size_t QueueDepth(const std::string& id) { return store_->QueueDepth(id).value_or(9999); }

  IntegrationDeliveryStatus Status(const std::string& id) {
    auto status = engine_->IntegrationStatus(id);
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : IntegrationDeliveryStatus{};
  }

  std::vector<AttemptRecord> Attempts(const std::string& id, const std::string& outcome = "") {
    std::vector<AttemptRecord> all;
    Page page;
    page.limit = 100;
    while (true) {
      auto result = store_->ListAttempts(id, "", outcome, page);
      EXPECT_TRUE(result.ok()) << result.status();
      if (!result.ok()) break;
      all.insert(all.end(), result->items.begin(), result->items.end());
      if (result->next_cursor.empty()) break;
      page.cursor = result->next_cursor;
    }
    // Oldest first.
    std::sort(all.begin(), all.end(),
              [](const AttemptRecord& a, const AttemptRecord& b) { return a.id < b.id; });
    return all;
  }

  std::vector<DeadLetter> DeadLetters(const std::string& id) {
    std::vector<DeadLetter> all;
    Page page;
    page.limit = 100;
    while (true) {
      auto result = store_->ListDeadLetters(id, "", page);
      EXPECT_TRUE(result.ok()) << result.status();
      if (!result.ok()) break;
      all.insert(all.end(), result->items.begin(), result->items.end());
      if (result->next_cursor.empty()) break;
      page.cursor = result->next_cursor;
    }
    return all;
  }

  uint64_t BatchRequests() {
    const fake_hightouch::Stats stats = fake_->GetStats();
    auto it = stats.requests_by_path.find("/v1/batch");
    return it == stats.requests_by_path.end() ? 0 : it->second;
  }

  std::multiset<std::string> AcceptedMessageIds() {
    std::multiset<std::string> ids;
    for (const std::string& event : fake_->AcceptedEvents()) ids.insert(MessageIdOf(event));
    return ids;
  }

  // Waits for the worker to make `passes` more loop passes, nudging it with Notify.
  void WaitForWorkerPasses(const std::string& id, uint64_t passes) {
    const uint64_t start = Status(id).passes;
    ASSERT_TRUE(PollUntil([&] {
      engine_->Notify(id);
      return Status(id).passes >= start + passes;
    }));
  }

  std::vector<std::string> logs() {
    std::lock_guard<std::mutex> lock(logs_mu_);
    return logs_;
  }

  std::string Metrics() { return registry_.Render(); }

  std::filesystem::path dir_;
  std::unique_ptr<fake_hightouch::FakeHightouch> fake_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<Store> store_;
  metrics::Registry registry_;
  std::unique_ptr<metrics::HostMetrics> metrics_;
  std::unique_ptr<DeliveryEngine> engine_;
  std::mutex logs_mu_;
  std::vector<std::string> logs_;
  std::mutex listened_mu_;
  std::vector<AttemptRecord> listened_;
};

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
                                              "integration=\"", id, "\"} ", attempts.size(), "\n")));
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
  ASSERT_TRUE(fake_->SetFaults(
                       R"({"statuses":[500,503,502,500,504,500,503,500],"reset_connections":2})")
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
  for (const std::string& line : logs()) warned |= line.find("unreadable delivery settings") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST_F(DeliveryEngineTest, StartTwiceAndRefreshBeforeStartAreRefused) {
  const std::string id = Install();
  DeliveryEngine idle(store_.get(), nullptr, nullptr);
  EXPECT_EQ(idle.Refresh(id).code(), absl::StatusCode::kFailedPrecondition);
  StartEngine();
  EXPECT_EQ(engine_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace signal_host::delivery
