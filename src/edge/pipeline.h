// Camera pipelines: one thread per camera decodes its source at the native rate, hands every
// frame to full-rate analyzers, sub-samples to the camera's analysis fps and downscales for the
// others, gates them on motion, applies their schedules, keeps real time on live sources by
// dropping frames, reconnects failed sources with exponential back-off (reporting video loss
// as `camera.video_loss` events) and keeps per-camera stats. Pipeline runs all cameras of a
// box and replaces its config live.
//
// Frames only full-rate analyzers or the observer's clip ring would look at are decoded but not
// converted to BGR when the source allows it (SelectiveSource); the others keep their pts for
// pacing and stats.
//
// Why one thread per camera: decoding is blocking and per camera (FFmpeg read/decode), the
// analyzers of a camera share its frames and must run one at a time in stream order, and a box
// has a handful to a few dozen cameras; the OS spreads these threads over the cores, and a
// stalled camera never delays another. A worker pool would add hand-offs without saving work.
//
// Ownership: a CameraPipeline owns its source and analyzers; the EventSink and FrameObserver
// must outlive it. Pipeline owns its cameras and their media renderers; the MediaEventSink must
// outlive it.
// Thread-safety: CameraPipeline::Run() on one thread; Start/Stop/Stats from any thread (Stop
// not from inside Run). Pipeline: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/metrics.h"
#include "edge/analyzer.h"
#include "edge/box.h"
#include "edge/config.h"
#include "edge/frame_source.h"
#include "edge/media.h"
#include "edge/motion.h"

namespace linli::edge {

struct PipelineOptions {
  bool realtime = true;       // files are paced to their nominal rate (camera.realtime may
                              // override); lag is measured and frames dropped beyond max_lag_ms
  bool motion_gating = true;  // false: every sub-sampled frame goes to every analyzer
  bool schedules = true;      // false: schedules are ignored (offline analysis)
  std::string state_dir = "edge-state";  // analyzers get <state_dir>/<camera>/<algorithm>
};

// Makes a camera's detector from the box's `detector:` mapping (a null node: the default
// detector, or nullptr if there is none). One per camera: detectors are single-threaded.
using DetectorFactory =
    std::function<Result<std::shared_ptr<Detector>>(const YAML::Node& cfg, const std::string& key)>;

// Makes the source for a camera (MakeSource by default; tests substitute memory sources).
using SourceFactory = std::function<std::unique_ptr<FrameSource>(const CameraConfig&)>;

// Creates every configured analyzer of every camera once (with a provisional frame size) so
// that their factories validate their parameters. The first error, naming its key.
Result<void> ValidateAnalyzers(const BoxConfig& config, const AnalyzerRegistry& registry,
                               const DetectorFactory& detectors, const std::string& state_dir);

// What a task run on a camera's thread (Pipeline::RunOnCamera) may use: the frame the camera
// has just analysed and the camera's analyzers. Valid only while the task runs.
class CameraThreadContext {
 public:
  virtual ~CameraThreadContext() = default;
  virtual const CameraConfig& camera() const = 0;
  // The running analyzer of algorithm `name`, or null (not configured, outside its schedule,
  // or it could not be created).
  virtual Analyzer* analyzer(const std::string& name) = 0;
  // The current frame as analyzer `name` is given it (scaled to its width), and its pts.
  virtual const cv::Mat& FrameFor(const std::string& name) = 0;
  virtual int64_t frame_pts_ms() const = 0;
  // Replaces analyzer `name` by a new one made from its config (the old one's open events
  // end). The factory's error if it cannot be made; the old one then keeps running. Nothing
  // is made outside the algorithm's schedule (it is made when the schedule opens).
  virtual Result<void> Recreate(const std::string& name) = 0;
};
using CameraTask = std::function<Result<Json>(CameraThreadContext&)>;

// A task posted to a camera's thread; shared by the poster (who waits) and the thread.
struct PostedCameraTask {
  enum class State { kQueued, kRunning, kDone, kCancelled };
  CameraTask fn;
  std::mutex mu;
  std::condition_variable cv;
  State state = State::kQueued;  // mu
  Result<Json> result = Json();  // mu; set when kDone
};

class CameraPipeline {
 public:
  CameraPipeline(CameraConfig camera, std::unique_ptr<FrameSource> source,
                 const AnalyzerRegistry& registry, DetectorFactory detectors,
                 YAML::Node detector_cfg, EventSink& sink, PipelineOptions options, Clock& clock,
                 FrameObserver* observer = nullptr);
  ~CameraPipeline();  // Stop()s

