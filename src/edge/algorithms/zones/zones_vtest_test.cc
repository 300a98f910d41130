// Golden test: zone_intrusion with the built-in HOG detector on real footage (opencv-doc's
// vtest.avi, pedestrians on a campus path), decoded for real and analysed at 5 fps / 640 px.
// A zone drawn on the path where people walk gets intrusion episodes; a zone on the lawn where
// nobody walks gets none.
#include <cstdio>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edge/algorithms/zones/zones.h"
#include "edge/detectors/detectors.h"

namespace linli::edge {
namespace {

struct Collect final : EventSink {
  void Emit(const EdgeEvent& e) override { events.push_back(e); }
  std::vector<EdgeEvent> events;
};

TEST(ZoneIntrusionVtest, PathZoneGetsEpisodesLawnZoneNone) {
  cv::VideoCapture cap("/usr/share/doc/opencv-doc/examples/data/vtest.avi", cv::CAP_FFMPEG);
  ASSERT_TRUE(cap.isOpened()) << "opencv-doc's vtest.avi is needed";
  CameraContext cam;
  cam.camera_id = "vtest";
  cam.frame_size = {640, 480};
  cam.fps = 5;
  // The right-hand stretch of the path (feet land there all through the clip) and the lawn in
  // the bottom-right corner (nobody walks there).
  cam.zones.push_back(Zone{"path", {{0.55f, 0.36f}, {0.97f, 0.36f}, {0.97f, 0.66f}, {0.55f, 0.62f}}});
  cam.zones.push_back(Zone{"lawn", {{0.75f, 0.82f}, {1.0f, 0.82f}, {1.0f, 1.0f}, {0.75f, 1.0f}}});
  // The west end of the path: empty until about 18 s, when a walker in a white coat on the far
  // edge of the path comes into it (feet at y ≈ 0.40); a second walker follows at about 20 s
  // and leaves at about 22.5 s, and the next one comes in only after the 25 s analysed here.
  // (HOG finds the white-coated walker only now and then; before people were followed between
  // detections the episode began with the second walker, at 20.2 s.)
  cam.zones.push_back(Zone{"west", {{0.1f, 0.36f}, {0.3f, 0.36f}, {0.3f, 0.56f}, {0.1f, 0.56f}}});
  // The default HOG (pyramid step 1.2).
  auto det = MakeDetector(YAML::Load("{kind: hog}"), "detector");
  ASSERT_TRUE(det);
  cam.detector = *det;
  auto path = MakeZoneIntrusion(YAML::Load("{zones: [path, west]}"), "path", cam);
  auto lawn = MakeZoneIntrusion(YAML::Load("{zones: [lawn]}"), "lawn", cam);
  ASSERT_TRUE(path && lawn);
  Collect path_events, lawn_events;
  cv::Mat raw;
  int64_t last_pts = 0;
  // The first 25 s at 5 fps (vtest is 10 fps).
  for (int i = 0; i < 250 && cap.read(raw); ++i) {
    if (i % 2) continue;
    Frame f;
    f.index = i;
    f.pts_ms = i * 100;
    cv::resize(raw, f.image, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
    (*path)->Process(f, path_events);
    (*lawn)->Process(f, lawn_events);
    last_pts = f.pts_ms;
  }
  (*path)->Finish(last_pts, path_events);
  (*lawn)->Finish(last_pts, lawn_events);
  EXPECT_TRUE(lawn_events.events.empty());
  int begins = 0, ends = 0;
  std::vector<EdgeEvent> west;
  for (const auto& e : path_events.events) {
    if (e.zone == "west") {
      west.push_back(e);
      std::printf("west %s %lld-%lld\n", std::string(EventPhaseName(e.phase)).c_str(),
                  static_cast<long long>(e.start_ms), static_cast<long long>(e.end_ms));
      continue;
    }
    std::printf("%s %s %lld-%lld people=%d boxes=%zu\n", e.type.c_str(),
                std::string(EventPhaseName(e.phase)).c_str(), static_cast<long long>(e.start_ms),
                static_cast<long long>(e.end_ms), e.data.value("people", -1), e.boxes.size());
    EXPECT_EQ(e.type, "vision.intrusion");
    EXPECT_EQ(e.zone, "path");
    if (e.phase == EventPhase::kBegin) {
      ++begins;
      EXPECT_FALSE(e.boxes.empty());
      for (const auto& b : e.boxes) {
        // Feet on the path polygon's band.
        float fy = b.y + b.h;
        EXPECT_GT(fy, 0.3f);
        EXPECT_LT(fy, 0.7f);
      }
    }
    if (e.phase == EventPhase::kEnd) {
      ++ends;
      EXPECT_GE(e.end_ms, e.start_ms);
      EXPECT_FALSE(e.snapshot.empty());
      EXPECT_FALSE(e.trajectory.empty());
    }
  }
  EXPECT_GE(begins, 1);
  EXPECT_EQ(begins, ends);
  ASSERT_FALSE(path_events.events.empty());
  // People are on that stretch from the first seconds: the first episode starts early (after
  // the dwell and inertia) and the path is occupied for most of the 24 s.
  EXPECT_LE(path_events.events.front().start_ms, 6000);
  int64_t occupied = 0;
  for (const auto& e : path_events.events)
    if (e.phase == EventPhase::kEnd) occupied += e.end_ms - e.start_ms;
  EXPECT_GE(occupied, 8000);
  EXPECT_LT(last_pts, 25000);
  // The west end: one episode while the walker is there, ended by the exit hysteresis (2 s
  // after they left) before the end of the run.
  ASSERT_GE(west.size(), 2u);
  EXPECT_EQ(west.front().phase, EventPhase::kBegin);
  EXPECT_GE(west.front().start_ms, 17400);
  EXPECT_LE(west.front().start_ms, 22000);
  EXPECT_EQ(west.back().phase, EventPhase::kEnd);
  EXPECT_GE(west.back().end_ms, 21000);
  EXPECT_LE(west.back().end_ms, 23500);
  int west_begins = 0;
  for (const auto& e : west) west_begins += e.phase == EventPhase::kBegin;
  EXPECT_EQ(west_begins, 1);
}

}  // namespace
}  // namespace linli::edge
