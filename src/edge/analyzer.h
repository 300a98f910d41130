// Analyzer: one algorithm running on one camera (thrown objects, zone intrusion, ROI state,
// camera health, ...). Analyzers are extensions: each registers a factory under its name
// (the `algorithms:` key in a camera config, see docs/edge.md) and gets its options at init.
//
// Contract:
//   - The factory validates its parameters and returns InvalidArgument naming the key
//     ("cameras[0].algorithms.thrown_object.min_fall_px") for a bad config.
//   - Process() is called with frames in stream order at the rate the analyzer asked for; it
//     must not throw (catch cv::Exception inside) and emits event steps through the sink.
//   - Finish() ends every open event (end of a file, camera removed, config replaced).
// Ownership: the pipeline owns analyzers. Thread-safety: one thread at a time per instance.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.h"
#include "edge/detector.h"
#include "edge/event_sink.h"
#include "edge/types.h"

namespace linli::edge {

// What an analyzer is told about its camera at init.
struct CameraContext {
  std::string camera_id;
  cv::Size frame_size;   // size of the frames it will get (after the pipeline's scaling)
  double fps = 0;        // rate of the frames it will get
  std::vector<Zone> zones;  // the camera's named zones/ROIs/lines, normalised
  // Shared people/object detector for analyzers that need one (may be null).
  std::shared_ptr<Detector> detector;
  // Directory for the analyzer's persistent files (enrolled reference states, ...).
  std::string state_dir;
};

// How the pipeline should feed an analyzer.
struct FrameNeeds {
  bool full_rate = false;  // every decoded frame (thrown objects); else the sub-sampled stream
  int max_width = 640;     // frames are downscaled to at most this width (0 = native)
  bool motion_gated = true;  // the pipeline may skip frames with no motion (stationary scene)
};

class Analyzer {
 public:
  virtual ~Analyzer() = default;
  virtual std::string_view Name() const = 0;
  virtual FrameNeeds Needs() const = 0;
  virtual void Process(const Frame& frame, EventSink& sink) = 0;
  // Ends open events at stream time `pts_ms`.
  virtual void Finish(int64_t pts_ms, EventSink& sink) = 0;
};

// Implemented by analyzers that learn labelled example frames of an ROI's states (roi_state):
// the pipeline's command path finds it by dynamic_cast on the camera's thread (roi.enroll).
// Called on the analyzer's thread only (like Process()).
class RoiEnrollment {
 public:
  virtual ~RoiEnrollment() = default;
  // Adds `frame` (the camera's whole view, BGR) as an example of `state` and persists it.
  // Returns the file written (empty when the analyzer has no state_dir). InvalidArgument for
  // a bad state name ([a-z0-9_]+) or a frame where the ROI is empty; Unavailable if it
  // cannot be written.
  virtual Result<std::string> Enroll(const std::string& state, const cv::Mat& frame) = 0;
  // The states that have examples (configured or enrolled), sorted.
  virtual std::vector<std::string> States() const = 0;
  virtual const std::string& Roi() const = 0;  // the zone it watches
};

// `params` is the analyzer's own YAML mapping; `key` is its path in the config for error
// messages ("cameras[0].algorithms.zone_intrusion").
using AnalyzerFactory = std::function<Result<std::unique_ptr<Analyzer>>(
    const YAML::Node& params, const std::string& key, const CameraContext& camera)>;

// The process-wide registry of analyzer factories, filled at static-init time or by
// RegisterBuiltinAnalyzers(). Thread-safety: register before starting pipelines.
class AnalyzerRegistry {
 public:
  static AnalyzerRegistry& Default();
  void Register(const std::string& name, AnalyzerFactory factory);
  // InvalidArgument naming `key` if `name` is unknown.
  Result<std::unique_ptr<Analyzer>> Create(const std::string& name, const YAML::Node& params,
                                           const std::string& key,
                                           const CameraContext& camera) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, AnalyzerFactory> factories_;
};

}  // namespace linli::edge
