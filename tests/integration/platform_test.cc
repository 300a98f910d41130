// End-to-end tests of the platform foundation: real mosquitto (dynamic security) and linlid on
// loopback with a temporary SQLite data dir, driven over MQTT and HTTP like a device and an
// operator would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <set>

#include "common/ids.h"
#include "harness.h"

namespace linli::testing {
namespace {

class PlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<Broker>(dir_.path());
    ASSERT_TRUE(broker_->Start()) << broker_->LogTail();
    linlid_ = std::make_unique<Linlid>(dir_.path(), broker_->port());
    ASSERT_TRUE(linlid_->Start()) << linlid_->LogTail();
    token_ = linlid_->AdminToken();
    ASSERT_FALSE(token_.empty()) << linlid_->LogTail();
    ASSERT_EQ(Post("/api/v1/compounds", {{"id", "c1"}, {"name", "幸福里小区"}}).status, 201);
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- linlid log ----\n" << linlid_->LogTail() << "\n---- mosquitto log ----\n"
                << broker_->LogTail() << "\n";
    }
  }

  HttpResponse Post(const std::string& path, const Json& body, const std::string& token = "") {
    return HttpJson(linlid_->http_port(), "POST", path, body, token.empty() ? token_ : token);
  }
  HttpResponse Get(const std::string& path, const std::string& token = "") {
    return Http(linlid_->http_port(), "GET", path, "", token.empty() ? token_ : token);
  }

  // Registers a device and returns its MQTT password.
  std::string CreateDevice(const std::string& compound, const std::string& id, const std::string& kind,
                           Json extra = Json::object()) {
    Json body = {{"id", id}, {"compound_id", compound}, {"kind", kind}};
    body.update(extra);
    auto r = Post("/api/v1/devices", body);
    EXPECT_EQ(r.status, 201) << r.body;
    Json j = r.json();
    EXPECT_TRUE(j.contains("mqtt")) << r.body;
    EXPECT_EQ(j["mqtt"].value("username", ""), id);
    return j["mqtt"].value("password", "");
  }

  std::vector<Json> Events(const std::string& device) {
    auto r = Get("/api/v1/events?device=" + device + "&limit=10000");
    if (r.status != 200) return {};
    std::vector<Json> out;
    const Json body = r.json();
    for (const auto& e : body["items"]) out.push_back(e);
    return out;
  }

  static std::string EventPayload(const std::string& id, const std::string& type, Json data = Json::object()) {
    return Json{{"id", id}, {"ts", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          std::chrono::system_clock::now().time_since_epoch())
                                                          .count())},
                {"type", type}, {"data", data}}
        .dump();
  }

  TempDir dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Linlid> linlid_;
  std::string token_;
};

TEST_F(PlatformTest, DevicePublishesItsOwnDataAndItIsStored) {
  std::string pw = CreateDevice("c1", "gas-1", "gas_sensor");
  MqttClient dev("gas-1");
  dev.SetWill("linli/v1/c1/gas-1/up/status", "offline", 1, true);
  ASSERT_EQ(dev.Connect(broker_->port(), "gas-1", pw), 0);
  ASSERT_TRUE(dev.Publish("linli/v1/c1/gas-1/up/status", "online", 1, true));
  ASSERT_TRUE(dev.Publish("linli/v1/c1/gas-1/up/telemetry", R"({"metrics": {"ch4_ppm": 42.5, "heartbeat": true}})"));
  const std::string id = NewUuid();
  ASSERT_TRUE(dev.Publish("linli/v1/c1/gas-1/up/event", EventPayload(id, "gas.leak", {{"ch4_ppm", 900}})));

  ASSERT_TRUE(WaitFor([&] { return Events("gas-1").size() == 1; }));
  Json e = Events("gas-1")[0];
  EXPECT_EQ(e["id"], id);
  EXPECT_EQ(e["type"], "gas.leak");
  EXPECT_EQ(e["compound_id"], "c1");
  EXPECT_EQ(e["data"]["ch4_ppm"], 900);

  ASSERT_TRUE(WaitFor([&] {
    auto r = Get("/api/v1/devices/gas-1/telemetry?metric=ch4_ppm");
    return r.status == 200 && r.json()["items"].size() == 1;
  }));
  auto t = Get("/api/v1/devices/gas-1/telemetry?metric=ch4_ppm").json()["items"][0];
  EXPECT_DOUBLE_EQ(t["value"].get<double>(), 42.5);

  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/devices/gas-1").json()["presence"].value("status", "") == "online"; }));
  auto online = Get("/api/v1/compounds/c1/online").json();
  EXPECT_EQ(online["total"], 1);
  EXPECT_EQ(online["online"], 1);
}

