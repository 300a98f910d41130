// linli-bench-sub: a bare MQTT subscriber for the broker-only ceiling of bench/ingest.
//
// Subscribes (QoS 1, persistent session unless --clean-session) and counts messages per second
// and the publish→receive latency from each payload's "ts" (ms since the epoch, as written by
// `linli-sim flood`). Prints "sub: ready" once the broker granted the subscription, a progress
// line every --report-every seconds (stderr), and a final summary line:
//   sub: received=N rate=R first_to_last_s=S p50_ms=A p99_ms=B max_ms=C no_ts=K
// Ends after --expect messages, after --idle-exit seconds without messages (once some arrived),
// after --duration seconds, or on SIGINT/SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "common/clock.h"
#include "mqtt_pool.h"

namespace {

using namespace linli;
using namespace linli::sim;
using Steady = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

double Since(Steady::time_point a, Steady::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Finds "ts": <integer> without parsing the whole payload (the subscriber must not be the
// bottleneck it measures).
bool FindTs(std::string_view p, int64_t* ts) {
  size_t pos = p.find("\"ts\"");
  if (pos == std::string_view::npos) return false;
  pos += 4;
  while (pos < p.size() && (p[pos] == ' ' || p[pos] == ':')) ++pos;
  auto [ptr, ec] = std::from_chars(p.data() + pos, p.data() + p.size(), *ts);
  return ec == std::errc() && ptr != p.data() + pos;
}

class Counter final : public MqttPoolListener {
 public:
  explicit Counter(Clock& clock) : clock_(clock), latency_ms_(60001, 0) {}
  void OnConnected(size_t) override { connected = true; }
  void OnDisconnected(size_t, int) override { connected = false; }
  void OnConnectFailed(size_t, int rc, const std::string& reason) override {
    std::fprintf(stderr, "sub: connect failed: %d %s\n", rc, reason.c_str());
  }
  void OnSubscribed(size_t, int, int granted) override {
    if (granted > 1) {
      std::fprintf(stderr, "sub: subscription refused by the broker\n");
      refused = true;
      return;
    }
    subscribed = true;
  }
  void OnMessage(size_t, std::string_view, std::string_view payload) override {
    const auto now = clock_.Monotonic();
    if (received == 0) first = now;
    last = now;
    ++received;
    int64_t ts = 0;
    if (!FindTs(payload, &ts)) {
      ++no_ts;
      return;
    }
    const int64_t lat = std::clamp<int64_t>(clock_.NowMs() - ts, 0, 60000);
    ++latency_ms_[static_cast<size_t>(lat)];
    max_ms = std::max(max_ms, lat);
  }
  double Quantile(double q) const {
    int64_t total = 0;
    for (int64_t c : latency_ms_) total += c;
    if (total == 0) return 0;
    const int64_t rank = static_cast<int64_t>(q * static_cast<double>(total - 1)) + 1;
    int64_t cum = 0;
    for (size_t i = 0; i < latency_ms_.size(); ++i) {
      cum += latency_ms_[i];
      if (cum >= rank) return static_cast<double>(i);
    }
    return 60000;
  }

  bool connected = false;
  bool subscribed = false;
  bool refused = false;
  int64_t received = 0;
  int64_t no_ts = 0;
  int64_t max_ms = 0;
  Steady::time_point first, last;

 private:
  Clock& clock_;
  std::vector<int64_t> latency_ms_;  // 1 ms buckets, 0..60 s
};

}  // namespace

int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{"linli-bench-sub: count MQTT messages and their publish→receive latency"};
  std::string mqtt = "127.0.0.1:1883";
  MqttClientOptions mo;
  mo.client_id = "linli-bench-sub";
  mo.clean_session = false;
  mo.max_inflight = 20;
  mo.auto_reconnect = true;
  std::string topic = "linli/v1/#";
  bool clean = false;
  int64_t expect = 0;
  double duration = 600, idle_exit = 0, report_every = 1;
  app.add_option("--mqtt", mqtt, "broker host:port")->capture_default_str();
  app.add_option("--username", mo.username, "MQTT username");
  app.add_option("--password", mo.password, "MQTT password")->envname("LINLI_BENCH_SUB_PASSWORD");
  app.add_option("--client-id", mo.client_id, "client id")->capture_default_str();
  app.add_option("--topic", topic, "subscription")->capture_default_str();
  app.add_flag("--clean-session", clean, "clean session instead of a persistent one");
  app.add_option("--expect", expect, "exit after this many messages (0 = no limit)");
  app.add_option("--duration", duration, "exit after this many seconds")->capture_default_str();
  app.add_option("--idle-exit", idle_exit, "exit after this many seconds without messages (0 = never)");
  app.add_option("--report-every", report_every, "seconds between progress lines on stderr")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  mo.clean_session = clean;
  auto broker = ParseHostPort(mqtt);
  if (!broker) {
    std::fprintf(stderr, "linli-bench-sub: %s\n", broker.error().ToString().c_str());
    return 2;
  }
  Clock& clock = SystemClock();
  Counter counter(clock);
  MqttPool pool(*broker, &counter, clock);
  auto idx = pool.Add(mo);
  if (!idx) {
    std::fprintf(stderr, "linli-bench-sub: %s\n", idx.error().ToString().c_str());
    return 2;
  }
  (void)pool.Connect(*idx);
  const auto start = clock.Monotonic();
  auto last_report = start;
  bool was_connected = false, announced = false;
  int64_t last_count = 0;
  while (!g_stop.load()) {
    pool.Poll(50);
    const auto now = clock.Monotonic();
    if (counter.refused) return 3;
    if (counter.connected && !was_connected) {
      // (Re)subscribe on every connect; a persistent session keeps it anyway.
      if (auto r = pool.Subscribe(*idx, topic, 1); !r) {
        std::fprintf(stderr, "linli-bench-sub: %s\n", r.error().ToString().c_str());
        return 2;
      }
    }
    was_connected = counter.connected;
    if (counter.subscribed && !announced) {
      announced = true;
      std::printf("sub: ready\n");
      std::fflush(stdout);
    }
    if (Since(start, now) >= duration) break;
    if (expect > 0 && counter.received >= expect) break;
    if (idle_exit > 0 && counter.received > 0 && Since(counter.last, now) >= idle_exit) break;
    if (Since(last_report, now) >= report_every) {
      std::fprintf(stderr, "sub: t=%.1fs received=%" PRId64 " (%.0f/s)\n", Since(start, now), counter.received,
                   (counter.received - last_count) / Since(last_report, now));
      last_report = now;
      last_count = counter.received;
    }
  }
  const double span = counter.received > 1 ? Since(counter.first, counter.last) : 0;
  std::printf("sub: received=%" PRId64 " rate=%.1f first_to_last_s=%.3f p50_ms=%.0f p99_ms=%.0f max_ms=%" PRId64
              " no_ts=%" PRId64 "\n",
              counter.received, span > 0 ? (counter.received - 1) / span : 0.0, span, counter.Quantile(0.5),
              counter.Quantile(0.99), counter.max_ms, counter.no_ts);
  std::fflush(stdout);
  pool.Disconnect(*idx);
  for (int i = 0; i < 20 && !pool.IsClosed(*idx); ++i) pool.Poll(10);
  return 0;
}
