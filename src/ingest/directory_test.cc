#include "ingest/directory.h"

#include <gtest/gtest.h>

namespace linli::ingest {
namespace {

model::Record Device(const std::string& id, const std::string& compound, const std::string& kind,
                     int heartbeat = 0) {
  model::Record r;
  r.kind = model::Kind::kDevice;
  r.id = id;
  r.compound_id = compound;
  r.fields = {{"compound_id", compound}, {"kind", kind}};
  if (heartbeat > 0) r.fields["heartbeat_timeout_s"] = heartbeat;
  return r;
}

TEST(DeviceDirectoryTest, TrafficBringsDevicesOnlineOnce) {
  DeviceDirectory dir;
  dir.Load({Device("d1", "c1", "gas_sensor"), Device("d2", "c1", "door_controller")}, {});
  EXPECT_EQ(dir.CompoundCounts("c1").total, 2);
  EXPECT_EQ(dir.CompoundCounts("c1").online, 0);
  std::vector<Observation> obs = {{"d1", 1000, std::nullopt, "telemetry"},
                                  {"d1", 1001, std::nullopt, "telemetry"},
                                  {"unknown", 1002, std::nullopt, "telemetry"}};
  auto changes = dir.Plan(obs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].device_id, "d1");
  EXPECT_EQ(changes[0].status, model::Presence::kOnline);
  EXPECT_EQ(changes[0].compound_id, "c1");
  // Planning does not mutate.
  EXPECT_EQ(dir.Find("d1")->status, model::Presence::kUnknown);
  dir.Apply(obs, changes);
  EXPECT_EQ(dir.Find("d1")->status, model::Presence::kOnline);
  EXPECT_EQ(dir.Find("d1")->last_seen_ms, 1001);
  EXPECT_EQ(dir.CompoundCounts("c1").online, 1);
  EXPECT_TRUE(dir.Plan(obs).empty());
}

TEST(DeviceDirectoryTest, StatusTopicSequenceWithinOneBurst) {
  DeviceDirectory dir;
  dir.Load({Device("d1", "c1", "gas_sensor")}, {});
  std::vector<Observation> obs = {{"d1", 10, model::Presence::kOnline, "status_topic"},
                                  {"d1", 20, model::Presence::kOffline, "status_topic"},
                                  {"d1", 30, model::Presence::kOffline, "status_topic"}};
  auto changes = dir.Plan(obs);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].status, model::Presence::kOnline);
  EXPECT_EQ(changes[1].status, model::Presence::kOffline);
  dir.Apply(obs, changes);
  EXPECT_EQ(dir.CompoundCounts("c1").online, 0);
  // A late queued telemetry message older than the offline status does not revive it.
  EXPECT_TRUE(dir.Plan({{"d1", 15, std::nullopt, "telemetry"}}).empty());
  EXPECT_EQ(dir.Plan({{"d1", 40, std::nullopt, "telemetry"}}).size(), 1u);
}

TEST(DeviceDirectoryTest, HeartbeatTimeoutPerKindAndOverride) {
  DeviceDirectory dir;
  dir.Load({Device("gas", "c1", "gas_sensor"), Device("door", "c1", "door_controller"),
            Device("fast", "c2", "gas_sensor", 10)},
           {});
  std::vector<Observation> obs = {{"gas", 0, std::nullopt, "telemetry"},
                                  {"door", 0, std::nullopt, "telemetry"},
                                  {"fast", 0, std::nullopt, "telemetry"}};
  dir.Apply(obs, dir.Plan(obs));
  EXPECT_TRUE(dir.PlanTimeouts(10'000).empty());
  auto t1 = dir.PlanTimeouts(10'001);
  ASSERT_EQ(t1.size(), 1u);
  EXPECT_EQ(t1[0].device_id, "fast");
  EXPECT_EQ(t1[0].reason, "heartbeat_timeout");
  // door_controller default 120 s, gas_sensor 300 s.
  auto t2 = dir.PlanTimeouts(120'001);
  EXPECT_EQ(t2.size(), 2u);
  dir.Apply({}, t2);
  EXPECT_EQ(dir.CompoundCounts("c1").online, 1);
  EXPECT_EQ(dir.PlanTimeouts(300'001).size(), 1u);
}

TEST(DeviceDirectoryTest, NeverSeenDevicesDoNotTimeOut) {
  DeviceDirectory dir;
  dir.Load({Device("d1", "c1", "camera")}, {});
  EXPECT_TRUE(dir.PlanTimeouts(1'000'000'000).empty());
}

TEST(DeviceDirectoryTest, LoadRestoresPersistedStateAndUpsertKeepsPresence) {
  DeviceDirectory dir;
  store::Store::DeviceState s;
  s.device_id = "d1";
  s.status = model::Presence::kOnline;
  s.status_ms = 5;
  s.last_seen_ms = 7;
  dir.Load({Device("d1", "c1", "gas_sensor")}, {s});
  EXPECT_EQ(dir.CompoundCounts("c1").online, 1);
  dir.Upsert(Device("d1", "c1", "smoke_sensor"));
  EXPECT_EQ(dir.Find("d1")->kind, "smoke_sensor");
  EXPECT_EQ(dir.Find("d1")->status, model::Presence::kOnline);
  EXPECT_EQ(dir.CompoundCounts("c1").online, 1);
  dir.Remove("d1");
  EXPECT_EQ(dir.CompoundCounts("c1").total, 0);
  EXPECT_EQ(dir.CompoundCounts("c1").online, 0);
  EXPECT_FALSE(dir.CompoundOf("d1"));
}

TEST(DeviceDirectoryTest, LastSeenPersistedAtMostPerInterval) {
  DeviceDirectory dir(1000);
  dir.Load({Device("d1", "c1", "gas_sensor")}, {});
  dir.Apply({{"d1", 500, std::nullopt, "telemetry"}}, {});
  EXPECT_TRUE(dir.TakeLastSeenToPersist().empty());
  dir.Apply({{"d1", 1500, std::nullopt, "telemetry"}}, {});
  dir.Apply({{"d1", 1600, std::nullopt, "telemetry"}}, {});
  auto due = dir.TakeLastSeenToPersist();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].second, 1600);
  EXPECT_TRUE(dir.TakeLastSeenToPersist().empty());
}

}  // namespace
}  // namespace linli::ingest
