#include "store/sqlite/registry_tables.h"

#include <cstdlib>
#include <set>

#include "store/sqlite/sqlite_db.h"

namespace linli::store::sqlite {
namespace {

const char* SqlType(model::FieldType t) {
  switch (t) {
    case model::FieldType::kInt:
    case model::FieldType::kBool:
      return "INTEGER";
    case model::FieldType::kNumber:
      return "REAL";
    case model::FieldType::kString:
    case model::FieldType::kRef:
    case model::FieldType::kJson:
    case model::FieldType::kStringList:
      break;
  }
  return "TEXT";
}

struct Built {
  std::vector<RegistryTable> tables;
  std::string error;
};

Built Build() {
  Built b;
  static const std::set<std::string> kBase = {"id", "compound_id", "created_ms", "updated_ms", "rowid",
                                              "oid", "_rowid_"};
  for (model::Kind kind : model::AllKinds()) {
    const model::KindSpec& spec = model::Spec(kind);
    RegistryTable t;
    t.kind = kind;
    t.spec = &spec;
    t.table = spec.collection;
    std::set<std::string> names(kBase.begin(), kBase.end());
    for (const model::FieldSpec& f : spec.fields) {
      if (f.name == "compound_id") {
        if (f.type != model::FieldType::kRef || f.ref_kind != model::Kind::kCompound || f.pii) {
          b.error = spec.name + ".compound_id must be a reference to a compound";
          return b;
        }
        t.compound_field = &f;
        continue;
      }
      if (!names.insert(f.name).second) {
        b.error = spec.name + "." + f.name + " collides with a store column";
        return b;
      }
      RegistryColumn c;
      c.name = f.name;
      c.field = &f;
      c.sql_type = SqlType(f.type);
      if (f.type == model::FieldType::kRef) {
        if (!f.ref_kind) {
          b.error = spec.name + "." + f.name + " is a reference without a kind";
          return b;
        }
        c.references = model::Spec(*f.ref_kind).collection;
      }
      t.columns.push_back(c);
      if (f.pii) {
        RegistryColumn bidx;
        bidx.name = f.name + "_bidx";
        bidx.field = &f;
        bidx.blind_index = true;
        bidx.sql_type = "TEXT";
        if (!names.insert(bidx.name).second) {
          b.error = spec.name + "." + bidx.name + " collides with another column";
          return b;
        }
        t.columns.push_back(bidx);
      }
    }

    auto index = [&](const std::string& column, bool unique) {
      RegistryIndex ix;
      ix.name = (unique ? "ux_" : "ix_") + t.table + "__" + column;
      ix.columns = QuoteIdent(column);
      ix.unique = unique;
      t.indexes.push_back(ix);
    };
    // Scoped lists (one compound) come out of this index already in list order.
    RegistryIndex scoped;
    scoped.name = "ix_" + t.table + "__compound_created";
    scoped.columns = "compound_id, created_ms, id";
    t.indexes.push_back(scoped);
    RegistryIndex order;
    order.name = "ix_" + t.table + "__created_ms_id";
    order.columns = "created_ms, id";
    t.indexes.push_back(order);
    for (const RegistryColumn& c : t.columns) {
      const model::FieldSpec& f = *c.field;
      if (f.type == model::FieldType::kStringList) continue;  // list-contains cannot use an index
      if (f.pii) {
        if (c.blind_index) index(c.name, f.unique);
        continue;
      }
      // Reference columns are always indexed: ON DELETE RESTRICT looks children up by them.
      if (f.unique) {
        index(c.name, true);
      } else if (f.filterable || f.type == model::FieldType::kRef) {
        index(c.name, false);
      }
    }

    std::string cols = "id, compound_id, created_ms, updated_ms";
    std::string params = "?1, ?2, ?3, ?4";
    std::string sets = "compound_id = ?2, updated_ms = ?3";
    int n = 4;
    int u = 3;
    for (const RegistryColumn& c : t.columns) {
      cols += ", " + QuoteIdent(c.name);
      params += ", ?" + std::to_string(++n);
      sets += ", " + QuoteIdent(c.name) + " = ?" + std::to_string(++u);
    }
    std::string q = QuoteIdent(t.table);
    t.select_sql = "SELECT " + cols + " FROM " + q + " AS t";
    t.insert_sql = "INSERT INTO " + q + " (" + cols + ") VALUES (" + params + ")";
    t.update_sql = "UPDATE " + q + " SET " + sets + " WHERE id = ?1";
    b.tables.push_back(std::move(t));
  }
  return b;
}

const Built& BuiltTables() {
  static const Built* built = new Built(Build());
  return *built;
}

}  // namespace

const RegistryColumn* RegistryTable::Column(std::string_view name) const {
  for (const auto& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string RegistryTable::ColumnDefinition(const RegistryColumn& c) const {
  std::string def = QuoteIdent(c.name) + " " + c.sql_type;
  if (!c.references.empty()) {
    def += " REFERENCES " + QuoteIdent(c.references) + "(id) ON DELETE RESTRICT";
  }
  return def;
}

std::string RegistryTable::CreateTableSql() const {
  std::string sql = "CREATE TABLE " + QuoteIdent(table) + " (\n  id TEXT PRIMARY KEY NOT NULL,\n  compound_id TEXT";
  if (compound_field != nullptr) {
    sql += " REFERENCES " + QuoteIdent(model::Spec(model::Kind::kCompound).collection) +
           "(id) ON DELETE RESTRICT";
  }
  sql += ",\n  created_ms INTEGER NOT NULL,\n  updated_ms INTEGER NOT NULL";
  for (const RegistryColumn& c : columns) sql += ",\n  " + ColumnDefinition(c);
  sql += "\n)";
  return sql;
}

Result<std::span<const RegistryTable>> RegistryTables() {
  const Built& b = BuiltTables();
  if (!b.error.empty()) return Fail(ErrorCode::kInternal, "registry spec cannot be stored: " + b.error);
  return std::span<const RegistryTable>(b.tables);
}

const RegistryTable& TableOf(model::Kind kind) {
  for (const RegistryTable& t : BuiltTables().tables) {
    if (t.kind == kind) return t;
  }
  std::abort();  // RegistryTables() succeeded at open, so every kind has a table
}

Result<const RegistryTable*> FindTable(model::Kind kind) {
  for (const RegistryTable& t : BuiltTables().tables) {
    if (t.kind == kind) return &t;
  }
  return InvalidArgument("kind", "unknown record kind " + std::to_string(static_cast<int>(kind)));
}

}  // namespace linli::store::sqlite
