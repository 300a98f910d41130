// DynsecAuthority against a real mosquitto with the dynamic-security plugin.
#include "mqtt/mosquitto/dynsec_authority.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "mqtt/testing/broker_fixture.h"
#include "mqtt/testing/test_client.h"

namespace linli::mqtt {
namespace {

using std::chrono::milliseconds;
using testing::TestClient;
constexpr milliseconds kWait{5000};

class DynsecAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("linli-dynsec");
    auto b = testing::StartBroker(dir_);
    ASSERT_TRUE(b) << b.error().ToString();
    broker_ = std::move(*b);
    auth_ = std::make_unique<DynsecAuthority>(broker_->AdminOptions());
  }
  void TearDown() override {
    auth_.reset();
    broker_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Result<std::unique_ptr<TestClient>> Connect(const std::string& id, const std::string& pw) {
    TestClient::Options o;
    o.port = broker_->Port();
    o.client_id = o.username = id;
    o.password = pw;
    return TestClient::Connect(o);
  }
  std::unique_ptr<TestClient> Observer() {
    TestClient::Options o;
    o.port = broker_->Port();
    o.client_id = "observer";
    o.username = broker_->Config().service_username;
    o.password = broker_->Config().service_password;
    auto c = TestClient::Connect(o);
    EXPECT_TRUE(c);
    if (!c) return nullptr;
    EXPECT_EQ((*c)->Subscribe("linli/v1/#").value_or(-1), 1);
    return std::move(*c);
  }

  std::string dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<DynsecAuthority> auth_;
};

TEST_F(DynsecAuthorityTest, UpsertCreatesThenReplacesPasswordAndCompound) {
  ASSERT_TRUE(auth_->UpsertDevices({{"d1", "c1", "first"}}));
  auto c1 = Connect("d1", "first");
  ASSERT_TRUE(c1) << c1.error().ToString();
  (*c1)->Disconnect();

  // Moved to compound c2 with a new password: the old password and old topics stop working.
  auto r = auth_->UpsertDevices({{"d1", "c2", "second"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(Connect("d1", "first"));
  auto dev = Connect("d1", "second");
  ASSERT_TRUE(dev);
  auto obs = Observer();
  ASSERT_TRUE(obs);
  ASSERT_TRUE((*dev)->Publish("linli/v1/c1/d1/up/event", "old compound"));
  ASSERT_TRUE((*dev)->Publish("linli/v1/c2/d1/up/event", "new compound"));
  auto m = obs->NextMessage(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "linli/v1/c2/d1/up/event");

  // Empty password: keep the password, update the ACL.
  ASSERT_TRUE(auth_->UpsertDevices({{"d1", "c3", ""}}));
  (*dev)->Disconnect();
  auto again = Connect("d1", "second");
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->Publish("linli/v1/c3/d1/up/event", "third compound"));
  auto m3 = obs->NextMessage(kWait);
  ASSERT_TRUE(m3);
  EXPECT_EQ(m3->topic, "linli/v1/c3/d1/up/event");
}

TEST_F(DynsecAuthorityTest, EmptyPasswordForUnknownDeviceIsRejected) {
  auto r = auth_->UpsertDevices({{"known", "c1", "pw"}, {"new-one", "c1", ""}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field(), "devices[1].password");
}

TEST_F(DynsecAuthorityTest, ValidatesBeforeSendingAnything) {
  ASSERT_TRUE(auth_->WaitReady());
  int64_t sent = auth_->messages_sent();
  struct Case {
    std::vector<DeviceCredential> devices;
    std::string field;
  } cases[] = {
      {{{"d/1", "c1", "pw"}}, "devices[0].device_id"},
      {{{"ok", "c1", "pw"}, {"d+", "c1", "pw"}}, "devices[1].device_id"},
      {{{"d#", "c1", "pw"}}, "devices[0].device_id"},
      {{{"d1", "c/1", "pw"}}, "devices[0].compound_id"},
      {{{"d1", "", "pw"}}, "devices[0].compound_id"},
      {{{"d1", "c1", "pw"}, {"d1", "c1", "pw"}}, "devices[1].device_id"},
      {{{"linli-admin", "c1", "pw"}}, "devices[0].device_id"},
      {{{"linlid", "c1", "pw"}}, "devices[0].device_id"},
  };
  for (const auto& c : cases) {
    auto r = auth_->UpsertDevices(c.devices);
    ASSERT_FALSE(r) << c.field;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field(), c.field);
  }
  EXPECT_EQ(auth_->DeleteDevice("a/b").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(auth_->DeleteDevice("linlid").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(auth_->SetDeviceEnabled("#", false).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(auth_->messages_sent(), sent);
  EXPECT_TRUE(auth_->UpsertDevices({}));
  EXPECT_EQ(auth_->messages_sent(), sent);
}

TEST_F(DynsecAuthorityTest, DeleteIsIdempotentAndRevokesAccess) {
  ASSERT_TRUE(auth_->UpsertDevices({{"d1", "c1", "pw"}}));
  auto dev = Connect("d1", "pw");
  ASSERT_TRUE(dev);
  ASSERT_TRUE(auth_->DeleteDevice("d1"));
  EXPECT_TRUE((*dev)->WaitDisconnected(kWait));  // the plugin kicks deleted clients
  EXPECT_FALSE(Connect("d1", "pw"));
  EXPECT_TRUE(auth_->DeleteDevice("d1"));
  EXPECT_TRUE(auth_->DeleteDevice("never-existed"));
  // The role went too: the name can be reused from scratch.
  ASSERT_TRUE(auth_->UpsertDevices({{"d1", "c5", "pw2"}}));
  EXPECT_TRUE(Connect("d1", "pw2"));
}

TEST_F(DynsecAuthorityTest, DisableKicksAndEnableRestores) {
  ASSERT_TRUE(auth_->UpsertDevices({{"d1", "c1", "pw"}}));
  auto dev = Connect("d1", "pw");
  ASSERT_TRUE(dev);
  ASSERT_TRUE(auth_->SetDeviceEnabled("d1", false));
  EXPECT_TRUE((*dev)->WaitDisconnected(kWait));
  EXPECT_FALSE(Connect("d1", "pw"));
  ASSERT_TRUE(auth_->SetDeviceEnabled("d1", true));
  EXPECT_TRUE(Connect("d1", "pw"));
  auto missing = auth_->SetDeviceEnabled("ghost", false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(DynsecAuthorityTest, BatchesManyDevicesIntoFewMessages) {
  // Small on purpose: every command makes the plugin rewrite its file (see bench_dynsec.cc).
  DynsecAuthority auth(broker_->AdminOptions(30000),
                       DynsecTuning{.max_devices_per_message = 25,
                                    .target_message_ms = 600'000,
                                    .initial_devices_per_message = 25});
  std::vector<DeviceCredential> devices;
  for (int i = 0; i < 60; ++i) {
    devices.push_back(
        {"dev-" + std::to_string(i), "c" + std::to_string(i % 7), "pw-" + std::to_string(i)});
  }
  ASSERT_TRUE(auth.WaitReady());
  int64_t before = auth.messages_sent();
  auto r = auth.UpsertDevices(devices);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(auth.messages_sent() - before, 3);  // ceil(60 / 25) create rounds
  // All exist now: each chunk needs a create round (answered "already exists") and a fix round.
  devices[59].password = "changed";
  r = auth.UpsertDevices(devices);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(auth.messages_sent() - before, 3 + 6);
  EXPECT_TRUE(Connect("dev-0", "pw-0"));
  EXPECT_TRUE(Connect("dev-59", "changed"));
  EXPECT_FALSE(Connect("dev-59", "pw-59"));
}

TEST_F(DynsecAuthorityTest, UnavailableWhileTheBrokerIsDownAndRecoversAfter) {
  ASSERT_TRUE(auth_->UpsertDevices({{"d1", "c1", "pw"}}));
  ASSERT_TRUE(broker_->Stop());
  DynsecAuthority quick(broker_->AdminOptions(300));
  auto r = quick.UpsertDevices({{"d2", "c1", "pw"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(broker_->Restart());
  // The long-lived authority reconnects by itself; state survived the restart.
  auto r2 = auth_->UpsertDevices({{"d2", "c1", "pw2"}});
  ASSERT_TRUE(r2) << r2.error().ToString();
  EXPECT_TRUE(Connect("d1", "pw"));
  EXPECT_TRUE(Connect("d2", "pw2"));
}

TEST_F(DynsecAuthorityTest, ConnectsOnceTheBrokerAppears) {
  ASSERT_TRUE(broker_->Stop());
  DynsecAuthority late(broker_->AdminOptions(300));
  EXPECT_EQ(late.WaitReady().error().code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(broker_->Restart());
  bool ready = false;
  for (int i = 0; i < 50 && !ready; ++i) ready = static_cast<bool>(late.WaitReady());  // 15 s
  ASSERT_TRUE(ready);
  EXPECT_TRUE(late.UpsertDevices({{"d7", "c1", "pw"}}));
  EXPECT_TRUE(Connect("d7", "pw"));
}

TEST_F(DynsecAuthorityTest, BadOptionsFailEveryCall) {
  BrokerAdminOptions o = broker_->AdminOptions();
  o.password.clear();
  DynsecAuthority a(o);
  EXPECT_EQ(a.UpsertDevices({{"d1", "c1", "pw"}}).error().code(), ErrorCode::kInvalidArgument);
  o = broker_->AdminOptions();
  o.port = 0;
  EXPECT_EQ(DynsecAuthority(o).DeleteDevice("d1").error().field(), "port");
  // Right port, wrong password: the broker refuses, calls time out as Unavailable.
  o = broker_->AdminOptions(300);
  o.password = "wrong";
  auto r = DynsecAuthority(o).SetDeviceEnabled("d1", true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
}

TEST_F(DynsecAuthorityTest, ExecuteReturnsOneResponsePerCommand) {
  auto r = auth_->Execute({{{"command", "listClients"}}, {{"command", "noSuchCommand"}}});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0]["command"], "listClients");
  EXPECT_FALSE((*r)[0].contains("error"));
  EXPECT_TRUE((*r)[1].contains("error"));
  EXPECT_EQ(auth_->Execute({Json("not an object")}).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace linli::mqtt
