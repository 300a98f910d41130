#include "edge/algorithms/zones/people_stage.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include <opencv2/imgproc.hpp>

#include "common/log.h"
#include "edge/detectors/detectors.h"

namespace linli::edge {

namespace {

// The memo: the last frame's detections per shared detector, per region (frame pixels).
struct MemoEntry {
  std::string camera_id;
  int64_t index = -1, pts_ms = -1;
  cv::Size size;
  std::vector<std::pair<cv::Rect, std::vector<Detection>>> regions;
};

constexpr int kMotionWidth = 160;  // the frame difference works at this width
// The smallest region given to the detector. HOG's 64 x 128 window at its default upscale 1.5
// covers 43 x 85 frame pixels (a person about 73 px tall, the smallest it finds); 112 px
// leaves room for the next pyramid level (a person 1.2 times taller).
constexpr int kMinRegionWidth = 64, kMinRegionHeight = 112;
// A followed person's template must match at least this well (normalised cross-correlation).
constexpr float kFollowMinScore = 0.6f;
constexpr float kFollowRefreshScore = 0.75f, kFollowKeepScore = 0.9f;

// `r` grown to at least min_w x min_h around its centre, kept inside `limit`.
cv::Rect AtLeast(cv::Rect r, int min_w, int min_h, const cv::Rect& limit) {
  auto grow = [](int& pos, int& len, int min_len, int lo, int hi) {
    if (len < min_len) {
      pos -= (min_len - len) / 2;
      len = min_len;
    }
    len = std::min(len, hi - lo);
    pos = std::clamp(pos, lo, std::max(lo, hi - len));
  };
  grow(r.x, r.width, min_w, limit.x, limit.x + limit.width);
  grow(r.y, r.height, min_h, limit.y, limit.y + limit.height);
  return r & limit;
}

// Merges rectangles that overlap (or nearly touch) until none do.
std::vector<cv::Rect> MergeOverlapping(std::vector<cv::Rect> rs) {
  bool merged = true;
  while (merged) {
    merged = false;
    for (std::size_t i = 0; i < rs.size() && !merged; ++i)
      for (std::size_t j = i + 1; j < rs.size(); ++j) {
        cv::Rect a = rs[i], b = rs[j];
        cv::Rect ai(a.x - 4, a.y - 4, a.width + 8, a.height + 8);
        if ((ai & b).area() == 0) continue;
        rs[i] = a | b;
        rs.erase(rs.begin() + static_cast<std::ptrdiff_t>(j));
        merged = true;
        break;
      }
  }
  return rs;
}
std::mutex& MemoMutex() {
  static std::mutex m;
  return m;
}
std::map<const Detector*, MemoEntry>& Memo() {
  static auto* m = new std::map<const Detector*, MemoEntry>();
  return *m;
}

}  // namespace

Result<ZoneCommonParams> ParseZoneCommon(const ParamReader& r, const CameraContext& camera,
                                         PresenceParams presence, const std::string& event_type,
                                         std::initializer_list<std::string_view> extra) {
  std::vector<std::string_view> known = {"zones",         "detector",       "labels",
                                         "min_score",     "min_height",     "crop_to_zones",
                                         "motion_gated",  "inertia_frames", "min_dwell_s",
                                         "exit_s",        "max_gap_s",      "update_interval_s",
                                         "event_type",    "tracker_max_distance",
                                         "motion_regions", "full_scan_s",  "motion_threshold",
                                         "follow_s",      "redetect_s",
                                         "motion_retry_max_s"};
  known.insert(known.end(), extra.begin(), extra.end());
  LINLI_RETURN_IF_ERROR(r.CheckKnown(known));
  ZoneCommonParams p;
  LINLI_ASSIGN_OR_RETURN(std::vector<std::string> names, r.Strings("zones", {}));
  if (names.empty()) {
    for (const auto& z : camera.zones)
      if (z.points.size() >= 3) p.zones.push_back(z);
    if (p.zones.empty())
      return InvalidArgument(r.Key("zones"), "the camera has no polygon zones to watch");
  } else {
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto it = std::find_if(camera.zones.begin(), camera.zones.end(),
                             [&](const Zone& z) { return z.name == names[i]; });
      std::string k = r.Key("zones") + "[" + std::to_string(i) + "]";
      if (it == camera.zones.end())
        return InvalidArgument(k, "no zone \"" + names[i] + "\" on this camera");
      if (it->points.size() < 3)
        return InvalidArgument(k, "\"" + names[i] + "\" is a line, not a polygon");
      p.zones.push_back(*it);
    }
  }
  if (r.Has("detector")) {
    LINLI_ASSIGN_OR_RETURN(p.detector, MakeDetector(r.Node("detector"), r.Key("detector")));
  } else if (camera.detector) {
    p.detector = camera.detector;
    p.shared_detector = true;
  } else {
    LINLI_ASSIGN_OR_RETURN(p.detector, MakeHogDetector(HogParams{}));
  }
  LINLI_ASSIGN_OR_RETURN(p.labels, r.Strings("labels", p.labels));
  LINLI_ASSIGN_OR_RETURN(double ms, r.Double("min_score", 0, 0, 1));
  p.min_score = static_cast<float>(ms);
  LINLI_ASSIGN_OR_RETURN(double mh, r.Double("min_height", 0, 0, 1));
  p.min_height = static_cast<float>(mh);
  LINLI_ASSIGN_OR_RETURN(p.crop_to_zones, r.Bool("crop_to_zones", true));
  LINLI_ASSIGN_OR_RETURN(p.motion_gated, r.Bool("motion_gated", true));
  LINLI_ASSIGN_OR_RETURN(p.motion_regions, r.Bool("motion_regions", true));
  LINLI_ASSIGN_OR_RETURN(double fs, r.Double("full_scan_s", p.full_scan_ms / 1000.0, 0, 86400));
  p.full_scan_ms = static_cast<int64_t>(fs * 1000);
  LINLI_ASSIGN_OR_RETURN(p.motion_threshold, r.Int("motion_threshold", p.motion_threshold, 1, 255));
  LINLI_ASSIGN_OR_RETURN(double follow, r.Double("follow_s", p.follow_ms / 1000.0, 0, 60));
  p.follow_ms = static_cast<int64_t>(follow * 1000);
  LINLI_ASSIGN_OR_RETURN(double redetect, r.Double("redetect_s", p.redetect_ms / 1000.0, 0, 60));
  p.redetect_ms = static_cast<int64_t>(redetect * 1000);
  LINLI_ASSIGN_OR_RETURN(double retry, r.Double("motion_retry_max_s",
                                                p.motion_retry_max_ms / 1000.0, 0, 3600));
  p.motion_retry_max_ms = static_cast<int64_t>(retry * 1000);
  LINLI_ASSIGN_OR_RETURN(p.presence.inertia_frames,
                         r.Int("inertia_frames", presence.inertia_frames, 1, 1000));
  LINLI_ASSIGN_OR_RETURN(double dwell, r.Double("min_dwell_s", presence.min_dwell_ms / 1000.0,
                                                0, 86400));
  p.presence.min_dwell_ms = static_cast<int64_t>(dwell * 1000);
  LINLI_ASSIGN_OR_RETURN(double exit, r.Double("exit_s", presence.exit_ms / 1000.0, 0, 3600));
  p.presence.exit_ms = static_cast<int64_t>(exit * 1000);
  LINLI_ASSIGN_OR_RETURN(double gap, r.Double("max_gap_s", 2.0, 0, 60));
  p.tracker.max_gap_ms = static_cast<int64_t>(gap * 1000);
  LINLI_ASSIGN_OR_RETURN(double md, r.Double("tracker_max_distance", 0.8, 0.05, 5));
  p.tracker.max_distance = static_cast<float>(md);
  LINLI_ASSIGN_OR_RETURN(double ui, r.Double("update_interval_s", 2.0, 0, 3600));
  p.update_interval_ms = static_cast<int64_t>(ui * 1000);
  LINLI_ASSIGN_OR_RETURN(p.event_type, r.String("event_type", event_type));
  if (p.event_type.empty() || p.event_type.find(' ') != std::string::npos)
    return InvalidArgument(r.Key("event_type"), "must be a dotted name like vision.intrusion");
  return p;
}

