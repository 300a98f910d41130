// linli-thrown-eval: accuracy and speed of the thrown_object analyzer (a bench, not a test).
//
// Builds a labelled set — generated facade clips with thrown objects (positives) and with hard
// distractors only (negatives), written with cv::VideoWriter (MJPEG and H.264), generated
// objects composited onto real footage from Debian's opencv-doc (building.jpg, vtest.avi), and
// real clips with no thrown object at all (vtest, tree, Megamind) — then decodes every clip with
// OpenCV, runs the analyzer through the Analyzer interface frame by frame as the box does
// (frames wider than the analyzer's max_width are downscaled first), matches the events to the
// ground truth (temporal overlap and origin within one floor and one window column) and prints
// precision, recall, false alarms per camera-hour and origin errors, overall and per condition.
// `--speed` measures the analyzer's cost per frame at 720p and 1080p next to decoding.
//
// Seeds: the tuning set uses seeds 1000.., the held-out set 900000.. (never tuned on). The
// tuning set's real footage is built apart from the held-out's (AddTuningRealClips): other
// segments, flips and facade overlays of the same clips.
// `--generate-only` writes a set's clips without analysing them (to prepare a set ahead).
// The commands behind docs/analytics.md:
//   linli-thrown-eval --set tune --positives 80 --negatives 80 --real --real-positives 12
//       --extra 20 --jobs 2 --verbose
//   linli-thrown-eval --set holdout --positives 60 --negatives 40 --real --real-positives 6
//       --extra 10 --jobs 2 --workdir /tmp/linli-thrown-holdout
//   flock /tmp/linli-bench.lock linli-thrown-eval --speed-only
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "edge/algorithms/thrown_object/thrown_object.h"
#include "edge/testing/scene_gen/scene_gen.h"

namespace fs = std::filesystem;
using namespace linli;
using namespace linli::edge;
using scene_gen::Backdrop;
using scene_gen::ClipFormat;
using scene_gen::Distractor;
using scene_gen::SceneOptions;
using scene_gen::SceneTruth;

namespace {

struct EvalOptions {
  std::string set = "tune";
  int positives = 200;
  int negatives = 200;
  int real_positives = 40;
  int extra = 0;  // clips with the later distractors (tree, walker): as many with and without objects
  bool real = false;
  std::string real_dir = "/usr/share/doc/opencv-doc/examples/data";
  std::string workdir = "/tmp/linli-thrown-eval";
  std::string codec = "mixed";
  bool regenerate = false;
  int jobs = 1;
  bool speed = false;
  bool speed_only = false;
  bool generate_only = false;
  std::vector<std::string> params;  // key=value overrides
  double tol_floors = 1.0;
  double tol_columns = 1.0;
  int64_t slack_ms = 500;
  std::string details;  // JSONL of per-object outcomes
  bool verbose = false;
  int cv_threads = 1;
  std::vector<std::string> clips;  // existing generated clips (truth next to them, .json)
  std::string only;        // comma-separated clip names to run (default: all)
  std::string debug_clip;  // clip name: write a debug video of it
  std::string debug_out = "/tmp/linli-thrown-debug.avi";
};

struct ClipSpec {
  std::string name;
  std::string set;   // "positive", "negative", "still", "video", "real"
  bool generated = true;
  SceneOptions opt;
  ClipFormat fmt;
  std::string path;        // video file
  std::string truth_path;  // generated only
  Json params;             // real clips: the analyzer's parameters
  int flip = 0;            // real clips: 0 as recorded, 1 mirrored, -1 rotated by 180 degrees
  std::vector<std::string> tags;
};

struct EventRecord {
  std::string id;
  int64_t start_ms = 0, end_ms = 0;
  cv::Point2f origin;
  int floor = 0, window = 0;
  double g = 0, score = 0;
  std::vector<TrackPoint> trajectory;
};

struct ClipResult {
  ClipSpec spec;
  bool ok = false;
  std::string error;
  SceneTruth truth;
  std::vector<EventRecord> events;
  thrown::ThrownObjectStats stats;
  int64_t frames = 0;
  double seconds = 0;
  double analyze_ms = 0;
  double decode_ms = 0;
  // Matching.
  int gt = 0, tp = 0, fn = 0, fp = 0;
  std::vector<double> origin_err_px, origin_err_floors;
  int floor_ok = 0, window_ok = 0;
  std::vector<Json> details;
  std::vector<char> event_matched;
};

class CollectSink final : public EventSink {
 public:
  void Emit(const EdgeEvent& e) override {
    if (e.phase != EventPhase::kEnd) return;
    EventRecord r;
    r.id = e.id;
    r.start_ms = e.start_ms;
    r.end_ms = e.end_ms;
    r.origin = e.origin.value_or(cv::Point2f(-1, -1));
    r.floor = e.data.value("floor", 0);
    r.window = e.data.value("window", 0);
    r.g = e.data.value("g_mps2", 0.0);
    r.score = e.score;
    r.trajectory = e.trajectory;
    events.push_back(r);
  }
  std::vector<EventRecord> events;
};

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

Result<void> ApplyOverrides(Json& params, const std::vector<std::string>& overrides) {
  for (const std::string& kv : overrides) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) return InvalidArgument("--param", "expected key=value: " + kv);
    std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    auto parsed = ParseJson(v);
    if (parsed) {
      params[k] = *parsed;
    } else {
      params[k] = v;
    }
  }
  return {};
}

