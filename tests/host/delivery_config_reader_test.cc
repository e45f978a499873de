// The delivery engine reads integrations and revisions only through the ConfigReader
// it is given, separately from its queue: these tests hand it a reader that is not
// the store (a decorator that can fail or serve another revision) and show that the
// engine follows the reader and reports its failures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "delivery_engine_fixture.h"
#include "host/store/config_store.h"

namespace signal_host::delivery::delivery_test {
namespace {

// Passes reads through to a real ConfigReader, except that every read fails while
// `fail` is set, and GetRevision answers with an override when one is set.
class SwitchableConfigs : public ConfigReader {
 public:
  explicit SwitchableConfigs(ConfigReader* real) : real_(real) {}

  std::atomic<bool> fail{false};
  std::atomic<int> reads{0};

  void OverrideRevision(const RevisionRecord& revision) {
    std::lock_guard<std::mutex> lock(mu_);
    overrides_[revision.integration_id] = revision;
  }

  absl::StatusOr<IntegrationRecord> GetIntegration(std::string_view org_id,
                                                   std::string_view id) override {
    if (Failing()) return Unavailable();
    return real_->GetIntegration(org_id, id);
  }
  absl::StatusOr<PageResult<IntegrationRecord>> ListIntegrations(std::string_view org_id,
                                                                 const Page& page) override {
    if (Failing()) return Unavailable();
    return real_->ListIntegrations(org_id, page);
  }
  absl::StatusOr<std::vector<IntegrationRecord>> AllIntegrations() override {
    if (Failing()) return Unavailable();
    return real_->AllIntegrations();
  }
  absl::StatusOr<RevisionRecord> GetRevision(std::string_view integration_id,
                                             int revision_number) override {
    if (Failing()) return Unavailable();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = overrides_.find(std::string(integration_id));
      if (it != overrides_.end()) return it->second;
    }
    return real_->GetRevision(integration_id, revision_number);
  }
  absl::StatusOr<PageResult<RevisionRecord>> ListRevisions(std::string_view integration_id,
                                                           const Page& page) override {
    if (Failing()) return Unavailable();
    return real_->ListRevisions(integration_id, page);
  }

 private:
  bool Failing() {
    ++reads;
    return fail.load();
  }
  static absl::Status Unavailable() {
    return absl::UnavailableError("config database unreachable (test)");
  }

  ConfigReader* const real_;
  std::mutex mu_;
  std::map<std::string, RevisionRecord> overrides_;
};

class DeliveryConfigReaderTest : public DeliveryEngineFixture {
 protected:
  void SetUp() override {
    DeliveryEngineFixture::SetUp();
    configs_ = std::make_unique<SwitchableConfigs>(store_.get());
  }

  void TearDown() override {
    // The engine reads through configs_ until it stops.
    if (engine_) engine_->Stop();
    engine_.reset();
    DeliveryEngineFixture::TearDown();
  }

  // The engine over configs_ for its configs and the real store for its queue.
  absl::Status StartEngineOverConfigs() {
    EngineOptions options;
    options.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(logs_mu_);
      logs_.emplace_back(line);
    };
    DeliveryEngine::PluginLookup plugins =
        [this](std::string_view vendor) -> DeliveryEngine::Stub* {
      return vendor == "hightouch" ? plugin_->stub() : nullptr;
    };
    engine_ = std::make_unique<DeliveryEngine>(configs_.get(), store_.get(), std::move(plugins),
                                               metrics_.get(), std::move(options));
    return engine_->Start();
  }

  std::unique_ptr<SwitchableConfigs> configs_;
};

TEST_F(DeliveryConfigReaderTest, StartReportsAConfigReadFailureAndSendsNothing) {
  const std::string id = Install();
  configs_->fail = true;
  const absl::Status started = StartEngineOverConfigs();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable) << started;
  EXPECT_THAT(started.message(), ::testing::HasSubstr("config database unreachable"));
  EXPECT_GT(configs_->reads.load(), 0);
  EXPECT_FALSE(engine_->IntegrationStatus(id).ok()) << "no worker without its config";
  EXPECT_EQ(BatchRequests(), 0u);
}

TEST_F(DeliveryConfigReaderTest, RefreshReportsAConfigReadFailureAndTheWorkerKeepsDelivering) {
  const std::string id = Install();
  ASSERT_TRUE(StartEngineOverConfigs().ok());
  const std::vector<std::string> first = Enqueue(id, 3, "before");
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));

  configs_->fail = true;
  const absl::Status refreshed = engine_->Refresh(id);
  EXPECT_EQ(refreshed.code(), absl::StatusCode::kUnavailable) << refreshed;

  // The worker started from the last good read goes on without the configs.
  const std::vector<std::string> second = Enqueue(id, 3, "after");
  ASSERT_TRUE(PollUntil([&] { return QueueDepth(id) == 0; }));
  const std::multiset<std::string> accepted = AcceptedMessageIds();
  for (const std::string& message_id : first) EXPECT_EQ(accepted.count(message_id), 1u);
  for (const std::string& message_id : second) EXPECT_EQ(accepted.count(message_id), 1u);

  configs_->fail = false;
  EXPECT_TRUE(engine_->Refresh(id).ok());
}

TEST_F(DeliveryConfigReaderTest, TheEngineDeliversWithTheRevisionItsConfigsServe) {
  const std::string id = Install();  // the store's revision has the good write key
  absl::StatusOr<IntegrationRecord> integration = store_->GetIntegration("org_default", id);
  ASSERT_TRUE(integration.ok()) << integration.status();
  absl::StatusOr<RevisionRecord> stored = store_->GetRevision(id, integration->current_revision);
  ASSERT_TRUE(stored.ok()) << stored.status();
  // The reader serves the same revision with a write key Hightouch refuses.
  InstallOptions bad_key;
  bad_key.write_key = kBadWriteKey;
  RevisionRecord served = ValidatedRevision(bad_key);
  served.id = stored->id;
  served.integration_id = id;
  served.org_id = stored->org_id;
  served.revision_number = stored->revision_number;
  configs_->OverrideRevision(served);

  ASSERT_TRUE(StartEngineOverConfigs().ok());
  Enqueue(id, 3);
  // The refused key is a setup failure: the integration is held, its events kept.
  ASSERT_TRUE(PollUntil([&] { return Status(id).status == "held"; }));
  EXPECT_EQ(QueueDepth(id), 3u);
  EXPECT_TRUE(fake_->AcceptedEvents().empty());
  // The hold goes through the queue's SetStatus, so the store records it.
  ASSERT_TRUE(PollUntil([&] {
    absl::StatusOr<IntegrationRecord> now = store_->GetIntegration("org_default", id);
    return now.ok() && now->status == "held";
  }));
}

}  // namespace
}  // namespace signal_host::delivery::delivery_test
