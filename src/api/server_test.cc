// HTTP-level tests: a real Server on an ephemeral port over a real SqliteStore, driven by Beast
// clients (HTTP, WebSocket, SSE).
#include "api/server.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "api/api_test_util.h"
#include "api/http_test_client.h"

namespace linli::api {
namespace {

using model::Kind;
using testing::HttpClient;
using testing::HttpResult;
using testing::IdNumber;

class ServerTest : public testing::RegistryFixture {
 protected:
  void SetUp() override {
    RegistryFixture::SetUp();
    web_root_ = dir_.File("web");
    std::filesystem::create_directories(web_root_);
    std::ofstream(web_root_ + "/index.html") << "<!doctype html><title>linli</title>";
    std::ofstream(web_root_ + "/app.js") << "console.log(1)";
    std::ofstream(dir_.File("secret.txt")) << "secret";
    std::ofstream(dir_.File("openapi.json")) << R"({"openapi":"3.0.3"})";

    auto blobs = store::OpenFileBlobStore(dir_.File("media"));
    ASSERT_TRUE(blobs.has_value());
    blobs_ = std::move(*blobs);
    deps_.blobs = blobs_.get();

    ServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.web_root = web_root_;
    o.openapi_path = dir_.File("openapi.json");
    o.max_body_bytes = 8192;
    o.login_max_failures = 3;
    o.password_hash_interactive = false;
    o.session_ttl_ms = 3'600'000;
    server_ = MakeServer(o, deps_);
    auto port = server_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().ToString();
    port_ = *port;
    client_ = std::make_unique<HttpClient>(port_);

    // People and devices in both compounds.
    MustCreate(Kind::kPerson, {{"id", "pA"},
                               {"compound_id", "A"},
                               {"name", "张三"},
                               {"room_id", "A-r1"},
                               {"id_number", IdNumber("19900307", 11)},
                               {"phone", "13800138000"}});
    MustCreate(Kind::kPerson,
               {{"id", "pA2"}, {"compound_id", "A"}, {"name", "李四"}, {"room_id", "A-r2"}});
    MustCreate(Kind::kPerson, {{"id", "pB"},
                               {"compound_id", "B"},
                               {"name", "王五"},
                               {"room_id", "B-r1"},
                               {"id_number", IdNumber("19800101", 22)}});
    MustCreate(Kind::kVehicle,
               {{"id", "vB"}, {"compound_id", "B"}, {"plate", "京B12345"}, {"owner_id", "pB"}});
    MustCreate(Kind::kOrganisation, {{"id", "oB"}, {"compound_id", "B"}, {"name", "Shop"}});
    MustCreate(Kind::kDevice, {{"id", "devA"}, {"compound_id", "A"}, {"kind", "gas_sensor"}});
    MustCreate(Kind::kDevice, {{"id", "devB"}, {"compound_id", "B"}, {"kind", "gas_sensor"}});

    // One user per role, scoped to compound A (the resident lives in A-r1).
    for (Role role : kAllRoles) {
      std::string name(RoleName(role));
      Json user = {{"id", "u-" + name},
                   {"username", name},
                   {"role", name},
                   {"password", "password-" + name}};
      if (role == Role::kResident) {
        user["person_id"] = "pA";
      } else {
        user["scopes"] = {"A"};
      }
      MustCreate(Kind::kUser, user);
      tokens_[role] = LoginToken(name, "password-" + name);
    }
    MustCreate(
        Kind::kUser,
        {{"id", "u-root"}, {"username", "root"}, {"role", "admin"}, {"password", "password-root"}});
    root_ = LoginToken("root", "password-root");
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  std::string LoginToken(const std::string& user, const std::string& password) {
    HttpResult r =
        client_->Post("/api/v1/auth/login", {{"username", user}, {"password", password}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json.value("token", "");
  }

  std::string web_root_;
  std::unique_ptr<store::BlobStore> blobs_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::unique_ptr<HttpClient> client_;
  std::map<Role, std::string> tokens_;
  std::string root_;
};

TEST_F(ServerTest, HealthNeedsNoAuth) {
  HttpResult r = client_->Get("/api/v1/health");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json["status"], "ok");
  EXPECT_EQ(r.json["time_ms"], clock_.NowMs());
  EXPECT_TRUE(r.json.contains("version"));
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(client_->Get("/api/v1/openapi.json").json["openapi"], "3.0.3");
}

TEST_F(ServerTest, LoginMeLogout) {
  HttpResult bad = client_->Post("/api/v1/auth/login",
                                 {{"username", "operator"}, {"password", "wrong-password"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.json["error"]["code"], "unauthenticated");
  EXPECT_EQ(client_->Post("/api/v1/auth/login", {{"username", "operator"}}).json["error"]["field"],
            "password");

  const std::string token = LoginToken("police", "password-police");
  HttpResult me = client_->Get("/api/v1/auth/me", token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.json["user"]["username"], "police");
  EXPECT_EQ(me.json["scope"]["compounds"], Json::array({"A"}));
  EXPECT_EQ(client_->Post("/api/v1/auth/logout", Json::object(), token).status, 204);
  HttpResult after = client_->Get("/api/v1/auth/me", token);
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.Header("www-authenticate"), "Bearer");
  EXPECT_EQ(client_->Get("/api/v1/auth/me").status, 401);
  EXPECT_EQ(client_->Get("/api/v1/auth/me", "not-a-token").status, 401);
  EXPECT_EQ(
      client_->Request("GET", "/api/v1/auth/me", "", "", {{"Authorization", "Basic abc"}}).status,
      401);
}

TEST_F(ServerTest, LoginIsRateLimited) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(
        client_->Post("/api/v1/auth/login", {{"username", "technician"}, {"password", "wrong-one"}})
            .status,
        401);
  }
  HttpResult r = client_->Post("/api/v1/auth/login",
                               {{"username", "technician"}, {"password", "password-technician"}});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "900");  // default window: 15 min
}

TEST_F(ServerTest, CrudRoundTrip) {
  const std::string& op = tokens_[Role::kOperator];
  HttpResult created = client_->Post(
      "/api/v1/persons",
      {{"compound_id", "A"}, {"name", "赵六"}, {"phone", "13900139000"}, {"room_id", "A-r2"}}, op);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json["id"];
  EXPECT_EQ(created.json["compound_id"], "A");
  EXPECT_EQ(created.json["phone"], "13900139000");

  HttpResult got = client_->Get("/api/v1/persons/" + id, op);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json["name"], "赵六");

