// The SQLite store as ConfigStore: integrations and revisions (configs sealed with
// SecretBox, the revision id as associated data), and the delivery status (the hold).
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/crypto/ids.h"
#include "host/crypto/secret_box.h"
#include "host/store/sealed_config.h"
#include "host/store/sqlite_rows.h"
#include "host/store/sqlite_store.h"

namespace signal_host::sqlite_store {
namespace {

// Column lists match the Read* functions below.
constexpr char kIntegrationColumns[] =
    "id, org_id, name, vendor, description, catalog_vendor_key, catalog_variant_key, "
    "current_revision, status, status_reason, created_at_ms, updated_at_ms, seq";
constexpr int kIntegrationSeqColumn = 12;

constexpr char kRevisionColumns[] =
    "id, integration_id, org_id, revision_number, secret_fields, delivery_mode, "
    "change_summary, created_by, created_at_ms, delivery_settings, config_sealed";
constexpr int kRevisionNumberColumn = 3;

IntegrationRecord ReadIntegration(const Statement& s) {
  IntegrationRecord r;
  r.id = s.Text(0);
  r.org_id = s.Text(1);
  r.name = s.Text(2);
  r.vendor = s.Text(3);
  r.description = s.Text(4);
  r.catalog_vendor_key = s.Text(5);
  r.catalog_variant_key = s.Text(6);
  r.current_revision = static_cast<int>(s.Int(7));
  r.status = s.Text(8);
  r.status_reason = s.Text(9);
  r.created_at_ms = s.Int(10);
  r.updated_at_ms = s.Int(11);
  return r;
}

absl::Status InsertRevision(Connection& db, const RevisionRecord& r, std::string_view sealed) {
  STORE_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare("INSERT INTO revisions (integration_id, revision_number, id, org_id, "
                 "secret_fields, delivery_mode, change_summary, created_by, created_at_ms, "
                 "delivery_settings, config_sealed) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  return stmt.BindText(1, r.integration_id)
      .Bind(2, r.revision_number)
      .BindText(3, r.id)
      .BindText(4, r.org_id)
      .BindText(5, JsonStringArray(r.secret_fields))
      .BindText(6, r.delivery_mode)
      .BindText(7, r.change_summary)
      .BindText(8, r.created_by)
      .Bind(9, r.created_at_ms)
      .BindBlob(10, r.delivery_settings)
      .BindText(11, sealed)
      .Run();
}

}  // namespace

// ---------------------------------------------------------------------------------
// Integrations and revisions.

absl::StatusOr<RevisionRecord> SqliteStore::ReadRevision(const Statement& s) const {
  RevisionRecord r;
  r.id = s.Text(0);
  r.integration_id = s.Text(1);
  r.org_id = s.Text(2);
  r.revision_number = static_cast<int>(s.Int(3));
  STORE_ASSIGN_OR_RETURN(r.secret_fields, ParseJsonStringArray(s.View(4)));
  r.delivery_mode = s.Text(5);
  r.change_summary = s.Text(6);
  r.created_by = s.Text(7);
  r.created_at_ms = s.Int(8);
  r.delivery_settings = s.Text(9);
  STORE_ASSIGN_OR_RETURN(r.config_json, OpenRevisionConfig(*secrets_, s.View(10), r.id));
  return r;
}

absl::Status SqliteStore::CreateIntegration(IntegrationRecord& integration,
                                            RevisionRecord& first_revision) {
  if (integration.org_id.empty() || integration.name.empty() || integration.vendor.empty()) {
    return absl::InvalidArgumentError("an integration needs an org_id, a name and a vendor");
  }
  if (!ValidStatus(integration.status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown integration status \"", integration.status, "\""));
  }
  if (integration.id.empty()) integration.id = NewId("tmpl");
  if (first_revision.id.empty()) first_revision.id = NewId("rev");
  const int64_t now = clock_();
  integration.created_at_ms = now;
  integration.updated_at_ms = now;
  integration.current_revision = 1;
  first_revision.integration_id = integration.id;
  first_revision.org_id = integration.org_id;
  first_revision.revision_number = 1;
  first_revision.created_at_ms = now;
  STORE_ASSIGN_OR_RETURN(
      std::string sealed,
      SealRevisionConfig(*secrets_, first_revision.config_json, first_revision.id));