void RetryGrid::Searched(cv::Size frame, const cv::Rect& region,
                         const std::vector<cv::Rect>& found, const std::vector<cv::Rect>& moving,
                         int64_t pts_ms, int64_t base_ms, int64_t max_ms) {
  if (frame != size_) {
    size_ = frame;
    cols_ = (frame.width + kCell - 1) / kCell;
    rows_ = (frame.height + kCell - 1) / kCell;
    cells_.assign(static_cast<std::size_t>(cols_) * rows_, Cell{});
  }
  const cv::Rect r = region & cv::Rect(0, 0, frame.width, frame.height);
  if (r.area() <= 0) return;
  // The cells whose centre is in the region (r.x >= 0, so the divisions round down).
  const int c0 = (r.x + kCell / 2 - 1) / kCell, c1 = (r.x + r.width + kCell / 2 - 1) / kCell;
  const int r0 = (r.y + kCell / 2 - 1) / kCell, r1 = (r.y + r.height + kCell / 2 - 1) / kCell;
  for (int y = r0; y < std::min(r1, rows_); ++y)
    for (int x = c0; x < std::min(c1, cols_); ++x) {
      Cell& cell = cells_[static_cast<std::size_t>(y) * cols_ + x];
      const cv::Rect cr(x * kCell, y * kCell, kCell, kCell);
      if (std::any_of(found.begin(), found.end(), [&](const cv::Rect& f) {
            return (f & cr).area() > 0;
          })) {
        cell = Cell{};
        continue;
      }
      const bool moved = std::any_of(moving.begin(), moving.end(), [&](const cv::Rect& m) {
        return (m & cr).area() > 0;
      });
      if (!moved) {
        // Searched, nothing moved here: the base wait, the streak is kept (a branch does not
        // move in every frame).
        cell.until = std::max(cell.until, pts_ms + base_ms);
        continue;
      }
      // Moved here again soon after the last fruitless search with motion (within twice the
      // wait, plus the base for a frame cadence as slow as the wait): one more in a row. Twice
      // as long from the third time in a row on, so that a person the detector missed twice
      // while they moved there is still looked for at the base rate.
      const bool again =
          cell.last != INT64_MIN && pts_ms - cell.last <= 2 * cell.wait + base_ms;
      cell.streak = again ? cell.streak + 1 : 1;
      cell.wait = cell.streak >= 3 ? std::min(max_ms, 2 * cell.wait) : base_ms;
      cell.until = pts_ms + cell.wait;
      cell.last = pts_ms;
    }
}

