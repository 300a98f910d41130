// roi.enroll / roi.examples / roi.remove on a running Pipeline: cameras paced in real time on
// generated door scenes (roi_scenes.h), the analyzers' own threads doing the enrolment.
#include "edge/algorithms/roi_state/roi_commands.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "edge/algorithms/roi_state/roi_scenes.h"
#include "edge/algorithms/roi_state/roi_state.h"
#include "edge/test_analyzer.h"

namespace linli::edge {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Lighting;
using testing::RandomLighting;
using testing::RoiSceneGen;
using testing::RoiSceneKind;

// Door frames at 10 fps; `open` says which state the door is in.
class DoorSource final : public FrameSource {
 public:
  DoorSource(const RoiSceneGen& gen, std::atomic<bool>& open) : gen_(gen), open_(open) {}
  Result<void> Open() override { return {}; }
  Result<std::optional<Frame>> Read() override {
    Frame f;
    f.image = gen_.Render(open_.load(), static_cast<uint64_t>(i_ % 7), Lighting{});
    f.pts_ms = i_ * 100;
    f.index = i_++;
    return std::optional<Frame>(f);
  }
  double Fps() const override { return 10; }
  cv::Size FrameSize() const override { return {640, 360}; }
  std::string Describe() const override { return "door"; }