  return Write([&](Connection& db, WriteEffects&) -> absl::Status {
    {
      STORE_ASSIGN_OR_RETURN(
          Statement exists,
          db.Prepare("SELECT 1 FROM integrations WHERE org_id = ?1 AND name = ?2"));
      exists.BindText(1, integration.org_id).BindText(2, integration.name);
      STORE_ASSIGN_OR_RETURN(bool found, exists.Step());
      if (found) {
        return absl::AlreadyExistsError(
            absl::StrCat("an integration named \"", integration.name, "\" already exists"));
      }
    }
    STORE_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare("INSERT INTO integrations (id, org_id, name, vendor, description, "
                   "catalog_vendor_key, catalog_variant_key, current_revision, status, "
                   "status_reason, created_at_ms, updated_at_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    STORE_RETURN_IF_ERROR(insert.BindText(1, integration.id)
                              .BindText(2, integration.org_id)
                              .BindText(3, integration.name)
                              .BindText(4, integration.vendor)
                              .BindText(5, integration.description)
                              .BindText(6, integration.catalog_vendor_key)
                              .BindText(7, integration.catalog_variant_key)
                              .Bind(8, integration.current_revision)
                              .BindText(9, integration.status)
                              .BindText(10, integration.status_reason)
                              .Bind(11, integration.created_at_ms)
                              .Bind(12, integration.updated_at_ms)
                              .Run());
    return InsertRevision(db, first_revision, sealed);
  });
}

absl::StatusOr<IntegrationRecord> SqliteStore::GetIntegration(std::string_view org_id,
                                                              std::string_view id) {
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt, reader.db().Prepare(absl::StrCat(
                                             "SELECT ", kIntegrationColumns,
                                             " FROM integrations WHERE id = ?1 AND org_id = ?2")));
  stmt.BindText(1, id).BindText(2, org_id);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no integration ", Av(id)));
  return ReadIntegration(stmt);
}

absl::StatusOr<PageResult<IntegrationRecord>> SqliteStore::ListIntegrations(std::string_view org_id,
                                                                            const Page& page) {
  STORE_ASSIGN_OR_RETURN(int64_t limit, CheckLimit(page));
  STORE_ASSIGN_OR_RETURN(int64_t after, DecodeCursor(page.cursor, "int", 0));
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt, reader.db().Prepare(absl::StrCat(
                                             "SELECT ", kIntegrationColumns,
                                             " FROM integrations WHERE org_id = ?1 AND seq > ?2 "
                                             "ORDER BY seq LIMIT ?3")));
  stmt.BindText(1, org_id).Bind(2, after).Bind(3, limit + 1);
  return ReadPage<IntegrationRecord>(
      stmt, limit, "int", kIntegrationSeqColumn,
      [](const Statement& s) -> absl::StatusOr<IntegrationRecord> { return ReadIntegration(s); });
}

absl::StatusOr<std::vector<IntegrationRecord>> SqliteStore::AllIntegrations() {
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         reader.db().Prepare(absl::StrCat("SELECT ", kIntegrationColumns,
                                                          " FROM integrations ORDER BY seq")));
  std::vector<IntegrationRecord> all;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    all.push_back(ReadIntegration(stmt));
  }
  return all;
}

