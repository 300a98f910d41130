#include "edge/config.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "edge/builtin.h"
#include "edge/pipeline.h"

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
  ASSERT_EQ(c.zones.size(), 1u);  // lines are not zones
  EXPECT_EQ(c.zones[0].name, "fence");
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0].name, "door");
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

std::string OneCamera(const std::string& algorithms, const std::string& camera_id = "cam-1") {
  return "box: {device_id: edge-1}\ncameras:\n  - id: " + camera_id +
         "\n    url: x.mp4\n    zones: [{name: yard, points: [[0,0],[1,0],[1,1]]}]\n"
         "    algorithms:\n" + algorithms;
}

// Ids the uplink and the platform cannot carry are refused at load, not lost at run time.
TEST(EdgeConfig, IdsAreWhatThePlatformCarries) {
  struct Case {
    std::string yaml, field;
  } cases[] = {
      {OneCamera("      {}\n", "cam.1"), "cameras[0].id"},
      {OneCamera("      {}\n", "cam:1"), "cameras[0].id"},
      {OneCamera("      {}\n", "-cam"), "cameras[0].id"},
      {OneCamera("      {}\n", std::string(46, 'c')), "cameras[0].id"},  // telemetry names
      {"box: {device_id: edge.box}\ncameras: []", "box.device_id"},
      {"box: {device_id: " + std::string(65, 'b') + "}\ncameras: []", "box.device_id"},
      {"box: {device_id: b, compound_id: 'c:1'}\ncameras: []", "box.compound_id"},
  };
  for (const auto& c : cases) {
    Error e = ParseError(c.yaml);
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << c.yaml;
    EXPECT_EQ(e.field(), c.field) << c.yaml << " → " << e.ToString();
    EXPECT_NE(e.message().find("[A-Za-z0-9_-]"), std::string::npos) << e.ToString();
  }
  auto ok = ParseBoxConfig(OneCamera("      {}\n", std::string(45, 'c')));
  EXPECT_TRUE(ok) << ok.error().ToString();
  ok = ParseBoxConfig("box: {device_id: " + std::string(64, 'b') + ", compound_id: c_1}\n"
                      "cameras: [{id: Cam_2-b, url: x.mp4}]");
  EXPECT_TRUE(ok) << ok.error().ToString();
}

TEST(EdgeConfig, EventTypeIsOneThePlatformAccepts) {
  for (const char* bad : {"Vision.Intrusion", "intrusion", "vision..x", "vision.", ".vision",
                          "1vision.x", "vision.bike shed", "vision.bike-shed"}) {
    Error e = ParseError(OneCamera(std::string("      zone_intrusion: {event_type: \"") + bad +
                                   "\"}\n"));
    EXPECT_EQ(e.field(), "cameras[0].algorithms.zone_intrusion.event_type") << bad;
    EXPECT_NE(e.message().find("dotted lower-case"), std::string::npos) << e.ToString();
  }
  auto ok = ParseBoxConfig(OneCamera("      zone_intrusion: {event_type: vision.bike_shed_2}\n"));
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->cameras[0].algorithms[0].params["event_type"].as<std::string>(),
            "vision.bike_shed_2");
  EXPECT_TRUE(IsValidEventType("camera.video_loss"));
  EXPECT_FALSE(IsValidEventType("a."));
}

// Lines are segments and never polygons: a 3-point "line" is refused, a line is not a zone.
TEST(EdgeConfig, LinesAreSegmentsNotZones) {
  Error e = ParseError(
      "box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, lines: [{name: l, points: "
      "[[0,0],[1,0],[1,1]]}]}");
  EXPECT_EQ(e.field(), "cameras[0].lines[0].points") << e.ToString();
  EXPECT_NE(e.message().find("exactly 2"), std::string::npos) << e.ToString();
  e = ParseError("box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, lines: [{name: l, "
                 "points: [[0,0]]}]}");
  EXPECT_EQ(e.field(), "cameras[0].lines[0].points") << e.ToString();
  auto r = ParseBoxConfig("box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4, lines: "
                          "[{name: l, points: [[0,0],[1,1]]}]}");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->cameras[0].zones.empty());
  ASSERT_EQ(r->cameras[0].lines.size(), 1u);
  EXPECT_EQ(r->cameras[0].lines[0].points.size(), 2u);
}

TEST(EdgeConfig, AnAlgorithmGivenTwiceIsRefused) {
  Error e = ParseError(OneCamera("      camera_health: {}\n      camera_health: {frozen_s: 20}\n"));
  EXPECT_EQ(e.field(), "cameras[0].algorithms.camera_health") << e.ToString();
  EXPECT_NE(e.message().find("twice"), std::string::npos) << e.ToString();
  // Even when one of them is disabled.
  e = ParseError(OneCamera("      crowd: {enabled: false}\n      crowd: {}\n"));
  EXPECT_EQ(e.field(), "cameras[0].algorithms.crowd") << e.ToString();
}

