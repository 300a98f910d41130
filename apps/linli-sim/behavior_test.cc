#include "behavior.h"

#include <gtest/gtest.h>

#include <map>

#include "common/ids.h"
#include "common/json.h"
#include "fleet.h"
#include "model/registry.h"

namespace linli::sim {
namespace {

class BehaviorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorldOptions o;
    o.seed = 5;
    o.compounds = 1;
    o.devices_per_kind = 1;
    auto w = PlanWorld(o);
    ASSERT_TRUE(w.has_value());
    world_ = std::move(*w);
  }
  const SimDevice& DeviceOf(const std::string& kind) {
    for (const auto& d : world_.devices) {
      if (d.kind == kind) return d;
    }
    ADD_FAILURE() << "no " << kind;
    return world_.devices.front();
  }
  IdSource Counter() {
    return [n = std::make_shared<int>(0)]() { return "00000000-0000-4000-8000-" + std::to_string(100000000000 + ++*n); };
  }
  World world_;
};

// Checks the protocol shape of one up/ message.
void ExpectWellFormed(const Outgoing& m, int64_t now) {
  auto j = ParseJson(m.payload);
  ASSERT_TRUE(j.has_value()) << m.payload;
  EXPECT_EQ((*j)["ts"], now);
  if (m.subtopic == "up/telemetry") {
    ASSERT_TRUE((*j)["metrics"].is_object());
    EXPECT_FALSE((*j)["metrics"].empty());
    for (const auto& [k, v] : (*j)["metrics"].items()) {
      EXPECT_TRUE(v.is_number() || v.is_boolean() || v.is_string()) << k;
    }
  } else {
    ASSERT_EQ(m.subtopic, "up/event");
    EXPECT_TRUE(IsUuid((*j)["id"].get<std::string>()));
    EXPECT_TRUE((*j)["type"].is_string());
    EXPECT_TRUE((*j)["data"].is_object());
  }
}

TEST_F(BehaviorTest, EveryKindProducesWellFormedTraffic) {
  const int64_t now = 1'750'000'000'000;
  for (const auto& d : world_.devices) {
    DeviceBehavior b(d, &world_.compounds[0], 1);
    ExpectWellFormed(b.Heartbeat(now), now);
    for (int i = 0; i < 200; ++i) ExpectWellFormed(b.Activity(now, NewUuid), now);
  }
}

TEST_F(BehaviorTest, DoorPassagesNameRegisteredPeopleAndTheirCards) {
  const auto& compound = world_.compounds[0];
  std::map<std::string, std::string> card_of;
  for (const auto& p : compound.persons) card_of[p.id] = p.card_no;
  DeviceBehavior b(DeviceOf("door_controller"), &compound, 1);
  int passages = 0, door_open = 0;
  for (int i = 0; i < 500; ++i) {
    auto m = b.Activity(1000 + i, NewUuid);
    auto j = *ParseJson(m.payload);
    if (m.subtopic == "up/event") {
      ASSERT_EQ(j["type"], "door.passage");
      const std::string pid = j["data"]["person_id"];
      ASSERT_TRUE(card_of.count(pid)) << pid;
      EXPECT_EQ(j["data"]["card_no"], card_of[pid]);
      EXPECT_TRUE(j["data"]["direction"] == "in" || j["data"]["direction"] == "out");
      ++passages;
    } else {
      EXPECT_TRUE(j["metrics"]["door_open"].is_boolean());
      ++door_open;
    }
  }
  EXPECT_GT(passages, 300);
  EXPECT_GT(door_open, 50);
}

TEST_F(BehaviorTest, GatePlatesAreValidAndMostlyRegistered) {
  const auto& compound = world_.compounds[0];
  ASSERT_FALSE(compound.plates.empty());
  DeviceBehavior b(DeviceOf("barrier_gate"), &compound, 1);
  int known = 0, total = 0;
  for (int i = 0; i < 500; ++i) {
    auto m = b.Activity(1, NewUuid);
    if (m.subtopic != "up/event") continue;
    auto j = *ParseJson(m.payload);
    ASSERT_EQ(j["type"], "vehicle.passage");
    const std::string plate = j["data"]["plate"];
    EXPECT_TRUE(model::IsValidPlate(plate)) << plate;
    ++total;
    known += std::count(compound.plates.begin(), compound.plates.end(), plate) > 0;
  }
  EXPECT_GT(total, 300);
  EXPECT_GT(known, total * 7 / 10);
}

