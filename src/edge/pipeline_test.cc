#include "edge/pipeline.h"

#include <gtest/gtest.h>

#include "edge/sources.h"
#include "edge/test_analyzer.h"

namespace linli::edge {
namespace {

using testing::Collector;
using testing::ProbeLog;

// A 1280x720 frame, grey `level`, with a small white square at `x` (moves = motion).
cv::Mat MakeFrame(int level, int x = -1) {
  cv::Mat m(720, 1280, CV_8UC3, cv::Scalar(level, level, level));
  if (x >= 0) cv::rectangle(m, cv::Rect(x, 300, 80, 80), cv::Scalar(255, 255, 255), cv::FILLED);
  return m;
}

CameraConfig Camera(const std::string& algos_yaml) {
  auto cfg = ParseBoxConfig("box: {device_id: b}\ncameras:\n  - id: cam-1\n    url: mem.mp4\n" +
                            algos_yaml);
  EXPECT_TRUE(cfg) << cfg.error().ToString();
  return cfg->cameras.at(0);
}

struct Rig {
  AnalyzerRegistry registry;
  ProbeLog log, log2;
  Collector sink;
  SimulatedClock clock;
  PipelineOptions offline() {
    PipelineOptions o;
    o.realtime = false;
    o.schedules = false;
    o.state_dir = ::testing::TempDir();
    return o;
  }
  Rig() {
    testing::RegisterProbe(registry, &log, "probe");
    testing::RegisterProbe(registry, &log2, "probe2");
  }
};

TEST(CameraPipeline, SubSamplesAndScales) {
  Rig rig;
  auto cam = Camera(
      "    analysis_fps: 5\n    algorithms:\n      probe: {motion_gated: false}\n"
      "      probe2: {full_rate: true, max_width: 0, motion_gated: false}\n");
  // 100 frames at 25 fps = 4 s → 20 sub-sampled frames.
  auto src = MemorySource::Generate(100, 25, [](int i) { return MakeFrame(20, i * 10); });
  CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, rig.offline(), rig.clock);
  ASSERT_TRUE(pipe.Run());
  auto st = pipe.Stats();
  EXPECT_EQ(st.state, CameraState::kEnded);
  EXPECT_EQ(st.frames_decoded, 100);
  EXPECT_EQ(st.frames_analysed, 20);
  EXPECT_EQ(st.frames_full_rate, 100);
  ASSERT_EQ(rig.log.frames.size(), 20u);
  for (size_t i = 0; i < rig.log.frames.size(); ++i) {
    EXPECT_EQ(rig.log.frames[i].pts_ms, static_cast<int64_t>(i) * 200);
    EXPECT_EQ(rig.log.frames[i].size, cv::Size(640, 360));
  }
  ASSERT_EQ(rig.log2.frames.size(), 100u);
  EXPECT_EQ(rig.log2.frames[0].size, cv::Size(1280, 720));
  // Contexts tell each analyzer what it gets.
  ASSERT_FALSE(rig.log.contexts.empty());
  EXPECT_EQ(rig.log.contexts.back().frame_size, cv::Size(640, 360));
  EXPECT_DOUBLE_EQ(rig.log.contexts.back().fps, 5);
  EXPECT_EQ(rig.log2.contexts.back().frame_size, cv::Size(1280, 720));
  EXPECT_DOUBLE_EQ(rig.log2.contexts.back().fps, 25);
  EXPECT_EQ(rig.log.finished, 1);
}

TEST(CameraPipeline, MotionGatingSkipsStaticSceneButKeepsAlive) {
  Rig rig;
  auto cam = Camera(
      "    analysis_fps: 5\n    motion: {hold_ms: 0, keepalive_fps: 1}\n"
      "    algorithms:\n      probe: {}\n      probe2: {motion_gated: false}\n");
  // 10 s at 10 fps: moving square for the first 2 s, then a static scene.
  auto src = MemorySource::Generate(100, 10, [](int i) { return MakeFrame(20, i < 20 ? i * 20 : 400); });
  CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, PipelineOptions{false, true, false, ::testing::TempDir()}, rig.clock);
  ASSERT_TRUE(pipe.Run());
  auto st = pipe.Stats();
  EXPECT_EQ(st.frames_analysed, 50);  // the ungated probe2 gets all 50 sub-sampled frames
  EXPECT_EQ(rig.log2.frames.size(), 50u);
  // Gated probe: ~10 frames of motion + the first static diff, then 1 fps keep-alive for ~8 s.
  EXPECT_GE(rig.log.frames.size(), 17u);
  EXPECT_LE(rig.log.frames.size(), 22u);
  EXPECT_EQ(st.frames_gated, 0);  // counted only when no analyzer got the frame (probe2 did)
  // Keep-alive frames are about 1 s apart.
  int64_t last = -1;
  for (const auto& f : rig.log.frames) {
    if (f.pts_ms > 3000 && last > 3000) {
      EXPECT_GE(f.pts_ms - last, 1000);
    }
    last = f.pts_ms;
  }
}