double RetryGrid::Waiting(const cv::Rect& r, int64_t pts_ms) const {
  if (cells_.empty() || r.area() <= 0) return 0;
  const int c0 = std::clamp(r.x / kCell, 0, cols_ - 1);
  const int c1 = std::clamp((r.x + r.width - 1) / kCell, 0, cols_ - 1);
  const int r0 = std::clamp(r.y / kCell, 0, rows_ - 1);
  const int r1 = std::clamp((r.y + r.height - 1) / kCell, 0, rows_ - 1);
  int waiting = 0, all = 0;
  for (int y = r0; y <= r1; ++y)
    for (int x = c0; x <= c1; ++x) {
      ++all;
      if (cells_[static_cast<std::size_t>(y) * cols_ + x].until > pts_ms) ++waiting;
    }
  return static_cast<double>(waiting) / all;
}

PeopleStage::PeopleStage(const ZoneCommonParams& p, std::string camera_id)
    : p_(p), camera_id_(std::move(camera_id)), tracker_(p.tracker) {}

cv::Rect PeopleStage::CropFor(cv::Size size) const {
  cv::Rect full(0, 0, size.width, size.height);
  if (!p_.crop_to_zones) return full;
  float x0 = 1, y0 = 1, x1 = 0, y1 = 0;
  for (const auto& z : p_.zones)
    for (const auto& pt : z.points) {
      x0 = std::min(x0, pt.x);
      y0 = std::min(y0, pt.y);
      x1 = std::max(x1, pt.x);
      y1 = std::max(y1, pt.y);
    }
  // Feet in the zone put the body above it: extend up by 45% of the frame, sideways 10%.
  x0 = std::max(0.f, x0 - 0.1f);
  x1 = std::min(1.f, x1 + 0.1f);
  y0 = std::max(0.f, y0 - 0.45f);
  y1 = std::min(1.f, y1 + 0.08f);
  cv::Rect r(cvFloor(x0 * size.width), cvFloor(y0 * size.height),
             cvCeil((x1 - x0) * size.width), cvCeil((y1 - y0) * size.height));
  // Big enough for a person-sized detection window (HOG: 64 x 128).
  auto grow = [](int& pos, int& len, int min_len, int limit) {
    if (len >= min_len) return;
    pos -= (min_len - len) / 2;
    len = min_len;
    pos = std::clamp(pos, 0, std::max(0, limit - len));
  };
  grow(r.x, r.width, 96, size.width);
  grow(r.y, r.height, 160, size.height);
  r &= full;
  if (r.area() > 0.75 * full.area()) return full;
  return r;
}

