// The SQLite store: integrations and revisions, secrets at rest, the queue (lease,
// complete, retry, dead letters, replay), retention, cursors, durability across a
// restart, and concurrent group commit.
#include "host/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "host/crypto/encoding.h"
#include "host/crypto/secret_box.h"

namespace signal_host {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kKey[] = "8f1e0c7a55b3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
constexpr char kOtherKey[] = "0000000000000000000000000000000000000000000000000000000000000001";
constexpr char kSecretValue[] = "sk_live_TOPSECRET_9f8e7d6c5b4a";
constexpr int64_t kStart = 1'700'000'000'000;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<int64_t> Seqs(const std::vector<QueuedEvent>& events) {
  std::vector<int64_t> seqs;
  for (const QueuedEvent& e : events) seqs.push_back(e.seq);
  return seqs;
}

std::vector<std::string> MessageIds(const std::vector<QueuedEvent>& events) {
  std::vector<std::string> ids;
  for (const QueuedEvent& e : events) ids.push_back(e.message_id);
  return ids;
}

// A raw read-only SQLite handle on the store's file, to check what is on disk.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    int column = sqlite3_column_count(stmt) - 1;  // EXPLAIN QUERY PLAN: the detail column
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, column);
      out.emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_ = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/store_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/host.db";
    box_ = std::make_unique<SecretBox>(*SecretBox::FromKeyText(kKey));
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  StoreOptions Options() {
    StoreOptions options;
    options.path = path_;
    options.attempt_retention = attempt_retention_;
    options.dead_letter_retention = dead_letter_retention_;
    options.clock_ms = [this] { return now_.load(); };
    options.segment_cache_bytes = segment_cache_bytes_;
    options.checkpoint_wal_bytes = checkpoint_wal_bytes_;
    return options;
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(Options(), box_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Installs an integration with a secret in its config; returns its id.
  std::string Install(const std::string& name, const std::string& org = "org_default") {
    IntegrationRecord integration;
    integration.org_id = org;
    integration.name = name;
    integration.vendor = "hightouch";
    integration.catalog_vendor_key = "hightouch";
    integration.catalog_variant_key = "default";
    RevisionRecord revision;
    revision.config_json =
        std::string(R"({"api_key":")") + kSecretValue + R"(","workspace_id":"ws-12345"})";
    revision.secret_fields = {"api_key"};
    revision.delivery_mode = "server_side";
    revision.delivery_settings = std::string("\x08\x64\x10\x00", 4);  // binary bytes
    revision.change_summary = "Installed from the catalog";
    revision.created_by = "usr_1";
    absl::Status status = store_->CreateIntegration(integration, revision);
    EXPECT_TRUE(status.ok()) << status;
    return integration.id;
  }

  void EnqueueN(const std::string& integration_id, int n, const std::string& prefix = "m") {
    std::vector<std::string> ids, payloads;
    for (int i = 0; i < n; ++i) {
      ids.push_back(prefix + std::to_string(i));
      payloads.push_back(R"({"type":"track","messageId":")" + ids.back() + R"("})");
    }
    std::vector<EnqueueItem> items;
    for (int i = 0; i < n; ++i) items.push_back({integration_id, ids[i], payloads[i]});
    absl::Status status = store_->Enqueue(items);
    ASSERT_TRUE(status.ok()) << status;
  }

  std::vector<QueuedEvent> LeaseAll(const std::string& integration_id, int64_t now) {
    absl::StatusOr<std::vector<QueuedEvent>> events = store_->Lease(integration_id, 100000, now);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<QueuedEvent>{};
  }

  size_t Depth(const std::string& integration_id) {
    absl::StatusOr<size_t> depth = store_->QueueDepth(integration_id);
    EXPECT_TRUE(depth.ok());
    return depth.ok() ? *depth : 0;
  }

  std::string dir_;
  std::string path_;
  size_t attempt_retention_ = 10000;
  size_t dead_letter_retention_ = 100000;
  size_t segment_cache_bytes_ = StoreOptions().segment_cache_bytes;
  size_t checkpoint_wal_bytes_ = StoreOptions().checkpoint_wal_bytes;
  std::atomic<int64_t> now_{kStart};
  std::unique_ptr<SecretBox> box_;
  std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------------------------
// Opening.

TEST_F(StoreTest, CreatesAVersionedWalDatabaseReadableOnlyByTheOwner) {
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT version FROM schema_version"), ElementsAre("2"));
  EXPECT_THAT(raw.Column("PRAGMA journal_mode"), ElementsAre("wal"));
  struct stat info;
  ASSERT_EQ(stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
}

TEST_F(StoreTest, RefusesASecondOpenOfTheSamePath) {
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(Options(), box_.get());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("already open"));
  store_.reset();
  EXPECT_TRUE(Store::Open(Options(), box_.get()).ok());
}

TEST_F(StoreTest, RefusesBadOptions) {
  StoreOptions options = Options();
  EXPECT_EQ(Store::Open(options, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* path : {"", ":memory:", "file::memory:"}) {
    options.path = path;
    EXPECT_EQ(Store::Open(options, box_.get()).status().code(), absl::StatusCode::kInvalidArgument)
        << path;
  }
  options.path = dir_ + "/no/such/dir/host.db";
  EXPECT_FALSE(Store::Open(options, box_.get()).ok());
}

TEST_F(StoreTest, RefusesAFileThatIsNotADatabase) {
  const std::string garbage = dir_ + "/garbage.db";
  {
    std::ofstream out(garbage, std::ios::binary);
    out << std::string(8192, 'x');
  }
  StoreOptions options = Options();
  options.path = garbage;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options, box_.get());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(garbage));
}

TEST_F(StoreTest, RefusesASchemaFromTheFuture) {
  store_.reset();
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("UPDATE schema_version SET version = 99"), SQLITE_OK);
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(Options(), box_.get());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

// ---------------------------------------------------------------------------------
// Integrations and revisions.

TEST_F(StoreTest, CreateGetListDeleteIntegration) {
  IntegrationRecord integration;
  integration.org_id = "org_a";
  integration.name = "Hightouch";
  integration.vendor = "hightouch";
  integration.description = "events to Hightouch";
  RevisionRecord revision;
  revision.config_json = R"({"workspace_id":"ws-1"})";
  revision.created_by = "usr_9";
  ASSERT_TRUE(store_->CreateIntegration(integration, revision).ok());
  EXPECT_THAT(integration.id, MatchesRegex("tmpl_[0-9a-z]{26}"));
  EXPECT_THAT(revision.id, MatchesRegex("rev_[0-9a-z]{26}"));
  EXPECT_EQ(integration.current_revision, 1);
  EXPECT_EQ(integration.created_at_ms, kStart);
  EXPECT_EQ(revision.revision_number, 1);
  EXPECT_EQ(revision.integration_id, integration.id);
  EXPECT_EQ(revision.org_id, "org_a");

  absl::StatusOr<IntegrationRecord> got = store_->GetIntegration("org_a", integration.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "Hightouch");
  EXPECT_EQ(got->vendor, "hightouch");
  EXPECT_EQ(got->description, "events to Hightouch");
  EXPECT_EQ(got->status, "active");
  EXPECT_EQ(got->current_revision, 1);
  EXPECT_EQ(got->created_at_ms, kStart);
  // Another org cannot see it.
  EXPECT_EQ(store_->GetIntegration("org_b", integration.id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetIntegration("org_a", "tmpl_nope").status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<PageResult<IntegrationRecord>> list = store_->ListIntegrations("org_a", Page{});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].id, integration.id);
  EXPECT_TRUE(list->next_cursor.empty());
  EXPECT_THAT(store_->ListIntegrations("org_b", Page{})->items, IsEmpty());
  ASSERT_EQ(store_->AllIntegrations()->size(), 1u);

  EXPECT_EQ(store_->DeleteIntegration("org_b", integration.id).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->DeleteIntegration("org_a", integration.id).ok());
  EXPECT_EQ(store_->GetIntegration("org_a", integration.id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRevision(integration.id, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteIntegration("org_a", integration.id).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store_->AllIntegrations(), IsEmpty());
}

TEST_F(StoreTest, CreateRefusesIncompleteRecords) {
  for (int missing = 0; missing < 4; ++missing) {
    IntegrationRecord integration;
    integration.org_id = missing == 0 ? "" : "org";
    integration.name = missing == 1 ? "" : "name";
    integration.vendor = missing == 2 ? "" : "vendor";
    if (missing == 3) integration.status = "paused";
    RevisionRecord revision;
    EXPECT_EQ(store_->CreateIntegration(integration, revision).code(),
              absl::StatusCode::kInvalidArgument)
        << missing;
  }
  EXPECT_THAT(*store_->AllIntegrations(), IsEmpty());
}

TEST_F(StoreTest, DuplicateNameInTheSameOrgIsAlreadyExists) {
  std::string first = Install("Hightouch");
  IntegrationRecord dup;
  dup.org_id = "org_default";
  dup.name = "Hightouch";
  dup.vendor = "hightouch";
  RevisionRecord revision;
  absl::Status status = store_->CreateIntegration(dup, revision);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("Hightouch"));
  EXPECT_EQ(store_->AllIntegrations()->size(), 1u);  // nothing half-written
  // Same name in another org is fine, and a deleted name can be reused.
  Install("Hightouch", "org_other");
  ASSERT_TRUE(store_->DeleteIntegration("org_default", first).ok());
  Install("Hightouch");
  EXPECT_EQ(store_->AllIntegrations()->size(), 2u);
}

TEST_F(StoreTest, RevisionsAreNumberedImmutableAndListedNewestFirst) {
  std::string id = Install("Hightouch");
  ASSERT_TRUE(store_->SetStatus(id, "held", "401 from Hightouch").ok());
  for (int i = 2; i <= 4; ++i) {
    now_ += 1000;
    RevisionRecord revision;
    revision.integration_id = id;
    revision.config_json = R"({"api_key":"key)" + std::to_string(i) + R"("})";
    revision.secret_fields = {"api_key", "write_key"};
    revision.change_summary = "rotate " + std::to_string(i);
    revision.created_by = "usr_2";
    ASSERT_TRUE(store_->AddRevision(revision).ok());
    EXPECT_EQ(revision.revision_number, i);
    EXPECT_EQ(revision.org_id, "org_default");
    EXPECT_EQ(revision.created_at_ms, now_.load());
  }
  absl::StatusOr<IntegrationRecord> integration = store_->GetIntegration("org_default", id);
  EXPECT_EQ(integration->current_revision, 4);
  EXPECT_EQ(integration->status, "active");  // a new revision clears the hold
  EXPECT_EQ(integration->status_reason, "");
  EXPECT_EQ(integration->updated_at_ms, now_.load());

  absl::StatusOr<RevisionRecord> first = store_->GetRevision(id, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->config_json, HasSubstr(kSecretValue));
  EXPECT_THAT(first->secret_fields, ElementsAre("api_key"));
  EXPECT_EQ(first->delivery_settings, std::string("\x08\x64\x10\x00", 4));
  EXPECT_EQ(first->change_summary, "Installed from the catalog");
  absl::StatusOr<RevisionRecord> third = store_->GetRevision(id, 3);
  EXPECT_EQ(third->config_json, R"({"api_key":"key3"})");
  EXPECT_THAT(third->secret_fields, ElementsAre("api_key", "write_key"));
  EXPECT_EQ(store_->GetRevision(id, 5).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<PageResult<RevisionRecord>> list = store_->ListRevisions(id, Page{});
  ASSERT_TRUE(list.ok());
  std::vector<int> numbers;
  for (const RevisionRecord& r : list->items) numbers.push_back(r.revision_number);
  EXPECT_THAT(numbers, ElementsAre(4, 3, 2, 1));

  // Not even a direct UPDATE can change a stored revision.
  RawDb raw(path_);
  EXPECT_NE(raw.Exec("UPDATE revisions SET change_summary = 'x'"), SQLITE_OK);
  EXPECT_EQ(store_->GetRevision(id, 3)->change_summary, "rotate 3");
}

TEST_F(StoreTest, AddRevisionToUnknownOrForeignIntegrationIsNotFound) {
  std::string id = Install("Hightouch");
  RevisionRecord revision;
  revision.integration_id = "tmpl_missing";
  EXPECT_EQ(store_->AddRevision(revision).code(), absl::StatusCode::kNotFound);
  RevisionRecord foreign;
  foreign.integration_id = id;
  foreign.org_id = "org_other";
  EXPECT_EQ(store_->AddRevision(foreign).code(), absl::StatusCode::kNotFound);
  RevisionRecord no_integration;
  EXPECT_EQ(store_->AddRevision(no_integration).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetIntegration("org_default", id)->current_revision, 1);
}

TEST_F(StoreTest, SetStatusValidatesAndPersists) {
  std::string id = Install("Hightouch");
  EXPECT_EQ(store_->SetStatus(id, "paused", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetStatus("tmpl_missing", "held", "").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->SetStatus(id, "disabled", "by operator").ok());
  Reopen();
  absl::StatusOr<IntegrationRecord> integration = store_->GetIntegration("org_default", id);
  EXPECT_EQ(integration->status, "disabled");
  EXPECT_EQ(integration->status_reason, "by operator");
}

TEST_F(StoreTest, SecretsNeverReachTheDatabaseFiles) {
  std::string id = Install("Hightouch");
  RevisionRecord revision;
  revision.integration_id = id;
  revision.config_json = std::string(R"({"api_key":")") + kSecretValue + "_v2\"}";
  ASSERT_TRUE(store_->AddRevision(revision).ok());
  // While open the data sits in the WAL; after close it is checkpointed into the file.
  std::string on_disk = ReadFile(path_) + ReadFile(path_ + "-wal");
  ASSERT_THAT(on_disk, HasSubstr("Installed from the catalog"));  // we read the right bytes
  EXPECT_THAT(on_disk, Not(HasSubstr(kSecretValue)));
  EXPECT_THAT(on_disk, Not(HasSubstr("sk_live_")));
  store_.reset();
  on_disk = ReadFile(path_) + ReadFile(path_ + "-wal");
  ASSERT_THAT(on_disk, HasSubstr("Installed from the catalog"));
  EXPECT_THAT(on_disk, Not(HasSubstr(kSecretValue)));
  // The stored form is SecretBox's.
  RawDb raw(path_);
  std::vector<std::string> sealed = raw.Column("SELECT config_sealed FROM revisions");
  ASSERT_EQ(sealed.size(), 2u);
  for (const std::string& value : sealed) EXPECT_THAT(value, MatchesRegex("v1:[A-Za-z0-9+/=]+"));
}

TEST_F(StoreTest, AWrongKeyFailsCleanlyWithoutLeakingTheSecret) {
  std::string id = Install("Hightouch");
  store_.reset();
  SecretBox other = *SecretBox::FromKeyText(kOtherKey);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(Options(), &other);
  ASSERT_TRUE(store.ok());
  absl::StatusOr<RevisionRecord> revision = (*store)->GetRevision(id, 1);
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(revision.status().message(), HasSubstr("ENCRYPTION_KEY"));
  EXPECT_THAT(revision.status().message(), Not(HasSubstr(kSecretValue)));
  // Everything not secret still works.
  EXPECT_TRUE((*store)->GetIntegration("org_default", id).ok());
}

TEST_F(StoreTest, ASealedConfigMovedToAnotherRevisionDoesNotOpen) {
  std::string id = Install("Hightouch");
  RevisionRecord second;
  second.integration_id = id;
  second.config_json = "{}";
  ASSERT_TRUE(store_->AddRevision(second).ok());
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("DROP TRIGGER revisions_are_immutable"), SQLITE_OK);
    ASSERT_EQ(raw.Exec("UPDATE revisions SET config_sealed = (SELECT config_sealed FROM "
                       "revisions WHERE revision_number = 1) WHERE revision_number = 2"),
              SQLITE_OK);
  }
  EXPECT_EQ(store_->GetRevision(id, 2).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->GetRevision(id, 1).ok());
}

// ---------------------------------------------------------------------------------
// Queue.

TEST_F(StoreTest, EnqueueIsAllOrNothingAndValidated) {
  std::string id = Install("Hightouch");
  std::vector<EnqueueItem> items = {{id, "m1", "{}"}, {"tmpl_missing", "m2", "{}"}};
  absl::Status status = store_->Enqueue(items);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("tmpl_missing"));
  EXPECT_EQ(Depth(id), 0u);
  EXPECT_THAT(LeaseAll(id, kStart), IsEmpty());

  std::vector<EnqueueItem> no_message_id = {{id, "", "{}"}};
  EXPECT_EQ(store_->Enqueue(no_message_id).code(), absl::StatusCode::kInvalidArgument);
  std::vector<EnqueueItem> no_integration = {{"", "m", "{}"}};
  EXPECT_EQ(store_->Enqueue(no_integration).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Enqueue({}).ok());
  EXPECT_EQ(Depth(id), 0u);
}

TEST_F(StoreTest, LeaseReturnsDueEventsInOrderAndExclusively) {
  std::string id = Install("Hightouch");
  std::string other = Install("Other");
  EnqueueN(id, 5);
  EnqueueN(other, 2, "o");
  EXPECT_EQ(Depth(id), 5u);
  EXPECT_EQ(Depth(other), 2u);

  absl::StatusOr<std::vector<QueuedEvent>> first = store_->Lease(id, 2, kStart);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(MessageIds(*first), ElementsAre("m0", "m1"));
  EXPECT_LT((*first)[0].seq, (*first)[1].seq);
  EXPECT_EQ((*first)[0].integration_id, id);
  EXPECT_EQ((*first)[0].payload, R"({"type":"track","messageId":"m0"})");
  EXPECT_EQ((*first)[0].attempts, 0u);
  EXPECT_EQ((*first)[0].enqueued_at_ms, kStart);
  EXPECT_EQ((*first)[0].next_attempt_at_ms, kStart);
  EXPECT_EQ((*first)[0].first_attempt_at_ms, 0);

  EXPECT_THAT(MessageIds(*store_->Lease(id, 2, kStart)), ElementsAre("m2", "m3"));
  EXPECT_THAT(MessageIds(*store_->Lease(id, 10, kStart)), ElementsAre("m4"));
  EXPECT_THAT(*store_->Lease(id, 10, kStart), IsEmpty());
  EXPECT_THAT(*store_->Lease(id, 0, kStart), IsEmpty());
  // Events enqueued "later" than now are not due yet.
  EXPECT_THAT(*store_->Lease(other, 10, kStart - 1), IsEmpty());
  EXPECT_THAT(MessageIds(*store_->Lease(other, 10, kStart)), ElementsAre("o0", "o1"));

  // Released events come back, in order; leased ones stay out.
  std::vector<int64_t> give_back = {(*first)[1].seq, (*first)[0].seq};
  store_->Release(give_back);
  EXPECT_THAT(MessageIds(*store_->Lease(id, 10, kStart)), ElementsAre("m0", "m1"));
  EXPECT_EQ(Depth(id), 5u);  // leasing removes nothing
}

TEST_F(StoreTest, ConcurrentLeasesNeverShareAnEvent) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 2000);
  std::mutex mu;
  std::vector<int64_t> all;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        absl::StatusOr<std::vector<QueuedEvent>> events = store_->Lease(id, 7, kStart);
        ASSERT_TRUE(events.ok());
        if (events->empty()) return;
        std::vector<int64_t> seqs = Seqs(*events);
        if (seqs[0] % 3 == 0) {
          ASSERT_TRUE(store_->Complete(seqs).ok());
        }
        std::lock_guard<std::mutex> lock(mu);
        all.insert(all.end(), seqs.begin(), seqs.end());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(all.size(), 2000u);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 2000u);
}

