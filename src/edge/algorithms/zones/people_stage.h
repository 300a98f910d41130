// PeopleStage: the detect → filter → track step that the zone analyzers share, plus the
// per-zone presence bookkeeping and the common parameters.
//
// Where the detector runs (the expensive part: HOG costs tens of ms on a 640 px frame): inside
// the search area (the zones' surroundings with crop_to_zones, else the frame), and with
// motion_regions only where it is needed: around what changed since the previous analysed
// frame (a frame difference on a 160 px grey copy, dilated, one region per blob) and around
// the people already tracked — plus the whole search area on the first frame and, every
// full_scan_s, what changed since the last such scan (without following: the whole area), so
// that someone the motion mask missed is still found. Regions are
// detected at the frame's own scale (so the detector finds the same sizes as on the whole
// area) and merged while they overlap, so no person is found twice. When the regions would
// cover most of the area, the area is detected once instead.
//
// Following (follow_s > 0, the default): between detections a tracked person is found again
// by their appearance (follower.h), so the detector is run around them only every redetect_s
// (every frame while they are new, or lost), and motion that the people being followed
// explain (their own box, where they were and where they are) asks for no detection. Motion
// left over (someone new) is detected at once, and again at most every redetect_s in the same
// place while nothing is found there. A person is followed for at most follow_s without
// being detected again; after that they are only bridged (tracker.h) and dropped. With
// follow_s: 0 every tracked person is searched for in every frame.
//
// Motion where the detector found nobody (a swaying branch, a flag, someone too small or too
// cut off for the detector) is not looked into again at once: after redetect_s/2, and where it
// keeps moving in the same place, twice as long from the third fruitless search in a row on,
// up to motion_retry_max_s (RetryGrid). The periodic scan is not held back by it.
//
// When several analyzers of one camera use the camera's shared detector, the detections of a
// frame are computed once per region (a process-wide memo keyed by detector, camera, frame
// index and region) and reused by the others. Thread-safety: a PeopleStage is used by one
// thread at a time; the memo is guarded by a mutex.
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "edge/algorithms/zones/follower.h"
#include "edge/algorithms/zones/presence.h"
#include "edge/algorithms/zones/tracker.h"
#include "edge/analyzer.h"
#include "edge/detectors/param_reader.h"

namespace linli::edge {

struct ZoneCommonParams {
  std::vector<Zone> zones;               // the watched zones (normalised)
  std::shared_ptr<Detector> detector;
  bool shared_detector = false;          // the camera's, so detections can be memoised
  std::vector<std::string> labels{"person"};
  float min_score = 0;
  float min_height = 0;                  // fraction of the frame height
  bool crop_to_zones = true;             // detect only around the watched zones
  bool motion_regions = true;            // ... and there only where things move or people are
  int64_t full_scan_ms = 10000;          // the whole search area at least this often (0: never
                                         // after the first frame)
  int motion_threshold = 20;             // grey-level change (0-255) counted as motion
  int64_t follow_ms = 3000;              // follow a person by appearance at most this long
                                         // without a detection (0: no following)
  int64_t redetect_ms = 1000;            // detect a followed person at least this often
  int64_t motion_retry_max_ms = 4000;    // motion that stays where the detector finds
                                         // nobody is looked into less and less often, waiting
                                         // up to this (RetryGrid; base redetect_s/2)
  bool motion_gated = true;
  TrackerParams tracker;
  PresenceParams presence;
  int64_t update_interval_ms = 2000;
  std::string event_type;
};

// Reads the parameters every zone analyzer accepts (`extra` lists the analyzer's own keys).
// Defaults for the presence parameters come in `presence`.
Result<ZoneCommonParams> ParseZoneCommon(const ParamReader& r, const CameraContext& camera,
                                         PresenceParams presence, const std::string& event_type,
                                         std::initializer_list<std::string_view> extra);

// Where searching for motion led the detector to nobody, per 16 px cell of the frame: until
// when motion there alone does not call the detector again. A cell that the detector searched
// without finding anyone waits `base`. If that happens with motion there (the cell is under one
// of the motion blobs searched) again and again, each time within twice the last wait (plus
// `base`), the cell waits twice as long as before from the third time in a row on, at most
// `max`; searches without motion there in between do not break the row. So motion that stays
// in one place (a flag, a branch) is looked into less and less often, while someone moving on
// meets fresh cells, and a person the detector misses now and then is still looked for at the
// base rate. A cell under a person found is free again.
class RetryGrid {
 public:
  static constexpr int kCell = 16;
  // After a detector run over `region` (frame pixels) that found `found` there, `moving`: the
  // motion blobs searched in this frame.
  void Searched(cv::Size frame, const cv::Rect& region, const std::vector<cv::Rect>& found,
                const std::vector<cv::Rect>& moving, int64_t pts_ms, int64_t base_ms,
                int64_t max_ms);
  // The fraction of the cells under `r` that still wait at `pts_ms` (0 for an empty `r`).
  double Waiting(const cv::Rect& r, int64_t pts_ms) const;

