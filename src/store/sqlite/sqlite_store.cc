#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>
#include <variant>
#include <functional>

#include "common/log.h"
#include "store/sqlite/registry_tables.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sql_util.h"

namespace linli::store {

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  LINLI_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::SqliteStore> store, sqlite::SqliteStore::Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

namespace sqlite {
namespace {

using model::FieldType;
using model::Kind;
using model::Record;

constexpr size_t kMaxTopicBytes = 1024;
constexpr size_t kMaxDetailBytes = 4096;
constexpr size_t kMaxShortBytes = 128;    // dead-letter source and reason
constexpr size_t kMaxKeyBytes = 200;      // meta keys
constexpr size_t kMaxSearchBytes = 200;
constexpr int64_t kPruneChunkRows = 5000;
constexpr int kPruneChunkSeries = 500;
constexpr int64_t kAnalyzeAfterRows = 1000;  // registry rows added before statistics are checked
constexpr size_t kMaxCachedSeries = 200'000;  // series ids kept in memory (about 80 bytes each)



// For messages: untrusted values are shortened so that errors stay readable.
std::string Quoted(std::string_view v) { return "'" + std::string(TruncateUtf8(v, 64)) + "'"; }

std::string KindLabel(Kind kind) { return std::string(model::KindName(kind)); }


// Planner statistics for a registry table. Without them SQLite takes every index as equally
// selective and may walk a low-cardinality index (vendor, kind) instead of the compound
// scope; sampled statistics (analysis_limit) are too coarse to tell them apart. So the table
// is analysed in full, but only when its row count drifted from what the statistics say
// (factor 2), which keeps this cheap for a registry that changes slowly.
// Returns whether it analysed.
Result<bool> RefreshStatsIfStale(Connection& db, const RegistryTable& t) {
  int64_t rows = 0;
  {
    LINLI_ASSIGN_OR_RETURN(Stmt count, db.Prepare("SELECT count(*) FROM " + QuoteIdent(t.table)));
    LINLI_ASSIGN_OR_RETURN(bool row, count.Step());
    if (row) rows = count.Int(0);
  }
  std::optional<int64_t> analysed;
  {
    LINLI_ASSIGN_OR_RETURN(Stmt has, db.Prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"));
    LINLI_ASSIGN_OR_RETURN(bool exists, has.Step());
    if (exists) {
      LINLI_ASSIGN_OR_RETURN(Stmt stat, db.Prepare("SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 LIMIT 1"));
      stat.BindText(1, t.table);
      LINLI_ASSIGN_OR_RETURN(bool row, stat.Step());
      if (row) {
        std::string_view text = stat.TextView(0);
        int64_t n = 0;
        std::from_chars(text.data(), text.data() + text.size(), n);
        analysed = n;
      }
    }
  }
  if (analysed ? (rows <= 2 * *analysed + 100 && 2 * rows + 100 >= *analysed) : rows < 100) return false;
  LINLI_RETURN_IF_ERROR(db.Exec("PRAGMA analysis_limit=0; ANALYZE " + QuoteIdent(t.table)));
  return true;
}

// ---- registry encoding ----


struct EncodedRecord {
  std::string compound_id;
  std::vector<SqlValue> values;  // one per RegistryTable::columns entry
};


Result<SqlValue> EncodeValue(const RegistryColumn& c, const Json& v) {
  const model::FieldSpec& f = *c.field;
  if (v.is_null()) return SqlValue();
  if (c.blind_index || f.pii) {
    if (!v.is_string()) return InvalidArgument(c.name, c.blind_index ? "blind index must be a string"
                                                                      : "ciphertext must be a string");
    return SqlValue(v.get<std::string>());
  }
  switch (f.type) {
    case FieldType::kString:
      if (!v.is_string()) return InvalidArgument(c.name, "must be a string");
      return SqlValue(v.get<std::string>());
    case FieldType::kRef: {
      if (!v.is_string()) return InvalidArgument(c.name, "must be a string");
      std::string id = v.get<std::string>();
      if (!model::ValidateId(id)) return InvalidArgument(c.name, "is not a valid id");
      return SqlValue(std::move(id));
    }
    case FieldType::kInt:
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return InvalidArgument(c.name, "is out of range");
      }
      if (!v.is_number_integer()) return InvalidArgument(c.name, "must be an integer");
      return SqlValue(v.get<int64_t>());
    case FieldType::kNumber: {
      if (!v.is_number()) return InvalidArgument(c.name, "must be a number");
      double d = v.get<double>();
      if (!std::isfinite(d)) return InvalidArgument(c.name, "must be finite");
      return SqlValue(d);
    }
    case FieldType::kBool:
      if (!v.is_boolean()) return InvalidArgument(c.name, "must be true or false");
      return SqlValue(static_cast<int64_t>(v.get<bool>() ? 1 : 0));
    case FieldType::kJson:
      if (!v.is_object()) return InvalidArgument(c.name, "must be an object");
      return SqlValue(DumpJson(v));
    case FieldType::kStringList:
      if (!v.is_array()) return InvalidArgument(c.name, "must be an array of strings");
      for (const Json& item : v) {
        if (!item.is_string()) return InvalidArgument(c.name, "must be an array of strings");
      }
      return SqlValue(DumpJson(v));
  }
  return InvalidArgument(c.name, "has an unsupported type");
}

Result<EncodedRecord> EncodeRecord(const RegistryTable& t, const Record& rec) {
  if (!model::ValidateId(rec.id)) {
    return InvalidArgument("id", "must be 1-64 of [A-Za-z0-9_-] starting with a letter or digit");
  }
  if (!rec.fields.is_object()) return InvalidArgument("fields", "must be an object");
  for (auto it = rec.fields.begin(); it != rec.fields.end(); ++it) {
    if (it.key() == "compound_id" && t.compound_field != nullptr) continue;
    if (t.Column(it.key()) == nullptr) {
      return InvalidArgument(it.key(), "is not a stored field of " + t.spec->name);
    }
  }
  EncodedRecord out;
  if (t.compound_field != nullptr) {
    std::string from_field;
    auto it = rec.fields.find("compound_id");
    if (it != rec.fields.end() && !it->is_null()) {
      if (!it->is_string()) return InvalidArgument("compound_id", "must be a string");
      from_field = it->get<std::string>();
    }
    if (!from_field.empty() && !rec.compound_id.empty() && from_field != rec.compound_id) {
      return InvalidArgument("compound_id", "field " + Quoted(from_field) +
                                                " differs from the record's compound " + Quoted(rec.compound_id));
    }
    out.compound_id = from_field.empty() ? rec.compound_id : from_field;
  } else if (t.kind == Kind::kCompound) {
    if (!rec.compound_id.empty() && rec.compound_id != rec.id) {
      return InvalidArgument("compound_id", "a compound belongs to itself");
    }
    out.compound_id = rec.id;
  } else {
    out.compound_id = rec.compound_id;
  }
  if (!out.compound_id.empty() && !model::ValidateId(out.compound_id)) {
    return InvalidArgument("compound_id", "is not a valid id");
  }
  out.values.reserve(t.columns.size());
  for (const RegistryColumn& c : t.columns) {
    auto it = rec.fields.find(c.name);
    if (it == rec.fields.end()) {
      out.values.emplace_back();
      continue;
    }
    LINLI_ASSIGN_OR_RETURN(SqlValue v, EncodeValue(c, *it));
    out.values.push_back(std::move(v));
  }
  return out;
}

// Decodes a row produced by RegistryTable::select_sql.
Record DecodeRecord(const RegistryTable& t, const Stmt& s) {
  Record rec;
  rec.kind = t.kind;
  rec.id = s.Text(0);
  rec.compound_id = s.Text(1);
  rec.created_ms = s.Int(2);
  rec.updated_ms = s.Int(3);
  if (t.compound_field != nullptr && !rec.compound_id.empty()) rec.fields["compound_id"] = rec.compound_id;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    const int col = static_cast<int>(i) + 4;
    const int type = s.ColumnType(col);
    if (type == SQLITE_NULL) continue;
    const RegistryColumn& c = t.columns[i];
    const FieldType ft = c.field->type;
    if (c.blind_index || c.field->pii) {
      rec.fields[c.name] = s.Text(col);
      continue;
    }
    switch (ft) {
      case FieldType::kBool:
        rec.fields[c.name] = s.Int(col) != 0;
        break;
      case FieldType::kInt:
        if (type == SQLITE_INTEGER) {
          rec.fields[c.name] = s.Int(col);
        } else if (type == SQLITE_FLOAT) {
          rec.fields[c.name] = s.Double(col);
        } else {
          rec.fields[c.name] = s.Text(col);
        }
        break;
      case FieldType::kNumber:
        if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
          rec.fields[c.name] = s.Double(col);
        } else {
          rec.fields[c.name] = s.Text(col);
        }
        break;
      case FieldType::kJson:
      case FieldType::kStringList: {
        auto parsed = ParseJson(s.TextView(col), 64);
        if (parsed) {
          rec.fields[c.name] = std::move(*parsed);
        } else {
          log::Warn("store: unreadable JSON column skipped",
                    {{"table", t.table}, {"column", c.name}, {"id", rec.id}});
        }
        break;
      }
      case FieldType::kString:
      case FieldType::kRef:
        rec.fields[c.name] = s.Text(col);
        break;
    }
  }
  return rec;
}

// ON DELETE RESTRICT reports SQLITE_CONSTRAINT_TRIGGER, immediate checks
// SQLITE_CONSTRAINT_FOREIGNKEY; both say "FOREIGN KEY constraint failed".
bool IsForeignKeyFailure(const Stmt& s) {
  return (s.last_rc() & 0xff) == SQLITE_CONSTRAINT &&
         (s.last_rc() == SQLITE_CONSTRAINT_FOREIGNKEY || s.last_message().find("FOREIGN KEY") != std::string::npos);
}

// Refines a failed INSERT/UPDATE of a registry row.
Error WriteRecordError(const RegistryTable& t, const Record& rec, const EncodedRecord& enc, const Stmt& s,
                       Error fallback) {
  const int rc = s.last_rc();
  const std::string& msg = s.last_message();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Error(ErrorCode::kConflict, t.spec->name + " " + Quoted(rec.id) + " already exists", "id");
  }
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    // "UNIQUE constraint failed: persons.id_number_bidx"
    std::string column;
    const std::string marker = t.table + ".";
    auto pos = msg.find(marker);
    if (pos != std::string::npos) {
      pos += marker.size();
      auto end = msg.find_first_of(", ", pos);
      column = msg.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    }
    if (column == "id") {
      return Error(ErrorCode::kConflict, t.spec->name + " " + Quoted(rec.id) + " already exists", "id");
    }
    const RegistryColumn* c = t.Column(column);
    if (c != nullptr) {
      std::string field = c->field->name;
      if (c->blind_index || c->field->pii) {
        return Error(ErrorCode::kConflict, "another " + t.spec->name + " has the same " + field, field);
      }
      const SqlValue& v = enc.values[static_cast<size_t>(c - t.columns.data())];
      std::string shown = std::holds_alternative<std::string>(v) ? " " + Quoted(std::get<std::string>(v)) : "";
      return Error(ErrorCode::kConflict, "another " + t.spec->name + " has " + field + shown, field);
    }
    return Error(ErrorCode::kConflict, "a unique value of " + t.spec->name + " is taken: " + msg);
  }
  if (IsForeignKeyFailure(s)) {
    return Error(ErrorCode::kInvalidArgument, "a referenced record does not exist");
  }
  return fallback;
}

