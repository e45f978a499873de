// The delivery engine tests' fixture: the real Hightouch plugin loaded through the
// loader, the fake Hightouch on loopback, and a real SQLite store in a temp dir.
// A test may route the engine's plugin calls through a ScriptedStub and its queue
// work through a FaultyQueue (both pass everything through until told otherwise).
#pragma once

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

#include "absl/strings/str_cat.h"
#include "delivery_faulty_queue.h"
#include "delivery_scripted_stub.h"
#include "fake_hightouch.h"
#include "grpcpp/client_context.h"
#include "host/crypto/secret_box.h"
#include "host/delivery/delivery_engine.h"
#include "host/loader/plugin_loader.h"
#include "host/metrics/host_metrics.h"
#include "host/store/store.h"

namespace signal_host::delivery::delivery_test {

namespace v1 = signal::integration::v1;

constexpr char kWriteKey[] = "wk_good_0123456789";
constexpr char kBadWriteKey[] = "wk_wrong_9876543210";
constexpr char kApiKey[] = "ak_good_0123456789";

// Polls `condition` until it holds or `timeout` passes.
inline bool PollUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

inline std::string TrackEvent(const std::string& message_id, int index) {
  return absl::StrCat(R"({"type":"track","event":"Order Completed","userId":"user-)", index % 7,
                      R"(","messageId":")", message_id,
                      R"(","timestamp":"2026-01-02T03:04:05.678Z","properties":{"index":)", index,
                      R"(,"total":19.99}})");
}

inline std::string MessageIdOf(const std::string& json) {
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

class DeliveryEngineFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("delivery_engine_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
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

  // The engine's plugin calls go through a ScriptedStub over the real plugin.
  delivery_test::ScriptedStub& UseScriptedStub() {
    scripted_ = std::make_unique<delivery_test::ScriptedStub>(plugin_->stub());
    return *scripted_;
  }
  // The engine's queue work goes through a FaultyQueue over the real store.
  delivery_test::FaultyQueue& UseFaultyQueue() {
    faulty_ = std::make_unique<delivery_test::FaultyQueue>(store_.get());
    return *faulty_;
  }

  void TearDown() override {
    if (engine_) engine_->Stop();
    engine_.reset();
    faulty_.reset();
    scripted_.reset();
    store_.reset();
    plugin_.reset();
    if (fake_) fake_->Stop();
    std::filesystem::remove_all(dir_);
    for (const std::string& line : logs()) {
      for (const char* secret : {kWriteKey, kBadWriteKey, kApiKey}) {
        EXPECT_THAT(line, ::testing::Not(::testing::HasSubstr(secret)))
            << "a secret reached the log";
      }
    }
  }

  std::string UserConfig(const InstallOptions& options) {
    return absl::StrCat(
        R"({"api_key":")", kApiKey, R"(","workspace_id":"12345","source_id":"src-1","write_key":")",
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
    DeliveryEngine::PluginLookup plugins =
        [this](std::string_view vendor) -> DeliveryEngine::Stub* {
      if (vendor != "hightouch") return nullptr;
      return scripted_ ? static_cast<DeliveryEngine::Stub*>(scripted_.get()) : plugin_->stub();
    };
    if (faulty_) {
      engine_ = std::make_unique<DeliveryEngine>(store_.get(), faulty_.get(), std::move(plugins),
                                                 metrics_.get(), std::move(options));
    } else {
      engine_ = std::make_unique<DeliveryEngine>(store_.get(), std::move(plugins), metrics_.get(),
                                                 std::move(options));
    }
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

  void EnqueuePayloads(const std::string& integration_id,
                       const std::vector<std::string>& payloads) {
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
  std::unique_ptr<delivery_test::ScriptedStub> scripted_;
  std::unique_ptr<delivery_test::FaultyQueue> faulty_;
  std::unique_ptr<DeliveryEngine> engine_;
  std::mutex logs_mu_;
  std::vector<std::string> logs_;
  std::mutex listened_mu_;
  std::vector<AttemptRecord> listened_;
};

}  // namespace signal_host::delivery::delivery_test
