#include "mqtt/broker_init.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/json.h"
#include "mqtt/dynsec_config.h"
#include "mqtt/testing/broker_fixture.h"

namespace linli::mqtt {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Mode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 0777);
}

class BrokerInitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("linli-broker-init");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Defaults to a port nobody listens on (ImportDevicesOffline checks that).
  BrokerInitOptions Opts(int port = 0) {
    BrokerInitOptions o;
    o.data_dir = dir_ + "/broker";
    o.port = port;
    if (port == 0) {
      auto free_port = testing::FreeTcpPort();
      EXPECT_TRUE(free_port);
      o.port = free_port ? *free_port : 1;
    }
    return o;
  }
  Json Dynsec() {
    auto j = ParseJson(Slurp(dir_ + "/broker/dynamic-security.json"));
    EXPECT_TRUE(j);
    return j ? *j : Json();
  }
  static const Json* Find(const Json& arr, const char* key, const std::string& name) {
    for (const auto& e : arr) {
      if (e.contains(key) && e[key] == name) return &e;
    }
    return nullptr;
  }
  std::string dir_;
};

TEST_F(BrokerInitTest, WritesConfigDynsecAndCredentials) {
  ASSERT_TRUE(InitBroker(Opts(18830)));
  std::string d = dir_ + "/broker";
  std::string conf = Slurp(d + "/mosquitto.conf");
  for (const std::string& line :
       {std::string("per_listener_settings false\n"), std::string("listener 18830 127.0.0.1\n"),
        std::string("allow_anonymous false\n"),
        "plugin_opt_config_file " + d + "/dynamic-security.json\n",
        std::string("persistence true\n"), "persistence_location " + d + "/mosquitto-data/\n",
        std::string("max_queued_messages 1000000\n"), std::string("max_queued_bytes 0\n"),
        std::string("max_inflight_messages 1000\n"), std::string("set_tcp_nodelay true\n")}) {
    EXPECT_NE(conf.find(line), std::string::npos) << "missing: " << line << "in\n" << conf;
  }
  auto plugin = FindDynsecPlugin();
  ASSERT_TRUE(plugin);
  EXPECT_NE(conf.find("plugin " + *plugin + "\n"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(d + "/mosquitto-data"));

  EXPECT_EQ(Mode(d + "/broker.json"), 0600);
  EXPECT_EQ(Mode(d + "/dynamic-security.json"), 0600);

  auto cfg = LoadBrokerConfig(d);
  ASSERT_TRUE(cfg) << cfg.error().ToString();
  EXPECT_EQ(cfg->port, 18830);
  EXPECT_EQ(cfg->admin_username, "linli-admin");
  EXPECT_EQ(cfg->service_username, "linlid");
  EXPECT_GE(cfg->admin_password.size(), 32u);
  EXPECT_NE(cfg->admin_password, cfg->service_password);

  Json ds = Dynsec();
  EXPECT_EQ(ds["defaultACLAccess"]["publishClientSend"], false);
  EXPECT_EQ(ds["defaultACLAccess"]["subscribe"], false);
  const Json* admin = Find(ds["clients"], "username", "linli-admin");
  ASSERT_NE(admin, nullptr);
  DynsecPasswordHash h{(*admin)["password"], (*admin)["salt"], (*admin)["iterations"]};
  EXPECT_TRUE(VerifyDynsecPassword(h, cfg->admin_password));
  EXPECT_FALSE(VerifyDynsecPassword(h, cfg->service_password));
  const Json* service = Find(ds["clients"], "username", "linlid");
  ASSERT_NE(service, nullptr);
  DynsecPasswordHash hs{(*service)["password"], (*service)["salt"], (*service)["iterations"]};
  EXPECT_TRUE(VerifyDynsecPassword(hs, cfg->service_password));
  const Json* srole = Find(ds["roles"], "rolename", "linli-service");
  ASSERT_NE(srole, nullptr);
  EXPECT_NE(srole->dump().find("linli/v1/+/+/down/#"), std::string::npos);
  // The broker's secrets never appear in the config the operator may share.
  EXPECT_EQ(conf.find(cfg->admin_password), std::string::npos);
}

TEST_F(BrokerInitTest, RefusesToOverwriteUnlessForcedAndKeepsDevices) {
  auto opts = Opts();
  ASSERT_TRUE(InitBroker(opts));
  auto first = LoadBrokerConfig(dir_ + "/broker");
  ASSERT_TRUE(first);
  auto other = opts;
  other.port = opts.port == 65535 ? 1 : opts.port + 1;
  auto again = InitBroker(other);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(LoadBrokerConfig(dir_ + "/broker")->port, opts.port);

  ASSERT_TRUE(ImportDevicesOffline(dir_ + "/broker", {{"d1", "c1", "pw1"}}));
  other.force = true;
  ASSERT_TRUE(InitBroker(other));
  auto second = LoadBrokerConfig(dir_ + "/broker");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->port, other.port);
  EXPECT_NE(second->admin_password, first->admin_password);
  Json ds = Dynsec();
  EXPECT_NE(Find(ds["clients"], "username", "d1"), nullptr);
  EXPECT_NE(Find(ds["roles"], "rolename", "dev:d1"), nullptr);
  int admins = 0;
  for (const auto& c : ds["clients"]) admins += c["username"] == "linli-admin";
  EXPECT_EQ(admins, 1);
}