// Checks that every reference of `enc` exists; the error names the field.
Result<void> CheckReferences(Connection& db, const RegistryTable& t, const EncodedRecord& enc) {
  auto check = [&](const std::string& field, Kind ref_kind, const std::string& id) -> Result<void> {
    const RegistryTable& ref = TableOf(ref_kind);
    LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT 1 FROM " + QuoteIdent(ref.table) + " WHERE id = ?1"));
    q.BindText(1, id);
    LINLI_ASSIGN_OR_RETURN(bool found, q.Step());
    if (!found) return InvalidArgument(field, "no such " + KindLabel(ref_kind) + " " + Quoted(id));
    return {};
  };
  if (t.compound_field != nullptr && !enc.compound_id.empty()) {
    LINLI_RETURN_IF_ERROR(check("compound_id", Kind::kCompound, enc.compound_id));
  }
  for (size_t i = 0; i < t.columns.size(); ++i) {
    const RegistryColumn& c = t.columns[i];
    if (c.references.empty() || !std::holds_alternative<std::string>(enc.values[i])) continue;
    LINLI_RETURN_IF_ERROR(check(c.name, *c.field->ref_kind, std::get<std::string>(enc.values[i])));
  }
  return {};
}

// Finds one record that references (kind, id), for the delete refusal message.
Result<std::string> DescribeReferrer(Connection& db, Kind kind, const std::string& id) {
  LINLI_ASSIGN_OR_RETURN(std::span<const RegistryTable> tables, RegistryTables());
  for (const RegistryTable& u : tables) {
    std::vector<std::string> columns;
    if (kind == Kind::kCompound && u.compound_field != nullptr) columns.push_back("compound_id");
    for (const RegistryColumn& c : u.columns) {
      if (!c.references.empty() && c.field->ref_kind == kind) columns.push_back(c.name);
    }
    for (const std::string& col : columns) {
      LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT id FROM " + QuoteIdent(u.table) + " WHERE " +
                                                QuoteIdent(col) + " = ?1 LIMIT 1"));
      q.BindText(1, id);
      LINLI_ASSIGN_OR_RETURN(bool found, q.Step());
      if (found) return u.spec->name + " " + Quoted(q.TextView(0)) + " (" + u.spec->name + "." + col + ")";
    }
  }
  return std::string("other records");
}

// Parses a filter value for a non-text column.
Result<SqlValue> FilterValue(const RegistryColumn& c, const std::string& v) {
  if (c.blind_index) return SqlValue(v);
  switch (c.field->type) {
    case FieldType::kInt: {
      int64_t x = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (ec != std::errc() || p != v.data() + v.size()) return InvalidArgument(c.name, "must be an integer");
      return SqlValue(x);
    }
    case FieldType::kNumber: {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d)) {
        return InvalidArgument(c.name, "must be a number");
      }
      return SqlValue(d);
    }
    case FieldType::kBool:
      if (v == "true" || v == "1") return SqlValue(int64_t{1});
      if (v == "false" || v == "0") return SqlValue(int64_t{0});
      return InvalidArgument(c.name, "must be true or false");
    default:
      return SqlValue(v);
  }
}




