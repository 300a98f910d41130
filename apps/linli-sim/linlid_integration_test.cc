// linli-sim against the real linlid and mosquitto (from LINLI_BIN_DIR, started on loopback
// free ports in a temp dir): registration through the API is complete and idempotent (a second
// run reuses every record and rotates device passwords), and the simulated traffic ends up as
// stored events. Skipped when linlid has not been built.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "api_client.h"
#include "common/clock.h"
#include "common/ids.h"
#include "fleet.h"
#include "registrar.h"
#include "world.h"

namespace linli::sim {
namespace {

namespace fs = std::filesystem;
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

pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log, const char* env_kv = nullptr) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f != nullptr) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    if (env_kv != nullptr) putenv(const_cast<char*>(env_kv));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void Stop(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

class LinlidTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("LINLI_BIN_DIR");
    linlid_ = fs::path(bin != nullptr ? bin : "") / "linlid";
    if (bin == nullptr || !fs::exists(linlid_)) GTEST_SKIP() << "linlid not built (LINLI_BIN_DIR)";
    dir_ = fs::temp_directory_path() / ("linli-sim-linlid-" + RandomHex(6));
    fs::create_directories(dir_);
    broker_port_ = FreePort();
    http_port_ = FreePort();
    const std::string data = (dir_ / "data").string();
    pid_t init = Spawn({linlid_.string(), "broker", "init", "--data-dir", data, "--port", std::to_string(broker_port_)},
                       dir_ / "init.log");
    int status = 0;
    waitpid(init, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "linlid broker init failed";
    mosquitto_ = Spawn({"/usr/sbin/mosquitto", "-c", data + "/mosquitto.conf"}, dir_ / "mosquitto.log");
    ASSERT_TRUE(WaitPort(broker_port_)) << "mosquitto did not start";
    linlid_pid_ = Spawn({linlid_.string(), "--log-level", "warn", "serve", "--data-dir", data, "--http",
                         "127.0.0.1:" + std::to_string(http_port_), "--mqtt",
                         "127.0.0.1:" + std::to_string(broker_port_)},
                        dir_ / "linlid.log", "LINLI_ADMIN_PASSWORD=sim-test-password");
    ASSERT_TRUE(WaitPort(http_port_)) << "linlid did not start";
  }
  void TearDown() override {
    Stop(linlid_pid_);
    Stop(mosquitto_);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  static bool WaitPort(int port) {
    const auto deadline = Steady::now() + std::chrono::seconds(20);
    while (!CanConnect(port)) {
      if (Steady::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  RegisterOptions Options() const {
    RegisterOptions o;
    o.api_url = "http://127.0.0.1:" + std::to_string(http_port_);
    o.password = "sim-test-password";
    o.concurrency = 3;
    return o;
  }

  fs::path linlid_;
  fs::path dir_;
  int broker_port_ = 0, http_port_ = 0;
  pid_t mosquitto_ = -1, linlid_pid_ = -1;
};

TEST_F(LinlidTest, RegistersIdempotentlyAndTrafficIsStored) {
  WorldOptions wo;
  wo.compounds = 1;
  wo.devices_per_kind = 1;
  wo.kinds = {"door_controller", "barrier_gate"};
  wo.buildings_per_compound = 1;
  wo.floors = 2;
  auto world = PlanWorld(wo);
  ASSERT_TRUE(world.has_value());

  auto first = RegisterWorld(*world, Options(), SystemClock(), nullptr);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->failed, 0u) << (first->first_errors.empty() ? "" : first->first_errors[0]);
  EXPECT_EQ(first->created, world->RegistrationCount());
  ASSERT_EQ(first->accounts.size(), 2u);

  auto second = RegisterWorld(*world, Options(), SystemClock(), nullptr);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->failed, 0u) << (second->first_errors.empty() ? "" : second->first_errors[0]);
  EXPECT_EQ(second->existed, world->RegistrationCount());
  ASSERT_EQ(second->accounts.size(), 2u);
  std::set<std::string> old_passwords;
  for (const auto& a : first->accounts) old_passwords.insert(a.mqtt.password);
  for (const auto& a : second->accounts) {
    EXPECT_FALSE(old_passwords.count(a.mqtt.password)) << "credentials of " << a.device.id << " not rotated";
    EXPECT_EQ(a.mqtt.topic_prefix, "linli/v1/sim-c1/" + a.device.id + "/");
  }

  // Drive the devices with the rotated credentials until linlid has stored passages.
  FleetOptions fo;
  fo.broker = HostPort{"127.0.0.1", broker_port_};
  fo.rate = 100;
  fo.threads = 1;
  std::atomic<bool> stop{false};
  Fleet fleet(&*world, second->accounts, fo, SystemClock());
  std::thread runner([&] { (void)fleet.Run(stop, nullptr); });
  LinliApi api(MakeBeastHttpClient(*ParseHttpUrl(Options().api_url)), SystemClock());
  ASSERT_TRUE(api.Login("admin", "sim-test-password").has_value());
  std::set<std::string> types;
  const auto deadline = Steady::now() + std::chrono::seconds(20);
  while (Steady::now() < deadline && (types.count("door.passage") == 0 || types.count("vehicle.passage") == 0)) {
    auto body = api.GetText("/api/v1/events?compound=sim-c1&limit=200");
    ASSERT_TRUE(body.has_value()) << body.error().ToString();
    auto j = ParseJson(*body);
    ASSERT_TRUE(j.has_value());
    for (const auto& item : (*j)["items"]) types.insert(item.value("type", ""));
    std::this_thread::yield();
  }
  stop = true;
  runner.join();
  EXPECT_TRUE(types.count("door.passage")) << "no door passages stored";
  EXPECT_TRUE(types.count("vehicle.passage")) << "no vehicle passages stored";
  EXPECT_EQ(fleet.Stats().connect_failures.load(), 0);
}

TEST_F(LinlidTest, WrongPasswordIsAClearError) {
  RegisterOptions o = Options();
  o.password = "wrong-password";
  WorldOptions wo;
  auto world = PlanWorld(wo);
  ASSERT_TRUE(world.has_value());
  auto r = RegisterWorld(*world, o, SystemClock(), nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated) << r.error().ToString();
}

}  // namespace
}  // namespace linli::sim
