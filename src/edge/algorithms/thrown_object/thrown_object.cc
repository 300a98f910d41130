#include "edge/algorithms/thrown_object/thrown_object.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"

namespace linli::edge {

namespace thrown {
namespace {

constexpr double kMaxFallSpeed = 35;  // m/s: motion blur allowance for blob height
constexpr const char* kEventType = "vision.thrown_object";

metrics::Counter& BadFrames() {
  static metrics::Counter& c = metrics::Default().GetCounter(
      "linli_edge_thrown_object_bad_frames_total",
      "Frames the thrown-object analyzer could not use (empty, wrong type, OpenCV error)");
  return c;
}

metrics::Counter& EventsTotal() {
  static metrics::Counter& c = metrics::Default().GetCounter(
      "linli_edge_thrown_object_events_total", "Thrown objects detected");
  return c;
}

Box NormBox(const cv::Rect2d& r, cv::Size s, const char* label, float score) {
  Box b;
  b.x = static_cast<float>(r.x / s.width);
  b.y = static_cast<float>(r.y / s.height);
  b.w = static_cast<float>(r.width / s.width);
  b.h = static_cast<float>(r.height / s.height);
  b.label = label;
  b.score = score;
  return b;
}

}  // namespace

struct ThrownObjectAnalyzer::OpenEvent {
  std::string id;
  size_t first_point = 0;  // index into the track's points where the fall segment starts
  FallVerdict verdict;     // at confirmation
  cv::Mat snapshot;        // the last frame the object was seen in
  int64_t snapshot_pts_ms = 0;
};

ThrownObjectAnalyzer::ThrownObjectAnalyzer(ThrownObjectConfig config, const CameraContext& camera)
    : config_(std::move(config)), camera_(camera) {
  if (camera_.frame_size.width > 0 && camera_.frame_size.height > 0) Init(camera_.frame_size);
}

ThrownObjectAnalyzer::~ThrownObjectAnalyzer() = default;

FrameNeeds ThrownObjectAnalyzer::Needs() const {
  FrameNeeds n;
  n.full_rate = true;
  n.max_width = config_.max_width;
  n.motion_gated = false;
  return n;
}

const std::vector<Track>& ThrownObjectAnalyzer::tracks() const {
  static const std::vector<Track> kNone;
  return tracker_ ? tracker_->tracks() : kNone;
}

void ThrownObjectAnalyzer::Init(cv::Size size) {
  size_ = size;
  facade_ = FacadeModel(config_.facade, size);
  // The region analysed: the detection zone (default: the facade quad), minus exclusions.
  std::vector<cv::Point> zone_px;
  if (config_.detect_zone.empty()) {
    for (const auto& p : facade_.QuadPx()) zone_px.emplace_back(cv::Point(p));
  } else {
    for (const auto& p : config_.detect_zone) {
      zone_px.emplace_back(cv::Point(cv::Point2f(p.x * size.width, p.y * size.height)));
    }
  }
  const cv::Rect frame_rect(0, 0, size.width, size.height);
  roi_ = cv::boundingRect(zone_px) & frame_rect;
  if (roi_.area() <= 0) roi_ = frame_rect;
  scale_ = 1.0;
  if (config_.process_width > 0 && config_.process_width < size.width) {
    scale_ = static_cast<double>(config_.process_width) / size.width;
  }
  work_size_ = cv::Size(std::max(8, static_cast<int>(std::lround(roi_.width * scale_))),
                        std::max(8, static_cast<int>(std::lround(roi_.height * scale_))));
  cv::Mat mask(work_size_, CV_8U, cv::Scalar(0));
  auto ToWork = [&](const std::vector<cv::Point>& poly) {
    std::vector<cv::Point> out;
    for (const cv::Point& p : poly) {
      out.emplace_back(static_cast<int>(std::lround((p.x - roi_.x) * scale_)),
                       static_cast<int>(std::lround((p.y - roi_.y) * scale_)));
    }
    return out;
  };
  cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{ToWork(zone_px)}, cv::Scalar(255));
  for (const auto& ex : config_.exclude) {
    std::vector<cv::Point> px;
    for (const auto& p : ex) {
      px.emplace_back(cv::Point(cv::Point2f(p.x * size.width, p.y * size.height)));
    }
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{ToWork(px)}, cv::Scalar(0));
  }
  const double fps = camera_.fps > 0 ? camera_.fps : 25;
  config_.limits.frame_interval_s = 1.0 / fps;
  fg_ = std::make_unique<ForegroundDetector>(config_.foreground, work_size_, fps, mask);
  suppressed_ = cv::Mat(fg_->tiles().size(), CV_8U, cv::Scalar(0));
  suppress_frames_ = std::clamp(
      static_cast<int>(std::lround((config_.foreground.absorb_s + 0.5) * fps)), 1, 255);
  const FacadeModel* facade = &facade_;
  tracker_ = std::make_unique<Tracker>(config_.tracker,
                                       [facade](cv::Point2d p) { return facade->GravityPx(p); });
  blobs_.reserve(static_cast<size_t>(config_.max_blobs));
  open_.clear();
}

