// End-to-end tests of linkage and incident handling: real mosquitto and linlid on loopback,
// devices as libmosquitto clients that receive commands on their down/command topic and
// acknowledge them (or not), operators over HTTP.
#include <gtest/gtest.h>

#include <csignal>
#include <set>
#include <thread>

#include "common/ids.h"
#include "harness.h"

namespace linli::testing {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Short timings so that the test runs in seconds: escalation after 2 s, command timeout 1 s.
const char* kFastGasRule = R"(id: fast-gas
name: 燃气泄漏（测试）
trigger: {event: gas.leak}
scope: {device_kinds: [gas_sensor]}
actions:
  - alarm:
      type: gas_leak
      level: critical
      title: "燃气泄漏：{building.name}"
      escalation:
        - {after: 2s, unless: acknowledged, contacts: [fire_brigade], roles: [operator]}
  - command:
      target: {kinds: [door_controller], same: building}
      name: unlock
      args: {duration_s: 60}
      timeout: 1s
      retries: 1
      expires: 30s
)";

class LinkageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<Broker>(dir_.path());
    ASSERT_TRUE(broker_->Start()) << broker_->LogTail();
    linlid_ = std::make_unique<Linlid>(dir_.path(), broker_->port());
    ASSERT_TRUE(linlid_->Start()) << linlid_->LogTail();
    token_ = linlid_->AdminToken();
    ASSERT_FALSE(token_.empty());
    for (const char* c : {"c1", "c2"}) ASSERT_EQ(Post("/api/v1/compounds", {{"id", c}, {"name", c}}).status, 201);
    ASSERT_EQ(Post("/api/v1/buildings", {{"id", "b1"}, {"compound_id", "c1"}, {"name", "1号楼"}}).status, 201);
    ASSERT_EQ(Post("/api/v1/buildings", {{"id", "b2"}, {"compound_id", "c1"}, {"name", "2号楼"}}).status, 201);
    ASSERT_EQ(Post("/api/v1/contacts", {{"id", "fire"}, {"compound_id", "c1"}, {"role", "fire_brigade"}, {"name", "消防"}})
                  .status,
              201);
    passwords_["gas-1"] = CreateDevice("c1", "gas-1", "gas_sensor", {{"building_id", "b1"}});
    passwords_["door-1"] = CreateDevice("c1", "door-1", "door_controller", {{"building_id", "b1"}});
    passwords_["door-2"] = CreateDevice("c1", "door-2", "door_controller", {{"building_id", "b1"}});
    passwords_["door-3"] = CreateDevice("c1", "door-3", "door_controller", {{"building_id", "b2"}});
    passwords_["door-x"] = CreateDevice("c2", "door-x", "door_controller");
    // Replace the built-in gas rule by the fast one.
    ASSERT_EQ(HttpJson(linlid_->http_port(), "PATCH", "/api/v1/rules/gas-leak", {{"enabled", false}}, token_).status, 200);
    auto created = Http(linlid_->http_port(), "POST", "/api/v1/rules", kFastGasRule, token_, "application/yaml");
    ASSERT_EQ(created.status, 201) << created.body;
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
  std::string CreateDevice(const std::string& compound, const std::string& id, const std::string& kind, Json extra = Json::object()) {
    Json body = {{"id", id}, {"compound_id", compound}, {"kind", kind}, {"name", id}};
    body.update(extra);
    auto r = Post("/api/v1/devices", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["mqtt"].value("password", "");
  }
  std::unique_ptr<MqttClient> Connect(const std::string& id, const std::string& compound = "c1") {
    auto c = std::make_unique<MqttClient>(id);
    EXPECT_EQ(c->Connect(broker_->port(), id, passwords_[id]), 0);
    EXPECT_EQ(c->Subscribe("linli/v1/" + compound + "/" + id + "/down/command", 1), 1);
    return c;
  }
  // Commands the device received so far, parsed.
  static std::vector<Json> Commands(MqttClient& c) {
    std::vector<Json> out;
    for (const auto& [topic, payload] : c.Received()) {
      if (topic.find("/down/command") != std::string::npos) out.push_back(Json::parse(payload, nullptr, false));
    }
    return out;
  }
  static void Ack(MqttClient& c, const std::string& compound, const std::string& id, const Json& cmd, bool ok) {
    Json ack = {{"command_id", cmd["id"]}, {"ok", ok}, {"error", ok ? Json(nullptr) : Json("jammed")}};
    ASSERT_TRUE(c.Publish("linli/v1/" + compound + "/" + id + "/up/ack", ack.dump(), 1));
  }
  bool Leak(MqttClient& gas, const std::string& event_id) {
    Json ev = {{"id", event_id}, {"ts", NowMs()}, {"type", "gas.leak"}, {"data", {{"ch4_ppm", 880}}}};
    return gas.Publish("linli/v1/c1/gas-1/up/event", ev.dump(), 1);
  }
  Json Alarms() { return Get("/api/v1/alarms?limit=100").json(); }
  Json Alarm(const std::string& id) { return Get("/api/v1/alarms/" + id).json(); }
  static int Count(const Json& log, const std::string& action) {
    int n = 0;
    for (const auto& e : log) n += e.value("action", "") == action ? 1 : 0;
    return n;
  }
  std::string CreateUser(const std::string& name, const std::string& role, const Json& scopes) {
    Json u = {{"username", name}, {"role", role}, {"password", "password-" + name}, {"scopes", scopes}};
    EXPECT_EQ(Post("/api/v1/users", u).status, 201);
    return linlid_->Login(name, "password-" + name);
  }

  TempDir dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Linlid> linlid_;
  std::string token_;
  std::map<std::string, std::string> passwords_;
};