// Runs the analyzer over a decoded file. Frames wider than the analyzer's max_width are
// downscaled first, as the pipeline does.
Result<void> RunAnalyzer(const std::string& path, const Json& params, double fps_hint,
                         const std::vector<std::string>& overrides, ClipResult* out,
                         std::vector<double>* per_frame_ms = nullptr,
                         std::vector<double>* resize_ms = nullptr,
                         const std::string& debug_out = "", int flip = 0) {
  cv::VideoCapture cap(path, cv::CAP_FFMPEG);
  if (!cap.isOpened()) return Fail(ErrorCode::kUnavailable, "cannot open " + path);
  const double fps = cap.get(cv::CAP_PROP_FPS) > 1 ? cap.get(cv::CAP_PROP_FPS) : fps_hint;
  cv::Size native(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_WIDTH)),
                  static_cast<int>(cap.get(cv::CAP_PROP_FRAME_HEIGHT)));
  Json p = params;
  LINLI_RETURN_IF_ERROR(ApplyOverrides(p, overrides));
  YAML::Node node = YAML::Load(p.dump());
  AnalyzerRegistry registry;
  RegisterThrownObject(registry);
  // Ask for the needs first (max_width), with a context for the native size.
  CameraContext ctx;
  ctx.camera_id = "eval";
  ctx.fps = fps;
  ctx.frame_size = native;
  int max_width = 1280;
  {
    LINLI_ASSIGN_OR_RETURN(auto probe, registry.Create("thrown_object", node,
                                                       "thrown_object", ctx));
    max_width = probe->Needs().max_width;
  }
  cv::Size size = native;
  if (max_width > 0 && native.width > max_width) {
    size = cv::Size(max_width, static_cast<int>(std::lround(native.height * static_cast<double>(
                                                                max_width) / native.width)));
  }
  ctx.frame_size = size;
  LINLI_ASSIGN_OR_RETURN(auto analyzer, registry.Create("thrown_object", node, "thrown_object",
                                                        ctx));
  auto* thrown_analyzer = dynamic_cast<thrown::ThrownObjectAnalyzer*>(analyzer.get());
  CollectSink sink;
  cv::Mat raw, scaled, dbg;
  cv::VideoWriter debug;
  if (!debug_out.empty()) {
    debug.open(debug_out, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
               size, {cv::VIDEOWRITER_PROP_QUALITY, 90});
  }
  int64_t index = 0;
  const Clock& clock = SystemClock();
  for (;;) {
    auto t0 = clock.Monotonic();
    if (!cap.read(raw) || raw.empty()) break;
    if (flip != 0) cv::flip(raw, raw, flip > 0 ? 1 : -1);
    auto t1 = clock.Monotonic();
    out->decode_ms += Ms(t1 - t0);
    Frame f;
    f.index = index;
    f.pts_ms = std::llround(static_cast<double>(index) * 1000.0 / fps);
    if (raw.size() != size) {
      cv::resize(raw, scaled, size, 0, 0, cv::INTER_AREA);
      f.image = scaled;
    } else {
      f.image = raw;
    }
    auto t2 = clock.Monotonic();
    if (resize_ms) resize_ms->push_back(Ms(t2 - t1));
    analyzer->Process(f, sink);
    auto t3 = clock.Monotonic();
    out->analyze_ms += Ms(t3 - t2);
    if (per_frame_ms) per_frame_ms->push_back(Ms(t3 - t2));
    if (debug.isOpened() && thrown_analyzer) {
      // Foreground in red, tentative tracks yellow, confirmed tracks green, frame number.
      f.image.copyTo(dbg);
      const cv::Mat& m = thrown_analyzer->last_mask();
      const cv::Rect roi = thrown_analyzer->roi();
      const double sc = thrown_analyzer->scale();
      if (!m.empty()) {
        for (int y = 0; y < m.rows; ++y) {
          const uint8_t* pm = m.ptr<uint8_t>(y);
          for (int x = 0; x < m.cols; ++x) {
            if (!pm[x]) continue;
            int fx = roi.x + static_cast<int>(x / sc), fy = roi.y + static_cast<int>(y / sc);
            if (fx < dbg.cols && fy < dbg.rows) dbg.at<cv::Vec3b>(fy, fx) = cv::Vec3b(0, 0, 255);
          }
        }
      }
      for (const auto& t : thrown_analyzer->tracks()) {
        if (t.points.size() < 3) continue;
        cv::Scalar c = t.confirmed ? cv::Scalar(0, 255, 0) : cv::Scalar(0, 255, 255);
        for (size_t i = 1; i < t.points.size(); ++i) {
          cv::line(dbg, cv::Point(t.points[i - 1].centre), cv::Point(t.points[i].centre), c, 1);
        }
        cv::putText(dbg, std::to_string(t.id), cv::Point(t.points.back().centre) + cv::Point(4, 0),
                    cv::FONT_HERSHEY_PLAIN, 0.8, c);
      }
      cv::putText(dbg, std::to_string(index), {8, 20}, cv::FONT_HERSHEY_PLAIN, 1.2,
                  cv::Scalar(255, 255, 255), 2);
      debug.write(dbg);
    }
    ++index;
  }
  analyzer->Finish(std::llround(static_cast<double>(index) * 1000.0 / fps), sink);
  out->frames = index;
  out->seconds = static_cast<double>(index) / fps;
  out->events = sink.events;
  if (thrown_analyzer) out->stats = thrown_analyzer->stats();
  return {};
}

