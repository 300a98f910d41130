// What the broker enforces with the configuration InitBroker writes and the device layout the
// authority creates: a real mosquitto, real clients.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "mqtt/broker_init.h"
#include "mqtt/mosquitto/dynsec_authority.h"
#include "mqtt/testing/broker_fixture.h"
#include "mqtt/testing/test_client.h"

namespace linli::mqtt {
namespace {

using std::chrono::milliseconds;
using testing::TestClient;
constexpr milliseconds kWait{5000};
// Used only to assert that something does NOT arrive, after a later marker message did arrive.
constexpr milliseconds kNoMore{0};

class BrokerAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("linli-acl");
    auto b = testing::StartBroker(dir_);
    ASSERT_TRUE(b) << b.error().ToString();
    broker_ = std::move(*b);
    authority_ = std::make_unique<DynsecAuthority>(broker_->AdminOptions());
    auto r = authority_->UpsertDevices({{"d1", "c1", "pw-d1"}, {"d2", "c1", "pw-d2"}});
    ASSERT_TRUE(r) << r.error().ToString() << "\n" << broker_->LogTail();
  }
  void TearDown() override {
    authority_.reset();
    broker_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestClient::Options Client(std::string id, std::string user, std::string pw) {
    TestClient::Options o;
    o.port = broker_->Port();
    o.client_id = std::move(id);
    o.username = std::move(user);
    o.password = std::move(pw);
    return o;
  }
  // The service account, as linlid uses it, observing all device traffic.
  std::unique_ptr<TestClient> Observer() {
    auto o =
        Client("observer", broker_->Config().service_username, broker_->Config().service_password);
    auto c = TestClient::Connect(o);
    EXPECT_TRUE(c) << c.error().ToString();
    if (!c) return nullptr;
    auto g = (*c)->Subscribe("linli/v1/#");
    EXPECT_TRUE(g && *g == 1);
    return std::move(*c);
  }

  std::string dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<DynsecAuthority> authority_;
};

TEST_F(BrokerAclTest, DevicePublishesOnItsOwnTopicAndTheServiceReceives) {
  auto obs = Observer();
  ASSERT_TRUE(obs);
  auto d1 = TestClient::Connect(Client("d1", "d1", "pw-d1"));
  ASSERT_TRUE(d1) << d1.error().ToString();
  ASSERT_TRUE((*d1)->Publish("linli/v1/c1/d1/up/telemetry", R"({"ts":1,"metrics":{"t":21.5}})"));
  auto m = obs->NextMessage(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "linli/v1/c1/d1/up/telemetry");
  EXPECT_EQ(m->payload, R"({"ts":1,"metrics":{"t":21.5}})");
  EXPECT_EQ(m->qos, 1);
}

TEST_F(BrokerAclTest, DeviceCannotPublishAsAnotherDeviceOrOutsideUp) {
  auto obs = Observer();
  ASSERT_TRUE(obs);
  auto d1 = TestClient::Connect(Client("d1", "d1", "pw-d1"));
  ASSERT_TRUE(d1);
  // MQTT 3.1.1: the broker acknowledges and drops what the ACL denies.
  ASSERT_TRUE((*d1)->Publish("linli/v1/c1/d2/up/event", "forged"));
  ASSERT_TRUE((*d1)->Publish("linli/v1/c2/d1/up/event", "other compound"));
  ASSERT_TRUE((*d1)->Publish("linli/v1/c1/d1/down/command", "fake command"));
  ASSERT_TRUE((*d1)->Publish("elsewhere", "x"));
  ASSERT_TRUE((*d1)->Publish("linli/v1/c1/d1/up/event", "marker"));
  // Messages of one connection are forwarded in order: once the marker is here, anything the
  // broker had accepted before it would be here too.
  auto m = obs->NextMessage(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "marker") << m->topic;
  EXPECT_FALSE(obs->NextMessage(kNoMore));
}

TEST_F(BrokerAclTest, DeviceCanSubscribeOnlyToItsOwnDownTopics) {
  auto d1 = TestClient::Connect(Client("d1", "d1", "pw-d1"));
  ASSERT_TRUE(d1);
  EXPECT_EQ((*d1)->Subscribe("linli/v1/c1/d2/down/#").value_or(-1), 0x80);
  EXPECT_EQ((*d1)->Subscribe("linli/v1/#").value_or(-1), 0x80);
  EXPECT_EQ((*d1)->Subscribe("#").value_or(-1), 0x80);
  EXPECT_EQ((*d1)->Subscribe("linli/v1/c1/d1/up/#").value_or(-1), 0x80);
  EXPECT_EQ((*d1)->Subscribe("linli/v1/c1/d1/down/#").value_or(-1), 1);

  // The service may command it.
  auto svc = TestClient::Connect(
      Client("svc", broker_->Config().service_username, broker_->Config().service_password));
  ASSERT_TRUE(svc);
  ASSERT_TRUE((*svc)->Publish("linli/v1/c1/d2/down/command", "for d2"));
  ASSERT_TRUE((*svc)->Publish("linli/v1/c1/d1/down/command", R"({"name":"open"})"));
  auto m = (*d1)->NextMessage(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "linli/v1/c1/d1/down/command");
  EXPECT_FALSE((*d1)->NextMessage(kNoMore));
  // The service cannot forge device traffic.
  auto obs = Observer();
  ASSERT_TRUE(obs);
  ASSERT_TRUE((*svc)->Publish("linli/v1/c1/d1/up/event", "forged by service"));
  ASSERT_TRUE((*d1)->Publish("linli/v1/c1/d1/up/event", "marker"));
  auto first = obs->NextMessage(kWait);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->payload, "marker");
}