model::Presence ParsePresence(std::string_view s) {
  if (s == "online") return model::Presence::kOnline;
  if (s == "offline") return model::Presence::kOffline;
  return model::Presence::kUnknown;
}


model::DeviceFault DecodeFault(const Stmt& s) {
  model::DeviceFault f;
  f.id = s.Int(0);
  f.device_id = s.Text(1);
  f.compound_id = s.Text(2);
  f.kind = s.Text(3);
  f.opened_ms = s.Int(4);
  if (!s.IsNull(5)) f.closed_ms = s.Int(5);
  f.detail = s.Text(6);
  return f;
}

constexpr const char* kFaultColumns = "id, device_id, compound_id, kind, opened_ms, closed_ms, detail";

}  // namespace

// ---- lifecycle ----

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  if (options.path.empty()) return InvalidArgument("path", "is required");
  if (options.path == ":memory:" || options.path.starts_with("file:")) {
    return InvalidArgument("path", "must be a file path (WAL needs a file)");
  }
  if (options.read_connections < 1 || options.read_connections > 64) {
    return InvalidArgument("read_connections", "must be between 1 and 64");
  }
  if (options.busy_timeout_ms < 0) return InvalidArgument("busy_timeout_ms", "must not be negative");

  std::unique_ptr<SqliteStore> store(new SqliteStore());
  ConnectionOptions w;
  w.path = options.path;
  w.create = true;
  w.synchronous_full = options.synchronous_full;
  w.busy_timeout_ms = options.busy_timeout_ms;
  w.cache_kib = 32 * 1024;
  // Checkpoints run on their own thread (CheckpointLoop), never inside an ingest commit.
  w.wal_autocheckpoint_pages = 0;
  LINLI_ASSIGN_OR_RETURN(store->writer_, Connection::Open(w));
  LINLI_RETURN_IF_ERROR(MigrateSchema(*store->writer_));
  LINLI_ASSIGN_OR_RETURN(std::span<const RegistryTable> tables, RegistryTables());
  for (const RegistryTable& t : tables) LINLI_RETURN_IF_ERROR(RefreshStatsIfStale(*store->writer_, t));
  // Readers open below, after the statistics: they load them with the schema.
  store->rows_since_analyze_.assign(model::AllKinds().size() + 1, 0);

  ConnectionOptions r = w;
  r.create = false;
  r.cache_kib = 16 * 1024;
  r.query_only = true;
  store->reader_options_ = r;
  store->readers_.resize(static_cast<size_t>(options.read_connections));
  for (size_t i = 0; i < store->readers_.size(); ++i) {
    LINLI_ASSIGN_OR_RETURN(store->readers_[i].conn, Connection::Open(r));
    store->idle_readers_.push_back(i);
  }
  ConnectionOptions c = w;
  c.create = false;
  c.cache_kib = 2 * 1024;
  LINLI_ASSIGN_OR_RETURN(store->checkpointer_, Connection::Open(c));
  sqlite3_wal_hook(store->writer_->handle(), &SqliteStore::OnWalCommit, store.get());
  store->checkpoint_thread_ = std::thread([s = store.get()] { s->CheckpointLoop(); });
  return store;
}

int SqliteStore::OnWalCommit(void* self, sqlite3*, const char*, int pages) {
  auto* store = static_cast<SqliteStore*>(self);
  if (pages >= kCheckpointPages) {
    {
      std::lock_guard<std::mutex> lock(store->checkpoint_mu_);
      store->checkpoint_due_ = true;
    }
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::CheckpointLoop() {
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  while (!checkpoint_stop_) {
    checkpoint_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return checkpoint_stop_ || checkpoint_due_; });
    if (checkpoint_stop_) break;
    checkpoint_due_ = false;
    lock.unlock();
    int log_frames = 0, done_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(checkpointer_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &done_frames);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      log::Warn("store: WAL checkpoint failed", {{"error", sqlite3_errstr(rc)}});
    } else if (log_frames > 16 * kCheckpointPages) {
      log::Warn("store: the WAL is growing faster than it is checkpointed",
                {{"frames", std::to_string(log_frames)}, {"checkpointed", std::to_string(done_frames)}});
    }
    lock.lock();
  }
}

SqliteStore::~SqliteStore() {
  // Readers close first so that the writer, the last connection, checkpoints the WAL.
  // (No PRAGMA optimize here: it could analyse the time-series tables in full at shutdown;
  // registry statistics are kept fresh by RefreshStatsIfStale.)
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  checkpointer_.reset();
  idle_readers_.clear();
  readers_.clear();
  writer_.reset();
}

SqliteStore::Reader SqliteStore::AcquireReader() {
  size_t slot;
  {
    std::unique_lock<std::mutex> lock(pool_mu_);
    pool_cv_.wait(lock, [this] { return !idle_readers_.empty(); });
    slot = idle_readers_.back();
    idle_readers_.pop_back();
  }
  PooledReader& pooled = readers_[slot];
  const uint64_t generation = stats_generation_.load();
  if (pooled.stats_generation != generation) {
    auto fresh = Connection::Open(reader_options_);
    if (fresh) {
      pooled.conn = std::move(*fresh);
    } else {
      log::Warn("store: cannot reopen a reader for new statistics", {{"error", fresh.error().ToString()}});
    }
    pooled.stats_generation = generation;
  }
  return Reader(this, slot, pooled.conn.get());
}

void SqliteStore::ReleaseReader(size_t slot) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle_readers_.push_back(slot);
  }
  pool_cv_.notify_one();
}

// ---- registry ----

void SqliteStore::NoteRowsAddedLocked(Kind kind, int64_t rows) {
  size_t k = static_cast<size_t>(kind);
  if (k >= rows_since_analyze_.size()) return;
  rows_since_analyze_[k] += rows;
  if (rows_since_analyze_[k] < kAnalyzeAfterRows) return;
  rows_since_analyze_[k] = 0;
  auto analyzed = RefreshStatsIfStale(*writer_, TableOf(kind));
  if (!analyzed) {
    log::Warn("store: ANALYZE failed", {{"error", analyzed.error().ToString()}});
  } else if (*analyzed) {
    stats_generation_.fetch_add(1);
  }
}

Result<model::Record> SqliteStore::ReadRecord(Connection& db, Kind kind, const std::string& id) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(kind));
  const RegistryTable& t = *table;
  LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare(t.select_sql + " WHERE t.id = ?1"));
  q.BindText(1, id);
  LINLI_ASSIGN_OR_RETURN(bool found, q.Step());
  if (!found) return Fail(ErrorCode::kNotFound, "no such " + t.spec->name + " " + Quoted(id));
  return DecodeRecord(t, q);
}

Result<void> SqliteStore::InsertRecordLocked(const Record& rec) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(rec.kind));
  const RegistryTable& t = *table;
  LINLI_ASSIGN_OR_RETURN(EncodedRecord enc, EncodeRecord(t, rec));
  LINLI_RETURN_IF_ERROR(CheckReferences(*writer_, t, enc));
  LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare(t.insert_sql));
  ins.BindText(1, rec.id);
  ins.BindTextOrNull(2, enc.compound_id);
  ins.BindInt(3, rec.created_ms);
  ins.BindInt(4, rec.updated_ms);
  for (size_t i = 0; i < enc.values.size(); ++i) BindValue(ins, static_cast<int>(i) + 5, enc.values[i]);
  auto done = ins.Run();
  if (!done) return Fail(WriteRecordError(t, rec, enc, ins, done.error()));
  return {};
}

