// The three zone analyzers: zone_intrusion, loitering, crowd (see zones.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/ids.h"
#include "common/log.h"
#include "edge/algorithms/zones/people_stage.h"
#include "edge/algorithms/zones/zones.h"

namespace linli::edge {

namespace {

constexpr std::size_t kMaxPathPoints = 60;

// One open event with its best snapshot and the trajectories of the people involved.
class OpenEvent {
 public:
  OpenEvent(std::string type, std::string camera_id, std::string zone, int64_t start_ms) {
    ev_.id = NewUuid();
    ev_.type = std::move(type);
    ev_.camera_id = std::move(camera_id);
    ev_.zone = std::move(zone);
    ev_.start_ms = ev_.end_ms = start_ms;
  }
  EdgeEvent& ev() { return ev_; }

  // Refreshes boxes, trajectories and the snapshot from the people `ids` on `frame`.
  void Observe(const Frame& frame, const PeopleTracker& tracker, const std::vector<int>& ids,
               cv::Size size) {
    bool changed = std::set<int>(ids.begin(), ids.end()) != current_;
    current_ = std::set<int>(ids.begin(), ids.end());
    ev_.boxes.clear();
    float best_q = 0;
    for (int id : ids) {
      const Track* t = tracker.Find(id);
      if (!t) continue;
      ev_.boxes.push_back(ToNormBox(t->box, size, t->score, "person"));
      paths_[id] = t->path;
      ev_.score = std::max(ev_.score, t->mean_score);
      if (!t->detected) continue;  // a followed box is placed less exactly
      float area = t->box.area() / std::max(1.f, static_cast<float>(size.area()));
      best_q = std::max(best_q, t->score * std::sqrt(area));
    }
    if (best_q > best_quality_ * 1.05f) {
      best_quality_ = best_q;
      ev_.snapshot = frame.image;  // frames are not modified after Process(): no copy needed
      ev_.snapshot_pts_ms = frame.pts_ms;
      changed = true;
    }
    dirty_ = dirty_ || changed;
    size_ = size;
  }

  void Emit(EventPhase phase, EventSink& sink, int64_t now_ms) {
    ev_.phase = phase;
    Json tracks = Json::array();
    std::vector<TrackPoint> longest;
    for (const auto& [id, path] : paths_) {
      tracks.push_back(PathJson(id, path, size_, kMaxPathPoints));
      if (path.size() > longest.size()) longest = path;
    }
    ev_.trajectory = NormPath(longest, size_, kMaxPathPoints);
    ev_.data["tracks"] = tracks;
    ev_.data["people"] = static_cast<int>(current_.size());
    ev_.data["people_total"] = static_cast<int>(paths_.size());
    sink.Emit(ev_);
    last_emit_ms_ = now_ms;
    dirty_ = false;
  }
  // Emits an update if something changed and the update interval has passed.
  void MaybeUpdate(EventSink& sink, int64_t now_ms, int64_t interval_ms) {
    if (dirty_ && now_ms - last_emit_ms_ >= interval_ms) Emit(EventPhase::kUpdate, sink, now_ms);
  }

 private:
  EdgeEvent ev_;
  std::set<int> current_;
  std::map<int, std::vector<TrackPoint>> paths_;
  float best_quality_ = 0;
  bool dirty_ = false;
  int64_t last_emit_ms_ = 0;
  cv::Size size_;
};

class ZoneAnalyzerBase : public Analyzer {
 public:
  ZoneAnalyzerBase(std::string name, ZoneCommonParams p, const CameraContext& camera)
      : name_(std::move(name)), p_(std::move(p)), camera_id_(camera.camera_id),
        stage_(p_, camera.camera_id) {
    for (const auto& z : p_.zones) watches_.emplace_back(z, p_.presence);
  }
  std::string_view Name() const override { return name_; }
  FrameNeeds Needs() const override {
    FrameNeeds n;
    n.full_rate = false;
    n.max_width = 640;
    n.motion_gated = p_.motion_gated;
    return n;
  }
  void Process(const Frame& frame, EventSink& sink) override {
    if (frame.image.empty()) return;
    try {
      if (!stage_.Step(frame)) return;
      for (auto& w : watches_) w.Update(frame.pts_ms, stage_.tracker(), stage_.frame_size());
      OnFrame(frame, sink);
    } catch (const cv::Exception& e) {
      if (cv_errors_++ % 100 == 0)
        log::Warn("zone analyzer failed on a frame",
                  {{"camera", camera_id_}, {"analyzer", name_}, {"error", e.what()}});
    }
  }

