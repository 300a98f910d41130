#include "fleet.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <queue>
#include <thread>

#include "common/ids.h"
#include "common/log.h"
#include "model/registry.h"

namespace linli::sim {
namespace {

using Steady = std::chrono::steady_clock;

double SecondsSince(Steady::time_point start, Steady::time_point now) {
  return std::chrono::duration<double>(now - start).count();
}

enum class Silence { kNone, kKill, kHang };

struct SimClient {
  DeviceAccount account;
  std::unique_ptr<DeviceBehavior> behavior;
  size_t pool_index = 0;
  Silence silence = Silence::kNone;
  double silent_at_s = 0;  // seconds after start
  bool silent = false;     // the fault has happened
  double heartbeat_s = 60;
  bool ever_connected = false;
  bool never_acks = false;  // fault injection: ignores every command
};

// One worker thread's share of the fleet.
class Worker final : public MqttPoolListener {
 public:
  Worker(int index, const FleetOptions& options, FleetStats* stats, Clock& clock)
      : index_(index), options_(options), stats_(stats), clock_(clock), pool_(options.broker, this, clock),
        rng_(Rng(options.seed).Fork(1000 + static_cast<uint64_t>(index))) {}

  // Called on the main thread before any worker runs (see MqttPool::Add).
  Result<void> AddDevice(const DeviceAccount& account, const SimCompound* compound) {
    SimClient c;
    c.account = account;
    c.behavior = std::make_unique<DeviceBehavior>(account.device, compound, options_.seed, options_.alarm_rates);
    MqttClientOptions mo;
    mo.client_id = account.mqtt.client_id;
    mo.username = account.mqtt.username;
    mo.password = account.mqtt.password;
    mo.clean_session = true;
    mo.keepalive_s = options_.keepalive_s;
    mo.will_topic = account.mqtt.topic_prefix + "up/status";
    mo.will_payload = "offline";
    mo.will_qos = 1;
    mo.will_retain = true;
    LINLI_ASSIGN_OR_RETURN(c.pool_index, pool_.Add(mo));
    const int timeout = model::DefaultHeartbeatTimeoutS(account.device.kind);
    c.never_acks = NeverAcks(options_, account.device.id);
    c.heartbeat_s = options_.heartbeat_s > 0 ? options_.heartbeat_s : std::clamp(timeout / 3.0, 10.0, 60.0);
    if (options_.fault_silent > 0) {
      Rng r(SeedFor(options_.seed, "silent:" + account.device.id));
      if (r.Chance(options_.fault_silent)) {
        c.silence = r.Chance(0.5) ? Silence::kKill : Silence::kHang;
        double horizon = options_.silent_after_s;
        if (horizon <= 0) horizon = options_.duration_s > 0 ? std::clamp(options_.duration_s / 2, 5.0, 120.0) : 60;
        c.silent_at_s = r.Real(horizon / 2, horizon);
      }
    }
    clients_.push_back(std::move(c));
    return {};
  }

