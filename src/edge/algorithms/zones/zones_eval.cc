// Accuracy and cost of the zone analyzers.
//
// Accuracy: generated scenarios with exact ground truth. People walk across a 640 x 360 view
// (some through the zone, some stopping in it, groups gathering in it); a simulated detector
// sees each person with probability 0.85 per frame, jitters the boxes, and adds false
// detections (random single frames and short-lived "ghosts"). The analyzers' events are
// matched against the ground-truth episodes (time overlap) and precision, recall and false
// alarms per camera-hour are printed.
// Cost: the real HOG detector, tracker and following on real footage (vtest.avi resized to
// 640 x 360), one thread, ms and detector pixels per analysed frame, and what each setting
// still sees of the people a reference run (the whole search area detected in every frame)
// finds, and how often the zone's occupancy agrees with it — real footage has no labels here.
//
// With motion regions (the default) the simulated detector answers only for the regions it is
// given, and the frames show every person in view as a painted box, so that the regions
// (motion, tracks, periodic full scans) are part of what is measured; --whole-frame detects
// on the whole frame every time (motion_regions: false), as before.
//
// Usage: edge_zones_eval [--clips N] [--seed S] [--whole-frame] [--params "k: v, ..."] [--no-cost]
//                        [--cost-params "{k: v};{k: v}"]  (the cost section's configs)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/clock.h"
#include "edge/algorithms/zones/people_stage.h"
#include "edge/algorithms/zones/presence.h"
#include "edge/algorithms/zones/zones.h"
#include "edge/detectors/detectors.h"

using namespace linli;
using namespace linli::edge;

namespace {

constexpr int kW = 640, kH = 360, kFps = 5;
bool g_motion_regions = true;
std::string g_params;  // --params: more zone parameters for the accuracy run ("follow_s: 0")
// --cost-params: the configs the cost section compares with its reference, ';'-separated.
std::vector<std::string> g_cost_params = {"{follow_s: 0}", "{}", "{motion_retry_max_s: 0}",
                                          "{redetect_s: 2}", "{redetect_s: 0.6}"};
int64_t g_offered = 0, g_answered = 0;  // simulated detections, and those inside a region  // --whole-frame: detect on the whole frame every time
constexpr int64_t kFrameMs = 1000 / kFps;

// Answers `next` (frame pixels) for the part of the frame it is given, as a real detector
// would: only detections wholly inside the region, in the region's pixels.
class SimDetector final : public Detector {
 public:
  Result<std::vector<Detection>> Detect(const cv::Mat& img) override {
    cv::Size whole;
    cv::Point at;
    img.locateROI(whole, at);
    const cv::Rect2f region(static_cast<float>(at.x), static_cast<float>(at.y),
                            static_cast<float>(img.cols), static_cast<float>(img.rows));
    std::vector<Detection> out;
    for (const auto& d : next) {
      cv::Rect2f b = d.box & cv::Rect2f(0, 0, static_cast<float>(whole.width),
                                        static_cast<float>(whole.height));
      if ((b & region).area() < 0.9f * b.area()) continue;
      out.push_back({d.box - region.tl(), d.label, d.score});
      seen.insert(static_cast<int>(&d - next.data()));
    }
    return out;
  }
  std::vector<std::string> Labels() const override { return {"person"}; }
  std::vector<Detection> next;
  std::set<int> seen;  // indices of `next` answered for at least once
};

struct Person {
  std::vector<cv::Point2f> feet;  // per frame; x < -1000 = not in view
};

struct Scenario {
  std::vector<Person> people;
  int frames = 0;
  std::vector<cv::Point2f> zone_px;
};

// A random convex quad in the lower 60% of the view.
std::vector<cv::Point2f> RandomZone(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0, 1);
  float cx = 160 + 320 * u(rng), cy = 200 + 100 * u(rng);
  float hw = 70 + 60 * u(rng), hh = 40 + 30 * u(rng);
  return {{cx - hw, cy - hh}, {cx + hw, cy - hh * 0.8f}, {cx + hw * 1.1f, cy + hh},
          {cx - hw * 0.9f, cy + hh}};
}

cv::Point2f Centroid(const std::vector<cv::Point2f>& p) {
  cv::Point2f c(0, 0);
  for (auto& q : p) c += q;
  return c * (1.f / p.size());
}