TEST_F(BrokerAclTest, BadCredentialsAreRefused) {
  auto wrong = TestClient::Connect(Client("d1", "d1", "not-the-password"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kUnauthenticated);

  auto anonymous = TestClient::Connect(Client("anon", "", ""));
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code(), ErrorCode::kUnauthenticated);

  auto unknown = TestClient::Connect(Client("ghost", "ghost", "pw"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kUnauthenticated);

  // The client id is pinned to the device id.
  auto other_id = TestClient::Connect(Client("not-d1", "d1", "pw-d1"));
  ASSERT_FALSE(other_id);
  EXPECT_EQ(other_id.error().code(), ErrorCode::kUnauthenticated);

  // The admin account cannot read device traffic.
  auto admin = TestClient::Connect(
      Client("adm", broker_->Config().admin_username, broker_->Config().admin_password));
  ASSERT_TRUE(admin);
  EXPECT_EQ((*admin)->Subscribe("linli/v1/#").value_or(-1), 0x80);
}

TEST_F(BrokerAclTest, OfflineImportedDevicesAuthenticateWithTheRealPlugin) {
  authority_.reset();
  ASSERT_TRUE(broker_->Stop());
  auto r = ImportDevicesOffline(broker_->Dir(), {{"d9", "c3", "pw-d9"}, {"d1", "c1", "pw-d1-new"}});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_TRUE(broker_->Restart()) << broker_->LogTail();
  auto obs = Observer();
  ASSERT_TRUE(obs);
  auto d9 = TestClient::Connect(Client("d9", "d9", "pw-d9"));
  ASSERT_TRUE(d9) << d9.error().ToString() << broker_->LogTail();
  ASSERT_TRUE((*d9)->Publish("linli/v1/c3/d9/up/event", "hello"));
  auto m = obs->NextMessage(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "linli/v1/c3/d9/up/event");
  EXPECT_FALSE(TestClient::Connect(Client("d1", "d1", "pw-d1")));
  EXPECT_TRUE(TestClient::Connect(Client("d1", "d1", "pw-d1-new")));
  // Devices created online before the restart are still there.
  EXPECT_TRUE(TestClient::Connect(Client("d2", "d2", "pw-d2")));
}

}  // namespace
}  // namespace linli::mqtt
