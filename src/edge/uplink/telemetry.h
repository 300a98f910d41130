// Box telemetry (docs/protocol.md "Edge boxes"): what the uplink publishes every interval on
// `up/telemetry`. Per camera (metric names `cam.<camera id>.<name>`, from edge/box.h's
// CameraStats): fps (decoded), analysed_fps, lag_ms, dropped_frames (cumulative), reconnects,
// online (bool: frames are flowing), video_loss (bool), state (string). Per box: heartbeat,
// uptime_s, outbox.entries, outbox.bytes, outbox.oldest_age_s, outbox.evicted_events,
// outbox.evicted_bytes, outbox.dead_letters, uplink.published, uplink.confirmed,
// uplink.media_uploaded, uplink.media_retries, uplink.media_dead.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edge/box.h"
#include "edge/uplink/outbox.h"

namespace linli::edge {

struct UplinkCounters {
  int64_t published = 0;       // event steps published (including resends)
  int64_t confirmed = 0;       // event steps the broker acknowledged (removed from the outbox)
  int64_t media_uploaded = 0;
  int64_t media_retries = 0;   // failed attempts that will be retried
  int64_t media_dead = 0;      // media refused permanently (dead letters)
  int64_t bad_entries = 0;     // outbox entries that could not be sent at all (dropped)
};

// Telemetry payloads ({"ts", "metrics"}), each within the protocol's 256 metrics. Cameras
// whose id makes a metric name longer than 64 bytes are left out (and named in `skipped`).
std::vector<std::string> BuildTelemetryMessages(int64_t ts_ms, int64_t uptime_s,
                                                const std::vector<CameraStats>& cameras,
                                                const OutboxStats& outbox,
                                                const UplinkCounters& counters,
                                                std::vector<std::string>* skipped = nullptr);

}  // namespace linli::edge
