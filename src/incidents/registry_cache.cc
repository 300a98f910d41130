#include "incidents/registry_cache.h"

#include <algorithm>
#include <mutex>

namespace linli::incidents {
namespace {

std::string Str(const Json& f, const char* k) {
  auto it = f.find(k);
  return it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> List(const Json& f, const char* k) {
  std::vector<std::string> out;
  auto it = f.find(k);
  if (it == f.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool TopicMatches(const std::string& pattern, const std::string& topic) {
  if (pattern == "*" || pattern == topic) return true;
  if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, ".*") == 0)
    return topic.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return false;
}

constexpr model::Kind kCachedKinds[] = {model::Kind::kCompound, model::Kind::kBuilding, model::Kind::kUnit,
                                        model::Kind::kRoom,     model::Kind::kPerson,   model::Kind::kDevice,
                                        model::Kind::kContact,  model::Kind::kWebhook};

}  // namespace

Result<void> RegistryCache::Load(store::Store* store) {
  std::unique_lock lock(mu_);
  for (model::Kind kind : kCachedKinds) {
    LINLI_ASSIGN_OR_RETURN(auto recs, store->LoadAll(kind));
    for (const auto& r : recs) UpsertLocked(r);
  }
  return {};
}

void RegistryCache::Upsert(const model::Record& rec) {
  std::unique_lock lock(mu_);
  UpsertLocked(rec);
}

void RegistryCache::Remove(model::Kind kind, const std::string& id) {
  std::unique_lock lock(mu_);
  RemoveLocked(kind, id);
}

void RegistryCache::UpsertLocked(const model::Record& rec) {
  const Json& f = rec.fields;
  switch (rec.kind) {
    case model::Kind::kCompound:
      compounds_[rec.id] = Str(f, "name");
      break;
    case model::Kind::kBuilding:
      buildings_[rec.id] = Place{rec.compound_id, "", Str(f, "name"), 0};
      break;
    case model::Kind::kUnit:
      units_[rec.id] = Place{rec.compound_id, Str(f, "building_id"), Str(f, "name"), 0};
      break;
    case model::Kind::kRoom: {
      Place p{rec.compound_id, Str(f, "unit_id"), Str(f, "number"), 0};
      if (auto it = f.find("floor"); it != f.end() && it->is_number_integer()) p.floor = it->get<int>();
      rooms_[rec.id] = std::move(p);
      break;
    }
    case model::Kind::kPerson: {
      RemoveLocked(model::Kind::kPerson, rec.id);
      Person p{rec.compound_id, Str(f, "name"), Str(f, "room_id"), List(f, "tags")};
      if (!p.room_id.empty()) room_persons_[p.room_id].insert(rec.id);
      persons_[rec.id] = std::move(p);
      break;
    }
    case model::Kind::kDevice: {
      RemoveLocked(model::Kind::kDevice, rec.id);
      rules::DeviceView d;
      d.id = rec.id;
      d.compound_id = rec.compound_id;
      d.kind = Str(f, "kind");
      d.name = Str(f, "name");
      d.building_id = Str(f, "building_id");
      d.unit_id = Str(f, "unit_id");
      d.room_id = Str(f, "room_id");
      d.area = Str(f, "area");
      // Derive the building from the unit or room when only those are given.
      if (d.unit_id.empty() && !d.room_id.empty()) {
        if (auto r = rooms_.find(d.room_id); r != rooms_.end()) d.unit_id = r->second.parent_id;
      }
      if (d.building_id.empty() && !d.unit_id.empty()) {
        if (auto u = units_.find(d.unit_id); u != units_.end()) d.building_id = u->second.parent_id;
      }
      by_kind_[d.compound_id][d.kind].insert(d.id);
      devices_[d.id] = std::move(d);
      break;
    }
    case model::Kind::kContact: {
      ContactView c;
      c.id = rec.id;
      c.compound_id = rec.compound_id;
      c.role = Str(f, "role");
      c.name = Str(f, "name");
      c.webhook_url = Str(f, "webhook_url");
      if (auto it = f.find("priority"); it != f.end() && it->is_number_integer()) c.priority = it->get<int>();
      contacts_[rec.id] = std::move(c);
      break;
    }
    case model::Kind::kWebhook: {
      WebhookView w;
      w.id = rec.id;
      w.name = Str(f, "name");
      w.url = Str(f, "url");
      w.secret = Str(f, "secret");
      w.topics = List(f, "topics");
      w.compounds = List(f, "compounds");
      if (auto it = f.find("enabled"); it != f.end() && it->is_boolean()) w.enabled = it->get<bool>();
      webhooks_[rec.id] = std::move(w);
      break;
    }
    default:
      break;
  }
}

void RegistryCache::RemoveLocked(model::Kind kind, const std::string& id) {
  switch (kind) {
    case model::Kind::kCompound: compounds_.erase(id); break;
    case model::Kind::kBuilding: buildings_.erase(id); break;
    case model::Kind::kUnit: units_.erase(id); break;
    case model::Kind::kRoom: rooms_.erase(id); break;
    case model::Kind::kPerson: {
      auto it = persons_.find(id);
      if (it == persons_.end()) return;
      if (auto r = room_persons_.find(it->second.room_id); r != room_persons_.end()) {
        r->second.erase(id);
        if (r->second.empty()) room_persons_.erase(r);
      }
      persons_.erase(it);
      break;
    }
    case model::Kind::kContact: contacts_.erase(id); break;
    case model::Kind::kWebhook: webhooks_.erase(id); break;
    case model::Kind::kDevice: {
      auto it = devices_.find(id);
      if (it == devices_.end()) return;
      auto c = by_kind_.find(it->second.compound_id);
      if (c != by_kind_.end()) {
        auto k = c->second.find(it->second.kind);
        if (k != c->second.end()) k->second.erase(id);
      }
      devices_.erase(it);
      break;
    }
    default:
      break;
  }
}

std::optional<rules::DeviceView> RegistryCache::Device(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> RegistryCache::FindDevices(const std::string& compound_id,
                                                    const std::vector<std::string>& kinds,
                                                    const std::string& building_id, const std::string& unit_id,
                                                    const std::string& room_id, const std::string& area) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  auto c = by_kind_.find(compound_id);
  if (c == by_kind_.end()) return out;
  auto consider = [&](const std::set<std::string>& ids) {
    for (const auto& id : ids) {
      const auto& d = devices_.at(id);
      if (!building_id.empty() && d.building_id != building_id) continue;
      if (!unit_id.empty() && d.unit_id != unit_id) continue;
      if (!room_id.empty() && d.room_id != room_id) continue;
      if (!area.empty() && d.area != area) continue;
      out.push_back(id);
    }
  };
  if (kinds.empty()) {
    for (const auto& [kind, ids] : c->second) consider(ids);
  } else {
    for (const auto& k : kinds) {
      auto it = c->second.find(k);
      if (it != c->second.end()) consider(it->second);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Json RegistryCache::Describe(const std::string& collection, const std::string& id) const {
  std::shared_lock lock(mu_);
  if (collection == "compounds") {
    auto it = compounds_.find(id);
    return it == compounds_.end() ? Json::object() : Json{{"id", id}, {"name", it->second}};
  }
  const std::unordered_map<std::string, Place>* places = nullptr;
  if (collection == "buildings") places = &buildings_;
  if (collection == "units") places = &units_;
  if (collection == "rooms") places = &rooms_;
  if (places != nullptr) {
    auto it = places->find(id);
    if (it == places->end()) return Json::object();
    if (collection == "rooms") return Json{{"id", id}, {"number", it->second.label}, {"floor", it->second.floor}, {"unit_id", it->second.parent_id}};
    Json j{{"id", id}, {"name", it->second.label}};
    if (collection == "units") j["building_id"] = it->second.parent_id;
    return j;
  }
  if (collection == "persons") {
    auto it = persons_.find(id);
    return it == persons_.end() ? Json::object() : Json{{"id", id}, {"name", it->second.name}, {"room_id", it->second.room_id}};
  }
  return Json::object();
}

std::vector<rules::PersonView> RegistryCache::PersonsWithTags(const std::string& compound_id,
                                                              const std::vector<std::string>& tags) const {
  std::shared_lock lock(mu_);
  std::vector<rules::PersonView> out;
  for (const auto& [id, p] : persons_) {
    if (p.compound_id != compound_id) continue;
    bool match = std::any_of(tags.begin(), tags.end(), [&](const std::string& t) {
      return std::find(p.tags.begin(), p.tags.end(), t) != p.tags.end();
    });
    if (match) out.push_back({id, p.compound_id, p.name, p.room_id});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<std::string> RegistryCache::PersonsInRoom(const std::string& room_id) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  auto it = room_persons_.find(room_id);
  if (it != room_persons_.end()) out.assign(it->second.begin(), it->second.end());
  return out;
}

std::vector<std::string> RegistryCache::CompoundIds() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, name] : compounds_) out.push_back(id);
  return out;
}

std::vector<ContactView> RegistryCache::Contacts(const std::string& compound_id,
                                                 const std::vector<std::string>& roles) const {
  std::shared_lock lock(mu_);
  std::vector<ContactView> out;
  for (const auto& [id, c] : contacts_) {
    if (c.compound_id != compound_id) continue;
    if (!roles.empty() && std::find(roles.begin(), roles.end(), c.role) == roles.end()) continue;
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;
  });
  return out;
}

std::vector<WebhookView> RegistryCache::Webhooks(const std::string& topic, const std::string& compound_id) const {
  std::shared_lock lock(mu_);
  std::vector<WebhookView> out;
  for (const auto& [id, w] : webhooks_) {
    if (!w.enabled) continue;
    if (!w.compounds.empty() && std::find(w.compounds.begin(), w.compounds.end(), compound_id) == w.compounds.end())
      continue;
    bool subscribed = w.topics.empty() || std::any_of(w.topics.begin(), w.topics.end(),
                                                      [&](const std::string& p) { return TopicMatches(p, topic); });
    if (subscribed) out.push_back(w);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::string RegistryCache::Address(const rules::DeviceView& d) const {
  std::shared_lock lock(mu_);
  std::string out;
  auto add = [&](const std::unordered_map<std::string, Place>& m, const std::string& id) {
    auto it = m.find(id);
    if (it == m.end() || it->second.label.empty()) return;
    out += (out.empty() ? "" : " ") + it->second.label;
  };
  add(buildings_, d.building_id);
  add(units_, d.unit_id);
  add(rooms_, d.room_id);
  if (!d.area.empty()) out += (out.empty() ? "" : " ") + d.area;
  if (!d.name.empty()) out += (out.empty() ? "" : " · ") + d.name;
  return out;
}

}  // namespace linli::incidents
