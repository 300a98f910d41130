#include "incidents/rule_library.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/ids.h"
#include "common/log.h"

namespace linli::incidents {
namespace {

namespace fs = std::filesystem;

bool IsRuleFile(const fs::path& p) {
  const std::string ext = p.extension().string();
  return (ext == ".yaml" || ext == ".yml") && p.filename().string().front() != '.';
}

}  // namespace

Result<bool> RuleLibrary::InstallBuiltinIfNew() {
  std::error_code ec;
  if (fs::exists(dir_, ec)) return false;
  fs::create_directories(dir_, ec);
  if (ec) return Fail(ErrorCode::kFailedPrecondition, "cannot create " + dir_ + ": " + ec.message());
  for (const auto& [name, text] : BuiltinRulePack()) LINLI_RETURN_IF_ERROR(WriteFile(name, text));
  log::Info("installed the built-in rule pack", {{"dir", dir_}, {"files", std::to_string(BuiltinRulePack().size())}});
  return true;
}

Result<void> RuleLibrary::Load() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && IsRuleFile(it->path())) files.push_back(it->path());
  }
  if (ec) return Fail(ErrorCode::kFailedPrecondition, "cannot read " + dir_ + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::set<std::string> builtin_names;
  for (const auto& [name, text] : BuiltinRulePack()) builtin_names.insert(name);
  std::map<std::string, RuleEntry> next;
  std::vector<rules::RuleError> errors;
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in.good() && !in.eof()) {
      errors.push_back({name, 0, "", "", "cannot read the file"});
      continue;
    }
    rules::ParsedFile parsed = rules::ParseRuleText(ss.str(), name);
    for (auto& e : parsed.errors) errors.push_back(std::move(e));
    const bool own = parsed.rules.size() == 1 && parsed.errors.empty();
    for (auto& r : parsed.rules) {
      if (next.count(r.id)) {
        errors.push_back({name, r.line, r.id, "id", "rule id '" + r.id + "' is already defined in " + next[r.id].file});
        continue;
      }
      RuleEntry e;
      e.file = name;
      e.own_file = own && name == r.id + ".yaml";
      e.builtin = builtin_names.count(name) > 0;
      e.rule = std::make_shared<const rules::Rule>(std::move(r));
      next.emplace(e.rule->id, std::move(e));
    }
  }
  for (const auto& e : errors) log::Warn("rule refused", {{"error", e.ToString()}});
  rules_ = std::move(next);
  errors_ = std::move(errors);
  return {};
}

std::vector<rules::RulePtr> RuleLibrary::Enabled() const {
  std::vector<rules::RulePtr> out;
  for (const auto& [id, e] : rules_) out.push_back(e.rule);  // the engine skips disabled ones
  return out;
}

Result<rules::Rule> RuleLibrary::Validate(const std::string& text, const Json& json, const std::string& label,
                                          std::vector<rules::RuleError>* errors) {
  rules::ParsedFile parsed = text.empty() ? rules::ParseRuleJson(json, label) : rules::ParseRuleText(text, label);
  if (!parsed.errors.empty()) {
    if (errors != nullptr) *errors = parsed.errors;
    return InvalidArgument(parsed.errors.front().field.empty() ? "rule" : parsed.errors.front().field,
                           parsed.errors.front().ToString());
  }
  if (parsed.rules.size() != 1) return InvalidArgument("rule", "give exactly one rule");
  return std::move(parsed.rules.front());
}

Result<RuleEntry> RuleLibrary::Find(const std::string& id) const {
  auto it = rules_.find(id);
  if (it == rules_.end()) return Fail(ErrorCode::kNotFound, "no such rule '" + id + "'");
  return it->second;
}

Result<void> RuleLibrary::WriteFile(const std::string& name, const std::string& text) {
  const fs::path path = fs::path(dir_) / name;
  const fs::path tmp = path.string() + ".tmp-" + RandomHex(4);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Fail(ErrorCode::kUnavailable, "cannot write " + tmp.string());
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot write " + path.string() + ": " + ec.message());
  return {};
}

Result<RuleEntry> RuleLibrary::Put(const Json& source, bool must_be_new) {
  LINLI_ASSIGN_OR_RETURN(rules::Rule r, Validate("", source, "api", nullptr));
  auto existing = rules_.find(r.id);
  if (existing != rules_.end()) {
    if (must_be_new) return Fail(ErrorCode::kConflict, "rule '" + r.id + "' exists", "id");
    if (!existing->second.own_file) {
      return Fail(ErrorCode::kConflict, "rule '" + r.id + "' is defined in " + existing->second.file +
                                            " together with other rules; edit that file", "id");
    }
  }
  // A file of that name may hold other rules (or be unreadable): never overwrite it blindly.
  std::error_code ec;
  if (existing == rules_.end() && fs::exists(fs::path(dir_) / (r.id + ".yaml"), ec))
    return Fail(ErrorCode::kConflict, "a file " + r.id + ".yaml exists; edit it on disk", "id");
  LINLI_RETURN_IF_ERROR(WriteFile(r.id + ".yaml", rules::RuleSourceToYaml(source)));
  LINLI_RETURN_IF_ERROR(Load());
  return Find(r.id);
}

Result<RuleEntry> RuleLibrary::SetEnabled(const std::string& id, bool enabled) {
  LINLI_ASSIGN_OR_RETURN(RuleEntry e, Find(id));
  if (!e.own_file)
    return Fail(ErrorCode::kConflict, "rule '" + id + "' is defined in " + e.file + " with other rules; edit that file");
  Json source = e.rule->source;
  source["enabled"] = enabled;
  LINLI_RETURN_IF_ERROR(WriteFile(e.file, rules::RuleSourceToYaml(source)));
  LINLI_RETURN_IF_ERROR(Load());
  return Find(id);
}

Result<void> RuleLibrary::Remove(const std::string& id) {
  LINLI_ASSIGN_OR_RETURN(RuleEntry e, Find(id));
  if (!e.own_file)
    return Fail(ErrorCode::kConflict, "rule '" + id + "' is defined in " + e.file + " with other rules; edit that file");
  std::error_code ec;
  fs::remove(fs::path(dir_) / e.file, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot delete " + e.file + ": " + ec.message());
  return Load();
}

}  // namespace linli::incidents