TEST_F(BehaviorTest, RareAlarmsHappenAtRoughlyTheConfiguredRate) {
  AlarmRates rates;
  rates.gas_leak = 0.05;
  DeviceBehavior b(DeviceOf("gas_sensor"), &world_.compounds[0], 1, rates);
  int leaks = 0;
  for (int i = 0; i < 4000; ++i) {
    auto m = b.Activity(1, NewUuid);
    if (m.subtopic == "up/event") {
      EXPECT_TRUE(m.alarm);
      EXPECT_EQ((*ParseJson(m.payload))["type"], "gas.leak");
      ++leaks;
    } else {
      EXPECT_TRUE((*ParseJson(m.payload))["metrics"]["ch4_ppm"].is_number());
    }
  }
  EXPECT_GT(leaks, 120);  // expected 200
  EXPECT_LT(leaks, 290);
}

TEST_F(BehaviorTest, MeterEnergyOnlyGrows) {
  DeviceBehavior b(DeviceOf("electricity_meter"), &world_.compounds[0], 1);
  double last = 0;
  for (int i = 0; i < 100; ++i) {
    auto j = *ParseJson(b.Activity(1, NewUuid).payload);
    const double kwh = j["metrics"]["kwh"];
    EXPECT_GE(kwh, last);
    last = kwh;
    EXPECT_NEAR(j["metrics"]["voltage"].get<double>(), 220, 20);
  }
}

TEST_F(BehaviorTest, SameSeedSameTraffic) {
  const auto& d = DeviceOf("smoke_sensor");
  DeviceBehavior a(d, &world_.compounds[0], 9), b(d, &world_.compounds[0], 9), c(d, &world_.compounds[0], 10);
  auto ids_a = Counter(), ids_b = Counter(), ids_c = Counter();
  bool differs = false;
  for (int i = 0; i < 50; ++i) {
    const std::string pa = a.Activity(i, ids_a).payload;
    EXPECT_EQ(pa, b.Activity(i, ids_b).payload);
    differs = differs || pa != c.Activity(i, ids_c).payload;
  }
  EXPECT_TRUE(differs);
}

// The command payload of docs/protocol.md, as a rule or an operator sends it.
std::string Command(const std::string& id, const std::string& name, int64_t expires,
                    const std::string& args = "{}") {
  return R"({"id":")" + id + R"(","ts":1000,"name":")" + name + R"(","args":)" + args +
         R"(,"expires":)" + std::to_string(expires) + R"(,"cause":{"kind":"event","id":"ev-7"}})";
}

Json AckOf(const std::vector<Outgoing>& out) {
  EXPECT_FALSE(out.empty());
  if (out.empty()) return Json();
  EXPECT_EQ(out[0].subtopic, "up/ack");
  return *ParseJson(out[0].payload);
}

TEST_F(BehaviorTest, DoorUnlockIsAckedAndReported) {
  DeviceBehavior b(DeviceOf("door_controller"), &world_.compounds[0], 1);
  std::string error;
  auto out = b.HandleCommand(Command("c-1", "unlock", 2000, R"({"duration_s":30})"), 1500, NewUuid, &error);
  EXPECT_TRUE(error.empty()) << error;
  ASSERT_EQ(out.size(), 3u);
  auto ack = AckOf(out);
  EXPECT_EQ(ack["command_id"], "c-1");
  EXPECT_EQ(ack["ok"], true);
  EXPECT_TRUE(ack["error"].is_null());
  ASSERT_EQ(out[1].subtopic, "up/event");
  auto ev = *ParseJson(out[1].payload);
  EXPECT_EQ(ev["type"], "door.unlocked");
  EXPECT_TRUE(IsUuid(ev["id"].get<std::string>()));
  EXPECT_EQ(ev["ts"], 1500);
  EXPECT_EQ(ev["data"]["command_id"], "c-1");
  EXPECT_EQ(ev["data"]["duration_s"], 30);
  EXPECT_EQ(ev["data"]["cause"]["kind"], "event");
  EXPECT_EQ(ev["data"]["cause"]["id"], "ev-7");
  ASSERT_EQ(out[2].subtopic, "up/telemetry");
  EXPECT_EQ((*ParseJson(out[2].payload))["metrics"]["door_open"], true);
}

TEST_F(BehaviorTest, DoorLockIsAckedAndReported) {
  DeviceBehavior b(DeviceOf("door_controller"), &world_.compounds[0], 1);
  std::string error;
  b.HandleCommand(Command("u", "unlock", 0), 10, NewUuid, &error);
  auto out = b.HandleCommand(Command("l", "lock", 0), 20, NewUuid, &error);
  EXPECT_TRUE(error.empty()) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(AckOf(out)["ok"], true);
  EXPECT_EQ((*ParseJson(out[1].payload))["type"], "door.locked");
  EXPECT_EQ((*ParseJson(out[1].payload))["data"]["command_id"], "l");
  EXPECT_EQ((*ParseJson(out[2].payload))["metrics"]["door_open"], false);
}

