// World: the registry content of a simulated hosting centre, planned from a seed.
//
// PlanWorld() lays out a region tree (district → streets → communities), N compounds with ids
// sim-c1..sim-cN, their buildings, units and rooms, residents (valid ID numbers, phones, some
// elderly living alone), vehicles with valid plates, and M devices of each simulated kind, placed
// where such devices hang (door controllers at unit entrances, meters and SOS buttons in rooms,
// gates at compound entrances). The plan is a list of API bodies in dependency order plus what
// the traffic generator needs to know (who can pass which door, which plates exist).
// The same options and seed always give the same plan.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "identity.h"

namespace linli::sim {

// The device kinds the simulator drives by default.
std::vector<std::string> DefaultSimKinds();
// Short id component of a kind: "door_controller" → "door".
std::string KindShortName(std::string_view kind);

struct WorldOptions {
  uint64_t seed = 1;
  int compounds = 1;
  int devices_per_kind = 1;
  std::vector<std::string> kinds = DefaultSimKinds();
  int buildings_per_compound = 2;
  int units_per_building = 2;
  int floors = 6;
  int rooms_per_floor = 2;
  // Only regions, compounds and devices (no buildings, rooms, people, vehicles): bulk device
  // registration for the benchmark.
  bool devices_only = false;
  // "Today", for plausible ages. Pass the wall clock's date.
  CivilDate today{2025, 6, 1};
  std::string id_prefix = "sim";
};

// Checks ranges (compounds 1..100000, devices_per_kind 0..100000, known kinds, ...).
Result<void> ValidateWorldOptions(const WorldOptions& options);

// One POST to /api/v1/{collection}.
struct Registration {
  std::string collection;
  std::string id;
  Json body;
};

struct SimPerson {
  std::string id;
  std::string room_id;
  std::string card_no;
  bool elderly_alone = false;
};

struct SimDevice {
  std::string id;
  std::string compound_id;
  std::string kind;
  std::string room_id;     // may be empty
  std::string person_id;   // the resident an in-room device belongs to (SOS buttons), may be empty
};

struct SimCompound {
  std::string id;
  std::string province;  // plate prefix
  std::vector<SimPerson> persons;
  std::vector<std::string> plates;  // registered vehicles
};

struct World {
  // Registrations grouped in phases; every phase depends only on earlier ones, so the entries of
  // one phase may be sent concurrently.
  std::vector<std::vector<Registration>> phases;
  std::vector<SimCompound> compounds;
  std::vector<SimDevice> devices;
  // Index of each compound in `compounds` by id.
  std::map<std::string, size_t> compound_index;

  size_t RegistrationCount() const;
};

Result<World> PlanWorld(const WorldOptions& options);

}  // namespace linli::sim
