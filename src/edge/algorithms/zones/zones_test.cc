// Tracker, presence (inertia/dwell/hysteresis), zone geometry and the three zone analyzers on
// scripted detections (a fake Detector that answers what the test says), so that the expected
// events are known exactly. The scripted detector answers in frame pixels whatever it is
// given, so those tests detect on the whole frame (crop_to_zones and motion_regions off); the
// regions themselves are tested with a detector that answers only inside the region given.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "edge/algorithms/zones/follower.h"
#include "edge/algorithms/zones/people_stage.h"
#include "edge/algorithms/zones/presence.h"
#include "edge/algorithms/zones/tracker.h"
#include "edge/algorithms/zones/zones.h"

namespace linli::edge {
namespace {

class ScriptedDetector final : public Detector {
 public:
  Result<std::vector<Detection>> Detect(const cv::Mat& img) override {
    ++calls;
    last_size = img.size();
    if (fail) return Fail(ErrorCode::kInternal, "broken model");
    return next;
  }
  std::vector<std::string> Labels() const override { return {"person"}; }
  std::vector<Detection> next;
  int calls = 0;
  bool fail = false;
  cv::Size last_size;
};

struct Collect final : EventSink {
  void Emit(const EdgeEvent& e) override { events.push_back(e); }
  std::vector<EdgeEvent> events;
  std::vector<EdgeEvent> Of(EventPhase p) const {
    std::vector<EdgeEvent> out;
    for (const auto& e : events)
      if (e.phase == p) out.push_back(e);
    return out;
  }
};

// A person of 40 x 100 px whose feet are at (x, y) in a 640 x 360 frame.
Detection PersonAt(float x, float y, float score = 0.8f) {
  return Detection{cv::Rect2f(x - 20, y - 100, 40, 100), "person", score};
}

const cv::Size kSize(640, 360);

CameraContext Camera(std::shared_ptr<Detector> det) {
  CameraContext c;
  c.camera_id = "cam-1";
  c.frame_size = kSize;
  c.fps = 5;
  c.detector = std::move(det);
  // "gate": the right half, lower part (x 0.5..1, y 0.5..1); "line": not a polygon.
  c.zones.push_back(Zone{"gate", {{0.5f, 0.5f}, {1.f, 0.5f}, {1.f, 1.f}, {0.5f, 1.f}}});
  c.zones.push_back(Zone{"line", {{0.f, 0.2f}, {1.f, 0.2f}}});
  c.zones.push_back(Zone{"far", {{0.f, 0.f}, {0.2f, 0.f}, {0.2f, 0.1f}, {0.f, 0.1f}}});
  return c;
}

Frame MakeFrame(int64_t i, int fps = 5) {
  Frame f;
  f.index = i;
  f.pts_ms = i * 1000 / fps;
  static const cv::Mat image(kSize, CV_8UC3, cv::Scalar(40, 50, 60));
  f.image = image;
  return f;
}

TEST(ZoneGeometry, FeetNotCentreDecide) {
  std::vector<cv::Point2f> poly = ToPixels({{0.5f, 0.5f}, {1, 0.5f}, {1, 1}, {0.5f, 1}}, kSize);
  // Box centred inside the zone but standing above it: feet at y = 170 < 180.
  cv::Rect2f above(400, 90, 40, 80);
  EXPECT_FALSE(InPolygon(poly, FootPoint(above)));
  cv::Rect2f in(400, 150, 40, 80);  // feet at 230
  EXPECT_TRUE(InPolygon(poly, FootPoint(in)));
  EXPECT_TRUE(InPolygon(poly, {320, 200}));   // on the left edge
  EXPECT_FALSE(InPolygon(poly, {319, 200}));
  // A concave polygon (U shape): the notch is outside.
  std::vector<cv::Point2f> u = {{0, 0}, {3, 0}, {3, 3}, {2, 3}, {2, 1}, {1, 1}, {1, 3}, {0, 3}};
  EXPECT_TRUE(InPolygon(u, {0.5f, 2.5f}));
  EXPECT_FALSE(InPolygon(u, {1.5f, 2.5f}));
  EXPECT_FALSE(InPolygon({{0, 0}, {1, 1}}, {0.5f, 0.5f}));
}

TEST(PeopleTracker, KeepsIdentitiesThroughCrossingAndGaps) {
  PeopleTracker tr(TrackerParams{.max_gap_ms = 1000, .min_hits = 2});
  // Two people walking towards each other along y = 300 at 10 px per frame, 200 ms apart;
  // person B is not detected on frames 8..10 (a 600 ms gap).
  std::map<int, int> id_of_a, id_of_b;
  for (int i = 0; i < 30; ++i) {
    std::vector<Detection> d;
    d.push_back(PersonAt(100 + 10.f * i, 300));
    if (i < 8 || i > 10) d.push_back(PersonAt(500 - 10.f * i, 310));
    tr.Update(i * 200, d);
    for (const auto& t : tr.tracks()) {
      if (!t.matched || std::abs(200 - 10.f * i) < 15) continue;  // ambiguous while they overlap
      float fx = t.box.x + t.box.width / 2;
      if (std::abs(fx - (100 + 10.f * i)) < 1) id_of_a[i] = t.id;
      if (std::abs(fx - (500 - 10.f * i)) < 1) id_of_b[i] = t.id;
    }
  }
  std::set<int> a_ids, b_ids;
  for (auto [i, id] : id_of_a) a_ids.insert(id);
  for (auto [i, id] : id_of_b) b_ids.insert(id);
  EXPECT_EQ(a_ids.size(), 1u);
  EXPECT_EQ(b_ids.size(), 1u) << "the gap must be bridged";
  EXPECT_NE(*a_ids.begin(), *b_ids.begin());
  // Unseen for longer than max_gap: dropped.
  auto dropped = tr.Update(29 * 200 + 1001, {});
  EXPECT_EQ(dropped.size(), 2u);
  EXPECT_TRUE(tr.tracks().empty());
}

TEST(PeopleTracker, BridgedTrackMovesOnFromWhereItWasLastSeen) {
  PeopleTracker tr(TrackerParams{.max_gap_ms = 2000, .min_hits = 2});
  // Walks right at 10 px per 200 ms (0.05 px/ms, under the 1 height/s cap), then is missed.
  for (int i = 0; i < 5; ++i) tr.Update(i * 200, {PersonAt(100 + 10.f * i, 300)});
  for (int i = 5; i < 9; ++i) {
    tr.Update(i * 200, {});
    ASSERT_EQ(tr.tracks().size(), 1u);
    const Track& t = tr.tracks()[0];
    EXPECT_FALSE(t.matched);
    // Last seen at x = 140 (frame 4): predicted 10 px on per frame since, not compounding.
    EXPECT_NEAR(t.box.x + t.box.width / 2, 140 + 10.f * (i - 4), 0.5f) << i;
  }
  // Found again where the walk went on: the same id; the velocity is the walk's.
  tr.Update(9 * 200, {PersonAt(190, 300)});
  ASSERT_EQ(tr.tracks().size(), 1u);
  EXPECT_TRUE(tr.tracks()[0].detected);
  EXPECT_NEAR(tr.tracks()[0].velocity.x, 0.05f, 0.005f);
}

TEST(PeopleTracker, FollowedFramesAreSeenButNotDetections) {
  PeopleTracker tr(TrackerParams{.max_gap_ms = 1000, .min_hits = 2});
  tr.Update(0, {PersonAt(100, 300)});
  const int id = tr.tracks()[0].id;
  tr.Update(200, {});
  EXPECT_TRUE(tr.Follow(200, id, cv::Rect2f(90, 200, 40, 100)));
  const Track& t = tr.tracks()[0];
  EXPECT_TRUE(t.matched);
  EXPECT_FALSE(t.detected);
  EXPECT_EQ(t.hits, 1);
  EXPECT_FALSE(t.confirmed) << "only detections confirm";
  EXPECT_EQ(t.last_ms, 200);
  EXPECT_EQ(t.detected_ms, 0);
  EXPECT_EQ(t.path.size(), 2u);
  EXPECT_FALSE(tr.Follow(200, id + 1, cv::Rect2f(0, 0, 1, 1)));  // unknown
  // Followed for longer than max_gap since the detection: still seen, so not dropped.
  for (int i = 2; i <= 8; ++i) {
    tr.Update(i * 200, {});
    EXPECT_TRUE(tr.Follow(i * 200, id, cv::Rect2f(90, 200, 40, 100)));
  }
  EXPECT_EQ(tr.tracks().size(), 1u);
  // A detection on the followed box: matched to the same track, confirmed.
  tr.Update(1800, {PersonAt(110, 300)});
  EXPECT_FALSE(tr.Follow(1800, id, cv::Rect2f(0, 0, 1, 1))) << "detected in this frame";
  EXPECT_EQ(tr.tracks()[0].id, id);
  EXPECT_TRUE(tr.tracks()[0].confirmed);
}

TEST(ZonePresence, InertiaDwellAndExitHysteresis) {
  ZonePresence p(PresenceParams{.inertia_frames = 3, .min_dwell_ms = 1000, .exit_ms = 2000});
  // Two frames inside then outside: never present (a detector flicker).
  p.Observe(0, true);
  p.Observe(200, true);
  p.Observe(400, false);
  EXPECT_FALSE(p.Present());
  EXPECT_EQ(p.state(), ZonePresence::State::kOutside);
  // Three frames is enough for inertia but dwell needs 1 s since the first.
  for (int64_t t = 1000; t <= 1800; t += 200) {
    p.Observe(t, true);
    EXPECT_FALSE(p.Present()) << t;
  }
  p.Observe(2000, true);
  EXPECT_TRUE(p.Present());
  EXPECT_EQ(p.entered_ms(), 1000);
  EXPECT_EQ(p.present_ms(), 2000);
  // A short step outside (1 s) keeps the stay.
  p.Observe(2200, false);
  p.Observe(3200, false);
  EXPECT_TRUE(p.Present());
  p.Observe(3400, true);
  EXPECT_EQ(p.state(), ZonePresence::State::kInside);
  // Out for good: ends 2 s after leaving, not before.
  p.Observe(3600, false);
  EXPECT_FALSE(p.Expire(5500));
  EXPECT_TRUE(p.Present());
  EXPECT_TRUE(p.Expire(5600));
  EXPECT_FALSE(p.Present());
  EXPECT_TRUE(p.TakeEnded());
  EXPECT_FALSE(p.TakeEnded());
  EXPECT_EQ(p.last_inside_ms(), 3400);
  // Unseen while inside (detector lost the person): ends exit_ms after the last sight.
  ZonePresence q(PresenceParams{.inertia_frames = 1, .min_dwell_ms = 0, .exit_ms = 2000});
  q.Observe(0, true);
  EXPECT_TRUE(q.Present());
  EXPECT_FALSE(q.Expire(1999));
  EXPECT_TRUE(q.Expire(2000));
}

// Runs `frames` frames; `script(i)` gives frame i's detections.
template <typename F>
Collect RunScript(Analyzer& a, ScriptedDetector& det, int frames, F script) {
  Collect sink;
  for (int i = 0; i < frames; ++i) {
    det.next = script(i);
    a.Process(MakeFrame(i), sink);
  }
  a.Finish(MakeFrame(frames).pts_ms, sink);
  return sink;
}

TEST(ZoneIntrusion, BeginsAfterDwellEndsAfterHysteresis) {
  auto det = std::make_shared<ScriptedDetector>();
  auto a = MakeZoneIntrusion(YAML::Load("{zones: [gate], crop_to_zones: false, motion_regions: false}"),
                             "cameras[0].algorithms.zone_intrusion", Camera(det));
  ASSERT_TRUE(a) << a.error().ToString();
  // 5 fps. A person walks outside the zone on the left (always), another stands in the zone
  // from frame 10 (2.0 s) to frame 30 (6.0 s), a third flickers in the zone for 2 frames.
  auto sink = RunScript(**a, *det, 60, [](int i) {
    std::vector<Detection> d = {PersonAt(100 + i, 300)};
    if (i >= 10 && i <= 30) d.push_back(PersonAt(480, 300, i == 20 ? 0.99f : 0.7f));
    if (i == 40 || i == 41) d.push_back(PersonAt(600, 340));
    return d;
  });
  auto begins = sink.Of(EventPhase::kBegin);
  auto ends = sink.Of(EventPhase::kEnd);
  ASSERT_EQ(begins.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  const EdgeEvent& b = begins[0];
  EXPECT_EQ(b.type, "vision.intrusion");
  EXPECT_EQ(b.zone, "gate");
  EXPECT_EQ(b.camera_id, "cam-1");
  // Track confirmed on frame 11 (min_hits 2), stay confirmed 1 s after its first inside frame.
  EXPECT_EQ(b.start_ms, 2200);
  ASSERT_EQ(b.boxes.size(), 1u);
  EXPECT_NEAR(b.boxes[0].x, 460.f / 640, 1e-4);
  EXPECT_NEAR(b.boxes[0].y + b.boxes[0].h, 300.f / 360, 1e-4);
  const EdgeEvent& e = ends[0];
  EXPECT_EQ(e.id, b.id);
  EXPECT_EQ(e.end_ms, 6000);
  EXPECT_EQ(e.snapshot_pts_ms, 4000) << "the best-scoring frame";
  EXPECT_FALSE(e.snapshot.empty());
  ASSERT_FALSE(e.trajectory.empty());
  EXPECT_NEAR(e.trajectory.front().x, 0.75f, 1e-4);
  ASSERT_TRUE(e.data.contains("tracks"));
  EXPECT_EQ(e.data["tracks"].size(), 1u);
  for (const auto& ev : sink.events) EXPECT_EQ(ev.id, b.id);
  // The end step comes after the exit hysteresis (2 s past 6.0 s), not at Finish.
  EXPECT_LT(sink.events.back().end_ms, 12000);
}

TEST(ZoneIntrusion, EmptyZoneAndDetectorErrorsGiveNoEvents) {
  auto det = std::make_shared<ScriptedDetector>();
  auto a = MakeZoneIntrusion(YAML::Load("{zones: far}"), "k", Camera(det));
  ASSERT_TRUE(a) << a.error().ToString();
  auto sink = RunScript(**a, *det, 50, [](int i) {
    return std::vector<Detection>{PersonAt(480, 300), PersonAt(100 + 5 * i, 330)};
  });
  EXPECT_TRUE(sink.events.empty());
  // The crop around "far" (top-left) is what the detector was given.
  EXPECT_LT(det->last_size.width, 640);
  det->fail = true;
  Collect s2;
  (*a)->Process(MakeFrame(60), s2);
  EXPECT_TRUE(s2.events.empty());
}

TEST(Loitering, LongStayLoitersWalkingThroughDoesNot) {
  auto det = std::make_shared<ScriptedDetector>();
  auto a = MakeLoitering(YAML::Load("{zones: [gate], loiter_s: 20, max_radius: 0.1, "
                                    "crop_to_zones: false, motion_regions: false}"),
                         "k", Camera(det));
  ASSERT_TRUE(a) << a.error().ToString();
  // Person 1 walks slowly across the zone for 40 s (x 330 → 630): in the zone long, but moves
  // far. Person 2 shuffles around (±8 px) at (500, 330) from 10 s to 50 s.
  auto sink = RunScript(**a, *det, 300, [](int i) {
    std::vector<Detection> d;
    if (i < 200) d.push_back(PersonAt(330 + 1.5f * i, 250));
    if (i >= 50 && i < 250) d.push_back(PersonAt(500 + ((i % 4) - 2) * 4.f, 330));
    return d;
  });
  auto begins = sink.Of(EventPhase::kBegin);
  ASSERT_EQ(begins.size(), 1u);
  EXPECT_EQ(begins[0].type, "vision.loitering");
  EXPECT_NEAR(begins[0].start_ms, 10200, 1);
  EXPECT_GE(begins[0].data["dwell_s"].get<double>(), 20.0);
  auto ends = sink.Of(EventPhase::kEnd);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].end_ms, 49800, 1);
}

TEST(Crowd, CountsOverTimeAndHysteresis) {
  auto det = std::make_shared<ScriptedDetector>();
  auto a = MakeCrowd(YAML::Load("{zones: [gate], min_people: 3, min_duration_s: 5, exit_s: 3, "
                                "crop_to_zones: false, motion_regions: false}"),
                     "k", Camera(det));
  ASSERT_TRUE(a) << a.error().ToString();
  // 4 people from 2 s to 20 s; one leaves at 12 s (3 remain); at 20 s two leave; a single
  // frame where only 2 are detected (at 15 s) must not end it.
  auto sink = RunScript(**a, *det, 150, [](int i) {
    std::vector<Detection> d;
    if (i >= 10 && i < 100) {
      d.push_back(PersonAt(360, 300));
      d.push_back(PersonAt(440, 300));
      if (i != 75) d.push_back(PersonAt(520, 300));
      if (i < 60) d.push_back(PersonAt(600, 300));
    } else if (i >= 100) {
      d.push_back(PersonAt(360, 300));
    }
    return d;
  });
  auto begins = sink.Of(EventPhase::kBegin);
  auto ends = sink.Of(EventPhase::kEnd);
  ASSERT_EQ(begins.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(begins[0].type, "vision.crowd");
  // Tracks confirmed at frame 11, present after inertia 2 → count ≥ 3 from 2.4 s, begin 5 s on.
  EXPECT_EQ(begins[0].start_ms, 2400);
  EXPECT_EQ(ends[0].end_ms, 19800);
  EXPECT_EQ(ends[0].data["max_count"].get<int>(), 4);
  const Json& counts = ends[0].data["counts"];
  ASSERT_GE(counts.size(), 15u);
  EXPECT_EQ(counts[0][1].get<int>(), 4);
  int at_15s = -1;
  for (const auto& c : counts)
    if (c[0].get<int64_t>() <= 15000) at_15s = c[1].get<int>();
  EXPECT_EQ(at_15s, 3);
  EXPECT_LT(counts[counts.size() - 1][1].get<int>(), 3);
}

TEST(ZoneAnalyzers, SharedDetectorRunsOncePerFrame) {
  auto det = std::make_shared<ScriptedDetector>();
  auto cam = Camera(det);
  auto a = MakeZoneIntrusion(YAML::Load("{zones: [gate], crop_to_zones: false, motion_regions: false}"), "a", cam);
  auto b = MakeCrowd(YAML::Load("{zones: [gate], crop_to_zones: false, motion_regions: false}"), "b", cam);
  ASSERT_TRUE(a && b);
  Collect sink;
  for (int i = 0; i < 10; ++i) {
    det->next = {PersonAt(480, 300)};
    Frame f = MakeFrame(i);
    (*a)->Process(f, sink);
    (*b)->Process(f, sink);
  }
  EXPECT_EQ(det->calls, 10);
}

// Finds the people of a painted scene that lie wholly inside the region it is given (as a real
// detector would), in the region's pixels, and records the regions.
class RegionDetector final : public Detector {
 public:
  Result<std::vector<Detection>> Detect(const cv::Mat& img) override {
    cv::Size whole;
    cv::Point at;
    img.locateROI(whole, at);
    cv::Rect2f region(static_cast<float>(at.x), static_cast<float>(at.y),
                      static_cast<float>(img.cols), static_cast<float>(img.rows));
    regions.push_back(cv::Rect(at.x, at.y, img.cols, img.rows));
    std::vector<Detection> out;
    for (const auto& p : people)
      if ((p & region) == p)
        out.push_back({p - cv::Point2f(region.x, region.y), "person", 0.9f});
    return out;
  }
  std::vector<std::string> Labels() const override { return {"person"}; }
  std::vector<cv::Rect2f> people;
  std::vector<cv::Rect> regions;
};

// A grey yard with a person painted on it (a dark body, a lighter head: something to follow).
cv::Mat Yard(const std::vector<cv::Rect2f>& people) {
  cv::Mat img(kSize, CV_8UC3, cv::Scalar(90, 90, 90));
  for (const auto& p : people) {
    cv::rectangle(img, p, cv::Scalar(20, 20, 200), cv::FILLED);
    cv::rectangle(img, cv::Rect2f(p.x + p.width / 4, p.y, p.width / 2, p.height / 5),
                  cv::Scalar(150, 170, 210), cv::FILLED);
  }
  return img;
}

TEST(ZoneAnalyzers, DetectsOnlyWhereThingsMoveOrPeopleAreTracked) {
  auto det = std::make_shared<RegionDetector>();
  auto a = MakeZoneIntrusion(YAML::Load("{zones: [gate], crop_to_zones: false, full_scan_s: 4}"),
                             "a", Camera(det));
  ASSERT_TRUE(a);
  Collect s;
  // A person (40 x 100 px) walks right along y = 300, then stands at x = 500.
  auto frame = [&](int64_t i, float x) {
    Frame f = MakeFrame(i);
    det->people = {cv::Rect2f(x - 20, 200, 40, 100)};
    f.image = Yard(det->people);
    return f;
  };
  int64_t i = 0;
  (*a)->Process(frame(i++, 300), s);
  ASSERT_EQ(det->regions.size(), 1u);  // first frame: the whole search area
  EXPECT_EQ(det->regions[0], cv::Rect(0, 0, 640, 360));
  // Walking: detected again in the next frames (new), then followed by appearance and detected
  // again every redetect_s (1 s = 5 frames); every region searched holds the person and is far
  // smaller than the frame (their own motion asks for no other search).
  int searched = 0;
  for (float x = 315; x <= 500; x += 15) {
    det->regions.clear();
    (*a)->Process(frame(i++, x), s);
    for (const auto& r : det->regions) {
      ++searched;
      EXPECT_LT(r.area(), 640 * 360 / 3) << x;
      EXPECT_TRUE(r.contains(cv::Point(static_cast<int>(x), 250))) << x;
    }
  }
  EXPECT_GE(searched, 3);  // 13 frames: confirmed, then every 5 frames
  EXPECT_LE(searched, 6);
  ASSERT_EQ(s.Of(EventPhase::kBegin).size(), 1u);
  // Standing still: still followed, detected again every 5 frames; the event goes on. (The
  // periodic scan at 4 s also searches where they were at the last one, at 0 s.)
  searched = 0;
  int elsewhere = 0;
  for (int k = 0; k < 10; ++k) {
    det->regions.clear();
    (*a)->Process(frame(i++, 500), s);
    for (const auto& r : det->regions) ++(r.contains(cv::Point(500, 250)) ? searched : elsewhere);
  }
  EXPECT_GE(searched, 2);
  EXPECT_LE(searched, 3);
  EXPECT_LE(elsewhere, 1);
  EXPECT_TRUE(s.Of(EventPhase::kEnd).empty());
  // They leave (vanish); with nothing moving and nobody tracked, nothing is searched but the
  // lost track's surroundings (until it is dropped, 2 s) and, at the periodic scan (every 4 s),
  // what changed since the last one: where the person stood. The whole area is not searched
  // again: its pixels have not changed.
  searched = 0;
  int full = 0;
  for (int k = 0; k < 40; ++k) {
    det->regions.clear();
    Frame f = frame(i++, 500);
    det->people.clear();
    f.image = Yard({});
    (*a)->Process(f, s);
    for (const auto& r : det->regions) {
      ++searched;
      full += r == cv::Rect(0, 0, 640, 360);
      EXPECT_TRUE(r.contains(cv::Point(500, 250)));
    }
  }
  EXPECT_EQ(full, 0);
  EXPECT_GE(searched, 1);
  EXPECT_LE(searched, 8);
  EXPECT_EQ(s.Of(EventPhase::kEnd).size(), 1u);
}

TEST(ZoneAnalyzers, FollowsPeopleTheDetectorMissesForAWhile) {
  // The detector finds the person only in the first two frames (the first frame's scan, and
  // the next, while they are new); then they are followed by appearance for follow_s (2 s
  // here) after that last detection, and no longer.
  auto det = std::make_shared<RegionDetector>();
  auto a = MakeZoneIntrusion(
      YAML::Load("{zones: [gate], crop_to_zones: false, follow_s: 2, exit_s: 1}"), "a",
      Camera(det));
  ASSERT_TRUE(a);
  Collect s;
  // Walks right at 15 px per frame into the gate zone (x 320..640, y 180..360), then stands.
  for (int64_t i = 0; i < 40; ++i) {
    const float x = std::min(250.f + 15.f * static_cast<float>(i), 480.f);
    const cv::Rect2f body(x - 20, 200, 40, 100);
    Frame f = MakeFrame(i);
    f.image = Yard({body});
    det->people.clear();
    if (i < 2) det->people.push_back(body);
    (*a)->Process(f, s);
  }
  (*a)->Finish(MakeFrame(40).pts_ms, s);
  auto begins = s.Of(EventPhase::kBegin);
  auto ends = s.Of(EventPhase::kEnd);
  ASSERT_EQ(begins.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(begins[0].start_ms, 1000);   // x = 325 at frame 5: feet inside (followed)
  EXPECT_EQ(ends[0].end_ms, 2200);       // followed until 0.2 s + 2 s
  ASSERT_EQ(ends[0].data["tracks"].size(), 1u);
  // The trajectory follows the walk to where it was last followed: x = 415 at frame 11.
  ASSERT_FALSE(ends[0].trajectory.empty());
  EXPECT_NEAR(ends[0].trajectory.back().x, 415.f / 640, 1.f / 640);
  EXPECT_EQ(ends[0].trajectory.back().pts_ms, 2200);
}

TEST(RetryGrid, WaitsDoubleWhileNobodyIsFoundAndEndWhereSomeoneIs) {
  RetryGrid g;
  const cv::Rect region(64, 64, 96, 128), blob(96, 96, 32, 32);
  EXPECT_EQ(g.Waiting(blob, 0), 0);  // nothing searched yet
  // Searched without finding anyone: waits 500 ms, twice, then (searched again in time) 1, 2,
  // 4 s, and no longer than the maximum.
  int64_t t = 0;
  for (int64_t wait : {500, 500, 1000, 2000, 4000, 4000}) {
    g.Searched(kSize, region, {}, {blob}, t, 500, 4000);
    EXPECT_EQ(g.Waiting(blob, t + wait - 1), 1) << wait;
    EXPECT_EQ(g.Waiting(blob, t + wait), 0) << wait;
    t += wait;
  }
  // Outside the region nothing waits; a blob half over it waits in part. Cells of the region
  // where nothing moved waited only the first 500 ms each time.
  EXPECT_EQ(g.Waiting(cv::Rect(400, 200, 32, 32), t - 1), 0);
  EXPECT_NEAR(g.Waiting(cv::Rect(112, 96, 32, 32), t - 1), 0.5, 1e-9);
  EXPECT_EQ(g.Waiting(cv::Rect(64, 160, 16, 16), t - 1), 0);
  EXPECT_EQ(g.Waiting(cv::Rect(64, 160, 16, 16), t - 4000 + 499), 1);
  // Not searched again for long: the next fruitless search starts again at 500 ms.
  t += 20000;
  g.Searched(kSize, region, {}, {blob}, t, 500, 4000);
  EXPECT_EQ(g.Waiting(blob, t + 499), 1);
  EXPECT_EQ(g.Waiting(blob, t + 500), 0);
  // Someone found there: the cells under them wait no longer, the others still do.
  g.Searched(kSize, region, {}, {blob}, t + 500, 500, 4000);
  g.Searched(kSize, region, {}, {blob}, t + 1000, 500, 4000);  // 1 s wait
  g.Searched(kSize, region, {cv::Rect(96, 96, 32, 32)}, {blob}, t + 1100, 500, 4000);
  EXPECT_EQ(g.Waiting(blob, t + 1200), 0);
  EXPECT_EQ(g.Waiting(cv::Rect(64, 160, 16, 16), t + 1200), 1);
  // Motion elsewhere does not make a cell wait longer.
  RetryGrid m;
  for (int k = 0; k < 4; ++k)
    m.Searched(kSize, region, {}, {cv::Rect(400, 200, 32, 32)}, 400 * k, 500, 4000);
  EXPECT_EQ(m.Waiting(blob, 1200 + 499), 1);
  EXPECT_EQ(m.Waiting(blob, 1200 + 500), 0);
  // Searches without motion there in between do not break the row (a branch does not move in
  // every frame): moving at 0, 1, 2, 3 s, searched without motion at 0.5, 1.5, 2.5 s.
  RetryGrid b;
  for (int k = 0; k < 4; ++k) {
    b.Searched(kSize, region, {}, {blob}, 1000 * k, 500, 4000);
    if (k < 3) b.Searched(kSize, region, {}, {}, 1000 * k + 500, 500, 4000);
  }
  EXPECT_EQ(b.Waiting(blob, 3000 + 1999), 1);  // the fourth in a row: 2 s
  EXPECT_EQ(b.Waiting(blob, 3000 + 2000), 0);
  // A maximum below the base: always the maximum.
  RetryGrid h;
  for (int k = 0; k < 4; ++k) h.Searched(kSize, region, {}, {blob}, 100 * k, 500, 200);
  EXPECT_EQ(h.Waiting(blob, 300 + 199), 1);
  EXPECT_EQ(h.Waiting(blob, 300 + 200), 0);
}

TEST(ZoneAnalyzers, MotionWhereNobodyIsFoundIsSearchedLessAndLessOften) {
  // A flag waves (moves every frame) in the gate zone for 12 s; the detector never finds a
  // person in it. Then a person walks in there.
  auto run = [](const std::string& params, int* flag_searches, int64_t* found_ms) {
    auto det = std::make_shared<RegionDetector>();
    auto a = MakeZoneIntrusion(YAML::Load("{zones: [gate], crop_to_zones: false, min_dwell_s: 0, "
                                          "full_scan_s: 0, " + params + "}"),
                               "a", Camera(det));
    ASSERT_TRUE(a);
    Collect s;
    *flag_searches = 0;
    *found_ms = -1;
    for (int64_t i = 0; i < 90; ++i) {
      Frame f = MakeFrame(i);
      det->people.clear();
      if (i >= 60)  // from 12 s on, a person walks left to right through the flag
        det->people.push_back(cv::Rect2f(446 + 2.f * static_cast<float>(i - 60), 180, 40, 100));
      f.image = cv::Mat(kSize, CV_8UC3, cv::Scalar(90, 90, 90));
      for (const auto& p : det->people)
        cv::rectangle(f.image, p, cv::Scalar(20, 20, 30), cv::FILLED);
      cv::rectangle(f.image, cv::Rect(440 + static_cast<int>(i % 2) * 12, 220, 40, 30),
                    cv::Scalar(240, 240, 240), cv::FILLED);
      det->regions.clear();
      (*a)->Process(f, s);
      if (i >= 1 && i < 60)
        for (const auto& r : det->regions) *flag_searches += r.contains(cv::Point(460, 235));
      if (*found_ms < 0 && !s.Of(EventPhase::kBegin).empty()) *found_ms = f.pts_ms;
    }
  };
  int fixed = 0, backoff = 0;
  int64_t fixed_found = 0, backoff_found = 0;
  run("motion_retry_max_s: 0", &fixed, &fixed_found);
  run("motion_retry_max_s: 4", &backoff, &backoff_found);
  // Every 0.5 s (3 frames at 5 fps) without the back-off: about 20 searches in 11.8 s; with
  // it: after 0.5, 0.5, 1, 2, 4, 4 s: 5 or 6.
  EXPECT_GE(fixed, 18);
  EXPECT_LE(backoff, 7);
  EXPECT_GE(backoff, 4);
  // The person is found at once all the same: their motion covers far more than the flag's
  // waiting cells.
  EXPECT_GE(fixed_found, 12000);
  EXPECT_LE(fixed_found, 12600);
  EXPECT_GE(backoff_found, 12000);
  EXPECT_LE(backoff_found, 12600);
}

TEST(AppearanceFollower, FindsAShiftedPersonRefusesFlatPatches) {
  AppearanceFollower f;
  const cv::Rect2f body(200, 150, 40, 100);
  f.SetFrame(Yard({body}));
  ASSERT_TRUE(f.Remember(7, body));
  // Moved 12 px right and 4 px down; searched from where they were.
  const cv::Rect2f moved = body + cv::Point2f(12, 4);
  f.SetFrame(Yard({moved}));
  auto found = f.Find(7, body, 0.6f);
  ASSERT_TRUE(found);
  EXPECT_NEAR(found->box.x, moved.x, 2.1f);  // the grey copy is half size: 2 px steps
  EXPECT_NEAR(found->box.y, moved.y, 2.1f);
  EXPECT_GT(found->score, 0.9f);
  // Gone: nothing matches well enough.
  f.SetFrame(Yard({}));
  EXPECT_FALSE(f.Find(7, moved, 0.6f));
  EXPECT_FALSE(f.Find(8, moved, 0.6f));  // never remembered
  // A featureless picture gives nothing to follow.
  f.SetFrame(cv::Mat(kSize, CV_8UC3, cv::Scalar(40, 50, 60)));
  EXPECT_FALSE(f.Remember(9, body));
  EXPECT_FALSE(f.Has(9));
  f.Retain({});
  EXPECT_FALSE(f.Has(7));
}

TEST(ZoneAnalyzers, BadParamsNameTheKey) {
  auto cam = Camera(std::make_shared<ScriptedDetector>());
  const std::string k = "cameras[0].algorithms.zone_intrusion";
  auto r = MakeZoneIntrusion(YAML::Load("{zones: [nowhere]}"), k, cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), k + ".zones[0]");
  r = MakeZoneIntrusion(YAML::Load("{zones: [gate, line]}"), k, cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), k + ".zones[1]");
  r = MakeZoneIntrusion(YAML::Load("{min_dwell_s: -1}"), k, cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), k + ".min_dwell_s");
  r = MakeZoneIntrusion(YAML::Load("{inertia: 3}"), k, cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), k + ".inertia");
  r = MakeZoneIntrusion(YAML::Load("{detector: {kind: hog, scale: 0}}"), k, cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), k + ".detector.scale");
  r = MakeZoneIntrusion(YAML::Load("{motion_retry_max_s: -1}"), k, cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), k + ".motion_retry_max_s");
  r = MakeLoitering(YAML::Load("{loiter_s: abc}"), "l", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "l.loiter_s");
  r = MakeCrowd(YAML::Load("{min_people: 1}"), "c", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "c.min_people");
  r = MakeCrowd(YAML::Load("[1]"), "c", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "c");
  CameraContext none = cam;
  none.zones.clear();
  r = MakeCrowd(YAML::Load("{}"), "c", none);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "c.zones");
  // The pipeline's own keys are accepted.
  EXPECT_TRUE(MakeCrowd(YAML::Load("{schedule: x, enabled: true}"), "c", cam));
}

TEST(ZoneAnalyzers, Registered) {
  AnalyzerRegistry reg;
  RegisterZoneAnalyzers(reg);
  EXPECT_EQ(reg.Names(), (std::vector<std::string>{"crowd", "loitering", "zone_intrusion"}));
}

}  // namespace
}  // namespace linli::edge
