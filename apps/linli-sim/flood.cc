#include "flood.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "common/ids.h"

namespace linli::sim {
namespace {

using Steady = std::chrono::steady_clock;

double Since(Steady::time_point a, Steady::time_point b) { return std::chrono::duration<double>(b - a).count(); }

class FloodListener final : public MqttPoolListener {
 public:
  void OnConnected(size_t) override { ++connected; }
  void OnDisconnected(size_t, int) override { --connected; }
  void OnConnectFailed(size_t, int rc, const std::string& reason) override {
    ++connect_failures;
    last_failure = std::to_string(rc) + " " + reason;
  }
  void OnPublished(size_t, int) override { ++acked; }
  int connected = 0;
  int connect_failures = 0;
  std::string last_failure;
  int64_t acked = 0;
};

}  // namespace

std::string FloodTelemetryPayload(int64_t ts_ms, int64_t seq) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"ts\":%" PRId64 ",\"metrics\":{\"seq\":%" PRId64 ",\"power_w\":%.1f,\"voltage\":220.5}}", ts_ms, seq,
                1000.0 + static_cast<double>(seq % 997));
  return buf;
}

std::string FloodEventPayload(const std::string& id, int64_t ts_ms, int64_t seq) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"id\":\"%s\",\"ts\":%" PRId64 ",\"type\":\"bench.tick\",\"data\":{\"seq\":%" PRId64 "}}",
                id.c_str(), ts_ms, seq);
  return buf;
}

Result<void> ValidateFloodOptions(const FloodOptions& o) {
  if (o.identities.empty()) return InvalidArgument("username", "at least one identity is needed");
  if (o.identities.size() > 10000) return InvalidArgument("clients", "at most 10000 clients");
  if (!(o.rate >= 0) || o.rate > 1e7) return InvalidArgument("rate", "must be 0..10000000 (0 = unthrottled)");
  if (!(o.duration_s >= 0)) return InvalidArgument("duration", "must be >= 0");
  if (o.count < 0) return InvalidArgument("count", "must be >= 0");
  if (o.duration_s == 0 && o.count == 0) return InvalidArgument("duration", "give --duration or --count");
  if (o.qos < 0 || o.qos > 1) return InvalidArgument("qos", "must be 0 or 1");
  if (o.max_outstanding < 1 || o.max_outstanding > 1000000) return InvalidArgument("max-inflight", "must be 1..1000000");
  for (const auto& id : o.identities) {
    if (id.topic_prefix.empty() || id.topic_prefix.find_first_of("+#") != std::string::npos) {
      return InvalidArgument("topic-prefix", "must be a topic without wildcards, e.g. linli/v1/c1/d1/");
    }
  }
  return {};
}