TEST(CameraPipeline, EventsFlowWithCameraIdAndFinishEndsThem) {
  Rig rig;
  auto cam = Camera("    algorithms:\n      probe: {motion_gated: false, threshold: 100}\n");
  // Dark 1 s, bright 2 s, dark 1 s, bright till the end (open at end of file).
  auto src = MemorySource::Generate(50, 10, [](int i) {
    return MakeFrame((i >= 10 && i < 30) || i >= 40 ? 200 : 20);
  });
  CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, rig.offline(), rig.clock);
  ASSERT_TRUE(pipe.Run());
  auto ends = rig.sink.OfType("test.bright");
  std::vector<EdgeEvent> end_steps;
  for (auto& e : ends) {
    EXPECT_EQ(e.camera_id, "cam-1");
    if (e.phase == EventPhase::kEnd) end_steps.push_back(e);
  }
  ASSERT_EQ(end_steps.size(), 2u);
  EXPECT_EQ(end_steps[0].start_ms, 1000);
  EXPECT_EQ(end_steps[0].end_ms, 3000);
  EXPECT_EQ(end_steps[1].start_ms, 4000);
  EXPECT_EQ(end_steps[1].end_ms, 4900);  // ended by Finish() at the last decoded frame
  EXPECT_EQ(pipe.Stats().events, static_cast<int64_t>(ends.size()));
}

TEST(CameraPipeline, VideoLossIsReportedAndTheSourceReopened) {
  Rig rig;
  auto cam = Camera(
      "    reconnect: {initial_ms: 10, max_ms: 40}\n"
      "    algorithms:\n      probe: {motion_gated: false, threshold: 100}\n");
  std::vector<MemorySource::Step> steps;
  for (int i = 0; i < 30; ++i) {
    MemorySource::Step s;
    s.frame.image = MakeFrame(200);
    s.frame.pts_ms = i * 100;
    s.frame.index = i;
    s.fail = (i == 15);  // the stream breaks once
    steps.push_back(s);
  }
  auto src = std::make_unique<MemorySource>(std::move(steps), 10, /*open_failures=*/2);
  auto* raw = src.get();
  CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, rig.offline(), rig.clock);
  ASSERT_TRUE(pipe.Run());
  auto st = pipe.Stats();
  EXPECT_EQ(raw->opens(), 4);  // 2 failures, the first success, the re-open after the break
  EXPECT_EQ(st.reconnects, 1);
  EXPECT_FALSE(st.video_loss);
  EXPECT_EQ(st.frames_decoded, 29);
  auto loss = rig.sink.OfType("camera.video_loss");
  // One loss while the camera could not be opened, one when the stream broke.
  ASSERT_EQ(loss.size(), 4u);
  EXPECT_EQ(loss[0].phase, EventPhase::kBegin);
  EXPECT_EQ(loss[1].phase, EventPhase::kEnd);
  EXPECT_EQ(loss[0].id, loss[1].id);
  EXPECT_EQ(loss[2].phase, EventPhase::kBegin);
  EXPECT_EQ(loss[2].start_ms, 1400);
  EXPECT_EQ(loss[3].phase, EventPhase::kEnd);
  EXPECT_EQ(loss[3].end_ms, 1600);
  EXPECT_NE(loss[0].id, loss[2].id);
  EXPECT_TRUE(loss[3].data.contains("duration_ms"));
  // The bright event was ended at the loss (analyzers are finished and re-created).
  int ends_before_loss = 0;
  for (const auto& e : rig.sink.events()) {
    if (e.type == "camera.video_loss" && e.phase == EventPhase::kBegin && e.start_ms == 1400) break;
    if (e.type == "test.bright" && e.phase == EventPhase::kEnd) ++ends_before_loss;
  }
  EXPECT_EQ(ends_before_loss, 1);
  EXPECT_EQ(rig.log.created, 2);
}

TEST(CameraPipeline, BadFileFailsWithoutRetry) {
  Rig rig;
  auto cam = Camera("    algorithms:\n      probe: {}\n");
  cam.url = "/nonexistent/video.mp4";
  CameraPipeline pipe(cam, MakeSource(cam, rig.clock), rig.registry, {}, {}, rig.sink,
                      rig.offline(), rig.clock);
  auto r = pipe.Run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(pipe.Stats().state, CameraState::kFailed);
}

