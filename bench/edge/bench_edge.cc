// linli-bench-edge: the edge box's benchmark binary (driven by bench/edge/run).
//
//   linli-bench-edge ratio --camera CFG --input F [--input F ...] [--no-gating]
//       For each file: decode-only (the limit: FFmpeg through OpenCV, nothing else), then the
//       camera's configured algorithms through the pipeline as fast as it goes. Prints frames,
//       CPU seconds, the pipeline/decode-only CPU ratio and frames analysed per CPU-second.
//   linli-bench-edge capacity --camera CFG --input F [--max-n N] [--seconds S] [--warmup S]
//       N concurrent cameras looping F in real time (paced to its frame rate, lag measured,
//       frames dropped beyond max_lag_ms), N = 1, 2, 3, 4, 6, 8, ... until a step falls behind:
//       a camera drops frames, decodes < 95 % of its nominal rate, or lags > 1 s.
//
// CPU time is the process's (getrusage), so it counts every thread; the machine is shared, so
// wall-clock rates are noisier than CPU ratios.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "edge/builtin.h"
#include "edge/config.h"
#include "edge/pipeline.h"
#include "edge/sources.h"

namespace {

using namespace linli;
using namespace linli::edge;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class CountingSink final : public MediaEventSink {
 public:
  void Deliver(const EdgeEvent&, const EventMedia& media) override {
    ++steps;
    if (!media.clip_path.empty()) std::remove(media.clip_path.c_str());
  }
  std::atomic<int64_t> steps{0};
};

Result<CameraConfig> LoadCamera(const std::string& path, BoxConfig* box) {
  LINLI_ASSIGN_OR_RETURN(*box, LoadBoxConfig(path));
  return SelectCamera(*box, "");
}

int Ratio(const std::string& camera_cfg, const std::vector<std::string>& inputs, bool gating) {
  BoxConfig box;
  auto cam = LoadCamera(camera_cfg, &box);
  if (!cam) {
    std::fprintf(stderr, "config: %s\n", cam.error().ToString().c_str());
    return 2;
  }
  std::string algos;
  for (const auto& a : cam->algorithms) algos += (algos.empty() ? "" : "+") + a.name;
  std::printf("%-22s %-28s %7s %9s %9s %9s %7s %12s\n", "clip", "algorithms", "frames",
              "decode_s", "pipe_s", "analysed", "ratio", "analysed/cpu");
  for (const auto& input : inputs) {
    // Decode only.
    VideoFileSource src(input, false);
    if (auto r = src.Open(); !r) {
      std::fprintf(stderr, "%s: %s\n", input.c_str(), r.error().ToString().c_str());
      return 1;
    }
    double c0 = CpuSeconds();
    int64_t frames = 0;
    for (;;) {
      auto f = src.Read();
      if (!f || !*f) break;
      ++frames;
    }
    const double decode_cpu = CpuSeconds() - c0;

    // The pipeline.
    CameraConfig c = *cam;
    c.url = input;
    c.loop = false;
    PipelineOptions opts;
    opts.realtime = false;
    opts.motion_gating = gating;
    opts.schedules = false;
    opts.state_dir = box.box.state_dir;
    CountingSink sink;
    c0 = CpuSeconds();
    CameraStats st;
    {
      EventMediaRenderer renderer(c, "/tmp/linli-bench-edge-media", sink);
      CameraPipeline pipe(c, MakeSource(c, SystemClock()), AnalyzerRegistry::Default(),
                          BuiltinDetectorFactory(), box.detector, renderer, opts, SystemClock(),
                          &renderer);
      if (auto r = pipe.Run(); !r) {
        std::fprintf(stderr, "%s: %s\n", input.c_str(), r.error().ToString().c_str());
        return 1;
      }
      st = pipe.Stats();
    }
    const double pipe_cpu = CpuSeconds() - c0;
    const int64_t analysed = st.frames_analysed + st.frames_full_rate;
    std::printf("%-22s %-28s %7lld %9.2f %9.2f %9lld %7.2f %12.1f\n",
                std::filesystem::path(input).filename().string().c_str(), algos.c_str(),
                static_cast<long long>(frames), decode_cpu, pipe_cpu,
                static_cast<long long>(analysed), decode_cpu > 0 ? pipe_cpu / decode_cpu : 0,
                pipe_cpu > 0 ? analysed / pipe_cpu : 0);
    std::fflush(stdout);
  }
  return 0;
}

struct Step {
  int n = 0;
  bool ok = false;
  double min_fps_ratio = 0, max_lag_ms = 0, cpu_util = 0;
  int64_t dropped = 0;
};

Step RunCameras(const BoxConfig& box, const CameraConfig& cam, const std::string& input, int n,
                double warmup_s, double measure_s) {
  CountingSink sink;
  PipelineOptions opts;
  opts.realtime = true;
  opts.motion_gating = true;
  opts.schedules = false;
  opts.state_dir = box.box.state_dir;
  struct Cam {
    std::unique_ptr<EventMediaRenderer> renderer;
    std::unique_ptr<CameraPipeline> pipe;
  };
  std::vector<Cam> cams;
  for (int i = 0; i < n; ++i) {
    CameraConfig c = cam;
    c.id = cam.id + "-" + std::to_string(i);
    c.url = input;
    c.loop = true;
    Cam x;
    x.renderer = std::make_unique<EventMediaRenderer>(c, "/tmp/linli-bench-edge-media", sink);
    x.pipe = std::make_unique<CameraPipeline>(c, MakeSource(c, SystemClock()),
                                              AnalyzerRegistry::Default(),
                                              BuiltinDetectorFactory(), box.detector,
                                              *x.renderer, opts, SystemClock(), x.renderer.get());
    cams.push_back(std::move(x));
  }
  for (auto& c : cams) c.pipe->Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
  std::vector<CameraStats> before;
  for (auto& c : cams) before.push_back(c.pipe->Stats());
  const double c0 = CpuSeconds(), w0 = WallSeconds();
  // Sample lag through the window.
  Step step;
  step.n = n;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(measure_s);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (auto& c : cams) step.max_lag_ms = std::max(step.max_lag_ms, c.pipe->Stats().lag_ms);
  }
  const double wall = WallSeconds() - w0, cpu = CpuSeconds() - c0;
  step.min_fps_ratio = 1e9;
  for (size_t i = 0; i < cams.size(); ++i) {
    CameraStats after = cams[i].pipe->Stats();
    step.dropped += after.frames_dropped - before[i].frames_dropped;
    const double fps = (after.frames_decoded - before[i].frames_decoded) / wall;
    step.min_fps_ratio = std::min(step.min_fps_ratio, fps / std::max(1.0, after.source_fps));
  }
  step.cpu_util = cpu / wall;
  for (auto& c : cams) c.pipe->Stop();
  cams.clear();
  step.ok = step.dropped == 0 && step.min_fps_ratio >= 0.95 && step.max_lag_ms < 1000;
  return step;
}