TEST_F(BehaviorTest, AlarmCommandsSoundAndSilenceIt) {
  DeviceBehavior alarm(DeviceOf("sound_light_alarm"), &world_.compounds[0], 1);
  std::string error;
  EXPECT_EQ((*ParseJson(alarm.Activity(1, NewUuid).payload))["metrics"]["sounding"], false);
  auto on = alarm.HandleCommand(Command("x", "alarm_on", 0), 5, NewUuid, &error);
  EXPECT_TRUE(error.empty()) << error;
  ASSERT_EQ(on.size(), 3u);
  EXPECT_EQ(AckOf(on)["ok"], true);
  auto ev = *ParseJson(on[1].payload);
  EXPECT_EQ(ev["type"], "alarm.on");
  EXPECT_EQ(ev["data"]["command_id"], "x");
  EXPECT_EQ(ev["data"]["cause"]["id"], "ev-7");
  EXPECT_EQ((*ParseJson(on[2].payload))["metrics"]["sounding"], true);
  // Its regular telemetry keeps saying so.
  EXPECT_EQ((*ParseJson(alarm.Activity(6, NewUuid).payload))["metrics"]["sounding"], true);
  auto off = alarm.HandleCommand(Command("y", "alarm_off", 0), 7, NewUuid, &error);
  ASSERT_EQ(off.size(), 3u);
  EXPECT_EQ((*ParseJson(off[1].payload))["type"], "alarm.off");
  EXPECT_EQ((*ParseJson(off[2].payload))["metrics"]["sounding"], false);
  EXPECT_EQ((*ParseJson(alarm.Activity(8, NewUuid).payload))["metrics"]["sounding"], false);
}

TEST_F(BehaviorTest, BarrierCommandsRaiseAndLowerIt) {
  DeviceBehavior gate(DeviceOf("barrier_gate"), &world_.compounds[0], 1);
  std::string error;
  auto raised = gate.HandleCommand(Command("g", "raise", 0), 5, NewUuid, &error);
  EXPECT_TRUE(error.empty()) << error;
  ASSERT_EQ(raised.size(), 3u);
  EXPECT_EQ(AckOf(raised)["ok"], true);
  EXPECT_EQ((*ParseJson(raised[1].payload))["type"], "barrier.raised");
  EXPECT_EQ((*ParseJson(raised[1].payload))["data"]["command_id"], "g");
  EXPECT_EQ((*ParseJson(raised[2].payload))["metrics"]["barrier_up"], true);
  auto lowered = gate.HandleCommand(Command("h", "lower", 0), 6, NewUuid, &error);
  ASSERT_EQ(lowered.size(), 3u);
  EXPECT_EQ((*ParseJson(lowered[1].payload))["type"], "barrier.lowered");
  EXPECT_EQ((*ParseJson(lowered[2].payload))["metrics"]["barrier_up"], false);
}

TEST_F(BehaviorTest, ExpiredCommandsAreRefusedAndNotExecuted) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"door_controller", "unlock"}, {"barrier_gate", "raise"}, {"sound_light_alarm", "alarm_on"}};
  for (const auto& [kind, name] : cases) {
    DeviceBehavior b(DeviceOf(kind), &world_.compounds[0], 1);
    std::string error;
    // Received one millisecond after `expires`: an ack with ok=false, nothing else.
    auto out = b.HandleCommand(Command("late", name, 1999), 2000, NewUuid, &error);
    ASSERT_EQ(out.size(), 1u) << kind;
    auto ack = AckOf(out);
    EXPECT_EQ(ack["command_id"], "late");
    EXPECT_EQ(ack["ok"], false);
    EXPECT_EQ(ack["error"], "expired");
    EXPECT_EQ(error, "expired");
    // At `expires` exactly it is still valid.
    error.clear();
    out = b.HandleCommand(Command("just", name, 2000), 2000, NewUuid, &error);
    EXPECT_EQ(AckOf(out)["ok"], true) << kind << ": " << error;
  }
  // The state did not change on the refused command.
  DeviceBehavior alarm(DeviceOf("sound_light_alarm"), &world_.compounds[0], 1);
  std::string error;
  alarm.HandleCommand(Command("late", "alarm_on", 10), 20, NewUuid, &error);
  EXPECT_EQ((*ParseJson(alarm.Activity(21, NewUuid).payload))["metrics"]["sounding"], false);
  // A fractional expiry is an expiry too.
  error.clear();
  auto out = alarm.HandleCommand(R"({"id":"f","name":"alarm_on","expires":10.5})", 20, NewUuid, &error);
  EXPECT_EQ(AckOf(out)["error"], "expired");
}