namespace {

// The surroundings of a person's box where they can be found in the next frame.
cv::Rect Around(const cv::Rect2f& b) {
  return {cvFloor(b.x - 0.6f * b.width), cvFloor(b.y - 0.25f * b.height), cvCeil(2.2f * b.width),
          cvCeil(1.5f * b.height)};
}

// Where track `t` was last seen (its box stands on the last foot point); its box otherwise.
cv::Rect2f LastSeen(const Track& t) {
  if (t.path.empty()) return t.box;
  const TrackPoint& feet = t.path.back();
  return {feet.x - t.box.width / 2, feet.y - t.box.height, t.box.width, t.box.height};
}

}  // namespace

std::vector<cv::Rect> PeopleStage::RegionsFor(const Frame& frame, const cv::Rect& area) {
  const cv::Size size = frame.image.size();
  const int64_t pts = frame.pts_ms;
  if (!p_.motion_regions) return {area};
  // The motion reference: the previous analysed frame, grey, kMotionWidth px wide (from the
  // follower's grey copy when there is one: the same pixels, averaged once more).
  const int mw = std::min(kMotionWidth, size.width);
  const int mh = std::max(1, static_cast<int>(std::lround(size.height * static_cast<double>(mw) /
                                                          size.width)));
  const cv::Mat& src = following() ? follower_.grey() : frame.image;
  cv::Mat small, grey;
  cv::resize(src, small, cv::Size(mw, mh), 0, 0, cv::INTER_AREA);
  if (small.channels() == 3) {
    cv::cvtColor(small, grey, cv::COLOR_BGR2GRAY);
  } else {
    grey = small;
  }
  cv::Mat prev = prev_grey_;
  prev_grey_ = grey;
  moving_.clear();
  auto whole_area = [&]() {
    last_full_scan_ms_ = pts;
    scan_grey_ = grey;
    return std::vector<cv::Rect>{area};
  };
  // INT64_MIN: no full scan yet (tested first: pts - INT64_MIN would overflow).
  if (last_full_scan_ms_ == INT64_MIN || prev.empty() || prev.size() != grey.size())
    return whole_area();
  const bool scan_due = p_.full_scan_ms > 0 && pts - last_full_scan_ms_ >= p_.full_scan_ms;
  const bool skip = following();  // skip what following makes unnecessary
  if (scan_due && (!skip || scan_grey_.size() != grey.size())) return whole_area();
  const double fx = static_cast<double>(size.width) / mw, fy = static_cast<double>(size.height) / mh;
  const cv::Rect frame_rect(0, 0, size.width, size.height);
  // What changed: since the previous analysed frame (motion), or, for the periodic scan with
  // following, since the last scan — pixels that have not changed since they were searched
  // would give the detector the same answer again.
  cv::Mat diff, mask, labels, stats, centroids;
  cv::absdiff(grey, scan_due ? scan_grey_ : prev, diff);
  cv::threshold(diff, mask, p_.motion_threshold, 255, cv::THRESH_BINARY);
  cv::dilate(mask, mask, cv::Mat(), cv::Point(-1, -1), 2);
  if (scan_due) {
    last_full_scan_ms_ = pts;
    scan_grey_ = grey;
  }
  if (skip) {
    // Motion the tracked people explain: their box where they were last seen and where the
    // tracker expects them, with some room (arms, a bag, a shadow at the feet).
    for (const auto& t : tracker_.tracks()) {
      for (const cv::Rect2f& b : {t.box, LastSeen(t)}) {
        cv::Rect m(cvFloor((b.x - 0.2f * b.width) / fx), cvFloor((b.y - 0.1f * b.height) / fy),
                   cvCeil(1.4f * b.width / fx) + 1, cvCeil(1.2f * b.height / fy) + 1);
        m &= cv::Rect(0, 0, mw, mh);
        if (m.area() > 0) mask(m).setTo(0);
      }
    }
  }
  std::vector<cv::Rect> rs;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  for (int i = 1; i < n; ++i) {
    if (stats.at<int>(i, cv::CC_STAT_AREA) < 12) continue;  // noise, not a person
    cv::Rect b(cvFloor(stats.at<int>(i, cv::CC_STAT_LEFT) * fx),
               cvFloor(stats.at<int>(i, cv::CC_STAT_TOP) * fy),
               cvCeil(stats.at<int>(i, cv::CC_STAT_WIDTH) * fx),
               cvCeil(stats.at<int>(i, cv::CC_STAT_HEIGHT) * fy));
    // Often only part of a person changes (legs, an arm): room for the whole body around it,
    // mostly above (the head over moving legs).
    const int h = std::max(b.height, b.width);
    cv::Rect r(b.x - h / 2, b.y - h, b.width + h, b.height + h + h / 3);
    if (skip) {
      // Motion outside the search area (someone passing by beyond it) is not looked into; the
      // search area already has room for the bodies of people whose feet are in the zones.
      const cv::Point c(b.x + b.width / 2, b.y + b.height / 2);
      if (!area.contains(c)) continue;
      // Searched a moment ago without finding anyone there: not again before the place's
      // wait is over (RetryGrid), unless the blob has moved on.
      if (!scan_due && retry_.Waiting(b & area, pts) >= 0.7) continue;
    }
    rs.push_back(r);
    moving_.push_back(b);
  }
  // Around the people being tracked (they may stand still): their box and how far they can
  // move until the next analysed frame. While a person is missed the tracker moves their box
  // on with their last velocity; someone who stopped is still where they were last seen, so
  // both places are searched. With following, only those due: every redetect_s, and in every
  // frame during the first redetect_s after a detection while they are new (unconfirmed) or
  // lost (neither detected nor followed in the last frame).
  for (const auto& t : tracker_.tracks()) {
    if (skip) {
      auto it = searched_ms_.find(t.id);
      const bool regular = it == searched_ms_.end() || pts - it->second >= p_.redetect_ms;
      const bool eager = (!t.confirmed || !t.matched) && pts - t.detected_ms < p_.redetect_ms;
      if (!regular && !eager) continue;
    }
    cv::Rect r = Around(t.box);
    if (!t.matched) r |= Around(LastSeen(t));
    rs.push_back(r);
  }
  // Big enough for a person-sized detection window, inside the search area.
  for (auto& r : rs) r = AtLeast(r & frame_rect, kMinRegionWidth, kMinRegionHeight, area);
  std::erase_if(rs, [](const cv::Rect& r) { return r.area() <= 0; });
  rs = MergeOverlapping(std::move(rs));
  int64_t px = 0;
  for (const auto& r : rs) px += r.area();
  if (px > 0.6 * static_cast<double>(area.area()))
    return whole_area();  // one pass over the area is cheaper than overlapping pieces
  return rs;
}

