#include "edge/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include <opencv2/imgproc.hpp>

namespace linli::edge {
namespace {

// Typed readers: each names the key path in its error.
class Reader {
 public:
  Reader(const YAML::Node& node, std::string key) : node_(node), key_(std::move(key)) {}

  const std::string& key() const { return key_; }
  std::string Sub(const std::string& child) const {
    return key_.empty() ? child : key_ + "." + child;
  }

  // A mapping (or absent/null when optional).
  Result<void> ExpectMap() const {
    if (!node_.IsMap()) return InvalidArgument(key_, "must be a mapping");
    return {};
  }

  // Rejects keys not in `allowed` so that typos are not silently ignored.
  Result<void> OnlyKeys(std::initializer_list<std::string_view> allowed) const {
    for (const auto& kv : node_) {
      std::string k = kv.first.as<std::string>("");
      bool ok = false;
      for (auto a : allowed) ok |= (a == k);
      if (!ok) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return InvalidArgument(Sub(k), "unknown key (expected one of: " + list + ")");
      }
    }
    return {};
  }

  YAML::Node Get(const std::string& child) const {
    if (!node_.IsMap()) return YAML::Node();
    return node_[child];
  }
  bool Has(const std::string& child) const {
    auto n = Get(child);
    return n.IsDefined() && !n.IsNull();
  }

  Result<std::string> String(const std::string& child, std::optional<std::string> def) const {
    auto n = Get(child);
    if (!n.IsDefined() || n.IsNull()) {
      if (def) return *def;
      return InvalidArgument(Sub(child), "is required");
    }
    if (!n.IsScalar()) return InvalidArgument(Sub(child), "must be a string");
    return n.Scalar();
  }

  Result<bool> Bool(const std::string& child, bool def) const {
    auto n = Get(child);
    if (!n.IsDefined() || n.IsNull()) return def;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return InvalidArgument(Sub(child), "must be true or false");
    }
    return v;
  }

  Result<double> Number(const std::string& child, double def, double lo, double hi) const {
    auto n = Get(child);
    if (!n.IsDefined() || n.IsNull()) return def;
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
      return InvalidArgument(Sub(child), "must be a number");
    }
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "must be between " << lo << " and " << hi << " (got " << n.Scalar() << ")";
      return InvalidArgument(Sub(child), os.str());
    }
    return v;
  }

  Result<int64_t> Int(const std::string& child, int64_t def, int64_t lo, int64_t hi) const {
    auto n = Get(child);
    if (!n.IsDefined() || n.IsNull()) return def;
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
      return InvalidArgument(Sub(child), "must be an integer");
    }
    if (v < lo || v > hi) {
      return InvalidArgument(Sub(child), "must be between " + std::to_string(lo) + " and " +
                                             std::to_string(hi) + " (got " + n.Scalar() + ")");
    }
    return v;
  }

 private:
  YAML::Node node_;
  std::string key_;
};

std::string Canonical(const YAML::Node& n) {
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

// Zone and line names: local to the camera's config (they appear in `data.zone` only).
bool IsIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  }
  return true;
}

// `exact`: exactly `min_points` points (a line), else at least that many (a polygon).
Result<std::vector<cv::Point2f>> ParsePoints(const YAML::Node& n, const std::string& key,
                                             size_t min_points, bool exact) {
  if (!n.IsDefined() || n.IsNull()) return InvalidArgument(key, "is required");
  if (!n.IsSequence()) return InvalidArgument(key, "must be a list of [x, y] points");
  std::vector<cv::Point2f> pts;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string pk = key + "[" + std::to_string(i) + "]";
    const YAML::Node& p = n[i];
    double x = 0, y = 0;
    if (!p.IsSequence() || p.size() != 2 || !YAML::convert<double>::decode(p[0], x) ||
        !YAML::convert<double>::decode(p[1], y)) {
      return InvalidArgument(pk, "must be [x, y] with numbers");
    }
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) {
      return InvalidArgument(pk, "coordinates are normalised: x and y must be in [0, 1]");
    }
    pts.emplace_back(static_cast<float>(x), static_cast<float>(y));
  }
  if (pts.size() < min_points || (exact && pts.size() != min_points)) {
    return InvalidArgument(key, std::string(exact ? "needs exactly " : "needs at least ") +
                                    std::to_string(min_points) + " points (got " +
                                    std::to_string(pts.size()) + ")");
  }
  if (!exact && min_points >= 3) {
    double area = std::fabs(cv::contourArea(pts));
    if (area < 1e-6) return InvalidArgument(key, "polygon has no area (points are collinear)");
  }
  return pts;
}