void Match(const EvalOptions& eo, ClipResult* r) {
  const SceneTruth& t = r->truth;
  std::vector<int> gts;
  for (size_t i = 0; i < t.objects.size(); ++i) {
    if (t.objects[i].kind == "thrown") gts.push_back(static_cast<int>(i));
  }
  r->gt = static_cast<int>(gts.size());
  std::vector<char> used(r->events.size(), 0);
  thrown::FacadeSpec spec;
  spec.quad = t.facade.quad;
  spec.floors = std::max(1, t.facade.floors);
  spec.columns = std::max(1, t.facade.columns);
  spec.floor_height_m = t.facade.floor_height_m > 0 ? t.facade.floor_height_m : 3;
  spec.width_m = t.facade.width_m;
  thrown::FacadeModel facade(spec, t.size);
  const double col_w = facade.width_m() / spec.columns;
  auto Px = [&](cv::Point2f n) { return cv::Point2d(n.x * t.size.width, n.y * t.size.height); };
  for (int gi : gts) {
    const scene_gen::ObjectTruth& g = t.objects[static_cast<size_t>(gi)];
    int best = -1;
    double best_d = 1e18;
    const cv::Point2d gm = facade.ToMetres(Px(*g.origin));
    for (size_t ei = 0; ei < r->events.size(); ++ei) {
      if (used[ei]) continue;
      const EventRecord& e = r->events[ei];
      if (e.end_ms + eo.slack_ms < g.start_ms || e.start_ms - eo.slack_ms > g.end_ms) continue;
      const cv::Point2d em = facade.ToMetres(Px(e.origin));
      const double dy = std::abs(em.y - gm.y), dx = std::abs(em.x - gm.x);
      if (dy > eo.tol_floors * spec.floor_height_m || dx > eo.tol_columns * col_w) continue;
      double d = std::hypot(dx, dy);
      if (d < best_d) {
        best_d = d;
        best = static_cast<int>(ei);
      }
    }
    Json det{{"clip", r->spec.name},     {"seed", t.seed},          {"tags", t.tags},
             {"size_px", g.size_px},     {"contrast", g.contrast},  {"floor", g.floor},
             {"terminal_mps", g.terminal_mps}, {"fall_m", g.fall_m}};
    if (best >= 0) {
      used[static_cast<size_t>(best)] = 1;
      ++r->tp;
      const EventRecord& e = r->events[static_cast<size_t>(best)];
      const cv::Point2d ep = Px(e.origin), gp = Px(*g.origin);
      r->origin_err_px.push_back(std::hypot(ep.x - gp.x, ep.y - gp.y));
      const cv::Point2d em = facade.ToMetres(ep);
      r->origin_err_floors.push_back(std::abs(em.y - gm.y) / spec.floor_height_m);
      r->floor_ok += e.floor == g.floor;
      r->window_ok += e.window == g.window;
      det["detected"] = true;
      det["event_floor"] = e.floor;
      det["origin_err_px"] = r->origin_err_px.back();
      det["g"] = e.g;
    } else {
      ++r->fn;
      det["detected"] = false;
      Json rej = Json::object();
      for (const auto& [k, v] : r->stats.rejections) rej[k] = v;
      det["rejections"] = rej;
    }
    r->details.push_back(det);
  }
  r->event_matched = used;
  for (size_t ei = 0; ei < r->events.size(); ++ei) {
    if (used[ei]) continue;
    ++r->fp;
    const EventRecord& e = r->events[ei];
    // Which object caused it: the one whose trajectory is closest to the event's.
    std::string cause = "unknown";
    double best = 1e18;
    for (const auto& o : t.objects) {
      if (o.trajectory.empty()) continue;
      double sum = 0;
      int n = 0;
      for (const TrackPoint& p : e.trajectory) {
        auto it = std::lower_bound(o.trajectory.begin(), o.trajectory.end(), p.pts_ms,
                                   [](const TrackPoint& a, int64_t v) { return a.pts_ms < v; });
        if (it == o.trajectory.end() || std::abs(it->pts_ms - p.pts_ms) > 50) continue;
        sum += std::hypot((it->x - p.x) * t.size.width, (it->y - p.y) * t.size.height);
        ++n;
      }
      if (n * 2 >= static_cast<int>(e.trajectory.size()) && sum / n < best) {
        best = sum / n;
        cause = o.kind;
      }
    }
    if (best > 0.05 * t.size.height) cause = "unknown";
    Json traj = Json::array();
    for (const TrackPoint& p : e.trajectory) traj.push_back(Json::array({p.pts_ms, p.x, p.y}));
    r->details.push_back(Json{{"clip", r->spec.name},
                              {"seed", t.seed},
                              {"tags", t.tags},
                              {"false_alarm", true},
                              {"cause", cause},
                              {"trajectory", traj},
                              {"start_ms", e.start_ms},
                              {"end_ms", e.end_ms},
                              {"origin", Json::array({e.origin.x, e.origin.y})},
                              {"g", e.g}});
  }
}

