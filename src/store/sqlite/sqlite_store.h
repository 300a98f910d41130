// SqliteStore: the embedded Store backend (see store/store.h for the contract).
//
// Connections: one writer connection guarded by a mutex (every write method holds it for one
// BEGIN IMMEDIATE ... COMMIT), and a pool of read connections (query_only) handed out one
// per call, so reads run concurrently with each other and with the writer (WAL). Each
// connection caches its prepared statements. Pragmas: journal_mode=WAL, foreign_keys=ON,
// synchronous=NORMAL (FULL on request), busy_timeout from the options. WAL checkpoints run on a
// third kind of connection, owned by a background thread (PASSIVE, woken every ~32 MiB of WAL
// by the writer's WAL hook), so that no write pays for a checkpoint.
// Schema: numbered migrations plus registry tables reconciled with model::Spec() at open
// (schema.h, registry_tables.h).
//
// Choices the interface leaves open:
//  - Records returned carry only non-NULL columns in `fields`; pii fields come back as the
//    stored ciphertext together with "<name>_bidx". A spec field named "compound_id" is
//    stored in the record's compound_id column and returned both in Record::compound_id and
//    in fields["compound_id"]. A compound's compound_id is its own id.
//  - Unknown keys in Record::fields, values of the wrong JSON type and malformed ids are
//    kInvalidArgument naming the key: nothing is dropped silently.
//  - LoadAll returns records in insertion order; ListRecords by (created_ms, id).
//  - QueryEvents, QueryStatusHistory, ListFaults, ListDeadLetters, ListAudit: newest first.
//    QueryTelemetry: oldest first.
//  - WriteBatch validates the whole batch before writing; a bad element (empty device id,
//    non-finite number, empty event id or type) fails the batch with kInvalidArgument naming
//    it ("telemetry[3].value"). Dead-letter payloads are cut to 64 KiB (topic 1 KiB, detail
//    4 KiB) with payload_size keeping the original size. device_state never goes back in
//    time: an older status change or last-seen does not overwrite a newer one.
//  - DeleteToken of an absent token is kNotFound. SetMeta refuses "schema_version".
//  - PruneTelemetry works series by series in transactions of at most ~5,000 rows, releasing
//    the writer between them, so ingest is not stalled by a large prune.
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace linli::store::sqlite {

inline constexpr size_t kMaxDeadLetterPayload = 64 * 1024;

class SqliteStore final : public Store {
 public:
  // Opens, creates and migrates the database. kInvalidArgument for bad options,
  // kFailedPrecondition for an unusable file or a newer schema, kUnavailable if locked.
  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteOptions& options);
  ~SqliteStore() override;

  Result<model::Record> CreateRecord(const model::Record& rec) override;
  Result<model::Record> GetRecord(model::Kind kind, const std::string& id) override;
  Result<ListResult> ListRecords(const ListQuery& q) override;
  Result<model::Record> UpdateRecord(const model::Record& rec) override;
  Result<void> DeleteRecord(model::Kind kind, const std::string& id) override;
  Result<void> CreateRecords(const std::vector<model::Record>& recs) override;
  Result<std::vector<model::Record>> LoadAll(model::Kind kind) override;
  Result<model::Record> FindByUnique(model::Kind kind, const std::string& field,
                                     const std::string& value) override;

  using Store::WriteBatch;
  Result<IngestResult> WriteBatch(const IngestBatch& batch, const FollowWrite& follow,
                                  Result<void>* follow_error) override;
  Result<std::vector<model::TelemetryPoint>> QueryTelemetry(const TelemetryQuery& q) override;
  Result<std::vector<model::Event>> QueryEvents(const EventQuery& q) override;
  Result<std::vector<model::StatusChange>> QueryStatusHistory(const std::string& device_id,
                                                              int64_t from_ms, int64_t to_ms,
                                                              int limit) override;
  Result<std::vector<DeviceState>> LoadDeviceStates() override;
  Result<int64_t> PruneTelemetry(int64_t before_ms) override;

  Result<model::DeviceFault> OpenFault(const model::DeviceFault& f) override;
  Result<bool> CloseFault(const std::string& device_id, const std::string& kind,
                          int64_t closed_ms) override;
  Result<std::vector<model::DeviceFault>> ListFaults(const FaultQuery& q) override;

  Result<std::vector<model::DeadLetter>> ListDeadLetters(int64_t from_ms, int limit,
                                                         int offset) override;
  Result<int64_t> CountDeadLetters() override;

  Result<void> AppendAudit(const model::AuditEntry& e) override;
  Result<std::vector<model::AuditEntry>> ListAudit(const AuditQuery& q) override;

  Result<void> PutToken(const TokenRecord& t) override;
  Result<TokenRecord> GetToken(const std::string& token_hash) override;
  Result<void> DeleteToken(const std::string& token_hash) override;
  Result<int64_t> DeleteTokensOfUser(const std::string& user_id) override;
  Result<int64_t> DeleteExpiredTokens(int64_t now_ms) override;

  Result<std::vector<SequencedEvent>> EventsAfter(int64_t after_seq, int limit) override;
  Result<std::vector<std::pair<int64_t, model::StatusChange>>> StatusChangesAfter(int64_t after_id,
                                                                                  int limit) override;

  Result<model::MediaObject> PutMedia(const model::MediaObject& m) override;
  Result<model::MediaObject> GetMedia(const std::string& id) override;
  Result<std::vector<model::MediaObject>> ListMedia(const MediaQuery& q) override;

  // sqlite_incidents.cc
  Result<IncidentWriteResult> ApplyIncidentWrite(const IncidentWrite& w) override;
  Result<model::Alarm> GetAlarm(const std::string& id) override;
  Result<Page<model::Alarm>> ListAlarms(const AlarmQuery& q) override;
  Result<std::optional<model::Alarm>> FindOpenAlarm(const std::string& merge_key) override;
  Result<std::vector<model::Alarm>> DueEscalations(int64_t now_ms, int limit) override;
  Result<std::vector<AlarmStatsRow>> AlarmStatistics(const StatsQuery& q) override;
  Result<model::WorkOrder> GetWorkOrder(const std::string& id) override;
  Result<Page<model::WorkOrder>> ListWorkOrders(const WorkOrderQuery& q) override;
  Result<std::vector<model::WorkOrder>> OpenWorkOrdersByClearKey(const std::string& key) override;
  Result<model::Command> GetCommand(const std::string& id) override;
  Result<Page<model::Command>> ListCommands(const CommandQuery& q) override;
  Result<std::vector<model::Command>> CommandsDue(int64_t now_ms, int limit) override;
  Result<std::vector<model::IncidentLogEntry>> ListIncidentLog(const std::string& object_kind,
                                                              const std::string& object_id,
                                                              int limit) override;
  Result<std::vector<model::Notification>> DueNotifications(int64_t now_ms, int limit) override;
  Result<std::vector<model::Notification>> ListNotifications(int64_t from_ms, int limit,
                                                              int offset) override;
  Result<std::vector<RuleStateEntry>> LoadRuleState() override;

  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Result<void> SetMeta(const std::string& key, const std::string& value) override;

 private:
  // A read connection borrowed from the pool for the duration of one call.
  class Reader {
   public:
    Reader(SqliteStore* store, size_t slot, Connection* conn) : store_(store), slot_(slot), conn_(conn) {}
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    ~Reader() { store_->ReleaseReader(slot_); }
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_; }

   private:
    SqliteStore* store_;
    size_t slot_;
    Connection* conn_;
  };
  struct PooledReader {
    std::unique_ptr<Connection> conn;
    uint64_t stats_generation = 0;  // planner statistics it loaded
  };

  SqliteStore() = default;
  // Blocks until a reader is free. A reader opened before the latest ANALYZE is reopened
  // first: SQLite loads statistics with the schema, and ANALYZE does not make other
  // connections reload it.
  Reader AcquireReader();
  void ReleaseReader(size_t slot);
  // Inserts one record on the writer inside the caller's transaction.
  Result<void> InsertRecordLocked(const model::Record& rec);
  Result<model::Record> ReadRecord(Connection& db, model::Kind kind, const std::string& id);
  // Refreshes the planner statistics of `kind`'s table once enough rows were added since the
  // last refresh, so that list queries keep choosing good indexes as the registry grows.
  void NoteRowsAddedLocked(model::Kind kind, int64_t rows);

  std::mutex write_mu_;
  std::unique_ptr<Connection> writer_;       // guarded by write_mu_
  std::vector<int64_t> rows_since_analyze_;  // per model::Kind; guarded by write_mu_
  std::atomic<uint64_t> stats_generation_{0};
  // Telemetry series ids by "device\x1fmetric" (guarded by write_mu_). Rows of the telemetry
  // table key on (series_id, ts_ms): integer keys make the hot insert path cheap.
  std::unordered_map<std::string, int64_t> series_ids_;
  // Looks up or creates the series of (device, metric) inside the writer's transaction; new
  // ids are recorded in `added` so that a rolled-back batch can forget them.
  // The statements of WriteBatch (write_mu_ held, transaction open). Series ids created are
  // added to *new_series (forgotten by the caller if the transaction does not commit).
  Result<void> WriteIngestLocked(const IngestBatch& batch, const std::vector<std::string>& event_data,
                                 IngestResult* result, std::vector<std::string>* new_series);
  // ApplyIncidentWrite in two steps: validation and documents (no lock), then the statements
  // (write_mu_ held, transaction open).
  struct IncidentDocs {
    std::vector<std::string> alarms, work_orders, commands;
  };
  static Result<IncidentDocs> PrepareIncidentWrite(const IncidentWrite& w);
  Result<void> WriteIncidentLocked(const IncidentWrite& w, const IncidentDocs& docs, IncidentWriteResult* result);
  Result<int64_t> SeriesIdLocked(const std::string& device, const std::string& metric,
                                 std::vector<std::string>* added);

  // WAL checkpoints run on their own connection and thread (PASSIVE: they never block the
  // writer), woken by the writer's WAL hook every kCheckpointPages pages, so that no ingest
  // commit pays for a checkpoint.
  static constexpr int kCheckpointPages = 8192;  // 32 MiB of WAL
  void CheckpointLoop();
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  std::unique_ptr<Connection> checkpointer_;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false;   // guarded by checkpoint_mu_
  bool checkpoint_stop_ = false;  // guarded by checkpoint_mu_

  ConnectionOptions reader_options_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  // Fixed size after Open(); a slot is used only by the thread that leased it.
  std::vector<PooledReader> readers_;
  std::vector<size_t> idle_readers_;  // guarded by pool_mu_
};

}  // namespace linli::store::sqlite
