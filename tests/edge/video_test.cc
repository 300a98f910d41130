// The pipeline on real video: Debian's opencv-doc clips (vtest.avi: pedestrians 768x576;
// Megamind.avi; tree.avi), generated clips with known content, truncated and non-video files,
// event clips written by the media renderer, and the linli-edge program end to end.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/json.h"
#include "edge/builtin.h"
#include "edge/event_json.h"
#include "edge/pipeline.h"
#include "edge/sources.h"
#include "edge/test_analyzer.h"

namespace linli::edge {
namespace {

namespace fs = std::filesystem;
const std::string kData = "/usr/share/doc/opencv-doc/examples/data/";

fs::path TempDir(const std::string& name) {
  fs::path p = fs::path(::testing::TempDir()) / ("linli-edge-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// A generated clip: `seconds` at `fps`, 320x240, grey 30, with a bright (220) frame from
// bright_from_s to bright_to_s and a moving square throughout.
std::string MakeClip(const fs::path& dir, double seconds, double fps, double bright_from_s,
                     double bright_to_s) {
  std::string path = (dir / "generated.avi").string();
  cv::VideoWriter w(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                    cv::Size(320, 240));
  EXPECT_TRUE(w.isOpened());
  const int n = static_cast<int>(seconds * fps);
  for (int i = 0; i < n; ++i) {
    const double t = i / fps;
    const int level = (t >= bright_from_s && t < bright_to_s) ? 220 : 30;
    cv::Mat m(240, 320, CV_8UC3, cv::Scalar(level, level, level));
    cv::rectangle(m, cv::Rect((i * 3) % 280, 100, 30, 30), cv::Scalar(0, 0, 255), cv::FILLED);
    w.write(m);
  }
  return path;
}

struct Rig {
  AnalyzerRegistry registry;
  testing::ProbeLog log;
  testing::Collector sink;
  Rig() { testing::RegisterProbe(registry, &log); }
  CameraConfig Camera(const std::string& url, const std::string& extra = "") {
    auto cfg = ParseBoxConfig("box: {device_id: b}\ncameras:\n  - id: cam-1\n    url: " + url +
                              "\n" + extra);
    EXPECT_TRUE(cfg) << cfg.error().ToString();
    return cfg->cameras.at(0);
  }
  PipelineOptions Offline() {
    PipelineOptions o;
    o.realtime = false;
    o.motion_gating = false;
    o.schedules = false;
    o.state_dir = ::testing::TempDir();
    return o;
  }
};

TEST(VideoFileSource, DecodesVtest) {
  VideoFileSource src(kData + "vtest.avi", false);
  ASSERT_TRUE(src.Open());
  EXPECT_EQ(src.FrameSize(), cv::Size(768, 576));
  EXPECT_NEAR(src.Fps(), 10, 0.01);
  int64_t n = 0, last = -1;
  for (;;) {
    auto f = src.Read();
    ASSERT_TRUE(f);
    if (!*f) break;
    EXPECT_GT((*f)->pts_ms, last);
    EXPECT_EQ((*f)->index, n);
    EXPECT_EQ((*f)->image.type(), CV_8UC3);
    last = (*f)->pts_ms;
    ++n;
  }
  EXPECT_EQ(n, 795);
  EXPECT_NEAR(last, 79400, 100);
}

TEST(VideoFileSource, LoopsWithMonotonicPts) {
  VideoFileSource src(kData + "Megamind.avi", true);
  ASSERT_TRUE(src.Open());
  const int per_pass = 270;  // Megamind.avi has 270 frames
  int64_t last = -1;
  for (int i = 0; i < per_pass * 2 + 10; ++i) {
    auto f = src.Read();
    ASSERT_TRUE(f && *f) << i;
    ASSERT_GT((*f)->pts_ms, last) << i;
    if (i == per_pass) {
      EXPECT_LT((*f)->pts_ms - last, 100) << "no jump at the loop";
    }
    last = (*f)->pts_ms;
  }
}

TEST(VideoFileSource, TruncatedFileEndsWithoutCrash) {
  auto dir = TempDir("trunc");
  for (double keep : {0.5, 0.05}) {
    fs::path copy = dir / "vtest-truncated.avi";
    fs::copy_file(kData + "vtest.avi", copy, fs::copy_options::overwrite_existing);
    fs::resize_file(copy, static_cast<uintmax_t>(fs::file_size(copy) * keep));
    for (bool loop : {false, true}) {
      VideoFileSource src(copy.string(), loop);
      auto opened = src.Open();
      if (!opened) {
        EXPECT_EQ(opened.error().code(), ErrorCode::kInvalidArgument);
        continue;
      }
      int n = 0;
      for (; n < 900; ++n) {
        auto f = src.Read();
        if (!f || !*f) break;
      }
      if (!loop) {
        EXPECT_GT(n, 0);
        EXPECT_LT(n, 795) << "keep " << keep;
      }
    }
  }
  // The pipeline over a truncated file: analyses what decodes, then ends normally.
  fs::path copy = dir / "half.avi";
  fs::copy_file(kData + "vtest.avi", copy, fs::copy_options::overwrite_existing);
  fs::resize_file(copy, fs::file_size(copy) / 2);
  Rig rig;
  auto cam = rig.Camera(copy.string(), "    algorithms: {probe: {}}\n");
  CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), rig.registry, {}, {}, rig.sink,
                      rig.Offline(), SystemClock());
  ASSERT_TRUE(pipe.Run());
  EXPECT_EQ(pipe.Stats().state, CameraState::kEnded);
  EXPECT_GT(pipe.Stats().frames_decoded, 100);
  EXPECT_LT(pipe.Stats().frames_decoded, 795);
}

TEST(VideoFileSource, CorruptedBytesInTheMiddle) {
  auto dir = TempDir("corrupt");
  fs::path copy = dir / "megamind-corrupt.avi";
  fs::copy_file(kData + "Megamind.avi", copy, fs::copy_options::overwrite_existing);
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    std::mt19937 rng(42);
    const auto size = fs::file_size(copy);
    for (int i = 0; i < 200; ++i) {
      f.seekp(static_cast<std::streamoff>(size / 3 + rng() % (size / 3)));
      char junk[64];
      for (auto& c : junk) c = static_cast<char>(rng());
      f.write(junk, sizeof junk);
    }
  }
  Rig rig;
  auto cam = rig.Camera(copy.string(), "    algorithms: {probe: {full_rate: true}}\n");
  CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), rig.registry, {}, {}, rig.sink,
                      rig.Offline(), SystemClock());
  ASSERT_TRUE(pipe.Run());
  EXPECT_GT(pipe.Stats().frames_decoded, 50);
}