Result<FloodResult> RunFlood(const FloodOptions& o, Clock& clock, const std::atomic<bool>& stop,
                             const std::function<void(const std::string&)>& progress) {
  LINLI_RETURN_IF_ERROR(ValidateFloodOptions(o));
  FloodListener listener;
  MqttPool pool(o.broker, &listener, clock);
  std::vector<std::string> topics;
  for (const auto& id : o.identities) {
    MqttClientOptions mo;
    mo.client_id = id.client_id.empty() ? id.username : id.client_id;
    mo.username = id.username;
    mo.password = id.password;
    mo.clean_session = true;
    mo.keepalive_s = 30;
    mo.max_inflight = 0;  // our own window (max_outstanding) applies
    LINLI_RETURN_IF_ERROR(pool.Add(mo));
    std::string prefix = id.topic_prefix;
    if (prefix.back() != '/') prefix.push_back('/');
    topics.push_back(prefix + (o.kind == FloodKind::kTelemetry ? "up/telemetry" : "up/event"));
  }
  const size_t k = pool.size();
  for (size_t i = 0; i < k; ++i) (void)pool.Connect(i);
  const auto connect_deadline = clock.Monotonic() + std::chrono::milliseconds(static_cast<int64_t>(o.connect_timeout_s * 1000));
  while (static_cast<size_t>(listener.connected) < k && clock.Monotonic() < connect_deadline && !stop.load()) {
    pool.Poll(10);
  }
  if (listener.connected == 0) {
    return Fail(ErrorCode::kUnavailable, "no flood client could connect to " + o.broker.host + ":" +
                                             std::to_string(o.broker.port) +
                                             (listener.last_failure.empty() ? "" : " (" + listener.last_failure + ")"));
  }
  FloodResult result;
  result.clients_connected = listener.connected;
  result.target_rate = o.rate;
  const auto start = clock.Monotonic();
  auto last_publish = start;
  auto last_report = start;
  int64_t seq = 0;
  size_t next_client = 0;
  const double end_s = o.duration_s > 0 ? o.duration_s : 1e18;
  const int window = o.qos > 0 ? o.max_outstanding : 1 << 30;
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) break;
    const double t = Since(start, clock.Monotonic());
    if (t >= end_s || (o.count > 0 && seq >= o.count)) break;
    int64_t due = o.rate > 0 ? static_cast<int64_t>(std::floor(t * o.rate)) + 1 : seq + 4096;
    if (o.count > 0) due = std::min(due, o.count);
    const int64_t ts = clock.NowMs();
    // Publish what is due, round-robin over clients with room in their window; at most one
    // round of 4096 before reading acknowledgements again.
    int budget = 4096;
    int blocked = 0;
    while (seq < due && budget > 0 && blocked < static_cast<int>(k)) {
      const size_t c = next_client;
      next_client = (next_client + 1) % k;
      if (!pool.IsConnected(c) || pool.Outstanding(c) >= window) {
        ++blocked;
        continue;
      }
      blocked = 0;
      std::string payload = o.kind == FloodKind::kTelemetry ? FloodTelemetryPayload(ts, seq)
                                                            : FloodEventPayload(NewUuid(), ts, seq);
      auto r = pool.Publish(c, topics[c], payload, o.qos, false);
      if (!r) {
        ++result.errors;
        continue;
      }
      ++seq;
      --budget;
      last_publish = clock.Monotonic();
    }
    int wait_ms = 0;
    if (seq < due) {
      wait_ms = blocked > 0 ? 5 : 0;  // windows full: wait for acknowledgements
    } else if (o.rate > 0) {
      wait_ms = static_cast<int>(std::max(0.0, (static_cast<double>(seq) / o.rate - Since(start, clock.Monotonic())) * 1000));
      wait_ms = std::min(wait_ms, 50);
    }
    pool.Poll(wait_ms);
    const auto now = clock.Monotonic();
    if (progress && Since(last_report, now) >= 2.0) {
      last_report = now;
      char line[200];
      std::snprintf(line, sizeof line, "flood: t=%.1fs published=%" PRId64 " acked=%" PRId64 " (%.0f/s)",
                    Since(start, now), seq, listener.acked, seq / std::max(1e-9, Since(start, now)));
      progress(line);
    }
  }
  result.published = seq;
  result.send_seconds = Since(start, last_publish);
  // Drain the acknowledgements.
  const auto drain_deadline = clock.Monotonic() + std::chrono::milliseconds(static_cast<int64_t>(o.drain_timeout_s * 1000));
  auto last_ack = clock.Monotonic();
  while (o.qos > 0 && listener.acked < seq && clock.Monotonic() < drain_deadline && !stop.load()) {
    const int64_t before = listener.acked;
    pool.Poll(10);
    if (listener.acked != before) last_ack = clock.Monotonic();
  }
  if (o.qos > 0 && listener.acked > 0) {
    result.total_seconds = Since(start, std::max(last_ack, last_publish));
  } else {
    result.total_seconds = result.send_seconds;
  }
  result.acked = o.qos > 0 ? listener.acked : seq;
  result.achieved_rate = result.send_seconds > 0 ? result.published / result.send_seconds : 0;
  result.acked_rate = result.total_seconds > 0 ? result.acked / result.total_seconds : 0;
  for (size_t i = 0; i < k; ++i) pool.Disconnect(i);
  const auto close_deadline = clock.Monotonic() + std::chrono::seconds(2);
  for (;;) {
    bool open = false;
    for (size_t i = 0; i < k; ++i) open = open || !pool.IsClosed(i);
    if (!open || clock.Monotonic() > close_deadline) break;
    pool.Poll(10);
  }
  return result;
}

std::string FormatFloodResult(const FloodResult& r) {
  char line[400];
  std::snprintf(line, sizeof line,
                "published=%" PRId64 " acked=%" PRId64 " errors=%" PRId64
                " send_s=%.3f total_s=%.3f target_rate=%.0f rate=%.1f acked_rate=%.1f clients=%d",
                r.published, r.acked, r.errors, r.send_seconds, r.total_seconds, r.target_rate, r.achieved_rate,
                r.acked_rate, r.clients_connected);
  return line;
}

}  // namespace linli::sim
