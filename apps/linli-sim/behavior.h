// DeviceBehavior: what one simulated device says on MQTT, and how it answers commands.
//
// Pure logic over an Rng and a time in milliseconds; no I/O. The fleet (fleet.h) decides when a
// device speaks and puts the bytes on the wire. Payloads follow docs/protocol (DESIGN.md):
//   up/telemetry {"ts", "metrics": {name: number|bool|string}}
//   up/event     {"id": uuid, "ts", "type", "data": {...}}
//   up/ack       {"command_id", "ok", "error"}
// Per kind: door controllers emit door.passage {person_id, card_no, direction, method} and
// door_open; barrier gates vehicle.passage {plate, direction}; gas sensors ch4_ppm (rarely
// gas.leak); smoke sensors smoke_density (rarely smoke.alarm {density}); water sensors
// water_detected (rarely water.leak); meters kwh/voltage/current/power; SOS buttons rarely
// sos.pressed; sound-and-light alarms sounding; everything a heartbeat. Names as in the table of
// docs/protocol.md.
// Commands (docs/protocol.md "Commands and acknowledgements"), each answered with an ack first:
// door_controller unlock (→ event door.unlocked {command_id, by, duration_s, cause}, telemetry
// door_open true) and lock (→ door.locked, door_open false); sound_light_alarm
// alarm_on/alarm_off (→ event alarm.on/alarm.off, telemetry sounding); barrier_gate raise/lower
// (→ event barrier.raised/lowered, telemetry barrier_up); every kind "ping". Refused with
// ok=false: expired (`expires` in the past), unknown or unsupported names, malformed args.
// Thread-safety: none; one DeviceBehavior belongs to one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rng.h"
#include "world.h"

namespace linli::sim {

// One MQTT publication relative to the device's topic prefix ("up/telemetry").
struct Outgoing {
  std::string subtopic;
  std::string payload;
  bool retain = false;
  // The rare alarm-type events (gas.leak, smoke.alarm, water.leak, sos.pressed), for the summary.
  bool alarm = false;
};

// Makes event ids. Production passes NewUuid (unique across runs, so that a re-run with the same
// seed is not deduplicated as redelivery); tests pass a counter for reproducibility.
using IdSource = std::function<std::string()>;

// Probabilities of the rare events per activity of the device.
struct AlarmRates {
  double gas_leak = 0.003;
  double smoke_alarm = 0.003;
  double water_leak = 0.01;
  double sos = 0.01;
};

class DeviceBehavior {
 public:
  // `compound` must outlive this object (the fleet keeps the World alive).
  DeviceBehavior(const SimDevice& device, const SimCompound* compound, uint64_t seed,
                 AlarmRates rates = {});

  const SimDevice& device() const { return device_; }

  // Heartbeat telemetry: uptime, signal, battery for battery-powered kinds.
  Outgoing Heartbeat(int64_t now_ms);
  // One piece of ordinary traffic for this kind (a reading or an event).
  Outgoing Activity(int64_t now_ms, const IdSource& new_id);
  // Answers a down/command payload. Returns the ack first, then follow-up messages (events,
  // telemetry). Malformed commands without a usable id give no messages (nothing to correlate
  // an ack with) and set *error.
  std::vector<Outgoing> HandleCommand(std::string_view payload, int64_t now_ms, const IdSource& new_id,
                                      std::string* error);

  // The retained status message ("online") and the will ("offline"), both retained.
  static Outgoing Online();
  static Outgoing Offline();

 private:
  Outgoing Telemetry(int64_t now_ms, Json metrics);
  Outgoing Event(int64_t now_ms, const IdSource& new_id, std::string type, Json data, bool alarm = false);

  SimDevice device_;
  const SimCompound* compound_;
  Rng rng_;
  AlarmRates rates_;
  int64_t started_ms_ = -1;
  // Device state carried between messages.
  double kwh_ = 0;
  double battery_pct_ = 100;
  bool door_open_ = false;
  bool barrier_up_ = false;
  bool sounding_ = false;
  int64_t passages_ = 0;
};

// A deliberately broken message for fault injection: invalid JSON, wrong types, missing fields,
// oversized (> 256 KiB), invalid UTF-8, a non-UUID event id, or a topic of the wrong shape
// (`subtopic` then is e.g. "up/telemetry/extra" or "up/bogus"). `reason` says which.
struct BadMessage {
  Outgoing message;
  std::string reason;
};
BadMessage MakeBadMessage(Rng& rng, int64_t now_ms);

}  // namespace linli::sim
