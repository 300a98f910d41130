#include "edge/algorithms/zones/presence.h"

namespace linli::edge {

bool InPolygon(const std::vector<cv::Point2f>& poly, cv::Point2f p) {
  const std::size_t n = poly.size();
  if (n < 3) return false;
  bool inside = false;
  for (std::size_t i = 0, j = n - 1; i < n; j = i++) {
    const cv::Point2f& a = poly[i];
    const cv::Point2f& b = poly[j];
    // On the edge a-b?
    cv::Point2f ab = b - a, ap = p - a;
    float cross = ab.x * ap.y - ab.y * ap.x;
    float dot = ab.x * ap.x + ab.y * ap.y;
    if (std::abs(cross) <= 1e-6f * (1 + ab.dot(ab)) && dot >= 0 && dot <= ab.dot(ab)) return true;
    if ((a.y > p.y) != (b.y > p.y)) {
      float x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
      if (p.x < x) inside = !inside;
    }
  }
  return inside;
}

std::vector<cv::Point2f> ToPixels(const std::vector<cv::Point2f>& normalised, cv::Size size) {
  std::vector<cv::Point2f> out;
  out.reserve(normalised.size());
  for (const auto& p : normalised) out.emplace_back(p.x * size.width, p.y * size.height);
  return out;
}

void ZonePresence::Observe(int64_t pts_ms, bool inside) {
  switch (state_) {
    case State::kOutside:
      if (!inside) return;
      consecutive_ = 1;
      entered_ms_ = pts_ms;
      state_ = State::kEntering;
      [[fallthrough]];
    case State::kEntering:
      if (!inside) {
        state_ = State::kOutside;
        consecutive_ = 0;
        return;
      }
      if (pts_ms != entered_ms_) ++consecutive_;
      last_inside_ms_ = pts_ms;
      if (consecutive_ >= p_.inertia_frames && pts_ms - entered_ms_ >= p_.min_dwell_ms) {
        state_ = State::kInside;
        present_ms_ = pts_ms;
      }
      return;
    case State::kInside:
      if (inside) {
        last_inside_ms_ = pts_ms;
      } else {
        state_ = State::kLeaving;
        left_ms_ = pts_ms;
      }
      return;
    case State::kLeaving:
      if (inside) {
        state_ = State::kInside;
        last_inside_ms_ = pts_ms;
      } else {
        Expire(pts_ms);
      }
      return;
  }
}

bool ZonePresence::Expire(int64_t pts_ms) {
  if (state_ == State::kInside && pts_ms - last_inside_ms_ >= p_.exit_ms) {
    // Unseen for the whole hysteresis while inside: treat as having left after the last sight.
    state_ = State::kLeaving;
    left_ms_ = last_inside_ms_;
  }
  if (state_ == State::kLeaving && pts_ms - left_ms_ >= p_.exit_ms &&
      pts_ms - last_inside_ms_ >= p_.exit_ms) {
    state_ = State::kOutside;
    consecutive_ = 0;
    ended_ = true;
    return true;
  }
  if (state_ == State::kEntering && pts_ms - last_inside_ms_ >= p_.exit_ms) {
    state_ = State::kOutside;
    consecutive_ = 0;
  }
  return false;
}

}  // namespace linli::edge