TEST_F(StoreTest, CompleteRemovesEvents) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 3);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  ASSERT_EQ(leased.size(), 3u);
  std::vector<int64_t> done = {leased[0].seq, leased[2].seq, 999999};  // unknown seq ignored
  ASSERT_TRUE(store_->Complete(done).ok());
  EXPECT_EQ(Depth(id), 1u);
  std::vector<int64_t> rest = {leased[1].seq};
  store_->Release(rest);
  EXPECT_THAT(MessageIds(LeaseAll(id, kStart)), ElementsAre("m1"));
  // Completing an already completed event is harmless.
  ASSERT_TRUE(store_->Complete(done).ok());
  EXPECT_EQ(Depth(id), 1u);
}

TEST_F(StoreTest, ScheduleRetryCountsAttemptsAndDelaysTheEvent) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 3);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  std::vector<int64_t> retry = {leased[0].seq};
  ASSERT_TRUE(store_->ScheduleRetry(retry, kStart + 5000, kStart + 10).ok());
  std::vector<int64_t> others = {leased[1].seq, leased[2].seq};
  store_->Release(others);

  // Before its time only the others are due.
  EXPECT_THAT(MessageIds(LeaseAll(id, kStart + 4999)), ElementsAre("m1", "m2"));
  store_->Release(others);
  // Once due it comes back with its attempt counted, after events due earlier.
  std::vector<QueuedEvent> later = LeaseAll(id, kStart + 5000);
  EXPECT_THAT(MessageIds(later), ElementsAre("m1", "m2", "m0"));
  EXPECT_EQ(later[2].attempts, 1u);
  EXPECT_EQ(later[2].first_attempt_at_ms, kStart + 10);
  EXPECT_EQ(later[2].next_attempt_at_ms, kStart + 5000);

  // A second retry keeps the first attempt time. (The first retry moved m0 out of its
  // segment, so it has a new seq.)
  EXPECT_NE(later[2].seq, retry[0]);
  retry = {later[2].seq};
  ASSERT_TRUE(store_->ScheduleRetry(retry, kStart + 9000, kStart + 5010).ok());
  store_->Release(others);
  std::vector<QueuedEvent> again = LeaseAll(id, kStart + 9000);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[2].message_id, "m0");
  EXPECT_EQ(again[2].attempts, 2u);
  EXPECT_EQ(again[2].first_attempt_at_ms, kStart + 10);
  EXPECT_EQ(Depth(id), 3u);
}