 protected:
  virtual void OnFrame(const Frame& frame, EventSink& sink) = 0;
  std::string name_;
  ZoneCommonParams p_;
  std::string camera_id_;
  PeopleStage stage_;
  std::vector<ZoneWatch> watches_;
  int64_t cv_errors_ = 0;
};

// --- zone_intrusion -------------------------------------------------------------------------

class ZoneIntrusion final : public ZoneAnalyzerBase {
 public:
  using ZoneAnalyzerBase::ZoneAnalyzerBase;

  void Finish(int64_t pts_ms, EventSink& sink) override {
    for (auto& [zone, ev] : open_) {
      (void)zone;
      ev->Emit(EventPhase::kEnd, sink, pts_ms);
    }
    open_.clear();
  }

 private:
  void OnFrame(const Frame& frame, EventSink& sink) override {
    for (auto& w : watches_) {
      std::vector<int> present = w.Present();
      auto it = open_.find(w.zone().name);
      if (it == open_.end()) {
        if (present.empty()) continue;
        int64_t start = frame.pts_ms;
        for (int id : present)
          if (const ZonePresence* zp = w.Get(id)) start = std::min(start, zp->entered_ms());
        auto ev = std::make_unique<OpenEvent>(p_.event_type, camera_id_, w.zone().name, start);
        ev->Observe(frame, stage_.tracker(), present, stage_.frame_size());
        ev->ev().end_ms = frame.pts_ms;
        ev->ev().data = Json{{"dwell_s", (frame.pts_ms - start) / 1000.0}};
        ev->Emit(EventPhase::kBegin, sink, frame.pts_ms);
        open_.emplace(w.zone().name, std::move(ev));
        continue;
      }
      OpenEvent& ev = *it->second;
      if (present.empty()) {
        ev.Emit(EventPhase::kEnd, sink, frame.pts_ms);
        open_.erase(it);
        continue;
      }
      int64_t last = ev.ev().end_ms;
      for (int id : present)
        if (const ZonePresence* zp = w.Get(id)) last = std::max(last, zp->last_inside_ms());
      ev.Observe(frame, stage_.tracker(), present, stage_.frame_size());
      ev.ev().end_ms = last;
      ev.ev().data["dwell_s"] = (last - ev.ev().start_ms) / 1000.0;
      ev.MaybeUpdate(sink, frame.pts_ms, p_.update_interval_ms);
    }
  }

  std::map<std::string, std::unique_ptr<OpenEvent>> open_;
};

// --- loitering ------------------------------------------------------------------------------

class Loitering final : public ZoneAnalyzerBase {
 public:
  Loitering(ZoneCommonParams p, const CameraContext& camera, int64_t loiter_ms, float max_radius)
      : ZoneAnalyzerBase("loitering", std::move(p), camera),
        loiter_ms_(loiter_ms), max_radius_(max_radius) {}

  void Finish(int64_t pts_ms, EventSink& sink) override {
    for (auto& [k, ev] : open_) {
      (void)k;
      ev->Emit(EventPhase::kEnd, sink, pts_ms);
    }
    open_.clear();
  }

 private:
  // Radius (in frame heights) of the feet positions since `since_ms`: the largest distance
  // from their mean.
  float Radius(const Track& t, int64_t since_ms, cv::Size size) const {
    cv::Point2f mean(0, 0);
    int n = 0;
    for (const auto& p : t.path)
      if (p.pts_ms >= since_ms) {
        mean += cv::Point2f(p.x, p.y);
        ++n;
      }
    if (n == 0) return 0;
    mean *= 1.f / n;
    float r = 0;
    for (const auto& p : t.path)
      if (p.pts_ms >= since_ms) r = std::max(r, static_cast<float>(cv::norm(cv::Point2f(p.x, p.y) - mean)));
    return r / std::max(1, size.height);
  }

