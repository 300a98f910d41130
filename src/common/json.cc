#include "common/json.h"

#include <charconv>

namespace linli {

Result<Json> ParseJson(std::string_view text, int max_depth) {
  // Depth is checked during parsing through the callback so a hostile deeply nested document
  // cannot exhaust the stack.
  bool too_deep = false;
  auto cb = [&](int d, Json::parse_event_t ev, Json&) {
    if (ev == Json::parse_event_t::object_start || ev == Json::parse_event_t::array_start) {
      if (d >= max_depth) too_deep = true;
    }
    return !too_deep;
  };
  try {
    Json j = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true);
    if (too_deep) return InvalidArgument("", "JSON nested deeper than " + std::to_string(max_depth));
    return j;
  } catch (const Json::exception& e) {
    if (too_deep) return InvalidArgument("", "JSON nested deeper than " + std::to_string(max_depth));
    return InvalidArgument("", std::string("malformed JSON: ") + e.what());
  }
}

std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void JsonObjectWriter::Quoted(std::string_view s) {
  // Printable ASCII without quote or backslash is written as it is (what nlohmann does); any
  // other byte sends the whole string through nlohmann's serializer, which escapes control
  // characters and replaces invalid UTF-8 exactly as DumpJson does.
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out_ += DumpJson(Json(std::string(s)));
      return;
    }
  }
  out_.push_back('"');
  out_.append(s);
  out_.push_back('"');
}

void JsonObjectWriter::Key(std::string_view key) {
  if (!first_) out_.push_back(',');
  first_ = false;
  Quoted(key);
  out_.push_back(':');
}

JsonObjectWriter& JsonObjectWriter::Str(std::string_view key, std::string_view value) {
  Key(key);
  Quoted(value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  out_.append(buf, end);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Value(std::string_view key, const Json& value) {
  Key(key);
  out_ += DumpJson(value);
  return *this;
}

std::string JsonObjectWriter::Take() && {
  out_.push_back('}');
  return std::move(out_);
}

Result<std::string> RequireString(const Json& obj, const std::string& field) {
  if (!obj.is_object()) return InvalidArgument(field, "expected an object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return InvalidArgument(field, "is required");
  if (!it->is_string()) return InvalidArgument(field, "must be a string");
  return it->get<std::string>();
}

Result<std::optional<std::string>> OptionalString(const Json& obj, const std::string& field) {
  if (!obj.is_object()) return InvalidArgument(field, "expected an object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return InvalidArgument(field, "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<int64_t> RequireInt(const Json& obj, const std::string& field) {
  if (!obj.is_object()) return InvalidArgument(field, "expected an object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return InvalidArgument(field, "is required");
  if (!it->is_number_integer()) return InvalidArgument(field, "must be an integer");
  return it->get<int64_t>();
}

}  // namespace linli
