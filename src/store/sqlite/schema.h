// Schema management of the SQLite store, run once when the store opens.
//
// MigrateSchema(), in one write transaction:
//  1. reads meta.schema_version (0 for a new file); a version newer than this build knows is
//     refused with kFailedPrecondition (an old linlid must not write a newer database);
//  2. applies the numbered migrations above that version (store/migrations/);
//  3. reconciles every registry table with model::Spec(): creates missing tables, adds
//     columns for fields the spec gained (ALTER TABLE ADD COLUMN, nullable), creates missing
//     indexes and drops store-owned indexes (ix_/ux_<table>__*) the spec no longer asks for,
//     e.g. when a field stops being unique. Columns of fields removed from a spec are left in
//     place and ignored. Making an existing field unique fails with kFailedPrecondition if
//     stored records already share a value;
//  4. writes the new schema_version.
// Any failure rolls everything back, leaving the file as it was.
// Thread-safety: call with exclusive use of `db` (the store's writer, before readers open).
#pragma once

#include "common/result.h"
#include "store/sqlite/sqlite_db.h"

namespace linli::store::sqlite {

inline constexpr const char* kSchemaVersionKey = "schema_version";

Result<void> MigrateSchema(Connection& db);

}  // namespace linli::store::sqlite