int Capacity(const std::string& camera_cfg, const std::string& input, int max_n, double seconds,
             double warmup) {
  BoxConfig box;
  auto cam = LoadCamera(camera_cfg, &box);
  if (!cam) {
    std::fprintf(stderr, "config: %s\n", cam.error().ToString().c_str());
    return 2;
  }
  std::string algos;
  for (const auto& a : cam->algorithms) algos += (algos.empty() ? "" : "+") + a.name;
  std::printf("capacity: %s on %s (real time, motion gating on), %u cores\n", algos.c_str(),
              std::filesystem::path(input).filename().string().c_str(),
              std::thread::hardware_concurrency());
  std::printf("%4s %10s %10s %8s %8s %s\n", "N", "min_fps%", "max_lag_ms", "dropped", "cpu",
              "sustained");
  int best = 0;
  for (int n : {1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32}) {
    if (n > max_n) break;
    Step s = RunCameras(box, *cam, input, n, warmup, seconds);
    std::printf("%4d %10.1f %10.0f %8lld %8.2f %s\n", n, 100 * s.min_fps_ratio, s.max_lag_ms,
                static_cast<long long>(s.dropped), s.cpu_util, s.ok ? "yes" : "no");
    std::fflush(stdout);
    if (!s.ok) break;
    best = n;
  }
  std::printf("capacity: %d camera(s) sustained (%s)\n", best, algos.c_str());
  return 0;
}