TEST_F(StoreTest, LeaseUsesTheDueIndexWithoutSorting) {
  RawDb raw(path_);
  std::vector<std::string> plan = raw.Column(
      "EXPLAIN QUERY PLAN SELECT seq FROM queue_segments "
      "WHERE integration_id = 'x' AND next_attempt_at_ms <= 5 "
      "ORDER BY next_attempt_at_ms, seq");
  ASSERT_EQ(plan.size(), 1u);
  // Covered by the index: the segments' rows (and their events) are not read.
  EXPECT_THAT(plan[0], HasSubstr("COVERING INDEX queue_segments_due"));
  EXPECT_THAT(plan[0], Not(HasSubstr("TEMP B-TREE")));
}

TEST_F(StoreTest, DeleteIntegrationDiscardsItsQueue) {
  std::string id = Install("Hightouch");
  std::string other = Install("Other");
  EnqueueN(id, 4);
  EnqueueN(other, 2);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  ASSERT_TRUE(store_->DeleteIntegration("org_default", id).ok());
  EXPECT_EQ(Depth(id), 0u);
  EXPECT_EQ(Depth(other), 2u);
  // The engine finishing its in-flight batch touches nothing else.
  ASSERT_TRUE(store_->Complete(Seqs(leased)).ok());
  EXPECT_EQ(Depth(other), 2u);
  std::vector<EnqueueItem> late = {{id, "late", "{}"}};
  EXPECT_EQ(store_->Enqueue(late).code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, BinaryAndLargeValuesRoundTripAndOversizedConfigsAreRefused) {
  std::string id = Install("Hightouch");
  std::string payload(1 << 20, 'x');
  payload[10] = '\0';
  payload[11] = '\xff';
  std::string message_id = "m\xc3\xa9-\xe2\x9c\x93";
  std::vector<EnqueueItem> items = {{id, message_id, payload}};
  ASSERT_TRUE(store_->Enqueue(items).ok());
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].payload, payload);
  EXPECT_EQ(leased[0].message_id, message_id);

  IntegrationRecord huge;
  huge.org_id = "org_default";
  huge.name = "Huge";
  huge.vendor = "hightouch";
  RevisionRecord revision;
  revision.config_json = std::string(17u << 20, 'c');
  EXPECT_EQ(store_->CreateIntegration(huge, revision).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AllIntegrations()->size(), 1u);
  RevisionRecord huge_revision;
  huge_revision.integration_id = id;
  huge_revision.config_json = std::string(17u << 20, 'c');
  EXPECT_EQ(store_->AddRevision(huge_revision).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetIntegration("org_default", id)->current_revision, 1);
}

