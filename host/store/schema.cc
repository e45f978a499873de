#include "host/store/schema.h"

namespace signal_host::store_schema {
namespace {

// Version 1. Large columns (payloads, request/response bodies) come last in their
// rows, so scans that filter on the small columns never read their overflow pages.
constexpr const char kV1[] = R"sql(
CREATE TABLE integrations (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for paging
  id                  TEXT NOT NULL UNIQUE,
  org_id              TEXT NOT NULL,
  name                TEXT NOT NULL,
  vendor              TEXT NOT NULL,
  description         TEXT NOT NULL,
  catalog_vendor_key  TEXT NOT NULL,
  catalog_variant_key TEXT NOT NULL,
  current_revision    INTEGER NOT NULL,
  status              TEXT NOT NULL,
  status_reason       TEXT NOT NULL,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL
);
CREATE UNIQUE INDEX integrations_org_name ON integrations(org_id, name);
CREATE INDEX integrations_org_seq ON integrations(org_id, seq);

CREATE TABLE revisions (
  integration_id    TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  revision_number   INTEGER NOT NULL,
  id                TEXT NOT NULL UNIQUE,
  org_id            TEXT NOT NULL,
  secret_fields     TEXT NOT NULL,   -- JSON array of field names
  delivery_mode     TEXT NOT NULL,
  change_summary    TEXT NOT NULL,
  created_by        TEXT NOT NULL,
  created_at_ms     INTEGER NOT NULL,
  delivery_settings BLOB NOT NULL,   -- serialized DeliverySettings
  config_sealed     TEXT NOT NULL,   -- SecretBox.Seal(config JSON, revision id)
  PRIMARY KEY (integration_id, revision_number)
) WITHOUT ROWID;
CREATE TRIGGER revisions_are_immutable BEFORE UPDATE ON revisions
BEGIN
  SELECT RAISE(ABORT, 'revisions are immutable');
END;

-- AUTOINCREMENT: a seq is never reused, so a stale lease can never touch a newer event.
CREATE TABLE queue (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  integration_id      TEXT NOT NULL,
  message_id          TEXT NOT NULL,
  attempts            INTEGER NOT NULL,
  enqueued_at_ms      INTEGER NOT NULL,
  first_attempt_at_ms INTEGER NOT NULL,
  next_attempt_at_ms  INTEGER NOT NULL,
  payload             BLOB NOT NULL
);
CREATE INDEX queue_due ON queue(integration_id, next_attempt_at_ms, seq);

CREATE TABLE dead_letters (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  integration_id TEXT NOT NULL,
  message_id     TEXT NOT NULL,
  reason         TEXT NOT NULL,
  message        TEXT NOT NULL,
  last_status    INTEGER NOT NULL,
  attempts       INTEGER NOT NULL,
  created_at_ms  INTEGER NOT NULL,
  replayed       INTEGER NOT NULL DEFAULT 0,
  last_response  TEXT NOT NULL,
  payload        BLOB NOT NULL
);
CREATE INDEX dead_letters_integration ON dead_letters(integration_id, id);

CREATE TABLE attempts (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  integration_id TEXT NOT NULL,
  outcome        TEXT NOT NULL,
  attempt        INTEGER NOT NULL,
  http_status    INTEGER NOT NULL,
  latency_ms     INTEGER NOT NULL,
  created_at_ms  INTEGER NOT NULL,
  event_types    TEXT NOT NULL,
  message_ids    TEXT NOT NULL,  -- JSON array
  message        TEXT NOT NULL,
  request        TEXT NOT NULL,
  response       TEXT NOT NULL
);
CREATE INDEX attempts_integration ON attempts(integration_id, id);
)sql";

// Version 2: the queue holds segments (host/store/segment_pack.h), one row per
// Enqueue call and integration, instead of one row per event. Rows of the version-1
// `queue` table are moved into one-event segments by code in store.cc
// (MoveV1QueueIntoSegments), which then drops that table.
constexpr const char kV2[] = R"sql(
-- AUTOINCREMENT: a segment id (and so an event seq) is never reused, so a stale
-- lease can never touch a newer event. Every event still pending in a segment has
-- the same attempts and due time; a retry of only some of them moves those into a
-- segment of their own.
CREATE TABLE queue_segments (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  integration_id      TEXT NOT NULL,
  event_count         INTEGER NOT NULL,
  attempts            INTEGER NOT NULL,
  enqueued_at_ms      INTEGER NOT NULL,
  first_attempt_at_ms INTEGER NOT NULL,
  next_attempt_at_ms  INTEGER NOT NULL,
  events              BLOB NOT NULL
);
CREATE INDEX queue_segments_due ON queue_segments(integration_id, next_attempt_at_ms, seq);

-- Which events of a segment are finished (delivered, dead-lettered or moved to a
-- retry segment): a bitmap, bit i for event i. No row: none are. A segment whose
-- events are all finished is deleted together with its row here.
CREATE TABLE queue_segment_progress (
  seq  INTEGER PRIMARY KEY,
  done BLOB NOT NULL
);
)sql";

constexpr const char* const kMigrations[] = {kV1, kV2};

}  // namespace

std::span<const char* const> Migrations() { return kMigrations; }

}  // namespace signal_host::store_schema