 private:
  struct Cell {
    int64_t until = INT64_MIN;
    int64_t last = INT64_MIN, wait = 0;  // the last fruitless search with motion, its wait
    int streak = 0;                      // fruitless searches in a row with motion there
  };
  cv::Size size_;       // frame size the cells were made for
  int cols_ = 0, rows_ = 0;
  std::vector<Cell> cells_;
};

class PeopleStage {
 public:
  PeopleStage(const ZoneCommonParams& p, std::string camera_id);
  // Detects and tracks on `frame`. Returns false if detection failed for this frame (counted
  // and logged; the tracker is then not advanced).
  bool Step(const Frame& frame);
  const PeopleTracker& tracker() const { return tracker_; }
  cv::Size frame_size() const { return size_; }
  int64_t detect_errors() const { return errors_; }
  // The regions (frame pixels) the detector was run on in the last Step(), after merging.
  const std::vector<cv::Rect>& last_regions() const { return regions_; }
  // For evaluations: pixels given to the detector so far, detector runs (regions not found in
  // the memo), and tracks found by their appearance instead of the detector (per frame).
  int64_t detected_pixels() const { return detected_px_; }
  int64_t detector_runs() const { return detector_runs_; }
  int64_t followed() const { return followed_; }

 private:
  cv::Rect CropFor(cv::Size size) const;
  // The regions to detect on this frame (updates the motion reference).
  std::vector<cv::Rect> RegionsFor(const Frame& frame, const cv::Rect& area);
  // After the tracker's update: finds the tracks not detected in this frame by their
  // appearance, takes the templates of those that were, and remembers what was searched.
  void FollowAndRemember(int64_t pts_ms);
  ZoneCommonParams p_;
  std::string camera_id_;
  PeopleTracker tracker_;
  cv::Size size_;
  int64_t errors_ = 0;
  cv::Mat prev_grey_;                    // the last analysed frame, small grey (motion_regions)
  int64_t last_full_scan_ms_ = INT64_MIN;
  cv::Mat scan_grey_;                    // the frame at the last scan, small grey (following)
  std::vector<cv::Rect> regions_;
  bool following() const { return p_.follow_ms > 0; }
  AppearanceFollower follower_;
  std::map<int, int64_t> searched_ms_;   // per track: when its surroundings were last detected
  RetryGrid retry_;                      // where motion led to nobody (following only)
  std::vector<cv::Rect> moving_;         // the motion blobs searched in this frame
  int64_t detected_px_ = 0, detector_runs_ = 0, followed_ = 0;
};

// Presence of every tracked person in one zone.
class ZoneWatch {
 public:
  ZoneWatch(Zone zone, PresenceParams p) : zone_(std::move(zone)), p_(p) {}
  // Feeds the tracker's state at `pts_ms`: confirmed tracks matched this frame are observed,
  // the others (and tracks the tracker dropped) only age.
  void Update(int64_t pts_ms, const PeopleTracker& tracker, cv::Size size);
  const Zone& zone() const { return zone_; }
  // Ids of people present (inside, or leaving within the hysteresis).
  std::vector<int> Present() const;
  const ZonePresence* Get(int id) const;
  // Ids whose stay ended in the last Update().
  const std::vector<int>& ended() const { return ended_; }

 private:
  Zone zone_;
  PresenceParams p_;
  std::map<int, ZonePresence> people_;
  std::vector<int> ended_;
  cv::Size poly_size_;
  std::vector<cv::Point2f> poly_px_;
};

// Normalised copies for events.
Box ToNormBox(const cv::Rect2f& r, cv::Size size, float score, const std::string& label);
Json PathJson(int id, const std::vector<TrackPoint>& px_path, cv::Size size, std::size_t max_pts);
std::vector<TrackPoint> NormPath(const std::vector<TrackPoint>& px_path, cv::Size size,
                                 std::size_t max_pts);

}  // namespace linli::edge
