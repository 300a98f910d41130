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

}  // namespace linli
