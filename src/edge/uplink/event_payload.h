// The wire form of an edge event step (docs/protocol.md, "Edge boxes"): how an EdgeEvent
// becomes the body of an `up/event` message that the box publishes for one of its cameras.
//
//   {"ts": <wall ms>, "type": "vision.zone_intrusion",
//    "data": {"event_id", "phase", "camera_id", "start_ms", "end_ms", "score", "zone",
//             "boxes": [{"x","y","w","h","label","score"}], "trajectory": [{"pts_ms","x","y"}],
//             "origin": {"x","y"}, "snapshot_pts_ms", "details": {...},
//             "snapshot", "snapshot_annotated", "clip"}}      ← media ids, added by the Outbox
// The message "id" ("<event id>:<phase>:<outbox seq>") is added when the step is sent.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/result.h"
#include "edge/types.h"

namespace linli::edge {

// Limits that keep a step inside the platform's (docs/protocol.md "Limits"): event data
// <= 32 KiB serialised, ids of [A-Za-z0-9_.:-] up to 64 characters.
inline constexpr size_t kMaxEventIdLength = 40;   // leaves room for ":update:<seq>"
inline constexpr size_t kMaxEventDataBytes = 32 * 1024 - 512;  // 512: media ids added later
inline constexpr size_t kMaxTrajectoryPoints = 512;
inline constexpr size_t kMaxBoxes = 64;

// InvalidArgument naming the field if the event cannot be sent as it is: id (1–40 of
// [A-Za-z0-9_.-]), type (dotted lower case, [a-z0-9_] segments, <= 64 bytes), camera_id
// (a device id: 1–64 of [A-Za-z0-9_-], starting with a letter or digit).
Result<void> ValidateEdgeEvent(const EdgeEvent& event);

// The message body without "id" and media references. Long trajectories are thinned (first
// and last point kept), boxes capped, and oversized details replaced so that "data" stays
// under kMaxEventDataBytes; then data.truncated = true. `with_snapshot`: this step carries a
// new snapshot (data.snapshot_pts_ms is set to event.snapshot_pts_ms).
Json EventStepBody(const EdgeEvent& event, int64_t ts_ms, bool with_snapshot);

bool IsValidDeviceId(std::string_view id);
bool IsValidEventType(std::string_view type);

}  // namespace linli::edge