  void OnFrame(const Frame& frame, EventSink& sink) override {
    for (auto& w : watches_) {
      std::set<int> present;
      for (int id : w.Present()) present.insert(id);
      for (int id : present) {
        auto key = std::make_pair(w.zone().name, id);
        const ZonePresence* zp = w.Get(id);
        const Track* t = stage_.tracker().Find(id);
        auto it = open_.find(key);
        if (it == open_.end()) {
          if (!zp || !t) continue;
          int64_t stay = frame.pts_ms - zp->entered_ms();
          if (stay < loiter_ms_) continue;
          float radius = Radius(*t, frame.pts_ms - loiter_ms_, stage_.frame_size());
          if (max_radius_ > 0 && radius > max_radius_) continue;
          auto ev = std::make_unique<OpenEvent>(p_.event_type, camera_id_, w.zone().name,
                                                zp->entered_ms());
          ev->Observe(frame, stage_.tracker(), {id}, stage_.frame_size());
          ev->ev().end_ms = zp->last_inside_ms();
          ev->ev().data = Json{{"track", id}, {"dwell_s", stay / 1000.0},
                               {"radius", std::round(radius * 1e3) / 1e3}};
          ev->Emit(EventPhase::kBegin, sink, frame.pts_ms);
          open_.emplace(key, std::move(ev));
        } else if (zp) {
          OpenEvent& ev = *it->second;
          ev.Observe(frame, stage_.tracker(), {id}, stage_.frame_size());
          ev.ev().end_ms = std::max(ev.ev().end_ms, zp->last_inside_ms());
          ev.ev().data["dwell_s"] = (zp->last_inside_ms() - zp->entered_ms()) / 1000.0;
          ev.MaybeUpdate(sink, frame.pts_ms, p_.update_interval_ms);
        }
      }
      for (auto it = open_.begin(); it != open_.end();) {
        if (it->first.first == w.zone().name && !present.contains(it->first.second)) {
          it->second->Emit(EventPhase::kEnd, sink, frame.pts_ms);
          it = open_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  int64_t loiter_ms_;
  float max_radius_;
  std::map<std::pair<std::string, int>, std::unique_ptr<OpenEvent>> open_;
};

// --- crowd ----------------------------------------------------------------------------------

class Crowd final : public ZoneAnalyzerBase {
 public:
  Crowd(ZoneCommonParams p, const CameraContext& camera, int min_people, int64_t min_duration_ms,
        int64_t count_interval_ms)
      : ZoneAnalyzerBase("crowd", std::move(p), camera), min_people_(min_people),
        min_duration_ms_(min_duration_ms), count_interval_ms_(count_interval_ms) {
    for (const auto& w : watches_) state_[w.zone().name] = ZoneState{};
  }

  void Finish(int64_t pts_ms, EventSink& sink) override {
    for (auto& [zone, s] : state_) {
      (void)zone;
      if (s.open) {
        s.open->Emit(EventPhase::kEnd, sink, pts_ms);
        s.open.reset();
      }
      s = ZoneState{};
    }
  }

 private:
  static constexpr int64_t kCountGraceMs = 1000;
  struct ZoneState {
    int64_t above_since = -1;  // count ≥ min_people since (-1: not)
    int64_t below_since = -1;  // while open: count < min_people since
    int64_t last_above = 0;
    int64_t last_sample = -1;
    int max_count = 0;
    Json counts = Json::array();
    std::unique_ptr<OpenEvent> open;
  };

  void Sample(ZoneState& s, int64_t pts, int count) {
    if (s.last_sample >= 0 && pts - s.last_sample < count_interval_ms_) return;
    s.last_sample = pts;
    s.counts.push_back({pts, count});
    if (s.counts.size() > 3600) s.counts.erase(s.counts.begin());
  }

  void OnFrame(const Frame& frame, EventSink& sink) override {
    const int64_t now = frame.pts_ms;
    for (auto& w : watches_) {
      ZoneState& s = state_[w.zone().name];
      // Counted: people present in the zone and seen inside within the last second (a person
      // the detector missed for a frame or two still counts; one who left does not linger in
      // the count for the presence hysteresis: the crowd has its own).
      std::vector<int> present;
      int seen_now = 0;
      for (int id : w.Present()) {
        const ZonePresence* zp = w.Get(id);
        if (!zp || now - zp->last_inside_ms() > kCountGraceMs) continue;
        present.push_back(id);
        if (zp->last_inside_ms() == now) ++seen_now;
      }
      int count = static_cast<int>(present.size());
      bool above = count >= min_people_;
      if (above) {
        if (s.above_since < 0) {
          s.above_since = now;
          s.counts = Json::array();
          s.last_sample = -1;
          s.max_count = 0;
          s.last_above = now;
        }
        if (seen_now >= min_people_) s.last_above = now;
        s.below_since = -1;
      }
      if (s.above_since >= 0) {
        Sample(s, now, count);
        s.max_count = std::max(s.max_count, count);
      }
      if (!s.open) {
        if (!above) {
          s.above_since = -1;
          continue;
        }
        if (now - s.above_since < min_duration_ms_) continue;
        s.open = std::make_unique<OpenEvent>(p_.event_type, camera_id_, w.zone().name,
                                             s.above_since);
        s.open->Observe(frame, stage_.tracker(), present, stage_.frame_size());
        Fill(s, count);
        s.open->Emit(EventPhase::kBegin, sink, now);
        continue;
      }
      if (!above) {
        if (s.below_since < 0) s.below_since = now;
        if (now - s.below_since >= p_.presence.exit_ms) {
          s.open->ev().end_ms = s.last_above;
          Fill(s, count);
          s.open->Emit(EventPhase::kEnd, sink, now);
          s.open.reset();
          s.above_since = -1;
          continue;
        }
      }
      s.open->Observe(frame, stage_.tracker(), present, stage_.frame_size());
      s.open->ev().end_ms = s.last_above;
      Fill(s, count);
      s.open->MaybeUpdate(sink, now, p_.update_interval_ms);
    }
  }

  void Fill(ZoneState& s, int count) {
    EdgeEvent& ev = s.open->ev();
    ev.data["count"] = count;
    ev.data["max_count"] = s.max_count;
    ev.data["min_people"] = min_people_;
    ev.data["counts"] = s.counts;
  }

  int min_people_;
  int64_t min_duration_ms_;
  int64_t count_interval_ms_;
  std::map<std::string, ZoneState> state_;
};

}  // namespace

Result<std::unique_ptr<Analyzer>> MakeZoneIntrusion(const YAML::Node& params,
                                                    const std::string& key,
                                                    const CameraContext& camera) {
  ParamReader r(params, key);
  LINLI_ASSIGN_OR_RETURN(ZoneCommonParams p,
                         ParseZoneCommon(r, camera, PresenceParams{3, 1000, 2000},
                                         "vision.intrusion", {}));
  return std::unique_ptr<Analyzer>(new ZoneIntrusion("zone_intrusion", std::move(p), camera));
}

Result<std::unique_ptr<Analyzer>> MakeLoitering(const YAML::Node& params, const std::string& key,
                                                const CameraContext& camera) {
  ParamReader r(params, key);
  LINLI_ASSIGN_OR_RETURN(ZoneCommonParams p,
                         ParseZoneCommon(r, camera, PresenceParams{3, 1000, 3000},
                                         "vision.loitering", {"loiter_s", "max_radius"}));
  LINLI_ASSIGN_OR_RETURN(double loiter_s, r.Double("loiter_s", 60, 1, 86400));
  LINLI_ASSIGN_OR_RETURN(double radius, r.Double("max_radius", 0, 0, 2));
  // Loitering people hardly move; the track must survive the detector's gaps.
  if (!r.Has("max_gap_s")) p.tracker.max_gap_ms = 3000;
  return std::unique_ptr<Analyzer>(new Loitering(std::move(p), camera,
                                                 static_cast<int64_t>(loiter_s * 1000),
                                                 static_cast<float>(radius)));
}

Result<std::unique_ptr<Analyzer>> MakeCrowd(const YAML::Node& params, const std::string& key,
                                            const CameraContext& camera) {
  ParamReader r(params, key);
  LINLI_ASSIGN_OR_RETURN(ZoneCommonParams p,
                         ParseZoneCommon(r, camera, PresenceParams{2, 0, 3000}, "vision.crowd",
                                         {"min_people", "min_duration_s", "count_interval_s"}));
  LINLI_ASSIGN_OR_RETURN(int min_people, r.Int("min_people", 3, 2, 1000));
  LINLI_ASSIGN_OR_RETURN(double dur, r.Double("min_duration_s", 10, 0, 86400));
  LINLI_ASSIGN_OR_RETURN(double ci, r.Double("count_interval_s", 1, 0.1, 3600));
  return std::unique_ptr<Analyzer>(new Crowd(std::move(p), camera, min_people,
                                             static_cast<int64_t>(dur * 1000),
                                             static_cast<int64_t>(ci * 1000)));
}

void RegisterZoneAnalyzers(AnalyzerRegistry& registry) {
  registry.Register("zone_intrusion", MakeZoneIntrusion);
  registry.Register("loitering", MakeLoitering);
  registry.Register("crowd", MakeCrowd);
}

}  // namespace linli::edge
