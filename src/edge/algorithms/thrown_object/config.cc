// Parameters of the thrown_object analyzer (see thrown_object.h and docs/analytics.md).
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "edge/algorithms/thrown_object/thrown_object.h"

namespace linli::edge::thrown {
namespace {

std::string Range(double lo, double hi) {
  std::ostringstream s;
  s << "must be " << lo << ".." << hi;
  return s.str();
}

// Typed access to the analyzer's YAML mapping; every error names the full key.
class Params {
 public:
  Params(const YAML::Node& node, std::string key) : node_(node), key_(std::move(key)) {}

  std::string Key(const std::string& name) const { return key_ + "." + name; }
  bool Has(const char* name) const { return node_.IsMap() && node_[name].IsDefined() && !node_[name].IsNull(); }
  YAML::Node Get(const char* name) const { return node_[name]; }

  Result<void> Check(const std::set<std::string>& known) const {
    if (!node_.IsDefined() || node_.IsNull()) return {};
    if (!node_.IsMap()) return InvalidArgument(key_, "parameters must be a mapping");
    for (const auto& kv : node_) {
      std::string k = kv.first.as<std::string>("");
      if (!known.count(k)) return InvalidArgument(Key(k), "unknown parameter");
    }
    return {};
  }

  Result<double> Number(const char* name, double def, double lo, double hi) const {
    if (!Has(name)) return def;
    double v = 0;
    if (!node_[name].IsScalar() || !YAML::convert<double>::decode(node_[name], v) ||
        !std::isfinite(v)) {
      return InvalidArgument(Key(name), "must be a number");
    }
    if (v < lo || v > hi) return InvalidArgument(Key(name), Range(lo, hi));
    return v;
  }

  Result<int> Int(const char* name, int def, int lo, int hi) const {
    if (!Has(name)) return def;
    double v = 0;
    if (!node_[name].IsScalar() || !YAML::convert<double>::decode(node_[name], v) ||
        !std::isfinite(v) || v != std::floor(v)) {
      return InvalidArgument(Key(name), "must be an integer");
    }
    if (v < lo || v > hi) return InvalidArgument(Key(name), Range(lo, hi));
    return static_cast<int>(v);
  }

  Result<bool> Bool(const char* name, bool def) const {
    if (!Has(name)) return def;
    bool v = false;
    if (!node_[name].IsScalar() || !YAML::convert<bool>::decode(node_[name], v)) {
      return InvalidArgument(Key(name), "must be true or false");
    }
    return v;
  }

 private:
  YAML::Node node_;
  std::string key_;
};

Result<std::vector<cv::Point2f>> ParsePolygon(const YAML::Node& n, const std::string& key,
                                              size_t min_points) {
  if (!n.IsSequence()) return InvalidArgument(key, "must be a list of [x, y] points");
  std::vector<cv::Point2f> pts;
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node p = n[i];
    const std::string pk = key + "[" + std::to_string(i) + "]";
    double x = 0, y = 0;
    if (!p.IsSequence() || p.size() != 2 || !YAML::convert<double>::decode(p[0], x) ||
        !YAML::convert<double>::decode(p[1], y) || !std::isfinite(x) || !std::isfinite(y)) {
      return InvalidArgument(pk, "must be [x, y] (normalised numbers)");
    }
    if (x < -0.5 || x > 1.5 || y < -0.5 || y > 1.5) {
      return InvalidArgument(pk, "coordinates are normalised to the frame (-0.5..1.5 allowed)");
    }
    pts.emplace_back(static_cast<float>(x), static_cast<float>(y));
  }
  if (pts.size() < min_points) {
    return InvalidArgument(key, "needs at least " + std::to_string(min_points) + " points");
  }
  return pts;
}

const Zone* FindZone(const CameraContext& camera, const std::string& name) {
  for (const Zone& z : camera.zones) {
    if (z.name == name) return &z;
  }
  return nullptr;
}

// A polygon given inline or as the name of one of the camera's zones.
Result<std::vector<cv::Point2f>> PolygonOrZone(const YAML::Node& n, const std::string& key,
                                               const CameraContext& camera, size_t min_points,
                                               std::string* zone_name) {
  if (n.IsScalar()) {
    std::string name = n.as<std::string>("");
    const Zone* z = FindZone(camera, name);
    if (!z) return InvalidArgument(key, "no zone named \"" + name + "\" on this camera");
    if (z->points.size() < min_points) {
      return InvalidArgument(key, "zone \"" + name + "\" needs at least " +
                                      std::to_string(min_points) + " points");
    }
    if (zone_name) *zone_name = name;
    return z->points;
  }
  return ParsePolygon(n, key, min_points);
}

// Orders four corners as bottom-left, bottom-right, top-right, top-left.
std::array<cv::Point2f, 4> OrderCorners(const std::vector<cv::Point2f>& p) {
  std::array<cv::Point2f, 4> s = {p[0], p[1], p[2], p[3]};
  std::sort(s.begin(), s.end(), [](cv::Point2f a, cv::Point2f b) { return a.y > b.y; });
  cv::Point2f b0 = s[0], b1 = s[1], t0 = s[2], t1 = s[3];
  if (b0.x > b1.x) std::swap(b0, b1);
  if (t0.x > t1.x) std::swap(t0, t1);
  return {b0, b1, t1, t0};
}

}  // namespace