absl::Status SqliteStore::DeleteIntegration(std::string_view org_id, std::string_view id) {
  return Write([&](Connection& db, WriteEffects& effects) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(Statement remove,
                           db.Prepare("DELETE FROM integrations WHERE id = ?1 AND org_id = ?2"));
    STORE_RETURN_IF_ERROR(remove.BindText(1, id).BindText(2, org_id).Run());
    if (db.Changes() == 0) return absl::NotFoundError(absl::StrCat("no integration ", Av(id)));
    // Revisions go by ON DELETE CASCADE; queued events are discarded explicitly.
    STORE_ASSIGN_OR_RETURN(Statement revisions,
                           db.Prepare("DELETE FROM revisions WHERE integration_id = ?1"));
    STORE_RETURN_IF_ERROR(revisions.BindText(1, id).Run());
    STORE_ASSIGN_OR_RETURN(
        Statement progress,
        db.Prepare("DELETE FROM queue_segment_progress WHERE seq IN "
                   "(SELECT seq FROM queue_segments WHERE integration_id = ?1)"));
    STORE_RETURN_IF_ERROR(progress.BindText(1, id).Run());
    STORE_ASSIGN_OR_RETURN(
        Statement queue,
        db.Prepare("DELETE FROM queue_segments WHERE integration_id = ?1 RETURNING seq"));
    queue.BindText(1, id);
    for (;;) {
      STORE_ASSIGN_OR_RETURN(bool row, queue.Step());
      if (!row) break;
      SegmentChange& change = effects.segment_changes.emplace_back();
      change.segment = queue.Int(0);
      change.removed = true;
    }
    effects.depth_resets.emplace_back(id);
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::AddRevision(RevisionRecord& revision) {
  if (revision.integration_id.empty()) {
    return absl::InvalidArgumentError("a revision needs an integration_id");
  }
  if (revision.id.empty()) revision.id = NewId("rev");
  revision.created_at_ms = clock_();
  STORE_ASSIGN_OR_RETURN(std::string sealed,
                         SealRevisionConfig(*secrets_, revision.config_json, revision.id));

  return Write([&](Connection& db, WriteEffects&) -> absl::Status {
    std::string org_id;
    int64_t current = 0;
    {
      STORE_ASSIGN_OR_RETURN(
          Statement lookup,
          db.Prepare("SELECT org_id, current_revision FROM integrations WHERE id = ?1"));
      lookup.BindText(1, revision.integration_id);
      STORE_ASSIGN_OR_RETURN(bool found, lookup.Step());
      if (found) {
        org_id = lookup.Text(0);
        current = lookup.Int(1);
      }
      if (!found || (!revision.org_id.empty() && revision.org_id != org_id)) {
        return absl::NotFoundError(absl::StrCat("no integration ", revision.integration_id));
      }
    }
    revision.org_id = org_id;
    revision.revision_number = static_cast<int>(current + 1);
    STORE_RETURN_IF_ERROR(InsertRevision(db, revision, sealed));
    STORE_ASSIGN_OR_RETURN(
        Statement update,
        db.Prepare("UPDATE integrations SET current_revision = ?2, updated_at_ms = ?3, "
                   "status = CASE WHEN status = 'held' THEN 'active' ELSE status END, "
                   "status_reason = CASE WHEN status = 'held' THEN '' ELSE status_reason END "
                   "WHERE id = ?1"));
    return update.BindText(1, revision.integration_id)
        .Bind(2, revision.revision_number)
        .Bind(3, revision.created_at_ms)
        .Run();
  });
}

absl::StatusOr<RevisionRecord> SqliteStore::GetRevision(std::string_view integration_id,
                                                        int revision_number) {
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(
      Statement stmt, reader.db().Prepare(absl::StrCat(
                          "SELECT ", kRevisionColumns,
                          " FROM revisions WHERE integration_id = ?1 AND revision_number = ?2")));
  stmt.BindText(1, integration_id).Bind(2, revision_number);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("no revision ", revision_number, " of integration ", Av(integration_id)));
  }
  return ReadRevision(stmt);
}

absl::StatusOr<PageResult<RevisionRecord>> SqliteStore::ListRevisions(
    std::string_view integration_id, const Page& page) {
  STORE_ASSIGN_OR_RETURN(int64_t limit, CheckLimit(page));
  STORE_ASSIGN_OR_RETURN(int64_t before, DecodeCursor(page.cursor, "rev", kNoUpperBound));
  Reader reader = AcquireReader();
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         reader.db().Prepare(absl::StrCat(
                             "SELECT ", kRevisionColumns,
                             " FROM revisions WHERE integration_id = ?1 AND revision_number < ?2 "
                             "ORDER BY revision_number DESC LIMIT ?3")));
  stmt.BindText(1, integration_id).Bind(2, before).Bind(3, limit + 1);
  return ReadPage<RevisionRecord>(stmt, limit, "rev", kRevisionNumberColumn,
                                  [this](const Statement& s) { return ReadRevision(s); });
}

absl::Status SqliteStore::SetStatus(std::string_view integration_id, std::string_view status,
                                    std::string_view reason) {
  if (!ValidStatus(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown integration status \"", Av(status), "\""));
  }
  const int64_t now = clock_();
  return Write([&](Connection& db, WriteEffects&) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(
        Statement update,
        db.Prepare("UPDATE integrations SET status = ?2, status_reason = ?3, updated_at_ms = ?4 "
                   "WHERE id = ?1"));
    STORE_RETURN_IF_ERROR(update.BindText(1, integration_id)
                              .BindText(2, status)
                              .BindText(3, reason)
                              .Bind(4, now)
                              .Run());
    if (db.Changes() == 0)
      return absl::NotFoundError(absl::StrCat("no integration ", Av(integration_id)));
    return absl::OkStatus();
  });
}

}  // namespace signal_host::sqlite_store