TEST(VideoFileSource, NotAVideo) {
  auto dir = TempDir("notvideo");
  fs::path txt = dir / "notes.mp4";
  std::ofstream(txt) << "this is not a video\n";
  fs::path random = dir / "random.avi";
  {
    std::ofstream f(random, std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 100000; ++i) f.put(static_cast<char>(rng()));
  }
  fs::path empty = dir / "empty.mkv";
  std::ofstream(empty).close();
  for (const auto& p : {txt, random, empty, dir / "missing.avi"}) {
    VideoFileSource src(p.string(), false);
    auto r = src.Open();
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << p;
  }
}

TEST(VideoPipeline, VtestSubSampledAndScaled) {
  Rig rig;
  auto cam = rig.Camera(kData + "vtest.avi",
                        "    analysis_fps: 5\n    algorithms: {probe: {motion_gated: false}}\n");
  CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), rig.registry, {}, {}, rig.sink,
                      rig.Offline(), SystemClock());
  ASSERT_TRUE(pipe.Run());
  auto st = pipe.Stats();
  EXPECT_EQ(st.frames_decoded, 795);
  EXPECT_NEAR(st.frames_analysed, 398, 2);  // 79.5 s at 5 fps
  EXPECT_EQ(st.frames_dropped, 0);
  EXPECT_EQ(st.width, 768);
  std::lock_guard<std::mutex> lock(rig.log.mu);
  ASSERT_FALSE(rig.log.frames.empty());
  EXPECT_EQ(rig.log.frames[0].size, cv::Size(640, 480));
}

TEST(VideoPipeline, MotionGatingOnRealClips) {
  // tree.avi and Megamind.avi with the gate on: gated analyzers get fewer frames than the
  // sub-sampled stream only where the scene is static; counts add up either way.
  for (const std::string clip : {"tree.avi", "Megamind.avi", "vtest.avi"}) {
    Rig rig;
    auto cam = rig.Camera(kData + clip, "    algorithms: {probe: {}}\n");
    PipelineOptions o = rig.Offline();
    o.motion_gating = true;
    CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), rig.registry, {}, {}, rig.sink, o,
                        SystemClock());
    ASSERT_TRUE(pipe.Run()) << clip;
    auto st = pipe.Stats();
    std::lock_guard<std::mutex> lock(rig.log.mu);
    EXPECT_EQ(static_cast<int64_t>(rig.log.frames.size()), st.frames_analysed) << clip;
    EXPECT_GT(st.frames_analysed, 0) << clip;
    EXPECT_GT(st.frames_decoded, st.frames_analysed) << clip;
  }
}