TEST_F(PlatformTest, DeviceIsRefusedOnAnotherDevicesTopics) {
  std::string pw_a = CreateDevice("c1", "door-a", "door_controller");
  CreateDevice("c1", "door-b", "door_controller");
  MqttClient a("door-a");
  ASSERT_EQ(a.Connect(broker_->port(), "door-a", pw_a), 0);
  // Impersonation attempts: publish as door-b, read door-b's commands.
  a.Publish("linli/v1/c1/door-b/up/event", EventPayload(NewUuid(), "door.forced"));
  a.Publish("linli/v1/c1/door-b/up/status", "offline", 1, true);
  EXPECT_EQ(a.Subscribe("linli/v1/c1/door-b/down/#"), 0x80);
  EXPECT_EQ(a.Subscribe("linli/v1/#"), 0x80);
  EXPECT_EQ(a.Subscribe("linli/v1/c1/door-a/down/#"), 1);
  // A marker on its own topic, published after the attempts on the same connection.
  const std::string marker = NewUuid();
  ASSERT_TRUE(a.Publish("linli/v1/c1/door-a/up/event", EventPayload(marker, "door.passage")));
  ASSERT_TRUE(WaitFor([&] { return Events("door-a").size() == 1; }));
  EXPECT_TRUE(Events("door-b").empty());
  EXPECT_NE(Get("/api/v1/devices/door-b").json()["presence"].value("status", ""), "offline");
}

TEST_F(PlatformTest, WrongOrMissingCredentialsAreRefused) {
  std::string pw = CreateDevice("c1", "sos-1", "sos_button");
  MqttClient wrong("sos-1");
  EXPECT_NE(wrong.Connect(broker_->port(), "sos-1", pw + "x"), 0);
  MqttClient anonymous("anon");
  EXPECT_NE(anonymous.Connect(broker_->port(), "", ""), 0);
  MqttClient unknown("ghost");
  EXPECT_NE(unknown.Connect(broker_->port(), "ghost", "whatever-password"), 0);
  MqttClient right("sos-1");
  EXPECT_EQ(right.Connect(broker_->port(), "sos-1", pw), 0);
  // Rotating the credentials invalidates the old password.
  auto rot = Post("/api/v1/devices/sos-1/credentials", Json::object());
  ASSERT_EQ(rot.status, 200) << rot.body;
  std::string fresh = rot.json()["mqtt"].value("password", "");
  ASSERT_FALSE(fresh.empty());
  MqttClient old_pw("sos-1");
  EXPECT_NE(old_pw.Connect(broker_->port(), "sos-1", pw), 0);
  MqttClient new_pw("sos-1");
  EXPECT_EQ(new_pw.Connect(broker_->port(), "sos-1", fresh), 0);
  // The client id is pinned to the device id: right password, someone else's client id.
  MqttClient other_id("sos-2");
  EXPECT_NE(other_id.Connect(broker_->port(), "sos-1", fresh), 0);
}

