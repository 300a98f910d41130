#include "rules/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "rules/parse.h"

namespace linli::rules {
namespace {

class FakeRegistry final : public RegistryView {
 public:
  void Add(DeviceView d) { devices_[d.id] = std::move(d); }
  void AddPerson(PersonView p, std::vector<std::string> tags) { persons_.push_back({std::move(p), std::move(tags)}); }

  std::optional<DeviceView> Device(const std::string& id) const override {
    auto it = devices_.find(id);
    if (it == devices_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> FindDevices(const std::string& compound, const std::vector<std::string>& kinds,
                                       const std::string& building, const std::string& unit, const std::string& room,
                                       const std::string& area) const override {
    std::vector<std::string> out;
    for (const auto& [id, d] : devices_) {
      if (d.compound_id != compound) continue;
      if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), d.kind) == kinds.end()) continue;
      if (!building.empty() && d.building_id != building) continue;
      if (!unit.empty() && d.unit_id != unit) continue;
      if (!room.empty() && d.room_id != room) continue;
      if (!area.empty() && d.area != area) continue;
      out.push_back(id);
    }
    return out;
  }
  Json Describe(const std::string& collection, const std::string& id) const override {
    if (collection == "buildings") return Json{{"id", id}, {"name", id + "号楼"}};
    if (collection == "compounds") return Json{{"id", id}, {"name", "小区" + id}};
    return Json{{"id", id}};
  }
  std::vector<PersonView> PersonsWithTags(const std::string& compound, const std::vector<std::string>& tags) const override {
    std::vector<PersonView> out;
    for (const auto& [p, t] : persons_) {
      if (p.compound_id != compound) continue;
      for (const auto& tag : tags) {
        if (std::find(t.begin(), t.end(), tag) != t.end()) {
          out.push_back(p);
          break;
        }
      }
    }
    return out;
  }
  std::vector<std::string> PersonsInRoom(const std::string&) const override { return {}; }
  std::vector<std::string> CompoundIds() const override { return {"c1", "c2"}; }

 private:
  std::map<std::string, DeviceView> devices_;
  std::vector<std::pair<PersonView, std::vector<std::string>>> persons_;
};

constexpr int64_t kT0 = 1796171400000;  // Wednesday 08:30 Beijing

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reg_.Add({"gas-1", "c1", "gas_sensor", "厨房燃气", "b1", "u1", "r1", ""});
    reg_.Add({"door-1", "c1", "door_controller", "1单元门", "b1", "u1", "", ""});
    reg_.Add({"door-2", "c1", "door_controller", "2单元门", "b1", "u2", "", ""});
    reg_.Add({"door-3", "c1", "door_controller", "3号楼门", "b2", "u3", "", ""});
    reg_.Add({"door-c2", "c2", "door_controller", "别的小区", "b1", "u1", "", ""});
    reg_.Add({"siren", "c1", "sound_light_alarm", "物业中心声光", "", "", "", "物业中心"});
    reg_.Add({"gas-c2", "c2", "gas_sensor", "c2燃气", "b9", "", "", ""});
    reg_.Add({"cam-1", "c1", "camera", "垃圾站", "", "", "", "垃圾分类站"});
    engine_ = std::make_unique<Engine>(&reg_);
  }

  void Load(const std::string& yaml) {
    ParsedFile f = ParseRuleText(yaml, "test.yaml");
    ASSERT_TRUE(f.errors.empty()) << f.errors.front().ToString();
    std::vector<RulePtr> rules;
    for (auto& r : f.rules) rules.push_back(std::make_shared<const Rule>(std::move(r)));
    rules_ = rules;
    (void)engine_->SetRules(rules);
  }

  model::Event Ev(const std::string& id, const std::string& device, const std::string& type, Json data = Json::object(),
                  const std::string& compound = "c1") {
    return model::Event{id, compound, device, type, now_, now_, std::move(data)};
  }

  static std::vector<const Intent*> Of(const Output& o, ActionKind k) {
    std::vector<const Intent*> v;
    for (const auto& i : o.intents) {
      if (!i.clear && i.action != nullptr && i.action->kind == k) v.push_back(&i);
    }
    return v;
  }
  static int Clears(const Output& o) {
    return static_cast<int>(std::count_if(o.intents.begin(), o.intents.end(), [](const Intent& i) { return i.clear; }));
  }

  // Persist state changes as the store would.
  void Persist(const Output& o) {
    for (const auto& s : o.state) {
      if (s.state.is_null()) store_.erase({s.rule_id, s.key});
      else store_[{s.rule_id, s.key}] = s.state;
    }
  }
  std::vector<StateChange> Stored() const {
    std::vector<StateChange> v;
    for (const auto& [k, s] : store_) v.push_back({k.first, k.second, s});
    return v;
  }

  FakeRegistry reg_;
  std::unique_ptr<Engine> engine_;
  std::vector<RulePtr> rules_;
  int64_t now_ = kT0;
  std::map<std::pair<std::string, std::string>, Json> store_;
};

