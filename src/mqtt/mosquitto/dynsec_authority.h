// DynsecAuthority: the CredentialAuthority of mqtt/credentials.h on mosquitto's
// dynamic-security plugin, driven over MQTT ($CONTROL/dynamic-security/v1).
//
// It owns one libmosquitto client (the admin credentials of broker.json, a random client id so
// that several linlid nodes can administer one broker) and its own loop thread (poll on the
// socket and a wake-up eventfd; reconnects with back-off 0.1 s → 2 s; libmosquitto's
// loop_start() thread gives up for good when the very first connect is refused). A call publishes
// {"commands":[...]} with a unique "correlationData" per command and waits for the responses on
// $CONTROL/dynamic-security/v1/response, matched by correlationData (other admins' responses
// are ignored). Calls are serialised: the plugin executes commands one at a time anyway.
// BrokerAdminOptions::timeout_ms bounds each broker round trip (one $CONTROL message); an
// UpsertDevices of many devices makes several round trips.
//
// Device layout: see mqtt/dynsec_config.h (role "dev:<id>", client username = client id = id).
// UpsertDevices sends createRole+createClient for a chunk of devices in one message, then
// modifyRole+modifyClient in a second message for those the broker already had ("already
// exists"). An empty password means "keep the current password" (allowed only for devices the
// broker already knows). Everything is validated before the first command is sent.
//
// Cost (measured, see the mqtt report): mosquitto 2.0's plugin rewrites its whole JSON file
// after every successful command and blocks the broker while doing it, so one device costs two
// file rewrites whose size grows with the number of devices. Chunks are bounded by bytes and
// count so that no single message blocks the broker for long; bulk provisioning of very many
// devices belongs to ImportDevicesOffline (mqtt/broker_init.h).
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "mqtt/credentials.h"

struct mosquitto;
struct mosquitto_message;

namespace linli::mqtt {

struct DynsecTuning {
  size_t max_devices_per_message = 250;   // createRole+createClient pairs per message
  size_t max_message_bytes = 512 * 1024;  // below the broker's max_packet_size (1 MiB)
  // The broker is blocked while the plugin works through a message, and each command costs a
  // rewrite of the whole file (~25 us per stored device, measured). Chunks adapt so that one
  // message keeps the broker busy for about this long (client keepalives are 30-60 s).
  int target_message_ms = 1000;
  size_t initial_devices_per_message = 16;
};

// The next chunk size after `devices` devices took `elapsed_ms` (both rounds): aims at
// tuning.target_message_ms, at most doubles per step, stays within [1, max_devices_per_message].
size_t NextChunkSize(size_t current, size_t devices, double elapsed_ms, const DynsecTuning& tuning);

class DynsecAuthority final : public CredentialAuthority {
 public:
  explicit DynsecAuthority(BrokerAdminOptions options, DynsecTuning tuning = {});
  ~DynsecAuthority() override;
  DynsecAuthority(const DynsecAuthority&) = delete;
  DynsecAuthority& operator=(const DynsecAuthority&) = delete;

  Result<void> UpsertDevices(const std::vector<DeviceCredential>& devices) override;
  Result<void> DeleteDevice(const std::string& device_id) override;
  Result<void> SetDeviceEnabled(const std::string& device_id, bool enabled) override;

  // Sends `commands` (JSON objects with at least "command") in one message and returns one
  // response object per command, in order ({"command", "error"?, "data"?}). Unavailable when
  // not connected within the timeout, when the connection drops, or when the broker does not
  // answer in time (the commands may or may not have been applied).
  Result<std::vector<Json>> Execute(std::vector<Json> commands);

  // Waits up to the timeout for the admin connection (connected and subscribed).
  Result<void> WaitReady();

  // Number of $CONTROL messages sent so far (for tests and measurements).
  int64_t messages_sent() const;

 private:
  void Run();
  void Wake();

  static void OnConnect(mosquitto* m, void* self, int rc);
  static void OnDisconnect(mosquitto* m, void* self, int rc);
  static void OnSubscribe(mosquitto* m, void* self, int mid, int count, const int* granted);
  static void OnMessage(mosquitto* m, void* self, const mosquitto_message* msg);

  Result<void> UpsertChunk(const std::vector<DeviceCredential>& devices, size_t first_index);
  Result<void> WaitReadyUntil(std::chrono::steady_clock::time_point deadline);

  const BrokerAdminOptions opts_;
  const DynsecTuning tuning_;
  std::atomic<size_t> chunk_;        // adaptive devices per message
  std::optional<Error> init_error_;  // set when the options are unusable
  mosquitto* mosq_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::chrono::milliseconds backoff_{100};  // loop thread only
  std::string corr_prefix_;

  std::mutex call_mu_;  // one Execute() at a time

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool ready_ = false;
  int subscribe_mid_ = -1;
  uint64_t generation_ = 0;  // bumped on every disconnect
  uint64_t next_corr_ = 0;
  std::map<std::string, std::optional<Json>> pending_;  // correlationData → response
  size_t outstanding_ = 0;
  int64_t messages_sent_ = 0;
};

// As MakeDynsecAuthority (credentials.h) with explicit chunking.
std::unique_ptr<CredentialAuthority> MakeDynsecAuthority(const BrokerAdminOptions& options,
                                                         const DynsecTuning& tuning);

}  // namespace linli::mqtt
