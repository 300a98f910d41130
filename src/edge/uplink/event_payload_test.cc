#include "edge/uplink/event_payload.h"

#include <gtest/gtest.h>

namespace linli::edge {
namespace {

EdgeEvent Sample() {
  EdgeEvent e;
  e.id = "6f1c2a4e-0b7a-4c55-9c8e-2f1d3b4a5c6d";
  e.type = "vision.thrown_object";
  e.camera_id = "cam-07";
  e.phase = EventPhase::kUpdate;
  e.start_ms = 1200;
  e.end_ms = 2400;
  e.score = 0.87654f;
  e.zone = "facade";
  e.boxes.push_back({0.1f, 0.2f, 0.05f, 0.06f, "object", 0.9f});
  e.trajectory = {{1200, 0.5f, 0.1f}, {1300, 0.5f, 0.2f}, {1400, 0.5f, 0.35f}};
  e.origin = cv::Point2f(0.5f, 0.1f);
  e.data = Json{{"floor", 12}, {"window", "12-3"}};
  return e;
}

TEST(EventPayload, CarriesTheStepAsTheProtocolSays) {
  Json b = EventStepBody(Sample(), 1'763'942'400'000, /*with_snapshot=*/false);
  EXPECT_EQ(b["ts"], 1'763'942'400'000);
  EXPECT_EQ(b["type"], "vision.thrown_object");
  EXPECT_FALSE(b.contains("id")) << "the id is added when sent";
  const Json& d = b["data"];
  EXPECT_EQ(d["event_id"], "6f1c2a4e-0b7a-4c55-9c8e-2f1d3b4a5c6d");
  EXPECT_EQ(d["phase"], "update");
  EXPECT_EQ(d["camera_id"], "cam-07");
  EXPECT_EQ(d["start_ms"], 1200);
  EXPECT_EQ(d["end_ms"], 2400);
  EXPECT_DOUBLE_EQ(d["score"].get<double>(), 0.8765);
  EXPECT_EQ(d["zone"], "facade");
  ASSERT_EQ(d["boxes"].size(), 1u);
  EXPECT_EQ(d["boxes"][0]["label"], "object");
  ASSERT_EQ(d["trajectory"].size(), 3u);
  EXPECT_EQ(d["trajectory"][2]["pts_ms"], 1400);
  EXPECT_DOUBLE_EQ(d["origin"]["y"].get<double>(), 0.1);
  EXPECT_EQ(d["details"]["floor"], 12);
  EXPECT_FALSE(d.contains("snapshot_pts_ms"));
  EXPECT_FALSE(d.contains("truncated"));
}

TEST(EventPayload, LongTrajectoriesAndBigDetailsAreCutToFit) {
  EdgeEvent e = Sample();
  e.trajectory.clear();
  for (int i = 0; i < 5000; ++i) e.trajectory.push_back({i * 40, 0.123456f, i / 5000.0f});
  e.data = Json{{"blob", std::string(40'000, 'x')}};
  Json b = EventStepBody(e, 1, true);
  const Json& d = b["data"];
  EXPECT_LE(DumpJson(d).size(), kMaxEventDataBytes);
  EXPECT_TRUE(d["truncated"].get<bool>());
  ASSERT_GE(d["trajectory"].size(), 2u);
  EXPECT_LE(d["trajectory"].size(), kMaxTrajectoryPoints);
  EXPECT_EQ(d["trajectory"][0]["pts_ms"], 0);
  EXPECT_EQ(d["trajectory"].back()["pts_ms"], 4999 * 40) << "the last point is kept";
  EXPECT_EQ(d["details"]["truncated"], true);
  EXPECT_TRUE(d.contains("snapshot_pts_ms"));
}

TEST(EventPayload, ValidationNamesTheField) {
  EdgeEvent e = Sample();
  EXPECT_TRUE(ValidateEdgeEvent(e));
  e.id = "";
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "id");
  e.id = "has:colon";
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "id");
  e.id = std::string(41, 'a');
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "id");
  e = Sample();
  e.type = "Vision.Bad";
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "type");
  e.type = "nodot";
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "type");
  e.type = "vision.";
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "type");
  e = Sample();
  e.camera_id = "-cam";
  EXPECT_EQ(ValidateEdgeEvent(e).error().field(), "camera_id");
  e.camera_id = "";
  EXPECT_TRUE(ValidateEdgeEvent(e)) << "box-level events have no camera";
}

TEST(EventPayload, NonFiniteNumbersBecomeZero) {
  EdgeEvent e = Sample();
  e.score = std::numeric_limits<float>::quiet_NaN();
  e.boxes[0].x = std::numeric_limits<float>::infinity();
  Json b = EventStepBody(e, 1, false);
  EXPECT_EQ(b["data"]["score"].get<double>(), 0.0);
  EXPECT_EQ(b["data"]["boxes"][0]["x"].get<double>(), 0.0);
}

}  // namespace
}  // namespace linli::edge
