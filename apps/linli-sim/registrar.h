// Registrar: puts a planned World into linlid through the REST API, concurrently and
// idempotently, and collects every device's MQTT account.
//
// Phases run in order (regions before compounds before buildings ...); the entries of a phase
// are spread over `concurrency` threads, each with its own HTTP connection. A 409 reuses the
// existing record; an existing device gets its credentials rotated so that its password is
// known again. Failures are counted and the first few reported; dependants of a failed record
// fail in turn (and are counted) rather than stopping the run.
// Thread-safety: RegisterWorld() is a blocking call that owns its worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api_client.h"
#include "common/clock.h"
#include "common/result.h"
#include "world.h"

namespace linli::sim {

struct DeviceAccount {
  SimDevice device;
  MqttAccount mqtt;
};

struct RegisterOptions {
  std::string api_url = "http://127.0.0.1:8080";
  std::string username = "admin";
  std::string password;
  int concurrency = 4;
  // Stop starting new registrations after this long (0 = no limit); the report says how far it got.
  double max_seconds = 0;
  // Print a progress line through this callback every ~2 s (may be empty).
  std::function<void(const std::string&)> progress;
};

struct RegisterReport {
  size_t planned = 0;
  size_t created = 0;
  size_t existed = 0;
  size_t failed = 0;
  size_t devices_planned = 0;
  bool timed_out = false;
  double seconds = 0;           // wall time of the whole registration
  double device_seconds = 0;    // of the device phase alone
  std::vector<std::string> first_errors;  // up to 10
  std::vector<DeviceAccount> accounts;    // devices with a usable MQTT account
};

// Logs in and registers everything. Returns an error only if logging in fails; per-record
// failures are in the report. `stop` (may be null) aborts early when set.
Result<RegisterReport> RegisterWorld(const World& world, const RegisterOptions& options, Clock& clock,
                                     const std::atomic<bool>* stop);

// Device accounts as JSON lines (one object per device: device_id, compound_id, kind, room_id,
// person_id, client_id, username, password, topic_prefix). Written with mode 0600.
Result<void> WriteAccounts(const std::string& path, const std::vector<DeviceAccount>& accounts);
Result<std::vector<DeviceAccount>> ReadAccounts(const std::string& path);

}  // namespace linli::sim
