// Payload decoding for the device protocol. Strict: anything that does not match the contract
// in docs/protocol.md is an InvalidArgument naming the field, which the ingestor turns into a
// dead letter. Pure functions; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "common/ids.h"  // IsValidEventType
#include "common/result.h"
#include "model/records.h"

namespace linli::ingest {

struct DecodeLimits {
  size_t max_payload_bytes = 64 * 1024;
  size_t max_metrics = 256;
  size_t max_string_value = 1024;
  size_t max_event_data_bytes = 32 * 1024;
  // Accepted device timestamps relative to the platform clock.
  int64_t max_past_ms = 400LL * 24 * 3600 * 1000;
  int64_t max_future_ms = 24LL * 3600 * 1000;
};

// {"ts": ms, "metrics": {name: number|bool|string}} → points stamped with the device and ts.
// A missing "ts" takes `now_ms`.
Result<std::vector<model::TelemetryPoint>> DecodeTelemetry(std::string_view payload,
                                                           const std::string& device_id,
                                                           int64_t now_ms, const DecodeLimits& lim);

// {"id": "...", "ts": ms, "type": "a.b", "data": {...}} → Event (compound/device from the topic).
Result<model::Event> DecodeEvent(std::string_view payload, const std::string& compound_id,
                                 const std::string& device_id, int64_t now_ms, const DecodeLimits& lim);

// "online" / "offline" (optionally JSON-quoted, or {"status": "..."}).
Result<model::Presence> DecodeStatus(std::string_view payload);

// Metric names: 1–64 of [A-Za-z0-9_.-].
bool IsValidMetricName(std::string_view name);
// Event ids: 1–64 of [A-Za-z0-9_.:-], starting alphanumeric (UUIDs recommended).
bool IsValidEventId(std::string_view id);

}  // namespace linli::ingest
