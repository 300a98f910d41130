// Thrown objects from height (高空抛物): the "thrown_object" analyzer.
//
// Full-rate background subtraction over the configured building facade, small-object
// detection sized by the facade's scale, multi-object tracking, and trajectory physics: a track
// becomes an event when, in facade metres, it falls at least `min_fall_m` accelerating
// downward like gravity (see physics.h), and looks like a thrown object: alone on the wall,
// crossing places that were still, of steady size, not swinging back up before its fall.
// Birds, leaves, rain, laundry, window lights, camera shake, street traffic, insects on the
// lens, swaying trees and walking people fail the physics, the appearance tests, the size
// limits or the facade zone. Parameters are documented in docs/analytics.md ("Thrown objects from height").
//
// Events: type "vision.thrown_object"; kBegin as soon as the physics test passes, kEnd when
// the track ends, both with the trajectory (normalised), the origin (where the fall began),
// boxes (the object, and the whole fall labelled "trajectory"), a snapshot (kEnd: the last frame
// the object was seen in, i.e. with the longest visible trajectory) and data: floor, window,
// fall_height_px, fall_height_m, duration_ms, g_mps2, points, trajectory.
// Thread-safety: one thread at a time per analyzer (the camera's pipeline thread).
#pragma once

#include <deque>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.h"
#include "edge/algorithms/thrown_object/facade.h"
#include "edge/algorithms/thrown_object/foreground.h"
#include "edge/algorithms/thrown_object/physics.h"
#include "edge/algorithms/thrown_object/tracker.h"
#include "edge/analyzer.h"

namespace linli::edge {

// Registers "thrown_object".
void RegisterThrownObject(AnalyzerRegistry& registry);

namespace thrown {

struct ThrownObjectConfig {
  FacadeSpec facade;
  std::string facade_zone;              // zone name the facade came from, if any
  std::vector<cv::Point2f> detect_zone; // normalised polygon; empty = the facade quad
  std::string zone_name = "facade";     // reported as the event's zone
  std::vector<std::vector<cv::Point2f>> exclude;  // normalised polygons
  FallLimits limits;
  ForegroundOptions foreground;
  TrackerOptions tracker;
  double max_object_m = 1.2;   // larger blobs are not thrown objects (insects on the lens)
  double min_area_px = 3;      // at the processing resolution
  int max_blobs = 300;         // per frame; more are dropped (rain, noise bursts)
  int process_width = 0;       // 0 = process at the size received
  double fit_window_s = 2.5;   // unconfirmed tracks are tested on their last seconds
  double origin_fit_s = 1.2;   // the origin is fitted on the first seconds of the fall
  double suppress_s = 0.8;     // after an oversized blob, its tiles only continue tracks
  double merge_gap_s = 1.2;    // a broken-off event waits this long for its continuation
  double activity_s = 2.0;     // time constant of the per-tile activity (FallPoint::activity)
  double max_hidden_s = 0.4;   // a track coasts this much longer (per gap) where the object
                               // cannot be seen against the background (0: off)
  int max_width = 1280;        // FrameNeeds.max_width
};

// Parses and validates the analyzer's parameters. Errors are InvalidArgument naming the key
// ("<key>.floors: must be 1..200").
Result<ThrownObjectConfig> ParseThrownObjectConfig(const YAML::Node& params,
                                                   const std::string& key,
                                                   const CameraContext& camera);

// Counters of what the analyzer saw, for tests, the evaluation tool and tuning.
struct ThrownObjectStats {
  int64_t frames = 0;
  int64_t bad_frames = 0;       // empty, wrong type, or an OpenCV error
  int64_t unstable_frames = 0;  // strong shake
  int64_t resets = 0;           // background model resets (global changes)
  int64_t aligned_frames = 0;   // shake compensated
  int64_t blobs = 0;
  int64_t tracks_tested = 0;
  int64_t events = 0;
  std::map<std::string, int64_t> rejections;  // last verdict of ended tracks with enough points
  // The longest rejected tracks (up to 8), for tuning: "<points> <reason> g=.. rms=.. ...".
  std::vector<std::pair<size_t, std::string>> long_rejections;
  // Per event id, the confirming verdict's appearance features, for tuning:
  // "context=.. activity=.. jumps=.. upswing=..".
  std::map<std::string, std::string> event_features;
};

class ThrownObjectAnalyzer final : public Analyzer {
 public:
  ThrownObjectAnalyzer(ThrownObjectConfig config, const CameraContext& camera);
  ~ThrownObjectAnalyzer() override;

