// Time-series and log records: what devices send (telemetry, events, status), what the
// platform derives (device faults), and what it keeps for operators (dead letters, audit).
// Plain values; thread-safety is the owner's concern.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/json.h"

namespace linli::model {

// One metric value of a telemetry message. Numbers and booleans are stored as numbers
// (bool → 0/1 with is_bool set); strings as text.
struct TelemetryPoint {
  std::string device_id;
  std::string metric;
  int64_t ts_ms = 0;
  std::variant<double, bool, std::string> value;
};

// A device event (door.passage, gas.leak, sos.pressed, ...). `id` makes redelivery idempotent.
struct Event {
  std::string id;
  std::string compound_id;
  std::string device_id;
  std::string type;
  int64_t ts_ms = 0;        // device time
  int64_t received_ms = 0;  // platform time
  Json data = Json::object();
};

enum class Presence { kUnknown, kOnline, kOffline };
std::string_view PresenceName(Presence p);

// A transition of a device's presence, with why it happened.
struct StatusChange {
  std::string device_id;
  std::string compound_id;
  Presence status = Presence::kUnknown;
  int64_t ts_ms = 0;
  std::string reason;  // "status_topic", "will", "heartbeat_timeout", "telemetry", "event"
};

// A device fault (an offline device, later: camera health). Open until `closed_ms` is set;
// at most one open fault per (device, kind).
struct DeviceFault {
  int64_t id = 0;
  std::string device_id;
  std::string compound_id;
  std::string kind;  // "offline"
  int64_t opened_ms = 0;
  std::optional<int64_t> closed_ms;
  std::string detail;
};

// An input that could not be processed, kept with the reason so that nothing is silently lost.
struct DeadLetter {
  int64_t id = 0;
  int64_t received_ms = 0;
  std::string source;  // "mqtt", "http", "import"
  std::string topic;   // MQTT topic or HTTP path or file:line
  std::string reason;  // machine-readable code: "malformed_topic", "bad_json", "unknown_device", ...
  std::string detail;  // human explanation
  std::string payload; // the raw bytes, truncated to 64 KiB
  int64_t payload_size = 0;
};

// Who did what, when, to which object.
struct AuditEntry {
  int64_t id = 0;
  int64_t ts_ms = 0;
  std::string actor;       // username or "system" or "device:<id>"
  std::string action;      // "login", "login_failed", "create", "update", "delete", "export", ...
  std::string object_kind; // "device", "person", ...
  std::string object_id;
  std::string compound_id;
  std::string remote;      // client address
  Json detail = Json::object();
};

}  // namespace linli::model