TEST(CameraPipeline, LiveSourceDropsFramesInsteadOfFallingBehind) {
  Rig rig;
  // A slow analyzer (~20 ms a frame) on every frame of a paced 200 fps source: processing
  // cannot keep up, so frames are dropped once the lag passes max_lag_ms.
  rig.registry.Register("slow", [](const YAML::Node&, const std::string&, const CameraContext&)
                                    -> Result<std::unique_ptr<Analyzer>> {
    struct Slow final : Analyzer {
      std::string_view Name() const override { return "slow"; }
      FrameNeeds Needs() const override { return {true, 0, false}; }
      void Process(const Frame& f, EventSink&) override {
        cv::Mat tmp;
        for (int i = 0; i < 20; ++i) cv::GaussianBlur(f.image, tmp, cv::Size(31, 31), 0);
      }
      void Finish(int64_t, EventSink&) override {}
    };
    return std::unique_ptr<Analyzer>(new Slow());
  });
  auto cam = Camera("    max_lag_ms: 50\n    algorithms:\n      slow: {}\n");
  auto src = MemorySource::Generate(100, 200, [](int) {
    return cv::Mat(180, 320, CV_8UC3, cv::Scalar(50, 50, 50));
  });
  PipelineOptions live;
  live.realtime = true;
  live.schedules = false;
  live.state_dir = ::testing::TempDir();
  CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, live, SystemClock());
  ASSERT_TRUE(pipe.Run());
  auto st = pipe.Stats();
  EXPECT_EQ(st.frames_decoded, 100);
  EXPECT_GT(st.frames_dropped, 0);
  EXPECT_EQ(st.frames_full_rate + st.frames_dropped, 100);
}

TEST(CameraPipeline, StopInterruptsAndFinishes) {
  Rig rig;
  auto cam = Camera("    reconnect: {initial_ms: 10000, max_ms: 10000}\n"
                    "    algorithms:\n      probe: {}\n");
  // A source that never opens: the pipeline waits in back-off until stopped.
  auto src = std::make_unique<MemorySource>(std::vector<MemorySource::Step>{}, 10, 1000);
  CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, rig.offline(), rig.clock);
  pipe.Start();
  while (pipe.Stats().state != CameraState::kReconnecting) std::this_thread::yield();
  pipe.Stop();
  EXPECT_EQ(pipe.Stats().state, CameraState::kStopped);
  auto loss = rig.sink.OfType("camera.video_loss");
  ASSERT_EQ(loss.size(), 2u);  // begun while unreachable, ended at stop
  EXPECT_EQ(loss[1].data["reason"], "stopped");
}

// Stop() right after Start(), before the camera's thread got going, still stops it (Run() used
// to clear the stop flag when it began, and then waited in back-off for ever).
TEST(CameraPipeline, StopRightAfterStartStops) {
  Rig rig;
  auto cam = Camera("    reconnect: {initial_ms: 10000, max_ms: 10000}\n");
  for (int i = 0; i < 20; ++i) {
    auto src = std::make_unique<MemorySource>(std::vector<MemorySource::Step>{}, 10, 1000);
    CameraPipeline pipe(cam, std::move(src), rig.registry, {}, {}, rig.sink, rig.offline(),
                        rig.clock);
    pipe.Start();
    pipe.Stop();  // returns: the test would hang otherwise
    EXPECT_EQ(pipe.Stats().state, CameraState::kStopped);
  }
}

// Tasks posted to a camera run on its thread with its next frame; a camera that stops answers
// the ones still waiting.
TEST(CameraPipeline, TasksRunWithTheNextFrameOrAreAnsweredWhenTheCameraStops) {
  Rig rig;
  auto cam = Camera("    algorithms:\n      probe: {}\n");
  struct Endless final : FrameSource {
    int64_t i = 0;
    cv::Mat img = MakeFrame(30);
    Result<void> Open() override { return {}; }
    Result<std::optional<Frame>> Read() override {
      Frame f;
      f.image = img;
      f.pts_ms = i * 100;
      f.index = i++;
      return std::optional<Frame>(f);
    }
    double Fps() const override { return 10; }
    cv::Size FrameSize() const override { return img.size(); }
    std::string Describe() const override { return "endless"; }
  };
  PipelineOptions live = rig.offline();
  live.realtime = true;  // paced: 10 frames a second
  CameraPipeline pipe(cam, std::make_unique<Endless>(), rig.registry, {}, {}, rig.sink, live,
                      SystemClock());
  pipe.Start();
  auto posted = pipe.PostTask([](CameraThreadContext& ctx) -> Result<Json> {
    EXPECT_NE(ctx.analyzer("probe"), nullptr);
    EXPECT_EQ(ctx.analyzer("nothing"), nullptr);
    EXPECT_EQ(ctx.FrameFor("probe").cols, 640);  // as the probe gets it (max_width 640)
    return Json{{"pts_ms", ctx.frame_pts_ms()}};
  });
  ASSERT_TRUE(posted) << posted.error().ToString();
  auto r = WaitCameraTask(*posted, "cam-1", std::chrono::seconds(30));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_GE((*r)["pts_ms"].get<int64_t>(), 0);
  auto failing = pipe.PostTask([](CameraThreadContext&) -> Result<Json> {
    return Fail(ErrorCode::kInvalidArgument, "no", "args.x");
  });
  ASSERT_TRUE(failing);
  auto f = WaitCameraTask(*failing, "cam-1", std::chrono::seconds(30));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().field(), "args.x");
  pipe.Stop();
  auto after = pipe.PostTask([](CameraThreadContext&) -> Result<Json> { return Json(); });
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), ErrorCode::kFailedPrecondition);
}

