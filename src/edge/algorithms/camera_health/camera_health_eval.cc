// Accuracy and cost of camera_health.
//
// Labelled set: (1) doctored real footage: three segments of opencv-doc's vtest.avi (pedestrians;
// tree.avi is only 68 frames), each clip clean, then one fault (covered, grey card,
// frozen, blurred, darkened, blown out, turned away, sprayed) over the middle part, then clean
// again (the turned-away camera stays turned), written as MJPG video and decoded back;
// (2) generated scenes (seeded textured streets with a walker and sensor noise) with the same
// faults applied in memory. Clean versions of every clip count for false alarms.
// An event of the fault's type overlapping the fault (±2 s) is a hit; any other event is a
// false alarm. Prints precision and recall per event type and false alarms per camera-hour.
// Cost: ms per analysed frame at 640 x 360, one thread.
//
// Usage: edge_camera_health_eval [--scenes N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include "common/clock.h"
#include "edge/algorithms/camera_health/camera_health.h"
#include "edge/algorithms/camera_health/doctored_clips.h"

using namespace linli;
using namespace linli::edge;
using testing::Doctoring;

namespace {

const Doctoring kFaults[] = {Doctoring::kCovered,  Doctoring::kGreyPatch, Doctoring::kFrozen,
                             Doctoring::kBlurred,  Doctoring::kDarkened,  Doctoring::kSaturated,
                             Doctoring::kShifted,  Doctoring::kSprayed};

struct Tally {
  int episodes = 0, found = 0, events = 0, true_events = 0;
};

struct Totals {
  std::map<std::string, Tally> by_type;
  int false_alarms = 0;
  double hours = 0;
  int clips = 0;

