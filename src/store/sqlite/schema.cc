#include "store/sqlite/schema.h"

#include <charconv>
#include <set>
#include <string>

#include "common/log.h"
#include "store/migrations/sqlite_migrations.h"
#include "store/sqlite/registry_tables.h"

namespace linli::store::sqlite {
namespace {

Result<int> ReadSchemaVersion(Connection& db) {
  LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT value FROM meta WHERE key = ?1"));
  q.BindText(1, kSchemaVersionKey);
  LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return 0;
  std::string_view text = q.TextView(0);
  int version = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || ptr != text.data() + text.size() || version < 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                "meta.schema_version is not a number: '" + std::string(text.substr(0, 40)) + "'");
  }
  return version;
}

Result<void> WriteSchemaVersion(Connection& db, int version) {
  LINLI_ASSIGN_OR_RETURN(
      Stmt q, db.Prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  std::string v = std::to_string(version);
  q.BindText(1, kSchemaVersionKey);
  q.BindText(2, v);
  return q.Run();
}

Result<bool> TableExists(Connection& db, const std::string& table) {
  LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1"));
  q.BindText(1, table);
  return q.Step();
}

Result<std::set<std::string>> LiveColumns(Connection& db, const std::string& table) {
  LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT name FROM pragma_table_info(?1)"));
  q.BindText(1, table);
  std::set<std::string> names;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    names.insert(q.Text(0));
  }
  return names;
}

Result<void> ReconcileTable(Connection& db, const RegistryTable& t) {
  LINLI_ASSIGN_OR_RETURN(bool exists, TableExists(db, t.table));
  if (!exists) {
    LINLI_RETURN_IF_ERROR(db.Exec(t.CreateTableSql()));
    log::Debug("store: created registry table", {{"table", t.table}});
  } else {
    LINLI_ASSIGN_OR_RETURN(std::set<std::string> live, LiveColumns(db, t.table));
    for (const char* base : {"id", "compound_id", "created_ms", "updated_ms"}) {
      if (!live.contains(base)) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "table '" + t.table + "' is not a registry table of this store (no column " + base + ")");
      }
    }
    for (const RegistryColumn& c : t.columns) {
      if (live.contains(c.name)) continue;
      LINLI_RETURN_IF_ERROR(
          db.Exec("ALTER TABLE " + QuoteIdent(t.table) + " ADD COLUMN " + t.ColumnDefinition(c)));
      log::Info("store: added column for new spec field", {{"table", t.table}, {"column", c.name}});
    }
  }

  // Indexes owned by the store are recognisable by name; drop those the spec no longer wants.
  std::set<std::string> wanted;
  for (const RegistryIndex& ix : t.indexes) wanted.insert(ix.name);
  std::vector<std::string> stale;
  {
    LINLI_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1"));
    q.BindText(1, t.table);
    const std::string ix_prefix = "ix_" + t.table + "__";
    const std::string ux_prefix = "ux_" + t.table + "__";
    while (true) {
      LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      std::string name = q.Text(0);
      bool ours = name.starts_with(ix_prefix) || name.starts_with(ux_prefix);
      if (ours && !wanted.contains(name)) stale.push_back(name);
    }
  }
  for (const std::string& name : stale) {
    LINLI_RETURN_IF_ERROR(db.Exec("DROP INDEX " + QuoteIdent(name)));
    log::Info("store: dropped index no longer in the spec", {{"index", name}});
  }
  for (const RegistryIndex& ix : t.indexes) {
    std::string sql = std::string(ix.unique ? "CREATE UNIQUE INDEX" : "CREATE INDEX") + " IF NOT EXISTS " +
                      QuoteIdent(ix.name) + " ON " + QuoteIdent(t.table) + " (" + ix.columns + ")";
    auto created = db.Exec(sql);
    if (!created) {
      if (ix.unique && created.error().code() == ErrorCode::kConflict) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "cannot enforce uniqueness of " + t.spec->name + "." + ix.columns +
                        ": stored records share a value; fix them before upgrading");
      }
      return created;
    }
  }
  return {};
}

}  // namespace

Result<void> MigrateSchema(Connection& db) {
  LINLI_ASSIGN_OR_RETURN(std::span<const RegistryTable> tables, RegistryTables());
  LINLI_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID"));
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(db));
  LINLI_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(db));
  const int latest = migrations::LatestSqliteSchemaVersion();
  if (version > latest) {
    return Fail(ErrorCode::kFailedPrecondition,
                "database schema version " + std::to_string(version) + " is newer than this build supports (" +
                    std::to_string(latest) + "); upgrade linlid");
  }
  for (const migrations::Migration& m : migrations::SqliteMigrations()) {
    if (m.version <= version) continue;
    auto applied = db.Exec(m.sql);
    if (!applied) {
      return Fail(ErrorCode::kFailedPrecondition, "schema migration " + std::to_string(m.version) + " (" +
                                                      m.description + ") failed: " + applied.error().message());
    }
    log::Info("store: applied schema migration",
              {{"version", std::to_string(m.version)}, {"description", m.description}});
  }
  for (const RegistryTable& t : tables) LINLI_RETURN_IF_ERROR(ReconcileTable(db, t));
  if (version != latest) LINLI_RETURN_IF_ERROR(WriteSchemaVersion(db, latest));
  return txn.Commit();
}

}  // namespace linli::store::sqlite