Result<int> ParseTimeOfDay(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return InvalidArgument(key, "must be \"HH:MM\"");
  const std::string& s = n.Scalar();
  int h = -1, m = -1;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%d:%d%c", &h, &m, &extra) != 2 || h < 0 || h > 24 || m < 0 ||
      m > 59 || (h == 24 && m != 0)) {
    return InvalidArgument(key, "must be \"HH:MM\" between 00:00 and 24:00 (got \"" + s + "\")");
  }
  return h * 60 + m;
}

Result<Schedule> ParseSchedule(const YAML::Node& n, const std::string& key) {
  Schedule s;
  if (!n.IsDefined() || n.IsNull()) return s;
  if (!n.IsSequence()) return InvalidArgument(key, "must be a list of {days, from, to} windows");
  static const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (size_t i = 0; i < n.size(); ++i) {
    std::string wk = key + "[" + std::to_string(i) + "]";
    Reader r(n[i], wk);
    LINLI_RETURN_IF_ERROR(r.ExpectMap());
    LINLI_RETURN_IF_ERROR(r.OnlyKeys({"days", "from", "to"}));
    ScheduleWindow w;
    if (r.Has("days")) {
      auto d = r.Get("days");
      if (!d.IsSequence() || d.size() == 0) {
        return InvalidArgument(wk + ".days", "must be a non-empty list like [mon, tue]");
      }
      w.days = 0;
      for (size_t j = 0; j < d.size(); ++j) {
        std::string name = d[j].IsScalar() ? d[j].Scalar() : "";
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        int bit = -1;
        for (int b = 0; b < 7; ++b) {
          if (name.substr(0, 3) == kDays[b] && name.size() >= 3) bit = b;
        }
        if (bit < 0) {
          return InvalidArgument(wk + ".days[" + std::to_string(j) + "]",
                                 "unknown day \"" + name + "\" (mon, tue, ..., sun)");
        }
        w.days |= static_cast<uint8_t>(1u << bit);
      }
    }
    if (r.Has("from")) {
      LINLI_ASSIGN_OR_RETURN(w.from_minute, ParseTimeOfDay(r.Get("from"), wk + ".from"));
    }
    if (r.Has("to")) {
      LINLI_ASSIGN_OR_RETURN(w.to_minute, ParseTimeOfDay(r.Get("to"), wk + ".to"));
    }
    if (w.from_minute == w.to_minute) {
      return InvalidArgument(wk, "from and to are equal: the window is empty");
    }
    s.windows.push_back(w);
  }
  return s;
}

