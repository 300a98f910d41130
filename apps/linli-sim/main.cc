// linli-sim: simulates whole compounds against linlid (registry through the REST API, devices
// over MQTT with their own credentials) and generates raw MQTT load for benchmarks.
//
//   linli-sim run      register a world, then drive its devices (telemetry, events, faults)
//   linli-sim register register a world only; optionally write the device accounts to a file
//   linli-sim flood    raw publish load at a fixed rate from one or more identities
//   linli-sim fetch    GET an API path with an admin token (e.g. /metrics) and print the body
//   linli-sim token    log in and print a bearer token (for repeated fetches)
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/clock.h"
#include "common/log.h"
#include "flood.h"
#include "fleet.h"
#include "registrar.h"
#include "world.h"

namespace {

using namespace linli;
using namespace linli::sim;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Each simulated device holds three descriptors (its socket and libmosquitto's wake-up pair).
// Raises the soft limit to the hard one and says so if that is still too low.
void EnsureDescriptors(size_t clients) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const rlim_t need = static_cast<rlim_t>(clients) * 3 + 64;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    std::fprintf(stderr,
                 "linli-sim: warning: %zu clients need about %llu descriptors but the limit is %llu; "
                 "raise it (ulimit -n) or some devices will fail to connect\n",
                 clients, static_cast<unsigned long long>(need), static_cast<unsigned long long>(rl.rlim_cur));
  }
}

