// ROI features, the few-shot classifier and the roi_state analyzer on generated scenes with
// exact ground truth (roi_scenes.h), under lighting the examples were not enrolled in.
#include <filesystem>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "edge/algorithms/roi_state/roi_features.h"
#include "edge/algorithms/roi_state/roi_scenes.h"
#include "edge/algorithms/roi_state/roi_state.h"

namespace linli::edge {
namespace {

using testing::Lighting;
using testing::RandomLighting;
using testing::RoiSceneGen;
using testing::RoiSceneKind;

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("linli_roi_test_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

struct Collect final : EventSink {
  void Emit(const EdgeEvent& e) override { events.push_back(e); }
  std::vector<EdgeEvent> events;
};

class RoiClassifierOnScenes : public ::testing::TestWithParam<RoiSceneKind> {};

TEST_P(RoiClassifierOnScenes, FourExamplesPerStateGeneraliseAcrossLighting) {
  RoiSceneGen gen(GetParam());
  ASSERT_TRUE(gen.ok()) << "opencv-doc and darknet images are needed";
  RoiClassifier c(1, 0.05);
  for (uint64_t i = 0; i < 4; ++i) {
    c.Add(gen.normal_state(), ExtractRoiFeatures(gen.Render(false, i, RandomLighting(i)), gen.roi().points));
    c.Add(gen.alarm_state(), ExtractRoiFeatures(gen.Render(true, i, RandomLighting(100 + i)), gen.roi().points));
  }
  EXPECT_EQ(c.Count(gen.normal_state()), 4u);
  int right = 0, wrong_certain = 0, n = 0;
  for (uint64_t i = 1000; i < 1030; ++i)
    for (bool alarm : {false, true}) {
      auto v = c.Classify(ExtractRoiFeatures(gen.Render(alarm, i, RandomLighting(i * 3 + alarm)),
                                             gen.roi().points));
      ++n;
      const std::string truth = alarm ? gen.alarm_state() : gen.normal_state();
      if (v.state == truth) ++right;
      if (v.certain && v.state != truth) ++wrong_certain;
    }
  double acc = static_cast<double>(right) / n;
  // The real photograph with five kinds of real blockers, four examples each: weaker.
  const bool real = GetParam() == RoiSceneKind::kRealLane;
  EXPECT_GE(acc, real ? 0.75 : 0.9) << testing::RoiSceneName(GetParam());
  EXPECT_LE(wrong_certain, real ? 12 : 3) << testing::RoiSceneName(GetParam());
  std::printf("%s: accuracy %.3f, certain and wrong %d of %d\n",
              testing::RoiSceneName(GetParam()), acc, wrong_certain, n);
}

INSTANTIATE_TEST_SUITE_P(All, RoiClassifierOnScenes,
                         ::testing::Values(RoiSceneKind::kGarbageBin, RoiSceneKind::kFireLane,
                                           RoiSceneKind::kDoor, RoiSceneKind::kRealLane),
                         [](const auto& info) { return testing::RoiSceneName(info.param); });

CameraContext Camera(const RoiSceneGen& gen, const std::string& state_dir = "") {
  CameraContext c;
  c.camera_id = "cam-7";
  c.frame_size = {640, 360};
  c.fps = 5;
  c.zones = {gen.roi(), Zone{"line", {{0, 0}, {1, 1}}}};
  c.state_dir = state_dir;
  return c;
}

// Writes examples as image files and returns the `enroll:` YAML for them.
std::string EnrollYaml(const RoiSceneGen& gen, const std::string& dir, int per_state) {
  std::string y = "{";
  for (bool alarm : {false, true}) {
    std::string state = alarm ? gen.alarm_state() : gen.normal_state();
    y += state + ": [";
    for (int i = 0; i < per_state; ++i) {
      std::string f = dir + "/" + state + std::to_string(i) + ".png";
      cv::imwrite(f, gen.Render(alarm, static_cast<uint64_t>(i), RandomLighting(alarm * 50 + i)));
      y += (i ? ", " : "") + f;
    }
    y += alarm ? "]" : "], ";
  }
  return y + "}";
}

TEST(RoiStateAnalyzer, FireLaneBlockedEpisodeWithSmoothing) {
  RoiSceneGen gen(RoiSceneKind::kFireLane);
  std::string dir = TempDir("lane");
  auto a = MakeRoiState(YAML::Load("{roi: fire_lane, check: fire_lane_blocked, "
                                   "min_duration_s: 4, enroll: " + EnrollYaml(gen, dir, 4) + "}"),
                        "cameras[0].algorithms.roi_state", Camera(gen));
  ASSERT_TRUE(a) << a.error().ToString();
  Collect sink;
  // 5 fps for 70 s: clear, blocked in [20, 50) s, clear; the lighting drifts slowly, and a
  // single odd frame (a blocked frame at 10 s) must not raise anything.
  // Frames at 2.5 fps (the analyzer evaluates once a second anyway).
  for (int i = 0; i < 175; ++i) {
    Frame f;
    f.index = i;
    f.pts_ms = i * 400;
    bool blocked = (f.pts_ms >= 20000 && f.pts_ms < 50000) || f.pts_ms == 10000;
    Lighting l = RandomLighting(static_cast<uint64_t>(i / 12) + 500);  // changes every ~5 s
    f.image = gen.Render(blocked, static_cast<uint64_t>(blocked ? 7 : i), l);
    (*a)->Process(f, sink);
  }
  (*a)->Finish(70000, sink);
  ASSERT_EQ(sink.events.size(), 2u);
  const EdgeEvent& b = sink.events[0];
  EXPECT_EQ(b.type, "vision.fire_lane_blocked");
  EXPECT_EQ(b.phase, EventPhase::kBegin);
  EXPECT_EQ(b.zone, "fire_lane");
  EXPECT_GE(b.start_ms, 20000);
  EXPECT_LE(b.start_ms, 22000);
  EXPECT_EQ(b.data["state"], "blocked");
  EXPECT_FALSE(b.snapshot.empty());
  ASSERT_EQ(b.boxes.size(), 1u);
  const EdgeEvent& e = sink.events[1];
  EXPECT_EQ(e.phase, EventPhase::kEnd);
  EXPECT_EQ(e.id, b.id);
  EXPECT_GE(e.end_ms, 48000);
  EXPECT_LE(e.end_ms, 50000);
}

TEST(RoiStateAnalyzer, EnrolFromVideoTimesAndThroughTheApiPersisted) {
  RoiSceneGen gen(RoiSceneKind::kDoor);
  std::string dir = TempDir("door");
  // A real video: closed for 0-4 s, open for 4-8 s (5 fps, MJPG).
  std::string video = dir + "/door.avi";
  {
    cv::VideoWriter w(video, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 5, {640, 360});
    ASSERT_TRUE(w.isOpened());
    for (int i = 0; i < 40; ++i)
      w.write(gen.Render(i >= 20, static_cast<uint64_t>(i), RandomLighting(static_cast<uint64_t>(i))));
  }
  std::string state_dir = dir + "/state";
  auto a = MakeRoiState(YAML::Load("{roi: door, check: door_open, enroll: {closed: [{video: " +
                                   video + ", at_s: [0.4, 1.5, 3.0]}], open: [{video: " + video +
                                   ", at_s: [4.4, 6, 7.6]}]}}"),
                        "k", Camera(gen, state_dir));
  ASSERT_TRUE(a) << a.error().ToString();
  auto* enrol = dynamic_cast<RoiEnrollment*>(a->get());
  ASSERT_NE(enrol, nullptr);
  EXPECT_EQ(enrol->States(), (std::vector<std::string>{"closed", "open"}));
  // The API path: two more examples per state, persisted.
  for (uint64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(enrol->Enroll("closed", gen.Render(false, 90 + i, RandomLighting(90 + i))));
    ASSERT_TRUE(enrol->Enroll("open", gen.Render(true, 95 + i, RandomLighting(95 + i))));
  }
  auto bad = enrol->Enroll("Open Wide", gen.Render(true, 1, Lighting{}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field(), "state");
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(state_dir + "/roi_state/door"))
    files += e.is_regular_file();
  EXPECT_EQ(files, 4);
  // A new analyzer with no config examples learns from what was persisted.
  auto again = MakeRoiState(YAML::Load("{roi: door, check: door_open}"), "k", Camera(gen, state_dir));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(dynamic_cast<RoiEnrollment*>(again->get())->States().size(), 2u);
}

TEST(RoiStateAnalyzer, BadParamsNameTheKey) {
  RoiSceneGen gen(RoiSceneKind::kGarbageBin);
  std::string dir = TempDir("bad");
  std::string enroll = EnrollYaml(gen, dir, 1);
  CameraContext cam = Camera(gen);
  const std::string k = "cameras[1].algorithms.roi_state";
  auto expect_field = [&](const std::string& yaml, const std::string& field) {
    auto r = MakeRoiState(YAML::Load(yaml), k, cam);
    ASSERT_FALSE(r) << yaml;
    EXPECT_EQ(r.error().field(), k + field) << r.error().ToString();
  };
  expect_field("{}", ".roi");
  expect_field("{roi: nowhere}", ".roi");
  expect_field("{roi: line}", ".roi");
  expect_field("{roi: bin, check: overflowing, enroll: " + enroll + "}", ".check");
  expect_field("{roi: bin, enroll: " + enroll + "}", ".alarm_states");
  expect_field("{roi: bin, check: garbage_overflow}", ".enroll");
  expect_field("{roi: bin, check: garbage_overflow, min_duration_s: -2, enroll: " + enroll + "}",
               ".min_duration_s");
  expect_field("{roi: bin, check: garbage_overflow, enroll: {normal: [/no/such.png]}}",
               ".enroll.normal[0]");
  expect_field("{roi: bin, check: garbage_overflow, enroll: {normal: [{video: /no/such.avi, "
               "at_s: 1}]}}",
               ".enroll.normal[0].video");
  expect_field("{roi: bin, alarm_states: [full], enroll: " + enroll + "}", ".alarm_states[0]");
  expect_field("{roi: bin, check: garbage_overflow, enroll: {Bad State: []}}",
               ".enroll.Bad State");
  expect_field("{roi: bin, check: garbage_overflow, colour: red, enroll: " + enroll + "}",
               ".colour");
  auto ok = MakeRoiState(YAML::Load("{roi: bin, check: garbage_overflow, enroll: " + enroll + "}"),
                         k, cam);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_FALSE((*ok)->Needs().motion_gated);
  Collect sink;
  Frame f;
  (*ok)->Process(f, sink);  // empty frame: ignored
  f.image = cv::Mat(10, 10, CV_8UC3, cv::Scalar(0));
  (*ok)->Process(f, sink);  // ROI too small in this frame: no verdict, no crash
  EXPECT_TRUE(sink.events.empty());
}

TEST(RoiStateAnalyzer, Registered) {
  AnalyzerRegistry reg;
  RegisterRoiState(reg);
  EXPECT_EQ(reg.Names(), std::vector<std::string>{"roi_state"});
}

}  // namespace
}  // namespace linli::edge
