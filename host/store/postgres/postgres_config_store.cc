// The PostgreSQL store as ConfigStore and IntegrationStatusStore: integrations, their
// immutable revisions (configs sealed, as in every store, by sealed_config.h) and the
// hold. Every write notifies the other hosts in its own transaction.
#include <utility>

#include "absl/strings/str_cat.h"
#include "host/crypto/ids.h"
#include "host/store/postgres/pg_rows.h"
#include "host/store/postgres/postgres_store.h"
#include "host/store/sealed_config.h"

namespace signal_host {
namespace {

using pg::Params;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool ValidStatus(std::string_view status) {
  return status == "active" || status == "held" || status == "disabled";
}

// Column lists match the Read* functions below.
constexpr char kIntegrationColumns[] =
    "id, org_id, name, vendor, description, catalog_vendor_key, catalog_variant_key, "
    "current_revision, status, status_reason, created_at_ms, updated_at_ms, seq";
constexpr int kIntegrationSeqColumn = 12;

constexpr char kRevisionColumns[] =
    "id, integration_id, org_id, revision_number, secret_fields::text, delivery_mode, "
    "change_summary, created_by, created_at_ms, delivery_settings, config_sealed";

IntegrationRecord ReadIntegration(const pg::Result& rows, int row) {
  IntegrationRecord r;
  r.id = rows.Text(row, 0);
  r.org_id = rows.Text(row, 1);
  r.name = rows.Text(row, 2);
  r.vendor = rows.Text(row, 3);
  r.description = rows.Text(row, 4);
  r.catalog_vendor_key = rows.Text(row, 5);
  r.catalog_variant_key = rows.Text(row, 6);
  r.current_revision = static_cast<int>(rows.Int(row, 7));
  r.status = rows.Text(row, 8);
  r.status_reason = rows.Text(row, 9);
  r.created_at_ms = rows.Int(row, 10);
  r.updated_at_ms = rows.Int(row, 11);
  return r;
}

absl::Status InsertRevision(pg::Connection& conn, const RevisionRecord& r,
                            std::string_view sealed) {
  return conn.Run(
      "INSERT INTO revisions (integration_id, revision_number, id, org_id, secret_fields, "
      "delivery_mode, change_summary, created_by, created_at_ms, delivery_settings, "
      "config_sealed) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11)",
      Params()
          .Text(r.integration_id)
          .Int(r.revision_number)
          .Text(r.id)
          .Text(r.org_id)
          .Text(pg::JsonStringArray(r.secret_fields))
          .Text(r.delivery_mode)
          .Text(r.change_summary)
          .Text(r.created_by)
          .Int(r.created_at_ms)
          .Bytes(r.delivery_settings)
          .Text(sealed));
}

}  // namespace

absl::StatusOr<RevisionRecord> PostgresStore::ReadRevision(const pg::Result& rows, int row) const {
  RevisionRecord r;
  r.id = rows.Text(row, 0);
  r.integration_id = rows.Text(row, 1);
  r.org_id = rows.Text(row, 2);
  r.revision_number = static_cast<int>(rows.Int(row, 3));
  absl::StatusOr<std::vector<std::string>> fields = pg::ParseJsonStringArray(rows.View(row, 4));
  if (!fields.ok()) return fields.status();
  r.secret_fields = *std::move(fields);
  r.delivery_mode = rows.Text(row, 5);
  r.change_summary = rows.Text(row, 6);
  r.created_by = rows.Text(row, 7);
  r.created_at_ms = rows.Int(row, 8);
  r.delivery_settings = rows.Bytes(row, 9);
  absl::StatusOr<std::string> config = OpenRevisionConfig(*secrets_, rows.View(row, 10), r.id);
  if (!config.ok()) return config.status();
  r.config_json = *std::move(config);
  return r;
}

absl::Status PostgresStore::CreateIntegration(IntegrationRecord& integration,
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
  absl::StatusOr<std::string> sealed =
      SealRevisionConfig(*secrets_, first_revision.config_json, first_revision.id);
  if (!sealed.ok()) return sealed.status();

  absl::Status status = WithConnection<absl::Status>([&](pg::Connection& conn) {
    return conn.Transaction([&]() -> absl::Status {
      absl::Status inserted = conn.Run(
          "INSERT INTO integrations (id, org_id, name, vendor, description, "
          "catalog_vendor_key, catalog_variant_key, current_revision, status, status_reason, "
          "created_at_ms, updated_at_ms) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
          Params()
              .Text(integration.id)
              .Text(integration.org_id)
              .Text(integration.name)
              .Text(integration.vendor)
              .Text(integration.description)
              .Text(integration.catalog_vendor_key)
              .Text(integration.catalog_variant_key)
              .Int(integration.current_revision)
              .Text(integration.status)
              .Text(integration.status_reason)
              .Int(integration.created_at_ms)
              .Int(integration.updated_at_ms));
      if (!inserted.ok()) return inserted;
      if (absl::Status r = InsertRevision(conn, first_revision, *sealed); !r.ok()) return r;
      return Notify(conn, integration.id);
    });
  });
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    // The (org_id, name) constraint, or (vanishingly unlikely) a colliding id.
    return absl::AlreadyExistsError(
        absl::StrCat("an integration named \"", integration.name, "\" already exists"));
  }
  return status;
}