// ---------------------------------------------------------------------------------
// Dead letters.

TEST_F(StoreTest, DeadLettersKeepTheEventAndReplayRequeuesIt) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 3);
  std::vector<QueuedEvent> initial = LeaseAll(id, kStart);
  std::vector<int64_t> first = {initial[0].seq};
  ASSERT_TRUE(store_->ScheduleRetry(first, kStart, kStart).ok());
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);  // m1 and m2 are still leased
  ASSERT_EQ(leased.size(), 1u);
  now_ = kStart + 100;
  std::vector<int64_t> dead = {leased[0].seq};
  ASSERT_TRUE(store_
                  ->DeadLetterEvents(dead, "retries_exhausted", "HTTP 503 for 4 hours", 503,
                                     "Service Unavailable", 0)
                  .ok());
  EXPECT_EQ(Depth(id), 2u);

  absl::StatusOr<PageResult<DeadLetter>> letters = store_->ListDeadLetters(id, "", Page{});
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->items.size(), 1u);
  const DeadLetter& letter = letters->items[0];
  EXPECT_EQ(letter.integration_id, id);
  EXPECT_EQ(letter.message_id, "m0");
  EXPECT_EQ(letter.payload, R"({"type":"track","messageId":"m0"})");
  EXPECT_EQ(letter.reason, "retries_exhausted");
  EXPECT_EQ(letter.message, "HTTP 503 for 4 hours");
  EXPECT_EQ(letter.last_status, 503);
  EXPECT_EQ(letter.last_response, "Service Unavailable");
  EXPECT_EQ(letter.attempts, 1u);
  EXPECT_EQ(letter.created_at_ms, kStart + 100);
  EXPECT_FALSE(letter.replayed);

  std::vector<int64_t> ids = {letter.id};
  absl::StatusOr<size_t> replayed = store_->ReplayDeadLetters("", "", "", ids);
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(*replayed, 1u);
  EXPECT_EQ(Depth(id), 3u);
  EXPECT_TRUE(store_->ListDeadLetters(id, "", Page{})->items[0].replayed);
  // The re-queued event starts over and is due now.
  std::vector<int64_t> still_leased = {initial[1].seq, initial[2].seq};
  store_->Release(still_leased);
  std::vector<QueuedEvent> requeued = LeaseAll(id, kStart + 100);
  ASSERT_EQ(requeued.size(), 3u);
  EXPECT_EQ(requeued[2].message_id, "m0");
  EXPECT_EQ(requeued[2].attempts, 0u);
  EXPECT_EQ(requeued[2].first_attempt_at_ms, 0);
  EXPECT_GT(requeued[2].seq, requeued[1].seq);
  // Replaying it again does nothing: it was already replayed.
  EXPECT_EQ(*store_->ReplayDeadLetters("", "", "", ids), 0u);
  std::vector<int64_t> unknown = {424242};
  EXPECT_EQ(*store_->ReplayDeadLetters("", "", "", unknown), 0u);
  EXPECT_EQ(Depth(id), 3u);
}