const char* kGasRule = R"(
id: gas
name: 燃气泄漏
trigger: {event: gas.leak}
scope: {device_kinds: [gas_sensor]}
where: "event.data.ch4_ppm >= 500"
actions:
  - alarm: {type: gas_leak, level: critical, title: "燃气 {building.name}"}
  - parallel:
      - command: {target: {kinds: [door_controller], same: building}, name: unlock}
      - command: {target: {kinds: [sound_light_alarm], area: 物业中心}, name: alarm_on}
)";

TEST_F(EngineTest, EventFiresAndResolvesTargetsInTheSensorsBuilding) {
  Load(kGasRule);
  Output o = engine_->OnEvent(Ev("e1", "gas-1", "gas.leak", {{"ch4_ppm", 820}}), now_);
  auto alarms = Of(o, ActionKind::kAlarm);
  auto cmds = Of(o, ActionKind::kCommand);
  ASSERT_EQ(alarms.size(), 1u);
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0]->device_ids, (std::vector<std::string>{"door-1", "door-2"}));
  EXPECT_EQ(cmds[1]->device_ids, (std::vector<std::string>{"siren"}));
  EXPECT_EQ(cmds[0]->command_ids.size(), 2u);
  EXPECT_NE(cmds[0]->command_ids[0], cmds[0]->command_ids[1]);
  EXPECT_EQ(alarms[0]->cause_kind, "event");
  EXPECT_EQ(alarms[0]->cause_id, "e1");
  EXPECT_EQ((*alarms[0]->context)["building"]["name"], "b1号楼");
  EXPECT_EQ(alarms[0]->key, "gas-1");
  // All intents of one firing share the run.
  EXPECT_EQ(cmds[0]->run_id, alarms[0]->run_id);
}

TEST_F(EngineTest, ConditionsAndScopeFilter) {
  Load(kGasRule);
  EXPECT_TRUE(engine_->OnEvent(Ev("e1", "gas-1", "gas.leak", {{"ch4_ppm", 100}}), now_).intents.empty());
  EXPECT_TRUE(engine_->OnEvent(Ev("e2", "door-1", "gas.leak", {{"ch4_ppm", 900}}), now_).intents.empty());
  EXPECT_TRUE(engine_->OnEvent(Ev("e3", "gas-1", "gas.other", {{"ch4_ppm", 900}}), now_).intents.empty());
  // Another compound's sensor: targets only in that compound (no door in its building b9).
  Output o = engine_->OnEvent(Ev("e4", "gas-c2", "gas.leak", {{"ch4_ppm", 900}}, "c2"), now_);
  auto cmds = Of(o, ActionKind::kCommand);
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_TRUE(cmds[0]->device_ids.empty());
  EXPECT_TRUE(cmds[1]->device_ids.empty());
}

TEST_F(EngineTest, CompoundScopedRulesAreIndexedNotScanned) {
  std::string yaml = "rules:\n";
  for (int c = 0; c < 100; ++c) {
    for (int k = 0; k < 10; ++k) {
      yaml += "  - {id: r" + std::to_string(c) + "-" + std::to_string(k) + ", trigger: {event: t" + std::to_string(k) +
              ".x}, scope: {compounds: [c" + std::to_string(c) + "]}, actions: [{notify: {}}]}\n";
    }
  }
  Load(yaml);
  EXPECT_EQ(engine_->Stats().rules, 1000u);
  EXPECT_EQ(engine_->CandidateCount("c7", "t3.x"), 1u);
  EXPECT_EQ(engine_->CandidateCount("c7", "zz.x"), 0u);
  EXPECT_EQ(engine_->CandidateCount("c1000", "t3.x"), 0u);
}