  void Score(const std::vector<EdgeEvent>& events, Doctoring d, int64_t from_ms, int64_t to_ms,
             int64_t length_ms) {
    ++clips;
    hours += length_ms / 3.6e6;
    std::string want = testing::ExpectedEventType(d);
    if (!want.empty()) by_type[want].episodes++;
    bool found = false;
    for (const auto& e : events) {
      if (e.phase != EventPhase::kBegin) continue;
      by_type[e.type].events++;
      bool hit = e.type == want && e.start_ms <= to_ms + 2000 && e.end_ms + 2000 >= from_ms;
      if (hit && !found) {
        found = true;
        by_type[e.type].true_events++;
      } else {
        ++false_alarms;
      }
    }
    if (found) by_type[want].found++;
  }
};

std::vector<EdgeEvent> Begins(const std::vector<EdgeEvent>& all) {
  // Begin steps carry start_ms; fill end_ms from the matching end step.
  std::map<std::string, EdgeEvent> by_id;
  std::vector<std::string> order;
  for (const auto& e : all) {
    if (e.phase == EventPhase::kBegin) {
      by_id[e.id] = e;
      order.push_back(e.id);
    } else if (e.phase == EventPhase::kEnd && by_id.count(e.id)) {
      by_id[e.id].end_ms = e.end_ms;
    }
  }
  std::vector<EdgeEvent> out;
  for (const auto& id : order) out.push_back(by_id[id]);
  return out;
}

void RealFootage(Totals& t) {
  struct Source {
    const char* path;
    double start, length;
    cv::Size size;
  };
  const Source sources[] = {{"/usr/share/doc/opencv-doc/examples/data/vtest.avi", 0, 40, {384, 288}},
                            {"/usr/share/doc/opencv-doc/examples/data/vtest.avi", 39, 40, {384, 288}},
                            {"/usr/share/doc/opencv-doc/examples/data/vtest.avi", 20, 40, {320, 240}}};
  auto dir = std::filesystem::temp_directory_path() / "linli_camera_health_eval";
  std::filesystem::create_directories(dir);
  for (const auto& s : sources) {
    auto frames = testing::ReadClip(s.path, s.start, s.length, 5, s.size);
    if (!frames) {
      std::printf("skipping %s: %s\n", s.path, frames.error().ToString().c_str());
      continue;
    }
    const double from = s.length * 0.3, to = s.length * 0.75;
    std::vector<Doctoring> all = {Doctoring::kClean};
    all.insert(all.end(), std::begin(kFaults), std::end(kFaults));
    for (Doctoring d : all) {
      std::string path = (dir / (std::string(testing::DoctoringName(d)) + ".avi")).string();
      double until = d == Doctoring::kShifted ? s.length + 1 : to;
      if (!testing::WriteDoctoredClip(*frames, 5, path, d, from, until)) continue;
      auto a = MakeCameraHealth(YAML::Node(), "k", CameraContext{.camera_id = "eval"});
      testing::CollectingSink sink;
      if (!testing::FeedFile(path, 5, **a, sink)) continue;
      t.Score(Begins(sink.events), d, static_cast<int64_t>(from * 1000),
              static_cast<int64_t>(until * 1000), static_cast<int64_t>(s.length * 1000));
    }
  }
  std::filesystem::remove_all(dir);
}

// A seeded textured street with a walker; the sensor adds noise to whatever it sees.
cv::Mat SceneBackground(uint64_t seed, cv::Size size) {
  cv::RNG rng(seed);
  cv::Mat bg(size, CV_8UC3, cv::Scalar(rng.uniform(60, 160), rng.uniform(60, 160), rng.uniform(60, 160)));
  for (int i = 0; i < 70; ++i) {
    cv::Point a(rng.uniform(0, size.width), rng.uniform(0, size.height));
    cv::Point b = a + cv::Point(rng.uniform(5, 70), rng.uniform(5, 50));
    cv::Scalar c(rng.uniform(10, 245), rng.uniform(10, 245), rng.uniform(10, 245));
    if (i % 3 == 0) cv::circle(bg, a, rng.uniform(3, 22), c, cv::FILLED);
    else if (i % 3 == 1) cv::rectangle(bg, a, b, c, cv::FILLED);
    else cv::line(bg, a, b, c, 2);
  }
  return bg;
}

void GeneratedScenes(Totals& t, int scenes) {
  const cv::Size size(320, 180);
  const int frames = 250;  // 50 s at 5 fps; fault in [15, 35) s
  for (int s = 0; s < scenes; ++s) {
    cv::Mat bg = SceneBackground(1000 + static_cast<uint64_t>(s), size);
    std::vector<Doctoring> all = {Doctoring::kClean};
    all.insert(all.end(), std::begin(kFaults), std::end(kFaults));
    for (Doctoring d : all) {
      auto a = MakeCameraHealth(YAML::Node(), "k", CameraContext{.camera_id = "eval"});
      testing::CollectingSink sink;
      cv::RNG rng(static_cast<uint64_t>(s) * 31 + static_cast<uint64_t>(d));
      cv::Mat frozen;
      const double noise = 1.5 + s % 4;
      for (int i = 0; i < frames; ++i) {
        Frame f;
        f.index = i;
        f.pts_ms = i * 200;
        cv::Mat img = bg.clone();
        int x = (i * (3 + s % 4)) % (size.width + 40) - 20;
        cv::rectangle(img, cv::Rect(x, size.height / 2, 14, 40), cv::Scalar(30, 30, 160), cv::FILLED);
        bool doctored = f.pts_ms >= 15000 && (f.pts_ms < 35000 || d == Doctoring::kShifted);
        if (doctored && d == Doctoring::kFrozen && !frozen.empty()) {
          f.image = frozen;
        } else {
          if (doctored) img = testing::Doctor(img, d, frozen);
          cv::Mat n(img.size(), CV_16SC3), i16;
          rng.fill(n, cv::RNG::NORMAL, 0, noise);
          img.convertTo(i16, CV_16SC3);
          i16 += n;
          i16.convertTo(img, CV_8UC3);
          if (!doctored) frozen = img;
          f.image = img;
        }
        (*a)->Process(f, sink);
      }
      (*a)->Finish(frames * 200, sink);
      t.Score(Begins(sink.events), d, 15000, d == Doctoring::kShifted ? 50000 : 35000, 50000);
    }
  }
}

void Print(const char* set, const Totals& t) {
  std::printf("%s: %d clips, %.2f camera-hours, %d false alarms (%.1f per camera-hour)\n", set,
              t.clips, t.hours, t.false_alarms, t.false_alarms / t.hours);
  for (const auto& [type, x] : t.by_type) {
    double p = x.events ? static_cast<double>(x.true_events) / x.events : 1;
    double r = x.episodes ? static_cast<double>(x.found) / x.episodes : 1;
    std::printf("  %-22s faults %3d  found %3d  events %3d  precision %.3f  recall %.3f\n",
                type.c_str(), x.episodes, x.found, x.events, p, r);
  }
}

void Cost() {
  cv::setNumThreads(1);
  auto frames = testing::ReadClip("/usr/share/doc/opencv-doc/examples/data/vtest.avi", 0, 30, 5,
                                  cv::Size(640, 360));
  if (!frames) return;
  auto a = MakeCameraHealth(YAML::Node(), "k", CameraContext{.camera_id = "cost"});
  testing::CollectingSink sink;
  Clock& clock = SystemClock();
  auto t0 = clock.Monotonic();
  for (std::size_t i = 0; i < frames->size(); ++i) {
    Frame f;
    f.index = static_cast<int64_t>(i);
    f.pts_ms = static_cast<int64_t>(i) * 200;
    f.image = (*frames)[i];
    (*a)->Process(f, sink);
  }
  double ms = std::chrono::duration<double, std::milli>(clock.Monotonic() - t0).count() /
              frames->size();
  std::printf("cost camera_health %.2f ms/frame at 640x360, 1 thread\n", ms);
}

}  // namespace

int main(int argc, char** argv) {
  int scenes = 20;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--scenes") && i + 1 < argc) scenes = std::atoi(argv[++i]);
  Totals real, generated;
  RealFootage(real);
  Print("doctored real footage (vtest.avi; MJPG encoded and decoded)", real);
  GeneratedScenes(generated, scenes);
  Print("generated scenes", generated);
  Cost();
  return 0;
}
