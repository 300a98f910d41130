// The relational shape of the registry, derived from model::Spec(kind) for every kind.
//
// Each kind gets one table named after its collection:
//   id TEXT PRIMARY KEY, compound_id TEXT, created_ms INTEGER, updated_ms INTEGER,
//   then one column per spec field in spec order (TEXT / INTEGER / REAL; kJson and
//   kStringList as JSON text; kBool as 0/1), and for every pii field an extra
//   "<name>_bidx" column right after it.
// A spec field named "compound_id" (buildings, persons, devices, ...) is stored in the base
// compound_id column rather than twice. kRef columns carry FOREIGN KEY ... ON DELETE RESTRICT.
// Indexes: (compound_id, created_ms, id) for scoped lists, (created_ms, id) for list order,
// every filterable column, every
// blind index; UNIQUE indexes for unique fields (on the blind index for pii fields).
// Field columns are nullable on purpose: required-ness is checked by the API, and a field
// added to a spec later becomes an ALTER TABLE ADD COLUMN (see schema.h).
// Thread-safety: the table descriptions are immutable after first use.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "model/registry.h"

namespace linli::store::sqlite {

struct RegistryColumn {
  std::string name;                      // column name ("phone", "phone_bidx")
  const model::FieldSpec* field = nullptr;  // the spec field; for a blind index, its pii field
  bool blind_index = false;
  std::string sql_type;                  // TEXT, INTEGER or REAL
  std::string references;                // referenced table for kRef columns, else ""
};

struct RegistryIndex {
  std::string name;    // ix_<table>__<column> or ux_<table>__<column>
  std::string columns; // column list, already quoted
  bool unique = false;
};

struct RegistryTable {
  model::Kind kind = model::Kind::kCompound;
  const model::KindSpec* spec = nullptr;
  std::string table;
  // The spec's "compound_id" field if it has one (stored in the base compound_id column).
  const model::FieldSpec* compound_field = nullptr;
  // Columns after the four base columns (id, compound_id, created_ms, updated_ms).
  std::vector<RegistryColumn> columns;
  std::vector<RegistryIndex> indexes;

  // Prepared SQL: "SELECT <all columns> FROM t" (append WHERE/ORDER), INSERT and UPDATE with
  // one parameter per base and spec column in `columns` order.
  std::string select_sql;
  std::string insert_sql;  // ?1 id, ?2 compound_id, ?3 created_ms, ?4 updated_ms, ?5.. columns
  std::string update_sql;  // ?1 id, ?2 compound_id, ?3 updated_ms, ?4.. columns

  const RegistryColumn* Column(std::string_view name) const;
  // Full column definition for CREATE TABLE / ALTER TABLE ADD COLUMN.
  std::string ColumnDefinition(const RegistryColumn& c) const;
  std::string CreateTableSql() const;
};

// Descriptions of all registry tables, in model::AllKinds() order, or kInternal if a spec
// cannot be mapped (a field whose name collides with a base column or a blind index).
Result<std::span<const RegistryTable>> RegistryTables();
// The table of `kind`. Only valid after RegistryTables() succeeded.
const RegistryTable& TableOf(model::Kind kind);
// The same, or kInvalidArgument for a value outside model::Kind (e.g. a bad cast).
Result<const RegistryTable*> FindTable(model::Kind kind);

}  // namespace linli::store::sqlite