  // Runs until the source ends (a file without loop), Stop() is called, or the source can
  // never work (the error then: InvalidArgument for a missing file or one that is not a video).
  // Open events are ended (Finish()) before it returns.
  Result<void> Run();
  // Run() on a thread of its own.
  void Start();
  // Makes Run() return soon (interrupting a blocked read) and joins the thread.
  void Stop();
  // Blocks until Run() has returned (the thread ended by itself or was stopped).
  void Wait();

  CameraStats Stats() const;
  const CameraConfig& camera() const { return camera_; }

  // Queues `task` to run on the camera's thread right after the next frame with pixels has
  // been analysed. FailedPrecondition if Run() is not active; Unavailable while the camera
  // has no video (reconnecting). Wait for it with WaitCameraTask(); the pipeline may go away
  // meanwhile (the task is then answered "camera stopped").
  Result<std::shared_ptr<PostedCameraTask>> PostTask(CameraTask task);

 private:
  struct Slot {
    AlgorithmConfig cfg;
    std::unique_ptr<Analyzer> analyzer;
    FrameNeeds needs;
    int width = 0;          // frames are scaled to this width (0 = native)
    bool scheduled = true;  // inside its schedule
    bool create_failed = false;
    int64_t next_keepalive = 0;
    int64_t errors = 0;
  };
  class CountingSink;
  class ThreadContext;

  Result<void> OpenWithBackoff();
  bool WaitMs(int64_t ms);  // false if stopped meanwhile
  void CreateAnalyzers();
  void CreateAnalyzer(Slot& slot);
  Result<void> MakeAnalyzer(Slot& slot);  // CreateAnalyzer without the error reporting
  Result<void> RunLoop();
  void RunTasks(const Frame& frame);
  void FailTasks(const std::string& why);
  void FinishAnalyzers(int64_t pts, bool destroy);
  void UpdateSchedules(int64_t wall_ms);
  void ProcessFrame(const Frame& frame);
  // Whether the frame at `pts_ms` needs its pixels (a full-rate analyzer, the sub-sampled
  // stream, the observer's clip ring, or analyzers still to be made).
  bool WantsImage(int64_t pts_ms) const;
  void Deliver(Slot& slot, const Frame& frame);
  const Frame& Scaled(const Frame& frame, int width);
  void BeginVideoLoss(const std::string& reason);
  void EndVideoLoss(int64_t pts, const std::string& reason);
  void UpdateRates(bool force);
  void SetState(CameraState s, const std::string& error = {});

  CameraConfig camera_;
  std::unique_ptr<FrameSource> source_;
  const AnalyzerRegistry& registry_;
  DetectorFactory detectors_;
  YAML::Node detector_cfg_;
  std::unique_ptr<CountingSink> sink_;
  PipelineOptions options_;
  Clock& clock_;
  FrameObserver* observer_;
  bool live_ = false;   // lag is measured, frames are dropped to keep up
  bool paced_ = false;  // a file played at its nominal rate

  std::vector<Slot> slots_;
  std::shared_ptr<Detector> detector_;
  bool detector_failed_ = false;
  MotionGate motion_;
  cv::Size native_;
  double source_fps_ = 0;
  int64_t last_pts_ = 0;
  int64_t next_sub_pts_ = 0;
  bool need_analyzers_ = true;
  bool dropping_ = false;
  bool anchored_ = false;
  std::chrono::steady_clock::time_point anchor_mono_;
  int64_t anchor_pts_ = 0;
  int64_t last_schedule_check_ms_ = INT64_MIN;
  std::vector<std::pair<int, Frame>> scaled_;  // per decoded frame: width → scaled copy