// The keys every algorithm's mapping may have, handled here for all of them so that the
// analyzers' factories never see them (kCommonAlgorithmKeys); and the keys that are checked here
// for every analyzer because the platform must be able to carry them. Returns true if `k` was
// one of the common keys (consumed), false if it belongs to the analyzer.
Result<bool> ParseCommonAlgorithmKey(const std::string& k, const YAML::Node& v, AlgorithmConfig& a,
                                     bool& enabled) {
  const std::string key = a.key + "." + k;
  if (k == "schedule") {
    LINLI_ASSIGN_OR_RETURN(a.schedule, ParseSchedule(v, key));
    return true;
  }
  if (k == "enabled") {
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, enabled)) {
      return InvalidArgument(key, "must be true or false");
    }
    return true;
  }
  if (k == "comment") {
    if (!v.IsScalar()) return InvalidArgument(key, "must be a string");
    return true;
  }
  if (k == "schedules") {
    // Analyzers built on ParamReader would accept and ignore it: a misspelling of `schedule`.
    return InvalidArgument(key, "unknown key (the algorithm's time windows are `schedule:`)");
  }
  if (k == "event_type") {
    // The analyzers that take an event_type check it loosely; what the uplink and the platform
    // refuse must not be accepted here (every event would be lost).
    if (!v.IsScalar()) return InvalidArgument(key, "must be a string");
    LINLI_RETURN_IF_ERROR(CheckEventType(v.Scalar(), key));
  }
  return false;
}

