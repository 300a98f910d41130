// The simulator's MQTT side against a real mosquitto (anonymous, loopback, free port): the
// fleet's topics and payloads, retained status and will, command acknowledgements, and the
// flood generator delivering exactly the messages it counts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/ids.h"
#include "common/json.h"
#include "fleet.h"
#include "flood.h"
#include "mqtt_pool.h"

namespace linli::sim {
namespace {

using Steady = std::chrono::steady_clock;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// A subscriber that records everything under linli/#.
class Recorder final : public MqttPoolListener {
 public:
  void OnConnected(size_t) override { connected = true; }
  void OnSubscribed(size_t, int, int) override { subscribed = true; }
  void OnMessage(size_t, std::string_view topic, std::string_view payload) override {
    messages.emplace_back(std::string(topic), std::string(payload));
  }
  bool connected = false;
  bool subscribed = false;
  std::vector<std::pair<std::string, std::string>> messages;
};

class SimMqttTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("linli-sim-test-" + RandomHex(6));
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
                                           << "max_queued_messages 100000\nlog_dest none\n";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/usr/sbin/mosquitto", "mosquitto", "-c", (dir_ / "mosquitto.conf").c_str(), nullptr);
      _exit(127);
    }
    const auto deadline = Steady::now() + std::chrono::seconds(10);
    while (!CanConnect(port_) && Steady::now() < deadline) std::this_thread::yield();
    ASSERT_TRUE(CanConnect(port_)) << "mosquitto did not start on port " << port_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  // Polls `pool` until `done` or 10 s.
  template <typename F>
  bool PollUntil(MqttPool& pool, F done) {
    const auto deadline = Steady::now() + std::chrono::seconds(10);
    while (!done()) {
      if (Steady::now() > deadline) return false;
      pool.Poll(10);
    }
    return true;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(SimMqttTest, FleetSpeaksTheProtocolAndAnswersCommands) {
  WorldOptions wo;
  wo.compounds = 1;
  wo.devices_per_kind = 1;
  wo.kinds = {"door_controller", "gas_sensor", "electricity_meter", "sound_light_alarm"};
  auto world = PlanWorld(wo);
  ASSERT_TRUE(world.has_value());
  std::vector<DeviceAccount> accounts;
  for (const auto& d : world->devices) {
    accounts.push_back({d, MqttAccount{d.id, d.id, "pw", "linli/v1/" + d.compound_id + "/" + d.id + "/"}});
  }
  Recorder rec;
  MqttPool watcher(HostPort{"127.0.0.1", port_}, &rec, SystemClock());
  MqttClientOptions wopt;
  wopt.client_id = "watcher";
  size_t w = *watcher.Add(wopt);
  ASSERT_TRUE(watcher.Connect(w).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.connected; }));
  ASSERT_TRUE(watcher.Subscribe(w, "linli/#", 1).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.subscribed; }));

  FleetOptions fo;
  fo.broker = HostPort{"127.0.0.1", port_};
  fo.rate = 200;
  fo.threads = 2;
  fo.heartbeat_s = 0.5;
  fo.fault_bad_payload_rate = 0.05;
  std::atomic<bool> stop{false};
  Fleet fleet(&*world, accounts, fo, SystemClock());
  std::thread runner([&] { ASSERT_TRUE(fleet.Run(stop, nullptr).has_value()); });

  const std::string door = accounts[0].mqtt.topic_prefix;
  ASSERT_EQ(accounts[0].device.kind, "door_controller");
  auto count = [&](std::string_view suffix) {
    int n = 0;
    for (const auto& [t, p] : rec.messages) n += t.ends_with(suffix);
    return n;
  };
  // Every device comes online and talks.
  ASSERT_TRUE(PollUntil(watcher, [&] { return count("/up/status") >= 4 && count("/up/telemetry") >= 50; }));
  // A command to the door: an ack and a door.unlocked event.
  MqttClientOptions copt;
  copt.client_id = "commander";
  Recorder crec;
  MqttPool commander(HostPort{"127.0.0.1", port_}, &crec, SystemClock());
  size_t c = *commander.Add(copt);
  ASSERT_TRUE(commander.Connect(c).has_value());
  ASSERT_TRUE(PollUntil(commander, [&] { return crec.connected; }));
  const std::string cmd = R"({"id":"cmd-1","ts":1,"name":"unlock","args":{},"expires":0,"cause":"test"})";
  ASSERT_TRUE(commander.Publish(c, door + "down/command", cmd, 1, false).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] {
    commander.Poll(0);
    bool ack = false, event = false;
    for (const auto& [t, p] : rec.messages) {
      if (t == door + "up/ack") ack = ack || p.find("\"command_id\":\"cmd-1\"") != std::string::npos;
      if (t == door + "up/event") event = event || p.find("door.unlocked") != std::string::npos;
    }
    return ack && event;
  }));
  stop = true;
  runner.join();
  // Graceful stop: every device said "offline" (retained) before disconnecting.
  ASSERT_TRUE(PollUntil(watcher, [&] {
    int offline = 0;
    for (const auto& [t, p] : rec.messages) offline += t.ends_with("/up/status") && p == "offline";
    return offline >= 4;
  }));

  // Shape of the good traffic.
  int good = 0;
  for (const auto& [t, p] : rec.messages) {
    if (!t.ends_with("/up/telemetry") && !t.ends_with("/up/event")) continue;
    auto j = ParseJson(p);
    if (!j || !(*j)["ts"].is_number_integer()) continue;  // injected bad payloads
    if (t.ends_with("/up/event") && !(j->contains("id") && IsUuid((*j)["id"].get<std::string>()))) continue;
    ++good;
  }
  EXPECT_GT(good, 50);
  EXPECT_GT(fleet.Stats().bad_payloads.load(), 0);
  EXPECT_EQ(fleet.Stats().commands.load(), 1);
}