TEST_F(PlatformTest, MalformedMessagesAreDeadLetteredNotLost) {
  std::string pw = CreateDevice("c1", "meter-1", "electricity_meter");
  MqttClient dev("meter-1");
  ASSERT_EQ(dev.Connect(broker_->port(), "meter-1", pw), 0);
  const std::string p = "linli/v1/c1/meter-1/up/";
  ASSERT_TRUE(dev.Publish(p + "telemetry", "{not json"));
  ASSERT_TRUE(dev.Publish(p + "telemetry", R"({"metrics": {"kwh": "x", "v": [1]}})"));
  ASSERT_TRUE(dev.Publish(p + "event", R"({"type": "meter.tamper"})"));
  ASSERT_TRUE(dev.Publish(p + "bogus", R"({})"));
  ASSERT_TRUE(dev.Publish(p + "telemetry", std::string(100 * 1024, 'x')));
  ASSERT_TRUE(dev.Publish(p + "status", "maybe"));
  ASSERT_TRUE(WaitFor([&] {
    auto r = Get("/api/v1/dead-letters?limit=100");
    return r.status == 200 && r.json()["items"].size() >= 6;
  })) << Get("/api/v1/dead-letters?limit=100").body;
  std::multiset<std::string> reasons;
  const Json letters = Get("/api/v1/dead-letters?limit=100").json();
  for (const auto& d : letters["items"]) {
    reasons.insert(d.value("reason", ""));
    EXPECT_FALSE(d.value("topic", "").empty());
  }
  EXPECT_EQ(reasons.count("bad_payload"), 4u);
  EXPECT_EQ(reasons.count("malformed_topic"), 1u);
  EXPECT_EQ(reasons.count("oversized"), 1u);
  EXPECT_GE(linlid_->Metric(token_, "linli_ingest_dead_letters_total"), 6);
  // Still serving, and good data still flows.
  ASSERT_TRUE(dev.Publish(p + "telemetry", R"({"metrics": {"kwh": 1234.5}})"));
  ASSERT_TRUE(WaitFor([&] {
    return Get("/api/v1/devices/meter-1/telemetry?metric=kwh").json()["items"].size() == 1;
  }));
  // Dead letters are for admins only.
  ASSERT_EQ(Post("/api/v1/users", {{"username", "op1"}, {"password", "operator-pass-1"}, {"role", "operator"},
                                   {"scopes", {"c1"}}})
                .status,
            201);
  std::string op = linlid_->Login("op1", "operator-pass-1");
  EXPECT_EQ(Get("/api/v1/dead-letters", op).status, 403);
}

TEST_F(PlatformTest, KilledServerLosesNoAcknowledgedMessageAndStoresNoDuplicate) {
  std::string pw = CreateDevice("c1", "door-k", "door_controller");
  MqttClient dev("door-k", /*clean_session=*/false);
  ASSERT_EQ(dev.Connect(broker_->port(), "door-k", pw), 0);
  const int kTotal = 1500;
  std::set<std::string> ids;
  bool killed = false;
  for (int i = 0; i < kTotal; ++i) {
    std::string id = NewUuid();
    ids.insert(id);
    ASSERT_GE(dev.PublishAsync("linli/v1/c1/door-k/up/event",
                               EventPayload(id, "door.passage", {{"seq", i}, {"card_no", "A" + std::to_string(i)}})),
              0);
    if (i == kTotal / 3) {
      // Let some land, then kill linlid hard in the middle of the stream.
      ASSERT_TRUE(WaitFor([&] { return !Events("door-k").empty(); }));
      EXPECT_EQ(linlid_->Stop(SIGKILL) & 0x7f, SIGKILL);
      killed = true;
    }
  }
  ASSERT_TRUE(killed);
  ASSERT_TRUE(dev.WaitAllAcked());  // the broker acknowledged every message to the device
  ASSERT_TRUE(linlid_->Start()) << linlid_->LogTail();
  token_ = linlid_->AdminToken();
  ASSERT_TRUE(WaitFor([&] { return Events("door-k").size() >= kTotal; }, std::chrono::seconds(60)))
      << Events("door-k").size();
  auto events = Events("door-k");
  EXPECT_EQ(events.size(), static_cast<size_t>(kTotal));
  std::set<std::string> stored;
  for (const auto& e : events) stored.insert(e["id"].get<std::string>());
  EXPECT_EQ(stored, ids);
}

TEST_F(PlatformTest, ServerReconnectsAfterBrokerRestart) {
  std::string pw = CreateDevice("c1", "water-1", "water_sensor");
  {
    MqttClient dev("water-1");
    ASSERT_EQ(dev.Connect(broker_->port(), "water-1", pw), 0);
    ASSERT_TRUE(dev.Publish("linli/v1/c1/water-1/up/event", EventPayload(NewUuid(), "water.leak")));
    ASSERT_TRUE(WaitFor([&] { return Events("water-1").size() == 1; }));
  }
  ASSERT_TRUE(broker_->Restart()) << broker_->LogTail();
  MqttClient dev("water-1");
  // The device account survived the restart (dynamic-security config is persisted).
  ASSERT_TRUE(WaitFor([&] { return dev.Connect(broker_->port(), "water-1", pw) == 0; }));
  ASSERT_TRUE(dev.Publish("linli/v1/c1/water-1/up/event", EventPayload(NewUuid(), "water.leak")));
  ASSERT_TRUE(WaitFor([&] { return Events("water-1").size() == 2; }, std::chrono::seconds(30)));
  EXPECT_EQ(Get("/api/v1/health").status, 200);
}

