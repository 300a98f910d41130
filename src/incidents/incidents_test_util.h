// Shared fixture of the incidents tests: a real SqliteStore in a temp dir with a small compound
// (buildings, doors, sensors, a siren at the property centre, persons, contacts), a simulated
// clock, a recording command publisher and feed.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "common/clock.h"
#include "incidents/executor.h"
#include "incidents/registry_cache.h"
#include "store/store.h"
#include "store/store_test_util.h"

namespace linli::incidents::testing {

class RecordingPublisher final : public CommandPublisher {
 public:
  Result<void> Publish(const std::string& topic, const std::string& payload) override {
    std::lock_guard lock(mu);
    if (fail) return Fail(ErrorCode::kUnavailable, "broker down");
    sent.emplace_back(topic, payload);
    return {};
  }
  std::vector<std::pair<std::string, std::string>> Take() {
    std::lock_guard lock(mu);
    auto out = std::move(sent);
    sent.clear();
    return out;
  }
  std::mutex mu;
  bool fail = false;
  std::vector<std::pair<std::string, std::string>> sent;
};

class RecordingFeed final : public model::FeedSink {
 public:
  void Publish(const model::FeedItem& item) override {
    std::lock_guard lock(mu);
    items.push_back(item);
  }
  int Count(const std::string& type) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& i : items) n += i.type == type ? 1 : 0;
    return n;
  }
  std::mutex mu;
  std::vector<model::FeedItem> items;
};

class IncidentsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions o;
    o.path = dir_.File("linli.db");
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    Add(model::Kind::kCompound, "c1", "", {{"name", "幸福里"}});
    Add(model::Kind::kCompound, "c2", "", {{"name", "别处"}});
    Add(model::Kind::kBuilding, "b1", "c1", {{"compound_id", "c1"}, {"name", "1号楼"}});
    Add(model::Kind::kBuilding, "b2", "c1", {{"compound_id", "c1"}, {"name", "2号楼"}});
    Add(model::Kind::kUnit, "u1", "c1", {{"building_id", "b1"}, {"name", "1单元"}});
    Add(model::Kind::kRoom, "r1", "c1", {{"unit_id", "u1"}, {"floor", 3}, {"number", "301"}});
    Add(model::Kind::kPerson, "p1", "c1", {{"compound_id", "c1"}, {"name", "王奶奶"}, {"room_id", "r1"},
                                           {"tags", {"elderly_living_alone"}}});
    Dev("gas-1", "c1", "gas_sensor", {{"building_id", "b1"}, {"unit_id", "u1"}, {"room_id", "r1"}});
    Dev("door-1", "c1", "door_controller", {{"building_id", "b1"}, {"unit_id", "u1"}});
    Dev("door-2", "c1", "door_controller", {{"building_id", "b1"}});
    Dev("door-3", "c1", "door_controller", {{"building_id", "b2"}});
    Dev("siren", "c1", "sound_light_alarm", {{"area", "物业中心"}});
    Dev("sos-1", "c1", "sos_button", {{"room_id", "r1"}, {"unit_id", "u1"}, {"building_id", "b1"}});
    Dev("door-x", "c2", "door_controller", {});
    Add(model::Kind::kContact, "fire-c1", "c1",
        {{"compound_id", "c1"}, {"role", "fire_brigade"}, {"name", "消防中队"}, {"webhook_url", "http://127.0.0.1:9/fire"}});
    Add(model::Kind::kContact, "police-c1", "c1", {{"compound_id", "c1"}, {"role", "police_station"}, {"name", "派出所"}});
    ASSERT_TRUE(cache_.Load(store_.get()).has_value());
  }

  void Add(model::Kind kind, const std::string& id, const std::string& compound, Json fields) {
    model::Record r;
    r.kind = kind;
    r.id = id;
    r.compound_id = kind == model::Kind::kCompound ? id : compound;
    r.fields = std::move(fields);
    r.created_ms = r.updated_ms = clock_.NowMs();
    auto c = store_->CreateRecord(r);
    ASSERT_TRUE(c.has_value()) << id << ": " << c.error().ToString();
  }
  void Dev(const std::string& id, const std::string& compound, const std::string& kind, Json fields) {
    fields["compound_id"] = compound;
    fields["kind"] = kind;
    fields["name"] = id;
    Add(model::Kind::kDevice, id, compound, std::move(fields));
  }

  store::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  SimulatedClock clock_{1796171400000};
  RegistryCache cache_;
  RecordingPublisher publisher_;
  RecordingFeed feed_;
};

}  // namespace linli::incidents::testing