  std::string_view Name() const override { return "thrown_object"; }
  FrameNeeds Needs() const override;
  void Process(const Frame& frame, EventSink& sink) override;
  void Finish(int64_t pts_ms, EventSink& sink) override;

  const ThrownObjectStats& stats() const { return stats_; }
  // Introspection for the evaluation tool's debug view: the last foreground mask (processing
  // pixels of roi()), the live tracks, the analysed region and the processing scale.
  const cv::Mat& last_mask() const { return last_mask_; }
  const std::vector<Track>& tracks() const;
  cv::Rect roi() const { return roi_; }
  double scale() const { return scale_; }
  const ThrownObjectConfig& config() const { return config_; }

 private:
  struct OpenEvent;
  void Init(cv::Size size);
  void ProcessFrame(const Frame& frame, EventSink& sink);
  void Components(const cv::Mat& mask);
  void ExtractBlobs(const cv::Mat& mask);
  void Confirm(Track& t, const FallVerdict& v, size_t first, const Frame& frame,
               EventSink& sink);
  void TrackEnded(const Track& t);
  void EndLingering(int64_t now_ms, bool all, EventSink& sink);
  std::vector<TrackPointPx> EventPoints(const OpenEvent& ev) const;
  std::vector<TrackPointPx> EarlierFragments(const Track& t, size_t first);
  EdgeEvent MakeEvent(const OpenEvent& ev, EventPhase phase) const;
  void FallPoints(const Track& t, size_t first, size_t last, std::vector<FallPoint>* out) const;
  double TrackUpswing(const Track& t, size_t first) const;

  ThrownObjectConfig config_;
  CameraContext camera_;
  cv::Size size_;          // frame size the state is built for
  FacadeModel facade_;
  cv::Rect roi_;           // facade region in frame pixels
  double scale_ = 1;       // processing pixels per frame pixel
  cv::Size work_size_;
  std::unique_ptr<ForegroundDetector> fg_;
  std::unique_ptr<Tracker> tracker_;
  bool Hidden(const Track& t) const;
  struct Candidate {
    cv::Rect box;  // processing pixels
    cv::Point2d centre;
    double area;
    cv::Vec3b colour;  // its most distinct pixel's colour in the differenced image (the
                       // object's own colour; the edges are mixed with the background)
  };
  cv::Mat work_, labels_, cc_stats_, centroids_, local_;
  cv::Mat tile_labels_, tile_stats_, tile_centroids_;
  std::vector<Candidate> candidates_;
  struct Acc {
    double n = 0, sx = 0, sy = 0;
    int contrast = -1;  // the pixel that differs most from the background, and its colour
    cv::Vec3b colour;
    int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
  };
  std::vector<Acc> acc_;
  cv::Mat closed_;
  cv::Mat suppressed_;  // per processing pixel: frames left during which blobs there only
                        // continue tracks
  cv::Mat activity_;    // per tile, CV_32F: moving average of "a blob was here" (activity_s)
  cv::Mat busy_;        // per tile, CV_32F scratch: this frame's blobs
  int64_t activity_frames_ = 0;
  int64_t warm_until_ms_ = -1;  // no confirmation before (the activity map is new)
  int suppress_frames_ = 60;
  std::vector<cv::Point2d> blob_work_;
  std::vector<Blob> blobs_;
  std::vector<Track> ended_;
  std::vector<FallPoint> fall_points_;
  std::vector<std::unique_ptr<OpenEvent>> events_;
  std::deque<std::vector<TrackPointPx>> recent_;  // points of recently ended tracks
  std::set<int64_t> duplicates_;  // confirmed tracks that follow an object an event has
  int64_t last_pts_ms_ = -1;
  cv::Mat last_mask_;
  ThrownObjectStats stats_;
};

}  // namespace thrown
}  // namespace linli::edge