TEST_F(PlatformTest, OfflineDeviceRaisesAFaultThatClosesWhenItReturns) {
  std::string pw = CreateDevice("c1", "smoke-1", "smoke_sensor");
  {
    MqttClient dev("smoke-1");
    dev.SetWill("linli/v1/c1/smoke-1/up/status", "offline", 1, true);
    ASSERT_EQ(dev.Connect(broker_->port(), "smoke-1", pw), 0);
    ASSERT_TRUE(dev.Publish("linli/v1/c1/smoke-1/up/status", "online", 1, true));
    ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/devices/smoke-1").json()["presence"].value("status", "") == "online"; }));
    dev.Abort();  // power cut: the broker publishes the will
  }
  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/devices/smoke-1").json()["presence"].value("status", "") == "offline"; }));
  ASSERT_TRUE(WaitFor([&] {
    auto f = Get("/api/v1/faults?device=smoke-1&open=true").json()["items"];
    return f.size() == 1 && f[0].value("kind", "") == "offline";
  })) << Get("/api/v1/faults?device=smoke-1").body;
  MqttClient back("smoke-1");
  ASSERT_EQ(back.Connect(broker_->port(), "smoke-1", pw), 0);
  ASSERT_TRUE(back.Publish("linli/v1/c1/smoke-1/up/status", "online", 1, true));
  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/faults?device=smoke-1&open=true").json()["items"].empty(); }));
  auto history = Get("/api/v1/devices/smoke-1/status-history").json()["items"];
  std::vector<std::string> states;
  for (const auto& h : history) states.push_back(h.value("status", ""));
  EXPECT_GE(states.size(), 3u);
}

TEST_F(PlatformTest, SilentDeviceTimesOutByItsHeartbeat) {
  std::string pw = CreateDevice("c1", "meter-hb", "electricity_meter", {{"heartbeat_timeout_s", 5}});
  MqttClient dev("meter-hb");
  ASSERT_EQ(dev.Connect(broker_->port(), "meter-hb", pw), 0);
  ASSERT_TRUE(dev.Publish("linli/v1/c1/meter-hb/up/telemetry", R"({"metrics": {"kwh": 1}})"));
  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/devices/meter-hb").json()["presence"].value("status", "") == "online"; }));
  // Still connected but silent: the heartbeat timeout, not a will, takes it offline.
  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/devices/meter-hb").json()["presence"].value("status", "") == "offline"; },
                      std::chrono::seconds(15)));
  auto history = Get("/api/v1/devices/meter-hb/status-history").json()["items"];
  bool timeout_seen = false;
  for (const auto& h : history) timeout_seen |= h.value("reason", "") == "heartbeat_timeout";
  EXPECT_TRUE(timeout_seen) << history.dump();
}

