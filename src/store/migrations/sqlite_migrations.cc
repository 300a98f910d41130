#include "store/migrations/sqlite_migrations.h"

#include <array>

namespace linli::store::migrations {
namespace {

// Version 1: the time-series and log tables.
//  - telemetry: one row per (series, timestamp), a series being a (device, metric) pair; the
//    primary key makes a redelivered message an idempotent INSERT OR REPLACE. WITHOUT ROWID
//    keeps rows clustered per series, and integer keys keep inserts cheap.
//  - events: the id (from the device) is the primary key; INSERT OR IGNORE drops redeliveries.
//  - faults: at most one open fault per (device, kind), enforced by a partial unique index.
//  - AUTOINCREMENT where ids are shown to users and must never be reused.
constexpr const char* kV1 = R"sql(
CREATE TABLE series (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  metric TEXT NOT NULL,
  UNIQUE (device_id, metric)
);

CREATE TABLE telemetry (
  series_id INTEGER NOT NULL,
  ts_ms INTEGER NOT NULL,
  num REAL,
  txt TEXT,
  is_bool INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (series_id, ts_ms)
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

// Version 2: media metadata and incident handling (issue #3).
//  - Alarms, work orders and commands keep their filterable fields as columns and the whole
//    object as JSON in `doc` (model::ToJson), so adding a field needs no migration.
//  - At most one OPEN alarm per merge key: a partial unique index makes merging race-free.
//  - events.rowid is the rules engine's replay position (events are never deleted newest-first).
constexpr const char* kV2 = R"sql(
CREATE TABLE media (
  id TEXT PRIMARY KEY NOT NULL,
  compound_id TEXT NOT NULL,
  device_id TEXT,
  event_id TEXT,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  uploaded_by TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX media_event ON media (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX media_device_created ON media (device_id, created_ms);

CREATE TABLE alarms (
  id TEXT PRIMARY KEY NOT NULL,
  compound_id TEXT NOT NULL,
  type TEXT NOT NULL,
  level TEXT NOT NULL,
  state TEXT NOT NULL,
  is_open INTEGER NOT NULL,
  rule_id TEXT,
  merge_key TEXT,
  device_id TEXT,
  raised_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  acknowledged_ms INTEGER NOT NULL DEFAULT 0,
  closed_ms INTEGER NOT NULL DEFAULT 0,
  ack_due_ms INTEGER NOT NULL DEFAULT 0,
  escalation_step INTEGER NOT NULL DEFAULT 0,
  next_escalation_ms INTEGER NOT NULL DEFAULT 0,
  doc TEXT NOT NULL
);
CREATE UNIQUE INDEX alarms_open_merge ON alarms (merge_key) WHERE is_open = 1 AND merge_key IS NOT NULL;
CREATE INDEX alarms_compound_raised ON alarms (compound_id, raised_ms);
CREATE INDEX alarms_raised ON alarms (raised_ms);
CREATE INDEX alarms_type_raised ON alarms (type, raised_ms);
CREATE INDEX alarms_escalation_due ON alarms (next_escalation_ms) WHERE is_open = 1 AND next_escalation_ms > 0;

CREATE TABLE work_orders (
  id TEXT PRIMARY KEY NOT NULL,
  compound_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  is_open INTEGER NOT NULL,
  assignee TEXT,
  assignee_role TEXT,
  alarm_id TEXT,
  device_id TEXT,
  room_id TEXT,
  actor TEXT,
  clear_key TEXT,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX work_orders_compound_created ON work_orders (compound_id, created_ms);
CREATE INDEX work_orders_created ON work_orders (created_ms);
CREATE INDEX work_orders_assignee ON work_orders (assignee, created_ms);
CREATE INDEX work_orders_clear_key ON work_orders (clear_key) WHERE is_open = 1 AND clear_key IS NOT NULL;
CREATE INDEX work_orders_alarm ON work_orders (alarm_id) WHERE alarm_id IS NOT NULL;

CREATE TABLE commands (
  id TEXT PRIMARY KEY NOT NULL,
  compound_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  alarm_id TEXT,
  cause_id TEXT,
  created_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL DEFAULT 0,
  doc TEXT NOT NULL
);
CREATE INDEX commands_device_created ON commands (device_id, created_ms);
CREATE INDEX commands_created ON commands (created_ms);
CREATE INDEX commands_due ON commands (deadline_ms) WHERE state IN ('pending', 'sent');
CREATE INDEX commands_alarm ON commands (alarm_id) WHERE alarm_id IS NOT NULL;
CREATE INDEX commands_cause ON commands (cause_id) WHERE cause_id IS NOT NULL;

CREATE TABLE incident_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  object_kind TEXT NOT NULL,
  object_id TEXT NOT NULL,
  compound_id TEXT,
  ts_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  from_state TEXT NOT NULL DEFAULT '',
  to_state TEXT NOT NULL DEFAULT '',
  comment TEXT NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_log_object ON incident_log (object_kind, object_id, id);

CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  compound_id TEXT,
  channel TEXT NOT NULL,
  target TEXT NOT NULL,
  url TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  delivered_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notifications_due ON notifications (next_attempt_ms) WHERE state = 'pending';
CREATE INDEX notifications_created ON notifications (created_ms);

CREATE TABLE rule_state (
  rule_id TEXT NOT NULL,
  key TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (rule_id, key)
) WITHOUT ROWID;
)sql";

constexpr std::array<Migration, 2> kMigrations = {{
    {1, "time-series, log, token tables", kV1},
    {2, "media, alarms, work orders, commands, incident log, notifications, rule state", kV2},
}};

}  // namespace

std::span<const Migration> SqliteMigrations() { return kMigrations; }

int LatestSqliteSchemaVersion() { return kMigrations.back().version; }

}  // namespace linli::store::migrations