TEST_F(StoreTest, ReplayByFilterAndSkippingDeletedIntegrations) {
  std::string a = Install("A");
  std::string b = Install("B");
  EnqueueN(a, 4, "a");
  EnqueueN(b, 2, "b");
  std::vector<QueuedEvent> la = LeaseAll(a, kStart);
  std::vector<QueuedEvent> lb = LeaseAll(b, kStart);
  std::vector<int64_t> a_reject = {la[0].seq, la[1].seq};
  std::vector<int64_t> a_exhausted = {la[2].seq};
  ASSERT_TRUE(store_->DeadLetterEvents(a_reject, "invalid_event", "bad", 400, "", 0).ok());
  ASSERT_TRUE(store_->DeadLetterEvents(a_exhausted, "retries_exhausted", "503", 503, "", 0).ok());
  ASSERT_TRUE(store_->DeadLetterEvents(Seqs(lb), "invalid_event", "bad", 400, "", 0).ok());

  EXPECT_EQ(store_->ListDeadLetters("", "", Page{})->items.size(), 5u);
  EXPECT_EQ(store_->ListDeadLetters("", "invalid_event", Page{})->items.size(), 4u);
  EXPECT_EQ(store_->ListDeadLetters(a, "invalid_event", Page{})->items.size(), 2u);
  EXPECT_EQ(store_->ListDeadLetters(b, "retries_exhausted", Page{})->items.size(), 0u);

  // Scoped to another org, nothing matches, by filter or by id.
  EXPECT_EQ(*store_->ReplayDeadLetters("org_other", a, "invalid_event", {}), 0u);
  std::vector<int64_t> a_ids;
  absl::StatusOr<PageResult<DeadLetter>> a_letters = store_->ListDeadLetters(a, "", Page{});
  ASSERT_TRUE(a_letters.ok());
  for (const DeadLetter& letter : a_letters->items) a_ids.push_back(letter.id);
  EXPECT_EQ(*store_->ReplayDeadLetters("org_other", "", "", a_ids), 0u);
  EXPECT_EQ(Depth(a), 1u);
  EXPECT_EQ(*store_->ReplayDeadLetters("org_default", a, "invalid_event", {}), 2u);
  EXPECT_EQ(Depth(a), 3u);  // a3 still queued (leased) + a0, a1
  EXPECT_EQ(*store_->ReplayDeadLetters("", a, "invalid_event", {}), 0u);

  ASSERT_TRUE(store_->DeleteIntegration("org_default", b).ok());
  // b's dead letters stay listed but cannot be replayed into a deleted integration.
  EXPECT_EQ(store_->ListDeadLetters(b, "", Page{})->items.size(), 2u);
  EXPECT_EQ(*store_->ReplayDeadLetters("", "", "", {}), 1u);  // only a's retries_exhausted
  EXPECT_EQ(Depth(a), 4u);
  EXPECT_EQ(Depth(b), 0u);
}

TEST_F(StoreTest, DeadLetteringAnAlreadyCompletedEventDoesNothing) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 1);
  std::vector<int64_t> seqs = Seqs(LeaseAll(id, kStart));
  ASSERT_TRUE(store_->Complete(seqs).ok());
  ASSERT_TRUE(store_->DeadLetterEvents(seqs, "rejected", "", 0, "", 0).ok());
  EXPECT_THAT(store_->ListDeadLetters("", "", Page{})->items, IsEmpty());
}

TEST_F(StoreTest, DeadLetterRetentionKeepsTheNewest) {
  dead_letter_retention_ = 32;
  Reopen();
  std::string id = Install("Hightouch");
  EnqueueN(id, 100);
  for (const QueuedEvent& event : LeaseAll(id, kStart)) {
    std::vector<int64_t> one = {event.seq};
    ASSERT_TRUE(store_->DeadLetterEvents(one, "rejected", "", 400, "", 0).ok());
  }
  std::vector<DeadLetter> kept =
      store_->ListDeadLetters("", "", Page{.cursor = "", .limit = 1000})->items;
  EXPECT_GE(kept.size(), 32u);
  EXPECT_LE(kept.size(), 32u + 32u / 16);
  EXPECT_EQ(kept.front().message_id, "m99");  // newest first, and the newest survived
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].message_id, "m" + std::to_string(99 - i));
  }
}

// ---------------------------------------------------------------------------------
// Attempts.

AttemptRecord Attempt(const std::string& integration_id, std::vector<std::string> message_ids,
                      const std::string& outcome) {
  AttemptRecord attempt;
  attempt.integration_id = integration_id;
  attempt.message_ids = std::move(message_ids);
  attempt.event_types = "track,page";
  attempt.attempt = 2;
  attempt.http_status = 503;
  attempt.latency_ms = 87;
  attempt.outcome = outcome;
  attempt.request = "POST https://us-east-1.hightouch-events.com/v1/batch";
  attempt.response = "upstream unavailable";
  attempt.message = "Hightouch is unavailable; retrying";
  return attempt;
}

