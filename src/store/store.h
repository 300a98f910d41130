// Store: all persistent state of linlid behind one interface.
//
// Two backends are meant to pass one conformance suite (store_conformance_test.cc): SQLite
// (embedded default) and later PostgreSQL. No SQL exists outside src/store/.
//
// Registry records are kept in one relational table per Kind, built from model::Spec(kind):
// a column per field (pii fields as ciphertext plus an indexed "<name>_bidx" column), foreign
// keys for kRef fields, unique indexes for unique fields. The store does not encrypt: callers
// hand it ciphertext and blind indexes (see common/crypto.h FieldCipher) in Record::fields.
//
// Ownership: the Store owns its connections. Thread-safety: every method may be called from
// any thread concurrently; writes are serialised internally, reads run concurrently (WAL).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/incidents.h"
#include "model/records.h"
#include "model/registry.h"

namespace linli::store {

// A list query on one kind. Filters are exact matches on filterable fields (for pii fields the
// caller passes the blind index under "<name>_bidx"; for kStringList fields the record matches
// if the list contains the value). `compound_ids`, when set, restricts results to those
// compounds (access scope); an empty set yields nothing.
struct ListQuery {
  model::Kind kind = model::Kind::kCompound;
  std::vector<std::pair<std::string, std::string>> filters;
  std::optional<std::vector<std::string>> compound_ids;
  // Substring search on the label field (name/number/plate/username); empty for none.
  std::string search;
  int limit = 50;   // 1..1000
  int offset = 0;
};

struct ListResult {
  std::vector<model::Record> items;  // ordered by created_ms, then id
  int64_t total = 0;                 // matches without limit/offset
};

// What one ingest round writes in a single transaction. The MQTT loop acknowledges the
// messages only after WriteBatch() returned success, so the batch is the unit of durability.
struct IngestBatch {
  std::vector<model::TelemetryPoint> telemetry;
  std::vector<model::Event> events;            // duplicates by id are ignored
  std::vector<model::StatusChange> status_changes;
  std::vector<model::DeadLetter> dead_letters;
  // Last-seen times to persist (device id, ms). Written coarsely; used to rebuild presence.
  std::vector<std::pair<std::string, int64_t>> last_seen;
  bool empty() const {
    return telemetry.empty() && events.empty() && status_changes.empty() && dead_letters.empty() &&
           last_seen.empty();
  }
};

struct IngestResult {
  int64_t telemetry_written = 0;
  int64_t events_written = 0;      // new events
  int64_t events_duplicate = 0;    // ignored because the id was already stored
  // Ids of the new (non-duplicate) events, in batch order, and their positions in the store's
  // event log (increasing; EventsAfter() continues from them).
  std::vector<std::string> new_event_ids;
  std::vector<int64_t> new_event_seqs;
  // History ids of the status changes written, in batch order (StatusChangesAfter()).
  std::vector<int64_t> status_change_ids;
};

struct EventQuery {
  std::optional<std::vector<std::string>> compound_ids;  // scope; nullopt = all
  std::string compound_id;   // filter; empty = any
  std::string device_id;     // filter; empty = any
  std::string type;          // exact, or prefix if it ends with '*' ("door.*")
  int64_t from_ms = 0;       // inclusive, on ts_ms
  int64_t to_ms = INT64_MAX; // exclusive
  int limit = 100;           // 1..10000, newest first
  int offset = 0;
};

struct TelemetryQuery {
  std::string device_id;
  std::string metric;        // empty = all metrics
  int64_t from_ms = 0;
  int64_t to_ms = INT64_MAX;
  int limit = 1000;          // 1..100000, oldest first
};

struct FaultQuery {
  std::optional<std::vector<std::string>> compound_ids;
  std::string device_id;
  bool open_only = false;
  int limit = 100;
  int offset = 0;
};

struct AuditQuery {
  std::optional<std::vector<std::string>> compound_ids;  // entries without compound are visible only when nullopt
  std::string actor;
  std::string action;
  int64_t from_ms = 0;
  int64_t to_ms = INT64_MAX;
  int limit = 100;
  int offset = 0;
};

// A bearer token or API key, stored by hash only.
struct TokenRecord {
  std::string token_hash;   // sha256 hex of the secret
  std::string user_id;
  std::string kind;         // "session" or "api_key"
  int64_t created_ms = 0;
  int64_t expires_ms = 0;   // 0 = never (api keys)
  std::string label;
};

// ---- incidents ----

struct AlarmQuery {
  std::optional<std::vector<std::string>> compound_ids;  // scope; nullopt = all
  std::string compound_id;                 // filter; empty = any
  std::vector<model::AlarmState> states;   // any of; empty = any
  bool open_only = false;                  // raised, acknowledged, dispatched
  std::string type;                        // exact, or prefix ending with '*'
  std::string rule_id;
  std::string device_id;
  int64_t from_ms = 0;                     // on raised_ms, inclusive
  int64_t to_ms = INT64_MAX;               // exclusive
  int limit = 50;                          // 1..1000, newest first
  int offset = 0;
};

struct WorkOrderQuery {
  std::optional<std::vector<std::string>> compound_ids;
  std::string compound_id;
  std::vector<model::WorkOrderState> states;
  bool open_only = false;
  std::string kind;
  std::string assignee;
  std::string assignee_role;
  std::string alarm_id;
  std::string device_id;
  std::string room_id;
  std::string actor;          // who opened it (residents see their own)
  int64_t from_ms = 0;        // on created_ms
  int64_t to_ms = INT64_MAX;
  int limit = 50;
  int offset = 0;
};

struct CommandQuery {
  std::optional<std::vector<std::string>> compound_ids;
  std::string device_id;
  std::string alarm_id;
  std::string cause_id;       // the cause's id (event, alarm)
  std::vector<model::CommandState> states;
  int64_t from_ms = 0;        // on created_ms
  int64_t to_ms = INT64_MAX;
  int limit = 100;
  int offset = 0;
};

template <typename T>
struct Page {
  std::vector<T> items;
  int64_t total = 0;  // matches without limit/offset
};

// Per-(compound, type) figures over alarms raised in a time range.
struct AlarmStatsRow {
  std::string compound_id;
  std::string type;
  int64_t raised = 0;
  int64_t open = 0;
  int64_t acknowledged = 0;  // ever acknowledged
  int64_t closed = 0;        // closed or false alarm
  int64_t false_alarms = 0;
  int64_t escalated = 0;     // at least one escalation step ran
  double mean_ack_s = 0;     // over the acknowledged ones
  double max_ack_s = 0;
  double mean_close_s = 0;   // over the closed ones
  double max_close_s = 0;
  int64_t ack_overdue = 0;   // acknowledged after ack_due_ms, or still not acknowledged past it
};

struct StatsQuery {
  std::optional<std::vector<std::string>> compound_ids;
  std::string compound_id;
  std::string type;
  int64_t from_ms = 0;
  int64_t to_ms = INT64_MAX;
  int64_t now_ms = 0;  // for "still not acknowledged past its due time"
};

// Persisted state of one rule for one key (a device, a person, a window): the rules engine's
// memory across restarts. An empty `state` deletes the entry.
struct RuleStateEntry {
  std::string rule_id;
  std::string key;
  Json state;
  int64_t updated_ms = 0;
};

// Everything one incident step changes, written in one transaction: a rule firing (alarm +
// commands + work order + notifications + the engine's state and checkpoint) or an operator's
// action (alarm transition + log + audit). Alarms, work orders and commands are upserts by id;
// log entries and audit entries are appended; notifications with id 0 are inserted and others
// updated.
struct IncidentWrite {
  std::vector<model::Alarm> alarms;
  std::vector<model::WorkOrder> work_orders;
  std::vector<model::Command> commands;
  std::vector<model::IncidentLogEntry> log;
  std::vector<model::Notification> notifications;
  std::vector<model::AuditEntry> audit;
  std::vector<RuleStateEntry> rule_state;
  std::vector<std::pair<std::string, std::string>> meta;  // checkpoints (SetMeta semantics)
  bool empty() const {
    return alarms.empty() && work_orders.empty() && commands.empty() && log.empty() &&
           notifications.empty() && audit.empty() && rule_state.empty() && meta.empty();
  }
};

struct IncidentWriteResult {
  std::vector<int64_t> notification_ids;  // in the order of IncidentWrite::notifications
};

// The rules' effects of an ingest batch, made inside its transaction (see Store::WriteBatch).
// Called with what the batch wrote; returns what to write with it (nullptr or empty: nothing).
using FollowWrite = std::function<const IncidentWrite*(const IngestResult& written)>;

// A stored event with its position in the store's event log, for the rules engine's replay.
struct SequencedEvent {
  int64_t seq = 0;
  model::Event event;
};

struct MediaQuery {
  std::optional<std::vector<std::string>> compound_ids;
  std::string event_id;
  std::string device_id;
  int limit = 100;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- registry ----
  // Inserts `rec` (id must be set by the caller). Conflict if the id or a unique field is taken;
  // NotFound-like InvalidArgument naming the field if a reference does not exist.
  virtual Result<model::Record> CreateRecord(const model::Record& rec) = 0;
  virtual Result<model::Record> GetRecord(model::Kind kind, const std::string& id) = 0;
  virtual Result<ListResult> ListRecords(const ListQuery& q) = 0;
  // Replaces the fields of an existing record (updated_ms from the argument). NotFound if absent.
  virtual Result<model::Record> UpdateRecord(const model::Record& rec) = 0;
  // Conflict if other records reference it.
  virtual Result<void> DeleteRecord(model::Kind kind, const std::string& id) = 0;
  // Creates many records in one transaction (CSV import). Stops at the first failure and rolls
  // back everything; the Error's field names "rows[i].field".
  virtual Result<void> CreateRecords(const std::vector<model::Record>& recs) = 0;
  // Streams every record of a kind (startup caches: devices, compounds, regions).
  virtual Result<std::vector<model::Record>> LoadAll(model::Kind kind) = 0;
  // Looks a record up by a unique field value (for pii: pass "<name>_bidx" and the index).
  virtual Result<model::Record> FindByUnique(model::Kind kind, const std::string& field,
                                             const std::string& value) = 0;