// Merges single-camera configs (zones and algorithms) into one camera config for the bench.
int Merge(const std::vector<std::string>& files, const std::string& out,
          const std::string& state_dir, double analysis_fps) {
  YAML::Node cam(YAML::NodeType::Map);
  YAML::Node zones(YAML::NodeType::Sequence), algos(YAML::NodeType::Map);
  std::set<std::string> zone_names;
  for (const auto& f : files) {
    YAML::Node n;
    try {
      n = YAML::LoadFile(f);
    } catch (const YAML::Exception& e) {
      std::fprintf(stderr, "%s: %s\n", f.c_str(), e.what());
      return 2;
    }
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      if (k == "zones") {
        for (const auto& z : kv.second) {
          if (zone_names.insert(z["name"].as<std::string>()).second) zones.push_back(z);
        }
      } else if (k == "algorithms") {
        for (const auto& a : kv.second) algos[a.first.as<std::string>()] = a.second;
      } else if (k != "box" && !cam[k]) {
        cam[k] = kv.second;
      }
    }
  }
  cam["id"] = "bench";
  if (analysis_fps > 0) cam["analysis_fps"] = analysis_fps;
  if (zones.size() > 0) cam["zones"] = zones;
  cam["algorithms"] = algos;
  cam["box"]["device_id"] = "bench-box";
  cam["box"]["state_dir"] = state_dir;
  std::ofstream o(out);
  o << cam << "\n";
  o.close();
  auto check = LoadBoxConfig(out);
  if (!check) {
    std::fprintf(stderr, "%s: %s\n", out.c_str(), check.error().ToString().c_str());
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linli-bench-edge"};
  app.require_subcommand(1);
  std::string camera;
  std::vector<std::string> inputs;
  bool no_gating = false;
  auto* ratio = app.add_subcommand("ratio", "pipeline vs decode-only CPU cost");
  ratio->add_option("--camera", camera)->required();
  ratio->add_option("--input", inputs)->required();
  ratio->add_flag("--no-gating", no_gating);
  int max_n = 16;
  double seconds = 12, warmup = 4;
  std::string input;
  auto* cap = app.add_subcommand("capacity", "concurrent real-time cameras");
  cap->add_option("--camera", camera)->required();
  cap->add_option("--input", input)->required();
  cap->add_option("--max-n", max_n);
  cap->add_option("--seconds", seconds);
  cap->add_option("--warmup", warmup);
  std::vector<std::string> merge_files;
  std::string merge_out, state_dir = "/tmp/linli-bench-edge-state";
  auto* merge = app.add_subcommand("merge", "merge single-camera example configs");
  merge->add_option("files", merge_files)->required();
  merge->add_option("--out", merge_out)->required();
  merge->add_option("--state-dir", state_dir);
  double merge_fps = 5;
  merge->add_option("--analysis-fps", merge_fps, "0 = keep the first file's");
  CLI11_PARSE(app, argc, argv);
  if (*merge) return Merge(merge_files, merge_out, state_dir, merge_fps);
  log::Init(log::Level::kError, log::Format::kText);
  RegisterBuiltinAnalyzers(AnalyzerRegistry::Default());
  if (*ratio) return Ratio(camera, inputs, !no_gating);
  return Capacity(camera, input, max_n, seconds, warmup);
}
