// The box's configuration (YAML; every key is documented in docs/edge.md): box identity, the
// uplink section (opaque here: handed to the uplink as a YAML node), the shared detector, and
// the cameras with their zones, lines, algorithms and schedules.
//
// Parsing validates everything that can be checked without running anything and returns
// InvalidArgument whose field is the key path ("cameras[1].zones[0].points") and whose message
// is the reason. Algorithm parameters are validated by the analyzers' factories
// (ValidateAnalyzers in pipeline.h creates each one once).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.h"
#include "edge/types.h"

namespace linli::edge {

// A time-of-day window on some days of the week, in the box's local time (TZ).
struct ScheduleWindow {
  uint8_t days = 0x7f;    // bit 0 = Monday ... bit 6 = Sunday
  int from_minute = 0;    // minutes after midnight, inclusive
  int to_minute = 1440;   // exclusive; to < from wraps past midnight
};

// When an algorithm runs. Empty = always.
struct Schedule {
  std::vector<ScheduleWindow> windows;
  bool Always() const { return windows.empty(); }
  // True if `wall_ms` (ms since epoch) falls in a window, in the process's local time zone.
  bool Active(int64_t wall_ms) const;
};

// One entry of a camera's `algorithms:` mapping. An algorithm is named by its registry name,
// once per camera. The keys common to every algorithm — `enabled`, `schedule` and `comment`
// (free text, ignored) — are read by ParseBoxConfig and never reach the analyzer's factory;
// `schedules` is refused as a misspelling, and an `event_type` must be one the platform
// accepts (CheckEventType). Everything else is the analyzer's to validate.
struct AlgorithmConfig {
  std::string name;     // registry name ("thrown_object", "zone_intrusion", ...)
  std::string key;      // "cameras[0].algorithms.thrown_object", for error messages
  YAML::Node params;    // the algorithm's own mapping, without the common keys
  Schedule schedule;
};

struct MotionConfig {
  bool enabled = true;
  int width = 160;            // the gate works on frames downscaled to this width
  int threshold = 25;         // per-pixel grey difference counted as change (0-255)
  double min_area = 0.002;    // fraction of changed pixels that means motion
  int64_t hold_ms = 2000;     // motion state lasts this long after the last change
  double keepalive_fps = 1;   // rate gated analyzers still get while the scene is static
};

struct ClipConfig {
  bool enabled = false;
  double pre_s = 3;       // seconds before the event's start
  double post_s = 2;      // seconds after its end (the end step waits for them)
  double max_s = 12;      // longest clip; longer events get their last max_s seconds
  double fps = 10;        // frames kept per second (<= source rate)
  int max_width = 480;
  std::string codec = "avc1";  // fourcc; "avc1" (H.264 in .mp4) or "mp4v"; MJPG writes .avi
};

struct SnapshotConfig {
  int jpeg_quality = 85;
  int max_width = 0;  // 0 = native size
};

struct CameraConfig {
  std::string id;            // the camera's platform device id
  std::string url;           // rtsp://..., rtsps://... or a file path
  bool enabled = true;
  bool loop = false;         // files: start again at the end (demos)
  std::optional<bool> realtime;  // files: pace to the nominal rate (default: yes in `run`)
  double analysis_fps = 5;
  int max_width = 640;
  int64_t open_timeout_ms = 5000;
  int64_t read_timeout_ms = 5000;
  int64_t reconnect_initial_ms = 500;
  int64_t reconnect_max_ms = 30000;
  int64_t max_lag_ms = 1000;  // live sources: beyond this, frames are dropped to catch up
  MotionConfig motion;
  ClipConfig clip;
  SnapshotConfig snapshot;
  std::vector<Zone> zones;   // `zones:`, polygons (>= 3 points): what analyzers are given
  std::vector<Zone> lines;   // `lines:`, segments (exactly 2 points); no analyzer uses them yet
  std::vector<AlgorithmConfig> algorithms;
  std::string key;           // "cameras[i]"
  std::string fingerprint;   // canonical text of the camera's node: equal = unchanged
  bool IsRtsp() const;
};

// device_id and compound_id are platform ids (CheckPlatformId); camera ids too, at most
// kMaxCameraIdLength characters.
struct BoxIdentity {
  std::string device_id;    // the box's own platform device id
  std::string compound_id;
  std::string state_dir = "edge-state";  // analyzers' persistent files, media, outbox
  std::string events_jsonl;  // optional: every event step also goes to this JSONL file
  // Where `run` serves GET /metrics: "host:port" (IP literal or localhost, "[v6]:port"), or
  // "off". Checked by ParseListenAddress at load.
  std::string metrics_listen = "127.0.0.1:9464";
};

// A parsed listen address; `enabled` false for "off" (or an empty string).
struct ListenAddress {
  bool enabled = false;
  std::string host;  // an IP literal ("localhost" becomes 127.0.0.1)
  int port = 0;      // 0..65535 (0: any free port)
};
// InvalidArgument naming `key` unless `text` is "off", "" or "host:port" as above.
Result<ListenAddress> ParseListenAddress(const std::string& text, const std::string& key);

struct BoxConfig {
  BoxIdentity box;
  YAML::Node uplink;       // opaque; null if absent (events then go to events_jsonl only)
  YAML::Node detector;     // the shared detector's config; null = analyzers' own choice
  std::string detector_fingerprint;
  std::vector<CameraConfig> cameras;
  std::string uplink_fingerprint;
};

// Parses and validates a box config from YAML text. A document without `cameras:` but with
// `url:` or `algorithms:` at the top is read as a single camera (the examples' camera form);
// `box:` is then optional.
Result<BoxConfig> ParseBoxConfig(const std::string& yaml_text);
Result<BoxConfig> LoadBoxConfig(const std::string& path);

// One camera out of a box config or a single-camera file: the camera `camera_id`, or the only
// camera if `camera_id` is empty (InvalidArgument if there are several).
Result<CameraConfig> SelectCamera(const BoxConfig& box, const std::string& camera_id);

// The keys a running box cannot take over from a pushed config (config.apply): box.device_id,
// box.compound_id, box.state_dir, box.events_jsonl (the JSONL copy is opened once, at start),
// box.metrics_listen and the uplink section (compared as written). OK if `next` keeps them all; else
// FailedPrecondition naming the first key that changed. Nothing else is compared.
Result<void> CheckRestartOnlyKeys(const BoxConfig& running, const BoxConfig& next);

// Reads a whole file (InvalidArgument naming the path if it cannot).
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace linli::edge