ClipResult RunClip(const EvalOptions& eo, const ClipSpec& spec) {
  ClipResult r;
  r.spec = spec;
  Json params;
  if (spec.generated) {
    bool have = false;
    if (!eo.regenerate && fs::exists(spec.path) && fs::exists(spec.truth_path)) {
      std::ifstream in(spec.truth_path);
      std::stringstream ss;
      ss << in.rdbuf();
      auto j = ParseJson(ss.str(), 64);
      if (j) {
        auto t = SceneTruth::FromJson(*j);
        if (t) {
          r.truth = *t;
          have = true;
        }
      }
    }
    if (!have) {
      auto t = scene_gen::WriteClip(spec.opt, spec.fmt, spec.path, spec.truth_path);
      if (!t) {
        r.error = t.error().ToString();
        return r;
      }
      r.truth = *t;
    }
    params = r.truth.AnalyzerParams();
  } else {
    params = spec.params;
    // A real clip without thrown objects: truth has no objects, the facade from the params.
    cv::VideoCapture cap(spec.path);
    r.truth.size = cv::Size(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_WIDTH)),
                            static_cast<int>(cap.get(cv::CAP_PROP_FRAME_HEIGHT)));
    r.truth.fps = cap.get(cv::CAP_PROP_FPS);
    for (size_t i = 0; i < 4; ++i) {
      r.truth.facade.quad[i] = cv::Point2f(params["facade"][i][0].get<float>(),
                                           params["facade"][i][1].get<float>());
    }
    r.truth.fps = r.truth.fps > 1 ? r.truth.fps : 25;
    r.truth.facade.floors = params["floors"].get<int>();
    r.truth.facade.columns = params["columns"].get<int>();
    r.truth.facade.floor_height_m = 3.0;
  }
  for (const auto& tag : spec.tags) r.truth.tags.push_back(tag);
  auto ran = RunAnalyzer(spec.path, params, r.truth.fps > 0 ? r.truth.fps : 25, eo.params, &r,
                         nullptr, nullptr, spec.name == eo.debug_clip ? eo.debug_out : "",
                         spec.flip);
  if (!ran) {
    r.error = ran.error().ToString();
    return r;
  }
  Match(eo, &r);
  r.ok = true;
  return r;
}

// The real-footage part of the tuning set. The held-out set (below) uses building.jpg and the
// first 8 s of vtest.avi for composites (seeds 980000..) and the four clips whole, as
// recorded, under a facade over the whole frame with 6 and 20 floors. Debian has no other
// real video on this machine, so the tuning set takes other segments, mirrored or rotated
// copies and other facade overlays (keystone, part of the frame, other floor counts) of the
// same footage, and composites on tree.avi and Megamind.avi: the motions the analyzer sees
// are different, the scenes are not (the held-out real figures are not independent of it).
template <typename CodecFn, typename PathsFn>
void AddTuningRealClips(const EvalOptions& eo, uint64_t base, CodecFn Codec, PathsFn Paths,
                        std::vector<ClipSpec>* specs) {
  auto Quad = [](std::array<cv::Point2f, 4> q) { return q; };
  using Q = std::array<cv::Point2f, 4>;
  const Q full = {cv::Point2f(0.03f, 0.97f), cv::Point2f(0.97f, 0.97f), cv::Point2f(0.97f, 0.03f),
                  cv::Point2f(0.03f, 0.03f)};
  const Q keystone = {cv::Point2f(0.05f, 0.95f), cv::Point2f(0.95f, 0.95f),
                      cv::Point2f(0.85f, 0.05f), cv::Point2f(0.15f, 0.05f)};
  const Q left = {cv::Point2f(0.02f, 0.9f), cv::Point2f(0.7f, 0.9f), cv::Point2f(0.7f, 0.02f),
                  cv::Point2f(0.02f, 0.02f)};
  struct Backdrop {
    const char* file;
    bool video;
    int64_t start;
    int flip;
    Q quad;
    int floors, columns;
    double duration_s;
  };
  const Backdrop backdrops[] = {
      // building.jpg mirrored: scene_gen's default quad for it, mirrored.
      {"building.jpg", false, 0, 1,
       Quad({cv::Point2f(0.0f, 0.5f), cv::Point2f(0.7765f, 0.65f), cv::Point2f(0.7765f, 0.3567f),
             cv::Point2f(0.0f, 0.1f)}),
       4, 6, 0},
      {"vtest.avi", true, 300, 1, keystone, 10, 5, 8},
      {"tree.avi", true, 0, 0, full, 6, 4, 8},
      {"Megamind.avi", true, 0, 1, left, 8, 3, 8},
      {"vtest.avi", true, 560, -1, full, 12, 6, 8},
      {"tree.avi", true, 220, 1, keystone, 9, 4, 8},
  };
  for (int i = 0; i < eo.real_positives; ++i) {
    const Backdrop& b = backdrops[static_cast<size_t>(i) % std::size(backdrops)];
    ClipSpec s;
    s.opt.seed = base + 80000 + static_cast<uint64_t>(i);
    s.opt.thrown = 1;
    s.opt.random_distractors = true;
    s.fmt.codec = Codec(s.opt.seed);
    s.opt.backdrop_path = eo.real_dir + "/" + b.file;
    s.opt.backdrop_flip = b.flip;
    if (!b.video) {
      s.set = "still";
      s.opt.backdrop = scene_gen::Backdrop::kStill;
      s.opt.backdrop_quad = b.quad;
      s.opt.backdrop_floors = b.floors;
      s.opt.backdrop_columns = b.columns;
      s.name = "still_" + std::to_string(s.opt.seed);
      s.tags = {"set_composite_still", "codec_" + s.fmt.codec};
    } else {
      s.set = "video";
      s.opt.backdrop = scene_gen::Backdrop::kVideo;
      s.opt.backdrop_start_frame = b.start + 40 * (i / static_cast<int>(std::size(backdrops)));
      s.opt.backdrop_quad = b.quad;
      s.opt.backdrop_floors = b.floors;
      s.opt.backdrop_columns = b.columns;
      s.opt.duration_s = b.duration_s;
      s.name = "video_" + std::to_string(s.opt.seed);
      s.tags = {"set_composite_video", "codec_" + s.fmt.codec,
                std::string("backdrop_") + b.file};
    }
    Paths(s);
    specs->push_back(s);
  }
  struct Overlay {
    const char* name;
    int flip;
    Q quad;
    int floors, columns;
  };
  const Overlay overlays[] = {{"mirror_keystone_f10", 1, keystone, 10, 5},
                              {"rot180_f14", -1, full, 14, 4},
                              {"left_f8", 0, left, 8, 3}};
  for (const char* file : {"vtest.avi", "tree.avi", "Megamind.avi", "Megamind_bugy.avi"}) {
    for (const Overlay& o : overlays) {
      ClipSpec s;
      s.set = "real";
      s.generated = false;
      s.path = eo.real_dir + "/" + file;
      if (!fs::exists(s.path)) continue;
      Json quad = Json::array();
      for (const cv::Point2f& p : o.quad) quad.push_back(Json::array({p.x, p.y}));
      s.params = Json{{"facade", quad}, {"floors", o.floors}, {"columns", o.columns}};
      s.flip = o.flip;
      s.name = std::string("real_") + file + "_" + o.name;
      s.tags = {"set_real_negative", std::string("real_") + file};
      specs->push_back(s);
    }
  }
}