Result<model::Record> SqliteStore::CreateRecord(const Record& rec) {
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_RETURN_IF_ERROR(InsertRecordLocked(rec));
  LINLI_ASSIGN_OR_RETURN(Record stored, ReadRecord(*writer_, rec.kind, rec.id));
  LINLI_RETURN_IF_ERROR(txn.Commit());
  NoteRowsAddedLocked(rec.kind, 1);
  return stored;
}

Result<void> SqliteStore::CreateRecords(const std::vector<Record>& recs) {
  if (recs.empty()) return {};
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  for (size_t i = 0; i < recs.size(); ++i) {
    auto inserted = InsertRecordLocked(recs[i]);
    if (!inserted) {
      const Error& e = inserted.error();
      std::string field = "rows[" + std::to_string(i) + "]";
      if (!e.field().empty()) field += "." + e.field();
      return Fail(e.code(), e.message(), field);
    }
  }
  LINLI_RETURN_IF_ERROR(txn.Commit());
  for (const Record& r : recs) NoteRowsAddedLocked(r.kind, 1);
  return {};
}

Result<model::Record> SqliteStore::GetRecord(Kind kind, const std::string& id) {
  Reader r = AcquireReader();
  return ReadRecord(*r, kind, id);
}

Result<model::Record> SqliteStore::UpdateRecord(const Record& rec) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(rec.kind));
  const RegistryTable& t = *table;
  LINLI_ASSIGN_OR_RETURN(EncodedRecord enc, EncodeRecord(t, rec));
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  {
    LINLI_ASSIGN_OR_RETURN(Stmt exists, writer_->Prepare("SELECT 1 FROM " + QuoteIdent(t.table) + " WHERE id = ?1"));
    exists.BindText(1, rec.id);
    LINLI_ASSIGN_OR_RETURN(bool found, exists.Step());
    if (!found) return Fail(ErrorCode::kNotFound, "no such " + t.spec->name + " " + Quoted(rec.id));
  }
  LINLI_RETURN_IF_ERROR(CheckReferences(*writer_, t, enc));
  {
    LINLI_ASSIGN_OR_RETURN(Stmt up, writer_->Prepare(t.update_sql));
    up.BindText(1, rec.id);
    up.BindTextOrNull(2, enc.compound_id);
    up.BindInt(3, rec.updated_ms);
    for (size_t i = 0; i < enc.values.size(); ++i) BindValue(up, static_cast<int>(i) + 4, enc.values[i]);
    auto done = up.Run();
    if (!done) return Fail(WriteRecordError(t, rec, enc, up, done.error()));
  }
  LINLI_ASSIGN_OR_RETURN(Record stored, ReadRecord(*writer_, rec.kind, rec.id));
  LINLI_RETURN_IF_ERROR(txn.Commit());
  return stored;
}

Result<void> SqliteStore::DeleteRecord(Kind kind, const std::string& id) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(kind));
  const RegistryTable& t = *table;
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  {
    LINLI_ASSIGN_OR_RETURN(Stmt del, writer_->Prepare("DELETE FROM " + QuoteIdent(t.table) + " WHERE id = ?1"));
    del.BindText(1, id);
    auto done = del.Run();
    if (!done) {
      if (!IsForeignKeyFailure(del)) return done;
      LINLI_ASSIGN_OR_RETURN(std::string who, DescribeReferrer(*writer_, kind, id));
      return Fail(ErrorCode::kConflict,
                  "cannot delete " + t.spec->name + " " + Quoted(id) + ": it is referenced by " + who);
    }
  }
  if (writer_->Changes() == 0) return Fail(ErrorCode::kNotFound, "no such " + t.spec->name + " " + Quoted(id));
  return txn.Commit();
}

Result<ListResult> SqliteStore::ListRecords(const ListQuery& q) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(q.kind));
  const RegistryTable& t = *table;
  ListResult result;
  if (q.compound_ids && q.compound_ids->empty()) return result;

  Where where;
  if (q.compound_ids) AddScope(where, "t.compound_id", *q.compound_ids);
  for (const auto& [name, value] : q.filters) {
    if (name == "compound_id") {
      where.Add("t.compound_id = ?", value);
      continue;
    }
    const RegistryColumn* c = t.Column(name);
    if (c == nullptr) return InvalidArgument(name, "is not a field of " + t.spec->name);
    const model::FieldSpec& f = *c->field;
    if (!f.filterable && !f.unique) return InvalidArgument(name, "is not filterable");
    if (f.pii && !c->blind_index) return InvalidArgument(name, "is encrypted; filter on " + name + "_bidx");
    if (f.type == FieldType::kStringList) {
      where.Add("EXISTS (SELECT 1 FROM json_each(t." + QuoteIdent(c->name) + ") WHERE value = ?)", value);
      continue;
    }
    LINLI_ASSIGN_OR_RETURN(SqlValue v, FilterValue(*c, value));
    where.Add("t." + QuoteIdent(c->name) + " = ?", std::move(v));
  }
  if (!q.search.empty()) {
    if (q.search.size() > kMaxSearchBytes) return InvalidArgument("search", "is too long");
    const RegistryColumn* label = t.Column(t.spec->label_field);
    if (label == nullptr || label->field->pii) return InvalidArgument("search", "is not supported for " + t.spec->name);
    std::string pattern = "%";
    for (char ch : q.search) {
      if (ch == '%' || ch == '_' || ch == '\\') pattern += '\\';
      pattern += ch;
    }
    pattern += '%';
    where.Add("t." + QuoteIdent(label->name) + " LIKE ? ESCAPE '\\'", std::move(pattern));
  }
  const int limit = Clamp(q.limit, 1, 1000);
  const int offset = std::max(q.offset, 0);

  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(ReadTransaction snapshot, ReadTransaction::Begin(*r));
  {
    LINLI_ASSIGN_OR_RETURN(Stmt count, r->Prepare("SELECT count(*) FROM " + QuoteIdent(t.table) + " AS t" + where.sql()));
    where.Bind(count);
    LINLI_ASSIGN_OR_RETURN(bool row, count.Step());
    result.total = row ? count.Int(0) : 0;
  }
  if (result.total <= offset) return result;
  const int p = where.next_param();
  LINLI_ASSIGN_OR_RETURN(Stmt list, r->Prepare(t.select_sql + where.sql() + " ORDER BY t.created_ms, t.id LIMIT ?" +
                                               std::to_string(p) + " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(list);
  list.BindInt(p, limit);
  list.BindInt(p + 1, offset);
  result.items.reserve(static_cast<size_t>(std::min<int64_t>(limit, result.total - offset)));
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, list.Step());
    if (!row) break;
    result.items.push_back(DecodeRecord(t, list));
  }
  return result;
}

Result<std::vector<model::Record>> SqliteStore::LoadAll(Kind kind) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(kind));
  const RegistryTable& t = *table;
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(ReadTransaction snapshot, ReadTransaction::Begin(*r));
  std::vector<Record> out;
  {
    LINLI_ASSIGN_OR_RETURN(Stmt count, r->Prepare("SELECT count(*) FROM " + QuoteIdent(t.table)));
    LINLI_ASSIGN_OR_RETURN(bool row, count.Step());
    if (row) out.reserve(static_cast<size_t>(count.Int(0)));
  }
  LINLI_ASSIGN_OR_RETURN(Stmt all, r->Prepare(t.select_sql + " ORDER BY t.rowid"));
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, all.Step());
    if (!row) break;
    out.push_back(DecodeRecord(t, all));
  }
  return out;
}

