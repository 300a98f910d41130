// roi_state: watches one named ROI of a camera and says which of its enrolled reference states
// it is in (garbage bin: normal / overflow; fire lane: clear / blocked; door: closed / open, or
// any states a user defines), with an event while it is in an alarm state.
//
// Enrolment: a handful of labelled example frames per state (the camera's whole view; the ROI
// is cropped from it), from image files or frames of a video at given times listed in the
// config, and through Enroll() (the box's API), which also persists the frame under
//   <state_dir>/roi_state/<roi>/<state>/<n>.jpg
// so that examples survive restarts; persisted examples are loaded at start-up.
// Classification: roi_features.h (nearest prototype, k-NN with a margin). A state must hold for
// min_duration_s before it is reported (uncertain frames neither confirm nor break it); the
// event begins when the reported state becomes an alarm state and ends when it leaves them.
// Event types: vision.garbage_overflow, vision.fire_lane_blocked, vision.door_open (the
// `check:` presets) or vision.roi_state / `event_type:`.
// Thread-safety: one thread at a time (analyzer.h); Enroll() must be called on the same thread
// as Process() (the roi.enroll command runs it on the camera's thread, roi_commands.h).
#pragma once

#include "edge/analyzer.h"

namespace linli::edge {

// Registers "roi_state".
void RegisterRoiState(AnalyzerRegistry& registry);

Result<std::unique_ptr<Analyzer>> MakeRoiState(const YAML::Node& params, const std::string& key,
                                               const CameraContext& camera);

// The roi_state analyzer implements RoiEnrollment (edge/analyzer.h): dynamic_cast to enrol.

// An example persisted under <state_dir>/roi_state/<roi>/<state>/<id>.jpg|png.
struct RoiExampleFile {
  std::string id;     // the file name without extension (a UUID for enrolled examples)
  std::string state;
  std::string path;
};
// The persisted examples of `roi`, sorted by state and id (what a new analyzer loads).
std::vector<RoiExampleFile> ListRoiExamples(const std::string& state_dir, const std::string& roi);

// Persists an example without an analyzer (e.g. enrolment before the algorithm is configured).
// Returns the file written.
Result<std::string> SaveRoiExample(const std::string& state_dir, const std::string& roi,
                                   const std::string& state, const cv::Mat& frame);

}  // namespace linli::edge
