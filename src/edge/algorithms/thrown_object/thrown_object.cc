#include "edge/algorithms/thrown_object/thrown_object.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

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

// An event from kBegin to kEnd. Its points may come from several tracks: a track that breaks
// (the object crossed a patch of its own colour, a streak split in two) is continued by the
// next track that confirms where the fall's parabola predicts; until then the event lingers.
struct ThrownObjectAnalyzer::OpenEvent {
  std::string id;
  std::vector<TrackPointPx> prefix;  // points of earlier tracks of this event
  int64_t track_id = -1;             // live track, or -1 while lingering
  size_t first_point = 0;            // index into the live track's points
  int64_t linger_until_ms = 0;
  FallVerdict verdict;               // at confirmation
  cv::Mat snapshot;                  // the last frame the object was seen in
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
  suppressed_ = cv::Mat(work_size_, CV_8U, cv::Scalar(0));
  activity_ = cv::Mat(fg_->tiles().size(), CV_32F, cv::Scalar(0));
  busy_ = cv::Mat(fg_->tiles().size(), CV_32F, cv::Scalar(0));
  activity_frames_ = 0;
  warm_until_ms_ = -1;
  suppress_frames_ = std::clamp(static_cast<int>(std::lround(config_.suppress_s * fps)), 1, 255);
  const FacadeModel* facade = &facade_;
  TrackerOptions topt = config_.tracker;
  topt.max_hidden_frames = static_cast<int>(std::lround(config_.max_hidden_s * fps));
  tracker_ = std::make_unique<Tracker>(topt,
                                       [facade](cv::Point2d p) { return facade->GravityPx(p); });
  tracker_->SetHiddenTest([this](const Track& t) { return Hidden(t); });
  blobs_.reserve(static_cast<size_t>(config_.max_blobs));
  events_.clear();
  duplicates_.clear();
  recent_.clear();
}