std::vector<ClipSpec> BuildSet(const EvalOptions& eo) {
  std::vector<ClipSpec> specs;
  const uint64_t base = eo.set == "holdout" ? 900000 : 1000;
  const std::vector<Distractor> all = scene_gen::AllDistractors();
  auto Codec = [&](uint64_t seed) {
    if (eo.codec != "mixed") return eo.codec;
    return seed % 2 == 0 ? std::string("mjpg") : std::string("h264");
  };
  auto Paths = [&](ClipSpec& s) {
    s.path = eo.workdir + "/" + s.name + "." + scene_gen::ExtensionFor(s.fmt.codec);
    s.truth_path = eo.workdir + "/" + s.name + ".json";
  };
  for (int i = 0; i < eo.positives; ++i) {
    ClipSpec s;
    s.set = "positive";
    s.opt.seed = base + static_cast<uint64_t>(i);
    s.opt.thrown = i % 10 == 9 ? 2 : 1;
    s.opt.random_distractors = i % 4 != 0;  // a quarter clean, the rest with 0..3 distractors
    if (i % 8 == 3) s.opt.distractors.push_back(all[static_cast<size_t>(i / 8) % all.size()]);
    s.fmt.codec = Codec(s.opt.seed);
    s.fmt.jpeg_quality = 60 + static_cast<int>(s.opt.seed % 4) * 10;
    s.name = "pos_" + std::to_string(s.opt.seed);
    s.tags = {"set_positive", "codec_" + s.fmt.codec};
    Paths(s);
    specs.push_back(s);
  }
  for (int i = 0; i < eo.negatives; ++i) {
    ClipSpec s;
    s.set = "negative";
    s.opt.seed = base + 50000 + static_cast<uint64_t>(i);
    s.opt.thrown = 0;
    // Every distractor kind in turn as the main one, plus 0..3 random others.
    s.opt.distractors.push_back(all[static_cast<size_t>(i) % all.size()]);
    s.opt.random_distractors = i % 3 != 0;
    s.fmt.codec = Codec(s.opt.seed);
    s.fmt.jpeg_quality = 60 + static_cast<int>(s.opt.seed % 4) * 10;
    s.name = "neg_" + std::to_string(s.opt.seed);
    s.tags = {"set_negative", "codec_" + s.fmt.codec};
    Paths(s);
    specs.push_back(s);
  }
  const std::vector<Distractor> extra = scene_gen::ExtraDistractors();
  for (int i = 0; i < 2 * eo.extra; ++i) {
    ClipSpec s;
    const bool pos = i < eo.extra;
    s.set = pos ? "extra_positive" : "extra_negative";
    s.opt.seed = base + 60000 + static_cast<uint64_t>(i);
    s.opt.thrown = pos ? 1 : 0;
    s.opt.distractors.push_back(extra[static_cast<size_t>(i) % extra.size()]);
    if (i % 3 == 2) s.opt.distractors.push_back(extra[static_cast<size_t>(i + 1) % extra.size()]);
    s.opt.random_distractors = i % 2 == 1;
    s.fmt.codec = Codec(s.opt.seed);
    s.fmt.jpeg_quality = 60 + static_cast<int>(s.opt.seed % 4) * 10;
    s.name = std::string(pos ? "xpos_" : "xneg_") + std::to_string(s.opt.seed);
    s.tags = {pos ? "set_extra_positive" : "set_extra_negative", "codec_" + s.fmt.codec};
    Paths(s);
    specs.push_back(s);
  }
  if (eo.real && eo.set == "tune") {
    AddTuningRealClips(eo, base, Codec, Paths, &specs);
  } else if (eo.real) {
    const std::string building = eo.real_dir + "/building.jpg";
    const std::string vtest = eo.real_dir + "/vtest.avi";
    for (int i = 0; i < eo.real_positives; ++i) {
      ClipSpec s;
      s.opt.seed = base + 80000 + static_cast<uint64_t>(i);
      s.opt.thrown = 1;
      s.opt.random_distractors = true;
      s.fmt.codec = Codec(s.opt.seed);
      if (i % 2 == 0) {
        s.set = "still";
        s.opt.backdrop = Backdrop::kStill;
        s.opt.backdrop_path = building;
        s.name = "still_" + std::to_string(s.opt.seed);
        s.tags = {"set_composite_still", "codec_" + s.fmt.codec};
      } else {
        s.set = "video";
        s.opt.backdrop = Backdrop::kVideo;
        s.opt.backdrop_path = vtest;
        s.opt.backdrop_quad = std::array<cv::Point2f, 4>{
            cv::Point2f(0.03f, 0.97f), cv::Point2f(0.97f, 0.97f), cv::Point2f(0.97f, 0.03f),
            cv::Point2f(0.03f, 0.03f)};
        s.opt.backdrop_floors = 8;
        s.opt.backdrop_columns = 6;
        s.opt.duration_s = 8;
        s.name = "video_" + std::to_string(s.opt.seed);
        s.tags = {"set_composite_video", "codec_" + s.fmt.codec};
      }
      Paths(s);
      specs.push_back(s);
    }
    // Real footage without thrown objects, each with two facade scales.
    for (const char* file : {"vtest.avi", "tree.avi", "Megamind.avi", "Megamind_bugy.avi"}) {
      for (int floors : {6, 20}) {
        ClipSpec s;
        s.set = "real";
        s.generated = false;
        s.path = eo.real_dir + "/" + file;
        if (!fs::exists(s.path)) continue;
        s.params = Json{{"facade", Json::array({Json::array({0.02, 0.98}), Json::array({0.98, 0.98}),
                                                Json::array({0.98, 0.02}), Json::array({0.02, 0.02})})},
                        {"floors", floors},
                        {"columns", 6}};
        s.name = std::string("real_") + file + "_f" + std::to_string(floors);
        s.tags = {"set_real_negative", std::string("real_") + file};
        specs.push_back(s);
      }
    }
  }
  return specs;
}

