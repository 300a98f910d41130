#include "edge/config.h"

#include <gtest/gtest.h>


namespace linli::edge {
namespace {

const char* kBox = R"(
box: {device_id: edge-1, compound_id: c1, state_dir: /tmp/x}
uplink: {mqtt: {host: 127.0.0.1, port: 1883}}
cameras:
  - id: cam-gate
    url: rtsp://user:secret@10.0.0.5/stream1
    analysis_fps: 4
    zones:
      - name: fence
        points: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
    lines:
      - name: door
        points: [[0.2, 0.5], [0.8, 0.5]]
    algorithms:
      zone_intrusion:
        min_dwell_s: 2
        schedule:
          - {days: [mon, tue], from: "22:00", to: "06:00"}
      crowd: {enabled: false}
  - id: cam-b
    url: /videos/b.mp4
    loop: true
)";

Error ParseError(const std::string& yaml) {
  auto r = ParseBoxConfig(yaml);
  EXPECT_FALSE(r.has_value()) << yaml;
  return r ? Error(ErrorCode::kInternal, "parsed") : r.error();
}

TEST(EdgeConfig, ParsesABox) {
  auto r = ParseBoxConfig(kBox);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->box.device_id, "edge-1");
  EXPECT_EQ(r->box.compound_id, "c1");
  EXPECT_TRUE(r->uplink.IsMap());
  EXPECT_EQ(r->uplink["mqtt"]["port"].as<int>(), 1883);
  ASSERT_EQ(r->cameras.size(), 2u);
  const auto& c = r->cameras[0];
  EXPECT_TRUE(c.IsRtsp());
  EXPECT_DOUBLE_EQ(c.analysis_fps, 4);
  EXPECT_EQ(c.max_width, 640);
  ASSERT_EQ(c.zones.size(), 2u);
  EXPECT_EQ(c.zones[1].name, "door");
  EXPECT_EQ(c.line_names, std::vector<std::string>{"door"});
  ASSERT_EQ(c.algorithms.size(), 1u);  // crowd is disabled
  EXPECT_EQ(c.algorithms[0].key, "cameras[0].algorithms.zone_intrusion");
  EXPECT_FALSE(c.algorithms[0].params["schedule"]);  // pipeline keys are not passed on
  EXPECT_EQ(c.algorithms[0].params["min_dwell_s"].as<int>(), 2);
  ASSERT_EQ(c.algorithms[0].schedule.windows.size(), 1u);
  EXPECT_TRUE(r->cameras[1].loop);
  EXPECT_FALSE(r->cameras[1].IsRtsp());
  EXPECT_NE(r->cameras[0].fingerprint, r->cameras[1].fingerprint);
}

TEST(EdgeConfig, SingleCameraForm) {
  auto r = ParseBoxConfig("algorithms: {thrown_object: {}}\nanalysis_fps: 8\n");
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->cameras.size(), 1u);
  EXPECT_EQ(r->cameras[0].id, "camera");
  EXPECT_DOUBLE_EQ(r->cameras[0].analysis_fps, 8);
  auto one = SelectCamera(*r, "");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->algorithms.at(0).name, "thrown_object");
}

TEST(EdgeConfig, ErrorsNameTheKey) {
  struct Case {
    std::string yaml, field;
  } cases[] = {
      {"cameras: []", "box"},
      {"box: {compound_id: c}\ncameras: []", "box.device_id"},
      {"box: {device_id: b}\nuplink: {x: 1}\ncameras: []", "box.compound_id"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4}\n  - {id: b, url: y.mp4, "
       "zones: [{name: z, points: [[0,0],[1,0]]}]}",
       "cameras[1].zones[0].points"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, zones: [{name: z, points: "
       "[[0,0],[1.5,0],[1,1]]}]}",
       "cameras[0].zones[0].points[1]"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4}\n  - {id: a, url: y.mp4}",
       "cameras[1].id"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: http://x/y}", "cameras[0].url"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, analysis_fps: 0}",
       "cameras[0].analysis_fps"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, analysys_fps: 3}",
       "cameras[0].analysys_fps"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, algorithms: {crowd: {schedule: "
       "[{from: '25:00'}]}}}",
       "cameras[0].algorithms.crowd.schedule[0].from"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, algorithms: {crowd: {schedule: "
       "[{days: [mon, funday]}]}}}",
       "cameras[0].algorithms.crowd.schedule[0].days[1]"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: rtsp://h/s, loop: true}",
       "cameras[0].loop"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, zones: [{name: z, points: "
       "[[0,0],[1,0],[1,1]]}], lines: [{name: z, points: [[0,0],[1,1]]}]}",
       "cameras[0].lines[0].name"},
      {"box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, algorithms: [crowd]}",
       "cameras[0].algorithms"},
  };
  for (const auto& c : cases) {
    Error e = ParseError(c.yaml);
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << c.yaml;
    EXPECT_EQ(e.field(), c.field) << c.yaml << " → " << e.ToString();
    EXPECT_FALSE(e.message().empty());
  }
}

TEST(EdgeConfig, SyntaxErrorGivesTheLine) {
  Error e = ParseError("box: {device_id: b}\ncameras:\n  - id: [unclosed\n");
  EXPECT_NE(e.message().find("line"), std::string::npos) << e.ToString();
}

TEST(EdgeConfig, ScheduleWindows) {
  // 2024-01-01 was a Monday. Local time is what schedules use; pin TZ for the test.
  setenv("TZ", "UTC", 1);
  tzset();
  auto at = [](int day, int h, int m) {
    return (1704067200LL + day * 86400LL + h * 3600LL + m * 60LL) * 1000;
  };
  auto r = ParseBoxConfig(R"(
box: {device_id: b}
cameras:
  - id: a
    url: x.mp4
    algorithms:
      crowd:
        schedule: [{days: [mon], from: "22:00", to: "06:00"}, {days: [sat, sun], from: "10:00", to: "12:00"}]
)");
  ASSERT_TRUE(r) << r.error().ToString();
  const Schedule& s = r->cameras[0].algorithms[0].schedule;
  EXPECT_FALSE(s.Active(at(0, 21, 59)));
  EXPECT_TRUE(s.Active(at(0, 22, 0)));
  EXPECT_TRUE(s.Active(at(1, 5, 59)));   // Tuesday morning: Monday's window wraps
  EXPECT_FALSE(s.Active(at(1, 6, 0)));
  EXPECT_FALSE(s.Active(at(1, 22, 30)));  // Tuesday evening: not configured
  EXPECT_TRUE(s.Active(at(5, 11, 0)));    // Saturday
  EXPECT_FALSE(s.Active(at(5, 12, 0)));
  EXPECT_TRUE(Schedule{}.Active(at(3, 3, 3)));
}

}  // namespace
}  // namespace linli::edge