Scenario MakeScenario(std::mt19937& rng, int seconds) {
  Scenario s;
  s.frames = seconds * kFps;
  s.zone_px = RandomZone(rng);
  std::uniform_real_distribution<float> u(0, 1);
  cv::Point2f zc = Centroid(s.zone_px);
  auto edge_point = [&]() {
    return u(rng) < 0.5f ? cv::Point2f(u(rng) < 0.5f ? -10.f : kW + 10.f, 150 + 200 * u(rng))
                         : cv::Point2f(kW * u(rng), kH + 10.f);
  };
  auto add_walk = [&](int t0, cv::Point2f a, cv::Point2f b, float speed, int stop_frames,
                      cv::Point2f stop_at) {
    Person p;
    p.feet.assign(s.frames, cv::Point2f(-10000, -10000));
    cv::Point2f pos = a;
    int t = t0;
    auto walk_to = [&](cv::Point2f target) {
      while (t < s.frames && cv::norm(target - pos) > speed / kFps) {
        cv::Point2f d = target - pos;
        pos += d * (speed / kFps / static_cast<float>(cv::norm(d)));
        p.feet[t++] = pos;
      }
    };
    if (stop_frames > 0) {
      walk_to(stop_at);
      for (int k = 0; k < stop_frames && t < s.frames; ++k) {  // shuffles on the spot
        p.feet[t++] = pos + cv::Point2f(3 * std::sin(k * 0.7f), 2 * std::cos(k * 0.5f));
      }
    }
    walk_to(b);
    s.people.push_back(std::move(p));
  };
  int walkers = 3 + static_cast<int>(u(rng) * 6);
  for (int i = 0; i < walkers; ++i) {
    int t0 = static_cast<int>(u(rng) * s.frames * 0.8f);
    cv::Point2f a = edge_point(), b = edge_point();
    if (u(rng) < 0.5f) {  // through the zone
      cv::Point2f mid = zc + cv::Point2f(40 * (u(rng) - 0.5f), 20 * (u(rng) - 0.5f));
      add_walk(t0, a, mid, 40 + 50 * u(rng), 0, mid);
      // continue from mid to b: append by a second walk starting where the first ended
      Person& p = s.people.back();
      int t = t0;
      while (t < s.frames && p.feet[t].x > -1000) ++t;
      cv::Point2f pos = p.feet[std::max(t0, t - 1)];
      float speed = 40 + 50 * u(rng);
      while (t < s.frames && cv::norm(b - pos) > speed / kFps) {
        cv::Point2f d = b - pos;
        pos += d * (speed / kFps / static_cast<float>(cv::norm(d)));
        p.feet[t++] = pos;
      }
    } else {
      add_walk(t0, a, b, 40 + 50 * u(rng), 0, a);
    }
  }
  if (u(rng) < 0.5f) {  // someone stops in the zone (5-90 s)
    int t0 = static_cast<int>(u(rng) * s.frames * 0.3f);
    cv::Point2f at = zc + cv::Point2f(30 * (u(rng) - 0.5f), 15 * (u(rng) - 0.5f));
    add_walk(t0, edge_point(), edge_point(), 50, static_cast<int>((5 + 85 * u(rng)) * kFps), at);
  }
  if (u(rng) < 0.4f) {  // a group gathers (3-6 people, 20-60 s)
    int n = 3 + static_cast<int>(u(rng) * 4);
    int t0 = static_cast<int>(u(rng) * s.frames * 0.4f);
    int stay = static_cast<int>((20 + 40 * u(rng)) * kFps);
    for (int k = 0; k < n; ++k) {
      cv::Point2f at = zc + cv::Point2f(18.f * (k - n / 2.f), 10 * (u(rng) - 0.5f));
      add_walk(t0 + static_cast<int>(u(rng) * 10), edge_point(), edge_point(), 50, stay, at);
    }
  }
  return s;
}

float Height(float y) { return std::clamp(40 + 0.35f * y, 40.f, 200.f); }

