// Zone geometry (the point of a person that counts is the bottom centre of the box: the feet)
// and ZonePresence, the per-person, per-zone state machine with inertia, dwell and exit
// hysteresis (after Frigate's zone inertia and loitering time):
//
//   outside ──inside──▶ entering ──inside for ≥ inertia_frames frames and ≥ min_dwell──▶ inside
//   inside ──outside──▶ leaving ──outside (or unseen) for ≥ exit_ms──▶ outside (the stay ends)
//   leaving ──inside──▶ inside (same stay);  entering ──outside──▶ outside (never counted)
//
// Only frames where the person was detected are fed; a person the detector missed for a while
// stays in the state they were in until Expire() says the hysteresis has run out.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "edge/types.h"

namespace linli::edge {

// Bottom centre of a box.
inline cv::Point2f FootPoint(const cv::Rect2f& r) { return {r.x + r.width / 2, r.y + r.height}; }
// Point in polygon (even-odd; points on an edge count as inside). Any consistent units.
bool InPolygon(const std::vector<cv::Point2f>& poly, cv::Point2f p);
// The zone's polygon in pixels of a frame of `size`.
std::vector<cv::Point2f> ToPixels(const std::vector<cv::Point2f>& normalised, cv::Size size);

struct PresenceParams {
  int inertia_frames = 3;    // consecutive detected frames inside before a stay begins
  int64_t min_dwell_ms = 1000;  // ... and at least this long since the first of them
  int64_t exit_ms = 2000;    // outside (or unseen) this long before a stay ends
};

class ZonePresence {
 public:
  enum class State { kOutside, kEntering, kInside, kLeaving };
  explicit ZonePresence(PresenceParams p = {}) : p_(p) {}

  // A frame where the person was seen, inside the zone or not.
  void Observe(int64_t pts_ms, bool inside);
  // Time passes without the person being seen (or while outside): ends the stay if the exit
  // hysteresis has run out. Returns true if the stay ended now.
  bool Expire(int64_t pts_ms);

  State state() const { return state_; }
  // Counted as present (inside, or leaving within the hysteresis).
  bool Present() const { return state_ == State::kInside || state_ == State::kLeaving; }
  int64_t entered_ms() const { return entered_ms_; }   // first frame of the current stay
  int64_t present_ms() const { return present_ms_; }   // when the stay was confirmed
  int64_t last_inside_ms() const { return last_inside_ms_; }
  // True once after a stay ended (reset by the call).
  bool TakeEnded() {
    bool e = ended_;
    ended_ = false;
    return e;
  }

 private:
  PresenceParams p_;
  State state_ = State::kOutside;
  int consecutive_ = 0;
  int64_t entered_ms_ = 0, present_ms_ = 0, last_inside_ms_ = 0, left_ms_ = 0;
  bool ended_ = false;
};

}  // namespace linli::edge
