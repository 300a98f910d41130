// Thin RAII layer over the SQLite C API used by SqliteStore: connections with a cache of
// prepared statements, statement leases that reset themselves, transactions that roll back
// unless committed, and the one mapping from SQLite result codes to linli::Error.
//
// Ownership: a Connection owns its sqlite3 handle and every statement it cached; a Stmt is a
// lease on one of them and must not outlive its Connection.
// Thread-safety: none. A Connection (and its statements) is used by one thread at a time; the
// store guarantees that with its writer mutex and its reader pool.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

namespace linli::store::sqlite {

// Maps a SQLite result code to an Error: BUSY/LOCKED/IOERR/FULL/CANTOPEN/PROTOCOL →
// kUnavailable; constraint failures → kConflict (callers refine unique and foreign-key cases);
// NOMEM → kResourceExhausted; TOOBIG/RANGE/MISMATCH → kInvalidArgument; the rest → kInternal.
// `context` says what was being done; `detail` is SQLite's message.
Error SqliteError(int rc, std::string_view context, std::string_view detail);

class Connection;

// A lease on a prepared statement. Bind*, then Step() or Run(). When the lease ends the
// statement is reset and its bindings cleared, so it can be reused from the cache.
// Text and blobs are bound without copying (SQLITE_STATIC): the bytes must stay alive until
// the lease ends or Reset() is called.
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  void BindNull(int i);
  void BindInt(int i, int64_t v);
  void BindDouble(int i, double v);
  void BindText(int i, std::string_view v);
  // Copies the bytes (for temporaries).
  void BindTextCopy(int i, std::string_view v);
  // Binds NULL for an empty string.
  void BindTextOrNull(int i, std::string_view v);
  void BindBlob(int i, std::string_view v);

  // Advances: true when a row is available, false when the statement is done.
  Result<bool> Step();
  // Steps until done, ignoring rows.
  Result<void> Run();
  // Resets to run again (bindings cleared).
  void Reset();

  // The raw result code and message of the last failed Step() (for constraint refinement).
  int last_rc() const { return last_rc_; }
  const std::string& last_message() const { return last_message_; }

  int ColumnType(int i) const { return sqlite3_column_type(stmt_, i); }
  bool IsNull(int i) const { return ColumnType(i) == SQLITE_NULL; }
  int64_t Int(int i) const { return sqlite3_column_int64(stmt_, i); }
  double Double(int i) const { return sqlite3_column_double(stmt_, i); }
  // Text of a column ("" for NULL). The view is valid until the next Step/Reset.
  std::string_view TextView(int i) const;
  std::string Text(int i) const { return std::string(TextView(i)); }
  std::string_view BlobView(int i) const;
  int ColumnCount() const { return sqlite3_column_count(stmt_); }
  std::string_view ColumnName(int i) const;

 private:
  friend class Connection;
  struct CacheEntry {
    sqlite3_stmt* stmt = nullptr;
    uint64_t last_used = 0;
    bool in_use = false;
  };
  Stmt(sqlite3* db, sqlite3_stmt* stmt, CacheEntry* entry);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  CacheEntry* entry_;  // null: the statement is owned by this lease and finalised with it
  int last_rc_ = SQLITE_OK;
  std::string last_message_;
};

struct ConnectionOptions {
  std::string path;
  bool create = false;          // create the file if missing
  bool synchronous_full = false;
  int busy_timeout_ms = 5000;
  int cache_kib = 8 * 1024;     // page cache size
  bool query_only = false;      // readers: refuse writes
  // WAL pages after which a commit checkpoints. Each checkpoint syncs the WAL and the
  // database; ingest batches of random event ids dirty ~1,000 pages each, so SQLite's default
  // (1,000) would checkpoint, and fsync, after every batch.
  int wal_autocheckpoint_pages = 1000;
};

class Connection {
 public:
  // Opens the database in WAL mode with foreign keys on, extended result codes, the given
  // busy timeout and synchronous level. Errors: kFailedPrecondition if the file cannot be
  // opened or is not a database, kUnavailable if it is locked.
  static Result<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows (DDL, pragmas).
  Result<void> Exec(const std::string& sql);
  // A prepared statement for `sql`, from the cache when possible. If the cached statement for
  // the same text is currently leased (nested use), a private one is prepared.
  Result<Stmt> Prepare(std::string_view sql);

  int64_t Changes() const { return sqlite3_changes64(db_); }
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  sqlite3* handle() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  void EvictIfFull();

  static constexpr size_t kMaxCachedStatements = 128;
  sqlite3* db_;
  uint64_t use_counter_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Stmt::CacheEntry>> cache_;
};

// BEGIN IMMEDIATE ... COMMIT on the writer connection; rolls back in the destructor unless
// committed. BEGIN fails with kUnavailable if another process holds the write lock past the
// busy timeout.
class WriteTransaction {
 public:
  static Result<WriteTransaction> Begin(Connection& db);
  WriteTransaction(WriteTransaction&& other) noexcept : db_(other.db_), open_(other.open_) {
    other.open_ = false;
  }
  WriteTransaction& operator=(WriteTransaction&&) = delete;
  ~WriteTransaction();
  Result<void> Commit();

 private:
  explicit WriteTransaction(Connection* db) : db_(db), open_(true) {}
  Connection* db_;
  bool open_;
};

// BEGIN (deferred) ... COMMIT on a reader: several queries see one snapshot.
class ReadTransaction {
 public:
  static Result<ReadTransaction> Begin(Connection& db);
  ReadTransaction(ReadTransaction&& other) noexcept : db_(other.db_), open_(other.open_) {
    other.open_ = false;
  }
  ReadTransaction& operator=(ReadTransaction&&) = delete;
  ~ReadTransaction();

 private:
  explicit ReadTransaction(Connection* db) : db_(db), open_(true) {}
  Connection* db_;
  bool open_;
};

// "name" with embedded quotes doubled.
std::string QuoteIdent(std::string_view name);

}  // namespace linli::store::sqlite
