// Tests of the scene generator: determinism, ground-truth physics, JSON round trip, every
// distractor renders, bad options refused.
#include "edge/testing/scene_gen/scene_gen.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

namespace linli::edge::scene_gen {
namespace {

SceneOptions Small(uint64_t seed) {
  SceneOptions o;
  o.seed = seed;
  o.size = {640, 360};
  o.fps = 25;
  o.duration_s = 4;
  return o;
}

TEST(SceneGen, SameOptionsSamePixels) {
  auto a = Scene::Make(Small(5));
  auto b = Scene::Make(Small(5));
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*a)->truth().ToJson().dump(), (*b)->truth().ToJson().dump());
  cv::Mat fa, fb;
  for (int64_t i : {0, 40, 77}) {
    ASSERT_TRUE((*a)->Render(i, fa));
    ASSERT_TRUE((*b)->Render(i, fb));
    EXPECT_EQ(cv::norm(fa, fb, cv::NORM_INF), 0) << "frame " << i;
  }
  // Order does not matter.
  cv::Mat again;
  ASSERT_TRUE((*a)->Render(0, again));
  ASSERT_TRUE((*b)->Render(0, fb));
  EXPECT_EQ(cv::norm(again, fb, cv::NORM_INF), 0);
}

TEST(SceneGen, DifferentSeedsDiffer) {
  auto a = Scene::Make(Small(5));
  auto b = Scene::Make(Small(6));
  ASSERT_TRUE(a && b);
  cv::Mat fa, fb;
  ASSERT_TRUE((*a)->Render(10, fa));
  ASSERT_TRUE((*b)->Render(10, fb));
  EXPECT_GT(cv::norm(fa, fb, cv::NORM_L1), 0);
}

TEST(SceneGen, ThrownTruthFallsWithGravity) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto s = Scene::Make(Small(seed));
    ASSERT_TRUE(s);
    const SceneTruth& t = (*s)->truth();
    ASSERT_EQ(t.ThrownCount(), 1) << seed;
    const ObjectTruth& o = t.objects[0];
    ASSERT_EQ(o.kind, "thrown");
    ASSERT_TRUE(o.origin);
    EXPECT_GE(o.floor, 1);
    EXPECT_LE(o.floor, t.facade.floors);
    EXPECT_GE(o.window, 1);
    EXPECT_LE(o.window, t.facade.columns);
    ASSERT_GE(o.trajectory.size(), 8u) << seed;
    EXPECT_LE(o.last_frame, t.frames - 1);
    // It ends lower than it started, and the last steps are faster than the first ones.
    const auto& tr = o.trajectory;
    const double floor_norm = (t.facade.quad[0].y - t.facade.quad[3].y) / t.facade.floors;
    EXPECT_GT(tr.back().y, tr.front().y + 0.8 * floor_norm) << seed;
    double early = tr[2].y - tr[1].y, late = tr[tr.size() - 1].y - tr[tr.size() - 2].y;
    EXPECT_GT(late, early) << seed;
    // The release point is where the first frame's blob is (within a few pixels).
    EXPECT_NEAR(o.origin->y * t.size.height, tr.front().y * t.size.height,
                std::max(6.0, 0.4 * t.size.height / t.facade.floors))
        << seed;
  }
}

TEST(SceneGen, TruthJsonRoundTrip) {
  SceneOptions o = Small(9);
  o.distractors = {Distractor::kBird, Distractor::kRain};
  auto s = Scene::Make(o);
  ASSERT_TRUE(s);
  Json j = (*s)->truth().ToJson();
  auto back = SceneTruth::FromJson(j);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->ToJson().dump(), j.dump());
  EXPECT_TRUE(j["analyzer_params"].contains("facade"));
  EXPECT_FALSE(SceneTruth::FromJson(Json{{"seed", 1}}));
}

TEST(SceneGen, EveryDistractorRendersAndIsLabelled) {
  for (Distractor d : AllDistractors()) {
    SceneOptions o = Small(11);
    o.thrown = 0;
    o.distractors = {d};
    auto s = Scene::Make(o);
    ASSERT_TRUE(s) << DistractorName(d);
    const SceneTruth& t = (*s)->truth();
    EXPECT_EQ(t.ThrownCount(), 0);
    bool labelled = false;
    for (const auto& obj : t.objects) labelled |= obj.kind == DistractorName(d);
    EXPECT_TRUE(labelled) << DistractorName(d);
    // The distractor changes pixels compared with the same scene without it.
    SceneOptions plain = o;
    plain.distractors.clear();
    auto p = Scene::Make(plain);
    ASSERT_TRUE(p);
    double diff = 0;
    cv::Mat a, b;
    for (int64_t i = 0; i < t.frames; i += 5) {
      ASSERT_TRUE((*s)->Render(i, a));
      ASSERT_TRUE((*p)->Render(i, b));
      diff += cv::norm(a, b, cv::NORM_L1);
    }
    EXPECT_GT(diff, 0) << DistractorName(d);
  }
}

TEST(SceneGen, BadOptionsAreRefused) {
  SceneOptions o = Small(1);
  o.size = {100, 50};
  auto s = Scene::Make(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().field(), "size");
  SceneOptions still = Small(1);
  still.backdrop = Backdrop::kStill;
  still.backdrop_path = "/nonexistent/building.jpg";
  auto t = Scene::Make(still);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field(), "backdrop_path");
  ClipFormat bad;
  bad.codec = "divx3";
  auto w = WriteClip(Small(1), bad, "/tmp/never.avi", "");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().field(), "codec");
}

}  // namespace
}  // namespace linli::edge::scene_gen
