// Numbered schema migrations of the SQLite store.
//
// Migration N moves a database from schema version N-1 to N. They are applied in order, each
// in the same transaction as the version bump, when the store opens (see
// store/sqlite/schema.h). Rules: never edit a migration that has shipped; add a new one.
// Registry tables are not listed here: they are derived from model::Spec() and reconciled
// (created, columns added, indexes adjusted) on every open after these migrations ran.
// Thread-safety: immutable data.
#pragma once

#include <span>

namespace linli::store::migrations {

struct Migration {
  int version;              // 1, 2, 3, ...: the schema version after applying
  const char* description;
  const char* sql;          // one or more statements
};

std::span<const Migration> SqliteMigrations();
// The version of the last migration: what this build writes and the newest it can open.
int LatestSqliteSchemaVersion();

}  // namespace linli::store::migrations