 private:
  const RoiSceneGen& gen_;
  std::atomic<bool>& open_;
  int64_t i_ = 0;
};

// Opens, then never delivers a frame until interrupted.
class SilentSource final : public FrameSource {
 public:
  Result<void> Open() override { return {}; }
  Result<std::optional<Frame>> Read() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stop_; });
    return Fail(ErrorCode::kUnavailable, "interrupted");
  }
  void Interrupt() override {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  double Fps() const override { return 10; }
  cv::Size FrameSize() const override { return {640, 360}; }
  std::string Describe() const override { return "silent"; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// Never opens (a camera that is down).
class DeadSource final : public FrameSource {
 public:
  Result<void> Open() override { return Fail(ErrorCode::kUnavailable, "connection refused"); }
  Result<std::optional<Frame>> Read() override { return Fail(ErrorCode::kUnavailable, "down"); }
  double Fps() const override { return 10; }
  cv::Size FrameSize() const override { return {}; }
  std::string Describe() const override { return "dead"; }
};

std::string Points(const Zone& z) {
  std::string s = "[";
  for (size_t i = 0; i < z.points.size(); ++i) {
    s += (i ? ", [" : "[") + std::to_string(z.points[i].x) + ", " + std::to_string(z.points[i].y) +
         "]";
  }
  return s + "]";
}

class RoiCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gen_.ok());
    dir_ = (fs::temp_directory_path() / ("linli_roi_cmd_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/examples");
    RegisterRoiState(registry_);
    for (int i = 0; i < 2; ++i) {
      for (bool open : {false, true}) {
        std::string f =
            dir_ + "/examples/" + (open ? "open" : "closed") + std::to_string(i) + ".png";
        cv::imwrite(f, gen_.Render(open, static_cast<uint64_t>(i), RandomLighting(open * 50 + i)));
      }
    }
  }
  void TearDown() override {
    pipeline_.reset();
    fs::remove_all(dir_);
  }

  std::string Config() const {
    const std::string zone = "    zones: [{name: door, points: " + Points(gen_.roi()) + "}]\n";
    const std::string ex = dir_ + "/examples/";
    return "box: {device_id: b, state_dir: " + dir_ +
           "/state}\ncameras:\n"
           "  - id: cam-door\n    url: door.mp4\n" +
           zone +
           "    algorithms:\n      roi_state: {roi: door, check: door_open, enroll: {closed: [" +
           ex + "closed0.png, " + ex + "closed1.png], open: [" + ex + "open0.png, " + ex +
           "open1.png]}}\n"
           // Only "closed" in the config: its "open" examples are the enrolled ones.
           "  - id: cam-side\n    url: side.mp4\n" +
           zone +
           "    algorithms:\n      roi_state: {roi: door, check: door_open, enroll: {closed: [" +
           ex +
           "closed0.png]}}\n"
           "  - id: cam-plain\n    url: plain.mp4\n"
           "  - id: cam-silent\n    url: silent.mp4\n" +
           zone +
           "    algorithms:\n      roi_state: {roi: door, check: door_open, enroll: {closed: [" +
           ex + "closed0.png], open: [" + ex +
           "open0.png]}}\n"
           "  - id: cam-dead\n    url: dead.mp4\n" +
           zone +
           "    algorithms:\n      roi_state: {roi: door, check: door_open, enroll: {closed: [" +
           ex + "closed0.png], open: [" + ex +
           "open0.png]}}\n"
           "  - id: cam-off\n    url: off.mp4\n    enabled: false\n" +
           zone +
           "    algorithms:\n      roi_state: {roi: door, check: door_open, enroll: {closed: [" +
           ex + "closed0.png], open: [" + ex + "open0.png]}}\n";
  }

  void Start() {
    // cam-side needs an "open" example before its config is valid: one enrolled earlier.
    ASSERT_TRUE(SaveRoiExample(dir_ + "/state/cam-side/roi_state", "door", "open",
                               gen_.Render(true, 3, Lighting{})));
    auto cfg = ParseBoxConfig(Config());
    ASSERT_TRUE(cfg) << cfg.error().ToString();
    PipelineOptions o;
    o.state_dir = dir_ + "/state";
    SourceFactory sources = [this](const CameraConfig& c) -> std::unique_ptr<FrameSource> {
      if (c.id == "cam-silent") return std::make_unique<SilentSource>();
      if (c.id == "cam-dead") return std::make_unique<DeadSource>();
      return std::make_unique<DoorSource>(gen_, open_);
    };
    pipeline_ =
        std::make_unique<Pipeline>(registry_, DetectorFactory{}, out_, SystemClock(), o, sources);
    auto s = pipeline_->Start(*cfg);
    ASSERT_TRUE(s) << s.error().ToString();
  }
  Result<Json> Enroll(Json args, std::chrono::milliseconds wait = 10s) {
    return RoiEnrollCommand(*pipeline_, args, wait);
  }
  static void ExpectError(const Result<Json>& r, ErrorCode code, const std::string& text) {
    ASSERT_FALSE(r) << r->dump();
    EXPECT_EQ(r.error().code(), code) << r.error().ToString();
    EXPECT_NE(r.error().ToString().find(text), std::string::npos) << r.error().ToString();
  }

  RoiSceneGen gen_{RoiSceneKind::kDoor};
  std::string dir_;
  AnalyzerRegistry registry_;
  testing::Collector out_;
  std::atomic<bool> open_{true};
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(RoiCommandsTest, EnrolsTheNextFramePersistsItAndAnswersClearly) {
  Start();
  auto r = Enroll({{"camera_id", "cam-door"}, {"state", "open"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)["camera_id"], "cam-door");
  EXPECT_EQ((*r)["roi"], "door");
  EXPECT_EQ((*r)["state"], "open");
  EXPECT_EQ((*r)["states"], (Json{"closed", "open"}));
  EXPECT_EQ((*r)["examples"], 1);
  const std::string id = (*r)["example"];
  const std::string file = dir_ + "/state/cam-door/roi_state/roi_state/door/open/" + id + ".jpg";
  EXPECT_TRUE(fs::exists(file)) << file;
  EXPECT_FALSE(cv::imread(file).empty());

  open_ = false;
  r = Enroll({{"camera_id", "cam-door"}, {"state", "closed"}, {"roi", "door"}});
  ASSERT_TRUE(r) << r.error().ToString();

  // A new state only when asked for.
  ExpectError(Enroll({{"camera_id", "cam-door"}, {"state", "ajar"}}), ErrorCode::kInvalidArgument,
              "args.state: unknown state \"ajar\" for ROI \"door\" (its states: closed, open); "
              "args.new_state: true adds a state");
  r = Enroll({{"camera_id", "cam-door"}, {"state", "ajar"}, {"new_state", true}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)["states"], (Json{"ajar", "closed", "open"}));

  // Bad input: answered with the argument named, nothing enrolled.
  ExpectError(Enroll({{"camera_id", "nope"}, {"state", "open"}}), ErrorCode::kNotFound,
              "no camera \"nope\" on this box (cameras: cam-door, cam-side, cam-plain");
  ExpectError(Enroll({{"camera_id", "cam-plain"}, {"state", "open"}}), ErrorCode::kNotFound,
              "camera cam-plain runs no roi_state algorithm");
  ExpectError(Enroll({{"camera_id", "cam-door"}, {"state", "open"}, {"roi", "gate"}}),
              ErrorCode::kNotFound,
              "camera cam-door's roi_state watches ROI \"door\", not \"gate\"");
  ExpectError(Enroll({{"camera_id", "cam-door"}, {"state", "Open Wide"}}),
              ErrorCode::kInvalidArgument,
              "args.state: state names are 1-64 characters of [a-z0-9_]");
  ExpectError(Enroll({{"state", "open"}}), ErrorCode::kInvalidArgument,
              "args.camera_id: is required");
  ExpectError(Enroll({{"camera_id", 7}, {"state", "open"}}), ErrorCode::kInvalidArgument,
              "args.camera_id: must be a string");
  ExpectError(Enroll({{"camera_id", "cam-door"}, {"state", "open"}, {"new_state", "yes"}}),
              ErrorCode::kInvalidArgument, "args.new_state: must be a boolean");
  ExpectError(Enroll({{"camera_id", "cam-door"}, {"state", "open"}, {"colour", "red"}}),
              ErrorCode::kInvalidArgument, "args.colour: unknown argument");
  ExpectError(Enroll({{"camera_id", "cam-off"}, {"state", "open"}}), ErrorCode::kFailedPrecondition,
              "camera cam-off is disabled");
  // (once the down camera has been tried: it starts in "starting")
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < deadline;) {
    bool down = false;
    for (const auto& s : pipeline_->Stats())
      down |= s.camera_id == "cam-dead" && s.state == CameraState::kReconnecting;
    if (down) break;
    std::this_thread::yield();
  }
  ExpectError(Enroll({{"camera_id", "cam-dead"}, {"state", "open"}}), ErrorCode::kUnavailable,
              "camera cam-dead has no video now");
  ExpectError(Enroll({{"camera_id", "cam-silent"}, {"state", "open"}}, 50ms),
              ErrorCode::kUnavailable, "no frame from camera cam-silent within 50 ms");

  // roi.examples: what was enrolled, per camera with roi_state.
  auto list = RoiExamplesCommand(*pipeline_, Json::object());
  ASSERT_TRUE(list) << list.error().ToString();
  const Json& cams = (*list)["cameras"];
  ASSERT_EQ(cams.size(), 5u) << cams.dump();  // all but cam-plain
  EXPECT_EQ(cams[0]["camera_id"], "cam-door");
  EXPECT_EQ(cams[0]["examples"]["open"], (Json{id}));
  EXPECT_EQ(cams[0]["examples"]["closed"].size(), 1u);
  EXPECT_EQ(cams[0]["examples"]["ajar"].size(), 1u);
  EXPECT_EQ(cams[1]["examples"]["open"].size(), 1u);
  auto one = RoiExamplesCommand(*pipeline_, {{"camera_id", "cam-plain"}});
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error().code(), ErrorCode::kNotFound);

  // After a restart the analyzer learns from what was persisted (no config examples).
  CameraContext ctx;
  ctx.camera_id = "cam-door";
  ctx.zones = {gen_.roi()};
  ctx.state_dir = dir_ + "/state/cam-door/roi_state";
  auto again = MakeRoiState(YAML::Load("{roi: door, check: door_open}"), "k", ctx);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(dynamic_cast<RoiEnrollment*>(again->get())->States(),
            (std::vector<std::string>{"ajar", "closed", "open"}));
}

