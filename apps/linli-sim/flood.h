// Flood: a raw MQTT load generator for benchmarks (`linli-sim flood`).
//
// K clients (one device identity each, or one identity with K client ids) publish telemetry or
// events with a per-message "ts" (ms) and "seq" at a fixed total rate (0 = as fast as the
// in-flight window allows), for a duration or a message count, then wait for the outstanding
// QoS 1 acknowledgements. All clients are driven by one thread (MqttPool).
// Thread-safety: RunFlood() blocks; call it from one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api_client.h"
#include "common/clock.h"
#include "common/result.h"
#include "mqtt_pool.h"

namespace linli::sim {

enum class FloodKind { kTelemetry, kEvent };

struct FloodOptions {
  HostPort broker;
  std::vector<MqttAccount> identities;  // one per client
  double rate = 1000;       // messages per second in total; 0 = unthrottled
  double duration_s = 10;   // 0 = until `count` messages (or stopped)
  int64_t count = 0;        // 0 = no limit
  FloodKind kind = FloodKind::kTelemetry;
  int qos = 1;
  int max_outstanding = 1000;  // unacknowledged QoS 1 messages per client
  double connect_timeout_s = 10;
  double drain_timeout_s = 30;
};

Result<void> ValidateFloodOptions(const FloodOptions& options);

struct FloodResult {
  int64_t published = 0;
  int64_t acked = 0;
  int64_t errors = 0;           // publish calls refused (disconnected)
  double send_seconds = 0;      // first to last publish
  double total_seconds = 0;     // first publish to last acknowledgement
  double target_rate = 0;
  double achieved_rate = 0;     // published / send_seconds
  double acked_rate = 0;        // acked / total_seconds
  int clients_connected = 0;
};

// The payloads; exposed for tests and for the benchmark subscriber's expectations.
std::string FloodTelemetryPayload(int64_t ts_ms, int64_t seq);
std::string FloodEventPayload(const std::string& id, int64_t ts_ms, int64_t seq);

// Connects, floods, drains. An error if no client could connect.
Result<FloodResult> RunFlood(const FloodOptions& options, Clock& clock, const std::atomic<bool>& stop,
                             const std::function<void(const std::string&)>& progress);

// "published=N acked=N errors=N send_s=X total_s=X target_rate=X rate=X acked_rate=X clients=K"
std::string FormatFloodResult(const FloodResult& r);

}  // namespace linli::sim