  void Run(const std::atomic<bool>& stop) {
    const auto start = run_start_;
    const size_t n = clients_.size();
    const double rate = options_.rate / options_.threads;
    const double connect_rate = std::max(1.0, options_.connect_rate / options_.threads);
    const double end_s = options_.duration_s > 0 ? options_.duration_s : 1e18;
    size_t next_connect = 0;
    int64_t activity_sent = 0;
    int64_t bursts_done = 0;
    // Silent faults in time order.
    std::vector<size_t> silent_order;
    for (size_t i = 0; i < n; ++i) {
      if (clients_[i].silence != Silence::kNone) silent_order.push_back(i);
    }
    std::sort(silent_order.begin(), silent_order.end(),
              [&](size_t a, size_t b) { return clients_[a].silent_at_s < clients_[b].silent_at_s; });
    size_t next_silent = 0;

    while (!stop.load(std::memory_order_relaxed)) {
      const double t = SecondsSince(start, clock_.Monotonic());
      if (t >= end_s) break;
      now_ms_ = clock_.NowMs();
      // Staggered connects.
      while (next_connect < n && next_connect < static_cast<size_t>(t * connect_rate) + 1) {
        auto r = pool_.Connect(clients_[next_connect].pool_index);
        if (!r && r.error().code() != ErrorCode::kUnavailable) {
          log::Warn("device cannot connect", {{"device", clients_[next_connect].account.device.id},
                                              {"error", r.error().ToString()}});
        }
        ++next_connect;
      }
      // Silent faults.
      while (next_silent < silent_order.size() && clients_[silent_order[next_silent]].silent_at_s <= t) {
        const size_t ci = silent_order[next_silent++];
        SimClient& c = clients_[ci];
        c.silent = true;
        SetLive(ci, false);
        stats_->silenced.fetch_add(1, std::memory_order_relaxed);
        if (c.silence == Silence::kKill) {
          const bool was = pool_.IsConnected(c.pool_index);
          pool_.Kill(c.pool_index);
          if (was) stats_->connected.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      // Heartbeats.
      while (!heartbeats_.empty() && heartbeats_.top().first <= t) {
        const size_t i = heartbeats_.top().second;
        heartbeats_.pop();
        SimClient& c = clients_[i];
        if (c.silent) continue;
        heartbeats_.push({t + c.heartbeat_s, i});
        if (!pool_.IsConnected(c.pool_index)) continue;
        Send(c, c.behavior->Heartbeat(now_ms_));
        stats_->heartbeats.fetch_add(1, std::memory_order_relaxed);
      }
      // Ordinary activity at the worker's share of the rate; at most 2000 per round so that
      // acknowledgements keep being read.
      const int64_t due = static_cast<int64_t>(std::floor(std::min(t, end_s) * rate));
      for (int k = 0; activity_sent < due && k < 2000; ++k, ++activity_sent) Activity();
      if (due - activity_sent > static_cast<int64_t>(rate) + 2000) {
        // Far behind (broker stalled): drop the backlog instead of bursting it later.
        stats_->dropped.fetch_add(due - activity_sent, std::memory_order_relaxed);
        activity_sent = due;
      }
      // Bursts.
      if (options_.burst_every_s > 0 && options_.burst_size > 0) {
        const int64_t burst_due = static_cast<int64_t>(t / options_.burst_every_s);
        if (burst_due > bursts_done) {
          bursts_done = burst_due;
          const int share = options_.burst_size / options_.threads +
                            (index_ < options_.burst_size % options_.threads ? 1 : 0);
          for (int k = 0; k < share; ++k) Activity();
          if (index_ == 0) stats_->bursts.fetch_add(1, std::memory_order_relaxed);
        }
      }
      // Sleep in epoll until the next thing is due.
      double next_s = t + 0.05;
      if (rate > 0) next_s = std::min(next_s, static_cast<double>(activity_sent + 1) / rate);
      if (!heartbeats_.empty()) next_s = std::min(next_s, heartbeats_.top().first);
      if (next_connect < n) next_s = std::min(next_s, t + 0.01);
      const int wait_ms = static_cast<int>(std::max(0.0, (next_s - SecondsSince(start, clock_.Monotonic())) * 1000));
      pool_.Poll(wait_ms);
    }
    Shutdown();
  }

  // MqttPoolListener.
  void OnConnected(size_t pool_index) override {
    SimClient& c = clients_[pool_index];  // pool indices equal client indices (added in order)
    stats_->connected.fetch_add(1, std::memory_order_relaxed);
    if (c.silent) return;  // a hung device reconnecting says nothing
    SetLive(pool_index, true);
    (void)pool_.Subscribe(c.pool_index, c.account.mqtt.topic_prefix + "down/command", 1);
    Send(c, DeviceBehavior::Online());
    if (!c.ever_connected) {
      c.ever_connected = true;
      // First heartbeat at a random phase, so that heartbeats spread evenly.
      heartbeats_.push({SecondsSince(run_start_, clock_.Monotonic()) + rng_.Real(0.5, c.heartbeat_s), pool_index});
    }
  }
  void OnConnectFailed(size_t pool_index, int rc, const std::string& reason) override {
    const uint64_t failures = stats_->connect_failures.fetch_add(1, std::memory_order_relaxed);
    if (failures < 5 || (failures & (failures - 1)) == 0) {
      log::Warn("device connect failed", {{"device", clients_[pool_index].account.device.id},
                                          {"rc", std::to_string(rc)}, {"reason", reason},
                                          {"failures", std::to_string(failures + 1)}});
    }
  }
  void OnDisconnected(size_t pool_index, int rc) override {
    SetLive(pool_index, false);
    stats_->connected.fetch_sub(1, std::memory_order_relaxed);
    if (rc != 0 && !stopping_) stats_->disconnects.fetch_add(1, std::memory_order_relaxed);
  }
  void OnMessage(size_t pool_index, std::string_view topic, std::string_view payload) override {
    SimClient& c = clients_[pool_index];
    if (!topic.ends_with("/down/command")) return;
    stats_->commands.fetch_add(1, std::memory_order_relaxed);
    if (c.silent) return;  // a hung device does not answer
    if (c.never_acks) {
      stats_->commands_unanswered.fetch_add(1, std::memory_order_relaxed);
      log::Debug("command ignored (fault: never acknowledges)", {{"device", c.account.device.id}});
      return;
    }
    std::string error;
    auto out = c.behavior->HandleCommand(payload, clock_.NowMs(), NewUuid, &error);
    if (!error.empty()) {
      stats_->command_errors.fetch_add(1, std::memory_order_relaxed);
      log::Warn("command refused", {{"device", c.account.device.id}, {"error", error}});
    }
    for (auto& m : out) Send(c, std::move(m));
  }
  void OnPublished(size_t, int) override { stats_->acked.fetch_add(1, std::memory_order_relaxed); }

  void set_run_start(Steady::time_point t) { run_start_ = t; }

 private:
  // One activity message from a random live (connected, not silent) device.
  void Activity() {
    if (live_.empty()) {
      stats_->dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    SimClient& c = clients_[live_[rng_.Index(live_.size())]];
    if (options_.fault_bad_payload_rate > 0 && rng_.Chance(options_.fault_bad_payload_rate)) {
      BadMessage bad = MakeBadMessage(rng_, now_ms_);
      stats_->bad_payloads.fetch_add(1, std::memory_order_relaxed);
      Send(c, std::move(bad.message), /*count=*/false);
      return;
    }
    Send(c, c.behavior->Activity(now_ms_, NewUuid));
  }

  // The live set: O(1) insert, remove and uniform pick.
  void SetLive(size_t i, bool live) {
    if (live_pos_.size() < clients_.size()) live_pos_.resize(clients_.size(), -1);
    if (live && live_pos_[i] < 0) {
      live_pos_[i] = static_cast<int64_t>(live_.size());
      live_.push_back(i);
    } else if (!live && live_pos_[i] >= 0) {
      const size_t pos = static_cast<size_t>(live_pos_[i]);
      live_[pos] = live_.back();
      live_pos_[live_[pos]] = static_cast<int64_t>(pos);
      live_.pop_back();
      live_pos_[i] = -1;
    }
  }

  void Send(SimClient& c, Outgoing m, bool count = true) {
    auto r = pool_.Publish(c.pool_index, c.account.mqtt.topic_prefix + m.subtopic, m.payload, options_.qos, m.retain);
    if (!r) {
      stats_->dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    stats_->published.fetch_add(1, std::memory_order_relaxed);
    if (!count) return;
    if (m.subtopic == "up/telemetry") stats_->telemetry.fetch_add(1, std::memory_order_relaxed);
    if (m.subtopic == "up/event") stats_->events.fetch_add(1, std::memory_order_relaxed);
    if (m.alarm) stats_->alarms.fetch_add(1, std::memory_order_relaxed);
  }

  void Shutdown() {
    stopping_ = true;
    // Say goodbye: retained "offline", then DISCONNECT (which makes the broker drop the will).
    for (auto& c : clients_) {
      if (pool_.IsConnected(c.pool_index) && !c.silent) Send(c, DeviceBehavior::Offline(), false);
    }
    // Let the acknowledgements arrive (bounded), then disconnect.
    const auto deadline = clock_.Monotonic() + std::chrono::seconds(5);
    while (clock_.Monotonic() < deadline) {
      bool pending = false;
      for (auto& c : clients_) pending = pending || (pool_.IsConnected(c.pool_index) && pool_.Outstanding(c.pool_index) > 0);
      if (!pending) break;
      pool_.Poll(20);
    }
    for (auto& c : clients_) pool_.Disconnect(c.pool_index);
    const auto deadline2 = clock_.Monotonic() + std::chrono::seconds(3);
    while (clock_.Monotonic() < deadline2) {
      bool open = false;
      for (auto& c : clients_) open = open || !pool_.IsClosed(c.pool_index);
      if (!open) break;
      pool_.Poll(20);
    }
  }

  int index_;
  const FleetOptions& options_;
  FleetStats* stats_;
  Clock& clock_;
  MqttPool pool_;
  Rng rng_;
  std::vector<SimClient> clients_;
  // (due time in seconds since start, client index), earliest first.
  std::priority_queue<std::pair<double, size_t>, std::vector<std::pair<double, size_t>>, std::greater<>> heartbeats_;
  std::vector<size_t> live_;       // indices of connected, non-silent clients
  std::vector<int64_t> live_pos_;  // position in live_, -1 if not live
  int64_t now_ms_ = 0;
  bool stopping_ = false;
  Steady::time_point run_start_;
};

}  // namespace

Result<void> ValidateFleetOptions(const FleetOptions& o) {
  if (!(o.rate >= 0) || o.rate > 1e6) return InvalidArgument("rate", "must be 0..1000000 messages/s");
  if (!(o.duration_s >= 0)) return InvalidArgument("duration", "must be >= 0");
  if (o.threads < 1 || o.threads > 64) return InvalidArgument("threads", "must be 1..64");
  if (!(o.heartbeat_s >= 0)) return InvalidArgument("heartbeat-s", "must be >= 0");
  if (!(o.fault_silent >= 0 && o.fault_silent <= 1)) return InvalidArgument("fault-silent", "must be a fraction 0..1");
  if (!(o.fault_bad_payload_rate >= 0 && o.fault_bad_payload_rate <= 1)) {
    return InvalidArgument("fault-bad-payload-rate", "must be a fraction 0..1 of the messages");
  }
  if (!(o.fault_no_ack >= 0 && o.fault_no_ack <= 1)) {
    return InvalidArgument("fault-no-ack", "must be a fraction 0..1 of the devices");
  }
  for (const auto& id : o.no_ack_devices) {
    if (id.empty() || id.size() > 64) return InvalidArgument("fault-no-ack-devices", "device ids are 1..64 characters");
  }
  if (!(o.burst_every_s >= 0)) return InvalidArgument("burst-every", "must be >= 0");
  if (o.burst_size < 0 || o.burst_size > 1000000) return InvalidArgument("burst-size", "must be 0..1000000");
  if ((o.burst_every_s > 0) != (o.burst_size > 0)) {
    return InvalidArgument("burst-every", "--burst-every and --burst-size go together");
  }
  if (!(o.connect_rate > 0)) return InvalidArgument("connect-rate", "must be > 0");
  if (o.qos < 0 || o.qos > 1) return InvalidArgument("qos", "must be 0 or 1");
  return {};
}

bool NeverAcks(const FleetOptions& o, const std::string& device_id) {
  if (std::find(o.no_ack_devices.begin(), o.no_ack_devices.end(), device_id) != o.no_ack_devices.end()) return true;
  if (o.fault_no_ack <= 0) return false;
  Rng r(SeedFor(o.seed, "no-ack:" + device_id));
  return r.Chance(o.fault_no_ack);
}

std::string FormatStats(const FleetStats& s, double elapsed_s) {
  char line[768];
  const int64_t published = s.published.load();
  std::snprintf(line, sizeof line,
                "t=%.0fs connected=%" PRId64 "/%" PRId64 " sent=%" PRId64 " (%.1f/s) acked=%" PRId64
                " telemetry=%" PRId64 " events=%" PRId64 " alarms=%" PRId64 " heartbeats=%" PRId64
                " bad=%" PRId64 " bursts=%" PRId64 " commands=%" PRId64 " cmd_errors=%" PRId64
                " dropped=%" PRId64 " silenced=%" PRId64 " connect_failures=%" PRId64 " disconnects=%" PRId64
                " unanswered=%" PRId64,
                elapsed_s, s.connected.load(), s.devices.load(), published,
                elapsed_s > 0 ? published / elapsed_s : 0.0, s.acked.load(), s.telemetry.load(), s.events.load(),
                s.alarms.load(), s.heartbeats.load(), s.bad_payloads.load(), s.bursts.load(), s.commands.load(),
                s.command_errors.load(), s.dropped.load(), s.silenced.load(), s.connect_failures.load(),
                s.disconnects.load(), s.commands_unanswered.load());
  return line;
}

Fleet::Fleet(const World* world, std::vector<DeviceAccount> accounts, FleetOptions options, Clock& clock)
    : world_(world), accounts_(std::move(accounts)), options_(std::move(options)), clock_(clock) {}

Result<void> Fleet::Run(const std::atomic<bool>& stop, const std::function<void(const std::string&)>& progress,
                        double progress_every_s) {
  LINLI_RETURN_IF_ERROR(ValidateFleetOptions(options_));
  if (accounts_.empty()) return Fail(ErrorCode::kFailedPrecondition, "no device accounts to simulate");
  const int threads = std::min<int>(options_.threads, static_cast<int>(accounts_.size()));
  options_.threads = threads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) workers.push_back(std::make_unique<Worker>(i, options_, &stats_, clock_));
  // Every client is created here, on one thread, before any worker starts (MqttPool::Add).
  for (size_t i = 0; i < accounts_.size(); ++i) {
    const auto& a = accounts_[i];
    const SimCompound* compound = nullptr;
    if (world_ != nullptr) {
      if (auto it = world_->compound_index.find(a.device.compound_id); it != world_->compound_index.end()) {
        compound = &world_->compounds[it->second];
      }
    }
    LINLI_RETURN_IF_ERROR(workers[i % threads]->AddDevice(a, compound));
  }
  stats_.devices = static_cast<int64_t>(accounts_.size());
  const auto start = clock_.Monotonic();
  std::vector<std::thread> pool;
  std::atomic<int> finished{0};
  for (auto& w : workers) {
    w->set_run_start(start);
    pool.emplace_back([&, wp = w.get()] {
      wp->Run(stop);
      finished.fetch_add(1);
    });
  }
  auto last = start;
  while (finished.load() < threads) {
    // The main thread only reports; it wakes at a human pace.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto now = clock_.Monotonic();
    if (progress && SecondsSince(last, now) >= progress_every_s) {
      last = now;
      progress(FormatStats(stats_, SecondsSince(start, now)));
    }
  }
  for (auto& t : pool) t.join();
  if (progress) progress("final: " + FormatStats(stats_, SecondsSince(start, clock_.Monotonic())));
  return {};
}

}  // namespace linli::sim
