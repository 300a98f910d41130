#include "store/sqlite/sqlite_db.h"

#include <limits>
#include <utility>

namespace linli::store::sqlite {

Error SqliteError(int rc, std::string_view context, std::string_view detail) {
  ErrorCode code = ErrorCode::kInternal;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
      code = ErrorCode::kUnavailable;
      break;
    case SQLITE_CONSTRAINT:
      code = ErrorCode::kConflict;
      break;
    case SQLITE_NOMEM:
      code = ErrorCode::kResourceExhausted;
      break;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      code = ErrorCode::kInvalidArgument;
      break;
    default:
      break;
  }
  std::string msg(context);
  msg += ": ";
  msg += detail.empty() ? std::string_view(sqlite3_errstr(rc)) : detail;
  return Error(code, std::move(msg));
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// ---- Stmt ----

Stmt::Stmt(sqlite3* db, sqlite3_stmt* stmt, CacheEntry* entry) : db_(db), stmt_(stmt), entry_(entry) {}

Stmt::Stmt(Stmt&& other) noexcept
    : db_(other.db_),
      stmt_(other.stmt_),
      entry_(other.entry_),
      last_rc_(other.last_rc_),
      last_message_(std::move(other.last_message_)) {
  other.stmt_ = nullptr;
  other.entry_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  if (entry_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    entry_->in_use = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

void Stmt::BindNull(int i) { sqlite3_bind_null(stmt_, i); }
void Stmt::BindInt(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
void Stmt::BindDouble(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
void Stmt::BindText(int i, std::string_view v) {
  // A non-null pointer even for "" so that an empty string is bound as '' rather than NULL.
  sqlite3_bind_text64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}
void Stmt::BindTextCopy(int i, std::string_view v) {
  sqlite3_bind_text64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
void Stmt::BindTextOrNull(int i, std::string_view v) {
  if (v.empty()) {
    BindNull(i);
  } else {
    BindText(i, v);
  }
}
void Stmt::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC);
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  last_rc_ = sqlite3_extended_errcode(db_);
  last_message_ = sqlite3_errmsg(db_);
  const char* sql = sqlite3_sql(stmt_);
  std::string_view context = sql != nullptr ? std::string_view(sql) : std::string_view("statement");
  if (context.size() > 80) context = context.substr(0, 80);
  Error err = SqliteError(last_rc_, context, last_message_);
  sqlite3_reset(stmt_);
  return std::unexpected(std::move(err));
}

Result<void> Stmt::Run() {
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return {};
  }
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view Stmt::TextView(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  if (p == nullptr) return {};
  int n = sqlite3_column_bytes(stmt_, i);
  return std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

std::string_view Stmt::BlobView(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  if (p == nullptr) return {};
  int n = sqlite3_column_bytes(stmt_, i);
  return std::string_view(static_cast<const char*>(p), static_cast<size_t>(n));
}

std::string_view Stmt::ColumnName(int i) const {
  const char* n = sqlite3_column_name(stmt_, i);
  return n == nullptr ? std::string_view() : std::string_view(n);
}

// ---- Connection ----

Result<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
  if (sqlite3_threadsafe() == 0) {
    return Fail(ErrorCode::kFailedPrecondition, "SQLite was built without thread support");
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    Error e = SqliteError(rc, "cannot open database '" + options.path + "'", detail);
    if ((rc & 0xff) == SQLITE_CANTOPEN) return Fail(ErrorCode::kFailedPrecondition, e.message());
    return Fail(std::move(e));
  }
  std::unique_ptr<Connection> conn(new Connection(raw));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);

  // The first statement reads the header: a file that is not a database fails here.
  {
    char* err = nullptr;
    int probe = sqlite3_exec(raw, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, &err);
    std::string detail = err != nullptr ? err : sqlite3_errstr(probe);
    sqlite3_free(err);
    int primary = probe & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      return Fail(ErrorCode::kFailedPrecondition, "'" + options.path + "' is not a usable SQLite database: " + detail);
    }
    if (probe != SQLITE_OK) return Fail(SqliteError(probe, "cannot read database '" + options.path + "'", detail));
  }
  LINLI_ASSIGN_OR_RETURN(Stmt mode, conn->Prepare("PRAGMA journal_mode=WAL"));
  LINLI_ASSIGN_OR_RETURN(bool row, mode.Step());
  if (!row || mode.TextView(0) != "wal") {
    return Fail(ErrorCode::kFailedPrecondition, "cannot switch '" + options.path + "' to WAL mode (journal_mode=" +
                                                    std::string(row ? mode.TextView(0) : "?") + ")");
  }
  mode.Reset();

  std::string pragmas = "PRAGMA foreign_keys=ON;";
  pragmas += options.synchronous_full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;";
  pragmas += "PRAGMA cache_size=-" + std::to_string(options.cache_kib) + ";";
  pragmas += "PRAGMA temp_store=MEMORY;";
  pragmas += "PRAGMA journal_size_limit=67108864;";
  pragmas += "PRAGMA wal_autocheckpoint=" + std::to_string(options.wal_autocheckpoint_pages) + ";";
  if (options.query_only) pragmas += "PRAGMA query_only=ON;";
  LINLI_RETURN_IF_ERROR(conn->Exec(pragmas));
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, entry] : cache_) sqlite3_finalize(entry->stmt);
  cache_.clear();
  sqlite3_close_v2(db_);
}