  // ---- ingest ----
  // Writes the batch in one transaction. With `follow`, what it returns is written in the same
  // transaction: an event, its presence changes and its rules' effects commit together. If only
  // that follow-up write fails (a refused document, a constraint), the batch is written again
  // without it and committed, and *follow_error (if given) holds why; `follow` is called at most
  // once, also for an empty batch. An error means nothing was written.
  virtual Result<IngestResult> WriteBatch(const IngestBatch& batch, const FollowWrite& follow,
                                          Result<void>* follow_error) = 0;
  Result<IngestResult> WriteBatch(const IngestBatch& batch) { return WriteBatch(batch, nullptr, nullptr); }
  virtual Result<std::vector<model::TelemetryPoint>> QueryTelemetry(const TelemetryQuery& q) = 0;
  virtual Result<std::vector<model::Event>> QueryEvents(const EventQuery& q) = 0;
  virtual Result<std::vector<model::StatusChange>> QueryStatusHistory(const std::string& device_id,
                                                                      int64_t from_ms, int64_t to_ms,
                                                                      int limit) = 0;
  // Last known presence and last-seen time per device (from status history and last_seen).
  struct DeviceState {
    std::string device_id;
    model::Presence status = model::Presence::kUnknown;
    int64_t status_ms = 0;
    int64_t last_seen_ms = 0;
  };
  virtual Result<std::vector<DeviceState>> LoadDeviceStates() = 0;
  // Deletes telemetry older than `before_ms`; returns rows removed.
  virtual Result<int64_t> PruneTelemetry(int64_t before_ms) = 0;

