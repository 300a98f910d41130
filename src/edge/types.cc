#include "edge/types.h"

namespace linli::edge {

std::string_view EventPhaseName(EventPhase p) {
  switch (p) {
    case EventPhase::kBegin:
      return "begin";
    case EventPhase::kUpdate:
      return "update";
    case EventPhase::kEnd:
      return "end";
  }
  return "unknown";
}

namespace {
bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
}  // namespace

bool IsPlatformId(std::string_view id, size_t max_length) {
  if (id.empty() || id.size() > max_length || !IsAsciiAlnum(id[0])) return false;
  for (char c : id) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

Result<void> CheckPlatformId(std::string_view id, const std::string& key, size_t max_length) {
  if (IsPlatformId(id, max_length)) return {};
  return InvalidArgument(key, "must be 1-" + std::to_string(max_length) +
                                  " characters of [A-Za-z0-9_-], starting with a letter or "
                                  "digit (got \"" + std::string(id) + "\")");
}

Result<void> CheckEventType(std::string_view type, const std::string& key) {
  if (IsValidEventType(type)) return {};
  return InvalidArgument(key, "must be a dotted lower-case name like vision.intrusion ([a-z0-9_] "
                              "segments, at least one dot, starting with a letter, 3-64 "
                              "characters; got \"" + std::string(type) + "\")");
}

}  // namespace linli::edge
