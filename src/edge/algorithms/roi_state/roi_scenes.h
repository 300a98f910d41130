// Generated ROI scenes with exact ground truth, for tests and the accuracy evaluation: a
// garbage bin (normal / overflow), a fire lane (clear / blocked), a door (closed / open), each
// drawn under a given lighting (gain, gamma, colour cast, a shadow, sensor noise, camera
// jitter); and a real photograph (opencv-doc's building.jpg) whose entrance lane is blocked by
// objects cut from real photographs (darknet's dog.jpg and person.jpg: a car, a dog, a
// bicycle, a horse). Deterministic for a given seed. Thread-safety: a generator is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "edge/types.h"

namespace linli::edge::testing {

enum class RoiSceneKind { kGarbageBin, kFireLane, kDoor, kRealLane };
const char* RoiSceneName(RoiSceneKind k);

struct Lighting {
  double gain = 1, gamma = 1, noise = 2;
  cv::Scalar cast{1, 1, 1};
  double shadow = 0;  // 0 = none, else the darkening of a half-plane
  double shadow_angle = 0;
  cv::Point shift{0, 0};
};
// A random lighting from `rng` (gain 0.45-1.5, gamma 0.7-1.4, cast ±12%, shadow 40% of the
// time, noise 1-6, jitter ±3 px).
Lighting RandomLighting(uint64_t seed);

class RoiSceneGen {
 public:
  // Fails (empty frames) only for kRealLane when the Debian images are missing: see ok().
  explicit RoiSceneGen(RoiSceneKind kind, cv::Size size = {640, 360});
  bool ok() const { return !base_.empty(); }
  Zone roi() const { return roi_; }
  std::string normal_state() const;
  std::string alarm_state() const;
  // The scene in the normal or the alarm state; `variant` picks the clutter (which bags, which
  // car, where), `light` the lighting.
  cv::Mat Render(bool alarm, uint64_t variant, const Lighting& light) const;

 private:
  RoiSceneKind kind_;
  cv::Size size_;
  cv::Mat base_;
  std::vector<cv::Mat> objects_;  // kRealLane: cut-outs
  Zone roi_;
};

}  // namespace linli::edge::testing