  // ---- device faults ----
  // Opens a fault unless one of the same (device, kind) is open; returns the open fault.
  virtual Result<model::DeviceFault> OpenFault(const model::DeviceFault& f) = 0;
  // Closes the open fault of (device, kind) if any; returns whether one was closed.
  virtual Result<bool> CloseFault(const std::string& device_id, const std::string& kind,
                                  int64_t closed_ms) = 0;
  virtual Result<std::vector<model::DeviceFault>> ListFaults(const FaultQuery& q) = 0;

  // ---- dead letters ----
  virtual Result<std::vector<model::DeadLetter>> ListDeadLetters(int64_t from_ms, int limit,
                                                                 int offset) = 0;
  virtual Result<int64_t> CountDeadLetters() = 0;

  // ---- audit ----
  virtual Result<void> AppendAudit(const model::AuditEntry& e) = 0;
  virtual Result<std::vector<model::AuditEntry>> ListAudit(const AuditQuery& q) = 0;

  // ---- tokens ----
  virtual Result<void> PutToken(const TokenRecord& t) = 0;
  virtual Result<TokenRecord> GetToken(const std::string& token_hash) = 0;  // NotFound if absent
  virtual Result<void> DeleteToken(const std::string& token_hash) = 0;
  virtual Result<int64_t> DeleteTokensOfUser(const std::string& user_id) = 0;
  virtual Result<int64_t> DeleteExpiredTokens(int64_t now_ms) = 0;

