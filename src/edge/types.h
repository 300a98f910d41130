// Value types shared by every part of the edge box: frames, boxes, zones, detections and the
// events analyzers emit. Coordinates in events, zones and lines are NORMALISED to [0, 1] of the
// frame's width and height (x right, y down), so that a config and its events do not depend on
// the resolution a camera is analysed at. Plain values; thread-safety is the owner's concern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "common/ids.h"  // IsValidEventType
#include "common/json.h"
#include "common/result.h"

namespace linli::edge {

// One decoded frame. `image` is BGR8 (CV_8UC3); cv::Mat is reference-counted, so copies are cheap
// and share pixels: an analyzer that keeps a frame beyond Process() must clone() it if it will
// modify it.
struct Frame {
  cv::Mat image;
  int64_t pts_ms = 0;   // presentation time from the start of the stream (monotonic per source)
  int64_t index = 0;    // frame number from the source (0-based; gaps mean dropped frames)
  int64_t wall_ms = 0;  // wall-clock time of capture (ms since epoch), 0 for offline analysis
};

// An axis-aligned box, normalised.
struct Box {
  float x = 0, y = 0, w = 0, h = 0;
  std::string label;  // "person", "object", ... may be empty
  float score = 0;
};

// A point of a track, normalised, at a stream time.
struct TrackPoint {
  int64_t pts_ms = 0;
  float x = 0, y = 0;
};

// A named polygon (electronic fence, ROI, facade) or line segment, normalised.
struct Zone {
  std::string name;
  std::vector<cv::Point2f> points;  // polygon vertices in order (>= 3); a line has exactly 2
};

// What a Detector finds in one image, in PIXELS of the image it was given.
struct Detection {
  cv::Rect2f box;
  std::string label;  // COCO-style class name: "person", "dog", "bicycle", "motorcycle", ...
  float score = 0;
};

enum class EventPhase { kBegin, kUpdate, kEnd };
std::string_view EventPhaseName(EventPhase p);

// One step of an event's lifecycle. An event has one id for its whole life: it begins, may be
// updated (new boxes, better snapshot, longer trajectory) and ends. Instantaneous events (a
// thrown object, a scene change) may be emitted as kBegin followed at once by kEnd.
struct EdgeEvent {
  std::string id;         // stable across phases; a UUID
  std::string type;       // dotted, lower case: "vision.thrown_object", "camera.video_loss", ...
  std::string camera_id;  // the camera's device id
  EventPhase phase = EventPhase::kBegin;
  int64_t start_ms = 0;   // stream time of the first evidence
  int64_t end_ms = 0;     // stream time of the last evidence so far
  float score = 0;        // confidence in [0, 1]
  std::string zone;       // zone or ROI name where it applies, may be empty
  std::vector<Box> boxes;               // current boxes
  std::vector<TrackPoint> trajectory;   // where it applies (thrown objects, loitering)
  std::optional<cv::Point2f> origin;    // where it started (thrown objects), normalised
  Json data = Json::object();           // algorithm-specific: estimated floor/window, counts, ...
  // The best frame so far (clean, BGR) and the frame's stream time; empty if none. The pipeline
  // draws `boxes` onto a copy for the annotated snapshot.
  cv::Mat snapshot;
  int64_t snapshot_pts_ms = 0;
};

// What the platform can carry. The edge box does not depend on src/ingest, so the platform's
// rules are restated here; they MIRROR the platform's and must change with them:
//   - device ids (the {compound} and {device} of MQTT topics, the camera's device id in
//     `data.camera_id`): 1-64 of [A-Za-z0-9_-], starting with a letter or digit
//     (docs/protocol.md "Identity and credentials"; the uplink's IsValidDeviceId);
//   - a camera's id also names its telemetry metrics, "cam.<id>.dropped_frames" of at most 64
//     bytes (docs/protocol.md "Telemetry"), hence at most kMaxCameraIdLength characters;
//   - event types: dotted lower case, [a-z0-9_] segments, at least one dot, starting with a
//     letter, 3-64 bytes (IsValidEventType in common/ids.h, shared with the platform).
// The config is validated with these at load, so that nothing the box runs is refused later.
inline constexpr size_t kMaxPlatformIdLength = 64;
inline constexpr size_t kMaxCameraIdLength = 45;
bool IsPlatformId(std::string_view id, size_t max_length = kMaxPlatformIdLength);
// OK if valid; else InvalidArgument whose field is `key` and whose message gives the allowed form.
Result<void> CheckPlatformId(std::string_view id, const std::string& key,
                             size_t max_length = kMaxPlatformIdLength);
Result<void> CheckEventType(std::string_view type, const std::string& key);

}  // namespace linli::edge
