#include "world.h"

#include <gtest/gtest.h>

#include <set>

#include "model/registry.h"

namespace linli::sim {
namespace {

WorldOptions Small(uint64_t seed) {
  WorldOptions o;
  o.seed = seed;
  o.compounds = 3;
  o.devices_per_kind = 2;
  o.today = {2025, 6, 1};
  return o;
}

std::optional<model::Kind> KindOf(const std::string& collection) { return model::KindFromCollection(collection); }

TEST(WorldTest, EveryBodyPassesTheRegistryValidation) {
  auto w = PlanWorld(Small(1));
  ASSERT_TRUE(w.has_value()) << w.error().ToString();
  size_t n = 0;
  for (const auto& phase : w->phases) {
    for (const auto& reg : phase) {
      auto kind = KindOf(reg.collection);
      ASSERT_TRUE(kind.has_value()) << reg.collection;
      auto v = model::ValidateFields(*kind, reg.body, /*partial=*/false);
      ASSERT_TRUE(v.has_value()) << reg.collection << "/" << reg.id << ": " << v.error().ToString();
      EXPECT_TRUE(model::ValidateId(reg.id)) << reg.id;
      ++n;
    }
  }
  EXPECT_EQ(n, w->RegistrationCount());
}

TEST(WorldTest, ReferencesPointToEarlierPhasesAndIdsAreUnique) {
  auto w = PlanWorld(Small(2));
  ASSERT_TRUE(w.has_value());
  std::set<std::string> known;
  for (const auto& phase : w->phases) {
    std::set<std::string> this_phase;
    for (const auto& reg : phase) {
      const auto& spec = model::Spec(*KindOf(reg.collection));
      for (const auto& f : spec.fields) {
        if (f.type != model::FieldType::kRef || !reg.body.contains(f.name)) continue;
        EXPECT_TRUE(known.count(reg.body[f.name].get<std::string>()))
            << reg.id << "." << f.name << " refers to a record not registered before";
      }
      EXPECT_TRUE(this_phase.insert(reg.id).second) << "duplicate id " << reg.id;
    }
    for (const auto& id : this_phase) EXPECT_TRUE(known.insert(id).second) << "duplicate id " << id;
  }
}

TEST(WorldTest, EveryCompoundHasASoundAndLightAlarmAtThePropertyCentre) {
  // The built-in rules sound the alarm in area 物业中心: the demo must have one per compound.
  auto w = PlanWorld(Small(4));
  ASSERT_TRUE(w.has_value());
  std::set<std::string> compounds, with_alarm;
  for (const auto& phase : w->phases) {
    for (const auto& reg : phase) {
      if (reg.collection == "compounds") compounds.insert(reg.id);
      if (reg.collection != "devices" || reg.body.value("kind", "") != "sound_light_alarm") continue;
      if (reg.body.value("area", "") == "物业中心") with_alarm.insert(reg.body.value("compound_id", ""));
    }
  }
  EXPECT_EQ(compounds.size(), 3u);
  EXPECT_EQ(with_alarm, compounds);
}

TEST(WorldTest, ShapeMatchesTheOptions) {
  WorldOptions o = Small(3);
  auto w = PlanWorld(o);
  ASSERT_TRUE(w.has_value());
  std::map<std::string, int> per_collection;
  for (const auto& phase : w->phases) {
    for (const auto& reg : phase) ++per_collection[reg.collection];
  }
  EXPECT_EQ(per_collection["compounds"], 3);
  EXPECT_EQ(per_collection["buildings"], 3 * o.buildings_per_compound);
  EXPECT_EQ(per_collection["units"], 3 * o.buildings_per_compound * o.units_per_building);
  EXPECT_EQ(per_collection["rooms"], 3 * o.buildings_per_compound * o.units_per_building * o.floors * o.rooms_per_floor);
  EXPECT_EQ(per_collection["devices"], 3 * 2 * static_cast<int>(o.kinds.size()));
  EXPECT_GT(per_collection["persons"], per_collection["rooms"]);  // ~2.2 per occupied room
  EXPECT_GT(per_collection["vehicles"], 0);
  EXPECT_EQ(w->devices.size(), 3u * 2 * o.kinds.size());
  EXPECT_EQ(w->compounds[0].id, "sim-c1");
  EXPECT_EQ(w->compound_index.at("sim-c3"), 2u);
  // Some residents are elderly people living alone, tagged so.
  int elderly = 0;
  for (const auto& phase : w->phases) {
    for (const auto& reg : phase) {
      if (reg.collection != "persons" || !reg.body.contains("tags")) continue;
      EXPECT_EQ(reg.body["tags"], Json::array({"elderly_living_alone"}));
      ++elderly;
    }
  }
  EXPECT_GT(elderly, 0);
}

TEST(WorldTest, SameSeedSameWorldOtherSeedOtherPeople) {
  auto a = PlanWorld(Small(7));
  auto b = PlanWorld(Small(7));
  auto c = PlanWorld(Small(8));
  ASSERT_TRUE(a && b && c);
  ASSERT_EQ(a->phases.size(), b->phases.size());
  for (size_t i = 0; i < a->phases.size(); ++i) {
    ASSERT_EQ(a->phases[i].size(), b->phases[i].size());
    for (size_t j = 0; j < a->phases[i].size(); ++j) EXPECT_EQ(a->phases[i][j].body, b->phases[i][j].body);
  }
  auto first_person = [](const World& w) {
    for (const auto& phase : w.phases) {
      for (const auto& reg : phase) {
        if (reg.collection == "persons") return reg.body;
      }
    }
    return Json();
  };
  EXPECT_NE(first_person(*a)["id_number"], first_person(*c)["id_number"]);
}

TEST(WorldTest, DevicesOnlySkipsPeopleAndCountsDevices) {
  WorldOptions o;
  o.compounds = 10;
  o.devices_per_kind = 100;
  o.kinds = {"electricity_meter", "camera"};
  o.devices_only = true;
  auto w = PlanWorld(o);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->devices.size(), 2000u);
  for (const auto& phase : w->phases) {
    for (const auto& reg : phase) {
      EXPECT_TRUE(reg.collection == "regions" || reg.collection == "compounds" || reg.collection == "devices")
          << reg.collection;
    }
  }
}

TEST(WorldTest, RejectsBadOptions) {
  WorldOptions o;
  o.compounds = 0;
  EXPECT_FALSE(PlanWorld(o).has_value());
  o = WorldOptions();
  o.kinds = {"toaster"};
  auto r = PlanWorld(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().field(), "kinds");
  o = WorldOptions();
  o.id_prefix = "bad/prefix";
  EXPECT_FALSE(PlanWorld(o).has_value());
  o = WorldOptions();
  o.compounds = 100000;
  o.devices_per_kind = 100000;
  EXPECT_FALSE(PlanWorld(o).has_value());
}

}  // namespace
}  // namespace linli::sim