TEST_F(LinkageTest, GasLeakUnlocksTheBuildingAndEscalatesWhenNobodyAcknowledges) {
  auto gas = Connect("gas-1");
  auto door1 = Connect("door-1");
  auto door2 = Connect("door-2");
  auto door3 = Connect("door-3");
  const std::string event_id = NewUuid();
  ASSERT_TRUE(Leak(*gas, event_id));
  ASSERT_TRUE(WaitFor([&] { return !Commands(*door1).empty() && !Commands(*door2).empty(); }));
  Json cmd = Commands(*door1).front();
  EXPECT_EQ(cmd["name"], "unlock");
  EXPECT_EQ(cmd["args"]["duration_s"], 60);
  EXPECT_EQ(cmd["cause"]["kind"], "event");
  EXPECT_EQ(cmd["cause"]["id"], event_id);
  EXPECT_GT(cmd["expires"].get<int64_t>(), NowMs());
  Ack(*door1, "c1", "door-1", cmd, true);
  Ack(*door2, "c1", "door-2", Commands(*door2).front(), true);
  // The other building's door is not touched.
  EXPECT_TRUE(Commands(*door3).empty());

  ASSERT_TRUE(WaitFor([&] { return Alarms()["items"].size() == 1; }));
  const std::string alarm_id = Alarms()["items"][0]["id"];
  ASSERT_TRUE(WaitFor([&] {
    Json d = Alarm(alarm_id);
    int acked = 0;
    for (const auto& c : d["commands"]) acked += c["state"] == "acked" ? 1 : 0;
    return acked == 2;
  })) << Alarm(alarm_id).dump();
  // Nobody acknowledges: after 2 s the alarm escalates (once) to the fire brigade.
  ASSERT_TRUE(WaitFor([&] { return Count(Alarm(alarm_id)["log"], "escalate") == 1; }, std::chrono::seconds(10)));
  Json a = Alarm(alarm_id);
  EXPECT_EQ(a["escalation_step"], 1);
  EXPECT_EQ(a["contacts"].size(), 1u);
  EXPECT_EQ(Count(a["log"], "command_acked"), 2);
  // The escalation reached the contact (no webhook configured → recorded, not sent).
  EXPECT_NE(a["log"].back().dump().find("fire_brigade"), std::string::npos) << a.dump();

  // The operator works it to a close.
  for (const char* step : {"acknowledge", "resolve", "close"}) {
    auto r = Post("/api/v1/alarms/" + alarm_id + "/" + step, {{"comment", step}});
    ASSERT_EQ(r.status, 200) << step << " " << r.body;
  }
  EXPECT_EQ(Alarm(alarm_id)["state"], "closed");
  EXPECT_EQ(Post("/api/v1/alarms/" + alarm_id + "/acknowledge", Json::object()).status, 409);
}

TEST_F(LinkageTest, ADoorThatNeverAcknowledgesIsRetriedThenMarkedFailed) {
  auto gas = Connect("gas-1");
  auto door1 = Connect("door-1");
  auto door2 = Connect("door-2");  // receives, never acknowledges
  ASSERT_TRUE(Leak(*gas, NewUuid()));
  ASSERT_TRUE(WaitFor([&] { return !Commands(*door1).empty(); }));
  Ack(*door1, "c1", "door-1", Commands(*door1).front(), true);
  ASSERT_TRUE(WaitFor([&] {
    Json r = Get("/api/v1/commands?device=door-2").json();
    return r["items"].size() == 1 && (r["items"][0]["state"] == "failed" || r["items"][0]["state"] == "expired");
  }, std::chrono::seconds(15)));
  Json c = Get("/api/v1/commands?device=door-2").json()["items"][0];
  EXPECT_EQ(c["attempts"], 2);
  EXPECT_NE(c["error"].get<std::string>().find("no acknowledgement"), std::string::npos);
  // The retry reached the device with the same command id.
  auto got = Commands(*door2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["id"], got[1]["id"]);
  const std::string alarm_id = Alarms()["items"][0]["id"];
  EXPECT_EQ(Count(Alarm(alarm_id)["log"], "command_failed"), 1);
}

