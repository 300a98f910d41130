// camera_health on doctored real footage (opencv-doc's vtest.avi): each clip is written as a
// real MJPG video and decoded back; the fault is in [12, 30) s of a 40 s clip.
#include <filesystem>

#include <gtest/gtest.h>

#include "edge/algorithms/camera_health/camera_health.h"
#include "edge/algorithms/camera_health/doctored_clips.h"

namespace linli::edge {
namespace {

using testing::Doctoring;

const char* kVtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

class DoctoredVtest : public ::testing::TestWithParam<Doctoring> {
 protected:
  // 40 s of vtest at 5 fps, decoded once for all the variants.
  static const std::vector<cv::Mat>& Source() {
    static const std::vector<cv::Mat>* frames = [] {
      auto r = testing::ReadClip(kVtest, 0, 40, 5, cv::Size(384, 288));
      return new std::vector<cv::Mat>(r ? *r : std::vector<cv::Mat>{});
    }();
    return *frames;
  }
};

TEST_P(DoctoredVtest, GivesTheRightEventOnly) {
  Doctoring d = GetParam();
  auto dir = std::filesystem::temp_directory_path() /
             ("linli_health_clips_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / (std::string(testing::DoctoringName(d)) + ".avi")).string();
  ASSERT_EQ(Source().size(), 200u) << "opencv-doc's vtest.avi is needed";
  auto w = testing::WriteDoctoredClip(Source(), 5, path, d, 12, 30);
  ASSERT_TRUE(w) << w.error().ToString();
  auto a = MakeCameraHealth(YAML::Node(), "k", CameraContext{.camera_id = "cam"});
  ASSERT_TRUE(a) << a.error().ToString();
  testing::CollectingSink sink;
  auto fed = testing::FeedFile(path, 5, **a, sink);
  ASSERT_TRUE(fed) << fed.error().ToString();
  EXPECT_GE(*fed, 195);
  std::string expected = testing::ExpectedEventType(d);
  int begins = 0;
  for (const auto& e : sink.events) {
    if (e.type != expected) {
      ADD_FAILURE() << "unexpected " << e.type << " " << EventPhaseName(e.phase) << " at "
                    << e.start_ms << " " << e.data.dump();
      continue;
    }
    if (e.phase == EventPhase::kBegin) {
      ++begins;
      EXPECT_GE(e.start_ms, 11900);
      EXPECT_LE(e.start_ms, 13000);
    } else if (e.phase == EventPhase::kEnd) {
      EXPECT_GE(e.end_ms, 27000);
      EXPECT_LE(e.end_ms, 30500);
    }
  }
  EXPECT_EQ(begins, expected.empty() ? 0 : 1);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(All, DoctoredVtest,
                         ::testing::Values(Doctoring::kClean, Doctoring::kCovered,
                                           Doctoring::kGreyPatch, Doctoring::kFrozen,
                                           Doctoring::kBlurred, Doctoring::kDarkened,
                                           Doctoring::kShifted, Doctoring::kSprayed),
                         [](const auto& info) { return testing::DoctoringName(info.param); });

}  // namespace
}  // namespace linli::edge