// Connected components of the mask, only where the foreground tiles are (the mask is
// sparse; a full-frame labelling would cost more than everything else together).
void ThrownObjectAnalyzer::Components(const cv::Mat& mask) {
  candidates_.clear();
  const cv::Mat& tiles = fg_->tiles();
  const int active = cv::countNonZero(tiles);
  if (active == 0) return;
  // Components of the mask closed by one pixel (an object seen through a railing or across
  // the bars of a window frame falls apart into fragments), measured on the mask's own pixels.
  const cv::Mat& img = fg_->differenced();
  const bool colours = img.type() == CV_8UC3 && img.size() == mask.size();
  auto Collect = [&](const cv::Mat& m, cv::Point offset) {
    static const cv::Mat k3 = cv::getStructuringElement(cv::MORPH_RECT, {3, 3});
    cv::dilate(m, closed_, k3);
    const int n = cv::connectedComponents(closed_, labels_, 8, CV_32S);
    if (n <= 1) return;
    acc_.assign(static_cast<size_t>(n), Acc());
    for (int y = 0; y < m.rows; ++y) {
      const uint8_t* pm = m.ptr<uint8_t>(y);
      const int* pl = labels_.ptr<int>(y);
      for (int x = 0; x < m.cols; ++x) {
        if (!pm[x]) continue;
        Acc& a = acc_[static_cast<size_t>(pl[x])];
        a.n += 1;
        a.sx += x;
        a.sy += y;
        if (colours) {
          const cv::Point q(x + offset.x, y + offset.y);
          const cv::Vec3b& c = img.at<cv::Vec3b>(q);
          const int d = fg_->Contrast(q, c);
          if (d > a.contrast) {
            a.contrast = d;
            a.colour = c;
          }
        }
        a.x0 = std::min(a.x0, x);
        a.y0 = std::min(a.y0, y);
        a.x1 = std::max(a.x1, x);
        a.y1 = std::max(a.y1, y);
      }
    }
    for (int i = 1; i < n; ++i) {
      const Acc& a = acc_[static_cast<size_t>(i)];
      if (a.n == 0) continue;
      candidates_.push_back({cv::Rect(a.x0 + offset.x, a.y0 + offset.y, a.x1 - a.x0 + 1,
                                      a.y1 - a.y0 + 1),
                             cv::Point2d(a.sx / a.n + offset.x, a.sy / a.n + offset.y),
                             static_cast<double>(a.n), a.colour});
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
  constexpr int kT = ForegroundDetector::kTile;
  busy_.setTo(0);
  const cv::Rect mask_rect(0, 0, mask.cols, mask.rows);
  for (const Candidate& cand : candidates_) {
    if (cand.area < config_.min_area_px) continue;
    // This frame's blobs make their tiles busy (after the blobs have read the activity).
    const cv::Rect tr = cv::Rect(cand.box.x / kT, cand.box.y / kT,
                                 (cand.box.x + cand.box.width - 1) / kT - cand.box.x / kT + 1,
                                 (cand.box.y + cand.box.height - 1) / kT - cand.box.y / kT + 1) &
                        cv::Rect(0, 0, busy_.cols, busy_.rows);
    if (tr.area() > 0) busy_(tr).setTo(1.0f);
    Blob b;
    b.centre = cv::Point2d(cand.centre.x / scale_ + roi_.x, cand.centre.y / scale_ + roi_.y);
    b.box = cv::Rect(static_cast<int>(cand.box.x / scale_) + roi_.x,
                     static_cast<int>(cand.box.y / scale_) + roi_.y,
                     std::max(1, static_cast<int>(std::ceil(cand.box.width / scale_))),
                     std::max(1, static_cast<int>(std::ceil(cand.box.height / scale_))));
    b.area = cand.area / (scale_ * scale_);
    b.size = std::max(b.box.width, b.box.height);
    b.colour = cand.colour;
    // Size limits from the facade's scale: wider than a thrown object can be (an insect on
    // the lens, a lit window, a shadow) is not one — it joins the background at once and
    // the small fragments around it are ignored; height may add motion blur.
    const double ppm = facade_.PxPerMetre(b.centre);
    const double max_w = config_.max_object_m * ppm + 2.0 / scale_;
    const double max_h = max_w + ppm * kMaxFallSpeed * 0.5 / fps;
    if (b.box.width > max_w || b.box.height > max_h) {
      // Its box, with a margin, stays suppressed while the model recovers (the ghost an
      // insect leaves, the fragments of a window being absorbed). Only its box: with rain,
      // oversized streaks come every frame, and suppressing their surroundings (it was their
      // 16 px tiles and the tiles around) left no place on the facade where a track could
      // start.
      fg_->Absorb(cand.box);
      const int m = 3 + static_cast<int>(0.25 * std::max(cand.box.width, cand.box.height));
      const cv::Rect sr = cv::Rect(cand.box.x - m, cand.box.y - m, cand.box.width + 2 * m,
                                   cand.box.height + 2 * m) &
                          cv::Rect(0, 0, suppressed_.cols, suppressed_.rows);
      if (sr.area() > 0) suppressed_(sr).setTo(suppress_frames_);
      continue;
    }
    // Surroundings: foreground in a ring about the blob's size around it, relative to the
    // blob's own pixels (a limb of a person, a piece of a tree canopy has much).
    {
      const int pad = std::max(3, static_cast<int>(std::lround(
                                      std::max(cand.box.width, cand.box.height) * 1.0)));
      const cv::Rect around =
          cv::Rect(cand.box.x - pad, cand.box.y - pad, cand.box.width + 2 * pad,
                   cand.box.height + 2 * pad) &
          mask_rect;
      const double near = cv::countNonZero(mask(around)) - cand.area;
      b.context = std::max(0.0, near) / std::max(1.0, cand.area);
      const int tx = std::clamp(static_cast<int>(cand.centre.x) / kT, 0, activity_.cols - 1);
      const int ty = std::clamp(static_cast<int>(cand.centre.y) / kT, 0, activity_.rows - 1);
      b.activity = activity_.at<float>(ty, tx);
    }
    blobs_.push_back(b);
    blob_work_.push_back(cand.centre);
  }
  {
    // A running mean until the time constant is reached, then a moving average.
    ++activity_frames_;
    const double alpha = 1.0 / std::min(static_cast<double>(activity_frames_),
                                        std::max(1.0, config_.activity_s * fps));
    cv::addWeighted(activity_, 1 - alpha, busy_, alpha, 0, activity_);
  }
  {
    size_t k = 0;
    for (size_t i = 0; i < blobs_.size(); ++i) {
      const cv::Point2d& c = blob_work_[i];
      const int x = std::clamp(static_cast<int>(c.x), 0, suppressed_.cols - 1);
      const int y = std::clamp(static_cast<int>(c.y), 0, suppressed_.rows - 1);
      blobs_[i].weak = suppressed_.at<uint8_t>(y, x) != 0;
      blobs_[k++] = blobs_[i];
    }
    blobs_.resize(k);
  }
  blob_work_.clear();
  if (static_cast<int>(blobs_.size()) > config_.max_blobs) {
    blobs_.resize(static_cast<size_t>(config_.max_blobs));
  }
  stats_.blobs += static_cast<int64_t>(blobs_.size());
}

// Whether track `t`, which got no measurement, is where the object cannot be seen: at its
// predicted place (within half its size) most pixels would not show the object's colour as
// foreground — a dark object over a dark window, a light one over a lit window. Camouflage,
// not absence: the track coasts on (Tracker's max_hidden_frames) and the physics does not
// count the frame as a gap.
bool ThrownObjectAnalyzer::Hidden(const Track& t) const {
  if (!fg_ || t.points.empty()) return false;
  // Only an object that falls (moving down faster than 1 m/s) and that stood out clearly
  // where it was last seen (twice the threshold): a faint blob is near its background
  // everywhere and would be excused everywhere.
  const TrackPointPx& last = t.points.back();
  if (t.x[3] < facade_.GravityPx(last.centre) / 9.81) return false;
  auto Work = [&](double x, double y) {
    return cv::Point(static_cast<int>(std::lround((x - roi_.x) * scale_)),
                     static_cast<int>(std::lround((y - roi_.y) * scale_)));
  };
  // The object's colour: that of the last three points that stood out most where it was
  // seen (one at a band's edge shows little).
  int seen = -1, k = 0;
  cv::Vec3b colour;
  for (auto it = t.points.rbegin(); it != t.points.rend() && k < 3; ++it, ++k) {
    const int d = fg_->Contrast(Work(it->centre.x, it->centre.y), it->colour);
    if (d > seen) {
      seen = d;
      colour = it->colour;
    }
  }
  if (seen < 2 * fg_->threshold()) return false;
  const cv::Point c = Work(t.x[0], t.x[1]);
  if (c.x < 0 || c.y < 0 || c.x >= work_size_.width || c.y >= work_size_.height) return false;
  const int r = std::max(1, static_cast<int>(std::lround(0.5 * last.size * scale_)));
  int hidden = 0, all = 0;
  for (int dy = -r; dy <= r; ++dy) {
    for (int dx = -r; dx <= r; ++dx) {
      ++all;
      hidden += !fg_->Detectable(c + cv::Point(dx, dy), colour);
    }
  }
  return 2 * hidden >= all;
}

// How many of track `t`'s hidden misses lie between `from_ms` and `to_ms`.
static int HiddenBetween(const Track& t, int64_t from_ms, int64_t to_ms) {
  return static_cast<int>(std::count_if(t.hidden_ms.begin(), t.hidden_ms.end(), [&](int64_t ms) {
    return ms > from_ms && ms < to_ms;
  }));
}

// Upswing (physics.h) of the track's points before `first`.
double ThrownObjectAnalyzer::TrackUpswing(const Track& t, size_t first) const {
  if (first == 0) return 0;
  std::vector<FallPoint> before;
  FallPoints(t, 0, first + 1, &before);
  return Upswing(before, before.back().t_s);
}

void ThrownObjectAnalyzer::FallPoints(const Track& t, size_t first, size_t last,
                                      std::vector<FallPoint>* out) const {
  out->clear();
  for (size_t i = first; i < last && i < t.points.size(); ++i) {
    const TrackPointPx& p = t.points[i];
    out->push_back({static_cast<double>(p.pts_ms) / 1000.0, p.centre, p.size, p.area,
                    p.context, p.activity});
  }
}

std::vector<TrackPointPx> ThrownObjectAnalyzer::EventPoints(const OpenEvent& ev) const {
  std::vector<TrackPointPx> pts = ev.prefix;
  if (ev.track_id >= 0) {
    for (const Track& t : tracker_->tracks()) {
      if (t.id != ev.track_id) continue;
      pts.insert(pts.end(), t.points.begin() + static_cast<long>(ev.first_point), t.points.end());
    }
    for (const Track& t : ended_) {
      if (t.id != ev.track_id) continue;
      pts.insert(pts.end(), t.points.begin() + static_cast<long>(ev.first_point), t.points.end());
    }
  }
  return pts;
}

EdgeEvent ThrownObjectAnalyzer::MakeEvent(const OpenEvent& ev, EventPhase phase) const {
  Track t;
  t.points = EventPoints(ev);
  const size_t first = 0;
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
  e.data["points"] = static_cast<int64_t>(t.points.size());
  e.data["trajectory"] = std::move(traj);
  if (!ev.snapshot.empty()) {
    e.snapshot = ev.snapshot;
    e.snapshot_pts_ms = ev.snapshot_pts_ms;
  }
  return e;
}

void ThrownObjectAnalyzer::Confirm(Track& t, const FallVerdict& v, size_t first,
                                   const Frame& frame, EventSink& sink) {
  t.confirmed = true;
  // The fall segment starts at `first`, the first point the test ran on.
  const TrackPointPx& head = t.points[first];
  const TrackPointPx& tail = t.points.back();
  // A second track on an object an event already follows (a streak split in two).
  for (const auto& ev : events_) {
    if (ev->track_id < 0) continue;
    for (const Track& o : tracker_->tracks()) {
      if (o.id != ev->track_id || o.points.empty()) continue;
      const TrackPointPx& p = o.points.back();
      if (std::abs(p.pts_ms - tail.pts_ms) <= 80 &&
          std::hypot(p.centre.x - tail.centre.x, p.centre.y - tail.centre.y) <=
              6 + 2 * std::max(p.size, tail.size)) {
        duplicates_.insert(t.id);
        return;
      }
    }
  }
  // The parabola of an event (its last points) predicts where the new track's fall segment
  // lies: on a live event, the new track is a second track on the same object (a streak
  // split in two, a fragment the tracker lost and found again); on a lingering one, its
  // continuation.
  auto OnParabola = [&](const std::vector<TrackPointPx>& pts) {
    if (pts.size() < 3) return false;
    const TrackPointPx& last = pts.back();
    const size_t from = pts.size() > 25 ? pts.size() - 25 : 0;
    std::vector<double> tt, xs, ys;
    for (size_t i = from; i < pts.size(); ++i) {
      tt.push_back(static_cast<double>(pts[i].pts_ms - last.pts_ms) / 1000.0);
      xs.push_back(pts[i].centre.x);
      ys.push_back(pts[i].centre.y);
    }
    auto qy = FitQuadratic(tt, ys);
    auto lx = FitLinear(tt, xs);
    if (!qy || !lx) return false;
    const TrackPointPx* probes[] = {&head, &t.points[(first + t.points.size() - 1) / 2], &tail};
    for (const TrackPointPx* p : probes) {
      const double dt = static_cast<double>(p->pts_ms - last.pts_ms) / 1000.0;
      const cv::Point2d pred(lx->c0 + lx->c1 * dt, qy->c0 + qy->c1 * dt + qy->c2 * dt * dt);
      const double travel = std::hypot(pred.x - last.centre.x, pred.y - last.centre.y);
      const double gate = 6 + 2 * std::max(last.size, p->size) + 0.25 * travel;
      if (std::hypot(pred.x - p->centre.x, pred.y - p->centre.y) > gate) return false;
    }
    return true;
  };
  for (auto& ev : events_) {
    if (ev->track_id >= 0) {
      if (OnParabola(EventPoints(*ev))) {
        duplicates_.insert(t.id);
        return;
      }
      continue;
    }
    if (ev->prefix.size() < 3) continue;
    if (head.pts_ms <= ev->prefix.back().pts_ms - 100 || head.pts_ms > ev->linger_until_ms) {
      continue;
    }
    if (!OnParabola(ev->prefix)) continue;
    ev->track_id = t.id;
    ev->first_point = first;
    frame.image.copyTo(ev->snapshot);
    ev->snapshot_pts_ms = frame.pts_ms;
    return;
  }
  auto ev = std::make_unique<OpenEvent>();
  ev->id = NewUuid();
  ev->verdict = v;
  ev->track_id = t.id;
  ev->first_point = first;
  ev->prefix = EarlierFragments(t, first);
  frame.image.copyTo(ev->snapshot);
  ev->snapshot_pts_ms = frame.pts_ms;
  ++stats_.events;
  EventsTotal().Inc();
  sink.Emit(MakeEvent(*ev, EventPhase::kBegin));
  events_.push_back(std::move(ev));
}

// Points of recently ended, unconfirmed tracks that lie on the backward extension of this
// track's fall (the slow start of a fall, lost before it could be confirmed), oldest first.
std::vector<TrackPointPx> ThrownObjectAnalyzer::EarlierFragments(const Track& t,
                                                                 size_t first) {
  std::vector<TrackPointPx> pts(t.points.begin() + static_cast<long>(first), t.points.end());
  std::vector<TrackPointPx> found;
  std::vector<char> used(recent_.size(), 0);
  for (int round = 0; round < 4; ++round) {
    const TrackPointPx& head = found.empty() ? pts.front() : found.front();
    std::vector<double> tt, xs, ys;
    auto Add = [&](const TrackPointPx& p) {
      tt.push_back(static_cast<double>(p.pts_ms - head.pts_ms) / 1000.0);
      xs.push_back(p.centre.x);
      ys.push_back(p.centre.y);
    };
    for (const auto& p : found) Add(p);
    for (size_t i = 0; i < pts.size() && i < 30; ++i) Add(pts[i]);
    auto qy = FitQuadratic(tt, ys);
    auto lx = FitLinear(tt, xs);
    if (!qy || !lx || qy->c2 <= 0) break;
    bool added = false;
    for (size_t k = 0; k < recent_.size(); ++k) {
      if (used[k]) continue;
      const auto& frag = recent_[k];
      if (frag.back().pts_ms >= head.pts_ms + 50 ||
          frag.back().pts_ms < head.pts_ms - 2500) {
        continue;
      }
      int near = 0;
      for (const TrackPointPx& p : frag) {
        const double dt = static_cast<double>(p.pts_ms - head.pts_ms) / 1000.0;
        const cv::Point2d pred(lx->c0 + lx->c1 * dt, qy->c0 + qy->c1 * dt + qy->c2 * dt * dt);
        const double back = std::hypot(pred.x - head.centre.x, pred.y - head.centre.y);
        near += std::hypot(pred.x - p.centre.x, pred.y - p.centre.y) <=
                3 + 0.5 * p.size + 0.1 * back;
      }
      if (near * 4 < static_cast<int>(frag.size()) * 3) continue;
      used[k] = 1;
      for (const TrackPointPx& p : frag) {
        if (p.pts_ms < head.pts_ms) found.push_back(p);
      }
      std::sort(found.begin(), found.end(),
                [](const TrackPointPx& a, const TrackPointPx& b) { return a.pts_ms < b.pts_ms; });
      added = true;
    }
    if (!added) break;
  }
  return found;
}

// The track of an event ended: the event lingers for a continuation.
void ThrownObjectAnalyzer::TrackEnded(const Track& t) {
  duplicates_.erase(t.id);
  for (auto& ev : events_) {
    if (ev->track_id != t.id) continue;
    ev->prefix = EventPoints(*ev);
    ev->track_id = -1;
    ev->first_point = 0;
    ev->linger_until_ms =
        (ev->prefix.empty() ? 0 : ev->prefix.back().pts_ms) +
        static_cast<int64_t>(config_.merge_gap_s * 1000);
  }
}

// Ends lingering events whose time is up (all lingering ones if `all`).
void ThrownObjectAnalyzer::EndLingering(int64_t now_ms, bool all, EventSink& sink) {
  for (size_t i = 0; i < events_.size();) {
    OpenEvent& ev = *events_[i];
    if (ev.track_id < 0 && (all || now_ms > ev.linger_until_ms)) {
      sink.Emit(MakeEvent(ev, EventPhase::kEnd));
      events_.erase(events_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
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
  // Until the activity map has seen half its time constant it cannot tell a busy place from
  // a quiet one: no track is confirmed in that first second after a (re)start.
  if (warm_until_ms_ < 0) {
    warm_until_ms_ = frame.pts_ms + static_cast<int64_t>(config_.activity_s * 500);
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
      for (auto& ev : events_) {
        if (ev->track_id != t.id) continue;
        frame.image.copyTo(ev->snapshot);
        ev->snapshot_pts_ms = frame.pts_ms;
      }
      continue;
    }
    if (static_cast<int>(t.points.size()) < config_.limits.min_points) continue;
    if (frame.pts_ms < warm_until_ms_) continue;
    size_t first = 0;
    while (first + 1 < t.points.size() &&
           t.points.back().pts_ms - t.points[first].pts_ms > window_ms) {
      ++first;
    }
    FallPoints(t, first, t.points.size(), &fall_points_);
    // A track that rested before (the object on a sill, or residue the fall took over) is
    // tested from where it left its resting place.
    const size_t departure = DepartureIndex(fall_points_);
    if (departure > 0) {
      fall_points_.erase(fall_points_.begin(), fall_points_.begin() + static_cast<long>(departure));
      first += departure;
    }
    ++stats_.tracks_tested;
    ++t.tests;
    FallVerdict v = TestFall(fall_points_, facade_, config_.limits,
                             HiddenBetween(t, t.points[first].pts_ms, t.points.back().pts_ms));
    if (v.accepted) {
      const double upswing = TrackUpswing(t, first);
      if (upswing > config_.limits.max_upswing_sizes * std::max(2.0, t.points[first].size) + 3) {
        v.accepted = false;
        v.reason = "oscillating";
      } else {
        Confirm(t, v, first, frame, sink);
        if (!events_.empty() && events_.back()->track_id == t.id && t.confirmed) {
          char buf[160];
          std::snprintf(buf, sizeof buf,
                        "context=%.2f activity=%.2f jumps=%.2f upswing=%.1f size=%.1f",
                        v.context, v.activity, v.size_jumps, upswing, t.points[first].size);
          stats_.event_features[events_.back()->id] = buf;
        }
      }
    }
  }
  for (Track& t : ended_) {
    if (t.confirmed) {
      TrackEnded(t);
    } else {
      if (t.points.size() >= 2 && !duplicates_.count(t.id)) {
        recent_.push_back(t.points);
        if (recent_.size() > 64) recent_.pop_front();
      }
    }
    if (!t.confirmed && static_cast<int>(t.points.size()) >= config_.limits.min_points) {
      FallPoints(t, 0, t.points.size(), &fall_points_);
      const size_t departure = DepartureIndex(fall_points_);
      if (departure > 0) {
        fall_points_.erase(fall_points_.begin(),
                           fall_points_.begin() + static_cast<long>(departure));
      }
      const int hidden = HiddenBetween(t, t.points[departure].pts_ms, t.points.back().pts_ms);
      FallVerdict v = TestFall(fall_points_, facade_, config_.limits, hidden);
      ++stats_.rejections[std::string(v.reason)];
      if (t.points.size() >= 12) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "%zu pts %lld..%lld ms %s g=%.1f rms=%.1fpx rms_x=%.1fpx vx=%.1f fall=%.1fm "
                      "(%.0f,%.0f)->(%.0f,%.0f)",
                      t.points.size(), static_cast<long long>(t.points.front().pts_ms),
                      static_cast<long long>(t.points.back().pts_ms),
                      std::string(v.reason).c_str(), v.g_mps2, v.rms_px, v.rms_x_px, v.vx_mps,
                      v.fall_m, t.points.front().centre.x, t.points.front().centre.y,
                      t.points.back().centre.x, t.points.back().centre.y);
        auto& lr = stats_.long_rejections;
        lr.emplace_back(t.points.size(), buf);
        std::sort(lr.begin(), lr.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        if (lr.size() > 8) lr.resize(8);
      }
    }
  }
  ended_.clear();
  EndLingering(frame.pts_ms, false, sink);
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
    if (t.confirmed) TrackEnded(t);
  }
  ended_.clear();
  EndLingering(0, true, sink);
  events_.clear();
  duplicates_.clear();
  recent_.clear();
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