TEST_F(BrokerInitTest, RejectsBadOptions) {
  auto o = Opts();
  o.port = 0;
  EXPECT_EQ(InitBroker(o).error().field(), "port");
  o.port = 70000;
  EXPECT_EQ(InitBroker(o).error().field(), "port");
  o = Opts();
  o.bind_address = "127.0.0.1 # evil";
  EXPECT_EQ(InitBroker(o).error().field(), "bind_address");
  o = Opts();
  o.data_dir = "";
  EXPECT_EQ(InitBroker(o).error().field(), "data_dir");
  o.data_dir = dir_ + "/a\nlistener 1 0.0.0.0";
  EXPECT_EQ(InitBroker(o).error().field(), "data_dir");
  EXPECT_FALSE(fs::exists(dir_ + "/broker"));
}

TEST_F(BrokerInitTest, RelativeDataDirBecomesAbsolute) {
  auto cwd = fs::current_path();
  fs::current_path(dir_);
  BrokerInitOptions o;
  o.data_dir = "rel/./broker/";
  o.port = 18833;
  auto r = InitBroker(o);
  fs::current_path(cwd);
  ASSERT_TRUE(r) << r.error().ToString();
  std::string conf = Slurp(dir_ + "/rel/broker/mosquitto.conf");
  EXPECT_NE(conf.find("plugin_opt_config_file " + dir_ + "/rel/broker/dynamic-security.json"),
            std::string::npos)
      << conf;
}

TEST_F(BrokerInitTest, LoadBrokerConfigReportsMissingAndMalformedFiles) {
  auto missing = LoadBrokerConfig(dir_ + "/nothing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  fs::create_directories(dir_ + "/bad");
  auto write = [&](const std::string& text) {
    std::ofstream(dir_ + "/bad/broker.json") << text;
    return LoadBrokerConfig(dir_ + "/bad");
  };
  EXPECT_EQ(write("{not json").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(write("[1,2]").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(write(R"({"port": 1883})").error().field(), "admin");
  EXPECT_EQ(write(R"({"port": 99999, "admin": {}, "service": {}})").error().field(), "port");
  EXPECT_EQ(write(R"({"port": 1883, "admin": {"username": "a", "password": 5},
                      "service": {"username": "s", "password": "p"}})")
                .error()
                .field(),
            "admin.password");
  auto ok = write(R"({"port": 1884, "admin": {"username": "a", "password": "b"},
                      "service": {"username": "s", "password": "p"}})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->port, 1884);
}

TEST_F(BrokerInitTest, FindDynsecPluginHonoursOverride) {
  ASSERT_TRUE(FindDynsecPlugin());
  ::setenv("LINLI_MOSQUITTO_DYNSEC_PLUGIN", (dir_ + "/missing.so").c_str(), 1);
  auto r = FindDynsecPlugin();
  ::unsetenv("LINLI_MOSQUITTO_DYNSEC_PLUGIN");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  auto o = Opts();
  ::setenv("LINLI_MOSQUITTO_DYNSEC_PLUGIN", (dir_ + "/missing.so").c_str(), 1);
  auto init = InitBroker(o);
  ::unsetenv("LINLI_MOSQUITTO_DYNSEC_PLUGIN");
  EXPECT_EQ(init.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ + "/broker/broker.json"));
}

TEST_F(BrokerInitTest, OfflineImportWritesAndReplacesDevices) {
  ASSERT_TRUE(InitBroker(Opts()));
  std::string d = dir_ + "/broker";
  ASSERT_TRUE(ImportDevicesOffline(d, {{"d1", "c1", "pw1"}, {"d2", "c1", "pw2"}}));
  ASSERT_TRUE(ImportDevicesOffline(d, {{"d1", "c9", "pw1b"}}));
  Json ds = Dynsec();
  const Json* d1 = Find(ds["clients"], "username", "d1");
  ASSERT_NE(d1, nullptr);
  EXPECT_EQ((*d1)["clientid"], "d1");
  DynsecPasswordHash h{(*d1)["password"], (*d1)["salt"], (*d1)["iterations"]};
  EXPECT_TRUE(VerifyDynsecPassword(h, "pw1b"));
  const Json* r1 = Find(ds["roles"], "rolename", "dev:d1");
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ((*r1)["acls"][0]["topic"], "linli/v1/c9/d1/up/#");
  int d1_count = 0;
  for (const auto& c : ds["clients"]) d1_count += c["username"] == "d1";
  EXPECT_EQ(d1_count, 1);
  EXPECT_NE(Find(ds["clients"], "username", "d2"), nullptr);
  EXPECT_NE(Find(ds["clients"], "username", "linlid"), nullptr);
}

TEST_F(BrokerInitTest, OfflineImportValidatesEverythingFirst) {
  ASSERT_TRUE(InitBroker(Opts()));
  std::string d = dir_ + "/broker";
  std::string before = Slurp(d + "/dynamic-security.json");
  auto bad = ImportDevicesOffline(d, {{"ok", "c1", "pw"}, {"a/b", "c1", "pw"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field(), "devices[1].device_id");
  EXPECT_EQ(ImportDevicesOffline(d, {{"x", "c+", "pw"}}).error().field(), "devices[0].compound_id");
  EXPECT_EQ(ImportDevicesOffline(d, {{"x", "c", ""}}).error().field(), "devices[0].password");
  EXPECT_EQ(ImportDevicesOffline(d, {{"x", "c", "p"}, {"x", "c", "q"}}).error().field(),
            "devices[1].device_id");
  EXPECT_EQ(ImportDevicesOffline(d, {{"linlid", "c", "p"}}).error().field(),
            "devices[0].device_id");
  EXPECT_EQ(Slurp(d + "/dynamic-security.json"), before);
}

TEST_F(BrokerInitTest, OfflineImportRefusesWhileSomethingListens) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_TRUE(InitBroker(Opts(ntohs(a.sin_port))));
  auto r = ImportDevicesOffline(dir_ + "/broker", {{"d1", "c1", "pw"}});
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace linli::mqtt