void PeopleStage::FollowAndRemember(int64_t pts_ms) {
  // What was searched: for the tracks, their last search (RetryGrid is fed in Step()).
  std::set<int> ids;
  for (const auto& t : tracker_.tracks()) {
    ids.insert(t.id);
    const cv::Point2f c(t.box.x + t.box.width / 2, t.box.y + t.box.height / 2);
    if (t.detected || std::any_of(regions_.begin(), regions_.end(), [&](const cv::Rect& r) {
          return r.contains(cv::Point(cvRound(c.x), cvRound(c.y)));
        }))
      searched_ms_[t.id] = pts_ms;
  }
  std::erase_if(searched_ms_, [&](const auto& kv) { return !ids.contains(kv.first); });
  if (!following()) return;
  for (const auto& t : tracker_.tracks()) {
    if (t.detected) {
      follower_.Remember(t.id, t.box);
      continue;
    }
    // Someone detected once only (maybe a false detection) is followed for redetect_s at most:
    // long enough to be detected again if they are a person.
    if (pts_ms - t.detected_ms > (t.confirmed ? p_.follow_ms : std::min(p_.follow_ms, p_.redetect_ms)))
      continue;
    // From the box the tracker predicted (moved on with the velocity) while this frame was
    // not searched there or the detector missed them.
    auto found = follower_.Find(t.id, t.box, kFollowMinScore);
    if (!found) continue;
    if (!tracker_.Follow(pts_ms, t.id, found->box)) continue;
    ++followed_;
    // A template that no longer matches closely is taken again where it matched (the person's
    // look changes as they turn or come closer), but only from a good match, so that it
    // cannot slide off onto the background; one that still matches closely is kept, as each
    // new one adds the match's error. The detector gives a fresh one every redetect_s.
    if (found->score >= kFollowRefreshScore && found->score < kFollowKeepScore)
      follower_.Remember(t.id, found->box);
  }
  follower_.Retain(ids);
}

