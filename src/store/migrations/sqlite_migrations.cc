#include "store/migrations/sqlite_migrations.h"

#include <array>

namespace linli::store::migrations {
namespace {

// Version 1: the time-series and log tables.
//  - telemetry: one row per (device, metric, timestamp); the primary key makes a redelivered
//    message an idempotent INSERT OR REPLACE. WITHOUT ROWID keeps rows clustered per series.
//  - events: the id (from the device) is the primary key; INSERT OR IGNORE drops redeliveries.
//  - faults: at most one open fault per (device, kind), enforced by a partial unique index.
//  - AUTOINCREMENT where ids are shown to users and must never be reused.
constexpr const char* kV1 = R"sql(
CREATE TABLE telemetry (
  device_id TEXT NOT NULL,
  metric TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  num REAL,
  txt TEXT,
  is_bool INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (device_id, metric, ts_ms)
) WITHOUT ROWID;

CREATE TABLE events (
  id TEXT PRIMARY KEY NOT NULL,
  compound_id TEXT,
  device_id TEXT NOT NULL,
  type TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_compound_ts ON events (compound_id, ts_ms);
CREATE INDEX events_type_ts ON events (type, ts_ms);
CREATE INDEX events_device_ts ON events (device_id, ts_ms);
CREATE INDEX events_ts ON events (ts_ms);

CREATE TABLE status_history (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  compound_id TEXT,
  status TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX status_history_device_ts ON status_history (device_id, ts_ms);

CREATE TABLE device_state (
  device_id TEXT PRIMARY KEY NOT NULL,
  compound_id TEXT,
  status TEXT NOT NULL DEFAULT 'unknown',
  status_ms INTEGER NOT NULL DEFAULT 0,
  last_seen_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE faults (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  compound_id TEXT,
  kind TEXT NOT NULL,
  opened_ms INTEGER NOT NULL,
  closed_ms INTEGER,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX faults_one_open ON faults (device_id, kind) WHERE closed_ms IS NULL;
CREATE INDEX faults_device_opened ON faults (device_id, opened_ms);
CREATE INDEX faults_compound_opened ON faults (compound_id, opened_ms);
CREATE INDEX faults_opened ON faults (opened_ms);

CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  received_ms INTEGER NOT NULL,
  source TEXT NOT NULL,
  topic TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  payload BLOB NOT NULL,
  payload_size INTEGER NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_ms);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object_kind TEXT NOT NULL DEFAULT '',
  object_id TEXT NOT NULL DEFAULT '',
  compound_id TEXT,
  remote TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_ts ON audit_log (ts_ms);
CREATE INDEX audit_actor_ts ON audit_log (actor, ts_ms);
CREATE INDEX audit_action_ts ON audit_log (action, ts_ms);
CREATE INDEX audit_compound_ts ON audit_log (compound_id, ts_ms);

CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL DEFAULT 0,
  label TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX tokens_user ON tokens (user_id);
CREATE INDEX tokens_expires ON tokens (expires_ms) WHERE expires_ms > 0;
)sql";

constexpr std::array<Migration, 1> kMigrations = {{
    {1, "time-series, log, token tables", kV1},
}};

}  // namespace

std::span<const Migration> SqliteMigrations() { return kMigrations; }

int LatestSqliteSchemaVersion() { return kMigrations.back().version; }

}  // namespace linli::store::migrations
