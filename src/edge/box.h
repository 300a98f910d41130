// What the rest of the box (the uplink, telemetry, device commands) may see of the camera
// pipelines, without depending on them: per-camera statistics and the live config hook.
//
// The uplink reads CameraStats for telemetry (`up/telemetry` metrics per camera) and calls the
// ConfigApplier when the platform pushes a `config.apply` device command.
// Thread-safety: both callables are safe to call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"

namespace linli::edge {

// A camera pipeline's state.
enum class CameraState {
  kStarting,      // opening the source for the first time
  kRunning,       // frames are flowing
  kReconnecting,  // the source failed; re-opening with back-off (video loss is open)
  kEnded,         // a finite file reached its end
  kStopped,       // stopped (shutdown, camera removed or replaced)
  kFailed,        // cannot work (bad file, not a video): not retried
};
std::string_view CameraStateName(CameraState s);

// A snapshot of one camera's counters. Rates are over the last few seconds.
struct CameraStats {
  std::string camera_id;
  CameraState state = CameraState::kStarting;
  double source_fps = 0;    // nominal rate the source announces
  int width = 0, height = 0;  // native frame size
  double decoded_fps = 0;   // frames decoded per second (recent)
  double analysed_fps = 0;  // sub-sampled frames analysed per second (recent)
  double lag_ms = 0;        // how far processing is behind real time (live/paced sources)
  int64_t frames_decoded = 0;
  int64_t frames_analysed = 0;   // sub-sampled frames given to at least one analyzer
  int64_t frames_full_rate = 0;  // frames given to full-rate analyzers
  int64_t frames_dropped = 0;    // decoded but not analysed to stay in real time
  int64_t frames_gated = 0;      // sub-sampled frames skipped by motion gating
  int64_t reconnects = 0;        // successful re-opens after a failure
  int64_t events = 0;            // event steps emitted by this camera's analyzers
  bool video_loss = false;       // a camera.video_loss event is open
  std::string last_error;        // the last source error, empty if none
};

// Returns the current stats of every camera of the box.
using StatsProvider = std::function<std::vector<CameraStats>()>;

// Validates a complete box config (YAML text, the format of docs/edge.md) and, if valid,
// applies it without restarting the process: cameras that changed are restarted, others keep
// running. InvalidArgument naming the key for a bad config (nothing changes then);
// FailedPrecondition for changes that need a restart (box identity, uplink section).
using ConfigApplier = std::function<Result<void>(const std::string& yaml_text)>;

// A device command of the box's own beyond config.apply (roi.enroll, ...): gets the command's
// `args` object and returns what goes into the ack's `result` (null for none), or the Error
// the ack carries. Called on the uplink's command thread, one command at a time.
using BoxCommand = std::function<Result<Json>(const Json& args)>;

}  // namespace linli::edge