absl::StatusOr<IntegrationRecord> PostgresStore::GetIntegration(std::string_view org_id,
                                                                std::string_view id) {
  return WithConnection<absl::StatusOr<IntegrationRecord>>(
      [&](pg::Connection& conn) -> absl::StatusOr<IntegrationRecord> {
        absl::StatusOr<pg::Result> rows =
            conn.Exec(absl::StrCat("SELECT ", kIntegrationColumns,
                                   " FROM integrations WHERE id = $1 AND org_id = $2"),
                      Params().Text(id).Text(org_id));
        if (!rows.ok()) return rows.status();
        if (rows->rows() == 0) return absl::NotFoundError(absl::StrCat("no integration ", Av(id)));
        return ReadIntegration(*rows, 0);
      });
}

absl::StatusOr<PageResult<IntegrationRecord>> PostgresStore::ListIntegrations(
    std::string_view org_id, const Page& page) {
  absl::StatusOr<int64_t> limit = pg::CheckLimit(page);
  if (!limit.ok()) return limit.status();
  absl::StatusOr<int64_t> after = pg::DecodeCursor(page.cursor, "int", 0);
  if (!after.ok()) return after.status();
  return WithConnection<absl::StatusOr<PageResult<IntegrationRecord>>>(
      [&](pg::Connection& conn) -> absl::StatusOr<PageResult<IntegrationRecord>> {
        absl::StatusOr<pg::Result> rows =
            conn.Exec(absl::StrCat("SELECT ", kIntegrationColumns,
                                   " FROM integrations WHERE org_id = $1 AND seq > $2 "
                                   "ORDER BY seq LIMIT $3"),
                      Params().Text(org_id).Int(*after).Int(*limit + 1));
        if (!rows.ok()) return rows.status();
        PageResult<IntegrationRecord> result;
        for (int i = 0; i < rows->rows() && i < *limit; ++i) {
          result.items.push_back(ReadIntegration(*rows, i));
        }
        if (rows->rows() > *limit) {
          result.next_cursor = pg::EncodeCursor(
              "int", rows->Int(static_cast<int>(*limit) - 1, kIntegrationSeqColumn));
        }
        return result;
      });
}

absl::StatusOr<std::vector<IntegrationRecord>> PostgresStore::AllIntegrations() {
  return WithConnection<absl::StatusOr<std::vector<IntegrationRecord>>>(
      [&](pg::Connection& conn) -> absl::StatusOr<std::vector<IntegrationRecord>> {
        absl::StatusOr<pg::Result> rows = conn.Exec(
            absl::StrCat("SELECT ", kIntegrationColumns, " FROM integrations ORDER BY seq"));
        if (!rows.ok()) return rows.status();
        std::vector<IntegrationRecord> all;
        for (int i = 0; i < rows->rows(); ++i) all.push_back(ReadIntegration(*rows, i));
        return all;
      });
}

absl::Status PostgresStore::DeleteIntegration(std::string_view org_id, std::string_view id) {
  return WithConnection<absl::Status>([&](pg::Connection& conn) {
    return conn.Transaction([&]() -> absl::Status {
      // Revisions go by ON DELETE CASCADE.
      absl::StatusOr<pg::Result> deleted = conn.Exec(
          "DELETE FROM integrations WHERE id = $1 AND org_id = $2", Params().Text(id).Text(org_id));
      if (!deleted.ok()) return deleted.status();
      if (deleted->Affected() == 0) {
        return absl::NotFoundError(absl::StrCat("no integration ", Av(id)));
      }
      return Notify(conn, id);
    });
  });
}

