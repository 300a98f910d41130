// Accuracy and cost of roi_state.
//
// For each generated scene (garbage bin, fire lane, door, and the real photograph whose lane is
// blocked by objects cut from real photographs), 4 examples per state are enrolled under random
// lighting; then a long timeline is played at 1 frame per second: the normal state for 60-300
// s, the alarm state for 30-180 s, and so on, with the lighting changing every 30 s (gain,
// gamma, cast, shadows, noise, jitter) and single odd frames now and then. Events are matched
// one-to-one with the alarm episodes (time overlap, ±10 s for the smoothing); printed are
// per-frame accuracy, episode precision and recall, and false alarms per camera-hour.
// Cost: ms per evaluated frame at 640 x 360, one thread.
//
// Usage: edge_roi_state_eval [--hours H] [--seed S]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/clock.h"
#include "edge/algorithms/roi_state/roi_features.h"
#include "edge/algorithms/roi_state/roi_scenes.h"
#include "edge/algorithms/roi_state/roi_state.h"

using namespace linli;
using namespace linli::edge;
using namespace linli::edge::testing;

namespace {

struct Sink final : EventSink {
  void Emit(const EdgeEvent& e) override {
    if (e.phase == EventPhase::kEnd) ends.push_back({e.start_ms, e.end_ms});
  }
  std::vector<std::pair<int64_t, int64_t>> ends;
};

// Enrols through Enroll() (the API path) on an analyzer made from examples written to files.
std::unique_ptr<Analyzer> Make(const RoiSceneGen& gen, uint64_t seed, const std::string& dir) {
  std::string y = "{roi: " + gen.roi().name + ", alarm_states: [" + gen.alarm_state() +
                  "], enroll: {";
  for (bool alarm : {false, true}) {
    std::string state = alarm ? gen.alarm_state() : gen.normal_state();
    y += state + ": [";
    for (int i = 0; i < 4; ++i) {
      std::string f = dir + "/" + state + std::to_string(i) + ".png";
      cv::imwrite(f, gen.Render(alarm, seed * 100 + i, RandomLighting(seed * 1000 + alarm * 10 + i)));
      y += (i ? ", " : "") + f;
    }
    y += alarm ? "]" : "], ";
  }
  y += "}}";
  CameraContext cam;
  cam.camera_id = "eval";
  cam.zones = {gen.roi()};
  auto a = MakeRoiState(YAML::Load(y), "roi_state", cam);
  if (!a) {
    std::fprintf(stderr, "%s\n", a.error().ToString().c_str());
    std::exit(1);
  }
  return std::move(*a);
}

}  // namespace

int main(int argc, char** argv) {
  double hours = 0.5;
  unsigned seed = 7;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--hours") && i + 1 < argc) hours = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = static_cast<unsigned>(std::atoi(argv[++i]));
  }
  cv::setNumThreads(1);
  std::string dir = "/tmp/linli_roi_state_eval";
  std::filesystem::create_directories(dir);
  std::printf("roi_state: 4 enrolled examples per state, %.2f camera-hours per scene at 1 fps, "
              "seed %u\n", hours, seed);
  for (RoiSceneKind kind : {RoiSceneKind::kGarbageBin, RoiSceneKind::kFireLane,
                            RoiSceneKind::kDoor, RoiSceneKind::kRealLane}) {
    RoiSceneGen gen(kind);
    if (!gen.ok()) {
      std::printf("%-12s skipped (images missing)\n", RoiSceneName(kind));
      continue;
    }
    auto a = Make(gen, seed + static_cast<unsigned>(kind), dir);
    // A second classifier with the same examples for the per-frame accuracy.
    RoiClassifier c(1, 0.05);
    for (bool alarm : {false, true})
      for (int i = 0; i < 4; ++i)
        c.Add(alarm ? gen.alarm_state() : gen.normal_state(),
              ExtractRoiFeatures(cv::imread(dir + "/" + (alarm ? gen.alarm_state() : gen.normal_state()) +
                                            std::to_string(i) + ".png"),
                                 gen.roi().points));
    std::mt19937 rng(seed * 17 + static_cast<unsigned>(kind));
    std::uniform_int_distribution<int> normal_len(60, 300), alarm_len(30, 180);
    const int64_t total_s = static_cast<int64_t>(hours * 3600);
    std::vector<std::pair<int64_t, int64_t>> truth;
    Sink sink;
    int frames = 0, right = 0;
    double cost_ms = 0;
    Clock& clock = SystemClock();
    bool alarm = false;
    int64_t next_switch = normal_len(rng), variant = 0;
    for (int64_t t = 0; t < total_s; ++t) {
      if (t >= next_switch) {
        alarm = !alarm;
        if (alarm) truth.push_back({t * 1000, 0});
        else truth.back().second = t * 1000 - 1000;
        next_switch = t + (alarm ? alarm_len(rng) : normal_len(rng));
        ++variant;
      }
      // One odd frame in 200: the other state's look for a second (a person in front, a
      // passing car).
      bool shown = (rng() % 200 == 0) ? !alarm : alarm;
      Lighting l = RandomLighting(seed * 7777 + static_cast<uint64_t>(t / 30));
      Frame f;
      f.index = t;
      f.pts_ms = t * 1000;
      f.image = gen.Render(shown, static_cast<uint64_t>(alarm ? variant : t), l);
      auto t0 = clock.Monotonic();
      a->Process(f, sink);
      cost_ms += std::chrono::duration<double, std::milli>(clock.Monotonic() - t0).count();
      auto v = c.Classify(ExtractRoiFeatures(f.image, gen.roi().points));
      right += v.state == (shown ? gen.alarm_state() : gen.normal_state());
      ++frames;
    }
    if (alarm) truth.back().second = total_s * 1000;
    a->Finish(total_s * 1000, sink);
    std::vector<bool> used(truth.size(), false);
    int tp = 0;
    for (const auto& [s, e] : sink.ends) {
      for (std::size_t i = 0; i < truth.size(); ++i) {
        if (used[i] || s > truth[i].second + 10000 || e + 10000 < truth[i].first) continue;
        used[i] = true;
        ++tp;
        break;
      }
    }
    int events = static_cast<int>(sink.ends.size());
    std::printf("%-12s frames %5d  per-frame accuracy %.3f  episodes %3zu  events %3d  "
                "precision %.3f  recall %.3f  false alarms %.1f per camera-hour  cost %.1f ms/frame\n",
                RoiSceneName(kind), frames, static_cast<double>(right) / frames, truth.size(),
                events, events ? static_cast<double>(tp) / events : 1.0,
                truth.empty() ? 1.0 : static_cast<double>(tp) / truth.size(),
                (events - tp) / hours, cost_ms / frames);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
