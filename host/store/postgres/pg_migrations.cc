#include "host/store/postgres/pg_migrations.h"

#include <span>
#include <vector>

#include "absl/strings/str_cat.h"

namespace signal_host::pg {
namespace {

// Serialises migrations across sessions: any constant unique to this schema.
constexpr int64_t kMigrationLockKey = 0x5369676e616c4462;  // "SignalDb"

// One statement per entry (parameterless, constant SQL).
const std::vector<const char*> kVersion1 = {
    R"sql(CREATE TABLE integrations (
  seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- creation order
  id                  text NOT NULL UNIQUE,
  org_id              text NOT NULL,
  name                text NOT NULL,
  vendor              text NOT NULL,
  description         text NOT NULL,
  catalog_vendor_key  text NOT NULL,
  catalog_variant_key text NOT NULL,
  current_revision    integer NOT NULL,
  status              text NOT NULL CHECK (status IN ('active', 'held', 'disabled')),
  status_reason       text NOT NULL,
  created_at_ms       bigint NOT NULL,
  updated_at_ms       bigint NOT NULL,
  UNIQUE (org_id, name)
))sql",
    "CREATE INDEX integrations_org_seq ON integrations (org_id, seq)",
    R"sql(CREATE TABLE revisions (
  integration_id    text NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
  revision_number   integer NOT NULL,
  id                text NOT NULL UNIQUE,
  org_id            text NOT NULL,
  secret_fields     jsonb NOT NULL,   -- array of field names
  delivery_mode     text NOT NULL,
  change_summary    text NOT NULL,
  created_by        text NOT NULL,
  created_at_ms     bigint NOT NULL,
  delivery_settings bytea NOT NULL,   -- serialized DeliverySettings
  config_sealed     text NOT NULL,    -- SecretBox seal of the config, revision id as AD
  PRIMARY KEY (integration_id, revision_number)
))sql",
    R"sql(CREATE FUNCTION revisions_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'revisions are immutable';
END
$$)sql",
    "CREATE TRIGGER revisions_are_immutable BEFORE UPDATE ON revisions "
    "FOR EACH ROW EXECUTE FUNCTION revisions_are_immutable()",
    R"sql(CREATE TABLE dead_letters (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  integration_id text NOT NULL,
  message_id     text NOT NULL,
  reason         text NOT NULL,
  message        bytea NOT NULL,
  last_status    integer NOT NULL,
  attempts       bigint NOT NULL,
  created_at_ms  bigint NOT NULL,
  replayed       boolean NOT NULL DEFAULT false,
  last_response  bytea NOT NULL,
  payload        bytea NOT NULL
))sql",
    R"sql(CREATE TABLE attempts (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  integration_id text NOT NULL,
  outcome        text NOT NULL,
  attempt        bigint NOT NULL,
  http_status    integer NOT NULL,
  latency_ms     bigint NOT NULL,
  created_at_ms  bigint NOT NULL,
  event_types    text NOT NULL,
  message_ids    jsonb NOT NULL,    -- array of message ids
  message        bytea NOT NULL,
  request        bytea NOT NULL,
  response       bytea NOT NULL
))sql",
};

const std::vector<const char*> kVersion2 = {
    // A dead letter is unique per event among those not replayed: drop later copies
    // that an older build may have written, then let the index keep it so.
    "DELETE FROM dead_letters later USING dead_letters earlier "
    "WHERE NOT later.replayed AND NOT earlier.replayed "
    "AND later.integration_id = earlier.integration_id "
    "AND later.message_id = earlier.message_id AND later.id > earlier.id",
    "CREATE UNIQUE INDEX dead_letters_pending_event ON dead_letters (integration_id, message_id) "
    "WHERE NOT replayed",
    "CREATE INDEX dead_letters_integration ON dead_letters (integration_id, id)",
    "CREATE INDEX attempts_integration ON attempts (integration_id, id)",
    "CREATE INDEX attempts_message_ids ON attempts USING gin (message_ids jsonb_path_ops)",
};

const std::vector<const char*>* const kSteps[] = {&kVersion1, &kVersion2};

absl::StatusOr<int> CurrentVersion(Connection& conn) {
  absl::StatusOr<Result> exists = conn.Exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (!exists->Bool(0, 0)) return 0;
  absl::StatusOr<Result> version =
      conn.Exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!version.ok()) return version.status();
  return static_cast<int>(version->Int(0, 0));
}

absl::Status NewerThanKnown(int version) {
  return absl::FailedPreconditionError(
      absl::StrCat("the database schema is at version ", version, ", newer than this build knows (",
                   LatestSchemaVersion(), "): upgrade signal-delivery-host"));
}

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(std::size(kSteps)); }

absl::StatusOr<int> SchemaVersion(Connection& conn) { return CurrentVersion(conn); }

absl::Status Migrate(Connection& conn, int target) {
  if (target < 0 || target > LatestSchemaVersion()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no schema version ", target, " (known: 1-", LatestSchemaVersion(), ")"));
  }
  for (bool done = false; !done;) {
    absl::Status step = conn.Transaction([&]() -> absl::Status {
      if (absl::Status lock =
              conn.Run("SELECT pg_advisory_xact_lock($1)", Params().Int(kMigrationLockKey));
          !lock.ok()) {
        return lock;
      }
      if (absl::Status table = conn.Run(
              "CREATE TABLE IF NOT EXISTS schema_migrations ("
              "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
          !table.ok()) {
        return table;
      }
      absl::StatusOr<int> version = CurrentVersion(conn);  // read under the lock
      if (!version.ok()) return version.status();
      if (*version > LatestSchemaVersion()) return NewerThanKnown(*version);
      if (*version >= target) {
        done = true;
        return absl::OkStatus();
      }
      const int next = *version + 1;
      for (const char* statement : *kSteps[next - 1]) {
        if (absl::Status status = conn.Run(statement); !status.ok()) {
          return absl::Status(status.code(),
                              absl::StrCat("schema version ", next, ": ", status.message()));
        }
      }
      return conn.Run("INSERT INTO schema_migrations (version) VALUES ($1)", Params().Int(next));
    });
    if (!step.ok()) return step;
  }
  return absl::OkStatus();
}

absl::Status PrepareSchema(Connection& conn, bool migrate) {
  absl::StatusOr<int> version = CurrentVersion(conn);
  if (!version.ok()) return version.status();
  if (*version > LatestSchemaVersion()) return NewerThanKnown(*version);
  if (*version == LatestSchemaVersion()) return absl::OkStatus();
  if (!migrate) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database schema is at version ", *version, ", this build needs ",
        LatestSchemaVersion(), ": run `signal-delivery-host migrate` first"));
  }
  return Migrate(conn);
}

}  // namespace signal_host::pg
