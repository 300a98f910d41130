// camera_health on generated scenes doctored in memory: each fault gives its event (begin
// inside the fault, end after it) and no other; a clean scene gives none.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "edge/algorithms/camera_health/camera_health.h"
#include "edge/algorithms/camera_health/doctored_clips.h"

namespace linli::edge {
namespace {

using testing::CollectingSink;
using testing::Doctoring;

// A textured street-like scene (seeded), with a walker and sensor noise per frame.
class Scene {
 public:
  explicit Scene(uint64_t seed, cv::Size size = {320, 180}) : rng_(seed) {
    bg_ = cv::Mat(size, CV_8UC3, cv::Scalar(110, 115, 120));
    for (int i = 0; i < 60; ++i) {
      cv::Point a(rng_.uniform(0, size.width), rng_.uniform(0, size.height));
      cv::Point b = a + cv::Point(rng_.uniform(5, 60), rng_.uniform(5, 40));
      cv::Scalar c(rng_.uniform(20, 235), rng_.uniform(20, 235), rng_.uniform(20, 235));
      if (i % 3 == 0) {
        cv::circle(bg_, a, rng_.uniform(3, 20), c, cv::FILLED);
      } else if (i % 3 == 1) {
        cv::rectangle(bg_, a, b, c, cv::FILLED);
      } else {
        cv::line(bg_, a, b, c, 2);
      }
    }
  }
  // The scene at frame i, before the sensor.
  cv::Mat At(int i) {
    cv::Mat f = bg_.clone();
    int x = (i * 4) % (f.cols + 40) - 20;
    cv::rectangle(f, cv::Rect(x, f.rows / 2, 14, 40), cv::Scalar(30, 30, 160), cv::FILLED);
    return f;
  }
  // Sensor noise: what the camera adds to whatever it sees (paint, a blurred image, ...).
  cv::Mat Sensor(cv::Mat f) {
    cv::Mat noise(f.size(), CV_16SC3);
    rng_.fill(noise, cv::RNG::NORMAL, 0, 2.5);
    cv::Mat f16;
    f.convertTo(f16, CV_16SC3);
    f16 += noise;
    f16.convertTo(f, CV_8UC3);
    return f;
  }