Result<ThrownObjectConfig> ParseThrownObjectConfig(const YAML::Node& params,
                                                   const std::string& key,
                                                   const CameraContext& camera) {
  Params p(params, key);
  LINLI_RETURN_IF_ERROR(p.Check({"facade", "floors", "columns", "lowest_floor",
                                 "floor_height_m", "width_m", "zone", "exclude", "min_fall_m",
                                 "min_points", "min_duration_s", "gravity_min", "gravity_max",
                                 "max_horizontal_mps", "max_residual_px", "max_object_m",
                                 "min_area_px", "max_blobs", "max_gap_frames", "background",
                                 "learning_s", "threshold", "min_threshold", "noise_k",
                                 "absorb_s", "shake_compensation", "process_width",
                                 "origin_backtrack_s", "fit_window_s", "max_width", "min_hit_ratio",
                                 "min_fall_sizes", "max_horizontal_accel", "merge_gap_s", "suppress_s",
                                 "max_context", "max_activity", "max_size_jumps",
                                 "max_upswing_sizes", "activity_s", "max_hidden_s"}));
  ThrownObjectConfig c;
  // Facade geometry.
  if (!p.Has("facade")) {
    return InvalidArgument(p.Key("facade"),
                           "is required: 4 corners [[x, y], ...] (bottom-left, bottom-right, "
                           "top-right, top-left) or the name of a 4-point zone");
  }
  {
    const YAML::Node f = p.Get("facade");
    std::string zone;
    LINLI_ASSIGN_OR_RETURN(auto pts, PolygonOrZone(f, p.Key("facade"), camera, 4, &zone));
    if (pts.size() != 4) return InvalidArgument(p.Key("facade"), "must have exactly 4 corners");
    if (!zone.empty()) {
      c.facade.quad = OrderCorners(pts);
      c.facade_zone = zone;
      c.zone_name = zone;
    } else {
      c.facade.quad = {pts[0], pts[1], pts[2], pts[3]};
    }
    const auto& q = c.facade.quad;
    if (!(q[0].y > q[3].y && q[1].y > q[2].y && q[1].x > q[0].x && q[2].x > q[3].x)) {
      return InvalidArgument(p.Key("facade"),
                             "corners must be bottom-left, bottom-right, top-right, top-left "
                             "(bottom below top, left of right)");
    }
    std::vector<cv::Point2f> poly(q.begin(), q.end());
    if (!cv::isContourConvex(poly) || cv::contourArea(poly) < 0.002) {
      return InvalidArgument(p.Key("facade"), "must be a convex quadrilateral of some size");
    }
  }
  LINLI_ASSIGN_OR_RETURN(c.facade.floors, p.Int("floors", 0, 1, 200));
  if (!p.Has("floors")) return InvalidArgument(p.Key("floors"), "is required (must be 1..200)");
  LINLI_ASSIGN_OR_RETURN(c.facade.columns, p.Int("columns", 1, 1, 200));
  LINLI_ASSIGN_OR_RETURN(c.facade.lowest_floor, p.Int("lowest_floor", 1, -10, 200));
  LINLI_ASSIGN_OR_RETURN(c.facade.floor_height_m, p.Number("floor_height_m", 3.0, 2.0, 8.0));
  LINLI_ASSIGN_OR_RETURN(c.facade.width_m, p.Number("width_m", 0.0, 0.0, 5000.0));
  if (c.facade.width_m > 0 && c.facade.width_m < 1) {
    return InvalidArgument(p.Key("width_m"), "must be 0 (from the image) or >= 1");
  }
  // Areas.
  if (p.Has("zone")) {
    std::string zone;
    LINLI_ASSIGN_OR_RETURN(c.detect_zone, PolygonOrZone(p.Get("zone"), p.Key("zone"), camera, 3,
                                                        &zone));
    if (!zone.empty()) c.zone_name = zone;
  }
  if (p.Has("exclude")) {
    const YAML::Node ex = p.Get("exclude");
    if (!ex.IsSequence()) {
      return InvalidArgument(p.Key("exclude"), "must be a list of zone names or polygons");
    }
    for (size_t i = 0; i < ex.size(); ++i) {
      LINLI_ASSIGN_OR_RETURN(auto poly,
                             PolygonOrZone(ex[i], p.Key("exclude") + "[" + std::to_string(i) + "]",
                                           camera, 3, nullptr));
      c.exclude.push_back(std::move(poly));
    }
  }
  // Physics.
  FallLimits& l = c.limits;
  LINLI_ASSIGN_OR_RETURN(l.min_fall_m, p.Number("min_fall_m", l.min_fall_m, 0.5, 200));
  LINLI_ASSIGN_OR_RETURN(l.min_points, p.Int("min_points", l.min_points, 4, 200));
  LINLI_ASSIGN_OR_RETURN(l.min_duration_s, p.Number("min_duration_s", l.min_duration_s, 0.05, 10));
  LINLI_ASSIGN_OR_RETURN(l.gravity_min, p.Number("gravity_min", l.gravity_min, 0.05, 1.0));
  LINLI_ASSIGN_OR_RETURN(l.gravity_max, p.Number("gravity_max", l.gravity_max, 1.0, 5.0));
  LINLI_ASSIGN_OR_RETURN(l.max_horizontal_mps,
                         p.Number("max_horizontal_mps", l.max_horizontal_mps, 0.1, 100));
  LINLI_ASSIGN_OR_RETURN(l.max_residual_px,
                         p.Number("max_residual_px", l.max_residual_px, 0.1, 50));
  LINLI_ASSIGN_OR_RETURN(l.max_horizontal_accel,
                         p.Number("max_horizontal_accel", l.max_horizontal_accel, 0.01, 10));
  LINLI_ASSIGN_OR_RETURN(c.suppress_s, p.Number("suppress_s", c.suppress_s, 0, 30));
  LINLI_ASSIGN_OR_RETURN(c.merge_gap_s, p.Number("merge_gap_s", c.merge_gap_s, 0, 5));
  LINLI_ASSIGN_OR_RETURN(l.min_hit_ratio, p.Number("min_hit_ratio", l.min_hit_ratio, 0, 1));
  LINLI_ASSIGN_OR_RETURN(l.min_fall_sizes, p.Number("min_fall_sizes", l.min_fall_sizes, 0, 100));
  LINLI_ASSIGN_OR_RETURN(l.origin_backtrack_s,
                         p.Number("origin_backtrack_s", l.origin_backtrack_s, 0, 3));
  LINLI_ASSIGN_OR_RETURN(c.fit_window_s, p.Number("fit_window_s", c.fit_window_s, 0.3, 20));
  // What the track is (appearance and surroundings); the largest values switch a test off.
  LINLI_ASSIGN_OR_RETURN(l.max_context, p.Number("max_context", l.max_context, 0, 1000));
  LINLI_ASSIGN_OR_RETURN(l.max_activity, p.Number("max_activity", l.max_activity, 0, 1));
  LINLI_ASSIGN_OR_RETURN(l.max_size_jumps, p.Number("max_size_jumps", l.max_size_jumps, 0, 1));
  LINLI_ASSIGN_OR_RETURN(l.max_upswing_sizes,
                         p.Number("max_upswing_sizes", l.max_upswing_sizes, 0, 1000));
  LINLI_ASSIGN_OR_RETURN(c.activity_s, p.Number("activity_s", c.activity_s, 0.2, 60));
  // Detection.
  LINLI_ASSIGN_OR_RETURN(c.max_object_m, p.Number("max_object_m", c.max_object_m, 0.05, 10));
  LINLI_ASSIGN_OR_RETURN(c.min_area_px, p.Number("min_area_px", c.min_area_px, 1, 1000));
  LINLI_ASSIGN_OR_RETURN(c.max_blobs, p.Int("max_blobs", c.max_blobs, 1, 100000));
  LINLI_ASSIGN_OR_RETURN(c.tracker.max_gap_frames,
                         p.Int("max_gap_frames", c.tracker.max_gap_frames, 0, 50));
  LINLI_ASSIGN_OR_RETURN(c.max_hidden_s, p.Number("max_hidden_s", c.max_hidden_s, 0, 5));
  LINLI_ASSIGN_OR_RETURN(c.process_width, p.Int("process_width", 0, 0, 7680));
  if (c.process_width > 0 && c.process_width < 160) {
    return InvalidArgument(p.Key("process_width"), "must be 0 (as received) or >= 160");
  }
  LINLI_ASSIGN_OR_RETURN(c.max_width, p.Int("max_width", c.max_width, 0, 7680));
  // Background model.
  ForegroundOptions& fo = c.foreground;
  if (p.Has("background")) {
    const YAML::Node b = p.Get("background");
    fo.model = b.IsScalar() ? b.as<std::string>("") : "";
    if (fo.model != "median" && fo.model != "mog2") {
      return InvalidArgument(p.Key("background"), "must be median or mog2");
    }
  }
  LINLI_ASSIGN_OR_RETURN(fo.learning_s, p.Number("learning_s", fo.learning_s, 0.1, 60));
  LINLI_ASSIGN_OR_RETURN(fo.threshold, p.Int("threshold", fo.threshold, 0, 255));
  LINLI_ASSIGN_OR_RETURN(fo.min_threshold, p.Int("min_threshold", fo.min_threshold, 1, 255));
  LINLI_ASSIGN_OR_RETURN(fo.noise_k, p.Number("noise_k", fo.noise_k, 0.5, 20));
  LINLI_ASSIGN_OR_RETURN(fo.absorb_s, p.Number("absorb_s", fo.absorb_s, 0.2, 120));
  LINLI_ASSIGN_OR_RETURN(fo.shake_compensation,
                         p.Bool("shake_compensation", fo.shake_compensation));
  return c;
}

}  // namespace linli::edge::thrown
