// RegistryCache: the in-memory view of the registry that the rules engine and the incident
// executor read on every firing (rules::RegistryView): devices with their place, the names of
// compounds/buildings/units/rooms, persons with tags and their rooms, escalation contacts and
// webhooks. Loaded from the store at start-up and kept current by the API's change hooks.
//
// Personal data stays encrypted here: contact phone numbers are not cached (the executor only
// needs webhook URLs), person records keep id, name, room and tags.
// Thread-safety: all methods may be called from any thread (one shared mutex).
#pragma once

#include <map>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/registry.h"
#include "rules/registry_view.h"
#include "store/store.h"

namespace linli::incidents {

struct ContactView {
  std::string id;
  std::string compound_id;
  std::string role;  // fire_brigade, police_station, property_manager, ...
  std::string name;
  std::string webhook_url;
  int priority = 0;
};

struct WebhookView {
  std::string id;
  std::string name;
  std::string url;
  std::string secret;
  std::vector<std::string> topics;     // "alarm.*", "work_order.opened", ...; empty = all
  std::vector<std::string> compounds;  // empty = all
  bool enabled = true;
};

class RegistryCache final : public rules::RegistryView {
 public:
  // Loads every kind the cache holds. Errors come from the store.
  Result<void> Load(store::Store* store);
  // Change hooks (called by the API after a successful write).
  void Upsert(const model::Record& rec);
  void Remove(model::Kind kind, const std::string& id);

  std::optional<rules::DeviceView> Device(const std::string& id) const override;
  std::vector<std::string> FindDevices(const std::string& compound_id, const std::vector<std::string>& kinds,
                                       const std::string& building_id, const std::string& unit_id,
                                       const std::string& room_id, const std::string& area) const override;
  Json Describe(const std::string& collection, const std::string& id) const override;
  std::vector<rules::PersonView> PersonsWithTags(const std::string& compound_id,
                                                 const std::vector<std::string>& tags) const override;
  std::vector<std::string> PersonsInRoom(const std::string& room_id) const override;
  std::vector<std::string> CompoundIds() const override;

  // Contacts of a compound with one of `roles` (all if empty), by priority.
  std::vector<ContactView> Contacts(const std::string& compound_id, const std::vector<std::string>& roles) const;
  // Enabled webhooks subscribed to `topic` for `compound_id`.
  std::vector<WebhookView> Webhooks(const std::string& topic, const std::string& compound_id) const;
  // "3号楼 2单元 1202" for a device's place (empty parts skipped).
  std::string Address(const rules::DeviceView& d) const;

 private:
  struct Place {
    std::string compound_id;
    std::string parent_id;  // unit → building, room → unit
    std::string label;      // name or number
    int floor = 0;
  };
  struct Person {
    std::string compound_id, name, room_id;
    std::vector<std::string> tags;
  };
  void UpsertLocked(const model::Record& rec);
  void RemoveLocked(model::Kind kind, const std::string& id);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, rules::DeviceView> devices_;
  // compound → kind → device ids (sorted on read)
  std::unordered_map<std::string, std::map<std::string, std::set<std::string>>> by_kind_;
  std::map<std::string, std::string> compounds_;  // id → name
  std::unordered_map<std::string, Place> buildings_, units_, rooms_;
  std::unordered_map<std::string, Person> persons_;
  std::unordered_map<std::string, std::set<std::string>> room_persons_;  // room → person ids
  std::unordered_map<std::string, ContactView> contacts_;
  std::unordered_map<std::string, WebhookView> webhooks_;
};

}  // namespace linli::incidents