TEST_F(EngineTest, CooldownSuppressesRepeatsPerKey) {
  Load(R"(
id: sos
trigger: {event: sos.pressed}
cooldown: 30s
actions: [{notify: {}}]
)");
  EXPECT_EQ(engine_->OnEvent(Ev("e1", "gas-1", "sos.pressed"), now_).intents.size(), 1u);
  now_ += 10'000;
  EXPECT_TRUE(engine_->OnEvent(Ev("e2", "gas-1", "sos.pressed"), now_).intents.empty());
  EXPECT_EQ(engine_->OnEvent(Ev("e3", "door-1", "sos.pressed"), now_).intents.size(), 1u);  // other key
  now_ += 21'000;
  EXPECT_EQ(engine_->OnEvent(Ev("e4", "gas-1", "sos.pressed"), now_).intents.size(), 1u);
}

TEST_F(EngineTest, SlidingWindowCountsDistinctEventsPerKey) {
  Load(R"(
id: garbage
trigger: {event: vision.garbage_overflow}
key: "{event.data.camera_id}:{event.data.zone}"
window: {count: 3, within: 1h}
actions: [{alarm: {type: garbage_overflow}}]
)");
  auto ev = [&](const std::string& id, const std::string& zone) {
    return engine_->OnEvent(Ev(id, "edge-1", "vision.garbage_overflow", {{"camera_id", "cam-1"}, {"zone", zone}}), now_);
  };
  EXPECT_TRUE(ev("e1", "bin-a").intents.empty());
  now_ += 20 * 60'000;
  EXPECT_TRUE(ev("e2", "bin-a").intents.empty());
  EXPECT_TRUE(ev("e2", "bin-a").intents.empty());  // a redelivered event counts once
  EXPECT_TRUE(ev("x1", "bin-b").intents.empty());  // another bin has its own window
  now_ += 20 * 60'000;
  Output fired = ev("e3", "bin-a");
  ASSERT_EQ(fired.intents.size(), 1u);
  EXPECT_EQ(fired.intents[0].key, "cam-1:bin-a");
  EXPECT_EQ((*fired.intents[0].context)["count"], 3);
  // The window starts over after firing; old entries fall out after an hour.
  now_ += 50 * 60'000;
  EXPECT_TRUE(ev("e4", "bin-a").intents.empty());
  EXPECT_TRUE(ev("e5", "bin-a").intents.empty());
  now_ += 61 * 60'000;
  EXPECT_TRUE(ev("e6", "bin-a").intents.empty());  // e4, e5 expired: count is 1
}