// Golden test on a generated clip: the probe's "bright" event spans exactly the bright part.
TEST(VideoPipeline, GeneratedClipGoldenEvents) {
  auto dir = TempDir("golden");
  const std::string clip = MakeClip(dir, 6, 25, 2.0, 4.0);
  Rig rig;
  auto cam = rig.Camera(clip,
                        "    analysis_fps: 5\n    algorithms: {probe: {motion_gated: false, "
                        "threshold: 128}}\n");
  CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), rig.registry, {}, {}, rig.sink,
                      rig.Offline(), SystemClock());
  ASSERT_TRUE(pipe.Run());
  EXPECT_EQ(pipe.Stats().frames_decoded, 150);
  std::vector<EdgeEvent> ends;
  for (const auto& e : rig.sink.OfType("test.bright")) {
    if (e.phase == EventPhase::kEnd) ends.push_back(e);
  }
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].start_ms, 2000);
  EXPECT_EQ(ends[0].end_ms, 4000);  // the first dark sub-sampled frame ends it
}

TEST(VideoPipeline, EventClipIsWrittenAndPlayable) {
  auto dir = TempDir("clip");
  const std::string clip = MakeClip(dir, 8, 25, 3.0, 4.0);
  for (const std::string codec : {"avc1", "mp4v", "MJPG"}) {
    Rig rig;
    auto cam = rig.Camera(clip,
                          "    clip: {enabled: true, pre_s: 1, post_s: 1, fps: 10, codec: " +
                              codec + "}\n    algorithms: {probe: {motion_gated: false}}\n");
    testing::Collector out;
    {
      EventMediaRenderer renderer(cam, (dir / ("media-" + codec)).string(), out);
      CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), rig.registry, {}, {}, renderer,
                          rig.Offline(), SystemClock(), &renderer);
      ASSERT_TRUE(pipe.Run());
    }
    auto events = out.events();
    auto media = out.media();
    ASSERT_FALSE(events.empty());
    ASSERT_EQ(events.back().phase, EventPhase::kEnd);
    const EventMedia& m = media.back();
    ASSERT_FALSE(m.clip_path.empty()) << codec;
    EXPECT_FALSE(m.clean_jpeg.empty());
    EXPECT_EQ(m.clip_mime, codec == "MJPG" ? "video/x-msvideo" : "video/mp4");
    cv::VideoCapture cap(m.clip_path, cv::CAP_FFMPEG);
    ASSERT_TRUE(cap.isOpened()) << m.clip_path;
    int frames = 0;
    cv::Mat f;
    while (cap.read(f)) ++frames;
    // 1 s before + the 1 s event + 1 s after, at 10 fps.
    EXPECT_NEAR(frames, 30, 3) << codec;
  }
}

// Every ready example in examples/edge/ loads and passes validation by the analyzers that are
// built into this binary.
TEST(EdgeExamples, EveryExampleLoads) {
  const char* src = std::getenv("LINLI_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "LINLI_SOURCE_DIR is set by CTest";
  auto dir = std::filesystem::path(src) / "examples" / "edge";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  AnalyzerRegistry registry;
  RegisterBuiltinAnalyzers(registry);
  const auto known = registry.Names();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    auto cfg = LoadBoxConfig(entry.path().string());
    ASSERT_TRUE(cfg) << entry.path() << ": " << cfg.error().ToString();
    EXPECT_FALSE(cfg->cameras.empty()) << entry.path();
    // Only algorithms of this build can be created; the others are checked where they exist.
    BoxConfig present = *cfg;
    for (auto& cam : present.cameras) {
      std::erase_if(cam.algorithms, [&](const AlgorithmConfig& a) {
        return std::find(known.begin(), known.end(), a.name) == known.end();
      });
    }
    auto tmp = std::filesystem::temp_directory_path() / "linli-edge-examples-state";
    auto v = ValidateAnalyzers(present, registry, BuiltinDetectorFactory(), tmp.string());
    EXPECT_TRUE(v) << entry.path() << ": " << v.error().ToString();
  }
  EXPECT_GE(files, 7);
}


// ---- the linli-edge program ----

struct Proc {
  int status = -1;
  std::string out, err;
};