TEST_F(BehaviorTest, BadCommandsAreRefusedWithoutCrashing) {
  DeviceBehavior b(DeviceOf("gas_sensor"), &world_.compounds[0], 1);
  std::string error;
  // Unsupported for this kind: a negative ack.
  auto out = b.HandleCommand(R"({"id":"c","name":"unlock"})", 1, NewUuid, &error);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ((*ParseJson(out[0].payload))["ok"], false);
  EXPECT_FALSE(error.empty());
  // Expired.
  error.clear();
  out = b.HandleCommand(R"({"id":"c","name":"ping","expires":50})", 100, NewUuid, &error);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ((*ParseJson(out[0].payload))["error"], "expired");
  // Malformed fields that still carry an id: a negative ack naming the problem.
  DeviceBehavior door(DeviceOf("door_controller"), &world_.compounds[0], 1);
  for (std::string_view bad : {R"({"id":"c","name":"unlock","expires":"soon"})",
                               R"({"id":"c","name":"unlock","args":[1]})",
                               R"({"id":"c","name":"unlock","args":{"duration_s":"long"}})",
                               R"({"id":"c","name":"unlock","args":{"duration_s":0}})", R"({"id":"c"})",
                               R"({"id":"c","name":"explode"})"}) {
    error.clear();
    out = door.HandleCommand(bad, 1, NewUuid, &error);
    ASSERT_EQ(out.size(), 1u) << bad;
    EXPECT_EQ((*ParseJson(out[0].payload))["ok"], false) << bad;
    EXPECT_FALSE((*ParseJson(out[0].payload))["error"].get<std::string>().empty()) << bad;
  }
  // Nothing to correlate with: no ack at all.
  for (std::string_view bad : {"not json", "[]", R"({"name":"unlock"})", R"({"id":5,"name":"x"})", ""}) {
    error.clear();
    EXPECT_TRUE(b.HandleCommand(bad, 1, NewUuid, &error).empty()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(NeverAcksTest, FractionIsDeterministicAndListedDevicesAlwaysMute) {
  FleetOptions o;
  o.seed = 3;
  EXPECT_FALSE(NeverAcks(o, "d1"));
  o.no_ack_devices = {"d1"};
  EXPECT_TRUE(NeverAcks(o, "d1"));
  EXPECT_FALSE(NeverAcks(o, "d2"));
  o.fault_no_ack = 0.25;
  int mute = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = "dev-" + std::to_string(i);
    const bool m = NeverAcks(o, id);
    EXPECT_EQ(m, NeverAcks(o, id));  // same answer every time
    mute += m;
  }
  EXPECT_GT(mute, 400);  // expected 500
  EXPECT_LT(mute, 600);
  o.fault_no_ack = 1;
  EXPECT_TRUE(NeverAcks(o, "anything"));
  o.fault_no_ack = 1.5;
  EXPECT_FALSE(ValidateFleetOptions(o).has_value());
}

TEST(BadMessageTest, EveryVariantIsActuallyBad) {
  Rng rng(1);
  std::map<std::string, int> reasons;
  for (int i = 0; i < 500; ++i) {
    BadMessage b = MakeBadMessage(rng, 1000);
    ++reasons[b.reason];
    const auto& m = b.message;
    if (b.reason == "wrong_topic_shape" || b.reason == "unknown_topic") {
      EXPECT_NE(m.subtopic, "up/telemetry");
      EXPECT_NE(m.subtopic, "up/event");
      continue;
    }
    if (b.reason == "oversized") {
      EXPECT_GT(m.payload.size(), 256u * 1024);
      continue;
    }
    auto j = ParseJson(m.payload);
    if (!j) continue;  // invalid JSON or invalid UTF-8
    if (m.subtopic == "up/event") {
      EXPECT_FALSE(j->contains("id") && IsUuid((*j)["id"].get<std::string>())) << m.payload;
    } else {
      const bool ok_ts = (*j)["ts"].is_number_integer();
      bool flat = (*j)["metrics"].is_object();
      if (flat) {
        for (const auto& [k, v] : (*j)["metrics"].items()) flat = flat && !v.is_structured();
      }
      EXPECT_FALSE(ok_ts && flat) << m.payload;
    }
  }
  EXPECT_EQ(reasons.size(), 9u);
}

}  // namespace
}  // namespace linli::sim
