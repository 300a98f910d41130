// Tests of the thrown_object analyzer on short generated clips rendered in memory (no codec):
// each hard distractor alone produces no event; a thrown object produces exactly one event
// with the right floor; bad parameters are refused naming the key; bad frames do not crash.
#include "edge/algorithms/thrown_object/thrown_object.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "edge/testing/scene_gen/scene_gen.h"

namespace linli::edge {
namespace {

using scene_gen::Distractor;
using scene_gen::Scene;
using scene_gen::SceneOptions;

class Collect final : public EventSink {
 public:
  void Emit(const EdgeEvent& e) override { events.push_back(e); }
  std::vector<EdgeEvent> events;
  int Count(EventPhase p) const {
    int n = 0;
    for (const auto& e : events) n += e.phase == p;
    return n;
  }
};

YAML::Node Params(const Json& j) { return YAML::Load(j.dump()); }

Result<std::unique_ptr<Analyzer>> Make(const YAML::Node& params, cv::Size size, double fps,
                                       std::vector<Zone> zones = {}) {
  AnalyzerRegistry reg;
  RegisterThrownObject(reg);
  CameraContext ctx;
  ctx.camera_id = "cam-1";
  ctx.frame_size = size;
  ctx.fps = fps;
  ctx.zones = std::move(zones);
  return reg.Create("thrown_object", params, "cameras[0].algorithms.thrown_object", ctx);
}

// Renders the scene and runs the analyzer over it (with `extra` parameters merged into the
// facade's); returns the events.
std::vector<EdgeEvent> RunScene(const SceneOptions& o, scene_gen::SceneTruth* truth_out = nullptr,
                                const Json& extra = Json::object()) {
  auto scene = Scene::Make(o);
  EXPECT_TRUE(scene);
  if (!scene) return {};
  const auto& truth = (*scene)->truth();
  if (truth_out) *truth_out = truth;
  Json params = truth.AnalyzerParams();
  for (auto it = extra.begin(); it != extra.end(); ++it) params[it.key()] = it.value();
  auto analyzer = Make(Params(params), truth.size, truth.fps);
  EXPECT_TRUE(analyzer) << analyzer.error().ToString();
  if (!analyzer) return {};
  Collect sink;
  cv::Mat img;
  for (int64_t i = 0; i < (*scene)->FrameCount(); ++i) {
    EXPECT_TRUE((*scene)->Render(i, img));
    Frame f;
    f.image = img;
    f.index = i;
    f.pts_ms = (*scene)->PtsMs(i);
    (*analyzer)->Process(f, sink);
  }
  (*analyzer)->Finish((*scene)->PtsMs((*scene)->FrameCount()), sink);
  return sink.events;
}

SceneOptions Distractors(uint64_t seed, std::vector<Distractor> d) {
  SceneOptions o;
  o.seed = seed;
  o.size = {640, 360};
  o.fps = 25;
  o.duration_s = 4;
  o.thrown = 0;
  o.distractors = std::move(d);
  return o;
}

TEST(ThrownObject, BirdsAreNotThrownObjects) {
  EXPECT_TRUE(RunScene(Distractors(101, {Distractor::kBird})).empty());
}
TEST(ThrownObject, LeavesAreNotThrownObjects) {
  EXPECT_TRUE(RunScene(Distractors(102, {Distractor::kLeaf})).empty());
}
TEST(ThrownObject, RainIsNotAThrownObject) {
  EXPECT_TRUE(RunScene(Distractors(103, {Distractor::kRain})).empty());
}
TEST(ThrownObject, LaundryIsNotAThrownObject) {
  EXPECT_TRUE(RunScene(Distractors(104, {Distractor::kLaundry})).empty());
}
TEST(ThrownObject, WindowLightsAreNotThrownObjects) {
  SceneOptions o = Distractors(105, {Distractor::kLightToggle});
  o.lighting = scene_gen::Lighting::kNight;
  EXPECT_TRUE(RunScene(o).empty());
}
TEST(ThrownObject, CameraShakeIsNotAThrownObject) {
  EXPECT_TRUE(RunScene(Distractors(106, {Distractor::kShake})).empty());
}

TEST(ThrownObject, ASwayingTreeIsNotAThrownObject) {
  for (uint64_t seed : {211, 215, 240}) {
    SceneOptions o = Distractors(seed, {Distractor::kTree});
    o.duration_s = 6;
    EXPECT_TRUE(RunScene(o).empty()) << "seed " << seed;
  }
}

TEST(ThrownObject, WalkingPeopleAreNotThrownObjects) {
  for (uint64_t seed : {231, 251}) {
    SceneOptions o = Distractors(seed, {Distractor::kWalker});
    o.duration_s = 6;
    EXPECT_TRUE(RunScene(o).empty()) << "seed " << seed;
  }
}

// An object thrown past a swaying tree and walking people is still found.
TEST(ThrownObject, AThrownObjectBesideATreeAndWalkersIsFound) {
  SceneOptions o;
  o.seed = 7;
  o.size = {960, 540};
  o.fps = 25;
  o.duration_s = 5;
  o.thrown = 1;
  o.lighting = scene_gen::Lighting::kDay;
  o.distractors = {Distractor::kTree, Distractor::kWalker};
  scene_gen::SceneTruth truth;
  auto events = RunScene(o, &truth);
  ASSERT_EQ(truth.ThrownCount(), 1);
  int ends = 0;
  for (const auto& e : events) {
    if (e.phase != EventPhase::kEnd) continue;
    ++ends;
    EXPECT_EQ(e.data["floor"].get<int>(), truth.objects[0].floor);
  }
  EXPECT_EQ(ends, 1);
}

// Upswing: a branch that swung up before it swings down has risen; a dropped object has not.
TEST(ThrownObjectPhysics, UpswingMeasuresTheRiseBeforeTheFall) {
  std::vector<thrown::FallPoint> branch, pot;
  for (int i = 0; i < 20; ++i) {
    const double t = i * 0.04;
    branch.push_back({t, {100, 200 - 8 * std::sin(3.14159 * t / 0.8)}, 4});
    pot.push_back({t, {100, 200 + 0.1 * (i % 2)}, 4});
  }
  EXPECT_GT(thrown::Upswing(branch, 0.8), 7.0);
  EXPECT_LT(thrown::Upswing(pot, 0.8), 0.5);
  // Only the last seconds count.
  EXPECT_LT(thrown::Upswing(branch, 10.0, 3.0), 0.5);
}

// The appearance tests: a blob inside a larger moving thing ("attached"), crossing busy
// places ("busy"), or changing its area by leaps ("unsteady") is not accepted though it falls
// like a body; the same fall alone on a still wall is.
TEST(ThrownObjectPhysics, AppearanceRejectsAttachedBusyAndUnsteadyTracks) {
  thrown::FacadeSpec spec;
  spec.quad = {cv::Point2f(0.1f, 0.95f), cv::Point2f(0.9f, 0.95f), cv::Point2f(0.9f, 0.05f),
               cv::Point2f(0.1f, 0.05f)};
  spec.floors = 10;
  const thrown::FacadeModel facade(spec, {640, 360});
  thrown::FallLimits limits;
  auto Fall = [&](double context, double activity, bool jumpy) {
    std::vector<thrown::FallPoint> pts;
    for (int i = 0; i < 20; ++i) {
      const double t = i * 0.04;
      thrown::FallPoint p{t, {300, 60 + 0.5 * facade.GravityPx({300, 100}) * t * t}, 5};
      p.area_px = jumpy && i % 2 ? 60 : 18;
      p.context = context;
      p.activity = activity;
      pts.push_back(p);
    }
    return thrown::TestFall(pts, facade, limits);
  };
  EXPECT_TRUE(Fall(0, 0.05, false).accepted) << Fall(0, 0.05, false).reason;
  EXPECT_EQ(Fall(1.5, 0.05, false).reason, "attached");
  EXPECT_EQ(Fall(0, 0.6, false).reason, "busy");
  EXPECT_EQ(Fall(0, 0.05, true).reason, "unsteady");
}

TEST(ThrownObject, OneThrownObjectOneEventWithItsFloor) {
  SceneOptions o;
  o.seed = 7;
  o.size = {960, 540};
  o.fps = 25;
  o.duration_s = 5;
  o.thrown = 1;
  o.lighting = scene_gen::Lighting::kDay;
  scene_gen::SceneTruth truth;
  auto events = RunScene(o, &truth);
  ASSERT_EQ(truth.ThrownCount(), 1);
  const auto& gt = truth.objects[0];
  ASSERT_EQ(gt.kind, "thrown");
  ASSERT_EQ(events.size(), 2u);
  const EdgeEvent& begin = events[0];
  const EdgeEvent& end = events[1];
  EXPECT_EQ(begin.phase, EventPhase::kBegin);
  EXPECT_EQ(end.phase, EventPhase::kEnd);
  EXPECT_EQ(begin.id, end.id);
  EXPECT_EQ(end.type, "vision.thrown_object");
  EXPECT_EQ(end.camera_id, "cam-1");
  EXPECT_EQ(end.data["floor"].get<int>(), gt.floor);
  EXPECT_EQ(end.data["window"].get<int>(), gt.window);
  ASSERT_TRUE(end.origin);
  EXPECT_NEAR(end.origin->x, gt.origin->x, 0.02);
  EXPECT_NEAR(end.origin->y, gt.origin->y, 0.02);
  // The event spans the fall and carries what the platform shows.
  EXPECT_LE(std::abs(end.start_ms - gt.start_ms), 400);
  EXPECT_GE(end.end_ms, gt.end_ms - 400);
  EXPECT_GE(end.trajectory.size(), 10u);
  EXPECT_FALSE(end.snapshot.empty());
  EXPECT_GT(end.data["fall_height_px"].get<double>(), 20);
  EXPECT_GT(end.data["duration_ms"].get<int64_t>(), 300);
  EXPECT_EQ(end.data["trajectory"].size(), end.trajectory.size());
  ASSERT_EQ(end.boxes.size(), 2u);
  EXPECT_EQ(end.boxes[1].label, "trajectory");
  EXPECT_GT(end.score, 0.5);
  EXPECT_LE(end.score, 1.0);
}

// A dark object falling down a wall striped with dark bands (window rows, railings) is
// invisible over every band: the track only continues because those misses are explained
// as hidden (max_hidden_s); with max_hidden_s 0 the gaps break it up or make it "gappy".
std::vector<EdgeEvent> RunStripedWall(double max_hidden_s, int* floor = nullptr) {
  const cv::Size size(640, 360);
  const double fps = 25, ppm = 12;  // 10 floors of 3 m over 360 px
  auto analyzer = Make(Params(Json{{"facade", Json::array({Json::array({0.0, 1.0}),
                                                           Json::array({1.0, 1.0}),
                                                           Json::array({1.0, 0.0}),
                                                           Json::array({0.0, 0.0})})},
                                   {"floors", 10},
                                   {"floor_height_m", 3.0},
                                   {"max_hidden_s", max_hidden_s}}),
                       size, fps);
  EXPECT_TRUE(analyzer) << analyzer.error().ToString();
  if (!analyzer) return {};
  cv::Mat wall(size, CV_8UC3, cv::Scalar(150, 150, 150));
  for (int y = 8; y < size.height; y += 30) {
    wall(cv::Rect(0, y, size.width, 20)).setTo(cv::Scalar(45, 45, 45));
  }
  cv::RNG rng(11);
  Collect sink;
  const double x0 = 321, y0 = 30, release_s = 1.2;
  cv::Mat img, noise(size, CV_16SC3);
  for (int i = 0; i < 100; ++i) {
    const double t = i / fps;
    wall.copyTo(img);
    if (t >= release_s) {
      const double dt = t - release_s;
      const double y = y0 + 0.5 * 9.81 * ppm * dt * dt;
      if (y < size.height - 4) {
        cv::circle(img, cv::Point(cvRound(x0 * 16), cvRound(y * 16)), 2 * 16,
                   cv::Scalar(45, 45, 45), cv::FILLED, cv::LINE_AA, 4);
      }
    }
    rng.fill(noise, cv::RNG::NORMAL, 0, 2.0);
    cv::Mat img16;
    img.convertTo(img16, CV_16SC3);
    img16 += noise;
    img16.convertTo(img, CV_8UC3);
    Frame f;
    f.image = img;
    f.index = i;
    f.pts_ms = std::llround(t * 1000);
    (*analyzer)->Process(f, sink);
  }
  (*analyzer)->Finish(4000, sink);
  std::vector<EdgeEvent> ends;
  for (const auto& e : sink.events) {
    if (e.phase == EventPhase::kEnd) ends.push_back(e);
  }
  if (floor && !ends.empty()) *floor = ends[0].data["floor"].get<int>();
  return ends;
}

TEST(ThrownObject, AnObjectHiddenByDarkBandsIsFollowedThroughThem) {
  int floor = 0;
  auto events = RunStripedWall(0.4, &floor);
  ASSERT_EQ(events.size(), 1u);
  // Released 30 px below the top of a 10-floor facade of 360 px: the top floor.
  EXPECT_EQ(floor, 10);
  EXPECT_NEAR(events[0].origin->y, 30.0 / 360, 0.03);
  EXPECT_TRUE(RunStripedWall(0.0).empty());
}

TEST(ThrownObject, NeedsFullRateUngated) {
  auto a = Make(Params(Json{{"facade", Json::array({Json::array({0.1, 0.9}),
                                                    Json::array({0.9, 0.9}),
                                                    Json::array({0.9, 0.1}),
                                                    Json::array({0.1, 0.1})})},
                            {"floors", 10}}),
                {640, 360}, 25);
  ASSERT_TRUE(a) << a.error().ToString();
  FrameNeeds n = (*a)->Needs();
  EXPECT_TRUE(n.full_rate);
  EXPECT_FALSE(n.motion_gated);
  EXPECT_EQ(n.max_width, 1280);
  EXPECT_EQ((*a)->Name(), "thrown_object");
}

TEST(ThrownObject, BadParametersNameTheKey) {
  const Json quad = Json::array({Json::array({0.1, 0.9}), Json::array({0.9, 0.9}),
                                 Json::array({0.9, 0.1}), Json::array({0.1, 0.1})});
  struct Case {
    Json params;
    std::string field;
    std::string message;
  };
  const std::string k = "cameras[0].algorithms.thrown_object";
  std::vector<Case> cases = {
      {Json{{"facade", quad}, {"floors", 0}}, k + ".floors", "must be 1..200"},
      {Json{{"facade", quad}, {"floors", 201}}, k + ".floors", "must be 1..200"},
      {Json{{"facade", quad}}, k + ".floors", "is required (must be 1..200)"},
      {Json{{"floors", 5}}, k + ".facade", ""},
      {Json{{"facade", quad}, {"floors", "many"}}, k + ".floors", "must be an integer"},
      {Json{{"facade", quad}, {"floors", 5}, {"gravity_min", 3}}, k + ".gravity_min", ""},
      {Json{{"facade", quad}, {"floors", 5}, {"backgroud", "mog2"}}, k + ".backgroud",
       "unknown parameter"},
      {Json{{"facade", quad}, {"floors", 5}, {"background", "knn"}}, k + ".background", ""},
      {Json{{"facade", Json::array({Json::array({0.1, 0.9})})}, {"floors", 5}}, k + ".facade",
       ""},
      {Json{{"facade", Json::array({Json::array({0.1, 0.1}), Json::array({0.9, 0.1}),
                                    Json::array({0.9, 0.9}), Json::array({0.1, 0.9})})},
            {"floors", 5}},
       k + ".facade", ""},
      {Json{{"facade", "no_such_zone"}, {"floors", 5}}, k + ".facade", ""},
      {Json{{"facade", Json::array({Json::array({0.1, 0.9}), Json::array({0.9, 0.9}),
                                    Json::array({0.9, 0.1}), Json::array({0.1, 7})})},
            {"floors", 5}},
       k + ".facade[3]", ""},
      {Json{{"facade", quad}, {"floors", 5}, {"process_width", 20}}, k + ".process_width", ""},
  };
  for (const Case& c : cases) {
    auto a = Make(Params(c.params), {640, 360}, 25);
    ASSERT_FALSE(a) << c.params.dump();
    EXPECT_EQ(a.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(a.error().field(), c.field) << c.params.dump();
    if (!c.message.empty()) {
      EXPECT_EQ(a.error().message(), c.message);
    }
  }
  // ToString gives "<key>: <reason>".
  auto a = Make(Params(Json{{"facade", quad}, {"floors", 0}}), {640, 360}, 25);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().ToString().find(k + ".floors: must be 1..200"), std::string::npos);
}

TEST(ThrownObject, FacadeFromAZoneInAnyCornerOrder) {
  Zone z;
  z.name = "tower_b";
  z.points = {{0.8f, 0.1f}, {0.2f, 0.9f}, {0.2f, 0.1f}, {0.8f, 0.9f}};
  auto a = Make(Params(Json{{"facade", "tower_b"}, {"floors", 12}, {"columns", 4}}), {640, 360},
                25, {z});
  ASSERT_TRUE(a) << a.error().ToString();
  auto* t = dynamic_cast<thrown::ThrownObjectAnalyzer*>(a->get());
  ASSERT_NE(t, nullptr);
  const auto& q = t->config().facade.quad;
  EXPECT_FLOAT_EQ(q[0].x, 0.2f);  // bottom-left
  EXPECT_FLOAT_EQ(q[0].y, 0.9f);
  EXPECT_FLOAT_EQ(q[2].x, 0.8f);  // top-right
  EXPECT_FLOAT_EQ(q[2].y, 0.1f);
  EXPECT_EQ(t->config().zone_name, "tower_b");
}

TEST(ThrownObject, BadFramesAreCountedNotFatal) {
  auto a = Make(Params(Json{{"facade", Json::array({Json::array({0.1, 0.9}),
                                                    Json::array({0.9, 0.9}),
                                                    Json::array({0.9, 0.1}),
                                                    Json::array({0.1, 0.1})})},
                            {"floors", 10}}),
                {320, 240}, 25);
  ASSERT_TRUE(a);
  auto* t = dynamic_cast<thrown::ThrownObjectAnalyzer*>(a->get());
  Collect sink;
  Frame f;
  (*a)->Process(f, sink);  // empty
  f.image = cv::Mat(240, 320, CV_8U, cv::Scalar(0));
  (*a)->Process(f, sink);  // grey
  f.image = cv::Mat(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
  for (int i = 0; i < 5; ++i) {
    f.pts_ms = 1000;  // time that does not move
    (*a)->Process(f, sink);
  }
  f.image = cv::Mat(480, 640, CV_8UC3, cv::Scalar(90, 90, 90));  // size changes
  f.pts_ms = 2000;
  (*a)->Process(f, sink);
  (*a)->Finish(3000, sink);
  EXPECT_EQ(t->stats().bad_frames, 2);
  EXPECT_EQ(t->stats().frames, 8);
  EXPECT_TRUE(sink.events.empty());
}

}  // namespace
}  // namespace linli::edge