TEST_F(StoreTest, AttemptsAreRecordedAndFiltered) {
  AttemptRecord first = Attempt("tmpl_a", {"m1", "m2", ","}, "transient");
  ASSERT_TRUE(store_->RecordAttempt(first).ok());
  EXPECT_GT(first.id, 0);
  EXPECT_EQ(first.created_at_ms, kStart);
  AttemptRecord second = Attempt("tmpl_a", {"m22", "quote\"d"}, "delivered");
  ASSERT_TRUE(store_->RecordAttempt(second).ok());
  AttemptRecord third = Attempt("tmpl_b", {"m1"}, "delivered");
  ASSERT_TRUE(store_->RecordAttempt(third).ok());

  auto ids = [&](std::string_view integration, std::string_view message, std::string_view outcome) {
    std::vector<int64_t> out;
    absl::StatusOr<PageResult<AttemptRecord>> page =
        store_->ListAttempts(integration, message, outcome, Page{});
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return out;
    for (const AttemptRecord& a : page->items) out.push_back(a.id);
    return out;
  };
  EXPECT_THAT(ids("", "", ""), ElementsAre(third.id, second.id, first.id));
  EXPECT_THAT(ids("tmpl_a", "", ""), ElementsAre(second.id, first.id));
  EXPECT_THAT(ids("", "", "delivered"), ElementsAre(third.id, second.id));
  EXPECT_THAT(ids("", "m1", ""), ElementsAre(third.id, first.id));
  EXPECT_THAT(ids("", "m2", ""), ElementsAre(first.id));  // not a prefix match on m22
  EXPECT_THAT(ids("", "m", ""), IsEmpty());
  EXPECT_THAT(ids("", ",", ""), ElementsAre(first.id));  // not fooled by the separator
  EXPECT_THAT(ids("", "quote\"d", ""), ElementsAre(second.id));
  EXPECT_THAT(ids("tmpl_b", "m2", ""), IsEmpty());

  AttemptRecord stored = store_->ListAttempts("tmpl_a", "m1", "", Page{})->items.at(0);
  EXPECT_THAT(stored.message_ids, ElementsAre("m1", "m2", ","));
  EXPECT_EQ(stored.event_types, "track,page");
  EXPECT_EQ(stored.attempt, 2u);
  EXPECT_EQ(stored.http_status, 503);
  EXPECT_EQ(stored.latency_ms, 87);
  EXPECT_EQ(stored.outcome, "transient");
  EXPECT_EQ(stored.request, first.request);
  EXPECT_EQ(stored.response, first.response);
  EXPECT_EQ(stored.message, first.message);

  AttemptRecord nameless = Attempt("", {}, "delivered");
  EXPECT_EQ(store_->RecordAttempt(nameless).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, AttemptRetentionDropsTheOldest) {
  attempt_retention_ = 64;
  Reopen();
  std::vector<int64_t> recorded;
  for (int i = 0; i < 300; ++i) {
    AttemptRecord attempt = Attempt("tmpl_a", {"m" + std::to_string(i)}, "delivered");
    ASSERT_TRUE(store_->RecordAttempt(attempt).ok());
    recorded.push_back(attempt.id);
  }
  std::vector<AttemptRecord> kept =
      store_->ListAttempts("", "", "", Page{.cursor = "", .limit = 1000})->items;
  EXPECT_GE(kept.size(), 64u);
  EXPECT_LE(kept.size(), 64u + 64u / 16);
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].id, recorded[299 - i]);
  // Retention holds across a restart too (the count is reloaded).
  Reopen();
  for (int i = 0; i < 100; ++i) {
    AttemptRecord attempt = Attempt("tmpl_a", {"n"}, "delivered");
    ASSERT_TRUE(store_->RecordAttempt(attempt).ok());
  }
  EXPECT_LE(store_->ListAttempts("", "", "", Page{.cursor = "", .limit = 1000})->items.size(),
            64u + 4u);
}

// ---------------------------------------------------------------------------------
// Pagination.

TEST_F(StoreTest, CursorPaginationWalksEveryListOnce) {
  std::vector<std::string> installed;
  for (int i = 0; i < 7; ++i) installed.push_back(Install("I" + std::to_string(i)));
  Install("elsewhere", "org_other");

  std::vector<std::string> seen;
  Page page{.cursor = "", .limit = 3};
  std::vector<size_t> sizes;
  for (;;) {
    absl::StatusOr<PageResult<IntegrationRecord>> result =
        store_->ListIntegrations("org_default", page);
    ASSERT_TRUE(result.ok()) << result.status();
    sizes.push_back(result->items.size());
    for (const IntegrationRecord& r : result->items) seen.push_back(r.id);
    if (result->next_cursor.empty()) break;
    page.cursor = result->next_cursor;
  }
  EXPECT_THAT(sizes, ElementsAre(3, 3, 1));
  EXPECT_EQ(seen, installed);  // creation order, nothing repeated or missed

  // An exact multiple of the limit ends without an empty trailing page.
  Page exact{.cursor = "", .limit = 7};
  absl::StatusOr<PageResult<IntegrationRecord>> whole =
      store_->ListIntegrations("org_default", exact);
  EXPECT_EQ(whole->items.size(), 7u);
  EXPECT_TRUE(whole->next_cursor.empty());

  // Revisions, newest first, two at a time.
  for (int i = 0; i < 4; ++i) {
    RevisionRecord r;
    r.integration_id = installed[0];
    ASSERT_TRUE(store_->AddRevision(r).ok());
  }
  std::vector<int> numbers;
  Page rev_page{.cursor = "", .limit = 2};
  for (;;) {
    absl::StatusOr<PageResult<RevisionRecord>> result =
        store_->ListRevisions(installed[0], rev_page);
    ASSERT_TRUE(result.ok());
    for (const RevisionRecord& r : result->items) numbers.push_back(r.revision_number);
    if (result->next_cursor.empty()) break;
    rev_page.cursor = result->next_cursor;
  }
  EXPECT_THAT(numbers, ElementsAre(5, 4, 3, 2, 1));

  // Attempts, newest first.
  for (int i = 0; i < 5; ++i) {
    AttemptRecord a = Attempt("tmpl_a", {"m"}, "delivered");
    ASSERT_TRUE(store_->RecordAttempt(a).ok());
  }
  size_t attempts = 0;
  Page att_page{.cursor = "", .limit = 2};
  int pages = 0;
  for (;; ++pages) {
    absl::StatusOr<PageResult<AttemptRecord>> result = store_->ListAttempts("", "", "", att_page);
    ASSERT_TRUE(result.ok());
    attempts += result->items.size();
    if (result->next_cursor.empty()) break;
    att_page.cursor = result->next_cursor;
  }
  EXPECT_EQ(attempts, 5u);
  EXPECT_EQ(pages, 2);
}

