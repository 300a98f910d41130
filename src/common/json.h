// JSON helpers on nlohmann::json. Parsing never throws out of these functions: malformed input
// comes back as an Error naming the field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace linli {

using Json = nlohmann::json;

// Parses UTF-8 JSON text; rejects invalid UTF-8, trailing garbage and nesting deeper than
// `max_depth`.
Result<Json> ParseJson(std::string_view text, int max_depth = 32);

// Serialises with invalid UTF-8 replaced rather than throwing.
std::string DumpJson(const Json& j);

// Field accessors for objects: an Error(kInvalidArgument, field) when the member is missing
// (required variants) or of the wrong type.
Result<std::string> RequireString(const Json& obj, const std::string& field);
Result<std::optional<std::string>> OptionalString(const Json& obj, const std::string& field);
Result<int64_t> RequireInt(const Json& obj, const std::string& field);

// Writes one JSON object as text without building a Json document first (hot paths: command
// records and payloads). The text is byte for byte what DumpJson gives for the same object when
// the members are written in ascending key order (nlohmann's objects are sorted maps): callers
// write keys in that order; the tests compare against DumpJson. Strings take the same escaping
// and invalid UTF-8 is replaced as DumpJson does. Not thread-safe; one object per writer.
class JsonObjectWriter {
 public:
  JsonObjectWriter() { out_.reserve(256); out_.push_back('{'); }
  JsonObjectWriter& Str(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  JsonObjectWriter& Value(std::string_view key, const Json& value);  // any Json (DumpJson)
  std::string Take() &&;

 private:
  void Key(std::string_view key);
  void Quoted(std::string_view s);
  std::string out_;
  bool first_ = true;
};

}  // namespace linli