std::vector<Detection> SimulateDetections(const Scenario& s, int t, std::mt19937& rng,
                                          std::vector<std::pair<int, cv::Point2f>>& ghosts) {
  std::uniform_real_distribution<float> u(0, 1);
  std::normal_distribution<float> jitter(0, 2.5f);
  std::vector<Detection> out;
  for (const auto& p : s.people) {
    cv::Point2f f = p.feet[t];
    if (f.x < -1000 || f.x < 0 || f.x > kW || f.y > kH) continue;
    if (u(rng) > 0.85f) continue;
    float h = Height(f.y) * (1 + 0.05f * jitter(rng) / 2.5f), w = h * 0.4f;
    cv::Point2f j(jitter(rng), jitter(rng));
    out.push_back({cv::Rect2f(f.x - w / 2 + j.x, f.y - h + j.y, w, h), "person",
                   0.55f + 0.4f * u(rng)});
  }
  // False detections: one frame here and there, and "ghosts" that last 1-4 s.
  if (u(rng) < 0.08f) {
    cv::Point2f f(kW * u(rng), 150 + 210 * u(rng));
    float h = Height(f.y);
    out.push_back({cv::Rect2f(f.x - h * 0.2f, f.y - h, h * 0.4f, h), "person", 0.5f});
  }
  if (u(rng) < 0.004f) ghosts.push_back({t + static_cast<int>((1 + 3 * u(rng)) * kFps),
                                         cv::Point2f(kW * u(rng), 150 + 210 * u(rng))});
  for (const auto& [until, f] : ghosts) {
    if (t >= until || u(rng) > 0.7f) continue;
    float h = Height(f.y);
    out.push_back({cv::Rect2f(f.x - h * 0.2f, f.y - h, h * 0.4f, h), "person", 0.55f});
  }
  return out;
}

struct Interval {
  int64_t a, b;
  cv::Point2f where{-1, -1};  // loitering: where the person stood (px), else unset
};

// Merges intervals closer than `gap` and keeps those at least `min_len` long.
std::vector<Interval> Episodes(const std::vector<bool>& on, int64_t gap, int64_t min_len) {
  std::vector<Interval> raw;
  for (int t = 0; t < static_cast<int>(on.size()); ++t) {
    if (!on[t]) continue;
    int64_t ms = t * kFrameMs;
    if (!raw.empty() && ms - raw.back().b <= gap + kFrameMs) {
      raw.back().b = ms;
    } else {
      raw.push_back({ms, ms});
    }
  }
  std::vector<Interval> out;
  for (auto& i : raw)
    if (i.b - i.a >= min_len) out.push_back(i);
  return out;
}

struct Score {
  int tp_events = 0, events = 0, gt = 0, gt_found = 0;
  double hours = 0;
  // One-to-one matching: an event matches one ground-truth episode it overlaps in time (and,
  // where both have a position, within 40 px of it); each episode is matched at most once.
  void Add(const std::vector<Interval>& truth, const std::vector<Interval>& found,
           int64_t slack) {
    gt += static_cast<int>(truth.size());
    events += static_cast<int>(found.size());
    std::vector<bool> used(truth.size(), false);
    for (const auto& f : found) {
      int best = -1;
      int64_t best_overlap = -1;
      for (std::size_t i = 0; i < truth.size(); ++i) {
        const auto& g = truth[i];
        if (used[i] || !(f.a <= g.b + slack && f.b + slack >= g.a)) continue;
        if (f.where.x >= 0 && g.where.x >= 0 && cv::norm(f.where - g.where) > 40) continue;
        int64_t ov = std::min(f.b, g.b) - std::max(f.a, g.a);
        if (ov > best_overlap) {
          best_overlap = ov;
          best = static_cast<int>(i);
        }
      }
      if (best >= 0) {
        used[static_cast<std::size_t>(best)] = true;
        ++tp_events;
        ++gt_found;
      }
    }
  }
  void Print(const char* name) const {
    double p = events ? static_cast<double>(tp_events) / events : 1;
    double r = gt ? static_cast<double>(gt_found) / gt : 1;
    std::printf("%-15s episodes %4d  events %4d  precision %.3f  recall %.3f  false alarms "
                "%.2f per camera-hour  (%.1f camera-hours)\n",
                name, gt, events, p, r, (events - tp_events) / hours, hours);
  }
};

