// DeviceDirectory: the in-memory view of registered devices and their presence, which the
// ingest hot path consults for every message (no database read per message).
//
// Presence rules (docs/protocol.md "Presence"): a device is online after its retained status
// "online" or any traffic; offline after its status "offline" (normally its will message) or
// when nothing was heard from it for its heartbeat timeout (device attribute
// heartbeat_timeout_s, else the default of its kind). A device never heard from is "unknown"
// and raises no fault.
//
// Observations are not applied directly: callers compute the transitions they imply with
// Plan(), make them durable, then Apply() them, so memory never runs ahead of the store.
// Thread-safety: all methods lock an internal mutex. Callers that Plan+Apply must serialise
// those pairs themselves (the Ingestor holds its presence lock around both).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/records.h"
#include "model/registry.h"
#include "store/store.h"

namespace linli::ingest {

struct DeviceInfo {
  std::string compound_id;
  std::string kind;
  int heartbeat_timeout_s = 600;
  model::Presence status = model::Presence::kUnknown;
  int64_t status_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t persisted_seen_ms = 0;  // last_seen as last written to the store
  bool seen_dirty = false;        // queued in dirty_seen_
};

// What a message tells about a device.
struct Observation {
  std::string device_id;
  int64_t ts_ms = 0;
  // Set for status-topic messages; unset for ordinary traffic (which means "alive").
  std::optional<model::Presence> status;
  std::string reason;  // "status_topic", "telemetry", "event", "ack"
};

class DeviceDirectory {
 public:
  // Last-seen times are persisted at most every `persist_interval_ms` per device.
  explicit DeviceDirectory(int64_t persist_interval_ms = 60'000) : persist_interval_ms_(persist_interval_ms) {}

  // Loads devices and their persisted states.
  void Load(const std::vector<model::Record>& devices, const std::vector<store::Store::DeviceState>& states);
  void Upsert(const model::Record& device);
  void Remove(const std::string& device_id);

  std::optional<DeviceInfo> Find(const std::string& device_id) const;
  // Lightweight lookup for the hot path: compound of a device, or nullopt.
  std::optional<std::string> CompoundOf(const std::string& device_id) const;

  // Transitions implied by `obs` (in order) given current state; does not mutate.
  std::vector<model::StatusChange> Plan(const std::vector<Observation>& obs) const;
  // Offline transitions for online devices silent for longer than their timeout at `now_ms`.
  std::vector<model::StatusChange> PlanTimeouts(int64_t now_ms) const;
  // Applies observations' last-seen times and the planned transitions.
  void Apply(const std::vector<Observation>& obs, const std::vector<model::StatusChange>& changes);
  // Devices whose last_seen moved more than the persist interval past what was persisted,
  // marked as persisted at the returned values. O(number returned).
  std::vector<std::pair<std::string, int64_t>> TakeLastSeenToPersist();

  struct Counts {
    int64_t total = 0;
    int64_t online = 0;
  };
  Counts CompoundCounts(const std::string& compound_id) const;
  Counts TotalCounts() const;
  std::vector<std::string> CompoundIds() const;
  // Devices whose current presence is offline (for fault reconciliation at start-up).
  std::vector<std::pair<std::string, DeviceInfo>> Snapshot() const;

 private:
  void AdjustCounts(const DeviceInfo& info, int delta_total, int delta_online);

  const int64_t persist_interval_ms_;
  mutable std::mutex mu_;
  std::vector<std::string> dirty_seen_;  // devices due for a last_seen write
  std::unordered_map<std::string, DeviceInfo> devices_;
  std::unordered_map<std::string, Counts> per_compound_;
};

}  // namespace linli::ingest
