// Small SQL-building helpers shared by the SqliteStore source files: bound values, WHERE
// clauses with numbered parameters, access-scope restrictions, prefix ranges and UTF-8-safe
// truncation. Internal to src/store/sqlite. Thread-safety: plain functions and values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/json.h"
#include "store/sqlite/sqlite_db.h"

namespace linli::store::sqlite {

using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

inline int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view s, size_t max);

// JSON array text of strings, for `IN (SELECT value FROM json_each(?))`.
std::string JsonArray(const std::vector<std::string>& values);

void BindValue(Stmt& s, int i, const SqlValue& v);

// "door.*" → ["door.", "door/"): the half-open byte range of strings with that prefix.
// Returns false for the upper bound when no finite bound exists (prefix of 0xff bytes).
bool PrefixUpperBound(std::string prefix, std::string* upper);

// Builds "WHERE ..." pieces with their parameters, copying parameters into the statement.
class Where {
 public:
  void Add(const std::string& condition) { sql_ += (sql_.empty() ? " WHERE " : " AND ") + condition; }
  // Adds a condition with one parameter written as `?` in `condition`.
  void Add(const std::string& condition, SqlValue param) {
    std::string c = condition;
    auto pos = c.find('?');
    c.replace(pos, 1, "?" + std::to_string(params_.size() + 1));
    params_.push_back(std::move(param));
    Add(c);
  }
  const std::string& sql() const { return sql_; }
  int next_param() const { return static_cast<int>(params_.size()) + 1; }
  void Bind(Stmt& s) const {
    for (size_t i = 0; i < params_.size(); ++i) {
      const SqlValue& v = params_[i];
      int idx = static_cast<int>(i) + 1;
      if (std::holds_alternative<std::string>(v)) {
        s.BindTextCopy(idx, std::get<std::string>(v));
      } else {
        BindValue(s, idx, v);
      }
    }
  }

 private:
  std::string sql_;
  std::vector<SqlValue> params_;
};

// Restricts `column` to the compounds of an access scope (non-empty). One compound, the common
// case, becomes an equality so that the planner can use (compound_id, ...) indexes directly.
void AddScope(Where& where, const std::string& column, const std::vector<std::string>& ids);

// Adds `column = value` for an exact type, or a prefix range for "prefix*".
void AddTypeFilter(Where& where, const std::string& column, const std::string& type);

// Parses JSON stored by the store itself; unreadable text (a corrupted row) becomes {} with a
// warning naming the table and row.
Json ParseStoredJson(std::string_view text, std::string_view table, int64_t id);

}  // namespace linli::store::sqlite