struct Sink final : EventSink {
  void Emit(const EdgeEvent& e) override {
    if (e.phase != EventPhase::kEnd) return;
    Interval i{e.start_ms, e.end_ms};
    if (e.type == "vision.loitering" && !e.trajectory.empty()) {
      cv::Point2f c(0, 0);
      for (const auto& p : e.trajectory) c += cv::Point2f(p.x * kW, p.y * kH);
      i.where = c * (1.f / e.trajectory.size());
    }
    ends.push_back(i);
  }
  std::vector<Interval> ends;
};

void Accuracy(int clips, unsigned seed) {
  std::mt19937 rng(seed);
  Score intrusion, loiter, crowd;
  const int seconds = 180;
  for (int c = 0; c < clips; ++c) {
    Scenario s = MakeScenario(rng, seconds);
    auto det = std::make_shared<SimDetector>();
    CameraContext cam;
    cam.camera_id = "sim";
    cam.frame_size = {kW, kH};
    cam.fps = kFps;
    cam.detector = det;
    std::vector<cv::Point2f> zn;
    for (auto& p : s.zone_px) zn.emplace_back(p.x / kW, p.y / kH);
    cam.zones = {Zone{"zone", zn}};
    const std::string common = std::string("crop_to_zones: false, motion_regions: ") +
                               (g_motion_regions ? "true" : "false") +
                               (g_params.empty() ? "" : ", " + g_params);
    auto a = MakeZoneIntrusion(YAML::Load("{" + common + "}"), "i", cam);
    auto l = MakeLoitering(YAML::Load("{loiter_s: 30, " + common + "}"), "l", cam);
    auto g = MakeCrowd(YAML::Load("{min_people: 3, min_duration_s: 10, " + common + "}"), "c",
                       cam);
    if (!a || !l || !g) {
      std::fprintf(stderr, "factory failed\n");
      std::exit(1);
    }
    Sink sa, sl, sg;
    std::vector<std::pair<int, cv::Point2f>> ghosts;
    static const std::vector<cv::Mat> yards = [] {
      std::vector<cv::Mat> v;
      cv::RNG noise_rng(7);
      for (int k = 0; k < 8; ++k) {
        cv::Mat m(kH, kW, CV_8UC3, cv::Scalar(160, 160, 160)), noise(kH, kW, CV_8UC3);
        noise_rng.fill(noise, cv::RNG::NORMAL, 0, 3);
        v.push_back(m + noise);
      }
      return v;
    }();
    for (int t = 0; t < s.frames; ++t) {
      g_offered += static_cast<int64_t>(det->next.size());
      g_answered += static_cast<int64_t>(det->seen.size());
      det->seen.clear();
      det->next = SimulateDetections(s, t, rng, ghosts);
      Frame f;
      f.index = t;
      f.pts_ms = t * kFrameMs;
      // The scene the motion regions see: everyone in view (detected or not) painted on a
      // light grey yard with a little sensor noise.
      f.image = yards[static_cast<std::size_t>(t) % yards.size()].clone();
      for (std::size_t k = 0; k < s.people.size(); ++k) {
        cv::Point2f ft = s.people[k].feet[t];
        if (ft.x < -1000) continue;
        float h = Height(ft.y), w = h * 0.4f;
        cv::rectangle(f.image, cv::Rect2f(ft.x - w / 2, ft.y - h, w, h),
                      cv::Scalar::all(40 + 20 * static_cast<double>(k % 4)), cv::FILLED);
      }
      (*a)->Process(f, sa);
      (*l)->Process(f, sl);
      (*g)->Process(f, sg);
    }
    (*a)->Finish(s.frames * kFrameMs, sa);
    (*l)->Finish(s.frames * kFrameMs, sl);
    (*g)->Finish(s.frames * kFrameMs, sg);
    // Ground truth from the true feet positions.
    std::vector<bool> occupied(s.frames, false), crowded(s.frames, false);
    std::vector<Interval> loiter_truth;
    for (const auto& p : s.people) {
      std::vector<bool> in(s.frames, false);
      for (int t = 0; t < s.frames; ++t) in[t] = p.feet[t].x > -1000 && InPolygon(s.zone_px, p.feet[t]);
      for (auto e : Episodes(in, 1000, 30000)) {
        cv::Point2f c(0, 0);
        int n = 0;
        for (int64_t ms = e.a; ms <= e.b; ms += kFrameMs) {
          c += p.feet[static_cast<std::size_t>(ms / kFrameMs)];
          ++n;
        }
        e.where = c * (1.f / std::max(1, n));
        loiter_truth.push_back(e);
      }
      for (int t = 0; t < s.frames; ++t) occupied[t] = occupied[t] || in[t];
    }
    for (int t = 0; t < s.frames; ++t) {
      int n = 0;
      for (const auto& p : s.people) n += p.feet[t].x > -1000 && InPolygon(s.zone_px, p.feet[t]);
      crowded[t] = n >= 3;
    }
    // Occupancy shorter than the dwell (1 s) is not an intrusion; gaps under the exit
    // hysteresis (2 s) do not split one.
    intrusion.Add(Episodes(occupied, 2000, 1000), sa.ends, 3000);
    loiter.Add(loiter_truth, sl.ends, 3000);
    crowd.Add(Episodes(crowded, 3000, 10000), sg.ends, 3000);
    double h = seconds / 3600.0;
    intrusion.hours += h;
    loiter.hours += h;
    crowd.hours += h;
  }
  std::printf("zone analyzers on %d generated clips of %d s (seed %u), simulated detector "
              "(recall 0.85/frame, jitter, false detections), %s%s%s:\n",
              clips, seconds, seed,
              g_motion_regions ? "motion regions" : "whole frame every frame",
              g_params.empty() ? "" : ", ", g_params.c_str());
  std::printf("simulated detections inside a searched region: %.3f\n",
              static_cast<double>(g_answered) / std::max<int64_t>(1, g_offered));
  intrusion.Print("zone_intrusion");
  loiter.Print("loitering");
  crowd.Print("crowd");
}

