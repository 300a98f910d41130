#include "store/sqlite/sql_util.h"

#include "common/log.h"

namespace linli::store::sqlite {

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

// JSON array text of strings, for `IN (SELECT value FROM json_each(?))`.
std::string JsonArray(const std::vector<std::string>& values) {
  Json arr = Json::array();
  for (const auto& v : values) arr.push_back(v);
  return DumpJson(arr);
}

void BindValue(Stmt& s, int i, const SqlValue& v) {
  if (std::holds_alternative<int64_t>(v)) {
    s.BindInt(i, std::get<int64_t>(v));
  } else if (std::holds_alternative<double>(v)) {
    s.BindDouble(i, std::get<double>(v));
  } else if (std::holds_alternative<std::string>(v)) {
    s.BindText(i, std::get<std::string>(v));
  } else {
    s.BindNull(i);
  }
}

// "door.*" → ["door.", "door/"): the half-open byte range of strings with that prefix.
// Returns false for the upper bound when no finite bound exists (prefix of 0xff bytes).
bool PrefixUpperBound(std::string prefix, std::string* upper) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return false;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  *upper = std::move(prefix);
  return true;
}

// Restricts `column` to the compounds of an access scope (non-empty). One compound, the common
// case, becomes an equality so that the planner can use (compound_id, ...) indexes directly.
void AddScope(Where& where, const std::string& column, const std::vector<std::string>& ids) {
  if (ids.size() == 1) {
    where.Add(column + " = ?", ids.front());
  } else {
    where.Add(column + " IN (SELECT value FROM json_each(?))", JsonArray(ids));
  }
}

void AddTypeFilter(Where& where, const std::string& column, const std::string& type) {
  if (type.empty()) return;
  if (type.back() == '*') {
    std::string prefix = type.substr(0, type.size() - 1);
    std::string upper;
    if (!prefix.empty()) {
      where.Add(column + " >= ?", prefix);
      if (PrefixUpperBound(prefix, &upper)) where.Add(column + " < ?", std::move(upper));
    }
  } else {
    where.Add(column + " = ?", type);
  }
}

Json ParseStoredJson(std::string_view text, std::string_view table, int64_t id) {
  auto parsed = ParseJson(text, 64);
  if (parsed) return std::move(*parsed);
  log::Warn("store: unreadable JSON replaced by {}", {{"table", std::string(table)}, {"row", std::to_string(id)}});
  return Json::object();
}

}  // namespace linli::store::sqlite
