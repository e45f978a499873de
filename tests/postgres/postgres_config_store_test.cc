// PostgresStore as ConfigStore and IntegrationStatusStore, against a real server: the
// same observable contract as the SQLite store (tests/host/store_test.cc): ids,
// numbering, newest-first revisions, AlreadyExists, atomic create, the hold cleared by
// a revision, configs sealed at rest, cursors only the store issued.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "host/crypto/encoding.h"
#include "tests/postgres/pg_test_support.h"

namespace signal_test {
namespace {

using ::signal_host::IntegrationRecord;
using ::signal_host::Page;
using ::signal_host::PageResult;
using ::signal_host::RevisionRecord;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

class PostgresConfigStoreTest : public PgStoreTest {};

TEST_F(PostgresConfigStoreTest, CreateGetListDeleteIntegration) {
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
  EXPECT_EQ(revision.revision_number, 1);
  EXPECT_EQ(revision.integration_id, integration.id);
  EXPECT_EQ(revision.org_id, "org_a");

  absl::StatusOr<IntegrationRecord> got = store_->GetIntegration("org_a", integration.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "Hightouch");
  EXPECT_EQ(got->description, "events to Hightouch");
  EXPECT_EQ(got->status, "active");
  EXPECT_EQ(got->current_revision, 1);
  EXPECT_EQ(got->created_at_ms, kStart);
  EXPECT_EQ(store_->GetIntegration("org_b", integration.id).status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<PageResult<IntegrationRecord>> list = store_->ListIntegrations("org_a", Page{});
  ASSERT_TRUE(list.ok()) << list.status();
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
  EXPECT_THAT(*store_->AllIntegrations(), IsEmpty());
}

TEST_F(PostgresConfigStoreTest, CreateRefusesIncompleteRecords) {
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

TEST_F(PostgresConfigStoreTest, DuplicateNameIsAlreadyExistsAndNothingIsHalfWritten) {
  std::string first = Install("Hightouch");
  IntegrationRecord dup;
  dup.org_id = "org_default";
  dup.name = "Hightouch";
  dup.vendor = "hightouch";
  RevisionRecord revision;
  absl::Status status = store_->CreateIntegration(dup, revision);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("Hightouch"));
  EXPECT_EQ(store_->AllIntegrations()->size(), 1u);
  // The refused create left no revision behind (both or neither).
  auto raw = Raw();
  absl::StatusOr<signal_host::pg::Result> revisions = raw->Exec("SELECT count(*) FROM revisions");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->Int(0, 0), 1);
  Install("Hightouch", "org_other");
  ASSERT_TRUE(store_->DeleteIntegration("org_default", first).ok());
  Install("Hightouch");
  EXPECT_EQ(store_->AllIntegrations()->size(), 2u);
}

TEST_F(PostgresConfigStoreTest, RevisionsAreNumberedImmutableAndListedNewestFirst) {
  std::string id = Install("Hightouch");
  ASSERT_TRUE(store_->SetStatus(id, "held", "401 from Hightouch").ok());
  EXPECT_EQ(store_->GetIntegration("org_default", id)->status, "held");
  for (int i = 2; i <= 4; ++i) {
    now_ += 1000;
    RevisionRecord revision;
    revision.integration_id = id;
    revision.config_json = R"({"api_key":"key)" + std::to_string(i) + R"("})";
    revision.secret_fields = {"api_key", "write_key"};
    revision.change_summary = "rotate " + std::to_string(i);
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
  EXPECT_EQ(store_->GetRevision(id, 3)->config_json, R"({"api_key":"key3"})");
  EXPECT_THAT(store_->GetRevision(id, 3)->secret_fields, ElementsAre("api_key", "write_key"));
  EXPECT_EQ(store_->GetRevision(id, 5).status().code(), absl::StatusCode::kNotFound);

  std::vector<int> numbers;
  Page page{.cursor = "", .limit = 3};
  for (;;) {
    absl::StatusOr<PageResult<RevisionRecord>> list = store_->ListRevisions(id, page);
    ASSERT_TRUE(list.ok()) << list.status();
    for (const RevisionRecord& r : list->items) numbers.push_back(r.revision_number);
    if (list->next_cursor.empty()) break;
    page.cursor = list->next_cursor;
  }
  EXPECT_THAT(numbers, ElementsAre(4, 3, 2, 1));

  // Not even a direct UPDATE can change a stored revision.
  auto raw = Raw();
  EXPECT_FALSE(raw->Run("UPDATE revisions SET change_summary = 'x'").ok());
  EXPECT_EQ(store_->GetRevision(id, 3)->change_summary, "rotate 3");
}

TEST_F(PostgresConfigStoreTest, AddRevisionToUnknownOrForeignIntegrationIsNotFound) {
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

TEST_F(PostgresConfigStoreTest, SetStatusValidatesAndPersists) {
  std::string id = Install("Hightouch");
  EXPECT_EQ(store_->SetStatus(id, "paused", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetStatus("tmpl_missing", "held", "").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->SetStatus(id, "disabled", "by operator").ok());
  store_ = OpenStore();
  absl::StatusOr<IntegrationRecord> integration = store_->GetIntegration("org_default", id);
  EXPECT_EQ(integration->status, "disabled");
  EXPECT_EQ(integration->status_reason, "by operator");
}

TEST_F(PostgresConfigStoreTest, TheStoredConfigIsSealedAndHoldsNoSecret) {
  std::string id = Install("Hightouch");
  auto raw = Raw();
  absl::StatusOr<signal_host::pg::Result> rows =
      raw->Exec("SELECT config_sealed, change_summary FROM revisions");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows(), 1);
  EXPECT_EQ(rows->Text(0, 1), "Installed from the catalog");  // we read the right row
  EXPECT_THAT(rows->Text(0, 0), MatchesRegex("v1:[A-Za-z0-9+/=]+"));
  EXPECT_THAT(rows->Text(0, 0), Not(HasSubstr("sk_live_")));
  // Nowhere in the database, either.
  absl::StatusOr<signal_host::pg::Result> anywhere =
      raw->Exec("SELECT count(*) FROM revisions r WHERE r::text LIKE '%' || $1 || '%'",
                signal_host::pg::Params().Text(kSecretValue));
  ASSERT_TRUE(anywhere.ok()) << anywhere.status();
  EXPECT_EQ(anywhere->Int(0, 0), 0);
}

TEST_F(PostgresConfigStoreTest, AWrongKeyOrAMovedSealedConfigFailsCleanly) {
  std::string id = Install("Hightouch");
  RevisionRecord second;
  second.integration_id = id;
  second.config_json = "{}";
  ASSERT_TRUE(store_->AddRevision(second).ok());

  signal_host::SecretBox other = *signal_host::SecretBox::FromKeyText(
      "0000000000000000000000000000000000000000000000000000000000000001");
  std::unique_ptr<signal_host::PostgresStore> wrong_key = OpenStore(&other);
  absl::StatusOr<RevisionRecord> revision = wrong_key->GetRevision(id, 1);
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(revision.status().message(), Not(HasSubstr(kSecretValue)));
  EXPECT_TRUE(wrong_key->GetIntegration("org_default", id).ok());

  auto raw = Raw();
  ASSERT_TRUE(raw->Run("ALTER TABLE revisions DISABLE TRIGGER revisions_are_immutable").ok());
  ASSERT_TRUE(raw->Run("UPDATE revisions SET config_sealed = (SELECT config_sealed FROM "
                       "revisions WHERE revision_number = 1) WHERE revision_number = 2")
                  .ok());
  EXPECT_EQ(store_->GetRevision(id, 2).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->GetRevision(id, 1).ok());
}

TEST_F(PostgresConfigStoreTest, OversizedConfigsAreRefused) {
  std::string id = Install("Hightouch");
  RevisionRecord huge;
  huge.integration_id = id;
  huge.config_json = std::string(17u << 20, 'c');
  EXPECT_EQ(store_->AddRevision(huge).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetIntegration("org_default", id)->current_revision, 1);
}

TEST_F(PostgresConfigStoreTest, CursorPaginationWalksEveryIntegrationOnce) {
  std::vector<std::string> installed;
  for (int i = 0; i < 7; ++i) installed.push_back(Install("I" + std::to_string(i)));
  Install("elsewhere", "org_other");
  std::vector<std::string> seen;
  std::vector<size_t> sizes;
  Page page{.cursor = "", .limit = 3};
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
  EXPECT_EQ(seen, installed);
  EXPECT_TRUE(
      store_->ListIntegrations("org_default", Page{.cursor = "", .limit = 7})->next_cursor.empty());
}

TEST_F(PostgresConfigStoreTest, GarbageCursorsAndLimitsAreInvalidArgument) {
  std::string id = Install("A");
  Install("B");
  absl::StatusOr<PageResult<IntegrationRecord>> first =
      store_->ListIntegrations("org_default", Page{.cursor = "", .limit = 1});
  ASSERT_FALSE(first->next_cursor.empty());
  const std::vector<std::string> garbage = {"garbage!",
                                            "====",
                                            signal_host::Base64UrlEncode("int:"),
                                            signal_host::Base64UrlEncode("int:-5"),
                                            signal_host::Base64UrlEncode("int:0"),
                                            signal_host::Base64UrlEncode("xx:5"),
                                            std::string(100000, 'A')};
  for (const std::string& cursor : garbage) {
    Page page{.cursor = cursor, .limit = 10};
    EXPECT_EQ(store_->ListIntegrations("org_default", page).status().code(),
              absl::StatusCode::kInvalidArgument);
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
  EXPECT_EQ(store_->ListIntegrations("org_default", Page{.cursor = "", .limit = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace signal_test