// Pipeline: ApplyConfig restarts only what changed.
TEST(Pipeline, ApplyConfigRestartsOnlyChangedCameras) {
  Rig rig;
  Collector out;
  std::mutex mu;
  std::map<std::string, int> sources_made;
  SourceFactory sources = [&](const CameraConfig& c) -> std::unique_ptr<FrameSource> {
    std::lock_guard<std::mutex> lock(mu);
    ++sources_made[c.id];
    struct Endless final : FrameSource {
      int64_t i = 0;
      cv::Mat img = MakeFrame(30);
      Result<void> Open() override { return {}; }
      Result<std::optional<Frame>> Read() override {
        Frame f;
        f.image = img;
        f.pts_ms = i * 100;
        f.index = i++;
        return std::optional<Frame>(f);
      }
      double Fps() const override { return 10; }
      cv::Size FrameSize() const override { return img.size(); }
      std::string Describe() const override { return "endless"; }
    };
    return std::make_unique<Endless>();
  };
  PipelineOptions opts = rig.offline();
  opts.realtime = false;
  Pipeline pipeline(rig.registry, {}, out, rig.clock, opts, sources);
  const std::string base = R"(
box: {device_id: b}
cameras:
  - id: a
    url: a.mp4
    algorithms: {probe: {}}
  - id: b
    url: b.mp4
    algorithms: {probe2: {}}
)";
  ASSERT_TRUE(pipeline.Start(*ParseBoxConfig(base)));
  auto wait_frames = [&](ProbeLog& log, size_t n) {
    for (;;) {
      std::lock_guard<std::mutex> lock(log.mu);
      if (log.frames.size() >= n) return;
    }
  };
  wait_frames(rig.log, 5);
  wait_frames(rig.log2, 5);

  // A bad config is refused with the key and changes nothing.
  auto bad = pipeline.ApplyConfig(base + "    analysis_fps: -1\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field(), "cameras[1].analysis_fps");
  auto bad_param = pipeline.ApplyConfig(R"(
box: {device_id: b}
cameras:
  - {id: a, url: a.mp4, algorithms: {probe: {threshold: -5}}}
)");
  ASSERT_FALSE(bad_param);
  EXPECT_EQ(bad_param.error().field(), "cameras[0].algorithms.probe.threshold");
  auto other_box = pipeline.ApplyConfig("box: {device_id: other}\ncameras: []\n");
  ASSERT_FALSE(other_box);
  EXPECT_EQ(other_box.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(pipeline.Stats().size(), 2u);

  // Camera b changes; camera a stays as it is; camera c is new.
  const std::string next = R"(
box: {device_id: b}
cameras:
  - id: a
    url: a.mp4
    algorithms: {probe: {}}
  - id: b
    url: b.mp4
    analysis_fps: 2
    algorithms: {probe2: {}}
  - id: c
    url: c.mp4
)";
  ASSERT_TRUE(pipeline.ApplyConfig(next));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(sources_made["a"], 1);
    EXPECT_EQ(sources_made["b"], 2);
    EXPECT_EQ(sources_made["c"], 1);
  }
  // Validation at Start and at the accepted ApplyConfig, plus the one running: camera a's
  // analyzer was not re-created.
  EXPECT_EQ(rig.log.created, 3);
  {
    std::lock_guard<std::mutex> lock(rig.log2.mu);
    EXPECT_GE(rig.log2.finished, 1);   // the old camera b's analyzer was finished
  }
  {
    std::lock_guard<std::mutex> lock(rig.log.mu);
    EXPECT_EQ(rig.log.finished, 0);    // camera a was not touched
  }
  auto stats = pipeline.Stats();
  ASSERT_EQ(stats.size(), 3u);
  pipeline.Stop();
  EXPECT_TRUE(pipeline.Stats().empty());
}

}  // namespace
}  // namespace linli::edge