  // video loss
  std::string loss_id_;
  std::chrono::steady_clock::time_point loss_since_;

  // stats (mu_)
  mutable std::mutex mu_;
  CameraStats stats_;
  std::chrono::steady_clock::time_point window_start_;
  int64_t window_decoded_ = 0, window_analysed_ = 0;

  // tasks (mu_)
  std::deque<std::shared_ptr<PostedCameraTask>> tasks_;
  bool accepting_tasks_ = false;
  std::atomic<bool> has_tasks_{false};

  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  bool running_ = false;  // mu_
  std::thread thread_;

  metrics::Counter& m_decoded_;
  metrics::Counter& m_analysed_;
  metrics::Counter& m_dropped_;
  metrics::Counter& m_reconnects_;
  metrics::Counter& m_source_errors_;
  metrics::Counter& m_analyzer_errors_;
  metrics::Counter& m_events_;
  metrics::Gauge& m_lag_;
  metrics::Gauge& m_video_loss_;
};

// Waits up to `wait` for a posted task: its result; Unavailable "no frame from camera <id>
// within <n> ms" if it did not start in time (it is then cancelled and never runs).
Result<Json> WaitCameraTask(const std::shared_ptr<PostedCameraTask>& task,
                            const std::string& camera_id, std::chrono::milliseconds wait);

// All cameras of a box. Each camera's analyzers emit into an EventMediaRenderer (snapshots,
// clips) that delivers to the MediaEventSink given here.
class Pipeline {
 public:
  Pipeline(const AnalyzerRegistry& registry, DetectorFactory detectors, MediaEventSink& out,
           Clock& clock, PipelineOptions options, SourceFactory sources = {});
  ~Pipeline();  // Stop()s

  // Validates `config` (including every analyzer's parameters) and starts its cameras.
  Result<void> Start(const BoxConfig& config);
  // Parses and validates `yaml_text`; on success restarts the cameras whose config changed
  // (their analyzers are Finish()ed), starts new ones and stops removed ones, leaving the
  // others running. A bad config changes nothing. FailedPrecondition if box identity, the
  // uplink section or state_dir changed (those need a restart).
  Result<void> ApplyConfig(const std::string& yaml_text);
  Result<void> Apply(const BoxConfig& config);
  void Stop();
  // Blocks until every camera's Run() returned (all sources ended), for finite files.
  void WaitAll();

  std::vector<CameraStats> Stats() const;
  // Runs `task` on camera `camera_id`'s thread with its next analysed frame (see
  // CameraPipeline::PostTask), waiting up to `wait`. FailedPrecondition if the camera is not
  // running (unknown, disabled, ended, failed).
  Result<Json> RunOnCamera(const std::string& camera_id, CameraTask task,
                           std::chrono::milliseconds wait);
  // The running config of camera `camera_id` (enabled or not), if the box has it.
  std::optional<CameraConfig> CameraConfigOf(const std::string& camera_id) const;
  std::vector<std::string> CameraIds() const;  // every configured camera
  // <state_dir>/<camera>/<algorithm>: the directory analyzers get for their own files.
  std::string AlgorithmStateDir(const std::string& camera_id, const std::string& algorithm) const;
  ConfigApplier Applier() {
    return [this](const std::string& text) { return ApplyConfig(text); };
  }
  StatsProvider StatsFn() {
    return [this] { return Stats(); };
  }
  const BoxConfig& config() const { return config_; }  // not thread-safe during ApplyConfig

 private:
  struct Camera {
    std::unique_ptr<EventMediaRenderer> renderer;
    std::unique_ptr<CameraPipeline> pipeline;
  };
  std::unique_ptr<Camera> StartCamera(const CameraConfig& cam);

  const AnalyzerRegistry& registry_;
  DetectorFactory detectors_;
  MediaEventSink& out_;
  Clock& clock_;
  PipelineOptions options_;
  SourceFactory sources_;

  mutable std::mutex mu_;
  BoxConfig config_;
  bool started_ = false;
  std::map<std::string, std::unique_ptr<Camera>> cameras_;
};

}  // namespace linli::edge