// Connected components of the mask, only where the foreground tiles are (the mask is
// sparse; a full-frame labelling would cost more than everything else together).
void ThrownObjectAnalyzer::Components(const cv::Mat& mask) {
  candidates_.clear();
  const cv::Mat& tiles = fg_->tiles();
  const int active = cv::countNonZero(tiles);
  if (active == 0) return;
  auto Collect = [&](const cv::Mat& m, cv::Point offset) {
    const int n = cv::connectedComponentsWithStats(m, labels_, cc_stats_, centroids_, 8, CV_32S);
    for (int i = 1; i < n; ++i) {
      const int* st = cc_stats_.ptr<int>(i);
      const double* c = centroids_.ptr<double>(i);
      candidates_.push_back({cv::Rect(st[cv::CC_STAT_LEFT] + offset.x, st[cv::CC_STAT_TOP] + offset.y,
                                      st[cv::CC_STAT_WIDTH], st[cv::CC_STAT_HEIGHT]),
                             cv::Point2d(c[0] + offset.x, c[1] + offset.y),
                             static_cast<double>(st[cv::CC_STAT_AREA])});
    }
  };
  if (active * 4 > static_cast<int>(tiles.total())) {
    Collect(mask, {0, 0});
    return;
  }
  constexpr int kT = ForegroundDetector::kTile;
  const int nt = cv::connectedComponentsWithStats(tiles, tile_labels_, tile_stats_,
                                                  tile_centroids_, 8, CV_32S);
  const cv::Rect bounds(0, 0, mask.cols, mask.rows);
  for (int j = 1; j < nt; ++j) {
    const int* st = tile_stats_.ptr<int>(j);
    const cv::Rect tr(st[cv::CC_STAT_LEFT], st[cv::CC_STAT_TOP], st[cv::CC_STAT_WIDTH],
                      st[cv::CC_STAT_HEIGHT]);
    const cv::Rect pr = cv::Rect(tr.x * kT, tr.y * kT, tr.width * kT, tr.height * kT) & bounds;
    mask(pr).copyTo(local_);
    // Clear the tiles of other components that share the rectangle.
    for (int ty = tr.y; ty < tr.y + tr.height; ++ty) {
      const int* tl = tile_labels_.ptr<int>(ty);
      for (int tx = tr.x; tx < tr.x + tr.width; ++tx) {
        if (tl[tx] == j) continue;
        const cv::Rect cell = cv::Rect(tx * kT - pr.x, ty * kT - pr.y, kT, kT) &
                              cv::Rect(0, 0, pr.width, pr.height);
        if (cell.area() > 0) local_(cell).setTo(0);
      }
    }
    Collect(local_, pr.tl());
  }
}