Result<CameraConfig> ParseCamera(const YAML::Node& n, const std::string& key) {
  CameraConfig c;
  c.key = key;
  Reader r(n, key);
  LINLI_RETURN_IF_ERROR(r.ExpectMap());
  LINLI_RETURN_IF_ERROR(r.OnlyKeys({"id", "url", "enabled", "loop", "realtime", "analysis_fps",
                                    "max_width", "open_timeout_ms", "read_timeout_ms",
                                    "reconnect", "max_lag_ms", "motion", "clip", "snapshot",
                                    "zones", "lines", "algorithms"}));
  LINLI_ASSIGN_OR_RETURN(c.id, r.String("id", std::nullopt));
  if (!IsPlatformId(c.id, kMaxCameraIdLength)) {
    // The camera's platform device id; 45 so that its telemetry names fit in 64 bytes.
    return InvalidArgument(r.Sub("id"), "must be 1-" + std::to_string(kMaxCameraIdLength) +
                                            " characters of [A-Za-z0-9_-], starting with a "
                                            "letter or digit: the camera's platform device id, "
                                            "which also names its telemetry metrics "
                                            "cam.<id>.<metric> (got \"" + c.id + "\")");
  }
  LINLI_ASSIGN_OR_RETURN(c.url, r.String("url", std::nullopt));
  if (c.url.empty()) return InvalidArgument(r.Sub("url"), "must not be empty");
  auto scheme_end = c.url.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = c.url.substr(0, scheme_end);
    if (scheme != "rtsp" && scheme != "rtsps" && scheme != "file") {
      return InvalidArgument(r.Sub("url"), "scheme \"" + scheme +
                                               "\" is not supported (rtsp://, rtsps://, file:// "
                                               "or a file path)");
    }
    if (scheme == "file") c.url = c.url.substr(7);
  }
  LINLI_ASSIGN_OR_RETURN(c.enabled, r.Bool("enabled", true));
  LINLI_ASSIGN_OR_RETURN(c.loop, r.Bool("loop", false));
  if (c.loop && c.IsRtsp()) return InvalidArgument(r.Sub("loop"), "only files can loop");
  if (r.Has("realtime")) {
    LINLI_ASSIGN_OR_RETURN(bool rt, r.Bool("realtime", true));
    c.realtime = rt;
  }
  LINLI_ASSIGN_OR_RETURN(c.analysis_fps, r.Number("analysis_fps", 5, 0.1, 120));
  LINLI_ASSIGN_OR_RETURN(int64_t mw, r.Int("max_width", 640, 0, 7680));
  if (mw != 0 && mw < 64) return InvalidArgument(r.Sub("max_width"), "must be 0 or >= 64");
  c.max_width = static_cast<int>(mw);
  LINLI_ASSIGN_OR_RETURN(c.open_timeout_ms, r.Int("open_timeout_ms", 5000, 100, 600000));
  LINLI_ASSIGN_OR_RETURN(c.read_timeout_ms, r.Int("read_timeout_ms", 5000, 100, 600000));
  LINLI_ASSIGN_OR_RETURN(c.max_lag_ms, r.Int("max_lag_ms", 1000, 50, 600000));

  if (r.Has("reconnect")) {
    Reader rr(r.Get("reconnect"), r.Sub("reconnect"));
    LINLI_RETURN_IF_ERROR(rr.ExpectMap());
    LINLI_RETURN_IF_ERROR(rr.OnlyKeys({"initial_ms", "max_ms"}));
    LINLI_ASSIGN_OR_RETURN(c.reconnect_initial_ms, rr.Int("initial_ms", 500, 10, 600000));
    LINLI_ASSIGN_OR_RETURN(c.reconnect_max_ms, rr.Int("max_ms", 30000, 10, 3600000));
    if (c.reconnect_max_ms < c.reconnect_initial_ms) {
      return InvalidArgument(rr.Sub("max_ms"), "must be >= initial_ms");
    }
  }
  if (r.Has("motion")) {
    Reader m(r.Get("motion"), r.Sub("motion"));
    LINLI_RETURN_IF_ERROR(m.ExpectMap());
    LINLI_RETURN_IF_ERROR(
        m.OnlyKeys({"enabled", "width", "threshold", "min_area", "hold_ms", "keepalive_fps"}));
    LINLI_ASSIGN_OR_RETURN(c.motion.enabled, m.Bool("enabled", true));
    LINLI_ASSIGN_OR_RETURN(int64_t w, m.Int("width", 160, 32, 1920));
    c.motion.width = static_cast<int>(w);
    LINLI_ASSIGN_OR_RETURN(int64_t t, m.Int("threshold", 25, 1, 255));
    c.motion.threshold = static_cast<int>(t);
    LINLI_ASSIGN_OR_RETURN(c.motion.min_area, m.Number("min_area", 0.002, 0, 1));
    LINLI_ASSIGN_OR_RETURN(c.motion.hold_ms, m.Int("hold_ms", 2000, 0, 600000));
    LINLI_ASSIGN_OR_RETURN(c.motion.keepalive_fps, m.Number("keepalive_fps", 1, 0.01, 120));
  }
  if (r.Has("clip")) {
    Reader m(r.Get("clip"), r.Sub("clip"));
    LINLI_RETURN_IF_ERROR(m.ExpectMap());
    LINLI_RETURN_IF_ERROR(
        m.OnlyKeys({"enabled", "pre_s", "post_s", "max_s", "fps", "max_width", "codec"}));
    LINLI_ASSIGN_OR_RETURN(c.clip.enabled, m.Bool("enabled", true));
    LINLI_ASSIGN_OR_RETURN(c.clip.pre_s, m.Number("pre_s", 3, 0, 60));
    LINLI_ASSIGN_OR_RETURN(c.clip.post_s, m.Number("post_s", 2, 0, 60));
    LINLI_ASSIGN_OR_RETURN(c.clip.max_s, m.Number("max_s", 12, 1, 120));
    LINLI_ASSIGN_OR_RETURN(c.clip.fps, m.Number("fps", 10, 1, 60));
    LINLI_ASSIGN_OR_RETURN(int64_t w, m.Int("max_width", 480, 64, 3840));
    c.clip.max_width = static_cast<int>(w);
    LINLI_ASSIGN_OR_RETURN(c.clip.codec, m.String("codec", std::string("avc1")));
    if (c.clip.codec != "avc1" && c.clip.codec != "mp4v" && c.clip.codec != "MJPG") {
      return InvalidArgument(m.Sub("codec"), "must be avc1, mp4v or MJPG");
    }
  }
  if (r.Has("snapshot")) {
    Reader m(r.Get("snapshot"), r.Sub("snapshot"));
    LINLI_RETURN_IF_ERROR(m.ExpectMap());
    LINLI_RETURN_IF_ERROR(m.OnlyKeys({"jpeg_quality", "max_width"}));
    LINLI_ASSIGN_OR_RETURN(int64_t q, m.Int("jpeg_quality", 85, 10, 100));
    c.snapshot.jpeg_quality = static_cast<int>(q);
    LINLI_ASSIGN_OR_RETURN(int64_t w, m.Int("max_width", 0, 0, 7680));
    c.snapshot.max_width = static_cast<int>(w);
  }

  std::set<std::string> zone_names;
  for (const char* section : {"zones", "lines"}) {
    const bool is_line = std::string_view(section) == "lines";
    auto zs = r.Get(section);
    if (!zs.IsDefined() || zs.IsNull()) continue;
    std::string zkey = r.Sub(section);
    if (!zs.IsSequence()) return InvalidArgument(zkey, "must be a list of {name, points}");
    for (size_t i = 0; i < zs.size(); ++i) {
      std::string ik = zkey + "[" + std::to_string(i) + "]";
      Reader z(zs[i], ik);
      LINLI_RETURN_IF_ERROR(z.ExpectMap());
      LINLI_RETURN_IF_ERROR(z.OnlyKeys({"name", "points"}));
      Zone zone;
      LINLI_ASSIGN_OR_RETURN(zone.name, z.String("name", std::nullopt));
      if (!IsIdentifier(zone.name)) {
        return InvalidArgument(z.Sub("name"),
                               "must be 1-128 characters of letters, digits, '-', '_', '.', ':'");
      }
      if (!zone_names.insert(zone.name).second) {
        return InvalidArgument(z.Sub("name"), "duplicate zone/line name \"" + zone.name + "\"");
      }
      // A line is a segment (2 points), kept apart from the polygons: analyzers only ever see
      // `zones:` (CameraContext::zones), so a line is never watched as an area.
      LINLI_ASSIGN_OR_RETURN(zone.points, ParsePoints(z.Get("points"), z.Sub("points"),
                                                      is_line ? 2 : 3, /*exact=*/is_line));
      (is_line ? c.lines : c.zones).push_back(std::move(zone));
    }
  }

  auto algos = r.Get("algorithms");
  std::string akey = r.Sub("algorithms");
  if (algos.IsDefined() && !algos.IsNull()) {
    if (!algos.IsMap()) return InvalidArgument(akey, "must be a mapping {name: parameters}");
    std::set<std::string> algo_names;
    for (const auto& kv : algos) {
      AlgorithmConfig a;
      a.name = kv.first.as<std::string>("");
      a.key = akey + "." + a.name;
      if (a.name.empty()) return InvalidArgument(akey, "algorithm name must not be empty");
      // An algorithm is named by its registry name, which is also its state directory
      // (<state_dir>/<camera>/<name>): a YAML key given twice would run it twice, sharing it.
      if (!algo_names.insert(a.name).second) {
        return InvalidArgument(a.key, "given twice: a camera runs each algorithm at most once "
                                      "(merge the two parameter sets)");
      }
      const YAML::Node& p = kv.second;
      if (p.IsDefined() && !p.IsNull() && !p.IsMap()) {
        return InvalidArgument(a.key, "parameters must be a mapping");
      }
      a.params = YAML::Node(YAML::NodeType::Map);
      bool enabled = true;
      if (p.IsMap()) {
        for (const auto& pkv : p) {
          std::string k = pkv.first.as<std::string>("");
          LINLI_ASSIGN_OR_RETURN(bool common, ParseCommonAlgorithmKey(k, pkv.second, a, enabled));
          if (!common) a.params[k] = YAML::Clone(pkv.second);
        }
      }
      if (enabled) c.algorithms.push_back(std::move(a));
    }
  }
  c.fingerprint = Canonical(n);
  return c;
}

