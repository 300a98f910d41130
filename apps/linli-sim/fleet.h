// Fleet: the simulated devices of `linli-sim run`, talking MQTT with their own credentials.
//
// Devices are spread over a few worker threads; each worker drives its devices' libmosquitto
// clients through one MqttPool (no thread per device). On connect a device publishes "online"
// (retained; its will is "offline" retained) and subscribes to its down/command topic. Traffic:
// ordinary activity at the global `rate` (messages/s, split over the workers, each message from
// a random connected device), plus a heartbeat per device every `heartbeat_s` (default: a third
// of the kind's heartbeat timeout, 10-60 s). Faults: a fraction of devices go silent at a random
// time (half by dropping the TCP connection so that the broker publishes the will, half by
// hanging: connected but mute, so only the heartbeat timeout notices); a fraction of messages
// are malformed; bursts of extra messages every few seconds; a fraction of devices (or the ones
// named) never acknowledge commands: they receive them and do nothing at all (no ack, no state
// change, no follow-up event), like a controller whose firmware hangs on the command path.
// Every other device answers commands with acks (behavior.h).
// Stop: the flag passed to Run(); devices then publish "offline" and disconnect cleanly.
// Thread-safety: Run() blocks and owns the worker threads; Stats() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "behavior.h"
#include "common/clock.h"
#include "common/result.h"
#include "mqtt_pool.h"
#include "registrar.h"
#include "world.h"

namespace linli::sim {

struct FleetOptions {
  HostPort broker;
  uint64_t seed = 1;
  double rate = 10;         // activity messages per second, all devices together
  double duration_s = 0;    // 0 = until stopped
  int threads = 2;
  double heartbeat_s = 0;   // 0 = per kind
  double fault_silent = 0;  // fraction of devices that go silent
  double silent_after_s = 0;  // they go silent at a random time in [silent_after_s/2, silent_after_s]; 0 = auto
  double fault_bad_payload_rate = 0;  // fraction of activity messages replaced by malformed ones
  double fault_no_ack = 0;            // fraction of devices that never answer commands
  std::vector<std::string> no_ack_devices;  // and these devices (by id) in any case
  double burst_every_s = 0;
  int burst_size = 0;
  double connect_rate = 500;  // new connections per second, all workers together
  int qos = 1;
  int keepalive_s = 60;
  AlarmRates alarm_rates;
};

Result<void> ValidateFleetOptions(const FleetOptions& options);

// Whether the device with this id never acknowledges commands under `options`: listed in
// no_ack_devices, or drawn with probability fault_no_ack from (seed, id). Deterministic, so that
// a caller can tell in advance which devices will stay mute.
bool NeverAcks(const FleetOptions& options, const std::string& device_id);

struct FleetStats {
  std::atomic<int64_t> devices{0};
  std::atomic<int64_t> connected{0};
  std::atomic<int64_t> connect_failures{0};
  std::atomic<int64_t> disconnects{0};
  std::atomic<int64_t> published{0};   // all publications accepted by libmosquitto
  std::atomic<int64_t> acked{0};       // QoS 1 acknowledgements received
  std::atomic<int64_t> telemetry{0};
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> alarms{0};      // rare alarm events among `events`
  std::atomic<int64_t> heartbeats{0};
  std::atomic<int64_t> bad_payloads{0};
  std::atomic<int64_t> bursts{0};
  std::atomic<int64_t> commands{0};    // down/command messages received
  std::atomic<int64_t> command_errors{0};  // malformed, unsupported or expired commands
  std::atomic<int64_t> commands_unanswered{0};  // received by never-ack devices (fault injection)
  std::atomic<int64_t> dropped{0};     // messages not sent: device offline or publish failed
  std::atomic<int64_t> silenced{0};    // devices that went silent (fault injection)
};

// One summary line of the stats, e.g. for progress output.
std::string FormatStats(const FleetStats& s, double elapsed_s);

class Fleet {
 public:
  // `world` provides the compounds (people, plates) the devices refer to; it must outlive Run().
  Fleet(const World* world, std::vector<DeviceAccount> accounts, FleetOptions options, Clock& clock);

  // Connects every device and runs until `stop` is set or the duration elapsed, then
  // disconnects cleanly. `progress` gets a summary line every `progress_every_s`.
  Result<void> Run(const std::atomic<bool>& stop, const std::function<void(const std::string&)>& progress,
                   double progress_every_s = 5);
  const FleetStats& Stats() const { return stats_; }

 private:
  const World* world_;
  std::vector<DeviceAccount> accounts_;
  FleetOptions options_;
  Clock& clock_;
  FleetStats stats_;
};

}  // namespace linli::sim
