// linli-bench-linkage: the measuring side of bench/linkage (see bench/linkage/run).
//
//   linli-bench-linkage plan --devices FILE --accounts FILE --out DIR [--doors K]
//     From the registry (FILE: the answer of GET /api/v1/devices?compound_id=...) picks a
//     building with a gas sensor and K door controllers and writes, for the peers, the rule as a
//     user would configure it by hand: DIR/rules.tab (every gas sensor → the door controllers of
//     its building; read by linli-bench-linkage-rule) and DIR/plan.json (the same map, plus the
//     chosen sensor, doors and the doors of other buildings; read by the Node-RED flow
//     generator). Prints "sensor=ID doors=ID,.. other_doors=ID,.. compound=ID" on stdout.
//
//   linli-bench-linkage probe --mqtt H:P --accounts FILE --sensor ID --doors ID,.. [--other-doors ID,..]
//                             --rate R --duration S [--grace S] [--ready-timeout S] [--no-ack]
//     Connects as the gas sensor and as every door controller (each with its own broker account,
//     subscribed to its own down/command topic), publishes gas.leak events (QoS 1, a fresh UUID
//     each) at R events/s for S seconds and times each one from the publish call to the receipt of
//     every unlock command whose cause.id is the event's id. Door controllers acknowledge each
//     command on up/ack as devices do (unless --no-ack). Commands are checked against
//     docs/protocol.md (id, name "unlock", expires not passed, cause {kind: event, id}); commands
//     reaching doors of other buildings are counted as misdirected. With --rate 0 it only listens
//     (to drain a system that is still working off a backlog) until --idle-exit seconds pass
//     without commands. One summary line on stdout:
//       probe: rate=R events=N doors=K expected=E matched=M missing=X duplicates=D misdirected=W
//              foreign=F bad=B expired=Z publish_rate=P cmd_rate=C p50_ms=.. p99_ms=.. max_ms=..
//              all_p50_ms=.. all_p99_ms=.. last_ms=.. probe_cpu_s=..
//     (all_*: until the last door of an event got its command; last_ms: the latest command after
//     the end of publishing; probe_cpu_s: the probe's own CPU time, to tell whether it was the
//     bottleneck). Exit 0 when it ran (whatever it measured), 3 when not ready.
// Thread-safety: single-threaded.
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.h"
#include "common/ids.h"
#include "common/json.h"
#include "mqtt_pool.h"
#include "registrar.h"

