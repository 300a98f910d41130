// RuleLibrary: the hosting centre's rule files (DATA_DIR/rules/*.yaml). Loads and validates
// them (a bad rule is refused with file, line and field; the others load), writes rules that
// arrive over the API as one file per rule (<id>.yaml, written atomically), and installs the
// built-in rule pack into a new data directory.
//
// Ownership: owns the parsed rules. Thread-safety: not thread-safe; the LinkageService
// serialises calls.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "rules/parse.h"
#include "rules/rule.h"

namespace linli::incidents {

// The built-in pack (src/rules/builtin/*.yaml, compiled in): file name → YAML text.
const std::vector<std::pair<std::string, std::string>>& BuiltinRulePack();

struct RuleEntry {
  rules::RulePtr rule;
  std::string file;       // file name inside the rules directory
  bool own_file = false;  // the file holds only this rule (the API may rewrite or delete it)
  bool builtin = false;   // installed from the built-in pack
};

class RuleLibrary {
 public:
  explicit RuleLibrary(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory with the built-in pack when it does not exist yet. Returns whether
  // it installed the pack.
  Result<bool> InstallBuiltinIfNew();
  // (Re)reads every *.yaml / *.yml file in name order. Duplicate ids across files: the first
  // file wins, the later is an error. Never fails for bad rules (see errors()); fails only
  // when the directory cannot be read.
  Result<void> Load();

  const std::map<std::string, RuleEntry>& rules() const { return rules_; }
  const std::vector<rules::RuleError>& errors() const { return errors_; }
  std::vector<rules::RulePtr> Enabled() const;

  // Validates a rule given as YAML text or as JSON (the same language); returns the parsed
  // rule or the errors.
  static Result<rules::Rule> Validate(const std::string& text_or_empty, const Json& json, const std::string& label,
                                      std::vector<rules::RuleError>* errors);
  // Writes `source` (validated) as <id>.yaml and reloads. Conflict if the id is defined in a
  // shared file, or (when `must_be_new`) already exists.
  Result<RuleEntry> Put(const Json& source, bool must_be_new);
  Result<RuleEntry> SetEnabled(const std::string& id, bool enabled);
  Result<void> Remove(const std::string& id);
  const std::string& dir() const { return dir_; }

 private:
  Result<RuleEntry> Find(const std::string& id) const;
  Result<void> WriteFile(const std::string& name, const std::string& text);

  std::string dir_;
  std::map<std::string, RuleEntry> rules_;
  std::vector<rules::RuleError> errors_;
};

}  // namespace linli::incidents