TEST_F(SimMqttTest, NeverAckDevicesIgnoreCommands) {
  WorldOptions wo;
  wo.compounds = 1;
  wo.devices_per_kind = 2;
  wo.kinds = {"door_controller"};
  wo.devices_only = true;
  auto world = PlanWorld(wo);
  ASSERT_TRUE(world.has_value());
  std::vector<DeviceAccount> accounts;
  for (const auto& d : world->devices) {
    accounts.push_back({d, MqttAccount{d.id, d.id, "pw", "linli/v1/" + d.compound_id + "/" + d.id + "/"}});
  }
  ASSERT_EQ(accounts.size(), 2u);
  const std::string mute = accounts[0].mqtt.topic_prefix, answering = accounts[1].mqtt.topic_prefix;
  Recorder rec;
  MqttPool watcher(HostPort{"127.0.0.1", port_}, &rec, SystemClock());
  MqttClientOptions wopt;
  wopt.client_id = "watcher";
  size_t w = *watcher.Add(wopt);
  ASSERT_TRUE(watcher.Connect(w).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.connected; }));
  ASSERT_TRUE(watcher.Subscribe(w, "linli/#", 1).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.subscribed; }));

  FleetOptions fo;
  fo.broker = HostPort{"127.0.0.1", port_};
  fo.rate = 0;
  fo.threads = 1;
  fo.no_ack_devices = {accounts[0].device.id};
  ASSERT_TRUE(NeverAcks(fo, accounts[0].device.id));
  ASSERT_FALSE(NeverAcks(fo, accounts[1].device.id));
  std::atomic<bool> stop{false};
  Fleet fleet(&*world, accounts, fo, SystemClock());
  std::thread runner([&] { ASSERT_TRUE(fleet.Run(stop, nullptr).has_value()); });
  auto seen = [&](const std::string& topic, std::string_view needle) {
    for (const auto& [t, p] : rec.messages) {
      if (t == topic && p.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  // Both devices are online (and therefore subscribed to their commands: they subscribe first).
  ASSERT_TRUE(PollUntil(watcher, [&] { return seen(mute + "up/status", "online") && seen(answering + "up/status", "online"); }));
  const std::string cmd = R"({"id":"%s","ts":1,"name":"unlock","args":{},"expires":0,"cause":{"kind":"event","id":"e"}})";
  auto command = [&](const std::string& id) {
    std::string c = cmd;
    c.replace(c.find("%s"), 2, id);
    return c;
  };
  ASSERT_TRUE(watcher.Publish(w, mute + "down/command", command("to-mute"), 1, false).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return fleet.Stats().commands_unanswered.load() == 1; }));
  ASSERT_TRUE(watcher.Publish(w, answering + "down/command", command("to-answering"), 1, false).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return seen(answering + "up/ack", "\"to-answering\""); }));
  // The door's event is a message of its own after the ack: wait for it too.
  EXPECT_TRUE(PollUntil(watcher, [&] { return seen(answering + "up/event", "door.unlocked"); }));
  stop = true;
  runner.join();
  // The mute device's "offline" comes after anything it could have sent on its connection.
  ASSERT_TRUE(PollUntil(watcher, [&] { return seen(mute + "up/status", "offline"); }));
  EXPECT_FALSE(seen(mute + "up/ack", "to-mute"));
  EXPECT_FALSE(seen(mute + "up/event", "door.unlocked"));
  EXPECT_EQ(fleet.Stats().commands.load(), 2);
  EXPECT_EQ(fleet.Stats().commands_unanswered.load(), 1);
  EXPECT_EQ(fleet.Stats().command_errors.load(), 0);
}