// One run of the people stage (detector, tracker, following) and a watch on one zone over
// the frames: the cost, and per frame the people seen and whether the zone is occupied.
struct StageRun {
  double ms_per_frame = 0, px_per_frame = 0, runs_per_frame = 0;
  std::vector<std::vector<cv::Rect2f>> seen;  // confirmed tracks seen (detected or followed)
  std::vector<std::vector<cv::Rect2f>> detected;  // confirmed tracks detected in the frame
  std::vector<bool> occupied;
};

StageRun RunStage(const std::vector<cv::Mat>& frames, const Zone& zone, const std::string& params) {
  CameraContext cam;
  cam.camera_id = "cost";
  cam.frame_size = {kW, kH};
  cam.fps = kFps;
  cam.zones = {zone};
  auto det = MakeDetector(YAML::Load("{kind: hog}"), "detector");
  if (!det) std::exit(1);
  cam.detector = *det;
  ParamReader r(YAML::Load(params), "k");
  auto p = ParseZoneCommon(r, cam, PresenceParams{3, 1000, 2000}, "vision.intrusion", {});
  if (!p) {
    std::fprintf(stderr, "%s: %s\n", params.c_str(), p.error().ToString().c_str());
    std::exit(2);
  }
  PeopleStage stage(*p, "cost");
  ZoneWatch watch(zone, p->presence);
  StageRun run;
  Clock& clock = SystemClock();
  auto t0 = clock.Monotonic();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    Frame f;
    f.index = static_cast<int64_t>(i);
    f.pts_ms = static_cast<int64_t>(i) * kFrameMs;
    f.image = frames[i];
    stage.Step(f);
    watch.Update(f.pts_ms, stage.tracker(), stage.frame_size());
    std::vector<cv::Rect2f> seen, detected;
    for (const auto& t : stage.tracker().tracks()) {
      if (!t.confirmed || !t.matched) continue;
      seen.push_back(t.box);
      if (t.detected) detected.push_back(t.box);
    }
    run.seen.push_back(std::move(seen));
    run.detected.push_back(std::move(detected));
    run.occupied.push_back(!watch.Present().empty());
  }
  const double n = static_cast<double>(frames.size());
  run.ms_per_frame = std::chrono::duration<double, std::milli>(clock.Monotonic() - t0).count() / n;
  run.px_per_frame = static_cast<double>(stage.detected_pixels()) / n;
  run.runs_per_frame = static_cast<double>(stage.detector_runs()) / n;
  return run;
}