struct Agg {
  int clips = 0, gt = 0, tp = 0, fn = 0, fp = 0, floor_ok = 0, window_ok = 0;
  double seconds = 0;
  std::vector<double> err_px, err_floors;
  void Add(const ClipResult& r) {
    ++clips;
    gt += r.gt;
    tp += r.tp;
    fn += r.fn;
    fp += r.fp;
    floor_ok += r.floor_ok;
    window_ok += r.window_ok;
    seconds += r.seconds;
    err_px.insert(err_px.end(), r.origin_err_px.begin(), r.origin_err_px.end());
    err_floors.insert(err_floors.end(), r.origin_err_floors.begin(), r.origin_err_floors.end());
  }
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::clamp(q * static_cast<double>(v.size() - 1), 0.0,
                                            static_cast<double>(v.size() - 1)));
  return v[i];
}

void PrintRow(const std::string& name, const Agg& a) {
  const double hours = a.seconds / 3600.0;
  const double precision = a.tp + a.fp > 0 ? static_cast<double>(a.tp) / (a.tp + a.fp) : NAN;
  const double recall = a.gt > 0 ? static_cast<double>(a.tp) / a.gt : NAN;
  const double mean_floors =
      a.err_floors.empty() ? NAN
                           : std::accumulate(a.err_floors.begin(), a.err_floors.end(), 0.0) /
                                 static_cast<double>(a.err_floors.size());
  std::printf("%-26s %5d %7.3f %5d %5d %5d %4d %9.3f %6.3f %8.1f %7.1f %7.1f %7.2f %7.3f\n",
              name.c_str(), a.clips, hours, a.gt, a.tp, a.fn, a.fp, precision, recall,
              hours > 0 ? a.fp / hours : NAN, Quantile(a.err_px, 0.5), Quantile(a.err_px, 0.9),
              mean_floors, a.tp > 0 ? static_cast<double>(a.floor_ok) / a.tp : NAN);
}

struct SpeedRow {
  std::string name;
  double decode_ms = 0, resize_ms = 0, analyze_mean = 0, analyze_p50 = 0, analyze_p95 = 0;
  double fps = 0;
  int64_t frames = 0;
};