void ThrownObjectAnalyzer::ExtractBlobs(const cv::Mat& mask) {
  blobs_.clear();
  cv::subtract(suppressed_, cv::Scalar(1), suppressed_);  // count down (saturating)
  Components(mask);
  const double fps = camera_.fps > 0 ? camera_.fps : 25;
  for (const Candidate& cand : candidates_) {
    if (cand.area < config_.min_area_px) continue;
    Blob b;
    b.centre = cv::Point2d(cand.centre.x / scale_ + roi_.x, cand.centre.y / scale_ + roi_.y);
    b.box = cv::Rect(static_cast<int>(cand.box.x / scale_) + roi_.x,
                     static_cast<int>(cand.box.y / scale_) + roi_.y,
                     std::max(1, static_cast<int>(std::ceil(cand.box.width / scale_))),
                     std::max(1, static_cast<int>(std::ceil(cand.box.height / scale_))));
    b.area = cand.area / (scale_ * scale_);
    b.size = std::max(b.box.width, b.box.height);
    // Size limits from the facade's scale: wider than a thrown object can be (an insect on
    // the lens, a lit window, a shadow) is not one — it joins the background at once and
    // the small fragments around it are ignored; height may add motion blur.
    const double ppm = facade_.PxPerMetre(b.centre);
    const double max_w = config_.max_object_m * ppm + 2.0 / scale_;
    const double max_h = max_w + ppm * kMaxFallSpeed * 0.5 / fps;
    if (b.box.width > max_w || b.box.height > max_h) {
      // Its tiles and their neighbours stay suppressed while the model recovers (the ghost
      // an insect leaves, the fragments of a window being absorbed).
      fg_->Absorb(cand.box);
      constexpr int kT = ForegroundDetector::kTile;
      const cv::Rect tr = cv::Rect(cand.box.x / kT - 1, cand.box.y / kT - 1,
                                   (cand.box.x + cand.box.width) / kT - cand.box.x / kT + 3,
                                   (cand.box.y + cand.box.height) / kT - cand.box.y / kT + 3) &
                          cv::Rect(0, 0, suppressed_.cols, suppressed_.rows);
      if (tr.area() > 0) suppressed_(tr).setTo(suppress_frames_);
      continue;
    }
    blobs_.push_back(b);
    blob_work_.push_back(cand.centre);
  }
  {
    constexpr int kT = ForegroundDetector::kTile;
    size_t k = 0;
    for (size_t i = 0; i < blobs_.size(); ++i) {
      const cv::Point2d& c = blob_work_[i];
      const int tx = std::clamp(static_cast<int>(c.x) / kT, 0, suppressed_.cols - 1);
      const int ty = std::clamp(static_cast<int>(c.y) / kT, 0, suppressed_.rows - 1);
      if (suppressed_.at<uint8_t>(ty, tx) == 0) blobs_[k++] = blobs_[i];
    }
    blobs_.resize(k);
  }
  blob_work_.clear();
  if (static_cast<int>(blobs_.size()) > config_.max_blobs) {
    blobs_.resize(static_cast<size_t>(config_.max_blobs));
  }
  stats_.blobs += static_cast<int64_t>(blobs_.size());
}

void ThrownObjectAnalyzer::FallPoints(const Track& t, size_t first, size_t last,
                                      std::vector<FallPoint>* out) const {
  out->clear();
  for (size_t i = first; i < last && i < t.points.size(); ++i) {
    const TrackPointPx& p = t.points[i];
    out->push_back({static_cast<double>(p.pts_ms) / 1000.0, p.centre, p.size});
  }
}

