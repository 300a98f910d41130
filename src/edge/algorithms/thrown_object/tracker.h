// Multi-object tracker for small blobs: one constant-velocity Kalman filter per track with
// gravity (at the track's row of the facade) as a known input, Mahalanobis gating and global
// nearest-neighbour assignment, tracks that coast over short gaps (a low-contrast patch of
// wall, a frame lost to shake) and end after `max_gap_frames` misses. Misses that the
// analyzer explains — the predicted place is one where the object cannot be seen, like a
// dark object in front of a dark window — are coasted over for up to `max_hidden_frames`
// more per gap and remembered (Track::hidden_ms), so that the physics does not count them as
// gaps.
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <opencv2/core.hpp>

namespace linli::edge::thrown {

// A foreground blob, in the analyzer's frame pixels.
struct Blob {
  cv::Point2d centre;
  cv::Rect box;
  double area = 0;
  double size = 0;  // largest box dimension
  // In a region where the model is recovering (suppressed): may continue a track that has
  // at least 3 points but does not start one.
  bool weak = false;
  // Appearance and surroundings, for the analyzer's tests of what the track is (see
  // FallPoint): foreground near the blob relative to its own area, and how busy its place
  // had been recently (0..1).
  double context = 0;
  double activity = 0;
  cv::Vec3b colour;  // mean colour of its pixels (in the differenced image)
};

struct TrackPointPx {
  int64_t pts_ms = 0;
  cv::Point2d centre;
  cv::Rect box;
  double size = 0;
  double area = 0;
  double context = 0;
  double activity = 0;
  cv::Vec3b colour;
};

struct Track {
  int64_t id = 0;
  std::vector<TrackPointPx> points;  // measured points only, in time order
  int misses = 0;                    // consecutive frames without a measurement
  int hidden = 0;                    // ... of them, explained as hidden (not in `misses`)
  std::vector<int64_t> hidden_ms;    // times of the hidden misses (the most recent ones)
  bool updated = false;              // got a measurement in the last Step()
  // Kalman state (x, y, vx, vy) in px and px/s, and its covariance.
  cv::Vec4d x;
  cv::Matx44d p;
  int64_t last_pts_ms = 0;  // time of the state
  // Analyzer bookkeeping.
  bool confirmed = false;
  int tests = 0;
};

struct TrackerOptions {
  int max_gap_frames = 4;
  int max_hidden_frames = 0;      // more misses per gap where the object is hidden (0: none)
  double gate_sigma = 4.0;        // Mahalanobis gate
  double min_gate_px = 2.5;       // gate radius never below this (plus the blob size)
  double accel_noise_g = 1.5;     // process noise: acceleration sigma as a multiple of g'
  double measure_noise_px = 0.7;  // plus 0.2 * blob size
  double initial_speed_mps = 8;   // new tracks: speed sigma
  double max_speed_mps = 40;      // no association implies a faster motion than this
  double gravity_prior = 1.0;     // gravity input as a fraction of g'
  int max_tracks = 96;
  size_t max_points = 400;        // per track (16 s at 25 fps)
};

class Tracker {
 public:
  // `gravity_px(p)`: g' in px/s² at image point p (downward).
  Tracker(const TrackerOptions& options, std::function<double(cv::Point2d)> gravity_px);

  // Advances every track to `pts_ms`, assigns `blobs`, starts tracks for unassigned blobs and
  // moves tracks that missed more than max_gap_frames into `ended` (appended).
  void Step(int64_t pts_ms, std::span<const Blob> blobs, std::vector<Track>* ended);
  // Ends all tracks (appended to `ended`).
  void Flush(std::vector<Track>* ended);

  // `hidden(t)`: whether track t (an established one, at least 3 points), which got no
  // measurement in this frame, is where it cannot be seen (see max_hidden_frames).
  void SetHiddenTest(std::function<bool(const Track&)> hidden) { hidden_ = std::move(hidden); }

  std::vector<Track>& tracks() { return tracks_; }
  const std::vector<Track>& tracks() const { return tracks_; }

 private:
  void Predict(Track& t, double dt) const;
  void Update(Track& t, const Blob& b, int64_t pts_ms) const;

  TrackerOptions opt_;
  std::function<double(cv::Point2d)> gravity_px_;
  std::function<bool(const Track&)> hidden_;
  std::vector<Track> tracks_;
  int64_t next_id_ = 1;
  // Scratch (no per-frame allocation once warmed up).
  struct Pair {
    double cost;
    int track, blob;
  };
  std::vector<Pair> pairs_;
  std::vector<char> blob_used_, track_used_;
  std::vector<int> order_;
};

}  // namespace linli::edge::thrown