Result<model::Record> SqliteStore::FindByUnique(Kind kind, const std::string& field, const std::string& value) {
  LINLI_ASSIGN_OR_RETURN(const RegistryTable* table, FindTable(kind));
  const RegistryTable& t = *table;
  const RegistryColumn* c = t.Column(field);
  if (c == nullptr || !c->field->unique || (c->field->pii && !c->blind_index)) {
    std::string hint = (c != nullptr && c->field->pii && c->field->unique) ? "; use " + field + "_bidx" : "";
    return InvalidArgument(field, "is not a unique field of " + t.spec->name + hint);
  }
  LINLI_ASSIGN_OR_RETURN(SqlValue v, FilterValue(*c, value));
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt q, r->Prepare(t.select_sql + " WHERE t." + QuoteIdent(c->name) + " = ?1 LIMIT 1"));
  BindValue(q, 1, v);
  LINLI_ASSIGN_OR_RETURN(bool found, q.Step());
  if (!found) {
    std::string shown = c->blind_index ? "" : " " + Quoted(value);
    return Fail(ErrorCode::kNotFound, "no " + t.spec->name + " with " + c->field->name + shown);
  }
  return DecodeRecord(t, q);
}

// ---- ingest ----

Result<IngestResult> SqliteStore::WriteBatch(const IngestBatch& batch, const FollowWrite& follow,
                                             Result<void>* follow_error) {
  IngestResult result;
  if (batch.empty() && !follow) return result;

  // Validate everything first so that a bad element costs no write and names itself.
  for (size_t i = 0; i < batch.telemetry.size(); ++i) {
    const auto& p = batch.telemetry[i];
    auto at = [i](const char* field) { return "telemetry[" + std::to_string(i) + "]." + field; };
    if (p.device_id.empty()) return InvalidArgument(at("device_id"), "is empty");
    if (p.metric.empty()) return InvalidArgument(at("metric"), "is empty");
    if (const double* d = std::get_if<double>(&p.value); d != nullptr && !std::isfinite(*d)) {
      return InvalidArgument(at("value"), "must be a finite number");
    }
  }
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const auto& e = batch.events[i];
    auto at = [i](const char* field) { return "events[" + std::to_string(i) + "]." + field; };
    if (e.id.empty()) return InvalidArgument(at("id"), "is empty");
    if (e.device_id.empty()) return InvalidArgument(at("device_id"), "is empty");
    if (e.type.empty()) return InvalidArgument(at("type"), "is empty");
  }
  for (size_t i = 0; i < batch.status_changes.size(); ++i) {
    if (batch.status_changes[i].device_id.empty()) {
      return InvalidArgument("status_changes[" + std::to_string(i) + "].device_id", "is empty");
    }
  }
  for (size_t i = 0; i < batch.last_seen.size(); ++i) {
    if (batch.last_seen[i].first.empty()) {
      return InvalidArgument("last_seen[" + std::to_string(i) + "]", "device id is empty");
    }
  }
  // Serialise event data outside the lock.
  std::vector<std::string> event_data;
  event_data.reserve(batch.events.size());
  for (const auto& e : batch.events) event_data.push_back(DumpJson(e.data));

  std::lock_guard<std::mutex> lock(write_mu_);
  // Series created in this transaction are forgotten if it does not commit.
  std::vector<std::string> new_series;
  auto forget_new_series = [&] {
    for (const auto& k : new_series) series_ids_.erase(k);
    new_series.clear();
  };
  struct Forget {
    std::function<void()> f;
    bool armed = true;
    ~Forget() {
      if (armed) f();
    }
  } forget_on_error{forget_new_series};
  {
    LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
    LINLI_RETURN_IF_ERROR(WriteIngestLocked(batch, event_data, &result, &new_series));
    Result<void> followed;
    if (follow) {
      const IncidentWrite* w = follow(result);
      if (w != nullptr && !w->empty()) {
        IncidentWriteResult ignored;
        auto docs = PrepareIncidentWrite(*w);
        followed = docs ? WriteIncidentLocked(*w, *docs, &ignored) : Result<void>(std::unexpected(docs.error()));
      }
    }
    if (followed) {
      LINLI_RETURN_IF_ERROR(txn.Commit());
      forget_on_error.armed = false;
      if (follow_error != nullptr) *follow_error = {};
      return result;
    }
    if (follow_error != nullptr) *follow_error = std::unexpected(followed.error());
    // Only the follow-up was refused: roll everything back (txn's destructor) and write the
    // batch alone, so that a bad rule effect never blocks ingest.
  }
  forget_new_series();
  result = IngestResult{};
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_RETURN_IF_ERROR(WriteIngestLocked(batch, event_data, &result, &new_series));
  LINLI_RETURN_IF_ERROR(txn.Commit());
  forget_on_error.armed = false;
  return result;
}