TEST_F(LinkageTest, RestartInTheMiddleOfAnEscalationEscalatesExactlyOnce) {
  auto gas = Connect("gas-1");
  ASSERT_TRUE(Leak(*gas, NewUuid()));
  ASSERT_TRUE(WaitFor([&] { return Alarms()["items"].size() == 1; }));
  const std::string alarm_id = Alarms()["items"][0]["id"];
  ASSERT_EQ(linlid_->Stop(SIGKILL) & 0x7f, SIGKILL);  // dies before the escalation is due
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the step becomes due while it is down
  ASSERT_TRUE(linlid_->Start()) << linlid_->LogTail();
  token_ = linlid_->AdminToken();
  ASSERT_TRUE(WaitFor([&] { return Count(Alarm(alarm_id)["log"], "escalate") == 1; }));
  ASSERT_EQ(linlid_->Stop(15), 0);
  ASSERT_TRUE(linlid_->Start());
  token_ = linlid_->AdminToken();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Json a = Alarm(alarm_id);
  EXPECT_EQ(Count(a["log"], "escalate"), 1);
  EXPECT_EQ(Count(a["log"], "raise"), 1);
  EXPECT_EQ(Alarms()["items"].size(), 1u);
}

TEST_F(LinkageTest, OpeningADoorNeedsTheRightRoleAndScope) {
  auto door1 = Connect("door-1");
  const std::string op = CreateUser("op1", "operator", Json::array({"c1"}));
  const std::string op2 = CreateUser("op2", "operator", Json::array({"c2"}));
  const std::string tech = CreateUser("tech1", "technician", Json::array({"c1"}));
  const std::string police = CreateUser("police1", "police", Json::array({"c1"}));
  const std::string integ = CreateUser("int1", "integrator", Json::array({"c1"}));
  const Json body = {{"name", "unlock"}, {"reason", "送医急救"}};
  for (const auto& t : {tech, police, integ}) {
    EXPECT_EQ(Post("/api/v1/devices/door-1/commands", body, t).status, 403);
  }
  EXPECT_EQ(Post("/api/v1/devices/door-1/commands", body, op2).status, 404);  // another compound's door
  EXPECT_EQ(Post("/api/v1/devices/door-1/commands", {{"name", "unlock"}}, op).status, 400);  // no reason
  EXPECT_EQ(Post("/api/v1/devices/door-1/commands", {{"name", "raise"}, {"reason", "x"}}, op).status, 400);
  EXPECT_TRUE(Commands(*door1).empty());
  auto ok = Post("/api/v1/devices/door-1/commands", body, op);
  ASSERT_EQ(ok.status, 202) << ok.body;
  ASSERT_TRUE(WaitFor([&] { return !Commands(*door1).empty(); }));
  Json cmd = Commands(*door1).front();
  EXPECT_EQ(cmd["cause"]["kind"], "operator");
  EXPECT_EQ(cmd["cause"]["id"], "op1");
  Ack(*door1, "c1", "door-1", cmd, false);
  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/commands/" + ok.json()["id"].get<std::string>(), op).json()["state"] == "failed"; }));
  EXPECT_EQ(Get("/api/v1/commands/" + ok.json()["id"].get<std::string>(), op).json()["error"], "jammed");
  // Every attempt, allowed or not, is in the audit log.
  Json audit = Get("/api/v1/audit?action=command.send").json();
  ASSERT_EQ(audit["items"].size(), 1u);
  EXPECT_EQ(audit["items"][0]["actor"], "op1");
  Json denied = Get("/api/v1/audit?action=denied&limit=100").json();
  EXPECT_GE(denied["items"].size(), 3u);
}

