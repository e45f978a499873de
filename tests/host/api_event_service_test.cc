// The event API's service in process, over a real SQLite store: what happens when the
// store refuses the enqueue after the request was admitted (an integration deleted in
// between). Nothing may be half-accepted: the client is told to send again and no
// target's queue keeps any of the events.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "event_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "host/crypto/secret_box.h"
#include "host/store/store.h"
#include "integration_directory.h"

namespace signal_host::api {
namespace {

using ::testing::HasSubstr;

class EventServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/event_service_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto box = SecretBox::FromRawKey(std::string(SecretBox::kKeyBytes, '\x17'));
    ASSERT_TRUE(box.ok());
    box_ = std::make_unique<SecretBox>(*box);
    StoreOptions options;
    options.path = dir_ + "/signal.db";
    auto store = Store::Open(options, box_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    first_ = Install("first");
    second_ = Install("second");
    directory_ = std::make_unique<IntegrationDirectory>(store_.get());
    ASSERT_TRUE(directory_->Reload().ok());

    EventServiceOptions service_options;
    service_options.pipelines = {{"web", "pipeline-key", "org", {}}};
    EventServiceDeps deps;
    deps.queue = store_.get();
    deps.directory = directory_.get();
    deps.new_message_id = [this] { return "generated-" + std::to_string(++generated_); };
    service_ = std::make_unique<EventService>(service_options, deps);
  }
  void TearDown() override {
    service_.reset();
    directory_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Install(const std::string& name) {
    IntegrationRecord integration;
    integration.org_id = "org";
    integration.name = name;
    integration.vendor = "hightouch";
    RevisionRecord revision;
    revision.config_json = "{}";
    EXPECT_TRUE(store_->CreateIntegration(integration, revision).ok());
    return integration.id;
  }

  size_t Depth(const std::string& id) { return store_->QueueDepth(id).value_or(999); }

  std::string dir_;
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<IntegrationDirectory> directory_;
  std::unique_ptr<EventService> service_;
  std::string first_;
  std::string second_;
  int generated_ = 0;
};

TEST_F(EventServiceTest, AnEnqueueTheStoreRefusesAcceptsNothingForAnyTarget) {
  EventAdmission admission = service_->Admit("/v1/t", "Bearer pipeline-key");
  ASSERT_NE(admission.pipeline, nullptr);
  ASSERT_EQ(admission.targets.size(), 2u);
  // Deleted after admission, before the body is handled.
  ASSERT_TRUE(store_->DeleteIntegration("org", second_).ok());

  ApiResponse response =
      service_->Handle("track", "/v1/t", admission, R"({"event":"Signed Up","userId":"u1"})");
  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(response.body, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(response.body, HasSubstr("nothing was accepted, send them again"));
  EXPECT_EQ(Depth(first_), 0u);  // not queued for the integration that still exists

  // Once the directory knows, the same request is admitted for the one left.
  ASSERT_TRUE(directory_->Reload().ok());
  EventAdmission again = service_->Admit("/v1/t", "Bearer pipeline-key");
  ASSERT_EQ(again.targets.size(), 1u);
  response = service_->Handle("track", "/v1/t", again, R"({"event":"Signed Up","userId":"u1"})");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Depth(first_), 1u);
}

TEST_F(EventServiceTest, ABadBodyAfterAdmissionQueuesNothing) {
  EventAdmission admission = service_->Admit("/v1/batch", "Bearer pipeline-key");
  ASSERT_NE(admission.pipeline, nullptr);
  ApiResponse response = service_->Handle("", "/v1/batch", admission, R"({"batch":[{"type":)");
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("BAD_REQUEST"));
  EXPECT_EQ(Depth(first_), 0u);
  EXPECT_EQ(Depth(second_), 0u);
}

}  // namespace
}  // namespace signal_host::api