Proc RunEdge(const std::string& args, const fs::path& dir) {
  const char* bin = std::getenv("LINLI_BIN_DIR");
  std::string cmd = std::string(bin ? bin : "bin") + "/linli-edge " + args + " >" +
                    (dir / "stdout").string() + " 2>" + (dir / "stderr").string();
  Proc p;
  int rc = std::system(cmd.c_str());
  p.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream o(dir / "stdout"), e(dir / "stderr");
  p.out.assign(std::istreambuf_iterator<char>(o), {});
  p.err.assign(std::istreambuf_iterator<char>(e), {});
  return p;
}

std::string Src() {
  const char* s = std::getenv("LINLI_SOURCE_DIR");
  return s ? s : ".";
}

TEST(LinliEdgeProgram, CheckConfigNamesTheKey) {
  auto dir = TempDir("check");
  std::ofstream(dir / "bad.yaml") << "box: {device_id: b}\ncameras:\n  - {id: a, url: x.mp4}\n"
                                     "  - {id: b, url: y.mp4, zones: [{name: z, points: [[0,0],[1,0]]}]}\n";
  auto p = RunEdge("check-config " + (dir / "bad.yaml").string(), dir);
  EXPECT_EQ(p.status, 2);
  EXPECT_NE(p.err.find("cameras[1].zones[0].points"), std::string::npos) << p.err;
  auto run = RunEdge("run --config " + (dir / "bad.yaml").string(), dir);
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.err.find("cameras[1].zones[0].points"), std::string::npos) << run.err;
  auto ok = RunEdge("check-config " + Src() + "/examples/edge/zone_intrusion.yaml", dir);
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(LinliEdgeProgram, AnalyzeRefusesANonVideo) {
  auto dir = TempDir("analyze-bad");
  std::ofstream(dir / "cam.yaml") << "id: cam-1\nalgorithms: {}\n";
  std::ofstream(dir / "x.mp4") << "not a video";
  auto p = RunEdge("analyze --input " + (dir / "x.mp4").string() + " --camera " +
                       (dir / "cam.yaml").string() + " --out " + (dir / "ev.jsonl").string(),
                   dir);
  EXPECT_EQ(p.status, 1);
  EXPECT_NE(p.err.find("not a video"), std::string::npos) << p.err;
}

// analyze over a real clip with a built-in algorithm: every line is a complete end record.
TEST(LinliEdgeProgram, AnalyzeWritesJsonLines) {
  AnalyzerRegistry reg;
  RegisterBuiltinAnalyzers(reg);
  auto names = reg.Names();
  if (std::find(names.begin(), names.end(), "zone_intrusion") == names.end()) {
    GTEST_SKIP() << "zone analytics are not part of this build";
  }
  auto dir = TempDir("analyze");
  // The first 8 s of vtest.avi (HOG people detection costs ~0.2 s a frame here).
  const std::string input = (dir / "vtest-8s.avi").string();
  {
    cv::VideoCapture cap(kData + "vtest.avi", cv::CAP_FFMPEG);
    cv::VideoWriter w(input, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10,
                      cv::Size(768, 576));
    cv::Mat f;
    for (int i = 0; i < 80 && cap.read(f); ++i) w.write(f);
  }
  auto p = RunEdge("analyze --input " + input + " --camera " + Src() +
                       "/examples/edge/zone_intrusion.yaml --out " + (dir / "ev.jsonl").string() +
                       " --snapshots " + (dir / "snaps").string(),
                   dir);
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_NE(p.err.find("80 frames decoded"), std::string::npos) << p.err;
  std::ifstream in(dir / "ev.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    auto j = ParseJson(line);
    ASSERT_TRUE(j) << line;
    for (const char* k : {"id", "type", "camera_id", "phase", "start_ms", "end_ms", "score",
                          "zone", "boxes", "trajectory", "origin", "data"}) {
      EXPECT_TRUE(j->contains(k)) << k << " in " << line;
    }
    EXPECT_EQ((*j)["phase"], "end");
    EXPECT_EQ((*j)["camera_id"], "cam-yard");
    EXPECT_LE((*j)["start_ms"].get<int64_t>(), (*j)["end_ms"].get<int64_t>());
    auto e = EventFromJson(*j);
    EXPECT_TRUE(e) << line;
    ASSERT_TRUE(j->contains("media")) << line;
    EXPECT_TRUE(fs::exists((*j)["media"]["snapshot_annotated"].get<std::string>()));
  }
  // People walk through the yard polygon from the first seconds of vtest.avi.
  EXPECT_GE(lines, 1) << p.err;
}

}  // namespace
}  // namespace linli::edge
