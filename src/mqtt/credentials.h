// CredentialAuthority: gives devices their own MQTT credentials and topic ACLs on the broker.
//
// A device `d` of compound `c` gets a broker client with username = client id = d and a role
// that lets it publish only to linli/v1/c/d/up/# and subscribe only to linli/v1/c/d/down/#.
// The implementation talks to mosquitto's dynamic-security plugin over its $CONTROL topic.
// Thread-safety: all methods are safe from any thread; each call blocks until the broker
// answered or `timeout` elapsed (Unavailable).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace linli::mqtt {

struct DeviceCredential {
  std::string device_id;
  std::string compound_id;
  std::string password;  // plaintext, only on creation; the broker stores a salted hash
};

class CredentialAuthority {
 public:
  virtual ~CredentialAuthority() = default;
  // Creates (or replaces the password and ACL of) the broker client of each device.
  // Batched into as few broker round-trips as possible.
  virtual Result<void> UpsertDevices(const std::vector<DeviceCredential>& devices) = 0;
  // Removes the broker client and role of a device; succeeds if it did not exist.
  virtual Result<void> DeleteDevice(const std::string& device_id) = 0;
  // Disables or re-enables a device's client (kicks it off when disabled).
  virtual Result<void> SetDeviceEnabled(const std::string& device_id, bool enabled) = 0;
};

struct BrokerAdminOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string username;  // the admin client written by `linlid broker init`
  std::string password;
  int timeout_ms = 5000;
};

std::unique_ptr<CredentialAuthority> MakeDynsecAuthority(const BrokerAdminOptions& options);

// `linlid broker init`: writes DIR/mosquitto.conf, DIR/dynamic-security.json (with the admin
// client and the linlid service client) and DIR/broker.json (what linlid serve needs to
// connect: port, admin and service credentials; mode 0600). Refuses to overwrite an existing
// broker unless `force`.
struct BrokerInitOptions {
  std::string data_dir;
  int port = 1883;
  std::string bind_address = "127.0.0.1";
  bool force = false;
};
Result<void> InitBroker(const BrokerInitOptions& options);

// What `linlid serve` reads back from DIR/broker.json.
struct BrokerConfig {
  int port = 1883;
  std::string admin_username;
  std::string admin_password;
  std::string service_username;  // linlid's own ingest client
  std::string service_password;
};
Result<BrokerConfig> LoadBrokerConfig(const std::string& data_dir);

}  // namespace linli::mqtt