EdgeEvent ThrownObjectAnalyzer::MakeEvent(const Track& t, const OpenEvent& ev, size_t first,
                                          EventPhase phase) const {
  EdgeEvent e;
  e.id = ev.id;
  e.type = kEventType;
  e.camera_id = camera_.camera_id;
  e.phase = phase;
  e.zone = config_.zone_name;
  const TrackPointPx& p0 = t.points[first];
  const TrackPointPx& pn = t.points.back();
  e.start_ms = p0.pts_ms;
  e.end_ms = pn.pts_ms;
  // Origin from the first seconds of the fall (drag bends the later part).
  std::vector<FallPoint> pts;
  size_t last = first;
  while (last < t.points.size() &&
         t.points[last].pts_ms - p0.pts_ms <= static_cast<int64_t>(config_.origin_fit_s * 1000)) {
    ++last;
  }
  FallPoints(t, first, std::max(last, first + static_cast<size_t>(config_.limits.min_points)),
             &pts);
  FallVerdict v = TestFall(pts, facade_, config_.limits);
  cv::Point2d origin = v.g_mps2 > 0 ? v.origin_px : ev.verdict.origin_px;
  origin.x = std::clamp(origin.x, 0.0, static_cast<double>(size_.width - 1));
  origin.y = std::clamp(origin.y, 0.0, static_cast<double>(size_.height - 1));
  e.origin = cv::Point2f(static_cast<float>(origin.x / size_.width),
                         static_cast<float>(origin.y / size_.height));
  e.score = static_cast<float>(std::max(ev.verdict.score, v.accepted ? v.score : 0.0));
  Json traj = Json::array();
  cv::Rect2d extent(p0.centre, cv::Size2d(0, 0));
  for (size_t i = first; i < t.points.size(); ++i) {
    const TrackPointPx& p = t.points[i];
    TrackPoint tp{p.pts_ms, static_cast<float>(p.centre.x / size_.width),
                  static_cast<float>(p.centre.y / size_.height)};
    e.trajectory.push_back(tp);
    traj.push_back(Json::array({tp.pts_ms, std::round(tp.x * 1e4) / 1e4,
                                std::round(tp.y * 1e4) / 1e4}));
    extent |= cv::Rect2d(p.box);
  }
  e.boxes.push_back(NormBox(cv::Rect2d(pn.box), size_, "object", e.score));
  e.boxes.push_back(NormBox(extent, size_, "trajectory", e.score));
  const cv::Point2d m0 = facade_.ToMetres(origin), mn = facade_.ToMetres(pn.centre);
  e.data = Json::object();
  e.data["floor"] = facade_.FloorAt(origin);
  e.data["window"] = facade_.WindowAt(origin);
  e.data["fall_height_px"] = std::round(std::abs(pn.centre.y - origin.y) * 10) / 10;
  e.data["fall_height_m"] = std::round(std::max(0.0, m0.y - mn.y) * 10) / 10;
  e.data["duration_ms"] = pn.pts_ms - p0.pts_ms;
  e.data["g_mps2"] = std::round(ev.verdict.g_mps2 * 100) / 100;
  e.data["points"] = static_cast<int64_t>(t.points.size() - first);
  e.data["trajectory"] = std::move(traj);
  if (!ev.snapshot.empty()) {
    e.snapshot = ev.snapshot;
    e.snapshot_pts_ms = ev.snapshot_pts_ms;
  }
  return e;
}

void ThrownObjectAnalyzer::Confirm(Track& t, const FallVerdict& v, const Frame& frame,
                                   EventSink& sink) {
  auto ev = std::make_unique<OpenEvent>();
  ev->id = NewUuid();
  ev->verdict = v;
  // The fall segment starts at the first point of the window the test ran on.
  const int64_t window_ms = static_cast<int64_t>(config_.fit_window_s * 1000);
  size_t first = 0;
  while (first + 1 < t.points.size() && t.points.back().pts_ms - t.points[first].pts_ms > window_ms) {
    ++first;
  }
  ev->first_point = first;
  frame.image.copyTo(ev->snapshot);
  ev->snapshot_pts_ms = frame.pts_ms;
  t.confirmed = true;
  ++stats_.events;
  EventsTotal().Inc();
  sink.Emit(MakeEvent(t, *ev, first, EventPhase::kBegin));
  open_[t.id] = std::move(ev);
}

void ThrownObjectAnalyzer::End(Track& t, EventSink& sink) {
  auto it = open_.find(t.id);
  if (it == open_.end()) return;
  sink.Emit(MakeEvent(t, *it->second, it->second->first_point, EventPhase::kEnd));
  open_.erase(it);
}

