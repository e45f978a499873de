// /readyz follows the delivery engine's store health: while the store cannot lease
// events or write outcomes the host answers 503 with the reason, and 200 again once
// the store works. The admin service is driven in-process, with the real plugin,
// the real SQLite store under a FaultyQueue, and the real engine.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "admin_service.h"
#include "delivery_faulty_queue.h"
#include "host/crypto/secret_box.h"
#include "host/delivery/delivery_engine.h"
#include "host/store/store.h"
#include "plugin_registry.h"

namespace signal_host::delivery {
namespace {

using ::testing::HasSubstr;

bool PollUntil(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

TEST(DeliveryReadinessTest, ReadyzIsUnavailableWhileTheStoreFails) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("delivery_readiness_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  daemon::PluginRegistry plugins;
  daemon::PluginLoadSettings load;
  load.runtime_dir = dir.string();
  load.host_agent = "readiness-test";
  ASSERT_TRUE(plugins.LoadFile(SIGNAL_HIGHTOUCH_PLUGIN, load).ok());
  auto box = SecretBox::FromRawKey(std::string(SecretBox::kKeyBytes, '\x42'));
  ASSERT_TRUE(box.ok());
  StoreOptions store_options;
  store_options.path = (dir / "signal.db").string();
  auto store = Store::Open(store_options, &*box);
  ASSERT_TRUE(store.ok()) << store.status();

  IntegrationRecord integration;
  integration.org_id = "org_default";
  integration.name = "Hightouch";
  integration.vendor = "hightouch";
  RevisionRecord revision;
  revision.config_json = "{}";
  revision.delivery_mode = "server_side";
  ASSERT_TRUE((*store)->CreateIntegration(integration, revision).ok());

  delivery_test::FaultyQueue queue(store->get());
  queue.fail_leases = true;
  EngineOptions options;
  options.store_retry_initial = absl::Milliseconds(20);
  options.store_retry_max = absl::Milliseconds(100);
  options.log = [](std::string_view) {};
  DeliveryEngine engine(
      store->get(), &queue,
      [&plugins](std::string_view vendor) -> DeliveryEngine::Stub* {
        const daemon::RegisteredPlugin* plugin = plugins.Find(vendor);
        return plugin == nullptr ? nullptr : plugin->stub();
      },
      nullptr, options);
  ASSERT_TRUE(engine.Start().ok());

  std::atomic<bool> ready{true};
  api::AdminServiceDeps deps;
  deps.configs = store->get();
  deps.dead_letters = store->get();
  deps.attempts = store->get();
  deps.queue = store->get();
  deps.plugins = &plugins;
  deps.engine = &engine;
  deps.ready = &ready;
  api::AdminService admin(api::AdminServiceOptions{}, deps);
  const auto readyz = [&] { return admin.Handle(api::AdminRoute::kReady, api::ApiRequest{}); };

  ASSERT_TRUE(PollUntil([&] { return readyz().status == 503; }));
  const api::ApiResponse unready = readyz();
  EXPECT_THAT(unready.body, HasSubstr(R"("status":"not_ready")"));
  EXPECT_THAT(unready.body, HasSubstr(integration.id));
  EXPECT_THAT(unready.body, HasSubstr("disk is full"));

  queue.fail_leases = false;
  ASSERT_TRUE(PollUntil([&] { return readyz().status == 200; }));
  EXPECT_THAT(readyz().body, HasSubstr(R"("status":"ready")"));

  engine.Stop();
  store->reset();
  plugins.Clear();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace signal_host::delivery
