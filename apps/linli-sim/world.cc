#include "world.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "model/registry.h"

namespace linli::sim {
namespace {

constexpr std::array<std::string_view, 16> kCompoundNames = {
    "阳光花园", "翠湖苑", "幸福里", "和平新村", "锦绣家园", "金色港湾", "绿城雅居", "枫林小区",
    "南湖嘉园", "东方名苑", "朝阳新城", "紫荆花园", "丽景湾", "康乐小区", "书香门第", "滨江一号"};
constexpr std::array<std::string_view, 12> kRoads = {"建设路", "人民路", "解放路", "中山路",
                                                     "和平路", "长江路", "学府路", "文化路",
                                                     "光明路", "新华路", "团结路", "胜利路"};
constexpr std::array<std::string_view, 5> kVendors = {"Hikvision", "Dahua", "Uniview", "Huawei",
                                                      "Tuya"};
constexpr std::array<std::string_view, 6> kGates = {"北门", "南门", "东门", "西门", "地库入口",
                                                    "地库出口"};
constexpr std::array<std::string_view, 8> kAreas = {"中心广场", "儿童乐园", "地下车库", "水泵房",
                                                    "配电房", "垃圾分类站", "物业中心", "健身区"};
constexpr std::array<std::string_view, 6> kCarBrands = {"比亚迪", "大众", "丰田", "本田", "吉利",
                                                        "特斯拉"};
constexpr std::array<std::string_view, 5> kCarColors = {"白色", "黑色", "银色", "红色", "蓝色"};

struct KindName {
  std::string_view kind;
  std::string_view short_name;
  std::string_view label;  // Chinese device label
};
constexpr std::array<KindName, 12> kKindNames = {{
    {"door_controller", "door", "门禁"},
    {"barrier_gate", "gate", "道闸"},
    {"gas_sensor", "gas", "燃气探测器"},
    {"smoke_sensor", "smoke", "烟感"},
    {"water_sensor", "water", "水浸传感器"},
    {"electricity_meter", "meter", "智能电表"},
    {"sos_button", "sos", "紧急呼叫按钮"},
    {"camera", "cam", "摄像机"},
    {"sound_light_alarm", "alarm", "声光报警器"},
    {"edge_box", "edge", "边缘盒子"},
    {"environment_sensor", "env", "环境传感器"},
    {"other", "other", "设备"},
}};

std::string_view KindLabel(std::string_view kind) {
  for (const auto& k : kKindNames) {
    if (k.kind == kind) return k.label;
  }
  return "设备";
}

bool KnownKind(std::string_view kind) {
  for (const auto& d : model::DeviceKinds()) {
    if (d.kind == kind) return true;
  }
  return false;
}

struct Room {
  std::string id;
  std::string building_id;
  std::string unit_id;
  std::string label;  // "1号楼2单元301"
};

struct Unit {
  std::string id;
  std::string building_id;
  std::string label;  // "1号楼2单元"
};

}  // namespace

std::vector<std::string> DefaultSimKinds() {
  return {"door_controller", "barrier_gate", "gas_sensor",  "smoke_sensor",     "water_sensor",
          "electricity_meter", "sos_button", "camera", "sound_light_alarm"};
}

std::string KindShortName(std::string_view kind) {
  for (const auto& k : kKindNames) {
    if (k.kind == kind) return std::string(k.short_name);
  }
  std::string s(kind);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

size_t World::RegistrationCount() const {
  size_t n = 0;
  for (const auto& p : phases) n += p.size();
  return n;
}

Result<void> ValidateWorldOptions(const WorldOptions& o) {
  if (o.compounds < 1 || o.compounds > 100000) return InvalidArgument("compounds", "must be 1..100000");
  if (o.devices_per_kind < 0 || o.devices_per_kind > 100000) {
    return InvalidArgument("devices-per-kind", "must be 0..100000");
  }
  if (static_cast<int64_t>(o.compounds) * o.devices_per_kind * static_cast<int64_t>(o.kinds.size()) >
      2'000'000) {
    return InvalidArgument("devices-per-kind", "more than 2,000,000 devices in total");
  }
  if (o.kinds.empty()) return InvalidArgument("kinds", "at least one device kind is needed");
  for (const auto& k : o.kinds) {
    if (!KnownKind(k)) return InvalidArgument("kinds", "unknown device kind \"" + k + "\"");
  }
  if (o.buildings_per_compound < 1 || o.buildings_per_compound > 50) {
    return InvalidArgument("buildings", "must be 1..50");
  }
  if (o.units_per_building < 1 || o.units_per_building > 10) return InvalidArgument("units", "must be 1..10");
  if (o.floors < 1 || o.floors > 60) return InvalidArgument("floors", "must be 1..60");
  if (o.rooms_per_floor < 1 || o.rooms_per_floor > 20) {
    return InvalidArgument("rooms-per-floor", "must be 1..20");
  }
  if (o.id_prefix.empty() || o.id_prefix.size() > 16 || !model::ValidateId(o.id_prefix)) {
    return InvalidArgument("id-prefix", "must be 1-16 of [A-Za-z0-9_-]");
  }
  return {};
}

Result<World> PlanWorld(const WorldOptions& o) {
  LINLI_RETURN_IF_ERROR(ValidateWorldOptions(o));
  World w;
  w.phases.resize(10);
  auto& districts = w.phases[0];
  auto& streets = w.phases[1];
  auto& communities = w.phases[2];
  auto& compounds = w.phases[3];
  auto& buildings = w.phases[4];
  auto& units = w.phases[5];
  auto& rooms = w.phases[6];
  auto& persons = w.phases[7];
  auto& vehicles = w.phases[8];
  auto& devices = w.phases[9];
  const std::string& px = o.id_prefix;
  auto add = [](std::vector<Registration>& phase, std::string collection, std::string id, Json body) {
    body["id"] = id;
    phase.push_back({std::move(collection), std::move(id), std::move(body)});
  };

  // Region tree: one district, a street per 12 compounds, a community per 3 compounds.
  const std::string district = px + "-rd1";
  add(districts, "regions", district, {{"name", "模拟区"}, {"level", "district"}});
  const int n_communities = (o.compounds + 2) / 3;
  const int n_streets = (n_communities + 3) / 4;
  for (int s = 1; s <= n_streets; ++s) {
    add(streets, "regions", px + "-rs" + std::to_string(s),
        {{"name", "模拟街道" + std::to_string(s)}, {"level", "street"}, {"parent_id", district}});
  }
  for (int c = 1; c <= n_communities; ++c) {
    add(communities, "regions", px + "-rc" + std::to_string(c),
        {{"name", "模拟社区" + std::to_string(c)},
         {"level", "community"},
         {"parent_id", px + "-rs" + std::to_string((c - 1) / 4 + 1)}});
  }

  std::set<std::string> used_plates;
  std::set<std::string> used_id_numbers;
  for (int ci = 1; ci <= o.compounds; ++ci) {
    const std::string cid = px + "-c" + std::to_string(ci);
    Rng rng(SeedFor(o.seed, cid));
    const AreaCode& area = AreaCodes()[rng.Index(AreaCodes().size())];
    SimCompound sc;
    sc.id = cid;
    sc.province = std::string(area.province);
    std::string name(kCompoundNames[(ci - 1) % kCompoundNames.size()]);
    if (ci > static_cast<int>(kCompoundNames.size())) {
      name += std::to_string((ci - 1) / kCompoundNames.size() + 1) + "期";
    }
    add(compounds, "compounds", cid,
        {{"name", name},
         {"community_id", px + "-rc" + std::to_string((ci - 1) / 3 + 1)},
         {"address", std::string(area.name) + std::string(kRoads[rng.Index(kRoads.size())]) +
                         std::to_string(rng.Uniform(1, 999)) + "号"},
         {"lat", 39.9 + rng.Real(-0.2, 0.2)},
         {"lng", 116.4 + rng.Real(-0.2, 0.2)}});

    std::vector<Unit> unit_list;
    std::vector<Room> room_list;
    std::vector<std::string> elderly_rooms;
    std::vector<std::string> elderly_persons;
    if (!o.devices_only) {
      int person_no = 0;
      int vehicle_no = 0;
      for (int b = 1; b <= o.buildings_per_compound; ++b) {
        const std::string bid = cid + "-b" + std::to_string(b);
        add(buildings, "buildings", bid,
            {{"compound_id", cid}, {"name", std::to_string(b) + "号楼"}, {"floors", o.floors},
             {"use", "residential"}});
        for (int u = 1; u <= o.units_per_building; ++u) {
          const std::string uid = bid + "-u" + std::to_string(u);
          const std::string ulabel = std::to_string(b) + "号楼" + std::to_string(u) + "单元";
          add(units, "units", uid, {{"building_id", bid}, {"name", std::to_string(u) + "单元"}});
          unit_list.push_back({uid, bid, ulabel});
          for (int f = 1; f <= o.floors; ++f) {
            for (int r = 1; r <= o.rooms_per_floor; ++r) {
              const std::string number = std::to_string(f * 100 + r);
              const std::string rid = uid + "-r" + number;
              // Occupancy: 10% vacant, 25% rented, the rest owner-occupied.
              const double occ = rng.Real();
              const bool vacant = occ < 0.10;
              const bool rented = !vacant && occ < 0.35;
              add(rooms, "rooms", rid,
                  {{"unit_id", uid}, {"floor", f}, {"number", number},
                   {"area_m2", std::round(rng.Real(45, 140) * 10) / 10},
                   {"use", vacant ? "vacant" : "residential"},
                   {"occupancy", vacant ? "vacant" : (rented ? "rented" : "owner_occupied")}});
              room_list.push_back({rid, bid, uid, ulabel + number});
              if (vacant) continue;

              // Household: an elderly person living alone (8%), or 1-4 people.
              const bool elderly_alone = !rented && rng.Chance(0.08);
              const int size = elderly_alone ? 1 : static_cast<int>(rng.Uniform(1, 4));
              std::string head_id;
              for (int k = 0; k < size; ++k) {
                const bool male = rng.Chance(0.5);
                int min_age = 22, max_age = 75;
                std::string relation = k == 0 ? (rented ? "tenant" : "owner") : (rented ? "tenant" : "family");
                if (elderly_alone) {
                  min_age = 70;
                  max_age = 94;
                } else if (k >= 2) {
                  min_age = 1;  // children
                  max_age = 17;
                }
                const CivilDate birth = RandomBirthDate(rng, min_age, max_age, o.today);
                std::string id_number;
                do {
                  id_number = RandomIdNumber(rng, area.code, birth, male);
                } while (!used_id_numbers.insert(id_number).second);
                const std::string pid = cid + "-p" + std::to_string(++person_no);
                Json body = {{"compound_id", cid},
                             {"name", RandomName(rng, male)},
                             {"id_number", id_number},
                             {"gender", male ? "male" : "female"},
                             {"birth_date", FormatDate(birth)},
                             {"room_id", rid},
                             {"relation", relation}};
                if (AgeOn(birth, o.today) >= 14) body["phone"] = RandomMobile(rng);
                if (elderly_alone) body["tags"] = Json::array({"elderly_living_alone"});
                add(persons, "persons", pid, std::move(body));
                SimPerson sp{pid, rid, RandomCardNo(rng), elderly_alone};
                if (elderly_alone) {
                  elderly_rooms.push_back(rid);
                  elderly_persons.push_back(pid);
                }
                if (k == 0) head_id = pid;
                sc.persons.push_back(std::move(sp));
              }
              // A third of households own a car.
              if (rng.Chance(0.35) && !elderly_alone) {
                std::string plate;
                do {
                  plate = RandomPlate(rng, area.province);
                } while (!used_plates.insert(plate).second);
                add(vehicles, "vehicles", cid + "-v" + std::to_string(++vehicle_no),
                    {{"compound_id", cid},
                     {"plate", plate},
                     {"owner_id", head_id},
                     {"type", "car"},
                     {"color", std::string(kCarColors[rng.Index(kCarColors.size())])},
                     {"brand", std::string(kCarBrands[rng.Index(kCarBrands.size())])}});
                sc.plates.push_back(plate);
              }
            }
          }
        }
      }
    }

    // Devices.
    for (const auto& kind : o.kinds) {
      const std::string short_name = KindShortName(kind);
      const std::string label(KindLabel(kind));
      for (int j = 1; j <= o.devices_per_kind; ++j) {
        const std::string did = cid + "-" + short_name + std::to_string(j);
        SimDevice sd{did, cid, kind, "", ""};
        Json body = {{"compound_id", cid},
                     {"kind", kind},
                     {"vendor", std::string(kVendors[rng.Index(kVendors.size())])},
                     {"model", "SIM-" + short_name + "-" + std::to_string(100 + (j % 7) * 10)},
                     {"protocol", "mqtt"}};
        std::string place;
        const bool in_room = kind == "gas_sensor" || kind == "electricity_meter" || kind == "sos_button" ||
                             kind == "water_sensor";
        if (!room_list.empty() && in_room) {
          // SOS buttons and gas sensors go to the elderly living alone first.
          const Room* room = nullptr;
          const size_t idx = static_cast<size_t>(j - 1);
          if ((kind == "sos_button" || kind == "gas_sensor") && idx < elderly_rooms.size()) {
            for (const auto& r : room_list) {
              if (r.id == elderly_rooms[idx]) room = &r;
            }
            if (kind == "sos_button") sd.person_id = elderly_persons[idx];
          }
          if (room == nullptr) room = &room_list[(idx * 7) % room_list.size()];
          body["building_id"] = room->building_id;
          body["unit_id"] = room->unit_id;
          body["room_id"] = room->id;
          sd.room_id = room->id;
          place = room->label;
        } else if (!unit_list.empty() && (kind == "door_controller" || kind == "smoke_sensor")) {
          const Unit& unit = unit_list[static_cast<size_t>(j - 1) % unit_list.size()];
          body["building_id"] = unit.building_id;
          body["unit_id"] = unit.id;
          place = unit.label + (kind == "smoke_sensor" ? "楼道" : "");
        } else if (kind == "barrier_gate" || kind == "door_controller") {
          place = std::string(kGates[static_cast<size_t>(j - 1) % kGates.size()]);
          body["area"] = place;
        } else if (kind == "sound_light_alarm" && j == 1) {
          // The property centre's alarm comes first: the built-in rules sound it (area 物业中心).
          place = "物业中心";
          body["area"] = place;
        } else {
          place = std::string(kAreas[static_cast<size_t>(j - 1) % kAreas.size()]);
          body["area"] = place;
        }
        if (o.devices_per_kind > 1 && place.find(std::to_string(j)) == std::string::npos) {
          body["name"] = place + label + std::to_string(j);
        } else {
          body["name"] = place + label;
        }
        add(devices, "devices", did, std::move(body));
        w.devices.push_back(std::move(sd));
      }
    }
    w.compound_index[cid] = w.compounds.size();
    w.compounds.push_back(std::move(sc));
  }
  // Drop empty phases so that callers can iterate without special cases.
  std::erase_if(w.phases, [](const std::vector<Registration>& p) { return p.empty(); });
  return w;
}

}  // namespace linli::sim
