// What the PostgreSQL store tests share: a fresh database per test on the executable's
// server, stores opened on it (as many "hosts" as a test wants), a raw connection to
// look at what is stored, an installed integration, and an IngestQueue that records
// (or refuses) what replay hands it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "host/crypto/secret_box.h"
#include "host/store/config_changes.h"
#include "host/store/ingest_queue.h"
#include "host/store/postgres/pg_connection.h"
#include "host/store/postgres/postgres_store.h"
#include "tests/postgres/postgres_server.h"

namespace signal_test {

inline constexpr char kKey[] = "8f1e0c7a55b3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
inline constexpr char kSecretValue[] = "sk_live_TOPSECRET_9f8e7d6c5b4a";
inline constexpr int64_t kStart = 1'700'000'000'000;

// Records every Enqueue; refuses them all while `fail` is set.
class RecordingQueue : public signal_host::IngestQueue {
 public:
  struct Item {
    std::string integration_id, message_id, payload;
  };
  absl::Status Enqueue(std::span<const signal_host::EnqueueItem> items) override {
    if (fail) return absl::UnavailableError("broker down");
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& item : items) {
      this->items.push_back({std::string(item.integration_id), std::string(item.message_id),
                             std::string(item.payload)});
    }
    return absl::OkStatus();
  }
  absl::StatusOr<size_t> QueueDepth(std::string_view) override { return 0; }
  std::vector<Item> Items() {
    std::lock_guard<std::mutex> lock(mu);
    return items;
  }

  std::atomic<bool> fail{false};
  std::mutex mu;
  std::vector<Item> items;
};

// Polls `condition` every 5 ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Collects what a feed reports.
class Notices {
 public:
  signal_host::ConfigChangeFeed::Listener Listener() {
    return [this](std::string_view id) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.emplace_back(id);
    };
  }
  std::vector<std::string> Seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  bool WaitFor(const std::string& id, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return signal_test::WaitFor(
        [&] {
          std::vector<std::string> seen = Seen();
          return std::find(seen.begin(), seen.end(), id) != seen.end();
        },
        timeout);
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> seen_;
};

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(PostgresEnvironment::server(), nullptr);
    absl::StatusOr<std::string> url = PostgresEnvironment::server()->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    box_ = std::make_unique<signal_host::SecretBox>(*signal_host::SecretBox::FromKeyText(kKey));
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  signal_host::PostgresOptions Options() {
    signal_host::PostgresOptions options;
    options.url = url_;
    options.pool_size = 3;
    options.migrate = true;
    options.attempt_retention = attempt_retention_;
    options.dead_letter_retention = dead_letter_retention_;
    options.clock_ms = [this] { return now_.load(); };
    return options;
  }

  // Another host on the same database (or this one, reopened).
  std::unique_ptr<signal_host::PostgresStore> OpenStore(
      const signal_host::SecretBox* box = nullptr) {
    absl::StatusOr<std::unique_ptr<signal_host::PostgresStore>> store =
        signal_host::PostgresStore::Open(Options(), box ? box : box_.get(), &queue_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::unique_ptr<signal_host::pg::Connection> Raw() {
    absl::StatusOr<std::unique_ptr<signal_host::pg::Connection>> conn =
        signal_host::pg::Connection::Open(url_, "test-raw");
    EXPECT_TRUE(conn.ok()) << conn.status();
    return conn.ok() ? *std::move(conn) : nullptr;
  }

  // Installs an integration with a secret in its config; returns its id.
  std::string Install(signal_host::PostgresStore& store, const std::string& name,
                      const std::string& org = "org_default") {
    signal_host::IntegrationRecord integration;
    integration.org_id = org;
    integration.name = name;
    integration.vendor = "hightouch";
    integration.catalog_vendor_key = "hightouch";
    integration.catalog_variant_key = "default";
    signal_host::RevisionRecord revision;
    revision.config_json =
        std::string(R"({"api_key":")") + kSecretValue + R"(","workspace_id":"ws-12345"})";
    revision.secret_fields = {"api_key"};
    revision.delivery_mode = "server_side";
    revision.delivery_settings = std::string("\x08\x64\x10\x00", 4);  // binary bytes
    revision.change_summary = "Installed from the catalog";
    revision.created_by = "usr_1";
    absl::Status status = store.CreateIntegration(integration, revision);
    EXPECT_TRUE(status.ok()) << status;
    return integration.id;
  }
  std::string Install(const std::string& name, const std::string& org = "org_default") {
    return Install(*store_, name, org);
  }

  std::string url_;
  size_t attempt_retention_ = 10000;
  size_t dead_letter_retention_ = 100000;
  std::atomic<int64_t> now_{kStart};
  RecordingQueue queue_;
  std::unique_ptr<signal_host::SecretBox> box_;
  std::unique_ptr<signal_host::PostgresStore> store_;
};

}  // namespace signal_test
