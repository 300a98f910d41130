// PeopleTracker: gives each detected person an identity across the frames of one camera.
//
// Association is greedy on a combined cost of IoU and centre distance (relative to the box
// height) against each track's box predicted with its velocity; a track that is not matched is
// kept ("bridged") for up to `max_gap_ms` so that a person missed by the detector for a few
// frames keeps their id. A track is confirmed after `min_hits` detected frames.
// Between detections a caller may Follow() a track it located by other means (its appearance,
// see follower.h): a followed frame counts as seen (matched, a path point, the gap starts again)
// but not as a detection (hits, score and confirmation come from the detector only).
// Works in pixels of the analysed frame. Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "edge/types.h"

namespace linli::edge {

struct TrackerParams {
  float min_iou = 0.1f;           // a pair with lower IoU matches only on distance
  float max_distance = 0.8f;      // centre distance / box height for a match
  int64_t max_gap_ms = 2000;      // a track not seen for longer is dropped
  int min_hits = 2;               // matched frames before a track is confirmed
  std::size_t max_path = 600;     // foot points kept per track (oldest dropped)
};

struct Track {
  int id = 0;
  cv::Rect2f box;             // last matched (or predicted, while missed) box, pixels
  float score = 0;            // last detection score
  float mean_score = 0;
  int hits = 0;               // detected frames
  bool confirmed = false;
  bool matched = false;       // seen in the last frame: detected, or followed
  bool detected = false;      // matched by a detection in the last Update()
  int64_t first_ms = 0, last_ms = 0;  // first / last seen frame
  int64_t detected_ms = 0;    // last detected frame
  cv::Point2f velocity;       // px per ms of the box centre
  std::vector<TrackPoint> path;  // foot points (bottom centre), PIXELS, seen frames only
};

class PeopleTracker {
 public:
  explicit PeopleTracker(TrackerParams p = {}) : p_(p) {}
  // Advances to `pts_ms` with this frame's detections. Returns the ids of tracks dropped in
  // this step (not seen for max_gap_ms).
  std::vector<int> Update(int64_t pts_ms, const std::vector<Detection>& dets);
  // After Update(pts_ms, ...): track `id`, not detected in this frame, was found at `box` (same
  // size as its box) by other means. Returns false (and changes nothing) for an unknown id or
  // a track detected in this frame.
  bool Follow(int64_t pts_ms, int id, const cv::Rect2f& box);
  const std::vector<Track>& tracks() const { return tracks_; }
  const Track* Find(int id) const;

 private:
  TrackerParams p_;
  std::vector<Track> tracks_;
  int next_id_ = 1;
  int64_t last_pts_ = 0;
};

}  // namespace linli::edge