namespace {

using namespace linli;
using namespace linli::sim;
using Steady = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Sec(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

// CPU time of this process so far (user + system), to show whether the probe itself saturates.
double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

int Die(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "linli-bench-linkage: %s\n", msg.c_str());
  return code;
}

// ---------------------------------------------------------------------------------------------
// plan

int Plan(const std::string& devices_path, const std::string& accounts_path, const std::string& out_dir,
         size_t want_doors) {
  std::ifstream in(devices_path);
  if (!in) return Die("cannot read " + devices_path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str());
  if (!j || !j->is_object() || !j->contains("items") || !(*j)["items"].is_array()) {
    return Die(devices_path + ": expected the answer of GET /api/v1/devices ({\"items\": [...]})");
  }
  auto accounts = ReadAccounts(accounts_path);
  if (!accounts) return Die(accounts.error().ToString());
  std::set<std::string> with_account;
  for (const auto& a : *accounts) with_account.insert(a.device.id);
  // building → door controllers, gas sensors (ids sorted, only devices we hold accounts for).
  struct Building {
    std::string compound;
    std::vector<std::string> doors, sensors;
  };
  std::map<std::string, Building> buildings;
  for (const auto& d : (*j)["items"]) {
    if (!d.is_object() || !d.contains("id") || !d["id"].is_string()) continue;
    const std::string id = d["id"];
    const std::string kind = d.value("kind", "");
    const std::string building = d.contains("building_id") && d["building_id"].is_string() ? d["building_id"].get<std::string>() : "";
    if (building.empty() || !with_account.count(id)) continue;
    Building& b = buildings[building];
    b.compound = d.value("compound_id", "");
    if (kind == "door_controller") b.doors.push_back(id);
    if (kind == "gas_sensor") b.sensors.push_back(id);
  }
  const Building* chosen = nullptr;
  std::string chosen_id;
  for (auto& [id, b] : buildings) {
    std::sort(b.doors.begin(), b.doors.end());
    std::sort(b.sensors.begin(), b.sensors.end());
    if (!chosen && !b.sensors.empty() && b.doors.size() >= want_doors) {
      chosen = &b;
      chosen_id = id;
    }
  }
  if (!chosen) {
    return Die("no building with a gas sensor and " + std::to_string(want_doors) + " door controllers in " +
                devices_path);
  }
  std::vector<std::string> other_doors;
  for (const auto& [id, b] : buildings) {
    if (id != chosen_id) other_doors.insert(other_doors.end(), b.doors.begin(), b.doors.end());
  }
  std::filesystem::create_directories(out_dir);
  // The rule as a user configures it: every gas sensor of every building → that building's doors.
  std::ofstream tab(out_dir + "/rules.tab");
  tab << "# <compound> <gas sensor> <door controllers of its building...> (bench/linkage plan)\n";
  Json map = Json::object();
  for (const auto& [id, b] : buildings) {
    for (const auto& s : b.sensors) {
      if (b.doors.empty()) continue;
      tab << b.compound << ' ' << s;
      for (const auto& d : b.doors) tab << ' ' << d;
      tab << '\n';
      map[s] = {{"compound", b.compound}, {"building", id}, {"doors", b.doors}};
    }
  }
  if (!tab) return Die("cannot write " + out_dir + "/rules.tab");
  Json plan = {{"compound", chosen->compound},
               {"building", chosen_id},
               {"sensor", chosen->sensors.front()},
               {"doors", chosen->doors},
               {"other_doors", other_doors},
               {"doors_by_sensor", map}};
  std::ofstream(out_dir + "/plan.json") << plan.dump(2) << "\n";
  std::printf("sensor=%s doors=%s other_doors=%s compound=%s building=%s\n", chosen->sensors.front().c_str(),
              Join(chosen->doors).c_str(), other_doors.empty() ? "-" : Join(other_doors).c_str(),
              chosen->compound.c_str(), chosen_id.c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// probe

struct ProbeOptions {
  HostPort broker;
  std::string sensor;
  std::vector<std::string> doors, other_doors;
  double rate = 50;
  double duration_s = 10;
  double grace_s = 2;
  double ready_timeout_s = 0;
  double idle_exit_s = 1;
  bool ack = true;
};

struct EventRecord {
  Steady::time_point sent;
  int received = 0;          // doors that got their command
  Steady::time_point last;   // when the last of them did
  std::vector<bool> door_seen;
  bool warmup = false;
};

class Probe final : public MqttPoolListener {
 public:
  Probe(const ProbeOptions& o, std::vector<DeviceAccount> accounts, Clock& clock)
      : o_(o), clock_(clock), pool_(o.broker, this, clock), accounts_(std::move(accounts)) {}

  int Run() {
    std::unordered_map<std::string, const DeviceAccount*> by_id;
    for (const auto& a : accounts_) by_id[a.device.id] = &a;
    auto add = [&](const std::string& id, int role) -> bool {
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        Die("no account for device " + id);
        return false;
      }
      MqttClientOptions mo;
      mo.client_id = it->second->mqtt.client_id;
      mo.username = it->second->mqtt.username;
      mo.password = it->second->mqtt.password;
      mo.clean_session = true;  // commands for a probe that left are not kept for the next one
      mo.keepalive_s = 30;
      mo.max_inflight = 0;
      mo.auto_reconnect = true;
      auto idx = pool_.Add(mo);
      if (!idx) {
        Die(idx.error().ToString());
        return false;
      }
      clients_.push_back({role, it->second->mqtt.topic_prefix, false, false});
      return true;
    };
    if (!add(o_.sensor, kSensor)) return 2;
    for (size_t i = 0; i < o_.doors.size(); ++i) {
      if (!add(o_.doors[i], static_cast<int>(i))) return 2;
    }
    for (const auto& d : o_.other_doors) {
      if (!add(d, kOther)) return 2;
    }
    for (size_t i = 0; i < clients_.size(); ++i) (void)pool_.Connect(i);
    // Everyone connected and every door subscribed.
    const auto deadline = Now() + std::chrono::seconds(15);
    while (!g_stop.load() && Now() < deadline) {
      bool all = true;
      for (const auto& c : clients_) all = all && c.connected && (c.role == kSensor || c.subscribed);
      if (all) break;
      pool_.Poll(10);
    }
    for (size_t i = 0; i < clients_.size(); ++i) {
      if (!clients_[i].connected || (clients_[i].role != kSensor && !clients_[i].subscribed)) {
        return Die("client " + std::to_string(i) + " (" + clients_[i].prefix + ") did not connect/subscribe" +
                        (refused_ ? " (subscription refused)" : ""),
                    3);
      }
    }
    if (o_.rate <= 0) return Listen();
    if (o_.ready_timeout_s > 0 && !WaitReady()) {
      std::printf("probe: not ready: no event got a command on all %zu doors within %.0f s (misdirected=%" PRId64
                  " foreign=%" PRId64 " bad=%" PRId64 ")\n",
                  o_.doors.size(), o_.ready_timeout_s, misdirected_, foreign_, bad_);
      std::fflush(stdout);
      Close();
      return 3;
    }
    return Measure();
  }

  // MqttPoolListener.
  void OnConnected(size_t i) override {
    clients_[i].connected = true;
    if (clients_[i].role != kSensor) (void)pool_.Subscribe(i, clients_[i].prefix + "down/command", 1);
  }
  void OnDisconnected(size_t i, int) override {
    clients_[i].connected = false;
    clients_[i].subscribed = false;
    if (!closing_) ++disconnects_;
  }
  void OnConnectFailed(size_t i, int rc, const std::string& reason) override {
    std::fprintf(stderr, "linli-bench-linkage: %s: connect failed: %d %s\n", clients_[i].prefix.c_str(), rc,
                 reason.c_str());
  }
  void OnSubscribed(size_t i, int, int granted) override {
    if (granted > 1) {
      refused_ = true;
      return;
    }
    clients_[i].subscribed = true;
  }
  void OnMessage(size_t i, std::string_view topic, std::string_view payload) override {
    const auto now = Now();
    const int role = clients_[i].role;
    if (role == kSensor || !topic.ends_with("/down/command")) return;
    last_command_ = now;
    ++received_;
    auto j = ParseJson(payload);
    std::string command_id, cause_id;
    bool ok = j && j->is_object() && (*j)["id"].is_string() && (*j)["name"].is_string() &&
              (*j)["name"] == "unlock" && (*j)["cause"].is_object() && (*j)["cause"]["kind"] == "event" &&
              (*j)["cause"]["id"].is_string();
    if (ok) {
      command_id = (*j)["id"].get<std::string>();
      cause_id = (*j)["cause"]["id"].get<std::string>();
      ok = !command_id.empty();
    }
    if (!ok) {
      ++bad_;
      if (bad_ <= 3) std::fprintf(stderr, "linli-bench-linkage: bad command: %.300s\n", std::string(payload).c_str());
      return;
    }
    if (o_.ack) {
      const std::string ack = "{\"command_id\":" + Json(command_id).dump() + ",\"ok\":true,\"error\":null}";
      (void)pool_.Publish(i, clients_[i].prefix + "up/ack", ack, 1, false);
    }
    if (auto e = (*j).find("expires"); e == j->end() || !e->is_number() || e->get<double>() < static_cast<double>(clock_.NowMs())) {
      ++expired_;
    }
    if (role == kOther) {
      ++misdirected_;
      return;
    }
    auto it = events_.find(cause_id);
    if (it == events_.end()) {
      ++foreign_;
      return;
    }
    EventRecord& ev = it->second;
    const size_t door = static_cast<size_t>(role);
    if (ev.door_seen[door]) {
      ++duplicates_;
      return;
    }
    ev.door_seen[door] = true;
    ++ev.received;
    ev.last = now;
    if (ev.warmup) {
      if (ev.received == static_cast<int>(o_.doors.size())) warm_complete_ = true;
      return;
    }
    ++matched_;
    latencies_ms_.push_back(Ms(now - ev.sent));
    if (ev.received == static_cast<int>(o_.doors.size())) all_ms_.push_back(Ms(now - ev.sent));
  }

 private:
  static constexpr int kSensor = -1;
  static constexpr int kOther = -2;
  struct ClientState {
    int role;  // kSensor, kOther, or the index of the door
    std::string prefix;
    bool connected;
    bool subscribed;
  };

  Steady::time_point Now() const { return clock_.Monotonic(); }

  bool PublishEvent(bool warmup) {
    const std::string id = NewRandomUuid();  // as third-party devices send: no order
    char payload[256];
    std::snprintf(payload, sizeof payload,
                  "{\"id\":\"%s\",\"ts\":%" PRId64 ",\"type\":\"gas.leak\",\"data\":{\"ch4_ppm\":%d,\"seq\":%" PRId64 "}}",
                  id.c_str(), clock_.NowMs(), 5000 + static_cast<int>(seq_ % 1000), seq_);
    EventRecord& ev = events_[id];
    ev.door_seen.assign(o_.doors.size(), false);
    ev.warmup = warmup;
    ev.sent = Now();
    auto r = pool_.Publish(0, clients_[0].prefix + "up/event", payload, 1, false);
    if (!r) {
      events_.erase(id);
      ++publish_errors_;
      return false;
    }
    ++seq_;
    return true;
  }

  bool WaitReady() {
    const auto start = Now();
    const auto deadline = start + std::chrono::milliseconds(static_cast<int64_t>(o_.ready_timeout_s * 1000));
    auto next = start;
    while (!g_stop.load() && Now() < deadline && !warm_complete_) {
      if (Now() >= next) {
        PublishEvent(true);
        next = Now() + std::chrono::milliseconds(200);
      }
      pool_.Poll(10);
    }
    if (!warm_complete_) return false;
    // Let the stragglers of the warm-up arrive (they are not counted).
    const auto settle = Now() + std::chrono::milliseconds(300);
    while (Now() < settle) pool_.Poll(10);
    std::fprintf(stderr, "linli-bench-linkage: ready after %.1f s\n", Sec(Now() - start));
    return true;
  }

  int Measure() {
    // Counters from before (warm-up) do not count.
    received_ = foreign_ = duplicates_ = misdirected_ = bad_ = expired_ = 0;
    const auto t0 = Now();
    int64_t sent = 0;
    const double end_s = o_.duration_s;
    Steady::time_point last_send = t0;
    while (!g_stop.load()) {
      const double t = Sec(Now() - t0);
      if (t >= end_s) break;
      const int64_t due = std::min<int64_t>(static_cast<int64_t>(std::floor(t * o_.rate)) + 1,
                                            static_cast<int64_t>(std::ceil(end_s * o_.rate)));
      for (int k = 0; sent < due && k < 1000; ++k) {
        if (PublishEvent(false)) {
          ++sent;
          last_send = Now();
        }
      }
      const double next_s = static_cast<double>(sent) / o_.rate;
      const int wait_ms = static_cast<int>(std::clamp((next_s - Sec(Now() - t0)) * 1000, 0.0, 5.0));
      pool_.Poll(wait_ms);
    }
    // Wait for the stragglers: every expected command, or the grace period.
    const int64_t expected = sent * static_cast<int64_t>(o_.doors.size());
    const auto grace_end = last_send + std::chrono::milliseconds(static_cast<int64_t>(o_.grace_s * 1000));
    while (!g_stop.load() && matched_ < expected && Now() < grace_end) pool_.Poll(5);
    double last_ms = 0;
    if (last_command_ > last_send) last_ms = Ms(last_command_ - last_send);
    const double span = Sec(last_send - t0);
    const double cmd_span = Sec(std::max(last_command_, last_send) - t0);
    std::printf("probe: rate=%.0f events=%" PRId64 " doors=%zu expected=%" PRId64 " matched=%" PRId64
                " missing=%" PRId64 " duplicates=%" PRId64 " misdirected=%" PRId64 " foreign=%" PRId64
                " bad=%" PRId64 " expired=%" PRId64 " publish_errors=%" PRId64 " disconnects=%" PRId64
                " publish_rate=%.1f cmd_rate=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f all_p50_ms=%.3f"
                " all_p99_ms=%.3f last_ms=%.1f probe_cpu_s=%.2f\n",
                o_.rate, sent, o_.doors.size(), expected, matched_, expected - matched_, duplicates_, misdirected_,
                foreign_, bad_, expired_, publish_errors_, disconnects_, span > 0 ? (sent - 1) / span : 0.0,
                cmd_span > 0 ? matched_ / cmd_span : 0.0, Quantile(latencies_ms_, 0.5), Quantile(latencies_ms_, 0.99),
                latencies_ms_.empty() ? std::nan("") : *std::max_element(latencies_ms_.begin(), latencies_ms_.end()),
                Quantile(all_ms_, 0.5), Quantile(all_ms_, 0.99), last_ms, CpuSeconds());
    std::fflush(stdout);
    Close();
    return 0;
  }

  // Drain mode: count whatever commands still arrive until idle.
  int Listen() {
    const auto start = Now();
    last_command_ = start;
    while (!g_stop.load() && Sec(Now() - start) < o_.duration_s && Sec(Now() - last_command_) < o_.idle_exit_s) {
      pool_.Poll(10);
    }
    std::printf("probe: drained=%" PRId64 " in %.1f s\n", received_, Sec(Now() - start));
    std::fflush(stdout);
    Close();
    return 0;
  }

  void Close() {
    closing_ = true;
    // Let the acknowledgements leave, then disconnect.
    const auto deadline = Now() + std::chrono::seconds(3);
    while (Now() < deadline) {
      bool pending = false;
      for (size_t i = 0; i < clients_.size(); ++i) pending = pending || (pool_.IsConnected(i) && pool_.Outstanding(i) > 0);
      if (!pending) break;
      pool_.Poll(5);
    }
    for (size_t i = 0; i < clients_.size(); ++i) pool_.Disconnect(i);
    const auto close_deadline = Now() + std::chrono::seconds(2);
    while (Now() < close_deadline) {
      bool open = false;
      for (size_t i = 0; i < clients_.size(); ++i) open = open || !pool_.IsClosed(i);
      if (!open) break;
      pool_.Poll(5);
    }
  }

  const ProbeOptions& o_;
  Clock& clock_;
  MqttPool pool_;
  std::vector<DeviceAccount> accounts_;
  std::vector<ClientState> clients_;
  std::unordered_map<std::string, EventRecord> events_;
  std::vector<double> latencies_ms_, all_ms_;
  int64_t seq_ = 0, received_ = 0, matched_ = 0, foreign_ = 0, duplicates_ = 0, misdirected_ = 0, bad_ = 0,
          expired_ = 0, publish_errors_ = 0, disconnects_ = 0;
  bool warm_complete_ = false, refused_ = false, closing_ = false;
  Steady::time_point last_command_{};
};

}  // namespace

int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  InitMosquittoLib();