float IoU(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  return inter / (a.area() + b.area() - inter);
}

void Cost() {
  cv::setNumThreads(1);
  cv::VideoCapture cap("/usr/share/doc/opencv-doc/examples/data/vtest.avi", cv::CAP_FFMPEG);
  if (!cap.isOpened()) {
    std::printf("cost: vtest.avi not found (opencv-doc)\n");
    return;
  }
  // The first 30 s at 5 fps, 640 x 360 (as bench/edge's sub-stream).
  std::vector<cv::Mat> frames;
  cv::Mat raw;
  for (int i = 0; i < 300 && cap.read(raw); ++i) {
    if (i % 2) continue;
    cv::Mat s;
    cv::resize(raw, s, cv::Size(kW, kH), 0, 0, cv::INTER_AREA);
    frames.push_back(s);
  }
  Zone quarter{"z", {{0.5f, 0.45f}, {0.95f, 0.45f}, {0.95f, 0.8f}, {0.5f, 0.8f}}};
  Zone yard{"z", {{0.05f, 0.45f}, {0.60f, 0.45f}, {0.60f, 0.98f}, {0.05f, 0.98f}}};
  Zone full{"z", {{0, 0}, {1, 0}, {1, 1}, {0, 1}}};
  const std::string reference = "{motion_regions: false, follow_s: 0}";
  std::printf("cost: real HOG (default) on vtest.avi (first 30 s, 5 fps, 640x360), 1 thread. "
              "Reference: %s (the whole search area detected in every frame). 'found': the "
              "reference's people (confirmed tracks detected in a frame) that a config sees in "
              "that frame (detected or followed, IoU >= 0.4); 'zone agrees': frames whose zone "
              "occupancy equals the reference's\n", reference.c_str());
  for (const auto& [zname, zone] : {std::pair<const char*, Zone>{"zone 45%x35%", quarter},
                                    {"examples' yard zone", yard}, {"whole frame", full}}) {
    StageRun ref = RunStage(frames, zone, reference);
    std::vector<std::string> configs = {reference};
    configs.insert(configs.end(), g_cost_params.begin(), g_cost_params.end());
    for (const std::string& params : configs) {
      StageRun run = params == reference ? ref : RunStage(frames, zone, params);
      int people = 0, found = 0, agree = 0, occupied = 0, ref_occupied = 0;
      for (std::size_t i = 0; i < frames.size(); ++i) {
        for (const auto& d : ref.detected[i]) {
          ++people;
          found += std::any_of(run.seen[i].begin(), run.seen[i].end(),
                               [&](const cv::Rect2f& b) { return IoU(b, d) >= 0.4f; });
        }
        agree += run.occupied[i] == ref.occupied[i];
        occupied += run.occupied[i];
        ref_occupied += ref.occupied[i];
      }
      std::printf("cost %-20s %-38s %7.2f ms/frame %7.0f px/frame %5.2f runs/frame  found "
                  "%.3f (%d)  zone agrees %.3f  occupied %.1f s (reference %.1f s)\n",
                  zname, params.c_str(), run.ms_per_frame, run.px_per_frame, run.runs_per_frame,
                  people ? static_cast<double>(found) / people : 1.0, people,
                  static_cast<double>(agree) / frames.size(), occupied * kFrameMs / 1000.0,
                  ref_occupied * kFrameMs / 1000.0);
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int clips = 300;
  unsigned seed = 42;
  bool cost = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--clips") && i + 1 < argc) clips = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--no-cost")) cost = false;
    else if (!std::strcmp(argv[i], "--whole-frame")) g_motion_regions = false;
    else if (!std::strcmp(argv[i], "--params") && i + 1 < argc) g_params = argv[++i];
    else if (!std::strcmp(argv[i], "--cost-params") && i + 1 < argc) {
      g_cost_params.clear();
      std::string all = argv[++i];
      for (std::size_t at = 0; at <= all.size();) {
        const std::size_t end = std::min(all.find(';', at), all.size());
        if (end > at) g_cost_params.push_back(all.substr(at, end - at));
        at = end + 1;
      }
    }
  }
  Accuracy(clips, seed);
  if (cost) Cost();
  return 0;
}