TEST_F(PlatformTest, EveryRoleIsRefusedOnAnotherCompoundsData) {
  // Compound c2 with one of everything; users scoped to c1.
  ASSERT_EQ(Post("/api/v1/compounds", {{"id", "c2"}, {"name", "和平小区"}}).status, 201);
  for (const std::string c : {"c1", "c2"}) {
    ASSERT_EQ(Post("/api/v1/buildings", {{"id", c + "-b1"}, {"compound_id", c}, {"name", "1栋"}}).status, 201);
    ASSERT_EQ(Post("/api/v1/units", {{"id", c + "-u1"}, {"building_id", c + "-b1"}, {"name", "1单元"}}).status, 201);
    ASSERT_EQ(Post("/api/v1/rooms", {{"id", c + "-r101"}, {"unit_id", c + "-u1"}, {"floor", 1}, {"number", "101"}}).status,
              201);
    ASSERT_EQ(Post("/api/v1/persons", {{"id", c + "-p1"}, {"compound_id", c}, {"name", "张三"},
                                       {"room_id", c + "-r101"}, {"relation", "owner"}, {"phone", "13800138000"}})
                  .status,
              201);
    CreateDevice(c, c + "-door", "door_controller");
  }
  const char* roles[] = {"operator", "technician", "grid_worker", "police", "resident", "integrator"};
  for (const std::string role : roles) {
    Json user = {{"username", "u-" + role}, {"password", "password-" + role}, {"role", role}, {"scopes", {"c1"}}};
    if (role == "resident") user["person_id"] = "c1-p1";
    ASSERT_EQ(Post("/api/v1/users", user).status, 201) << role;
    std::string tok = linlid_->Login("u-" + role, "password-" + role);
    ASSERT_FALSE(tok.empty()) << role;
    for (const std::string path : {"/api/v1/compounds/c2", "/api/v1/buildings/c2-b1", "/api/v1/rooms/c2-r101",
                                   "/api/v1/persons/c2-p1", "/api/v1/devices/c2-door",
                                   "/api/v1/devices/c2-door/telemetry", "/api/v1/compounds/c2/online",
                                   "/api/v1/events?compound=c2"}) {
      int status = Get(path, tok).status;
      EXPECT_TRUE(status == 403 || status == 404) << role << " GET " << path << " → " << status;
    }
    for (const std::string coll : {"compounds", "buildings", "rooms", "persons", "devices"}) {
      auto r = Get("/api/v1/" + coll + "?limit=1000", tok);
      if (r.status != 200) {
        EXPECT_EQ(r.status, 403) << role << " " << coll;
        continue;
      }
      const Json body = r.json();
      for (const auto& item : body["items"]) {
        EXPECT_NE(item.value("compound_id", item.value("id", "")), "c2") << role << " sees " << item.dump();
      }
    }
    int write = Post("/api/v1/buildings", {{"compound_id", "c2"}, {"name", "X栋"}}, tok).status;
    EXPECT_TRUE(write == 403 || write == 404 || write == 400) << role << " created a building in c2: " << write;
    int dev = Post("/api/v1/devices", {{"compound_id", "c2"}, {"kind", "door_controller"}}, tok).status;
    EXPECT_TRUE(dev == 403 || dev == 404 || dev == 400) << role << " created a device in c2: " << dev;
  }
  // Without a token nothing is readable.
  EXPECT_EQ(Http(linlid_->http_port(), "GET", "/api/v1/persons").status, 401);
}

TEST_F(PlatformTest, CsvImportReportsRejectedRowsAndImportsTheRest) {
  std::ofstream(dir_.path() + "/buildings.csv") << "id,compound_id,name,floors\n"
                                                   "b1,c1,1栋,18\n"
                                                   "b2,c1,2栋,eighteen\n"
                                                   "b3,nope,3栋,6\n"
                                                   "\"b4\",c1,\"4栋, 东\",33\n";
  Process imp;
  imp.Start({BinPath("linlid"), "import", "--data-dir", dir_.path(), "--kind", "buildings", "--no-progress",
             dir_.path() + "/buildings.csv"},
            dir_.path() + "/import.log");
  int status = imp.Stop(0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << imp.LogTail();  // some rows were rejected
  EXPECT_NE(imp.LogTail().find("imported 2 buildings, rejected 2"), std::string::npos) << imp.LogTail();
  EXPECT_EQ(Get("/api/v1/buildings/b1").status, 200);
  EXPECT_EQ(Get("/api/v1/buildings/b4").json().value("name", ""), "4栋, 东");
  EXPECT_EQ(Get("/api/v1/buildings/b2").status, 404);
  std::ifstream rejected(dir_.path() + "/buildings.csv.rejected.csv");
  std::string header, line1, line2;
  std::getline(rejected, header);
  std::getline(rejected, line1);
  std::getline(rejected, line2);
  EXPECT_EQ(header.rfind("line,field,error", 0), 0u);
  EXPECT_EQ(line1.rfind("3,floors,", 0), 0u) << line1;
  EXPECT_EQ(line2.rfind("4,compound_id,", 0), 0u) << line2;
}

TEST_F(PlatformTest, GracefulShutdownOnSigterm) {
  int status = linlid_->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << linlid_->LogTail();
  EXPECT_NE(linlid_->LogTail().find("stopped"), std::string::npos);
}

}  // namespace
}  // namespace linli::testing