  CLI::App app{"linli-bench-linkage: plan and measure the gas-leak → unlock linkage of bench/linkage"};
  app.require_subcommand(1);

  CLI::App* plan = app.add_subcommand("plan", "choose the sensor and doors; write the peers' rule tables");
  std::string devices, plan_accounts, out_dir;
  size_t want_doors = 4;
  plan->add_option("--devices", devices, "GET /api/v1/devices answer (JSON)")->required();
  plan->add_option("--accounts", plan_accounts, "device accounts (linli-sim register --accounts-out)")->required();
  plan->add_option("--out", out_dir, "directory for rules.tab and plan.json")->required();
  plan->add_option("--doors", want_doors, "door controllers the chosen building must have")->capture_default_str();

  CLI::App* probe = app.add_subcommand("probe", "publish gas.leak events and time the unlock commands");
  ProbeOptions po;
  std::string mqtt = "127.0.0.1:1883", accounts, doors, other_doors;
  probe->add_option("--mqtt", mqtt, "broker host:port")->capture_default_str();
  probe->add_option("--accounts", accounts, "device accounts (linli-sim register --accounts-out)")->required();
  probe->add_option("--sensor", po.sensor, "the gas sensor's device id")->required();
  probe->add_option("--doors", doors, "door controllers that must get the command (comma-separated)")->required();
  probe->add_option("--other-doors", other_doors, "door controllers that must not (other buildings)");
  probe->add_option("--rate", po.rate, "events per second (0: only listen, to drain)")->capture_default_str();
  probe->add_option("--duration", po.duration_s, "seconds of publishing")->capture_default_str();
  probe->add_option("--grace", po.grace_s, "seconds to wait for commands after the last event")->capture_default_str();
  probe->add_option("--ready-timeout", po.ready_timeout_s,
                    "first wait until a warm-up event gets all its commands (0: do not wait)")
      ->capture_default_str();
  probe->add_option("--idle-exit", po.idle_exit_s, "with --rate 0: stop after this long without commands")
      ->capture_default_str();
  bool no_ack = false;
  probe->add_flag("--no-ack", no_ack, "do not acknowledge commands");
  CLI11_PARSE(app, argc, argv);

  if (*plan) {
    if (want_doors < 1) return Die("--doors must be >= 1", 2);
    return Plan(devices, plan_accounts, out_dir, want_doors);
  }
  auto broker = ParseHostPort(mqtt);
  if (!broker) return Die(broker.error().ToString(), 2);
  po.broker = *broker;
  po.doors = SplitComma(doors);
  if (other_doors != "-") po.other_doors = SplitComma(other_doors);
  po.ack = !no_ack;
  if (po.doors.empty()) return Die("--doors: at least one door", 2);
  if (!(po.rate >= 0 && po.rate <= 100000)) return Die("--rate must be 0..100000", 2);
  if (!(po.duration_s > 0 && po.duration_s <= 3600)) return Die("--duration must be in (0, 3600]", 2);
  if (!(po.grace_s >= 0) || !(po.ready_timeout_s >= 0) || !(po.idle_exit_s > 0)) return Die("bad --grace/--ready-timeout/--idle-exit", 2);
  auto read = ReadAccounts(accounts);
  if (!read) return Die(read.error().ToString(), 2);
  Probe p(po, std::move(*read), SystemClock());
  return p.Run();
}