TEST_F(EngineTest, PresenceOfflineForTenMinutesFiresOnceAndClearsWhenBack) {
  Load(R"(
id: offline
trigger: {presence: {status: offline, for: 10m}}
actions: [{work_order: {kind: maintenance, close_on_clear: true}}]
)");
  model::StatusChange off{"door-1", "c1", model::Presence::kOffline, now_, "will"};
  Output o = engine_->OnStatus(off, now_);
  EXPECT_TRUE(o.intents.empty());
  EXPECT_EQ(engine_->Stats().armed_timers, 1u);
  now_ += 9 * 60'000;
  EXPECT_TRUE(engine_->Tick(now_).intents.empty());
  now_ += 61'000;
  Output fired = engine_->Tick(now_);
  ASSERT_EQ(Of(fired, ActionKind::kWorkOrder).size(), 1u);
  EXPECT_EQ((*fired.intents[0].context)["device"]["id"], "door-1");
  EXPECT_TRUE(engine_->Tick(now_ + 60'000).intents.empty());
  // A repeated offline while fired does not fire again; online clears.
  EXPECT_TRUE(engine_->OnStatus(off, now_).intents.empty());
  model::StatusChange on{"door-1", "c1", model::Presence::kOnline, now_ + 1000, "telemetry"};
  Output cleared = engine_->OnStatus(on, now_ + 1000);
  EXPECT_EQ(Clears(cleared), 1);
  EXPECT_EQ(cleared.intents[0].key, "door-1");
  // Back online before the 10 minutes: nothing fires.
  engine_->OnStatus(off, now_ + 2000);
  engine_->OnStatus({"door-1", "c1", model::Presence::kOnline, now_ + 60'000, "t"}, now_ + 60'000);
  EXPECT_TRUE(engine_->Tick(now_ + 20 * 60'000).intents.empty());
}

TEST_F(EngineTest, TelemetryMustHoldForTheDuration) {
  Load(R"(
id: ch4
trigger: {telemetry: {metric: ch4_ppm, when: "value > 500", for: 10s}}
actions: [{alarm: {type: gas_leak}}]
)");
  auto point = [&](double v) {
    return engine_->OnTelemetry(model::TelemetryPoint{"gas-1", "ch4_ppm", now_, v}, "c1", now_);
  };
  EXPECT_TRUE(engine_->WantsMetric("ch4_ppm"));
  EXPECT_FALSE(engine_->WantsMetric("kwh"));
  EXPECT_TRUE(point(600).intents.empty());
  now_ += 5000;
  EXPECT_TRUE(point(100).intents.empty());  // dipped: the clock restarts
  now_ += 1000;
  EXPECT_TRUE(point(700).intents.empty());
  now_ += 9000;
  EXPECT_TRUE(point(700).intents.empty());
  now_ += 1000;
  Output fired = point(710);
  ASSERT_EQ(fired.intents.size(), 1u);
  EXPECT_EQ((*fired.intents[0].context)["value"], 710.0);
  now_ += 1000;
  EXPECT_TRUE(point(720).intents.empty());  // same episode
  now_ += 1000;
  EXPECT_EQ(Clears(point(50)), 1);
  // The timer also fires without a new point.
  point(900);
  EXPECT_TRUE(engine_->Tick(now_ + 5000).intents.empty());
  EXPECT_EQ(engine_->Tick(now_ + 10'000).intents.size(), 1u);
}

TEST_F(EngineTest, AbsenceWatchesTaggedPersonsAndRearmsWhenSeen) {
  reg_.AddPerson({"p-old", "c1", "王奶奶", "r1"}, {"elderly_living_alone"});
  reg_.AddPerson({"p-young", "c1", "小李", "r2"}, {});
  Load(R"(
id: care
trigger: {absence: {event: door.passage, tags: [elderly_living_alone], for: 48h}}
actions: [{work_order: {kind: care, title: "关爱 {person.name}"}}]
)");
  EXPECT_TRUE(engine_->Tick(now_).intents.empty());  // starts watching
  now_ += 24 * 3'600'000LL;
  engine_->OnEvent(Ev("p1", "door-1", "door.passage", {{"person_id", "p-old"}}), now_);
  now_ += 47 * 3'600'000LL;
  EXPECT_TRUE(engine_->Tick(now_).intents.empty());  // 47 h since the passage
  now_ += 2 * 3'600'000LL;
  Output fired = engine_->Tick(now_);
  ASSERT_EQ(fired.intents.size(), 1u);
  EXPECT_EQ(fired.intents[0].key, "p-old");
  EXPECT_EQ((*fired.intents[0].context)["person"]["name"], "王奶奶");
  EXPECT_TRUE(engine_->Tick(now_ + 3'600'000).intents.empty());  // once per absence
  Output seen = engine_->OnEvent(Ev("p2", "door-1", "door.passage", {{"person_id", "p-old"}}), now_ + 4'000'000);
  EXPECT_EQ(Clears(seen), 1);
}

TEST_F(EngineTest, ScheduleFiresOncePerMinutePerCompound) {
  Load(R"(
id: patrol
trigger: {schedule: "30 8 * * *"}
scope: {compounds: [c1]}
actions: [{work_order: {kind: inspection}}]
)");
  Output o = engine_->Tick(now_);
  ASSERT_EQ(o.intents.size(), 1u);
  EXPECT_EQ(o.intents[0].compound_id, "c1");
  EXPECT_TRUE(engine_->Tick(now_ + 20'000).intents.empty());
  EXPECT_TRUE(engine_->Tick(now_ + 60'000).intents.empty());
  EXPECT_EQ(engine_->Tick(now_ + 86'400'000).intents.size(), 1u);
}

TEST_F(EngineTest, WaitingCommandsHoldLaterSteps) {
  Load(R"(
id: seq
trigger: {event: gas.leak}
actions:
  - command: {target: {kinds: [door_controller], same: building}, name: unlock, wait: true, stop_on_failure: false}
  - notify: {message: "doors open"}
)");
  Output first = engine_->OnEvent(Ev("e1", "gas-1", "gas.leak"), now_);
  ASSERT_EQ(first.intents.size(), 1u);
  const auto ids = first.intents[0].command_ids;
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(engine_->Stats().waiting_runs, 1u);
  EXPECT_TRUE(engine_->OnCommandDone({ids[0], true, ""}, now_).intents.empty());
  Output rest = engine_->OnCommandDone({ids[1], false, "timeout"}, now_);
  ASSERT_EQ(rest.intents.size(), 1u);
  EXPECT_EQ(rest.intents[0].action->kind, ActionKind::kNotify);
  EXPECT_EQ(engine_->Stats().waiting_runs, 0u);
  EXPECT_TRUE(engine_->OnCommandDone({"unknown", true, ""}, now_).intents.empty());
}

TEST_F(EngineTest, StopOnFailureEndsTheRun) {
  Load(R"(
id: seq
trigger: {event: gas.leak}
actions:
  - command: {target: {devices: [door-1]}, name: unlock, wait: true, stop_on_failure: true}
  - notify: {}
)");
  Output first = engine_->OnEvent(Ev("e1", "gas-1", "gas.leak"), now_);
  ASSERT_EQ(first.intents[0].command_ids.size(), 1u);
  EXPECT_TRUE(engine_->OnCommandDone({first.intents[0].command_ids[0], false, "refused"}, now_).intents.empty());
  EXPECT_EQ(engine_->Stats().waiting_runs, 0u);
}

TEST_F(EngineTest, StateSurvivesARestart) {
  Load(R"(rules:
  - id: offline
    trigger: {presence: {status: offline, for: 10m}}
    actions: [{work_order: {kind: maintenance}}]
  - id: cool
    trigger: {event: sos.pressed}
    cooldown: 1h
    actions: [{notify: {}}]
  - id: seq
    trigger: {event: gas.leak}
    actions:
      - command: {target: {devices: [door-1]}, name: unlock, wait: true}
      - notify: {}
)");
  Persist(engine_->OnStatus({"door-1", "c1", model::Presence::kOffline, now_, "will"}, now_));
  Persist(engine_->OnEvent(Ev("s1", "gas-1", "sos.pressed"), now_));
  Output run = engine_->OnEvent(Ev("g1", "gas-1", "gas.leak"), now_);
  Persist(run);
  const std::string cmd = run.intents[0].command_ids[0];

  // "Restart": a new engine with the same rules and the persisted state.
  engine_ = std::make_unique<Engine>(&reg_);
  (void)engine_->SetRules(rules_);
  engine_->LoadState(Stored());
  EXPECT_EQ(engine_->Stats().armed_timers, 1u);
  EXPECT_EQ(engine_->Stats().waiting_runs, 1u);
  EXPECT_TRUE(engine_->OnEvent(Ev("s2", "gas-1", "sos.pressed"), now_ + 1000).intents.empty());  // cooldown kept
  now_ += 11 * 60'000;
  Output fired = engine_->Tick(now_);
  ASSERT_EQ(fired.intents.size(), 1u);  // the offline timer continued, once
  Persist(fired);
  Output rest = engine_->OnCommandDone({cmd, true, ""}, now_);
  ASSERT_EQ(rest.intents.size(), 1u);  // the waiting run resumed
  Persist(rest);
  // A second restart does not fire the offline rule again.
  engine_ = std::make_unique<Engine>(&reg_);
  (void)engine_->SetRules(rules_);
  engine_->LoadState(Stored());
  EXPECT_TRUE(engine_->Tick(now_ + 60'000).intents.empty());
  EXPECT_EQ(engine_->Stats().waiting_runs, 0u);
}

TEST_F(EngineTest, TimeOfDayAndClearEvents) {
  Load(R"(rules:
  - id: night
    trigger: {event: door.forced}
    time_of_day: ["22:00-06:00"]
    actions: [{alarm: {type: door_forced}}]
  - id: leak
    trigger: {event: gas.leak}
    clear: {event: gas.normal}
    actions: [{alarm: {type: gas_leak, resolve_on_clear: true}}]
)");
  EXPECT_TRUE(engine_->OnEvent(Ev("d1", "door-1", "door.forced"), now_).intents.empty());  // 08:30
  const int64_t night = now_ + 15 * 3'600'000LL;  // 23:30
  EXPECT_EQ(engine_->OnEvent(Ev("d2", "door-1", "door.forced"), night).intents.size(), 1u);
  EXPECT_EQ(engine_->OnEvent(Ev("g1", "gas-1", "gas.leak"), now_).intents.size(), 1u);
  Output clear = engine_->OnEvent(Ev("g2", "gas-1", "gas.normal"), now_);
  ASSERT_EQ(Clears(clear), 1);
  EXPECT_EQ(clear.intents[0].clear_rule_id, "leak");
  EXPECT_EQ(clear.intents[0].key, "gas-1");
}

TEST_F(EngineTest, RemovedRulesDropTheirState) {
  Load(R"(
id: cool
trigger: {event: sos.pressed}
cooldown: 1h
actions: [{notify: {}}]
)");
  Persist(engine_->OnEvent(Ev("s1", "gas-1", "sos.pressed"), now_));
  EXPECT_EQ(store_.size(), 1u);
  Output dropped = engine_->SetRules({});
  Persist(dropped);
  EXPECT_TRUE(store_.empty());
}

}  // namespace
}  // namespace linli::rules
