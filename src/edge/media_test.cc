#include "edge/media.h"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "edge/event_json.h"
#include "edge/jsonl_sink.h"
#include "edge/test_analyzer.h"

namespace linli::edge {
namespace {

Frame MakeFrame(int64_t pts, int level) {
  Frame f;
  f.image = cv::Mat(360, 640, CV_8UC3, cv::Scalar(level, level, level));
  f.pts_ms = pts;
  return f;
}

EdgeEvent Step(const std::string& id, EventPhase phase, float score, int64_t pts) {
  EdgeEvent e;
  e.id = id;
  e.type = "test.thing";
  e.phase = phase;
  e.start_ms = 0;
  e.end_ms = pts;
  e.score = score;
  e.zone = "fence";
  e.boxes = {Box{0.1f, 0.1f, 0.2f, 0.3f, "person", score}};
  return e;
}

CameraConfig Cam() {
  CameraConfig c;
  c.id = "cam-1";
  c.zones = {Zone{"fence", {{0.1f, 0.1f}, {0.9f, 0.1f}, {0.5f, 0.9f}}}};
  return c;
}

TEST(EventMedia, KeepsTheBestSnapshotAndAnnotatesIt) {
  testing::Collector out;
  {
    EventMediaRenderer r(Cam(), ::testing::TempDir(), out);
    r.OnFrame(MakeFrame(0, 10));
    r.Emit(Step("e1", EventPhase::kBegin, 0.3f, 0));
    r.OnFrame(MakeFrame(100, 120));
    r.Emit(Step("e1", EventPhase::kUpdate, 0.9f, 100));  // best: the grey-120 frame
    r.OnFrame(MakeFrame(200, 240));
    r.Emit(Step("e1", EventPhase::kUpdate, 0.5f, 200));  // worse: no new media
    r.OnFrame(MakeFrame(300, 60));
    r.Emit(Step("e1", EventPhase::kEnd, 0.4f, 300));
  }
  auto ev = out.events();
  auto media = out.media();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].camera_id, "cam-1");
  EXPECT_FALSE(media[0].clean_jpeg.empty());
  EXPECT_FALSE(media[1].clean_jpeg.empty());
  EXPECT_TRUE(media[2].clean_jpeg.empty());
  ASSERT_FALSE(media[3].clean_jpeg.empty());
  EXPECT_EQ(ev[3].snapshot_pts_ms, 100);
  cv::Mat clean = cv::imdecode(media[3].clean_jpeg, cv::IMREAD_COLOR);
  cv::Mat annotated = cv::imdecode(media[3].annotated_jpeg, cv::IMREAD_COLOR);
  ASSERT_EQ(clean.size(), cv::Size(640, 360));
  EXPECT_NEAR(cv::mean(clean)[0], 120, 3);
  // The box is drawn in red at (0.1, 0.1)-(0.3, 0.4): its edge pixel is red in the annotated
  // image only.
  cv::Vec3b edge = annotated.at<cv::Vec3b>(static_cast<int>(0.25 * 360), static_cast<int>(0.1 * 640));
  EXPECT_GT(edge[2], 180);
  EXPECT_LT(edge[0], 100);
  cv::Vec3b same = clean.at<cv::Vec3b>(static_cast<int>(0.25 * 360), static_cast<int>(0.1 * 640));
  EXPECT_NEAR(same[2], 120, 5);
}

TEST(EventMedia, UsesTheAnalyzersSnapshotWhenItIsNotTheCurrentFrame) {
  testing::Collector out;
  {
    EventMediaRenderer r(Cam(), ::testing::TempDir(), out);
    r.OnFrame(MakeFrame(500, 200));
    EdgeEvent e = Step("e2", EventPhase::kBegin, 0.8f, 300);
    e.snapshot = cv::Mat(180, 320, CV_8UC3, cv::Scalar(50, 50, 50));
    e.snapshot_pts_ms = 300;
    r.Emit(e);
    e.phase = EventPhase::kEnd;
    e.snapshot = cv::Mat();
    r.Emit(e);
  }
  auto media = out.media();
  ASSERT_EQ(media.size(), 2u);
  cv::Mat clean = cv::imdecode(media[1].clean_jpeg, cv::IMREAD_COLOR);
  EXPECT_EQ(clean.size(), cv::Size(320, 180));
  EXPECT_NEAR(cv::mean(clean)[0], 50, 3);
}

TEST(EventJson, RoundTrips) {
  EdgeEvent e = Step("3f0c8c1e-0000-4000-8000-000000000001", EventPhase::kEnd, 0.87654f, 1234);
  e.camera_id = "cam-1";
  e.trajectory = {{100, 0.5f, 0.1f}, {140, 0.5f, 0.2f}};
  e.origin = cv::Point2f(0.5f, 0.1f);
  e.data = {{"floor", 7}};
  Json j = EventToJson(e);
  EXPECT_EQ(j["phase"], "end");
  EXPECT_DOUBLE_EQ(j["score"].get<double>(), 0.8765);
  EXPECT_EQ(j["origin"]["x"], 0.5);
  auto back = EventFromJson(j);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->trajectory.size(), 2u);
  EXPECT_EQ(back->data["floor"], 7);
  EXPECT_FALSE(EventFromJson(Json::object({{"id", "x"}})));
  e.origin.reset();
  EXPECT_TRUE(EventToJson(e)["origin"].is_null());
}

TEST(JsonlEventWriter, EndOnlyWritesFinalRecords) {
  std::ostringstream os;
  JsonlEventWriter w(os, /*end_only=*/true);
  w.Emit(Step("a", EventPhase::kBegin, 0.5f, 0));
  w.Emit(Step("a", EventPhase::kEnd, 0.5f, 10));
  w.Emit(Step("b", EventPhase::kBegin, 0.5f, 0));
  EXPECT_EQ(w.written(), 1);
  auto j = ParseJson(os.str());
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["id"], "a");
  EXPECT_EQ((*j)["phase"], "end");
}

}  // namespace
}  // namespace linli::edge