Result<void> Connection::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string detail = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    std::string_view context(sql);
    if (context.size() > 80) context = context.substr(0, 80);
    return Fail(SqliteError(sqlite3_extended_errcode(db_), context, detail));
  }
  return {};
}

void Connection::EvictIfFull() {
  while (cache_.size() >= kMaxCachedStatements) {
    auto victim = cache_.end();
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (it->second->in_use) continue;
      if (victim == cache_.end() || it->second->last_used < victim->second->last_used) victim = it;
    }
    if (victim == cache_.end()) return;  // everything leased: let the cache grow
    sqlite3_finalize(victim->second->stmt);
    cache_.erase(victim);
  }
}

Result<Stmt> Connection::Prepare(std::string_view sql) {
  auto prepare = [&](sqlite3_stmt** out) -> Result<void> {
    if (sql.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
      return Fail(ErrorCode::kInvalidArgument, "statement too long");
    }
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                out, nullptr);
    if (rc != SQLITE_OK) {
      std::string_view context = sql.size() > 80 ? sql.substr(0, 80) : sql;
      return Fail(SqliteError(sqlite3_extended_errcode(db_), context, sqlite3_errmsg(db_)));
    }
    return {};
  };
  ++use_counter_;
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) {
    Stmt::CacheEntry* entry = it->second.get();
    if (!entry->in_use) {
      entry->in_use = true;
      entry->last_used = use_counter_;
      return Stmt(db_, entry->stmt, entry);
    }
    sqlite3_stmt* own = nullptr;
    LINLI_RETURN_IF_ERROR(prepare(&own));
    return Stmt(db_, own, nullptr);
  }
  sqlite3_stmt* stmt = nullptr;
  LINLI_RETURN_IF_ERROR(prepare(&stmt));
  EvictIfFull();
  auto entry = std::make_unique<Stmt::CacheEntry>();
  entry->stmt = stmt;
  entry->last_used = use_counter_;
  entry->in_use = true;
  Stmt::CacheEntry* p = entry.get();
  cache_.emplace(std::string(sql), std::move(entry));
  return Stmt(db_, stmt, p);
}

// ---- transactions ----

Result<WriteTransaction> WriteTransaction::Begin(Connection& db) {
  LINLI_ASSIGN_OR_RETURN(Stmt begin, db.Prepare("BEGIN IMMEDIATE"));
  LINLI_RETURN_IF_ERROR(begin.Run());
  return WriteTransaction(&db);
}

WriteTransaction::~WriteTransaction() {
  if (!open_) return;
  // ROLLBACK cannot meaningfully fail here; if the transaction was already rolled back by
  // SQLite (e.g. after SQLITE_FULL) there is nothing to undo.
  if (db_->InTransaction()) {
    auto rollback = db_->Prepare("ROLLBACK");
    if (rollback) (void)rollback->Run();
  }
}

Result<void> WriteTransaction::Commit() {
  LINLI_ASSIGN_OR_RETURN(Stmt commit, db_->Prepare("COMMIT"));
  LINLI_RETURN_IF_ERROR(commit.Run());
  open_ = false;
  return {};
}

Result<ReadTransaction> ReadTransaction::Begin(Connection& db) {
  LINLI_ASSIGN_OR_RETURN(Stmt begin, db.Prepare("BEGIN"));
  LINLI_RETURN_IF_ERROR(begin.Run());
  return ReadTransaction(&db);
}

ReadTransaction::~ReadTransaction() {
  if (!open_ || !db_->InTransaction()) return;
  auto commit = db_->Prepare("COMMIT");
  if (commit && commit->Run()) return;
  auto rollback = db_->Prepare("ROLLBACK");
  if (rollback) (void)rollback->Run();
}

}  // namespace linli::store::sqlite
