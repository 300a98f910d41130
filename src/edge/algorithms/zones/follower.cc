#include "edge/algorithms/zones/follower.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace linli::edge {

namespace {

constexpr double kMinTextureStdDev = 4;  // grey levels; flatter patches are not followed
constexpr int kMinPatch = 6;             // px of the small copy, each side

// The part of a person's box whose appearance is followed: head and torso, with a margin of
// background so that the outline counts as well as the clothes.
cv::Rect2f UpperBody(const cv::Rect2f& b) {
  return {b.x - 0.15f * b.width, b.y - 0.05f * b.height, 1.3f * b.width, 0.65f * b.height};
}

cv::Rect Pixels(const cv::Rect2f& r) {
  return {cvRound(r.x), cvRound(r.y), std::max(0, cvRound(r.width)), std::max(0, cvRound(r.height))};
}

}  // namespace

void AppearanceFollower::SetFrame(const cv::Mat& image) {
  if (image.empty()) {
    grey_.release();
    return;
  }
  const int w = std::min(kWidth, image.cols);
  const int h = std::max(1, static_cast<int>(std::lround(image.rows * static_cast<double>(w) /
                                                         image.cols)));
  scale_ = static_cast<double>(w) / image.cols;
  cv::Mat small;
  if (w == image.cols) {
    small = image;
  } else {
    cv::resize(image, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  }
  if (small.channels() == 3) {
    cv::cvtColor(small, grey_, cv::COLOR_BGR2GRAY);
  } else if (small.data == image.data) {
    grey_ = small.clone();  // the caller's frame may be reused
  } else {
    grey_ = small;
  }
}

bool AppearanceFollower::Remember(int id, const cv::Rect2f& box) {
  templates_.erase(id);
  if (grey_.empty()) return false;
  const float s = static_cast<float>(scale_);
  const cv::Rect2f small_box(box.x * s, box.y * s, box.width * s, box.height * s);
  const cv::Rect r = Pixels(UpperBody(small_box)) & cv::Rect(0, 0, grey_.cols, grey_.rows);
  if (r.width < kMinPatch || r.height < kMinPatch) return false;
  cv::Scalar mean, sd;
  cv::meanStdDev(grey_(r), mean, sd);
  if (sd[0] < kMinTextureStdDev) return false;
  templates_[id] = Template{grey_(r).clone(), cv::Point2f(static_cast<float>(r.x), static_cast<float>(r.y)) -
                                                  small_box.tl()};
  return true;
}

std::optional<AppearanceFollower::Found> AppearanceFollower::Find(int id,
                                                                  const cv::Rect2f& expected,
                                                                  float min_score) const {
  auto it = templates_.find(id);
  if (it == templates_.end() || grey_.empty()) return std::nullopt;
  const Template& t = it->second;
  const float s = static_cast<float>(scale_);
  const cv::Point2f at = expected.tl() * s + t.offset;  // where the patch is expected
  // A walker moves about 0.15 of their height between two frames at 5 fps; the prediction
  // takes most of it, the window the rest and a turn or a stop.
  const int margin = std::max(3, cvRound(0.3f * expected.height * s));
  const cv::Rect window = cv::Rect(cvRound(at.x) - margin, cvRound(at.y) - margin,
                                   t.patch.cols + 2 * margin, t.patch.rows + 2 * margin) &
                          cv::Rect(0, 0, grey_.cols, grey_.rows);
  if (window.width < t.patch.cols || window.height < t.patch.rows) return std::nullopt;
  cv::Mat score;
  cv::matchTemplate(grey_(window), t.patch, score, cv::TM_CCOEFF_NORMED);
  double best = 0;
  cv::Point loc;
  cv::minMaxLoc(score, nullptr, &best, nullptr, &loc);
  if (!(best >= min_score)) return std::nullopt;  // also NaN
  // The peak to a fraction of a pixel (a parabola through it and its neighbours): the small
  // copy's whole pixels are 2 frame pixels, and a person followed frame after frame would
  // otherwise drift by the rounding.
  auto refine = [&](float before, float at, float after) {
    const float d = before - 2 * at + after;
    return d < 0 ? std::clamp(0.5f * (before - after) / d, -0.5f, 0.5f) : 0.f;
  };
  float dx = 0, dy = 0;
  if (loc.x > 0 && loc.x + 1 < score.cols)
    dx = refine(score.at<float>(loc.y, loc.x - 1), score.at<float>(loc.y, loc.x),
                score.at<float>(loc.y, loc.x + 1));
  if (loc.y > 0 && loc.y + 1 < score.rows)
    dy = refine(score.at<float>(loc.y - 1, loc.x), score.at<float>(loc.y, loc.x),
                score.at<float>(loc.y + 1, loc.x));
  const cv::Point2f tl = (cv::Point2f(static_cast<float>(window.x + loc.x) + dx,
                                      static_cast<float>(window.y + loc.y) + dy) -
                          t.offset) * (1.f / s);
  return Found{cv::Rect2f(tl.x, tl.y, expected.width, expected.height), static_cast<float>(best)};
}

void AppearanceFollower::Retain(const std::set<int>& ids) {
  std::erase_if(templates_, [&](const auto& kv) { return !ids.contains(kv.first); });
}

}  // namespace linli::edge