Result<SpeedRow> MeasureSpeed(const EvalOptions& eo, cv::Size size, const std::string& name) {
  SceneOptions o;
  o.seed = 4242 + static_cast<uint64_t>(size.height);
  o.size = size;
  o.fps = 25;
  o.duration_s = 12;
  o.thrown = 1;
  o.distractors = {Distractor::kBird, Distractor::kLeaf, Distractor::kStreet};
  ClipFormat fmt;
  fmt.codec = "h264";
  const std::string path = eo.workdir + "/speed_" + name + ".mp4";
  LINLI_ASSIGN_OR_RETURN(SceneTruth truth, scene_gen::WriteClip(o, fmt, path, ""));
  SpeedRow row;
  row.name = name;
  row.fps = truth.fps;
  // Decode only (the limit).
  {
    cv::VideoCapture cap(path, cv::CAP_FFMPEG);
    cv::Mat f;
    auto t0 = SystemClock().Monotonic();
    int64_t n = 0;
    while (cap.read(f)) ++n;
    row.decode_ms = Ms(SystemClock().Monotonic() - t0) / std::max<int64_t>(1, n);
  }
  ClipResult r;
  std::vector<double> per_frame, resize;
  LINLI_RETURN_IF_ERROR(RunAnalyzer(path, truth.AnalyzerParams(), truth.fps, eo.params, &r,
                                    &per_frame, &resize));
  row.frames = r.frames;
  row.analyze_mean = r.analyze_ms / std::max<int64_t>(1, r.frames);
  row.analyze_p50 = Quantile(per_frame, 0.5);
  row.analyze_p95 = Quantile(per_frame, 0.95);
  row.resize_ms = resize.empty() ? 0
                                 : std::accumulate(resize.begin(), resize.end(), 0.0) /
                                       static_cast<double>(resize.size());
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  EvalOptions eo;
  CLI::App app{"linli-thrown-eval: accuracy and speed of the thrown_object analyzer"};
  app.add_option("--set", eo.set, "tune (seeds 1000..) or holdout (seeds 900000..)")
      ->check(CLI::IsMember({"tune", "holdout"}));
  app.add_option("--positives", eo.positives, "generated clips with thrown objects");
  app.add_option("--negatives", eo.negatives, "generated clips with distractors only");
  app.add_flag("--real", eo.real, "add composites on real footage and real negative clips");
  app.add_option("--extra", eo.extra,
                 "clips with a tree or walkers (scene_gen's ExtraDistractors), N with a thrown "
                 "object and N without");
  app.add_option("--real-positives", eo.real_positives, "composite clips (half still, half video)");
  app.add_option("--real-dir", eo.real_dir, "opencv-doc's examples/data");
  app.add_option("--workdir", eo.workdir, "where clips are written (and reused)");
  app.add_option("--codec", eo.codec, "mixed, mjpg, h264 or mp4v");
  app.add_flag("--regenerate", eo.regenerate, "write clips again even if present");
  app.add_option("--jobs", eo.jobs, "clips processed in parallel");
  app.add_flag("--speed", eo.speed, "also measure the cost per frame at 720p and 1080p");
  app.add_flag("--speed-only", eo.speed_only, "only the speed measurement");
  app.add_flag("--generate-only", eo.generate_only,
               "write the set's clips (if missing) without analysing them");
  app.add_option("--param", eo.params, "analyzer parameter override key=value (repeatable)");
  app.add_option("--tol-floors", eo.tol_floors, "origin tolerance, floors");
  app.add_option("--tol-columns", eo.tol_columns, "origin tolerance, window columns");
  app.add_option("--details", eo.details, "write per-object outcomes (JSON lines)");
  app.add_flag("--verbose", eo.verbose, "print misses and false alarms");
  app.add_option("--cv-threads", eo.cv_threads, "OpenCV threads (1 = per-core figures)");
  app.add_option("--clip", eo.clips, "evaluate these generated clips (truth in .json beside)");
  app.add_option("--only", eo.only, "run only these clips (comma-separated names)");
  app.add_option("--debug-clip", eo.debug_clip, "write a debug video of this clip (by name)");
  app.add_option("--debug-out", eo.debug_out, "where the debug video goes");
  CLI11_PARSE(app, argc, argv);
  cv::setNumThreads(eo.cv_threads);
  log::Init(log::Level::kWarn, log::Format::kText);
  std::error_code ec;
  fs::create_directories(eo.workdir, ec);

  if (!eo.speed_only) {
    std::vector<ClipSpec> specs = eo.clips.empty() ? BuildSet(eo) : std::vector<ClipSpec>{};
    for (const std::string& c : eo.clips) {
      ClipSpec s;
      s.set = "given";
      s.path = c;
      s.truth_path = fs::path(c).replace_extension(".json").string();
      s.name = fs::path(c).stem().string();
      specs.push_back(s);
    }
    if (!eo.only.empty()) {
      const std::string list = "," + eo.only + ",";
      std::erase_if(specs, [&](const ClipSpec& s) {
        return list.find("," + s.name + ",") == std::string::npos;
      });
    }
    if (eo.generate_only) {
      std::atomic<size_t> next_clip{0};
      std::atomic<int> failed{0};
      auto Writer = [&] {
        for (size_t i; (i = next_clip.fetch_add(1)) < specs.size();) {
          const ClipSpec& s = specs[i];
          if (!s.generated || (!eo.regenerate && fs::exists(s.path) && fs::exists(s.truth_path))) {
            continue;
          }
          auto t = scene_gen::WriteClip(s.opt, s.fmt, s.path, s.truth_path);
          if (!t) {
            ++failed;
            std::fprintf(stderr, "%s: %s\n", s.name.c_str(), t.error().ToString().c_str());
          }
        }
      };
      std::vector<std::thread> writers;
      for (int j = 0; j < std::max(1, eo.jobs); ++j) writers.emplace_back(Writer);
      for (auto& t : writers) t.join();
      std::printf("generated %zu clips into %s (%d failed)\n", specs.size(), eo.workdir.c_str(),
                  failed.load());
      return failed.load() == 0 ? 0 : 1;
    }
    std::vector<ClipResult> results(specs.size());
    std::atomic<size_t> next{0};
    std::mutex print_mu;
    auto Worker = [&] {
      for (;;) {
        size_t i = next.fetch_add(1);
        if (i >= specs.size()) return;
        results[i] = RunClip(eo, specs[i]);
        if (eo.verbose) {
          std::lock_guard<std::mutex> lock(print_mu);
          const ClipResult& r = results[i];
          if (!r.ok) {
            std::fprintf(stderr, "%s: ERROR %s\n", r.spec.name.c_str(), r.error.c_str());
          } else if (r.fn || r.fp) {
            std::fprintf(stderr, "%s: gt=%d tp=%d fn=%d fp=%d\n", r.spec.name.c_str(), r.gt,
                         r.tp, r.fn, r.fp);
            for (const auto& [n, text] : r.stats.long_rejections) {
              std::fprintf(stderr, "    rejected %s\n", text.c_str());
            }
          }
          for (size_t k = 0; r.ok && k < r.events.size(); ++k) {
            auto it = r.stats.event_features.find(r.events[k].id);
            std::fprintf(stderr, "%s: event %s %lld..%lld ms g=%.1f %s\n", r.spec.name.c_str(),
                         r.event_matched[k] ? "TP" : "FP",
                         static_cast<long long>(r.events[k].start_ms),
                         static_cast<long long>(r.events[k].end_ms), r.events[k].g,
                         it == r.stats.event_features.end() ? "-" : it->second.c_str());
          }
        }
      }
    };
    std::vector<std::thread> threads;
    for (int j = 0; j < std::max(1, eo.jobs); ++j) threads.emplace_back(Worker);
    for (auto& t : threads) t.join();

    std::map<std::string, Agg> by_tag;
    Agg all, synthetic, extra, real;
    int errors = 0;
    double analyze_ms = 0;
    int64_t frames = 0;
    std::map<std::string, int64_t> rejections;
    for (const ClipResult& r : results) {
      if (!r.ok) {
        ++errors;
        std::fprintf(stderr, "clip %s failed: %s\n", r.spec.name.c_str(), r.error.c_str());
        continue;
      }
      all.Add(r);
      if (r.spec.set == "positive" || r.spec.set == "negative") synthetic.Add(r);
      if (r.spec.set == "extra_positive" || r.spec.set == "extra_negative") extra.Add(r);
      if (r.spec.set == "still" || r.spec.set == "video" || r.spec.set == "real") real.Add(r);
      for (const auto& tag : r.truth.tags) by_tag[tag].Add(r);
      analyze_ms += r.analyze_ms;
      frames += r.frames;
      for (const auto& [k, v] : r.stats.rejections) rejections[k] += v;
    }
    std::printf("thrown_object evaluation: set=%s seeds=%s, %zu clips (%d failed), tolerance "
                "%.1f floor(s) x %.1f column(s), slack %lld ms\n",
                eo.set.c_str(), eo.set == "holdout" ? "900000.." : "1000..", results.size(),
                errors, eo.tol_floors, eo.tol_columns, static_cast<long long>(eo.slack_ms));
    std::printf("%-26s %5s %7s %5s %5s %5s %4s %9s %6s %8s %7s %7s %7s %7s\n", "condition",
                "clips", "hours", "GT", "TP", "FN", "FP", "precision", "recall", "FA/h",
                "org_p50", "org_p90", "floors", "floor_ok");
    PrintRow("ALL", all);
    PrintRow("synthetic (pos+neg)", synthetic);
    if (extra.clips) PrintRow("extra (tree, walker)", extra);
    if (real.clips) PrintRow("real (composite+neg)", real);
    for (const auto& [tag, a] : by_tag) PrintRow(tag, a);
    std::printf("analyzer: %.2f ms/frame mean over %lld frames (all clips, all sizes)\n",
                frames ? analyze_ms / static_cast<double>(frames) : 0.0,
                static_cast<long long>(frames));
    std::printf("rejected tracks (>= min_points) by reason:");
    for (const auto& [k, v] : rejections) std::printf(" %s=%lld", k.c_str(), static_cast<long long>(v));
    std::printf("\n");
    if (!eo.details.empty()) {
      std::ofstream out(eo.details);
      for (const ClipResult& r : results) {
        for (const Json& d : r.details) out << d.dump() << "\n";
      }
    }
  }
  if (eo.speed || eo.speed_only) {
    std::printf("speed (1 OpenCV thread; H.264 clips, 25 fps; analyzer gets <= max_width):\n");
    std::printf("%-6s %8s %9s %9s %9s %9s %14s\n", "input", "decode", "downscale", "analyze",
                "an_p50", "an_p95", "cams/core@fps");
    for (auto [size, name] : {std::pair{cv::Size(1280, 720), std::string("720p")},
                              std::pair{cv::Size(1920, 1080), std::string("1080p")}}) {
      auto row = MeasureSpeed(eo, size, name);
      if (!row) {
        std::fprintf(stderr, "speed %s: %s\n", name.c_str(), row.error().ToString().c_str());
        continue;
      }
      const double per_frame = row->decode_ms + row->resize_ms + row->analyze_mean;
      std::printf("%-6s %6.2fms %7.2fms %7.2fms %7.2fms %7.2fms %14.2f\n", row->name.c_str(),
                  row->decode_ms, row->resize_ms, row->analyze_mean, row->analyze_p50,
                  row->analyze_p95, 1000.0 / (per_frame * row->fps));
    }
  }
  return 0;
}
