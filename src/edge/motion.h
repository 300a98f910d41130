// MotionGate: a cheap frame difference at low resolution that tells the pipeline whether the
// scene is changing, so that motion-gated analyzers can be skipped while it is static.
// Each call compares the frame with the previous one given (grey, blurred, `width` px wide).
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>

#include <opencv2/core.hpp>

#include "edge/config.h"

namespace linli::edge {

class MotionGate {
 public:
  explicit MotionGate(const MotionConfig& cfg) : cfg_(cfg) {}
  // Feeds a frame; returns true while motion was seen within hold_ms before `pts_ms`. The first
  // frame counts as motion (analyzers need it to initialise).
  bool Update(const cv::Mat& bgr, int64_t pts_ms);
  // Fraction of pixels that changed in the last Update().
  double last_changed() const { return last_changed_; }
  void Reset() { prev_.release(); }

 private:
  MotionConfig cfg_;
  cv::Mat prev_;
  int64_t motion_until_ = INT64_MIN;
  double last_changed_ = 0;
};

}  // namespace linli::edge