  HttpResult patched = client_->Patch("/api/v1/persons/" + id, {{"name", "赵七"}}, op);
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json["name"], "赵七");

  HttpResult list = client_->Get("/api/v1/persons?phone=13900139000&limit=5", op);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json["total"], 1);
  EXPECT_EQ(list.json["limit"], 5);
  EXPECT_EQ(list.json["items"][0]["id"], id);
  HttpResult search = client_->Get("/api/v1/persons?q=%E8%B5%B5", op);  // 赵
  EXPECT_EQ(search.json["total"], 1) << search.body;

  EXPECT_EQ(client_->Delete("/api/v1/persons/" + id, op).status, 204);
  EXPECT_EQ(client_->Get("/api/v1/persons/" + id, op).status, 404);
}

TEST_F(ServerTest, ClientErrors) {
  const std::string& admin = tokens_[Role::kAdmin];
  HttpResult invalid = client_->Request("POST", "/api/v1/buildings", "{not json", admin);
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.json["error"]["code"], "invalid_argument");
  HttpResult field = client_->Post(
      "/api/v1/persons", {{"compound_id", "A"}, {"name", "x"}, {"id_number", "123"}}, admin);
  EXPECT_EQ(field.status, 400);
  EXPECT_EQ(field.json["error"]["field"], "id_number");
  EXPECT_EQ(client_
                ->Request("POST", "/api/v1/buildings", R"({"compound_id":"A","name":"9"})", admin,
                          {}, "text/plain")
                .status,
            415);
  EXPECT_EQ(client_->Request("POST", "/api/v1/buildings", "", admin).status, 400);
  HttpResult big =
      client_->Request("POST", "/api/v1/buildings", std::string(9000, ' ') + "{}", admin);
  EXPECT_EQ(big.status, 413);
  HttpResult dup = client_->Post("/api/v1/buildings",
                                 {{"id", "A-b1"}, {"compound_id", "A"}, {"name", "x"}}, admin);
  EXPECT_EQ(dup.status, 409) << dup.body;
  HttpResult method = client_->Request("PUT", "/api/v1/buildings/A-b1", "{}", admin);
  EXPECT_EQ(method.status, 405);
  EXPECT_NE(method.Header("allow").find("PATCH"), std::string::npos);
  EXPECT_EQ(client_->Get("/api/v1/nothing", admin).status, 404);
  EXPECT_EQ(client_->Get("/api/v1/buildings?limit=0", admin).json["error"]["field"], "limit");
  EXPECT_EQ(client_->Get("/api/v1/buildings?colour=red", admin).json["error"]["field"], "colour");
  EXPECT_EQ(client_->Get("/api/v1/buildings?x=%zz", admin).status, 400);
  EXPECT_EQ(client_->Delete("/api/v1/compounds/A", admin).status, 409);
  EXPECT_EQ(client_->Delete("/api/v1/users/u-admin", admin).status, 409);  // yourself
  // The server survives all of it.
  EXPECT_EQ(client_->Get("/api/v1/health").status, 200);
}