 private:
  cv::RNG rng_;
  cv::Mat bg_;
};

struct Outcome {
  std::vector<EdgeEvent> events;
};

// 5 fps: clean 0-12 s, doctored [12, 30) s, clean 30-42 s.
Outcome RunScene(Doctoring d, const std::string& params = "{}") {
  auto a = MakeCameraHealth(YAML::Load(params), "k", CameraContext{.camera_id = "cam"});
  EXPECT_TRUE(a) << a.error().ToString();
  Scene scene(7);
  CollectingSink sink;
  cv::Mat frozen;
  for (int i = 0; i < 210; ++i) {
    Frame f;
    f.index = i;
    f.pts_ms = i * 200;
    cv::Mat img = scene.At(i);
    bool doctored = f.pts_ms >= 12000 && f.pts_ms < 30000;
    if (doctored && d == Doctoring::kFrozen) {
      f.image = frozen;  // the encoder repeats its last picture, noise and all
    } else {
      img = scene.Sensor(doctored ? testing::Doctor(img, d, frozen) : img);
      if (!doctored) frozen = img;
      f.image = img;
    }
    (*a)->Process(f, sink);
  }
  (*a)->Finish(210 * 200, sink);
  return Outcome{sink.events};
}

void ExpectEpisode(const Outcome& o, const std::string& type, int64_t begin_lo, int64_t begin_hi,
                   bool ends = true) {
  int begins = 0;
  for (const auto& e : o.events) {
    if (e.type != type) {
      ADD_FAILURE() << "unexpected " << e.type << " at " << e.start_ms << " " << e.data.dump();
      continue;
    }
    if (e.phase == EventPhase::kBegin) {
      ++begins;
      EXPECT_GE(e.start_ms, begin_lo) << type;
      EXPECT_LE(e.start_ms, begin_hi) << type;
      EXPECT_FALSE(e.snapshot.empty());
    }
    if (e.phase == EventPhase::kEnd && ends) {
      EXPECT_GE(e.end_ms, 28000) << type;
      EXPECT_LE(e.end_ms, 30200) << type;
    }
  }
  EXPECT_EQ(begins, 1) << type;
}

TEST(CameraHealth, CleanSceneIsHealthy) {
  auto o = RunScene(Doctoring::kClean);
  for (const auto& e : o.events) ADD_FAILURE() << e.type << " " << e.data.dump();
}

TEST(CameraHealth, Covered) { ExpectEpisode(RunScene(Doctoring::kCovered), "camera.occluded", 12000, 12400); }
TEST(CameraHealth, GreyCard) { ExpectEpisode(RunScene(Doctoring::kGreyPatch), "camera.occluded", 12000, 12400); }
TEST(CameraHealth, Sprayed) { ExpectEpisode(RunScene(Doctoring::kSprayed), "camera.occluded", 12000, 12400); }
TEST(CameraHealth, Blurred) { ExpectEpisode(RunScene(Doctoring::kBlurred), "camera.blurred", 12000, 12400); }
TEST(CameraHealth, Darkened) { ExpectEpisode(RunScene(Doctoring::kDarkened), "camera.brightness", 12000, 12400); }
TEST(CameraHealth, Saturated) { ExpectEpisode(RunScene(Doctoring::kSaturated), "camera.brightness", 12000, 12400); }
TEST(CameraHealth, Frozen) { ExpectEpisode(RunScene(Doctoring::kFrozen), "camera.frozen", 12000, 12400); }
TEST(CameraHealth, TurnedAway) {
  ExpectEpisode(RunScene(Doctoring::kShifted), "camera.scene_changed", 12000, 12400);
}

TEST(CameraHealth, TurnedAwayForGoodIsRelearned) {
  auto o = RunScene(Doctoring::kShifted, "{relearn_s: 8}");
  ASSERT_EQ(o.events.size(), 4u);  // changed (relearned), then changed back (relearned again)
  EXPECT_EQ(o.events[1].phase, EventPhase::kEnd);
  EXPECT_TRUE(o.events[1].data.value("relearned", false));
}

TEST(CameraHealth, ChecksCanBeChosenAndBadParamsNameTheKey) {
  auto o = RunScene(Doctoring::kCovered, "{checks: [frozen, blurred]}");
  EXPECT_TRUE(o.events.empty());
  CameraContext cam{.camera_id = "c"};
  auto r = MakeCameraHealth(YAML::Load("{checks: [frozen, wobbly]}"), "cameras[2].algorithms.camera_health", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "cameras[2].algorithms.camera_health.checks[1]");
  r = MakeCameraHealth(YAML::Load("{blur_ratio: 0}"), "h", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "h.blur_ratio");
  r = MakeCameraHealth(YAML::Load("{dark_level: 100, bright_level: 110}"), "h", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "h.bright_level");
  r = MakeCameraHealth(YAML::Load("{frozen_seconds: 3}"), "h", cam);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "h.frozen_seconds");
  auto ok = MakeCameraHealth(YAML::Load("{}"), "h", cam);
  ASSERT_TRUE(ok);
  EXPECT_FALSE((*ok)->Needs().motion_gated);
  // Odd frames never crash it.
  CollectingSink sink;
  Frame f;
  (*ok)->Process(f, sink);
  f.image = cv::Mat(2, 2, CV_8UC3, cv::Scalar(1, 2, 3));
  (*ok)->Process(f, sink);
  f.image = cv::Mat(480, 20, CV_8UC1, cv::Scalar(9));
  f.pts_ms = 10;
  (*ok)->Process(f, sink);
}

}  // namespace
}  // namespace linli::edge