Result<void> SqliteStore::WriteIngestLocked(const IngestBatch& batch, const std::vector<std::string>& event_data,
                                            IngestResult* result_out, std::vector<std::string>* new_series_out) {
  IngestResult& result = *result_out;
  std::vector<std::string>& new_series = *new_series_out;
  if (!batch.telemetry.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT OR REPLACE INTO telemetry "
                                                      "(series_id, ts_ms, num, txt, is_bool) "
                                                      "VALUES (?1, ?3, ?4, ?5, ?6)"));
    for (const auto& p : batch.telemetry) {
      auto series = SeriesIdLocked(p.device_id, p.metric, &new_series);
      if (!series) return std::unexpected(series.error());
      ins.BindInt(1, *series);
      ins.BindInt(3, p.ts_ms);
      if (const double* d = std::get_if<double>(&p.value)) {
        ins.BindDouble(4, *d);
        ins.BindNull(5);
        ins.BindInt(6, 0);
      } else if (const bool* b = std::get_if<bool>(&p.value)) {
        ins.BindDouble(4, *b ? 1.0 : 0.0);
        ins.BindNull(5);
        ins.BindInt(6, 1);
      } else {
        ins.BindNull(4);
        ins.BindText(5, std::get<std::string>(p.value));
        ins.BindInt(6, 0);
      }
      LINLI_RETURN_IF_ERROR(ins.Run());
      ins.Reset();
    }
    result.telemetry_written = static_cast<int64_t>(batch.telemetry.size());
  }
  if (!batch.events.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT OR IGNORE INTO events "
                                                      "(id, compound_id, device_id, type, ts_ms, received_ms, data) "
                                                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    for (size_t i = 0; i < batch.events.size(); ++i) {
      const auto& e = batch.events[i];
      ins.BindText(1, e.id);
      ins.BindTextOrNull(2, e.compound_id);
      ins.BindText(3, e.device_id);
      ins.BindText(4, e.type);
      ins.BindInt(5, e.ts_ms);
      ins.BindInt(6, e.received_ms);
      ins.BindText(7, event_data[i]);
      LINLI_RETURN_IF_ERROR(ins.Run());
      if (writer_->Changes() > 0) {
        ++result.events_written;
        result.new_event_ids.push_back(e.id);
        result.new_event_seqs.push_back(writer_->LastInsertRowid());
      } else {
        ++result.events_duplicate;
      }
      ins.Reset();
    }
  }
  if (!batch.status_changes.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt hist, writer_->Prepare("INSERT INTO status_history "
                                                       "(device_id, compound_id, status, ts_ms, reason) "
                                                       "VALUES (?1, ?2, ?3, ?4, ?5)"));
    LINLI_ASSIGN_OR_RETURN(
        Stmt state, writer_->Prepare("INSERT INTO device_state (device_id, compound_id, status, status_ms) "
                                     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_id) DO UPDATE SET "
                                     "compound_id = coalesce(excluded.compound_id, device_state.compound_id), "
                                     "status = iif(excluded.status_ms >= device_state.status_ms, "
                                     "excluded.status, device_state.status), "
                                     "status_ms = max(excluded.status_ms, device_state.status_ms)"));
    for (const auto& c : batch.status_changes) {
      std::string_view status = model::PresenceName(c.status);
      hist.BindText(1, c.device_id);
      hist.BindTextOrNull(2, c.compound_id);
      hist.BindText(3, status);
      hist.BindInt(4, c.ts_ms);
      hist.BindText(5, c.reason);
      LINLI_RETURN_IF_ERROR(hist.Run());
      result.status_change_ids.push_back(writer_->LastInsertRowid());
      hist.Reset();
      state.BindText(1, c.device_id);
      state.BindTextOrNull(2, c.compound_id);
      state.BindText(3, status);
      state.BindInt(4, c.ts_ms);
      LINLI_RETURN_IF_ERROR(state.Run());
      state.Reset();
    }
  }
  if (!batch.last_seen.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt seen, writer_->Prepare("INSERT INTO device_state (device_id, last_seen_ms) "
                                                       "VALUES (?1, ?2) ON CONFLICT (device_id) DO UPDATE SET "
                                                       "last_seen_ms = max(device_state.last_seen_ms, "
                                                       "excluded.last_seen_ms)"));
    for (const auto& [device_id, ms] : batch.last_seen) {
      seen.BindText(1, device_id);
      seen.BindInt(2, ms);
      LINLI_RETURN_IF_ERROR(seen.Run());
      seen.Reset();
    }
  }
  if (!batch.dead_letters.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO dead_letters "
                                                      "(received_ms, source, topic, reason, detail, payload, "
                                                      "payload_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    for (const auto& d : batch.dead_letters) {
      std::string_view payload(d.payload);
      ins.BindInt(1, d.received_ms);
      ins.BindText(2, TruncateUtf8(d.source, kMaxShortBytes));
      ins.BindText(3, TruncateUtf8(d.topic, kMaxTopicBytes));
      ins.BindText(4, TruncateUtf8(d.reason, kMaxShortBytes));
      ins.BindText(5, TruncateUtf8(d.detail, kMaxDetailBytes));
      ins.BindBlob(6, payload.substr(0, kMaxDeadLetterPayload));
      ins.BindInt(7, std::max<int64_t>(d.payload_size, static_cast<int64_t>(payload.size())));
      LINLI_RETURN_IF_ERROR(ins.Run());
      ins.Reset();
    }
  }
  return {};
}

Result<std::vector<model::TelemetryPoint>> SqliteStore::QueryTelemetry(const TelemetryQuery& q) {
  if (q.device_id.empty()) return InvalidArgument("device_id", "is required");
  const int limit = Clamp(q.limit, 1, 100000);
  Reader r = AcquireReader();
  const char* sql = q.metric.empty()
                        ? "SELECT s.metric, t.ts_ms, t.num, t.txt, t.is_bool FROM series s JOIN telemetry t "
                          "ON t.series_id = s.id WHERE s.device_id = ?1 AND t.ts_ms >= ?3 AND t.ts_ms < ?4 "
                          "ORDER BY t.ts_ms, s.metric LIMIT ?5"
                        : "SELECT s.metric, t.ts_ms, t.num, t.txt, t.is_bool FROM series s JOIN telemetry t "
                          "ON t.series_id = s.id WHERE s.device_id = ?1 AND s.metric = ?2 AND t.ts_ms >= ?3 "
                          "AND t.ts_ms < ?4 ORDER BY t.ts_ms LIMIT ?5";
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare(sql));
  s.BindText(1, q.device_id);
  if (!q.metric.empty()) s.BindText(2, q.metric);
  s.BindInt(3, q.from_ms);
  s.BindInt(4, q.to_ms);
  s.BindInt(5, limit);
  std::vector<model::TelemetryPoint> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::TelemetryPoint p;
    p.device_id = q.device_id;
    p.metric = s.Text(0);
    p.ts_ms = s.Int(1);
    if (!s.IsNull(3)) {
      p.value = s.Text(3);
    } else if (s.Int(4) != 0) {
      p.value = s.Double(2) != 0;
    } else {
      p.value = s.Double(2);
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<model::Event>> SqliteStore::QueryEvents(const EventQuery& q) {
  std::vector<model::Event> out;
  if (q.compound_ids && q.compound_ids->empty()) return out;
  Where where;
  where.Add("ts_ms >= ?", q.from_ms);
  where.Add("ts_ms < ?", q.to_ms);
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.compound_id.empty()) where.Add("compound_id = ?", q.compound_id);
  if (!q.device_id.empty()) where.Add("device_id = ?", q.device_id);
  if (!q.type.empty()) {
    if (q.type.back() == '*') {
      std::string prefix = q.type.substr(0, q.type.size() - 1);
      std::string upper;
      if (!prefix.empty()) {
        where.Add("type >= ?", prefix);
        if (PrefixUpperBound(prefix, &upper)) where.Add("type < ?", std::move(upper));
      }
    } else {
      where.Add("type = ?", q.type);
    }
  }
  const int limit = Clamp(q.limit, 1, 10000);
  const int offset = std::max(q.offset, 0);
  const int p = where.next_param();
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT id, compound_id, device_id, type, ts_ms, received_ms, data "
                                            "FROM events" + where.sql() + " ORDER BY ts_ms DESC, id DESC LIMIT ?" +
                                            std::to_string(p) + " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(s);
  s.BindInt(p, limit);
  s.BindInt(p + 1, offset);
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::Event e;
    e.id = s.Text(0);
    e.compound_id = s.Text(1);
    e.device_id = s.Text(2);
    e.type = s.Text(3);
    e.ts_ms = s.Int(4);
    e.received_ms = s.Int(5);
    e.data = ParseStoredJson(s.TextView(6), "events", e.ts_ms);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<model::StatusChange>> SqliteStore::QueryStatusHistory(const std::string& device_id,
                                                                         int64_t from_ms, int64_t to_ms, int limit) {
  if (device_id.empty()) return InvalidArgument("device_id", "is required");
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT device_id, compound_id, status, ts_ms, reason FROM status_history "
                                            "WHERE device_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 "
                                            "ORDER BY ts_ms DESC, id DESC LIMIT ?4"));
  s.BindText(1, device_id);
  s.BindInt(2, from_ms);
  s.BindInt(3, to_ms);
  s.BindInt(4, Clamp(limit, 1, 10000));
  std::vector<model::StatusChange> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::StatusChange c;
    c.device_id = s.Text(0);
    c.compound_id = s.Text(1);
    c.status = ParsePresence(s.TextView(2));
    c.ts_ms = s.Int(3);
    c.reason = s.Text(4);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<Store::DeviceState>> SqliteStore::LoadDeviceStates() {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(ReadTransaction snapshot, ReadTransaction::Begin(*r));
  std::vector<DeviceState> out;
  {
    LINLI_ASSIGN_OR_RETURN(Stmt count, r->Prepare("SELECT count(*) FROM device_state"));
    LINLI_ASSIGN_OR_RETURN(bool row, count.Step());
    if (row) out.reserve(static_cast<size_t>(count.Int(0)));
  }
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT device_id, status, status_ms, last_seen_ms FROM device_state"));
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    DeviceState d;
    d.device_id = s.Text(0);
    d.status = ParsePresence(s.TextView(1));
    d.status_ms = s.Int(2);
    d.last_seen_ms = s.Int(3);
    out.push_back(std::move(d));
  }
  return out;
}

