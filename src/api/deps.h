// What the HTTP API needs from the rest of linlid, as interfaces the app wires up. Keeping them
// here keeps api/ independent of ingest/ and mqtt/ (STYLE.md dependency direction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/metrics.h"
#include "model/records.h"
#include "model/registry.h"
#include "mqtt/credentials.h"
#include "store/blob_store.h"
#include "store/store.h"

namespace linli::incidents {
class LinkageService;
}

namespace linli::api {

// Keeps the in-memory device directory (used by ingest) in step with the registry.
// Thread-safety: called from HTTP threads.
class DeviceHooks {
 public:
  virtual ~DeviceHooks() = default;
  virtual void OnDeviceUpserted(const model::Record& device) = 0;
  virtual void OnDeviceDeleted(const std::string& device_id) = 0;
};

// Tells caches (the rules engine's registry view) about every registry change.
// Thread-safety: called from HTTP threads.
class RecordHooks {
 public:
  virtual ~RecordHooks() = default;
  virtual void OnRecordUpserted(const model::Record& record) = 0;
  virtual void OnRecordDeleted(model::Kind kind, const std::string& id) = 0;
};

// Read access to live presence. Thread-safety: callable from any thread.
class PresenceView {
 public:
  virtual ~PresenceView() = default;
  struct DeviceStatus {
    model::Presence status = model::Presence::kUnknown;
    int64_t status_ms = 0;
    int64_t last_seen_ms = 0;
  };
  virtual std::optional<DeviceStatus> Status(const std::string& device_id) const = 0;
  struct Ratio {
    int64_t total = 0;
    int64_t online = 0;
  };
  virtual Ratio CompoundOnline(const std::string& compound_id) const = 0;
};

// Everything the API uses. Raw pointers: the app owns all of them and they outlive the server.
// `credentials` may be null when no broker is configured (devices then get no MQTT account).
struct ApiDeps {
  store::Store* store = nullptr;
  const FieldCipher* cipher = nullptr;
  Clock* clock = nullptr;
  mqtt::CredentialAuthority* credentials = nullptr;
  DeviceHooks* device_hooks = nullptr;
  RecordHooks* record_hooks = nullptr;
  PresenceView* presence = nullptr;
  metrics::Registry* metrics = nullptr;
  // Media bytes (snapshots, clips, photos); null disables the media routes (503).
  store::BlobStore* blobs = nullptr;
  // Rules, alarms, work orders, commands; null disables those routes (503).
  incidents::LinkageService* linkage = nullptr;
};

}  // namespace linli::api