void Print(const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

int Die(const Error& e) {
  std::fprintf(stderr, "linli-sim: %s\n", e.ToString().c_str());
  return 1;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct ApiFlags {
  std::string api = "http://127.0.0.1:8080";
  std::string user = "admin";
  std::string password;
};

void AddApiFlags(CLI::App* app, ApiFlags* f) {
  app->add_option("--api", f->api, "linlid base URL")->capture_default_str();
  app->add_option("--user", f->user, "API user (admin role)")->capture_default_str();
  app->add_option("--password", f->password, "API password (or env LINLI_ADMIN_PASSWORD)")
      ->envname("LINLI_ADMIN_PASSWORD");
}

struct WorldFlags {
  WorldOptions w;
  std::string kinds;
  int concurrency = 4;
  double max_seconds = 0;
  std::string accounts_out;
};

void AddWorldFlags(CLI::App* app, WorldFlags* f) {
  app->add_option("--compounds", f->w.compounds, "number of compounds (ids <prefix>-c1..)")->capture_default_str();
  app->add_option("--devices-per-kind", f->w.devices_per_kind, "devices of each kind per compound")
      ->capture_default_str();
  app->add_option("--kinds", f->kinds, "comma-separated device kinds (default: the nine simulated kinds)");
  app->add_option("--seed", f->w.seed, "seed of the world and the traffic")->capture_default_str();
  app->add_option("--buildings", f->w.buildings_per_compound, "buildings per compound")->capture_default_str();
  app->add_option("--units", f->w.units_per_building, "units per building")->capture_default_str();
  app->add_option("--floors", f->w.floors, "floors per building")->capture_default_str();
  app->add_option("--rooms-per-floor", f->w.rooms_per_floor, "rooms per floor and unit")->capture_default_str();
  app->add_flag("--devices-only", f->w.devices_only, "register regions, compounds and devices only");
  app->add_option("--id-prefix", f->w.id_prefix, "prefix of every id")->capture_default_str();
  app->add_option("--api-concurrency", f->concurrency, "parallel API connections for registration")
      ->capture_default_str();
  app->add_option("--max-register-seconds", f->max_seconds, "stop registering after this long (0 = no limit)");
  app->add_option("--accounts-out", f->accounts_out, "write device MQTT accounts (JSON lines, mode 0600) here");
}

Result<World> Plan(WorldFlags& f, Clock& clock) {
  if (!f.kinds.empty()) f.w.kinds = SplitComma(f.kinds);
  f.w.today = DateFromUnixMs(clock.NowMs());
  return PlanWorld(f.w);
}

Result<RegisterReport> Register(const World& world, const WorldFlags& wf, const ApiFlags& af, Clock& clock) {
  RegisterOptions ro;
  ro.api_url = af.api;
  ro.username = af.user;
  ro.password = af.password;
  ro.concurrency = wf.concurrency;
  ro.max_seconds = wf.max_seconds;
  ro.progress = Print;
  Print("register: " + std::to_string(world.RegistrationCount()) + " records (" +
        std::to_string(world.devices.size()) + " devices) through " + af.api + " with " +
        std::to_string(wf.concurrency) + " connections");
  auto report = RegisterWorld(world, ro, clock, &g_stop);
  if (!report) return report;
  char line[400];
  std::snprintf(line, sizeof line,
                "register: done in %.2f s (devices %.2f s, %.1f devices/s): created=%zu existed=%zu failed=%zu "
                "accounts=%zu/%zu%s",
                report->seconds, report->device_seconds,
                report->device_seconds > 0 ? report->accounts.size() / report->device_seconds : 0.0,
                report->created, report->existed, report->failed, report->accounts.size(), report->devices_planned,
                report->timed_out ? " (stopped by --max-register-seconds)" : "");
  Print(line);
  for (const auto& e : report->first_errors) std::fprintf(stderr, "linli-sim: register error: %s\n", e.c_str());
  if (!wf.accounts_out.empty()) {
    LINLI_RETURN_IF_ERROR(WriteAccounts(wf.accounts_out, report->accounts));
    Print("register: device accounts written to " + wf.accounts_out);
  }
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  InstallSignals();
  CLI::App app{"linli-sim: simulated compounds and MQTT load for Linli"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  Clock& clock = SystemClock();

  // run
  CLI::App* run = app.add_subcommand("run", "register a simulated world and drive its devices");
  ApiFlags run_api;
  WorldFlags run_world;
  FleetOptions fleet;
  std::string mqtt = "127.0.0.1:1883";
  std::string accounts_in;
  double progress_s = 5;
  AddApiFlags(run, &run_api);
  AddWorldFlags(run, &run_world);
  run->add_option("--mqtt", mqtt, "broker host:port")->capture_default_str();
  run->add_option("--rate", fleet.rate, "activity messages per second, all devices together")->capture_default_str();
  run->add_option("--duration", fleet.duration_s, "seconds to run (0 = until SIGINT/SIGTERM)")->capture_default_str();
  run->add_option("--threads", fleet.threads, "worker threads driving the MQTT clients")->capture_default_str();
  run->add_option("--heartbeat-s", fleet.heartbeat_s, "heartbeat period (0 = a third of the kind's timeout)");
  run->add_option("--fault-silent", fleet.fault_silent, "fraction of devices that go silent")->capture_default_str();
  run->add_option("--silent-after", fleet.silent_after_s, "silent devices stop within [x/2, x] s (0 = auto)");
  run->add_option("--fault-bad-payload-rate", fleet.fault_bad_payload_rate, "fraction of messages made malformed")
      ->capture_default_str();
  std::string no_ack_devices;
  run->add_option("--fault-no-ack", fleet.fault_no_ack,
                  "fraction of devices that never acknowledge (nor execute) commands")
      ->capture_default_str();
  run->add_option("--fault-no-ack-devices", no_ack_devices,
                  "comma-separated device ids that never acknowledge commands (besides --fault-no-ack)");
  run->add_option("--burst-every", fleet.burst_every_s, "seconds between bursts (0 = none)");
  run->add_option("--burst-size", fleet.burst_size, "extra messages per burst");
  run->add_option("--connect-rate", fleet.connect_rate, "new MQTT connections per second")->capture_default_str();
  run->add_option("--qos", fleet.qos, "QoS of device publications (0|1)")->capture_default_str();
  run->add_option("--accounts", accounts_in, "skip registration; use accounts written by --accounts-out");
  run->add_option("--progress-every", progress_s, "seconds between progress lines")->capture_default_str();

  // register
  CLI::App* reg = app.add_subcommand("register", "register a simulated world through the API only");
  ApiFlags reg_api;
  WorldFlags reg_world;
  AddApiFlags(reg, &reg_api);
  AddWorldFlags(reg, &reg_world);

  // flood
  CLI::App* flood = app.add_subcommand("flood", "raw MQTT publish load with per-message ts");
  FloodOptions fo;
  std::string flood_mqtt = "127.0.0.1:1883";
  MqttAccount single;
  std::string flood_accounts;
  std::string kind = "telemetry";
  int clients = 1;
  flood->add_option("--mqtt", flood_mqtt, "broker host:port")->capture_default_str();
  flood->add_option("--username", single.username, "MQTT username (a device id)");
  flood->add_option("--password", single.password, "MQTT password")->envname("LINLI_FLOOD_PASSWORD");
  flood->add_option("--client-id", single.client_id, "client id (default: the username; -<k> appended for k>0)");
  flood->add_option("--topic-prefix", single.topic_prefix, "e.g. linli/v1/<compound>/<device>");
  flood->add_option("--accounts", flood_accounts, "identities from `register --accounts-out` (one per client)");
  flood->add_option("--clients", clients, "number of MQTT clients")->capture_default_str();
  flood->add_option("--rate", fo.rate, "messages per second in total (0 = as fast as possible)")->capture_default_str();
  flood->add_option("--duration", fo.duration_s, "seconds (0 = until --count)")->capture_default_str();
  flood->add_option("--count", fo.count, "stop after this many messages (0 = no limit)");
  flood->add_option("--kind", kind, "telemetry|event")->capture_default_str();
  flood->add_option("--qos", fo.qos, "0|1")->capture_default_str();
  flood->add_option("--max-inflight", fo.max_outstanding, "unacknowledged messages per client")->capture_default_str();
  flood->add_option("--drain-timeout", fo.drain_timeout_s, "seconds to wait for acknowledgements")->capture_default_str();

  // fetch
  CLI::App* fetch = app.add_subcommand("fetch", "GET an API path with the user's token and print the body");
  ApiFlags fetch_api;
  std::string path;
  std::string token;
  AddApiFlags(fetch, &fetch_api);
  fetch->add_option("--token", token, "bearer token (from `linli-sim token`) instead of logging in")
      ->envname("LINLI_TOKEN");
  fetch->add_option("path", path, "e.g. /metrics or /api/v1/events?compound=sim-c1")->required();

  // token
  CLI::App* token_cmd = app.add_subcommand("token", "log in and print the bearer token");
  ApiFlags token_api;
  AddApiFlags(token_cmd, &token_api);

  CLI11_PARSE(app, argc, argv);
  log::Level level;
  if (!log::ParseLevel(log_level, &level)) {
    std::fprintf(stderr, "linli-sim: --log-level: unknown level \"%s\"\n", log_level.c_str());
    return 2;
  }
  log::Init(level, log::Format::kText);

  if (*reg) {
    auto world = Plan(reg_world, clock);
    if (!world) return Die(world.error());
    auto report = Register(*world, reg_world, reg_api, clock);
    if (!report) return Die(report.error());
    return report->failed == 0 && !report->timed_out ? 0 : 3;
  }

  if (*run) {
    auto broker = ParseHostPort(mqtt);
    if (!broker) return Die(broker.error());
    fleet.broker = *broker;
    fleet.seed = run_world.w.seed;
    fleet.no_ack_devices = SplitComma(no_ack_devices);
    if (auto v = ValidateFleetOptions(fleet); !v) return Die(v.error());
    auto world = Plan(run_world, clock);
    if (!world) return Die(world.error());
    std::vector<DeviceAccount> accounts;
    if (!accounts_in.empty()) {
      auto read = ReadAccounts(accounts_in);
      if (!read) return Die(read.error());
      accounts = std::move(*read);
    } else {
      auto report = Register(*world, run_world, run_api, clock);
      if (!report) return Die(report.error());
      accounts = std::move(report->accounts);
    }
    if (g_stop.load()) return 130;
    Print("run: " + std::to_string(accounts.size()) + " devices on " + mqtt + ", " + std::to_string(fleet.rate) +
          " msg/s, duration " + (fleet.duration_s > 0 ? std::to_string(fleet.duration_s) + " s" : "until stopped"));
    if (fleet.fault_no_ack > 0 || !fleet.no_ack_devices.empty()) {
      // Say which devices will stay mute, so that a test or an operator can tell.
      std::string mute;
      size_t n = 0;
      for (const auto& a : accounts) {
        if (!NeverAcks(fleet, a.device.id)) continue;
        mute += (n++ ? "," : "") + a.device.id;
      }
      Print("run: " + std::to_string(n) + " devices never acknowledge commands: " + (n ? mute : "(none)"));
    }
    EnsureDescriptors(accounts.size());
    Fleet f(&*world, std::move(accounts), fleet, clock);
    auto r = f.Run(g_stop, Print, progress_s);
    if (!r) return Die(r.error());
    return 0;
  }

  if (*flood) {
    auto broker = ParseHostPort(flood_mqtt);
    if (!broker) return Die(broker.error());
    fo.broker = *broker;
    if (kind == "telemetry") {
      fo.kind = FloodKind::kTelemetry;
    } else if (kind == "event") {
      fo.kind = FloodKind::kEvent;
    } else {
      std::fprintf(stderr, "linli-sim: --kind must be telemetry or event\n");
      return 2;
    }
    if (clients < 1 || clients > 10000) {
      std::fprintf(stderr, "linli-sim: --clients must be 1..10000\n");
      return 2;
    }
    if (!flood_accounts.empty()) {
      auto read = ReadAccounts(flood_accounts);
      if (!read) return Die(read.error());
      if (read->empty()) return Die(Error(ErrorCode::kInvalidArgument, "no accounts in " + flood_accounts));
      for (int i = 0; i < clients; ++i) fo.identities.push_back((*read)[static_cast<size_t>(i) % read->size()].mqtt);
      if (static_cast<size_t>(clients) > read->size()) {
        // Several connections per identity need distinct client ids.
        for (int i = 0; i < clients; ++i) {
          if (static_cast<size_t>(i) >= read->size()) {
            fo.identities[i].client_id += "-" + std::to_string(i / read->size());
          }
        }
      }
    } else {
      if (single.username.empty() || single.topic_prefix.empty()) {
        std::fprintf(stderr, "linli-sim: flood needs --accounts FILE or --username and --topic-prefix\n");
        return 2;
      }
      if (single.client_id.empty()) single.client_id = single.username;
      for (int i = 0; i < clients; ++i) {
        MqttAccount a = single;
        if (i > 0) a.client_id += "-" + std::to_string(i);
        fo.identities.push_back(a);
      }
    }
    EnsureDescriptors(fo.identities.size());
    auto r = RunFlood(fo, clock, g_stop, [](const std::string& l) { std::fprintf(stderr, "%s\n", l.c_str()); });
    if (!r) return Die(r.error());
    Print("flood: " + FormatFloodResult(*r));
    return r->acked == r->published ? 0 : 4;
  }

  if (*fetch) {
    auto ep = ParseHttpUrl(fetch_api.api);
    if (!ep) return Die(ep.error());
    LinliApi api(MakeBeastHttpClient(*ep), clock);
    if (!token.empty()) {
      api.SetToken(token);
    } else if (auto l = api.Login(fetch_api.user, fetch_api.password); !l) {
      return Die(l.error());
    }
    auto body = api.GetText(path);
    if (!body) return Die(body.error());
    std::fwrite(body->data(), 1, body->size(), stdout);
    return 0;
  }

  if (*token_cmd) {
    auto ep = ParseHttpUrl(token_api.api);
    if (!ep) return Die(ep.error());
    LinliApi api(MakeBeastHttpClient(*ep), clock);
    if (auto l = api.Login(token_api.user, token_api.password); !l) return Die(l.error());
    Print(api.Token());
    return 0;
  }
  return 0;
}