bool PeopleStage::Step(const Frame& frame) {
  size_ = frame.image.size();
  const cv::Rect area = CropFor(size_);
  if (following()) follower_.SetFrame(frame.image);
  regions_ = RegionsFor(frame, area);
  const Detector* key = p_.detector.get();
  std::vector<Detection> dets;
  std::vector<std::pair<cv::Rect, std::vector<Detection>>> computed;
  MemoEntry memo;
  if (p_.shared_detector) {
    std::lock_guard lock(MemoMutex());
    auto it = Memo().find(key);
    if (it != Memo().end() && it->second.camera_id == camera_id_ &&
        it->second.index == frame.index && it->second.pts_ms == frame.pts_ms &&
        it->second.size == size_)
      memo = it->second;
  }
  for (const auto& region : regions_) {
    auto hit = std::find_if(memo.regions.begin(), memo.regions.end(),
                            [&](const auto& m) { return m.first == region; });
    if (hit != memo.regions.end()) {
      dets.insert(dets.end(), hit->second.begin(), hit->second.end());
      continue;
    }
    Result<std::vector<Detection>> r = std::vector<Detection>{};
    try {
      r = p_.detector->Detect(region.area() == size_.area() ? frame.image : frame.image(region));
    } catch (const std::exception& e) {
      r = Fail(ErrorCode::kInternal, e.what());
    }
    if (!r) {
      if (errors_++ % 100 == 0)
        log::Warn("people detection failed", {{"camera", camera_id_},
                                              {"error", r.error().ToString()},
                                              {"count", std::to_string(errors_)}});
      return false;
    }
    detected_px_ += region.area();
    ++detector_runs_;
    for (auto& d : *r)
      d.box += cv::Point2f(static_cast<float>(region.x), static_cast<float>(region.y));
    dets.insert(dets.end(), r->begin(), r->end());
    computed.emplace_back(region, std::move(*r));
  }
  if (p_.shared_detector && !computed.empty()) {
    std::lock_guard lock(MemoMutex());
    MemoEntry& m = Memo()[key];
    if (m.camera_id != camera_id_ || m.index != frame.index || m.pts_ms != frame.pts_ms ||
        m.size != size_)
      m = MemoEntry{camera_id_, frame.index, frame.pts_ms, size_, {}};
    for (auto& c : computed) m.regions.push_back(std::move(c));
  }
  std::erase_if(dets, [&](const Detection& d) {
    return d.score < p_.min_score || d.box.height < p_.min_height * size_.height ||
           std::find(p_.labels.begin(), p_.labels.end(), d.label) == p_.labels.end();
  });
  if (following()) {
    std::vector<cv::Rect> found;
    for (const auto& d : dets) found.push_back(d.box);
    for (const auto& r : regions_)
      retry_.Searched(size_, r, found, moving_, frame.pts_ms, p_.redetect_ms / 2,
                      std::max(p_.motion_retry_max_ms, p_.redetect_ms / 2));
  }
  tracker_.Update(frame.pts_ms, dets);
  FollowAndRemember(frame.pts_ms);
  return true;
}