Result<int64_t> SqliteStore::SeriesIdLocked(const std::string& device, const std::string& metric,
                                            std::vector<std::string>* added) {
  std::string key;
  key.reserve(device.size() + metric.size() + 1);
  key.append(device).push_back('\x1f');
  key.append(metric);
  if (auto it = series_ids_.find(key); it != series_ids_.end()) return it->second;
  if (series_ids_.size() >= kMaxCachedSeries) series_ids_.clear();  // refilled from the table
  {
    LINLI_ASSIGN_OR_RETURN(Stmt get, writer_->Prepare("SELECT id FROM series WHERE device_id = ?1 AND metric = ?2"));
    get.BindText(1, device);
    get.BindText(2, metric);
    LINLI_ASSIGN_OR_RETURN(bool row, get.Step());
    if (row) {
      int64_t id = get.Int(0);
      series_ids_.emplace(std::move(key), id);
      return id;
    }
  }
  LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO series (device_id, metric) VALUES (?1, ?2)"));
  ins.BindText(1, device);
  ins.BindText(2, metric);
  LINLI_RETURN_IF_ERROR(ins.Run());
  const int64_t id = writer_->LastInsertRowid();
  added->push_back(key);
  series_ids_.emplace(std::move(key), id);
  return id;
}

Result<int64_t> SqliteStore::PruneTelemetry(int64_t before_ms) {
  // Walks the series in id order with a cursor; each transaction deletes at most
  // kPruneChunkRows rows or visits kPruneChunkSeries series, then releases the writer. Every
  // delete is a range on the primary key, so the cost is proportional to what is removed plus
  // one seek per series, never a scan of the rows that stay.
  int64_t removed = 0;
  int64_t cursor = 0;
  bool done = false;
  while (!done) {
    std::lock_guard<std::mutex> lock(write_mu_);
    LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
    int64_t chunk_rows = 0;
    int series = 0;
    while (chunk_rows < kPruneChunkRows && series < kPruneChunkSeries) {
      int64_t id = 0;
      {
        LINLI_ASSIGN_OR_RETURN(Stmt next, writer_->Prepare("SELECT id FROM series WHERE id > ?1 ORDER BY id LIMIT 1"));
        next.BindInt(1, cursor);
        LINLI_ASSIGN_OR_RETURN(bool row, next.Step());
        if (!row) {
          done = true;
          break;
        }
        id = next.Int(0);
      }
      ++series;
      const int64_t budget = kPruneChunkRows - chunk_rows;
      // The timestamp of the first old row beyond the budget, if the series has that many.
      std::optional<int64_t> cut;
      {
        LINLI_ASSIGN_OR_RETURN(Stmt probe, writer_->Prepare("SELECT ts_ms FROM telemetry WHERE series_id = ?1 "
                                                            "AND ts_ms < ?2 ORDER BY ts_ms LIMIT 1 OFFSET ?3"));
        probe.BindInt(1, id);
        probe.BindInt(2, before_ms);
        probe.BindInt(3, budget);
        LINLI_ASSIGN_OR_RETURN(bool row, probe.Step());
        if (row) cut = probe.Int(0);
      }
      {
        LINLI_ASSIGN_OR_RETURN(Stmt del, writer_->Prepare("DELETE FROM telemetry WHERE series_id = ?1 AND ts_ms < ?2"));
        del.BindInt(1, id);
        del.BindInt(2, cut.value_or(before_ms));
        LINLI_RETURN_IF_ERROR(del.Run());
        chunk_rows += writer_->Changes();
      }
      if (cut) break;  // this series has more old rows: continue it in the next transaction
      cursor = id;
    }
    LINLI_RETURN_IF_ERROR(txn.Commit());
    removed += chunk_rows;
  }
  return removed;
}

// ---- faults ----

Result<model::DeviceFault> SqliteStore::OpenFault(const model::DeviceFault& f) {
  if (f.device_id.empty()) return InvalidArgument("device_id", "is required");
  if (f.kind.empty()) return InvalidArgument("kind", "is required");
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  {
    LINLI_ASSIGN_OR_RETURN(Stmt open, writer_->Prepare(std::string("SELECT ") + kFaultColumns +
                                                       " FROM faults WHERE device_id = ?1 AND kind = ?2 "
                                                       "AND closed_ms IS NULL"));
    open.BindText(1, f.device_id);
    open.BindText(2, f.kind);
    LINLI_ASSIGN_OR_RETURN(bool found, open.Step());
    if (found) return DecodeFault(open);  // nothing written; the transaction rolls back
  }
  LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO faults (device_id, compound_id, kind, opened_ms, "
                                                    "closed_ms, detail) VALUES (?1, ?2, ?3, ?4, NULL, ?5)"));
  ins.BindText(1, f.device_id);
  ins.BindTextOrNull(2, f.compound_id);
  ins.BindText(3, f.kind);
  ins.BindInt(4, f.opened_ms);
  ins.BindText(5, TruncateUtf8(f.detail, kMaxDetailBytes));
  LINLI_RETURN_IF_ERROR(ins.Run());
  model::DeviceFault out = f;
  out.id = writer_->LastInsertRowid();
  out.closed_ms.reset();
  out.detail = std::string(TruncateUtf8(f.detail, kMaxDetailBytes));
  LINLI_RETURN_IF_ERROR(txn.Commit());
  return out;
}

Result<bool> SqliteStore::CloseFault(const std::string& device_id, const std::string& kind, int64_t closed_ms) {
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_ASSIGN_OR_RETURN(Stmt up, writer_->Prepare("UPDATE faults SET closed_ms = ?3 WHERE device_id = ?1 "
                                                   "AND kind = ?2 AND closed_ms IS NULL"));
  up.BindText(1, device_id);
  up.BindText(2, kind);
  up.BindInt(3, closed_ms);
  LINLI_RETURN_IF_ERROR(up.Run());
  bool closed = writer_->Changes() > 0;
  LINLI_RETURN_IF_ERROR(txn.Commit());
  return closed;
}

Result<std::vector<model::DeviceFault>> SqliteStore::ListFaults(const FaultQuery& q) {
  std::vector<model::DeviceFault> out;
  if (q.compound_ids && q.compound_ids->empty()) return out;
  Where where;
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.device_id.empty()) where.Add("device_id = ?", q.device_id);
  if (q.open_only) where.Add("closed_ms IS NULL");
  const int p = where.next_param();
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare(std::string("SELECT ") + kFaultColumns + " FROM faults" + where.sql() +
                                            " ORDER BY opened_ms DESC, id DESC LIMIT ?" + std::to_string(p) +
                                            " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(s);
  s.BindInt(p, Clamp(q.limit, 1, 1000));
  s.BindInt(p + 1, std::max(q.offset, 0));
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(DecodeFault(s));
  }
  return out;
}

