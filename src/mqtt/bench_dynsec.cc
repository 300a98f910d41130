// linli-bench-dynsec: what device provisioning costs on mosquitto 2.0's dynamic-security plugin.
//
//   linli-bench-dynsec [--online N] [--chunk B] [--marginal N1,N2,...] [--probe P]
//
// --online N     provisions N devices through DynsecAuthority::UpsertDevices (chunks of B) on
//                a fresh broker and prints the time per chunk as the file grows.
// --marginal Ns  for each N: ImportDevicesOffline(N) on a stopped broker (time, file size),
//                broker start-up time and RSS with N devices, then the online cost of adding P
//                more devices at that size (= how long the broker is blocked per device).
// Prints plain lines; nothing is asserted (bench/ style: figures, not verdicts).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "mqtt/broker_init.h"
#include "mqtt/mosquitto/dynsec_authority.h"
#include "mqtt/testing/broker_fixture.h"
#include "mqtt/testing/test_client.h"

namespace {

using linli::mqtt::DeviceCredential;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<DeviceCredential> Devices(int from, int to) {
  std::vector<DeviceCredential> v;
  v.reserve(static_cast<size_t>(to - from));
  for (int i = from; i < to; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "dev-%06d", i);
    v.push_back({id, "compound-" + std::to_string(i % 1000), "pw-" + std::to_string(i)});
  }
  return v;
}

long FileSize(const std::string& path) {
  std::error_code ec;
  auto s = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<long>(s);
}

long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::atoi(item.c_str()));
  }
  return out;
}

int Online(int n, int chunk) {
  std::string dir = linli::mqtt::testing::MakeTempDir("linli-bench-online");
  auto broker = linli::mqtt::testing::StartBroker(dir);
  if (!broker) {
    std::cerr << broker.error().ToString() << "\n";
    return 1;
  }
  linli::mqtt::DynsecAuthority auth((*broker)->AdminOptions(3'600'000),
                                    {.max_devices_per_message = static_cast<size_t>(chunk)});
  std::printf("online: %d devices in chunks of %d (createRole+createClient per device)\n", n,
              chunk);
  auto t0 = Clock::now();
  for (int done = 0; done < n; done += chunk) {
    int to = std::min(n, done + chunk);
    auto a = Clock::now();
    auto r = auth.UpsertDevices(Devices(done, to));
    auto b = Clock::now();
    if (!r) {
      std::cerr << "upsert failed: " << r.error().ToString() << "\n";
      return 1;
    }
    std::printf("  devices %6d..%6d  %7.2f s  %6.1f ms/device  file %9ld bytes\n", done, to,
                Seconds(a, b), 1000 * Seconds(a, b) / (to - done),
                FileSize(dir + "/dynamic-security.json"));
    std::fflush(stdout);
  }
  double total = Seconds(t0, Clock::now());
  std::printf("online total: %d devices %.1f s (%.1f devices/s), file %ld bytes\n", n, total,
              n / total, FileSize(dir + "/dynamic-security.json"));
  broker->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

int Marginal(int n, int probe) {
  std::string dir = linli::mqtt::testing::MakeTempDir("linli-bench-marginal");
  // Initialise (starting once creates the files), stop, import offline, start again.
  auto broker = linli::mqtt::testing::StartBroker(dir);
  if (!broker) {
    std::cerr << broker.error().ToString() << "\n";
    return 1;
  }
  if (!(*broker)->Stop()) return 1;
  auto a = Clock::now();
  auto imp = linli::mqtt::ImportDevicesOffline(dir, Devices(0, n));
  auto b = Clock::now();
  if (!imp) {
    std::cerr << imp.error().ToString() << "\n";
    return 1;
  }
  long size = FileSize(dir + "/dynamic-security.json");
  auto c = Clock::now();
  if (auto r = (*broker)->Restart(); !r) {
    std::cerr << r.error().ToString() << "\n";
    return 1;
  }
  auto d = Clock::now();
  long rss = RssKb((*broker)->Pid());
  // An imported device can log in.
  linli::mqtt::testing::TestClient::Options o;
  o.port = (*broker)->Port();
  o.client_id = o.username = "dev-000000";
  o.password = "pw-0";
  bool login = static_cast<bool>(linli::mqtt::testing::TestClient::Connect(o));

  auto authority =
      std::make_unique<linli::mqtt::DynsecAuthority>((*broker)->AdminOptions(3'600'000));
  auto& auth = *authority;
  if (!auth.WaitReady()) return 1;
  auto e = Clock::now();
  auto r = auth.UpsertDevices(Devices(n, n + probe));
  auto f = Clock::now();
  if (!r) {
    std::cerr << r.error().ToString() << "\n";
    return 1;
  }
  // One more, alone: the broker stall a single online add causes.
  auto g = Clock::now();
  auto r1 = auth.UpsertDevices(Devices(n + probe, n + probe + 1));
  auto h = Clock::now();
  std::printf(
      "N=%6d offline import %6.2f s, file %9ld bytes (%ld B/device), broker start %5.2f s, "
      "RSS %7ld kB, imported login %s | online: +%d devices %7.2f s (%6.1f ms/device), "
      "+1 device %6.1f ms%s\n",
      n, Seconds(a, b), size, n ? size / n : 0, Seconds(c, d), rss, login ? "ok" : "FAILED", probe,
      Seconds(e, f), 1000 * Seconds(e, f) / probe, 1000 * Seconds(g, h), r1 ? "" : " (failed)");
  std::fflush(stdout);
  authority.reset();
  broker->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  linli::log::Init(linli::log::Level::kWarn, linli::log::Format::kText);
  int online = 0, chunk = 250, probe = 20;
  std::vector<int> marginal;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--online") {
      online = std::atoi(next().c_str());
    } else if (a == "--chunk") {
      chunk = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--marginal") {
      marginal = ParseList(next());
    } else if (a == "--probe") {
      probe = std::max(1, std::atoi(next().c_str()));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--online N] [--chunk B] [--marginal N1,N2,...] [--probe P]\n",
                   argv[0]);
      return 2;
    }
  }
  if (online == 0 && marginal.empty()) {
    online = 1000;
    marginal = {1000, 10000, 100000};
  }
  if (online > 0 && Online(online, chunk) != 0) return 1;
  for (int n : marginal) {
    if (Marginal(n, probe) != 0) return 1;
  }
  return 0;
}