void ZoneWatch::Update(int64_t pts_ms, const PeopleTracker& tracker, cv::Size size) {
  if (size != poly_size_) {
    poly_px_ = ToPixels(zone_.points, size);
    poly_size_ = size;
  }
  ended_.clear();
  std::set<int> seen;
  for (const auto& t : tracker.tracks()) {
    if (!t.confirmed) continue;
    seen.insert(t.id);
    auto it = people_.find(t.id);
    if (t.matched) {
      bool inside = InPolygon(poly_px_, FootPoint(t.box));
      if (it == people_.end()) {
        if (!inside) continue;
        it = people_.emplace(t.id, ZonePresence(p_)).first;
      }
      it->second.Observe(pts_ms, inside);
    } else if (it != people_.end()) {
      it->second.Expire(pts_ms);
    }
  }
  for (auto it = people_.begin(); it != people_.end();) {
    if (!seen.contains(it->first)) it->second.Expire(pts_ms);
    if (it->second.TakeEnded()) ended_.push_back(it->first);
    bool gone = it->second.state() == ZonePresence::State::kOutside;
    it = gone ? people_.erase(it) : std::next(it);
  }
}

std::vector<int> ZoneWatch::Present() const {
  std::vector<int> ids;
  for (const auto& [id, p] : people_)
    if (p.Present()) ids.push_back(id);
  return ids;
}

const ZonePresence* ZoneWatch::Get(int id) const {
  auto it = people_.find(id);
  return it == people_.end() ? nullptr : &it->second;
}

Box ToNormBox(const cv::Rect2f& r, cv::Size size, float score, const std::string& label) {
  Box b;
  float w = static_cast<float>(std::max(1, size.width)), h = static_cast<float>(std::max(1, size.height));
  b.x = std::clamp(r.x / w, 0.f, 1.f);
  b.y = std::clamp(r.y / h, 0.f, 1.f);
  b.w = std::clamp(r.width / w, 0.f, 1.f - b.x);
  b.h = std::clamp(r.height / h, 0.f, 1.f - b.y);
  b.score = score;
  b.label = label;
  return b;
}

std::vector<TrackPoint> NormPath(const std::vector<TrackPoint>& px, cv::Size size,
                                 std::size_t max_pts) {
  std::vector<TrackPoint> out;
  if (px.empty()) return out;
  std::size_t step = std::max<std::size_t>(1, (px.size() + max_pts - 1) / max_pts);
  float w = static_cast<float>(std::max(1, size.width)), h = static_cast<float>(std::max(1, size.height));
  for (std::size_t i = 0; i < px.size(); i += step)
    out.push_back({px[i].pts_ms, px[i].x / w, px[i].y / h});
  if ((px.size() - 1) % step != 0)
    out.push_back({px.back().pts_ms, px.back().x / w, px.back().y / h});
  return out;
}

Json PathJson(int id, const std::vector<TrackPoint>& px_path, cv::Size size, std::size_t max_pts) {
  Json pts = Json::array();
  for (const auto& p : NormPath(px_path, size, max_pts))
    pts.push_back({p.pts_ms, std::round(p.x * 1e4) / 1e4, std::round(p.y * 1e4) / 1e4});
  return Json{{"id", id}, {"points", pts}};
}

}  // namespace linli::edge