TEST_F(StoreTest, GarbageCursorsAndLimitsAreInvalidArgument) {
  std::string id = Install("A");
  Install("B");
  absl::StatusOr<PageResult<IntegrationRecord>> first =
      store_->ListIntegrations("org_default", Page{.cursor = "", .limit = 1});
  ASSERT_FALSE(first->next_cursor.empty());
  EXPECT_THAT(first->next_cursor, MatchesRegex("[A-Za-z0-9_-]+"));  // URL-safe, opaque

  const std::vector<std::string> garbage = {
      "garbage!",
      "====",
      Base64UrlEncode("int"),
      Base64UrlEncode("int:"),
      Base64UrlEncode("int:abc"),
      Base64UrlEncode("int:-5"),
      Base64UrlEncode("int:0"),
      Base64UrlEncode("int:+5"),
      Base64UrlEncode("int:99999999999999999999999"),
      Base64UrlEncode("xx:5"),  // no list issues this kind
      std::string(100000, 'A'),
  };
  for (const std::string& cursor : garbage) {
    Page page{.cursor = cursor, .limit = 10};
    EXPECT_EQ(store_->ListIntegrations("org_default", page).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cursor.substr(0, 40);
    EXPECT_EQ(store_->ListRevisions(id, page).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->ListDeadLetters("", "", page).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->ListAttempts("", "", "", page).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  // A cursor from one list is refused by another.
  Page crossed{.cursor = first->next_cursor, .limit = 10};
  EXPECT_EQ(store_->ListAttempts("", "", "", crossed).status().code(),
            absl::StatusCode::kInvalidArgument);
  Page zero{.cursor = "", .limit = 0};
  EXPECT_EQ(store_->ListIntegrations("org_default", zero).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------
// Durability and concurrency.

TEST_F(StoreTest, EverythingSurvivesARestartAndLeasesAreForgotten) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 5);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  std::vector<int64_t> retry = {leased[1].seq};
  ASSERT_TRUE(store_->ScheduleRetry(retry, kStart + 10, kStart).ok());
  std::vector<int64_t> done = {leased[4].seq};  // the highest seq
  ASSERT_TRUE(store_->Complete(done).ok());
  std::vector<int64_t> dead = {leased[0].seq};
  ASSERT_TRUE(store_->DeadLetterEvents(dead, "rejected", "bad", 400, "{}", 0).ok());
  AttemptRecord attempt = Attempt(id, {"m0"}, "reject");
  ASSERT_TRUE(store_->RecordAttempt(attempt).ok());

  Reopen();  // leased[2], leased[3] were still leased: now they are due again
  EXPECT_EQ(store_->GetIntegration("org_default", id)->name, "Hightouch");
  EXPECT_THAT(store_->GetRevision(id, 1)->config_json, HasSubstr(kSecretValue));
  EXPECT_EQ(Depth(id), 3u);
  std::vector<QueuedEvent> after = LeaseAll(id, kStart + 10);
  EXPECT_THAT(MessageIds(after), ElementsAre("m2", "m3", "m1"));
  EXPECT_EQ(after[2].attempts, 1u);
  EXPECT_EQ(store_->ListDeadLetters(id, "", Page{})->items.size(), 1u);
  EXPECT_EQ(store_->ListAttempts(id, "", "", Page{})->items.size(), 1u);
  // Sequence numbers are never reused, even the completed highest one.
  EnqueueN(id, 1, "new");
  std::vector<QueuedEvent> fresh = LeaseAll(id, kStart + 10);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_GT(fresh[0].seq, leased[4].seq);
}

TEST_F(StoreTest, ConcurrentEnqueuesAreAllCommittedExactlyOnce) {
  std::string a = Install("A");
  std::string b = Install("B");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int sent = 0;
      for (int group = 1; sent < kPerThread; ++group) {
        int n = std::min(1 + group % 9, kPerThread - sent);
        std::vector<std::string> ids;
        for (int i = 0; i < n; ++i)
          ids.push_back("t" + std::to_string(t) + "-" + std::to_string(sent + i));
        std::vector<EnqueueItem> items;
        for (int i = 0; i < n; ++i) items.push_back({(sent + i) % 2 ? a : b, ids[i], ids[i]});
        if (!store_->Enqueue(items).ok()) ++failures;
        sent += n;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Depth(a) + Depth(b), static_cast<size_t>(kThreads * kPerThread));

  Reopen();  // count what is on disk, not what is cached
  std::vector<std::string> all = MessageIds(LeaseAll(a, kStart));
  std::vector<std::string> from_b = MessageIds(LeaseAll(b, kStart));
  all.insert(all.end(), from_b.begin(), from_b.end());
  std::set<std::string> unique(all.begin(), all.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(unique.size(), all.size());
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(unique.contains("t" + std::to_string(t) + "-0"));
    EXPECT_TRUE(unique.contains("t" + std::to_string(t) + "-" + std::to_string(kPerThread - 1)));
  }
}

TEST_F(StoreTest, AFailingWriteDoesNotSinkOthersInTheSameGroup) {
  std::string id = Install("A");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, not_found{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string message = std::to_string(t) + "-" + std::to_string(i);
        // Odd threads write to an integration that does not exist.
        std::string target = t % 2 ? "tmpl_missing" : id;
        std::vector<EnqueueItem> items = {{target, message, "{}"}};
        absl::Status status = store_->Enqueue(items);
        if (status.ok()) ++ok;
        if (status.code() == absl::StatusCode::kNotFound) ++not_found;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(not_found.load(), 200);
  EXPECT_EQ(Depth(id), 200u);
  EXPECT_EQ(LeaseAll(id, kStart).size(), 200u);
}


// ---------------------------------------------------------------------------------
// Segments, the asynchronous completion and background checkpoints.

TEST_F(StoreTest, PartlyFinishedSegmentsSurviveARestart) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 5);  // one Enqueue call: one segment
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  ASSERT_EQ(leased.size(), 5u);
  std::vector<int64_t> done = {leased[0].seq, leased[2].seq};
  ASSERT_TRUE(store_->Complete(done).ok());
  std::vector<int64_t> dead = {leased[4].seq};
  ASSERT_TRUE(store_->DeadLetterEvents(dead, "rejected", "bad", 400, "", 1).ok());
  EXPECT_EQ(Depth(id), 2u);
  EXPECT_EQ(store_->ListDeadLetters(id, "", Page{})->items.at(0).attempts, 1u);

  Reopen();  // m1 and m3 were leased: due again; m0, m2 and m4 stay finished
  EXPECT_EQ(Depth(id), 2u);
  std::vector<QueuedEvent> after = LeaseAll(id, kStart);
  EXPECT_THAT(MessageIds(after), ElementsAre("m1", "m3"));
  EXPECT_EQ(after[0].seq, leased[1].seq);
  ASSERT_TRUE(store_->Complete(Seqs(after)).ok());
  EXPECT_EQ(Depth(id), 0u);
  store_.reset();
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT count(*) FROM queue_segments"), ElementsAre("0"));
  EXPECT_THAT(raw.Column("SELECT count(*) FROM queue_segment_progress"), ElementsAre("0"));
}

TEST_F(StoreTest, RetryingAWholeSegmentKeepsItsSeqsAndAPartOneMovesIt) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 3);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  ASSERT_TRUE(store_->ScheduleRetry(Seqs(leased), kStart + 10, kStart).ok());
  std::vector<QueuedEvent> again = LeaseAll(id, kStart + 10);
  EXPECT_EQ(Seqs(again), Seqs(leased));
  EXPECT_EQ(again[0].attempts, 1u);
  EXPECT_EQ(again[2].first_attempt_at_ms, kStart);

  // Retrying one of three leaves two behind and moves one, keeping its attempt count.
  std::vector<int64_t> one = {again[1].seq};
  ASSERT_TRUE(store_->ScheduleRetry(one, kStart + 20, kStart + 10).ok());
  std::vector<int64_t> others = {again[0].seq, again[2].seq};
  store_->Release(others);
  std::vector<QueuedEvent> now_due = LeaseAll(id, kStart + 20);
  EXPECT_THAT(MessageIds(now_due), ElementsAre("m0", "m2", "m1"));
  EXPECT_EQ(now_due[0].attempts, 1u);
  EXPECT_EQ(now_due[2].attempts, 2u);
  EXPECT_EQ(now_due[2].first_attempt_at_ms, kStart);
  EXPECT_EQ(now_due[2].enqueued_at_ms, kStart);
  EXPECT_EQ(Depth(id), 3u);
}