TEST_F(SimMqttTest, KilledDevicesLeaveTheirWill) {
  WorldOptions wo;
  wo.compounds = 1;
  wo.devices_per_kind = 5;
  wo.kinds = {"smoke_sensor"};
  wo.devices_only = true;
  auto world = PlanWorld(wo);
  ASSERT_TRUE(world.has_value());
  std::vector<DeviceAccount> accounts;
  for (const auto& d : world->devices) {
    accounts.push_back({d, MqttAccount{d.id, d.id, "pw", "linli/v1/" + d.compound_id + "/" + d.id + "/"}});
  }
  Recorder rec;
  MqttPool watcher(HostPort{"127.0.0.1", port_}, &rec, SystemClock());
  MqttClientOptions wopt;
  wopt.client_id = "watcher";
  size_t w = *watcher.Add(wopt);
  ASSERT_TRUE(watcher.Connect(w).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.connected; }));
  ASSERT_TRUE(watcher.Subscribe(w, "linli/#", 1).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.subscribed; }));

  FleetOptions fo;
  fo.broker = HostPort{"127.0.0.1", port_};
  fo.rate = 50;
  fo.fault_silent = 1.0;   // everyone goes silent ...
  fo.silent_after_s = 0.6;  // ... within 0.3-0.6 s
  std::atomic<bool> stop{false};
  Fleet fleet(&*world, accounts, fo, SystemClock());
  std::thread runner([&] { (void)fleet.Run(stop, nullptr); });
  ASSERT_TRUE(PollUntil(watcher, [&] { return fleet.Stats().silenced.load() == 5; }));
  // Devices that were killed (not hung) get "offline" from the broker (their will) although
  // the fleet never sent it: the fleet is still running and sends "offline" only on stop.
  std::set<std::string> killed;  // the same draw as the fleet's: half killed, half hung
  for (const auto& a : accounts) {
    Rng r(SeedFor(fo.seed, "silent:" + a.device.id));
    ASSERT_TRUE(r.Chance(fo.fault_silent));
    if (r.Chance(0.5)) killed.insert(a.mqtt.topic_prefix + "up/status");
  }
  ASSERT_FALSE(killed.empty());
  ASSERT_LT(killed.size(), accounts.size());
  auto offline = [&] {
    std::set<std::string> topics;
    for (const auto& [t, p] : rec.messages) {
      if (t.ends_with("/up/status") && p == "offline") topics.insert(t);
    }
    return topics;
  };
  ASSERT_TRUE(PollUntil(watcher, [&] { return offline().size() >= killed.size(); }))
      << "expected " << killed.size() << " wills";
  // Hung devices stay connected: no will for them.
  EXPECT_EQ(offline(), killed);
  stop = true;
  runner.join();
}

TEST_F(SimMqttTest, FloodDeliversExactlyWhatItCounts) {
  Recorder rec;
  MqttPool watcher(HostPort{"127.0.0.1", port_}, &rec, SystemClock());
  MqttClientOptions wopt;
  wopt.client_id = "watcher";
  size_t w = *watcher.Add(wopt);
  ASSERT_TRUE(watcher.Connect(w).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.connected; }));
  ASSERT_TRUE(watcher.Subscribe(w, "linli/#", 1).has_value());
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.subscribed; }));

  FloodOptions fo;
  fo.broker = HostPort{"127.0.0.1", port_};
  fo.identities = {MqttAccount{"f1", "f1", "", "linli/v1/c/f1/"}, MqttAccount{"f2", "f2", "", "linli/v1/c/f2/"}};
  fo.rate = 0;
  fo.duration_s = 0;
  fo.count = 3000;
  fo.kind = FloodKind::kEvent;
  std::atomic<bool> stop{false};
  auto r = RunFlood(fo, SystemClock(), stop, nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->published, 3000);
  EXPECT_EQ(r->acked, 3000);
  ASSERT_TRUE(PollUntil(watcher, [&] { return rec.messages.size() >= 3000; }));
  std::set<int64_t> seqs;
  std::set<std::string> ids;
  for (const auto& [t, p] : rec.messages) {
    auto j = ParseJson(p);
    ASSERT_TRUE(j.has_value()) << p;
    EXPECT_TRUE(t == "linli/v1/c/f1/up/event" || t == "linli/v1/c/f2/up/event") << t;
    seqs.insert((*j)["data"]["seq"].get<int64_t>());
    ids.insert((*j)["id"].get<std::string>());
  }
  EXPECT_EQ(seqs.size(), 3000u);
  EXPECT_EQ(*seqs.begin(), 0);
  EXPECT_EQ(*seqs.rbegin(), 2999);
  EXPECT_EQ(ids.size(), 3000u);
}

TEST(ParseTest, HostPortAndUrls) {
  EXPECT_EQ(ParseHostPort("10.0.0.1:1884")->port, 1884);
  EXPECT_EQ(ParseHostPort("broker")->port, 1883);
  EXPECT_FALSE(ParseHostPort("broker:0").has_value());
  EXPECT_FALSE(ParseHostPort("broker:x").has_value());
  EXPECT_FALSE(ParseHostPort(":1883").has_value());
  auto u = ParseHttpUrl("http://127.0.0.1:8080/");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->base_path, "");
  EXPECT_EQ(ParseHttpUrl("http://h/base/")->base_path, "/base");
  EXPECT_FALSE(ParseHttpUrl("https://h").has_value());
  EXPECT_FALSE(ParseHttpUrl("ftp://h").has_value());
  EXPECT_FALSE(ParseHttpUrl("http://h:99999").has_value());
}

}  // namespace
}  // namespace linli::sim