TEST_F(RoiCommandsTest, RemovesAnExampleUnlessTheRestWouldNotMakeAValidConfig) {
  Start();
  open_ = true;
  auto r = Enroll({{"camera_id", "cam-door"}, {"state", "ajar"}, {"new_state", true}});
  ASSERT_TRUE(r) << r.error().ToString();
  const std::string id = (*r)["example"];
  auto removed = RoiRemoveCommand(*pipeline_, {{"camera_id", "cam-door"}, {"example", id}});
  ASSERT_TRUE(removed) << removed.error().ToString();
  EXPECT_EQ((*removed)["state"], "ajar");
  EXPECT_EQ((*removed)["reloaded"], true);
  EXPECT_FALSE(fs::exists(dir_ + "/state/cam-door/roi_state/roi_state/door/ajar/" + id + ".jpg"));
  // The reloaded analyzer no longer knows "ajar".
  ExpectError(Enroll({{"camera_id", "cam-door"}, {"state", "ajar"}}), ErrorCode::kInvalidArgument,
              "(its states: closed, open)");
  auto again = RoiRemoveCommand(*pipeline_, {{"camera_id", "cam-door"}, {"example", id}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);

  // cam-side's only "open" example is an enrolled one: removing it is refused, the file stays.
  auto list = RoiExamplesCommand(*pipeline_, {{"camera_id", "cam-side"}});
  ASSERT_TRUE(list) << list.error().ToString();
  const std::string only = (*list)["cameras"][0]["examples"]["open"][0];
  auto refused = RoiRemoveCommand(*pipeline_, {{"camera_id", "cam-side"}, {"example", only}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("cannot be removed: without it"), std::string::npos)
      << refused.error().ToString();
  EXPECT_TRUE(fs::exists(dir_ + "/state/cam-side/roi_state/roi_state/door/open/" + only + ".jpg"));
  ASSERT_TRUE(RoiExamplesCommand(*pipeline_, {{"camera_id", "cam-side"}}));
  ExpectError(RoiRemoveCommand(*pipeline_, {{"camera_id", "cam-side"}}),
              ErrorCode::kInvalidArgument, "args.example: is required");
}

}  // namespace
}  // namespace linli::edge
