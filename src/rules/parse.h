// Parsing and validation of rule files (YAML). A file holds one rule (a mapping with `id`), a
// list of rules, or a mapping with `rules:`. Every problem is reported with the file, the line
// and the field ("rules/gas.yaml:12: actions[1].command.name: unknown command 'open'"); a bad
// rule is refused while the good rules of the same file are kept.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rules/rule.h"

namespace linli::rules {

struct RuleError {
  std::string file;
  int line = 0;  // 1-based; 0 if unknown
  std::string rule_id;
  std::string field;
  std::string message;
  std::string ToString() const;  // "file:line: field: message"
};

struct ParsedFile {
  std::vector<Rule> rules;
  std::vector<RuleError> errors;
};

// Knows which commands each device kind accepts (docs/protocol.md); used to validate command
// actions. Unknown kinds accept nothing.
bool KnownCommand(std::string_view device_kind, std::string_view command);

// Parses `text` (the contents of `file`). Never fails as a whole: errors are in the result.
ParsedFile ParseRuleText(std::string_view text, const std::string& file);

// Parses a single rule given as JSON (the API's JSON form mirrors the YAML one).
ParsedFile ParseRuleJson(const Json& rule, const std::string& file);

// The YAML text of a rule's source (for writing API-managed rules to files).
std::string RuleSourceToYaml(const Json& source);

}  // namespace linli::rules
