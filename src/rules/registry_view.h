// RegistryView: what the rules engine needs to know about the registry — where a device is,
// which devices share its building, which persons carry a tag — without touching the store.
// linlid implements it with an in-memory cache kept current by the API's change hooks.
// Thread-safety: implementations must be safe to call from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace linli::rules {

struct DeviceView {
  std::string id;
  std::string compound_id;
  std::string kind;
  std::string name;
  std::string building_id, unit_id, room_id;
  std::string area;
};

struct PersonView {
  std::string id;
  std::string compound_id;
  std::string name;
  std::string room_id;
};

class RegistryView {
 public:
  virtual ~RegistryView() = default;
  virtual std::optional<DeviceView> Device(const std::string& id) const = 0;
  // Devices of `compound_id` whose kind is in `kinds` (any kind if empty) and which are in the
  // given building/unit/room/area when those are non-empty. Sorted by id.
  virtual std::vector<std::string> FindDevices(const std::string& compound_id,
                                               const std::vector<std::string>& kinds,
                                               const std::string& building_id,
                                               const std::string& unit_id,
                                               const std::string& room_id,
                                               const std::string& area) const = 0;
  // A short description of a registry record for rule contexts and templates:
  // {"id", "name"} for compounds and buildings, {"id", "name"} for units, {"id", "number",
  // "floor"} for rooms. Empty object if unknown.
  virtual Json Describe(const std::string& collection, const std::string& id) const = 0;
  // Persons of a compound carrying any of `tags`.
  virtual std::vector<PersonView> PersonsWithTags(const std::string& compound_id,
                                                  const std::vector<std::string>& tags) const = 0;
  // Ids of the persons living in a room.
  virtual std::vector<std::string> PersonsInRoom(const std::string& room_id) const = 0;
  virtual std::vector<std::string> CompoundIds() const = 0;
};

}  // namespace linli::rules