// enabled, schedule and comment are handled by the config for every algorithm; `schedules` is
// a misspelling, refused for every algorithm.
TEST(EdgeConfig, CommonAlgorithmKeys) {
  auto r = ParseBoxConfig(OneCamera(
      "      crowd: {comment: \"night shift\", min_people: 4, schedule: [{from: \"20:00\"}]}\n"));
  ASSERT_TRUE(r) << r.error().ToString();
  const auto& a = r->cameras[0].algorithms.at(0);
  EXPECT_FALSE(a.params["comment"]);
  EXPECT_FALSE(a.params["schedule"]);
  EXPECT_EQ(a.params["min_people"].as<int>(), 4);
  EXPECT_EQ(a.schedule.windows.size(), 1u);
  for (const char* algo : {"crowd", "camera_health", "roi_state", "thrown_object"}) {
    Error e = ParseError(OneCamera(std::string("      ") + algo +
                                   ": {schedules: [{from: \"20:00\"}]}\n"));
    EXPECT_EQ(e.field(), std::string("cameras[0].algorithms.") + algo + ".schedules")
        << e.ToString();
  }
  Error e = ParseError(OneCamera("      crowd: {comment: [a, b]}\n"));
  EXPECT_EQ(e.field(), "cameras[0].algorithms.crowd.comment") << e.ToString();
  e = ParseError(OneCamera("      crowd: {enabled: maybe}\n"));
  EXPECT_EQ(e.field(), "cameras[0].algorithms.crowd.enabled") << e.ToString();
}

// `max_width` is the parameter of the analyzers that choose their frame width (thrown_object);
// every other analyzer refuses it instead of ignoring it.
TEST(EdgeConfig, MaxWidthOnlyWhereAnAnalyzerTakesIt) {
  AnalyzerRegistry registry;
  RegisterBuiltinAnalyzers(registry);
  const auto names = registry.Names();
  auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  auto validate = [&](const std::string& algorithms) -> Result<void> {
    auto cfg = ParseBoxConfig(OneCamera(algorithms));
    if (!cfg) return std::unexpected(cfg.error());
    return ValidateAnalyzers(*cfg, registry, BuiltinDetectorFactory(), ::testing::TempDir());
  };
  if (has("camera_health")) {
    auto v = validate("      camera_health: {max_width: 320}\n");
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().field(), "cameras[0].algorithms.camera_health.max_width");
    v = validate("      camera_health: {comment: old camera}\n");
    EXPECT_TRUE(v) << v.error().ToString();
  }
  if (has("zone_intrusion")) {  // the registry's check: zones are built on ParamReader
    auto v = validate("      zone_intrusion: {max_width: 320}\n");
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().field(), "cameras[0].algorithms.zone_intrusion.max_width");
  }
  if (has("thrown_object")) {
    const std::string facade =
        "      thrown_object: {facade: [[0.05, 0.85], [0.95, 0.85], [0.95, 0.0], [0.05, 0.0]], "
        "floors: 6, ";
    auto v = validate(facade + "max_width: 960, comment: facade A}\n");
    EXPECT_TRUE(v) << v.error().ToString();
  }
}

// A pushed config may not change what only a restart can apply.
TEST(EdgeConfig, RestartOnlyKeys) {
  const std::string base =
      "box: {device_id: b, compound_id: c, state_dir: /tmp/s, events_jsonl: /tmp/e.jsonl}\n"
      "uplink: {mqtt: {password: x}}\n"
      "cameras: [{id: a, url: x.mp4}]\n";
  auto running = ParseBoxConfig(base);
  ASSERT_TRUE(running) << running.error().ToString();
  auto same = ParseBoxConfig(base + "# a comment\n");
  ASSERT_TRUE(same);
  EXPECT_TRUE(CheckRestartOnlyKeys(*running, *same));
  auto cams = ParseBoxConfig(
      "box: {device_id: b, compound_id: c, state_dir: /tmp/s, events_jsonl: /tmp/e.jsonl}\n"
      "uplink: {mqtt: {password: x}}\ncameras: [{id: a, url: y.mp4}, {id: n, url: z.mp4}]\n");
  ASSERT_TRUE(cams);
  EXPECT_TRUE(CheckRestartOnlyKeys(*running, *cams));
  struct Case {
    std::string from, to, field;
  } cases[] = {
      {"events_jsonl: /tmp/e.jsonl", "events_jsonl: /tmp/other.jsonl", "box.events_jsonl"},
      {", events_jsonl: /tmp/e.jsonl", "", "box.events_jsonl"},
      {"state_dir: /tmp/s", "state_dir: /tmp/t", "box.state_dir"},
      {"device_id: b", "device_id: b2", "box.device_id"},
      {"compound_id: c", "compound_id: c2", "box.compound_id"},
      {"password: x", "password: y", "uplink"},
  };
  for (const auto& c : cases) {
    std::string text = base;
    text.replace(text.find(c.from), c.from.size(), c.to);
    auto next = ParseBoxConfig(text);
    ASSERT_TRUE(next) << text << next.error().ToString();
    auto v = CheckRestartOnlyKeys(*running, *next);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(v.error().field(), c.field);
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
