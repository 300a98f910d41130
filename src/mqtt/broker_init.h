// Broker set-up on disk: `linlid broker init` (InitBroker and LoadBrokerConfig, declared in
// mqtt/credentials.h) and the helpers around it.
//
// A broker data dir DIR holds
//   DIR/mosquitto.conf          the broker config (absolute paths; run `mosquitto -c` on it)
//   DIR/dynamic-security.json   the dynamic-security plugin's state (clients, roles; 0600)
//   DIR/broker.json             what linlid needs to connect (port, admin/service creds; 0600)
//   DIR/mosquitto-data/         mosquitto's persistence (linlid's persistent session)
// broker.json is written last, so its presence means "initialised".
// Thread-safety: the functions touch files only; do not run two of them on one DIR at once.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "mqtt/credentials.h"

namespace linli::mqtt {

struct BrokerPaths {
  std::string dir;          // absolute, normalised, no trailing slash
  std::string conf;         // DIR/mosquitto.conf
  std::string dynsec;       // DIR/dynamic-security.json
  std::string broker_json;  // DIR/broker.json
  std::string persistence;  // DIR/mosquitto-data/ (with the trailing slash mosquitto wants)
};
// Absolute paths for `data_dir` (relative dirs are resolved against the working directory).
Result<BrokerPaths> BrokerPathsFor(const std::string& data_dir);

// Where mosquitto_dynamic_security.so lives: $LINLI_MOSQUITTO_DYNSEC_PLUGIN if set (must exist),
// else the first hit among /usr/lib/<multiarch>/, /usr/lib/mosquitto/, /usr/local/lib/,
// /usr/lib64/, /usr/lib/. NotFound (naming the places searched) if absent.
Result<std::string> FindDynsecPlugin();

// Bulk provisioning while the broker is STOPPED: writes the roles and clients of `devices` (same
// layout as DynsecAuthority::UpsertDevices; existing entries are replaced) straight into
// DIR/dynamic-security.json, atomically. This exists because mosquitto 2.0's plugin rewrites its
// whole JSON file after every single $CONTROL command, which makes online provisioning of tens
// of thousands of devices quadratic (see docs in the mqtt report / bench_dynsec). Refuses with
// FailedPrecondition if something accepts connections on the broker's port (broker running).
Result<void> ImportDevicesOffline(const std::string& data_dir,
                                  const std::vector<DeviceCredential>& devices);

}  // namespace linli::mqtt