TEST_F(LinkageTest, ResidentsReportRepairsAndTechniciansCloseThemOut) {
  ASSERT_EQ(Post("/api/v1/units", {{"id", "u1"}, {"building_id", "b1"}, {"name", "1单元"}}).status, 201);
  ASSERT_EQ(Post("/api/v1/rooms", {{"id", "r1"}, {"unit_id", "u1"}, {"floor", 12}, {"number", "1201"}}).status, 201);
  ASSERT_EQ(Post("/api/v1/rooms", {{"id", "r2"}, {"unit_id", "u1"}, {"floor", 12}, {"number", "1202"}}).status, 201);
  ASSERT_EQ(Post("/api/v1/persons", {{"id", "p1"}, {"compound_id", "c1"}, {"name", "李阿姨"}, {"room_id", "r1"}}).status, 201);
  ASSERT_EQ(Post("/api/v1/persons", {{"id", "p2"}, {"compound_id", "c1"}, {"name", "张先生"}, {"room_id", "r2"}}).status, 201);
  auto resident = [&](const std::string& name, const std::string& person) {
    Json u = {{"username", name}, {"role", "resident"}, {"password", "password-" + name}, {"person_id", person}};
    EXPECT_EQ(Post("/api/v1/users", u).status, 201);
    return linlid_->Login(name, "password-" + name);
  };
  const std::string li = resident("li", "p1");
  const std::string zhang = resident("zhang", "p2");
  const std::string tech = CreateUser("tech1", "technician", Json::array({"c1"}));

  auto req = Post("/api/v1/work-orders", {{"title", "厨房水管漏水"}, {"description", "水槽下面一直滴水"}}, li);
  ASSERT_EQ(req.status, 201) << req.body;
  Json order = req.json();
  EXPECT_EQ(order["room_id"], "r1");
  EXPECT_EQ(order["compound_id"], "c1");
  EXPECT_EQ(order["source"], "resident");
  EXPECT_EQ(order["kind"], "repair");
  const std::string id = order["id"];
  // A resident can only report for their own room, and sees only their own requests.
  EXPECT_EQ(Post("/api/v1/work-orders", {{"title", "x"}, {"room_id", "r2"}}, li).status, 400);
  EXPECT_EQ(Post("/api/v1/work-orders", {{"title", "x"}, {"kind", "care"}}, li).status, 400);
  EXPECT_EQ(Get("/api/v1/work-orders/" + id, zhang).status, 404);
  EXPECT_EQ(Get("/api/v1/work-orders", zhang).json()["total"], 0);
  EXPECT_EQ(Get("/api/v1/work-orders", li).json()["total"], 1);
  EXPECT_EQ(Post("/api/v1/work-orders/" + id + "/start", Json::object(), li).status, 403);
  // The technician takes it, works it and reports the result; the operator accepts it.
  EXPECT_EQ(Post("/api/v1/work-orders/" + id + "/assign", {{"assignee", "op-x"}}, tech).status, 400);
  ASSERT_EQ(Post("/api/v1/work-orders/" + id + "/assign", {{"assignee", "tech1"}}, tech).status, 200);
  ASSERT_EQ(Post("/api/v1/work-orders/" + id + "/start", Json::object(), tech).status, 200);
  EXPECT_EQ(Post("/api/v1/work-orders/" + id + "/complete", Json::object(), tech).status, 400);
  ASSERT_EQ(Post("/api/v1/work-orders/" + id + "/complete", {{"result", "更换了水槽下的软管"}}, tech).status, 200);
  EXPECT_EQ(Post("/api/v1/work-orders/" + id + "/close", Json::object(), tech).status, 403);
  ASSERT_EQ(Post("/api/v1/work-orders/" + id + "/close", {{"comment", "回访满意"}}).status, 200);
  Json done = Get("/api/v1/work-orders/" + id, li).json();
  EXPECT_EQ(done["state"], "closed");
  EXPECT_EQ(done["result"], "更换了水槽下的软管");
  std::vector<std::string> actions;
  for (const auto& e : done["log"]) actions.push_back(e["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"open", "assign", "start", "complete", "close"}));
}

TEST_F(LinkageTest, RulesOverTheApiAreValidatedWithLineAndField) {
  auto bad = Http(linlid_->http_port(), "POST", "/api/v1/rules",
                  "id: broken\ntrigger: {event: gas.leak}\nactions:\n  - command: {target: {kinds: [door_controller]}, name: open}\n",
                  token_, "application/yaml");
  ASSERT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json()["error"]["field"], "actions[0].command.name");
  EXPECT_NE(bad.json()["error"]["message"].get<std::string>().find("request:4:"), std::string::npos) << bad.body;
  Json list = Get("/api/v1/rules").json();
  std::set<std::string> ids;
  for (const auto& r : list["items"]) ids.insert(r["id"]);
  EXPECT_TRUE(ids.count("fast-gas"));
  EXPECT_TRUE(ids.count("sos"));
  EXPECT_FALSE(ids.count("broken"));
  const std::string op = CreateUser("op1", "operator", Json::array({"c1"}));
  EXPECT_EQ(Http(linlid_->http_port(), "POST", "/api/v1/rules", kFastGasRule, op, "application/yaml").status, 403);
  EXPECT_EQ(Get("/api/v1/rules", op).status, 200);
  const std::string res = CreateUser("res1", "technician", Json::array({"c1"}));
  EXPECT_EQ(Get("/api/v1/rules", res).status, 403);
}

}  // namespace
}  // namespace linli::testing