TEST_F(ServerTest, HostileBytesGetClearErrors) {
  EXPECT_EQ(client_->Raw("GARBAGE\r\n\r\n").status, 400);
  EXPECT_EQ(client_->Raw("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(20000, 'a') + "\r\n\r\n")
                .status,
            431);
  EXPECT_EQ(
      client_
          ->Raw("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
          .status,
      413);
  EXPECT_EQ(client_->Raw("GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
  HttpResult deep = client_->Request("POST", "/api/v1/auth/login",
                                     std::string(3000, '[') + std::string(3000, ']'));
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(client_->Get("/api/v1/health").status, 200);
}

TEST_F(ServerTest, RandomRequestsNeverKillTheServer) {
  std::mt19937 rng(20261124);  // seeded: the same hostile inputs every run
  auto pick = [&](std::initializer_list<const char*> xs) {
    return std::string(*(xs.begin() + rng() % xs.size()));
  };
  auto junk = [&](size_t max_len) {
    std::string s(rng() % max_len, '\0');
    for (char& ch : s) ch = static_cast<char>(rng() % 256);
    return s;
  };
  const std::string& admin = tokens_[Role::kAdmin];
  for (int i = 0; i < 150; ++i) {
    std::string path = pick({"/api/v1/persons", "/api/v1/devices/devA/telemetry", "/api/v1/events",
                             "/api/v1/users", "/api/v1/auth/login", "/api/v1/buildings/A-b1",
                             "/api/v1/feed", "/", "/metrics"});
    if (rng() % 2)
      path += "?" + pick({"limit", "q", "from", "phone", "type", "token"}) + std::string("=") +
              pick({"-1", "%", "%ff%fe", "99999999999999999999999", "a%00b", "*", ""});
    if (rng() % 4 == 0) path += "/" + pick({"..", "%2e%2e", "x%2Fy", "\u4eac"});
    std::string body;
    switch (rng() % 4) {
      case 0:
        body = junk(300);
        break;
      case 1:
        body = R"({"compound_id":"A","name":)" +
               std::string(pick({"1", "null", "[]", "\"x\"", "{}"})) + "}";
        break;
      case 2:
        body = std::string(rng() % 60, '{');
        break;
      default:
        break;
    }
    std::string method = pick({"GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"});
    HttpResult r = client_->Request(method, path, body, rng() % 3 ? admin : "garbage");
    EXPECT_TRUE(r.status == 0 || (r.status >= 200 && r.status < 600)) << method << " " << path;
    EXPECT_NE(r.status, 500) << method << " " << path << " " << r.body;
    if (rng() % 5 == 0) client_->Raw(junk(2000));
  }
  EXPECT_EQ(client_->Get("/api/v1/health").status, 200);
  EXPECT_EQ(client_->Get("/api/v1/persons/pA", admin).status, 200);
}

TEST_F(ServerTest, EveryRoleIsRefusedAnotherCompoundsData) {
  const std::vector<std::string> foreign = {"/api/v1/compounds/B",
                                            "/api/v1/buildings/B-b1",
                                            "/api/v1/units/B-u1",
                                            "/api/v1/rooms/B-r1",
                                            "/api/v1/persons/pB",
                                            "/api/v1/vehicles/vB",
                                            "/api/v1/organisations/oB",
                                            "/api/v1/devices/devB",
                                            "/api/v1/devices/devB/telemetry",
                                            "/api/v1/devices/devB/status-history",
                                            "/api/v1/events?compound=B",
                                            "/api/v1/events?device=devB",
                                            "/api/v1/compounds/B/online",
                                            "/api/v1/faults?compound=B",
                                            "/api/v1/faults?device=devB"};
  for (Role role : kAllRoles) {
    for (const auto& path : foreign) {
      HttpResult r = client_->Get(path, tokens_[role]);
      EXPECT_TRUE(r.status == 403 || r.status == 404)
          << RoleName(role) << " " << path << " → " << r.status;
    }
    // Writes into B are refused as well.
    HttpResult w = client_->Patch("/api/v1/buildings/B-b1", {{"name", "x"}}, tokens_[role]);
    EXPECT_TRUE(w.status == 403 || w.status == 404) << RoleName(role) << " → " << w.status;
    HttpResult c =
        client_->Post("/api/v1/persons", {{"compound_id", "B"}, {"name", "x"}}, tokens_[role]);
    EXPECT_TRUE(c.status == 400 || c.status == 403) << RoleName(role) << " → " << c.status;
    // Lists never contain B's records.
    for (const char* coll : {"persons", "devices", "buildings", "vehicles"}) {
      HttpResult l = client_->Get(std::string("/api/v1/") + coll, tokens_[role]);
      if (l.status != 200) continue;
      for (const auto& item : l.json["items"])
        EXPECT_EQ(item["compound_id"], "A") << RoleName(role) << " " << coll;
    }
  }
  // Roles allowed to read a kind get 404 (not 403) for B's records: existence does not leak.
  EXPECT_EQ(client_->Get("/api/v1/persons/pB", tokens_[Role::kPolice]).status, 404);
  EXPECT_EQ(client_->Get("/api/v1/devices/devB", tokens_[Role::kTechnician]).status, 404);
  EXPECT_EQ(client_->Get("/api/v1/devices/nonexistent", tokens_[Role::kTechnician]).status, 404);
  // The unscoped admin does see B.
  EXPECT_EQ(client_->Get("/api/v1/persons/pB", root_).status, 200);
}

TEST_F(ServerTest, ResidentHouseholdIsolation) {
  const std::string& me = tokens_[Role::kResident];
  MustCreate(Kind::kPerson,
             {{"id", "pA3"}, {"compound_id", "A"}, {"name", "家人"}, {"room_id", "A-r1"}});
  HttpResult persons = client_->Get("/api/v1/persons", me);
  ASSERT_EQ(persons.status, 200) << persons.body;
  EXPECT_EQ(persons.json["total"], 2);
  for (const auto& p : persons.json["items"]) EXPECT_EQ(p["room_id"], "A-r1");
  EXPECT_EQ(client_->Get("/api/v1/persons/pA", me).json["id_number"], IdNumber("19900307", 11));
  EXPECT_EQ(client_->Get("/api/v1/persons/pA2", me).status, 404);
  EXPECT_EQ(client_->Get("/api/v1/rooms/A-r2", me).status, 404);
  EXPECT_EQ(client_->Get("/api/v1/rooms/A-r1", me).status, 200);
  EXPECT_EQ(client_->Get("/api/v1/buildings", me).status, 403);
  EXPECT_EQ(client_->Get("/api/v1/devices", me).status, 403);
  EXPECT_EQ(client_->Get("/api/v1/events", me).status, 403);
  EXPECT_EQ(client_->Patch("/api/v1/persons/pA", {{"name", "x"}}, me).status, 403);
}

TEST_F(ServerTest, PersonalDataMaskedPerRole) {
  const std::string id = IdNumber("19900307", 11);
  const std::string masked_id = model::MaskIdNumber(id);
  struct Case {
    Role role;
    int status;
    std::string id_number, phone;
  };
  const Case cases[] = {
      {Role::kAdmin, 200, id, "13800138000"},
      {Role::kPolice, 200, id, "13800138000"},
      {Role::kGridWorker, 200, id, "13800138000"},
      {Role::kOperator, 200, masked_id, "13800138000"},
      {Role::kResident, 200, id, "13800138000"},  // own household
      {Role::kTechnician, 403, "", ""},
      {Role::kIntegrator, 403, "", ""},
  };
  for (const Case& c : cases) {
    HttpResult r = client_->Get("/api/v1/persons/pA", tokens_[c.role]);
    ASSERT_EQ(r.status, c.status) << RoleName(c.role) << r.body;
    if (c.status != 200) continue;
    EXPECT_EQ(r.json["id_number"], c.id_number) << RoleName(c.role);
    EXPECT_EQ(r.json["phone"], c.phone) << RoleName(c.role);
    EXPECT_FALSE(r.json.contains("id_number_bidx"));
  }
  // A resident of another household sees nothing of pA; operators see the mask in lists too.
  HttpResult list = client_->Get("/api/v1/persons?id_number=" + id, tokens_[Role::kOperator]);
  ASSERT_EQ(list.json["total"], 1) << list.body;
  EXPECT_EQ(list.json["items"][0]["id_number"], masked_id);
}

TEST_F(ServerTest, DevicesOverHttp) {
  const std::string& integrator = tokens_[Role::kIntegrator];
  HttpResult d = client_->Post(
      "/api/v1/devices", {{"id", "cam1"}, {"compound_id", "A"}, {"kind", "camera"}}, integrator);
  ASSERT_EQ(d.status, 201) << d.body;
  EXPECT_EQ(d.json["mqtt"]["topic_prefix"], "linli/v1/A/cam1/");
  EXPECT_EQ(creds_.accounts["cam1"].password, d.json["mqtt"]["password"]);
  EXPECT_EQ(d.json["presence"]["status"], "unknown");
  HttpResult rot = client_->Post("/api/v1/devices/cam1/credentials", Json::object(), integrator);
  ASSERT_EQ(rot.status, 200) << rot.body;
  EXPECT_NE(rot.json["mqtt"]["password"], d.json["mqtt"]["password"]);
  EXPECT_EQ(
      client_->Post("/api/v1/devices/cam1/credentials", Json::object(), tokens_[Role::kTechnician])
          .status,
      403);
  creds_.fail = true;
  EXPECT_EQ(client_
                ->Post("/api/v1/devices",
                       {{"id", "cam2"}, {"compound_id", "A"}, {"kind", "camera"}}, integrator)
                .status,
            503);
  creds_.fail = false;
  EXPECT_EQ(client_->Get("/api/v1/devices/cam2", integrator).status, 404);
  EXPECT_EQ(client_->Delete("/api/v1/devices/cam1", integrator).status, 204);
  EXPECT_EQ(creds_.accounts.count("cam1"), 0u);
}

TEST_F(ServerTest, DeviceDataQueries) {
  store::IngestBatch batch;
  batch.telemetry.push_back({"devA", "gas_ppm", 1000, 3.5});
  batch.telemetry.push_back({"devA", "gas_ppm", 2000, 4.5});
  batch.events.push_back({"e1", "A", "devA", "gas.leak", 1500, 1501, Json{{"ppm", 900}}});
  batch.events.push_back({"e2", "B", "devB", "gas.leak", 1600, 1601, Json::object()});
  batch.status_changes.push_back({"devA", "A", model::Presence::kOnline, 900, "status_topic"});
  API_ASSERT_OK(store_->WriteBatch(batch));
  presence_.ratios["A"] = {4, 3};

  const std::string& tech = tokens_[Role::kTechnician];
  HttpResult t = client_->Get("/api/v1/devices/devA/telemetry?metric=gas_ppm&from=1500", tech);
  ASSERT_EQ(t.status, 200) << t.body;
  ASSERT_EQ(t.json["items"].size(), 1u);
  EXPECT_EQ(t.json["items"][0]["value"], 4.5);
  HttpResult s = client_->Get("/api/v1/devices/devA/status-history", tech);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.json["items"][0]["status"], "online");
  HttpResult e = client_->Get("/api/v1/events?type=gas.*", tech);
  ASSERT_EQ(e.status, 200) << e.body;
  ASSERT_EQ(e.json["items"].size(), 1u);  // e2 is in B
  EXPECT_EQ(e.json["items"][0]["id"], "e1");
  HttpResult o = client_->Get("/api/v1/compounds/A/online", tech);
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(o.json["online"], 3);
  EXPECT_DOUBLE_EQ(o.json["ratio"].get<double>(), 0.75);
  HttpResult stats = client_->Get("/api/v1/stats/online", tech);
  ASSERT_EQ(stats.status, 200) << stats.body;
  ASSERT_EQ(stats.json["items"].size(), 1u);
  EXPECT_EQ(stats.json["items"][0]["compound_id"], "A");
  HttpResult all = client_->Get("/api/v1/stats/online", root_);
  EXPECT_EQ(all.json["items"].size(), 2u);
  EXPECT_EQ(client_->Get("/api/v1/faults?open=true", tech).status, 200);
  EXPECT_EQ(client_->Get("/api/v1/faults?open=maybe", tech).status, 400);
  EXPECT_EQ(client_->Get("/api/v1/devices/devA/telemetry?from=5&to=1", tech).status, 400);
  EXPECT_EQ(client_->Get("/api/v1/dead-letters", tech).status, 403);
  EXPECT_EQ(client_->Get("/api/v1/dead-letters", root_).status, 200);
}

TEST_F(ServerTest, DeniedRequestsAreAudited) {
  EXPECT_EQ(client_->Get("/api/v1/users", tokens_[Role::kOperator]).status, 403);
  HttpResult audit = client_->Get("/api/v1/audit?action=denied", root_);
  ASSERT_EQ(audit.status, 200) << audit.body;
  ASSERT_GE(audit.json["items"].size(), 1u);
  EXPECT_EQ(audit.json["items"][0]["actor"], "operator");
  EXPECT_EQ(audit.json["items"][0]["object_id"], "GET /api/v1/users");
  EXPECT_EQ(client_->Get("/api/v1/audit", tokens_[Role::kOperator]).status, 403);
}

TEST_F(ServerTest, MetricsAreAdminOnly) {
  client_->Get("/api/v1/health");
  HttpResult m = client_->Get("/metrics", root_);
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.Header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("linli_http_requests_total{route=\"/api/v1/health\",code=\"200\"}"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("linli_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find("linli_feed_subscribers"), std::string::npos);
  EXPECT_EQ(client_->Get("/metrics", tokens_[Role::kOperator]).status, 403);
  EXPECT_EQ(client_->Get("/metrics").status, 401);
}

TEST_F(ServerTest, ApiKeysWork) {
  HttpResult k = client_->Post("/api/v1/users/u-integrator/api-keys", {{"label", "erp"}}, root_);
  ASSERT_EQ(k.status, 201) << k.body;
  const std::string key = k.json["key"];
  HttpResult devs = client_->Get("/api/v1/devices", key);
  ASSERT_EQ(devs.status, 200) << devs.body;
  EXPECT_EQ(devs.json["total"], 1);  // devA only
  EXPECT_EQ(client_->Request("POST", "/api/v1/users/u-integrator/api-keys", "", root_).status,
            201);  // body optional
  EXPECT_EQ(client_->Post("/api/v1/users/u-integrator/api-keys", Json::object(), key).status, 403);
  EXPECT_EQ(client_->Patch("/api/v1/users/u-integrator", {{"disabled", true}}, root_).status, 200);
  EXPECT_EQ(client_->Get("/api/v1/devices", key).status, 401);
}

TEST_F(ServerTest, StaticFiles) {
  HttpResult index = client_->Get("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("linli"), std::string::npos);
  EXPECT_EQ(client_->Get("/app.js").Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(client_->Get("/dashboard/compounds").status, 200);  // client route → index.html
  EXPECT_EQ(client_->Get("/missing.css").status, 404);
  for (const char* p : {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"}) {
    HttpResult r = client_->Get(p);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << p << " " << r.status;
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << p;
  }
  HttpResult head = client_->Request("HEAD", "/app.js");
  EXPECT_EQ(head.status, 200);
}

TEST_F(ServerTest, WebSocketFeedIsFilteredByScope) {
  testing::WsClient ws(port_);
  ASSERT_EQ(ws.Connect("/api/v1/feed?token=" + tokens_[Role::kOperator]), 101);
  // The subscription exists once the handshake completed: B is filtered out, A arrives.
  server_->Feed()->Publish({"event", "B", 1, Json{{"n", "b"}}});
  server_->Feed()->Publish({"event", "A", 2, Json{{"n", "a"}}});
  auto msg = ws.Read();
  ASSERT_TRUE(msg.has_value()) << ws.last_error().message();
  Json j = Json::parse(*msg);
  EXPECT_EQ(j["compound_id"], "A");
  EXPECT_EQ(j["type"], "event");
  EXPECT_EQ(j["ts_ms"], 2);
  EXPECT_EQ(j["data"]["n"], "a");

  testing::WsClient admin(port_);
  ASSERT_EQ(admin.Connect("/api/v1/feed", root_), 101);  // header auth
  server_->Feed()->Publish({"fault", "B", 3, Json::object()});
  auto b = admin.Read();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(Json::parse(*b)["compound_id"], "B");

  testing::WsClient resident(port_);
  EXPECT_EQ(resident.Connect("/api/v1/feed?token=" + tokens_[Role::kResident]), 403);
  testing::WsClient anonymous(port_);
  EXPECT_EQ(anonymous.Connect("/api/v1/feed"), 401);
  EXPECT_EQ(client_->Get("/api/v1/feed", root_).status, 406);
}

TEST_F(ServerTest, EventStreamFeed) {
  testing::SseClient sse(port_);
  std::string status = sse.Open("/api/v1/feed", tokens_[Role::kPolice]);
  ASSERT_EQ(status, "HTTP/1.1 200 OK") << sse.data();
  EXPECT_NE(sse.data().find("text/event-stream"), std::string::npos);
  server_->Feed()->Publish({"event", "B", 1, Json{{"who", "bbb"}}});
  server_->Feed()->Publish({"event", "A", 2, Json{{"who", "aaa"}}});
  ASSERT_TRUE(sse.ReadUntil("aaa", std::chrono::seconds(5))) << sse.data();
  EXPECT_NE(sse.data().find("data: {"), std::string::npos);
  EXPECT_EQ(sse.data().find("bbb"), std::string::npos);
}

TEST_F(ServerTest, StopClosesFeedsAndIsIdempotent) {
  testing::WsClient ws(port_);
  ASSERT_EQ(ws.Connect("/api/v1/feed?token=" + root_), 101);
  std::thread stopper([&] { server_->Stop(); });
  EXPECT_FALSE(ws.Read().has_value());  // the server closes the feed
  EXPECT_EQ(ws.last_error(), testing::websocket::error::closed) << ws.last_error().message();
  stopper.join();
  server_->Stop();
  EXPECT_EQ(HttpClient(port_).Get("/api/v1/health").status, 0);  // no longer listening
}

}  // namespace
}  // namespace linli::api

namespace linli::api {
namespace {

std::string FakeJpeg(size_t n, char fill) {
  std::string b = "\xFF\xD8\xFF\xE0";
  b.append(n, fill);
  return b;
}

TEST_F(ServerTest, MediaUploadIsIdempotentScopedAndChecked) {
  const std::string jpeg = FakeJpeg(20000, 'x');  // larger than the 8 KiB JSON body limit
  const std::string op = tokens_[Role::kOperator];
  auto put = [&](const std::string& target, const std::string& body, const std::string& token,
                 const std::string& type = "image/jpeg") {
    return client_->Request("PUT", target, body, token, {}, type);
  };
  HttpResult first = put("/api/v1/media/snap-1?device=devA&event=ev-1", jpeg, op);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.json["compound_id"], "A");
  EXPECT_EQ(first.json["size"], static_cast<int64_t>(jpeg.size()));
  EXPECT_EQ(put("/api/v1/media/snap-1?device=devA&event=ev-1", jpeg, op).status, 200);
  EXPECT_EQ(put("/api/v1/media/snap-1?device=devA", FakeJpeg(100, 'y'), op).status, 409);

  HttpResult got = client_->Get("/api/v1/media/snap-1", tokens_[Role::kPolice]);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, jpeg);
  EXPECT_EQ(got.Header("content-type"), "image/jpeg");
  HttpResult list = client_->Get("/api/v1/media?event=ev-1", op);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json["items"].size(), 1u);

  // Wrong type, wrong magic, other compound's device, no device, roles without upload.
  EXPECT_EQ(put("/api/v1/media/snap-2?device=devA", jpeg, op, "text/html").status, 400);
  EXPECT_EQ(put("/api/v1/media/snap-2?device=devA", "<html>", op).status, 400);
  EXPECT_EQ(put("/api/v1/media/snap-2?device=devB", jpeg, op).status, 404);
  EXPECT_EQ(put("/api/v1/media/snap-2", jpeg, op).status, 400);
  EXPECT_EQ(put("/api/v1/media/snap-2?device=devA", jpeg, tokens_[Role::kResident]).status, 403);
  EXPECT_EQ(put("/api/v1/media/snap-2?device=devA", jpeg, tokens_[Role::kPolice]).status, 403);
  EXPECT_EQ(put("/api/v1/media/bad%20id?device=devA", jpeg, op).status, 400);
  // A declared 33 MiB body is refused from its header, before any of it is read.
  HttpResult huge = client_->Raw("PUT /api/v1/media/huge?device=devA HTTP/1.1\r\nHost: x\r\n"
                                 "Authorization: Bearer " + op + "\r\nContent-Type: image/jpeg\r\n"
                                 "Content-Length: " + std::to_string(33u << 20) + "\r\n\r\n");
  EXPECT_EQ(huge.status, 413);

  // Another compound's media is not found; residents may not read media.
  ASSERT_EQ(put("/api/v1/media/snap-b?device=devB", jpeg, root_).status, 201);
  EXPECT_EQ(client_->Get("/api/v1/media/snap-b", op).status, 404);
  EXPECT_EQ(client_->Get("/api/v1/media/snap-1", tokens_[Role::kResident]).status, 403);
  EXPECT_EQ(client_->Get("/api/v1/media/nope", op).status, 404);
}

}  // namespace
}  // namespace linli::api