TEST_F(StoreTest, OneCallQueuesAtMost4096EventsPerSegment) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 5000);
  std::vector<QueuedEvent> all = LeaseAll(id, kStart);
  ASSERT_EQ(all.size(), 5000u);
  for (size_t i = 1; i < all.size(); ++i) ASSERT_LT(all[i - 1].seq, all[i].seq);
  EXPECT_EQ(all[4999].message_id, "m4999");
  store_.reset();
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT event_count FROM queue_segments ORDER BY seq"),
              ElementsAre("4096", "904"));
}

TEST_F(StoreTest, OneCallStartsANewSegmentRatherThanExceed64MiB) {
  std::string id = Install("Hightouch");
  const std::string payload(1 << 20, 'p');
  std::vector<std::string> ids;
  for (int i = 0; i < 65; ++i) ids.push_back(absl::StrCat("big", i));
  std::vector<EnqueueItem> items;
  for (const std::string& message_id : ids) items.push_back({id, message_id, payload});
  ASSERT_TRUE(store_->Enqueue(items).ok());
  EXPECT_EQ(Depth(id), 65u);
  std::vector<QueuedEvent> all = LeaseAll(id, kStart);
  ASSERT_EQ(all.size(), 65u);
  EXPECT_EQ(all[64].message_id, "big64");
  EXPECT_EQ(all[64].payload.size(), payload.size());
  store_.reset();
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT event_count FROM queue_segments ORDER BY seq"),
              ElementsAre("63", "2"));
}

TEST_F(StoreTest, LeasesReadTheSameEventsWithoutTheSegmentCache) {
  segment_cache_bytes_ = 0;
  Reopen();
  std::string id = Install("Hightouch");
  EnqueueN(id, 3);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  ASSERT_EQ(leased.size(), 3u);
  EXPECT_EQ(leased[1].message_id, "m1");
  EXPECT_EQ(leased[1].payload, R"({"type":"track","messageId":"m1"})");
  EXPECT_EQ(leased[1].enqueued_at_ms, kStart);
  EXPECT_EQ(leased[1].next_attempt_at_ms, kStart);
}

TEST_F(StoreTest, CompleteAndRecordAsyncCommitsBothAndCallsBack) {
  std::string id = Install("Hightouch");
  EnqueueN(id, 3);
  std::vector<QueuedEvent> leased = LeaseAll(id, kStart);
  std::promise<std::pair<absl::Status, AttemptRecord>> promise;
  store_->CompleteAndRecordAsync(Seqs(leased), Attempt(id, {"m0", "m1", "m2"}, "delivered"),
                                 [&](absl::Status status, const AttemptRecord& recorded) {
                                   promise.set_value({status, recorded});
                                 });
  auto [status, recorded] = promise.get_future().get();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_GT(recorded.id, 0);
  EXPECT_EQ(Depth(id), 0u);
  absl::StatusOr<PageResult<AttemptRecord>> attempts = store_->ListAttempts(id, "", "", Page{});
  ASSERT_EQ(attempts->items.size(), 1u);
  EXPECT_EQ(attempts->items[0].id, recorded.id);
  EXPECT_THAT(attempts->items[0].message_ids, ElementsAre("m0", "m1", "m2"));

  // A bad record fails the whole job: the events stay queued (and leased).
  EnqueueN(id, 1, "x");
  std::vector<QueuedEvent> more = LeaseAll(id, kStart);
  std::promise<absl::Status> failed;
  store_->CompleteAndRecordAsync(Seqs(more), AttemptRecord{},
                                 [&](absl::Status s, const AttemptRecord&) { failed.set_value(s); });
  EXPECT_EQ(failed.get_future().get().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Depth(id), 1u);
  EXPECT_THAT(LeaseAll(id, kStart), IsEmpty());
}

TEST_F(StoreTest, AVersion1QueueIsMovedIntoSegments) {
  std::string id = Install("Hightouch");
  store_.reset();
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("DROP TABLE queue_segments; DROP TABLE queue_segment_progress; "
                       "CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "integration_id TEXT NOT NULL, message_id TEXT NOT NULL, "
                       "attempts INTEGER NOT NULL, enqueued_at_ms INTEGER NOT NULL, "
                       "first_attempt_at_ms INTEGER NOT NULL, next_attempt_at_ms INTEGER NOT "
                       "NULL, payload BLOB NOT NULL); UPDATE schema_version SET version = 1;"),
              SQLITE_OK);
    ASSERT_EQ(raw.Exec("INSERT INTO queue (integration_id, message_id, attempts, enqueued_at_ms, "
                       "first_attempt_at_ms, next_attempt_at_ms, payload) VALUES ('" + id +
                       "', 'old1', 2, 5, 6, 7, '{\"a\":1}'), ('" + id +
                       "', 'old2', 0, 8, 0, 8, '{\"b\":2}')"),
              SQLITE_OK);
  }
  Reopen();
  EXPECT_EQ(Depth(id), 2u);
  std::vector<QueuedEvent> events = LeaseAll(id, kStart);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].message_id, "old1");
  EXPECT_EQ(events[0].payload, R"({"a":1})");
  EXPECT_EQ(events[0].attempts, 2u);
  EXPECT_EQ(events[0].first_attempt_at_ms, 6);
  EXPECT_EQ(events[0].next_attempt_at_ms, 7);
  EXPECT_EQ(events[1].message_id, "old2");
  store_.reset();
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT version FROM schema_version"), ElementsAre("2"));
  EXPECT_THAT(raw.Column("SELECT count(*) FROM sqlite_master WHERE name = 'queue'"),
              ElementsAre("0"));
}

TEST_F(StoreTest, TheWalIsCheckpointedInTheBackground) {
  checkpoint_wal_bytes_ = 256 * 1024;
  Reopen();
  std::string id = Install("Hightouch");
  const std::string payload(1000, 'x');
  for (int batch = 0; batch < 40; ++batch) {
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i) ids.push_back(absl::StrCat("b", batch, "-", i));
    std::vector<EnqueueItem> items;
    for (const std::string& message_id : ids) items.push_back({id, message_id, payload});
    ASSERT_TRUE(store_->Enqueue(items).ok());
  }
  // Only a checkpoint copies pages into the database file; the store is still open,
  // so nothing else can have grown it to hold the 4 MB queued.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::filesystem::file_size(path_) < 2 * 1024 * 1024 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(std::filesystem::file_size(path_), 2u * 1024 * 1024);
  EXPECT_EQ(LeaseAll(id, kStart).size(), 4000u);
}

}  // namespace
}  // namespace signal_host