absl::Status PostgresStore::AddRevision(RevisionRecord& revision) {
  if (revision.integration_id.empty()) {
    return absl::InvalidArgumentError("a revision needs an integration_id");
  }
  if (revision.id.empty()) revision.id = NewId("rev");
  revision.created_at_ms = clock_();
  absl::StatusOr<std::string> sealed =
      SealRevisionConfig(*secrets_, revision.config_json, revision.id);
  if (!sealed.ok()) return sealed.status();

  return WithConnection<absl::Status>([&](pg::Connection& conn) {
    return conn.Transaction([&]() -> absl::Status {
      // Locks the integration row: concurrent revisions on two hosts get 2 and 3.
      absl::StatusOr<pg::Result> current =
          conn.Exec("SELECT org_id, current_revision FROM integrations WHERE id = $1 FOR UPDATE",
                    Params().Text(revision.integration_id));
      if (!current.ok()) return current.status();
      if (current->rows() == 0 ||
          (!revision.org_id.empty() && revision.org_id != current->View(0, 0))) {
        return absl::NotFoundError(absl::StrCat("no integration ", revision.integration_id));
      }
      revision.org_id = current->Text(0, 0);
      revision.revision_number = static_cast<int>(current->Int(0, 1) + 1);
      if (absl::Status r = InsertRevision(conn, revision, *sealed); !r.ok()) return r;
      absl::Status updated = conn.Run(
          "UPDATE integrations SET current_revision = $2, updated_at_ms = $3, "
          "status = CASE WHEN status = 'held' THEN 'active' ELSE status END, "
          "status_reason = CASE WHEN status = 'held' THEN '' ELSE status_reason END "
          "WHERE id = $1",
          Params()
              .Text(revision.integration_id)
              .Int(revision.revision_number)
              .Int(revision.created_at_ms));
      if (!updated.ok()) return updated;
      return Notify(conn, revision.integration_id);
    });
  });
}

absl::StatusOr<RevisionRecord> PostgresStore::GetRevision(std::string_view integration_id,
                                                          int revision_number) {
  return WithConnection<absl::StatusOr<RevisionRecord>>(
      [&](pg::Connection& conn) -> absl::StatusOr<RevisionRecord> {
        absl::StatusOr<pg::Result> rows = conn.Exec(
            absl::StrCat("SELECT ", kRevisionColumns,
                         " FROM revisions WHERE integration_id = $1 AND revision_number = $2"),
            Params().Text(integration_id).Int(revision_number));
        if (!rows.ok()) return rows.status();
        if (rows->rows() == 0) {
          return absl::NotFoundError(absl::StrCat("no revision ", revision_number,
                                                  " of integration ", Av(integration_id)));
        }
        return ReadRevision(*rows, 0);
      });
}

absl::StatusOr<PageResult<RevisionRecord>> PostgresStore::ListRevisions(
    std::string_view integration_id, const Page& page) {
  absl::StatusOr<int64_t> limit = pg::CheckLimit(page);
  if (!limit.ok()) return limit.status();
  absl::StatusOr<int64_t> before = pg::DecodeCursor(page.cursor, "rev", pg::kNoUpperBound);
  if (!before.ok()) return before.status();
  return WithConnection<absl::StatusOr<PageResult<RevisionRecord>>>(
      [&](pg::Connection& conn) -> absl::StatusOr<PageResult<RevisionRecord>> {
        absl::StatusOr<pg::Result> rows = conn.Exec(
            absl::StrCat(
                "SELECT ", kRevisionColumns,
                " FROM revisions WHERE integration_id = $1 AND revision_number < $2::bigint "
                "ORDER BY revision_number DESC LIMIT $3"),
            Params().Text(integration_id).Int(*before).Int(*limit + 1));
        if (!rows.ok()) return rows.status();
        PageResult<RevisionRecord> result;
        for (int i = 0; i < rows->rows() && i < *limit; ++i) {
          absl::StatusOr<RevisionRecord> revision = ReadRevision(*rows, i);
          if (!revision.ok()) return revision.status();
          result.items.push_back(*std::move(revision));
        }
        if (rows->rows() > *limit) {
          result.next_cursor = pg::EncodeCursor("rev", result.items.back().revision_number);
        }
        return result;
      });
}

absl::Status PostgresStore::SetStatus(std::string_view integration_id, std::string_view status,
                                      std::string_view reason) {
  if (!ValidStatus(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown integration status \"", Av(status), "\""));
  }
  const int64_t now = clock_();
  return WithConnection<absl::Status>([&](pg::Connection& conn) {
    return conn.Transaction([&]() -> absl::Status {
      absl::StatusOr<pg::Result> updated = conn.Exec(
          "UPDATE integrations SET status = $2, status_reason = $3, updated_at_ms = $4 "
          "WHERE id = $1",
          Params().Text(integration_id).Text(status).Text(reason).Int(now));
      if (!updated.ok()) return updated.status();
      if (updated->Affected() == 0) {
        return absl::NotFoundError(absl::StrCat("no integration ", Av(integration_id)));
      }
      return Notify(conn, integration_id);
    });
  });
}

}  // namespace signal_host