void ThrownObjectAnalyzer::ProcessFrame(const Frame& frame, EventSink& sink) {
  if (frame.image.size() != size_ || !fg_) {
    if (fg_) {
      log::Info("thrown_object: frame size changed, restarting",
                {{"camera", camera_.camera_id},
                 {"size", std::to_string(frame.image.cols) + "x" + std::to_string(frame.image.rows)}});
      Finish(frame.pts_ms, sink);
    }
    Init(frame.image.size());
  }
  cv::Mat roi = frame.image(roi_);
  const cv::Mat* work = &roi;
  if (scale_ < 1.0) {
    cv::resize(roi, work_, work_size_, 0, 0, cv::INTER_AREA);
    work = &work_;
  }
  ForegroundStats fs;
  const cv::Mat& mask = fg_->Apply(*work, &fs);
  last_mask_ = mask;
  if (fs.unstable) ++stats_.unstable_frames;
  if (fs.reset) ++stats_.resets;
  if (fs.aligned) ++stats_.aligned_frames;
  if (fs.unstable || fs.reset) {
    blobs_.clear();
  } else {
    ExtractBlobs(mask);
  }
  ended_.clear();
  tracker_->Step(frame.pts_ms, blobs_, &ended_);
  // Physics on live tracks that got a new point.
  const int64_t window_ms = static_cast<int64_t>(config_.fit_window_s * 1000);
  for (Track& t : tracker_->tracks()) {
    if (!t.updated) continue;
    if (t.confirmed) {
      auto it = open_.find(t.id);
      if (it != open_.end()) {
        frame.image.copyTo(it->second->snapshot);
        it->second->snapshot_pts_ms = frame.pts_ms;
      }
      continue;
    }
    if (static_cast<int>(t.points.size()) < config_.limits.min_points) continue;
    size_t first = 0;
    while (first + 1 < t.points.size() &&
           t.points.back().pts_ms - t.points[first].pts_ms > window_ms) {
      ++first;
    }
    FallPoints(t, first, t.points.size(), &fall_points_);
    ++stats_.tracks_tested;
    ++t.tests;
    FallVerdict v = TestFall(fall_points_, facade_, config_.limits);
    if (v.accepted) Confirm(t, v, frame, sink);
  }
  for (Track& t : ended_) {
    if (t.confirmed) {
      End(t, sink);
    } else if (static_cast<int>(t.points.size()) >= config_.limits.min_points) {
      FallPoints(t, 0, t.points.size(), &fall_points_);
      FallVerdict v = TestFall(fall_points_, facade_, config_.limits);
      ++stats_.rejections[std::string(v.reason)];
    }
  }
}

void ThrownObjectAnalyzer::Process(const Frame& frame, EventSink& sink) {
  ++stats_.frames;
  if (frame.image.empty() || frame.image.type() != CV_8UC3 || frame.image.cols < 16 ||
      frame.image.rows < 16) {
    ++stats_.bad_frames;
    BadFrames().Inc();
    return;
  }
  const Frame* f = &frame;
  Frame fixed;
  if (last_pts_ms_ >= 0 && frame.pts_ms <= last_pts_ms_) {
    // Time must move forward for the physics: a source that repeats or rewinds timestamps
    // gets them spaced at the nominal rate.
    const double fps = camera_.fps > 0 ? camera_.fps : 25;
    fixed = frame;
    fixed.pts_ms = last_pts_ms_ + std::max<int64_t>(1, std::llround(1000.0 / fps));
    f = &fixed;
  }
  last_pts_ms_ = f->pts_ms;
  try {
    ProcessFrame(*f, sink);
  } catch (const cv::Exception& e) {
    ++stats_.bad_frames;
    BadFrames().Inc();
    log::Warn("thrown_object: frame skipped",
              {{"camera", camera_.camera_id}, {"error", e.what()}});
  }
}

void ThrownObjectAnalyzer::Finish(int64_t /*pts_ms*/, EventSink& sink) {
  if (!tracker_) return;
  ended_.clear();
  tracker_->Flush(&ended_);
  for (Track& t : ended_) {
    if (t.confirmed) End(t, sink);
  }
  ended_.clear();
  open_.clear();
}

}  // namespace thrown

void RegisterThrownObject(AnalyzerRegistry& registry) {
  registry.Register(
      "thrown_object",
      [](const YAML::Node& params, const std::string& key,
         const CameraContext& camera) -> Result<std::unique_ptr<Analyzer>> {
        LINLI_ASSIGN_OR_RETURN(auto cfg, thrown::ParseThrownObjectConfig(params, key, camera));
        return std::unique_ptr<Analyzer>(
            std::make_unique<thrown::ThrownObjectAnalyzer>(std::move(cfg), camera));
      });
}

}  // namespace linli::edge
