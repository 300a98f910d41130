#include "edge/motion.h"

#include <opencv2/imgproc.hpp>

namespace linli::edge {

bool MotionGate::Update(const cv::Mat& bgr, int64_t pts_ms) {
  if (bgr.empty()) return pts_ms <= motion_until_;
  cv::Mat small, grey;
  const int w = std::min(cfg_.width, bgr.cols);
  const int h = std::max(1, static_cast<int>(std::lround(bgr.rows * static_cast<double>(w) / bgr.cols)));
  cv::resize(bgr, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  cv::cvtColor(small, grey, cv::COLOR_BGR2GRAY);
  cv::GaussianBlur(grey, grey, cv::Size(5, 5), 0);
  if (prev_.empty() || prev_.size() != grey.size()) {
    prev_ = grey;
    last_changed_ = 1;
    motion_until_ = pts_ms + cfg_.hold_ms;
    return true;
  }
  cv::Mat diff;
  cv::absdiff(grey, prev_, diff);
  prev_ = grey;
  const int changed = cv::countNonZero(diff > cfg_.threshold);
  last_changed_ = static_cast<double>(changed) / static_cast<double>(diff.total());
  if (last_changed_ >= cfg_.min_area && changed > 0) motion_until_ = pts_ms + cfg_.hold_ms;
  return pts_ms <= motion_until_;
}

}  // namespace linli::edge