// ---- dead letters ----

Result<std::vector<model::DeadLetter>> SqliteStore::ListDeadLetters(int64_t from_ms, int limit, int offset) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT id, received_ms, source, topic, reason, detail, payload, "
                                            "payload_size FROM dead_letters WHERE received_ms >= ?1 "
                                            "ORDER BY received_ms DESC, id DESC LIMIT ?2 OFFSET ?3"));
  s.BindInt(1, from_ms);
  s.BindInt(2, Clamp(limit, 1, 1000));
  s.BindInt(3, std::max(offset, 0));
  std::vector<model::DeadLetter> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::DeadLetter d;
    d.id = s.Int(0);
    d.received_ms = s.Int(1);
    d.source = s.Text(2);
    d.topic = s.Text(3);
    d.reason = s.Text(4);
    d.detail = s.Text(5);
    d.payload = std::string(s.BlobView(6));
    d.payload_size = s.Int(7);
    out.push_back(std::move(d));
  }
  return out;
}

Result<int64_t> SqliteStore::CountDeadLetters() {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT count(*) FROM dead_letters"));
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

// ---- audit ----

Result<void> SqliteStore::AppendAudit(const model::AuditEntry& e) {
  if (e.actor.empty()) return InvalidArgument("actor", "is required");
  if (e.action.empty()) return InvalidArgument("action", "is required");
  std::string detail = DumpJson(e.detail);
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO audit_log (ts_ms, actor, action, object_kind, "
                                                    "object_id, compound_id, remote, detail) "
                                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  ins.BindInt(1, e.ts_ms);
  ins.BindText(2, e.actor);
  ins.BindText(3, e.action);
  ins.BindText(4, e.object_kind);
  ins.BindText(5, e.object_id);
  ins.BindTextOrNull(6, e.compound_id);
  ins.BindText(7, e.remote);
  ins.BindText(8, detail);
  LINLI_RETURN_IF_ERROR(ins.Run());
  return txn.Commit();
}

Result<std::vector<model::AuditEntry>> SqliteStore::ListAudit(const AuditQuery& q) {
  std::vector<model::AuditEntry> out;
  if (q.compound_ids && q.compound_ids->empty()) return out;
  Where where;
  where.Add("ts_ms >= ?", q.from_ms);
  where.Add("ts_ms < ?", q.to_ms);
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.actor.empty()) where.Add("actor = ?", q.actor);
  if (!q.action.empty()) where.Add("action = ?", q.action);
  const int p = where.next_param();
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT id, ts_ms, actor, action, object_kind, object_id, compound_id, "
                                            "remote, detail FROM audit_log" + where.sql() +
                                            " ORDER BY ts_ms DESC, id DESC LIMIT ?" + std::to_string(p) +
                                            " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(s);
  s.BindInt(p, Clamp(q.limit, 1, 1000));
  s.BindInt(p + 1, std::max(q.offset, 0));
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::AuditEntry e;
    e.id = s.Int(0);
    e.ts_ms = s.Int(1);
    e.actor = s.Text(2);
    e.action = s.Text(3);
    e.object_kind = s.Text(4);
    e.object_id = s.Text(5);
    e.compound_id = s.Text(6);
    e.remote = s.Text(7);
    e.detail = ParseStoredJson(s.TextView(8), "audit_log", e.id);
    out.push_back(std::move(e));
  }
  return out;
}

// ---- tokens ----

Result<void> SqliteStore::PutToken(const TokenRecord& t) {
  if (t.token_hash.empty()) return InvalidArgument("token_hash", "is required");
  if (t.user_id.empty()) return InvalidArgument("user_id", "is required");
  if (t.kind.empty()) return InvalidArgument("kind", "is required");
  if (t.expires_ms < 0) return InvalidArgument("expires_ms", "must not be negative");
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO tokens (token_hash, user_id, kind, created_ms, "
                                                    "expires_ms, label) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                                                    "ON CONFLICT (token_hash) DO UPDATE SET user_id = excluded.user_id, "
                                                    "kind = excluded.kind, created_ms = excluded.created_ms, "
                                                    "expires_ms = excluded.expires_ms, label = excluded.label"));
  ins.BindText(1, t.token_hash);
  ins.BindText(2, t.user_id);
  ins.BindText(3, t.kind);
  ins.BindInt(4, t.created_ms);
  ins.BindInt(5, t.expires_ms);
  ins.BindText(6, t.label);
  LINLI_RETURN_IF_ERROR(ins.Run());
  return txn.Commit();
}

Result<TokenRecord> SqliteStore::GetToken(const std::string& token_hash) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT token_hash, user_id, kind, created_ms, expires_ms, label "
                                            "FROM tokens WHERE token_hash = ?1"));
  s.BindText(1, token_hash);
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such token");
  TokenRecord t;
  t.token_hash = s.Text(0);
  t.user_id = s.Text(1);
  t.kind = s.Text(2);
  t.created_ms = s.Int(3);
  t.expires_ms = s.Int(4);
  t.label = s.Text(5);
  return t;
}

namespace {
// Runs a single-statement write with one text parameter and an optional integer; returns changes.
Result<int64_t> RunDelete(Connection& db, const char* sql, std::string_view text, std::optional<int64_t> number) {
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(db));
  int64_t changes = 0;
  {
    LINLI_ASSIGN_OR_RETURN(Stmt s, db.Prepare(sql));
    if (number) {
      s.BindInt(1, *number);
    } else {
      s.BindText(1, text);
    }
    LINLI_RETURN_IF_ERROR(s.Run());
    changes = db.Changes();
  }
  LINLI_RETURN_IF_ERROR(txn.Commit());
  return changes;
}
}  // namespace

Result<void> SqliteStore::DeleteToken(const std::string& token_hash) {
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(int64_t n, RunDelete(*writer_, "DELETE FROM tokens WHERE token_hash = ?1", token_hash,
                                              std::nullopt));
  if (n == 0) return Fail(ErrorCode::kNotFound, "no such token");
  return {};
}

Result<int64_t> SqliteStore::DeleteTokensOfUser(const std::string& user_id) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return RunDelete(*writer_, "DELETE FROM tokens WHERE user_id = ?1", user_id, std::nullopt);
}

Result<int64_t> SqliteStore::DeleteExpiredTokens(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return RunDelete(*writer_, "DELETE FROM tokens WHERE expires_ms > 0 AND expires_ms <= ?1", {}, now_ms);
}

// ---- meta ----

Result<std::optional<std::string>> SqliteStore::GetMeta(const std::string& key) {
  if (key.empty()) return InvalidArgument("key", "is required");
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT value FROM meta WHERE key = ?1"));
  s.BindText(1, key);
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

Result<void> SqliteStore::SetMeta(const std::string& key, const std::string& value) {
  if (key.empty()) return InvalidArgument("key", "is required");
  if (key.size() > kMaxKeyBytes) return InvalidArgument("key", "is too long");
  if (key == kSchemaVersionKey) return InvalidArgument("key", "schema_version is managed by the store");
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_ASSIGN_OR_RETURN(Stmt s, writer_->Prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  s.BindText(1, key);
  s.BindText(2, value);
  LINLI_RETURN_IF_ERROR(s.Run());
  return txn.Commit();
}

}  // namespace sqlite
}  // namespace linli::store