Result<BoxConfig> ParseRoot(const YAML::Node& root) {
  BoxConfig cfg;
  if (!root.IsMap()) return InvalidArgument("", "the config must be a YAML mapping");
  Reader r(root, "");
  const bool single_camera = !r.Has("cameras") && (r.Has("url") || r.Has("algorithms"));
  if (single_camera) {
    // The camera form: the camera's own keys at the top, `box`, `detector` optional.
    YAML::Node cam(YAML::NodeType::Map);
    YAML::Node rest(YAML::NodeType::Map);
    for (const auto& kv : root) {
      std::string k = kv.first.as<std::string>("");
      if (k == "box" || k == "detector" || k == "uplink") {
        rest[k] = kv.second;
      } else {
        cam[k] = kv.second;
      }
    }
    if (!cam["id"]) cam["id"] = "camera";
    if (!cam["url"]) cam["url"] = "input";  // replaced by `analyze --input`
    YAML::Node cams(YAML::NodeType::Sequence);
    cams.push_back(cam);
    rest["cameras"] = cams;
    if (!rest["box"]) {
      YAML::Node b(YAML::NodeType::Map);
      b["device_id"] = "edge-box";
      rest["box"] = b;
    }
    return ParseRoot(rest);
  }
  LINLI_RETURN_IF_ERROR(r.OnlyKeys({"box", "uplink", "detector", "cameras"}));

  Reader b(r.Get("box"), "box");
  if (!r.Has("box")) return InvalidArgument("box", "is required (box.device_id at least)");
  LINLI_RETURN_IF_ERROR(b.ExpectMap());
  LINLI_RETURN_IF_ERROR(
      b.OnlyKeys({"device_id", "compound_id", "state_dir", "events_jsonl", "metrics_listen"}));
  LINLI_ASSIGN_OR_RETURN(cfg.box.device_id, b.String("device_id", std::nullopt));
  LINLI_RETURN_IF_ERROR(CheckPlatformId(cfg.box.device_id, "box.device_id"));
  LINLI_ASSIGN_OR_RETURN(cfg.box.compound_id, b.String("compound_id", std::string()));
  if (!cfg.box.compound_id.empty()) {
    LINLI_RETURN_IF_ERROR(CheckPlatformId(cfg.box.compound_id, "box.compound_id"));
  }
  LINLI_ASSIGN_OR_RETURN(cfg.box.state_dir, b.String("state_dir", std::string("edge-state")));
  LINLI_ASSIGN_OR_RETURN(cfg.box.events_jsonl, b.String("events_jsonl", std::string()));
  LINLI_ASSIGN_OR_RETURN(cfg.box.metrics_listen,
                         b.String("metrics_listen", BoxIdentity{}.metrics_listen));
  LINLI_RETURN_IF_ERROR(ParseListenAddress(cfg.box.metrics_listen, "box.metrics_listen"));

  if (r.Has("uplink")) {
    cfg.uplink = YAML::Clone(r.Get("uplink"));
    if (!cfg.uplink.IsMap()) return InvalidArgument("uplink", "must be a mapping");
    if (cfg.box.compound_id.empty()) {
      return InvalidArgument("box.compound_id", "is required when an uplink is configured");
    }
    cfg.uplink_fingerprint = Canonical(cfg.uplink);
  }
  if (r.Has("detector")) {
    cfg.detector = YAML::Clone(r.Get("detector"));
    if (!cfg.detector.IsMap()) return InvalidArgument("detector", "must be a mapping");
    cfg.detector_fingerprint = Canonical(cfg.detector);
  }
  auto cams = r.Get("cameras");
  if (!cams.IsDefined() || cams.IsNull()) return InvalidArgument("cameras", "is required");
  if (!cams.IsSequence()) return InvalidArgument("cameras", "must be a list of cameras");
  std::set<std::string> ids;
  for (size_t i = 0; i < cams.size(); ++i) {
    std::string key = "cameras[" + std::to_string(i) + "]";
    LINLI_ASSIGN_OR_RETURN(CameraConfig c, ParseCamera(cams[i], key));
    if (!ids.insert(c.id).second) {
      return InvalidArgument(key + ".id", "duplicate camera id \"" + c.id + "\"");
    }
    cfg.cameras.push_back(std::move(c));
  }
  return cfg;
}

}  // namespace