  // Events stored after position `after_seq` (see IngestResult::new_event_seqs), oldest first.
  virtual Result<std::vector<SequencedEvent>> EventsAfter(int64_t after_seq, int limit) = 0;
  // Status changes with history id > `after_id`, oldest first; the id is returned in `.first`.
  virtual Result<std::vector<std::pair<int64_t, model::StatusChange>>> StatusChangesAfter(
      int64_t after_id, int limit) = 0;

  // ---- media ----
  // Stores the metadata of an uploaded object. Idempotent: the same id with the same sha256
  // returns the stored object; the same id with other content is kConflict.
  virtual Result<model::MediaObject> PutMedia(const model::MediaObject& m) = 0;
  virtual Result<model::MediaObject> GetMedia(const std::string& id) = 0;  // kNotFound
  virtual Result<std::vector<model::MediaObject>> ListMedia(const MediaQuery& q) = 0;

  // ---- incidents ----
  virtual Result<IncidentWriteResult> ApplyIncidentWrite(const IncidentWrite& w) = 0;
  virtual Result<model::Alarm> GetAlarm(const std::string& id) = 0;  // kNotFound
  virtual Result<Page<model::Alarm>> ListAlarms(const AlarmQuery& q) = 0;
  // The open alarm with this merge key, if any.
  virtual Result<std::optional<model::Alarm>> FindOpenAlarm(const std::string& merge_key) = 0;
  // Open alarms whose next escalation step is due at `now_ms`, soonest first.
  virtual Result<std::vector<model::Alarm>> DueEscalations(int64_t now_ms, int limit) = 0;
  virtual Result<std::vector<AlarmStatsRow>> AlarmStatistics(const StatsQuery& q) = 0;
  virtual Result<model::WorkOrder> GetWorkOrder(const std::string& id) = 0;  // kNotFound
  virtual Result<Page<model::WorkOrder>> ListWorkOrders(const WorkOrderQuery& q) = 0;
  // Open work orders with this clear key.
  virtual Result<std::vector<model::WorkOrder>> OpenWorkOrdersByClearKey(const std::string& key) = 0;
  virtual Result<model::Command> GetCommand(const std::string& id) = 0;  // kNotFound
  virtual Result<Page<model::Command>> ListCommands(const CommandQuery& q) = 0;
  // Pending or sent commands whose deadline_ms <= now_ms, soonest first.
  virtual Result<std::vector<model::Command>> CommandsDue(int64_t now_ms, int limit) = 0;
  // The history of one alarm or work order, oldest first.
  virtual Result<std::vector<model::IncidentLogEntry>> ListIncidentLog(const std::string& object_kind,
                                                                      const std::string& object_id,
                                                                      int limit) = 0;
  // Pending notifications due at `now_ms`, oldest first.
  virtual Result<std::vector<model::Notification>> DueNotifications(int64_t now_ms, int limit) = 0;
  virtual Result<std::vector<model::Notification>> ListNotifications(int64_t from_ms, int limit,
                                                                      int offset) = 0;
  virtual Result<std::vector<RuleStateEntry>> LoadRuleState() = 0;

  // ---- metadata (key/value: schema version, instance settings) ----
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Result<void> SetMeta(const std::string& key, const std::string& value) = 0;
};

struct SqliteOptions {
  std::string path;            // database file; ":memory:" not supported (WAL needs a file)
  bool synchronous_full = false;  // NORMAL (crash-safe for process crashes) vs FULL (power loss)
  int read_connections = 4;
  // How long a statement waits for a lock held by another process before failing with
  // kUnavailable.
  int busy_timeout_ms = 5000;
};

// Opens (creating and migrating if needed) a SQLite store.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace linli::store
