#include "api/scope.h"

#include <deque>

namespace linli::api {
namespace {

std::string StringField(const Json& fields, const char* name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

ScopeResolver::ScopeResolver(store::Store* store, const Clock& clock, int64_t max_age_ms)
    : store_(store), clock_(clock), max_age_ms_(max_age_ms) {}

void ScopeResolver::Invalidate() {
  std::lock_guard lock(mu_);
  stale_ = true;
}

Result<std::shared_ptr<const ScopeResolver::Topology>> ScopeResolver::Current() {
  {
    std::lock_guard lock(mu_);
    auto age = clock_.Monotonic() - loaded_at_;
    if (!stale_ && topology_ && age < std::chrono::milliseconds(max_age_ms_)) return topology_;
    // Mark fresh before loading so that an Invalidate() racing with the load forces another.
    stale_ = false;
  }
  auto t = std::make_shared<Topology>();
  LINLI_ASSIGN_OR_RETURN(auto regions, store_->LoadAll(model::Kind::kRegion));
  for (const auto& r : regions) {
    t->regions.insert(r.id);
    std::string parent = StringField(r.fields, "parent_id");
    if (!parent.empty()) t->region_children[parent].push_back(r.id);
  }
  LINLI_ASSIGN_OR_RETURN(auto compounds, store_->LoadAll(model::Kind::kCompound));
  for (const auto& c : compounds) {
    t->compounds.insert(c.id);
    std::string community = StringField(c.fields, "community_id");
    if (!community.empty()) t->compounds_by_community[community].push_back(c.id);
  }
  std::lock_guard lock(mu_);
  topology_ = t;
  loaded_at_ = clock_.Monotonic();
  return topology_;
}

std::set<std::string> ScopeResolver::Subtree(const Topology& t,
                                             const std::set<std::string>& roots) {
  std::set<std::string> seen;
  std::deque<std::string> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    std::string r = std::move(todo.front());
    todo.pop_front();
    if (!t.regions.count(r) || !seen.insert(r).second) continue;  // unknown or cycle
    auto it = t.region_children.find(r);
    if (it == t.region_children.end()) continue;
    for (const auto& c : it->second) todo.push_back(c);
  }
  return seen;
}

Result<std::set<std::string>> ScopeResolver::CompoundsUnderRegions(
    const std::set<std::string>& region_ids) {
  LINLI_ASSIGN_OR_RETURN(auto t, Current());
  std::set<std::string> out;
  for (const auto& r : Subtree(*t, region_ids)) {
    auto it = t->compounds_by_community.find(r);
    if (it == t->compounds_by_community.end()) continue;
    out.insert(it->second.begin(), it->second.end());
  }
  return out;
}

Result<void> ScopeResolver::Resolve(const model::Record& user, Principal* p) {
  p->user_id = user.id;
  p->username = StringField(user.fields, "username");
  auto role = ParseRole(StringField(user.fields, "role"));
  // An unknown role (hand-edited database) gets the most restricted treatment.
  p->role = role.value_or(Role::kResident);
  p->all_compounds = false;
  p->compounds.clear();
  p->regions.clear();
  p->person_id.clear();
  p->household_room_id.clear();

  if (p->role == Role::kResident || !role) {
    std::string person_id = StringField(user.fields, "person_id");
    if (person_id.empty() || !role) return {};
    auto person = store_->GetRecord(model::Kind::kPerson, person_id);
    if (!person) {
      if (person.error().code() == ErrorCode::kNotFound) return {};
      return std::unexpected(person.error());
    }
    p->person_id = person_id;
    p->household_room_id = StringField(person->fields, "room_id");
    if (!person->compound_id.empty()) p->compounds.insert(person->compound_id);
    return {};
  }

  std::vector<std::string> scopes;
  auto it = user.fields.find("scopes");
  if (it != user.fields.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (s.is_string()) scopes.push_back(s.get<std::string>());
    }
  }
  if (scopes.empty()) {
    p->all_compounds = p->role == Role::kAdmin;
    return {};
  }
  LINLI_ASSIGN_OR_RETURN(auto t, Current());
  std::set<std::string> roots;
  for (const auto& s : scopes) {
    if (t->compounds.count(s)) p->compounds.insert(s);
    if (t->regions.count(s)) roots.insert(s);
  }
  p->regions = Subtree(*t, roots);
  for (const auto& r : p->regions) {
    auto c = t->compounds_by_community.find(r);
    if (c != t->compounds_by_community.end())
      p->compounds.insert(c->second.begin(), c->second.end());
  }
  return {};
}

}  // namespace linli::api