bool CameraConfig::IsRtsp() const { return url.starts_with("rtsp://") || url.starts_with("rtsps://"); }

bool Schedule::Active(int64_t wall_ms) const {
  if (windows.empty()) return true;
  std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  int dow = (tm.tm_wday + 6) % 7;  // Monday = 0
  int minute = tm.tm_hour * 60 + tm.tm_min;
  for (const auto& w : windows) {
    if (w.from_minute < w.to_minute) {
      if ((w.days >> dow & 1) && minute >= w.from_minute && minute < w.to_minute) return true;
    } else {
      // Wraps midnight: the part after `from` belongs to today, the part before `to` to the
      // window that started yesterday.
      int yesterday = (dow + 6) % 7;
      if ((w.days >> dow & 1) && minute >= w.from_minute) return true;
      if ((w.days >> yesterday & 1) && minute < w.to_minute) return true;
    }
  }
  return false;
}

Result<BoxConfig> ParseBoxConfig(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("", "YAML syntax error at line " + std::to_string(e.mark.line + 1) +
                                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  try {
    return ParseRoot(root);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("", std::string("malformed config: ") + e.what());
  }
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path, "cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<ListenAddress> ParseListenAddress(const std::string& text, const std::string& key) {
  ListenAddress a;
  if (text.empty() || text == "off") return a;
  auto bad = [&](const std::string& why) -> Result<ListenAddress> {
    return InvalidArgument(key, "must be \"host:port\" (an IP address or localhost, port 0-65535; "
                                "[v6]:port for IPv6) or \"off\": " + why + " (got \"" +
                                    text.substr(0, 80) + "\")");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad("the port is not a number");
  a.port = std::stoi(port);
  if (a.port > 65535) return bad("the port is out of range");
  unsigned char buf[sizeof(in6_addr)];
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (inet_pton(AF_INET6, host.c_str(), buf) != 1) return bad("not an IPv6 address");
  } else if (host == "localhost") {
    host = "127.0.0.1";
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return bad("not an IPv4 address");
  }
  a.host = host;
  a.enabled = true;
  return a;
}

Result<BoxConfig> LoadBoxConfig(const std::string& path) {
  LINLI_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseBoxConfig(text);
}

Result<void> CheckRestartOnlyKeys(const BoxConfig& running, const BoxConfig& next) {
  auto refuse = [](const std::string& key) -> Result<void> {
    return Fail(ErrorCode::kFailedPrecondition, key + " cannot change without a restart", key);
  };
  if (next.box.device_id != running.box.device_id) return refuse("box.device_id");
  if (next.box.compound_id != running.box.compound_id) return refuse("box.compound_id");
  if (next.box.state_dir != running.box.state_dir) return refuse("box.state_dir");
  if (next.box.events_jsonl != running.box.events_jsonl) return refuse("box.events_jsonl");
  if (next.box.metrics_listen != running.box.metrics_listen) return refuse("box.metrics_listen");
  if (next.uplink_fingerprint != running.uplink_fingerprint) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the uplink section cannot change without a restart", "uplink");
  }
  return {};
}

Result<CameraConfig> SelectCamera(const BoxConfig& box, const std::string& camera_id) {
  if (camera_id.empty()) {
    if (box.cameras.size() != 1) {
      return InvalidArgument("cameras", "has " + std::to_string(box.cameras.size()) +
                                            " cameras: name one (--camera-id)");
    }
    return box.cameras.front();
  }
  for (const auto& c : box.cameras) {
    if (c.id == camera_id) return c;
  }
  return InvalidArgument("cameras", "no camera with id \"" + camera_id + "\"");
}

}  // namespace linli::edge
