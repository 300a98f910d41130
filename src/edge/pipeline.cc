#include "edge/pipeline.h"

#include <cmath>
#include <filesystem>

#include <opencv2/imgproc.hpp>

#include "common/ids.h"
#include "common/log.h"
#include "edge/sources.h"

namespace linli::edge {
namespace {

using Mono = std::chrono::steady_clock;

int64_t MsBetween(Mono::time_point a, Mono::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

cv::Size ScaledSize(cv::Size native, int width) {
  if (width <= 0 || native.width <= width || native.width <= 0) return native;
  int h = static_cast<int>(std::lround(native.height * static_cast<double>(width) / native.width));
  return {width, std::max(1, h)};
}

// The width an analyzer's frames are scaled to: its own wish, capped by the camera's
// max_width for the sub-sampled stream (full-rate analyzers choose for themselves).
int EffectiveWidth(const FrameNeeds& needs, const CameraConfig& cam) {
  int w = needs.max_width;
  if (!needs.full_rate && cam.max_width > 0) w = (w <= 0) ? cam.max_width : std::min(w, cam.max_width);
  return w;
}

std::string StateDirFor(const std::string& base, const std::string& camera, const std::string& algo) {
  return (std::filesystem::path(base) / camera / algo).string();
}

}  // namespace

std::string_view CameraStateName(CameraState s) {
  switch (s) {
    case CameraState::kStarting: return "starting";
    case CameraState::kRunning: return "running";
    case CameraState::kReconnecting: return "reconnecting";
    case CameraState::kEnded: return "ended";
    case CameraState::kStopped: return "stopped";
    case CameraState::kFailed: return "failed";
  }
  return "unknown";
}

Result<void> ValidateAnalyzers(const BoxConfig& config, const AnalyzerRegistry& registry,
                               const DetectorFactory& detectors, const std::string& state_dir) {
  std::shared_ptr<Detector> detector;
  if (detectors) {
    LINLI_ASSIGN_OR_RETURN(detector, detectors(config.detector, "detector"));
  }
  for (const auto& cam : config.cameras) {
    for (const auto& algo : cam.algorithms) {
      CameraContext ctx;
      ctx.camera_id = cam.id;
      const int w = cam.max_width > 0 ? cam.max_width : 640;
      ctx.frame_size = cv::Size(w, w * 9 / 16);
      ctx.fps = cam.analysis_fps;
      ctx.zones = cam.zones;
      ctx.detector = detector;
      ctx.state_dir = StateDirFor(state_dir, cam.id, algo.name);
      LINLI_ASSIGN_OR_RETURN(auto analyzer, registry.Create(algo.name, algo.params, algo.key, ctx));
      (void)analyzer;
    }
  }
  return {};
}

// Between the analyzers and the camera's sink: fills in the camera id and counts steps.
class CameraPipeline::CountingSink final : public EventSink {
 public:
  CountingSink(EventSink& next, std::string camera_id, CameraPipeline& owner)
      : next_(next), camera_id_(std::move(camera_id)), owner_(owner) {}
  void Emit(const EdgeEvent& event) override {
    {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      ++owner_.stats_.events;
    }
    owner_.m_events_.Inc();
    if (event.camera_id.empty() || event.id.empty()) {
      EdgeEvent e = event;
      if (e.camera_id.empty()) e.camera_id = camera_id_;
      if (e.id.empty()) e.id = NewUuid();  // an analyzer bug; an id is still needed downstream
      next_.Emit(e);
      return;
    }
    next_.Emit(event);
  }

 private:
  EventSink& next_;
  std::string camera_id_;
  CameraPipeline& owner_;
};

CameraPipeline::CameraPipeline(CameraConfig camera, std::unique_ptr<FrameSource> source,
                               const AnalyzerRegistry& registry, DetectorFactory detectors,
                               YAML::Node detector_cfg, EventSink& sink, PipelineOptions options,
                               Clock& clock, FrameObserver* observer)
    : camera_(std::move(camera)),
      source_(std::move(source)),
      registry_(registry),
      detectors_(std::move(detectors)),
      detector_cfg_(std::move(detector_cfg)),
      options_(std::move(options)),
      clock_(clock),
      observer_(observer),
      motion_(camera_.motion),
      m_decoded_(metrics::Default().GetCounter("linli_edge_frames_decoded_total",
                                               "Frames decoded per camera", {{"camera", camera_.id}})),
      m_analysed_(metrics::Default().GetCounter("linli_edge_frames_analysed_total",
                                                "Sub-sampled frames analysed per camera",
                                                {{"camera", camera_.id}})),
      m_dropped_(metrics::Default().GetCounter("linli_edge_frames_dropped_total",
                                               "Frames dropped to keep up with real time",
                                               {{"camera", camera_.id}})),
      m_reconnects_(metrics::Default().GetCounter("linli_edge_reconnects_total",
                                                  "Successful source re-opens after a failure",
                                                  {{"camera", camera_.id}})),
      m_source_errors_(metrics::Default().GetCounter("linli_edge_source_errors_total",
                                                     "Source open/read failures",
                                                     {{"camera", camera_.id}})),
      m_analyzer_errors_(metrics::Default().GetCounter(
          "linli_edge_analyzer_errors_total", "Analyzer creation or processing failures",
          {{"camera", camera_.id}})),
      m_events_(metrics::Default().GetCounter("linli_edge_events_total",
                                              "Event steps emitted by a camera's analyzers",
                                              {{"camera", camera_.id}})),
      m_lag_(metrics::Default().GetGauge("linli_edge_lag_seconds",
                                         "How far a camera's processing is behind real time",
                                         {{"camera", camera_.id}})),
      m_video_loss_(metrics::Default().GetGauge("linli_edge_video_loss",
                                                "1 while a camera's video is lost",
                                                {{"camera", camera_.id}})) {
  sink_ = std::make_unique<CountingSink>(sink, camera_.id, *this);
  live_ = camera_.IsRtsp() || (options_.realtime && camera_.realtime.value_or(true));
  paced_ = live_ && !camera_.IsRtsp();
  for (const auto& a : camera_.algorithms) {
    Slot s;
    s.cfg = a;
    slots_.push_back(std::move(s));
  }
  stats_.camera_id = camera_.id;
  if (auto* selective = dynamic_cast<SelectiveSource*>(source_.get()))
    selective->SetWanted([this](int64_t pts_ms) { return WantsImage(pts_ms); });
}

bool CameraPipeline::WantsImage(int64_t pts_ms) const {
  if (need_analyzers_ || native_.area() == 0 || has_tasks_.load()) return true;
  if (pts_ms >= next_sub_pts_) return true;
  for (const auto& slot : slots_)
    if (slot.analyzer && slot.needs.full_rate) return true;
  return observer_ != nullptr && observer_->WantsImage(pts_ms);
}

CameraPipeline::~CameraPipeline() { Stop(); }

void CameraPipeline::SetState(CameraState s, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.state = s;
  if (!error.empty()) stats_.last_error = error;
}

CameraStats CameraPipeline::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool CameraPipeline::WaitMs(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
  return !stop_;
}

void CameraPipeline::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ || thread_.joinable()) return;
  running_ = true;
  // Here, not in Run(): a Stop() that comes before the thread got going must still stop it.
  stop_ = false;
  accepting_tasks_ = true;  // tasks posted before the thread runs wait for its first frame
  thread_ = std::thread([this] {
    auto r = Run();
    if (!r) {
      log::Error("camera pipeline stopped", {{"camera", camera_.id}, {"error", r.error().ToString()}});
    }
    std::lock_guard<std::mutex> l(mu_);
    running_ = false;
    wake_.notify_all();
  });
}

void CameraPipeline::Stop() {
  stop_ = true;
  if (source_) source_->Interrupt();
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void CameraPipeline::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait(lock, [&] { return !running_; });
}

void CameraPipeline::BeginVideoLoss(const std::string& reason) {
  if (!loss_id_.empty()) return;
  loss_id_ = NewUuid();
  loss_since_ = clock_.Monotonic();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.video_loss = true;
  }
  m_video_loss_.Set(1);
  log::Warn("video loss", {{"camera", camera_.id}, {"source", source_->Describe()}, {"reason", reason}});
  EdgeEvent e;
  e.id = loss_id_;
  e.type = "camera.video_loss";
  e.camera_id = camera_.id;
  e.phase = EventPhase::kBegin;
  e.start_ms = e.end_ms = last_pts_;
  e.score = 1;
  e.data = {{"reason", reason}, {"source", source_->Describe()}};
  sink_->Emit(e);
}

void CameraPipeline::EndVideoLoss(int64_t pts, const std::string& reason) {
  if (loss_id_.empty()) return;
  EdgeEvent e;
  e.id = loss_id_;
  e.type = "camera.video_loss";
  e.camera_id = camera_.id;
  e.phase = EventPhase::kEnd;
  e.start_ms = last_pts_;
  e.end_ms = std::max(pts, last_pts_);
  e.score = 1;
  int64_t reconnects = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.video_loss = false;
    reconnects = stats_.reconnects;
  }
  e.data = {{"reason", reason},
            {"source", source_->Describe()},
            {"duration_ms", MsBetween(loss_since_, clock_.Monotonic())},
            {"reconnects", reconnects}};
  loss_id_.clear();
  m_video_loss_.Set(0);
  log::Info("video restored", {{"camera", camera_.id}, {"reason", reason}});
  sink_->Emit(e);
}

Result<void> CameraPipeline::OpenWithBackoff() {
  int64_t backoff = camera_.reconnect_initial_ms;
  for (int attempt = 0; !stop_; ++attempt) {
    auto r = source_->Open();
    if (r) {
      native_ = source_->FrameSize();
      source_fps_ = source_->Fps();
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.source_fps = source_fps_;
        stats_.width = native_.width;
        stats_.height = native_.height;
      }
      anchored_ = false;
      need_analyzers_ = true;
      motion_.Reset();
      return {};
    }
    m_source_errors_.Inc();
    const Error& err = r.error();
    if (err.code() != ErrorCode::kUnavailable) {
      SetState(CameraState::kFailed, err.ToString());
      return std::unexpected(err);
    }
    SetState(CameraState::kReconnecting, err.ToString());
    BeginVideoLoss(err.message());
    if (attempt == 0 || attempt % 10 == 0) {
      log::Warn("camera source unavailable; retrying",
                {{"camera", camera_.id}, {"source", source_->Describe()},
                 {"error", err.ToString()}, {"retry_ms", std::to_string(backoff)}});
    }
    if (!WaitMs(backoff)) break;
    backoff = std::min(backoff * 2, camera_.reconnect_max_ms);
  }
  return Fail(ErrorCode::kUnavailable, "stopped");
}

Result<void> CameraPipeline::MakeAnalyzer(Slot& slot) {
  CameraContext ctx;
  ctx.camera_id = camera_.id;
  ctx.zones = camera_.zones;
  ctx.detector = detector_;
  ctx.state_dir = StateDirFor(options_.state_dir, camera_.id, slot.cfg.name);
  const double sub_fps = std::min(camera_.analysis_fps, source_fps_ > 0 ? source_fps_ : 1e9);
  // Provisional context (the sub-sampled stream), then the one matching the analyzer's Needs().
  FrameNeeds provisional;
  provisional.max_width = camera_.max_width;
  int width = EffectiveWidth(provisional, camera_);
  ctx.frame_size = ScaledSize(native_, width);
  ctx.fps = sub_fps;
  for (int round = 0; round < 2; ++round) {
    LINLI_ASSIGN_OR_RETURN(auto made, registry_.Create(slot.cfg.name, slot.cfg.params, slot.cfg.key, ctx));
    FrameNeeds needs = made->Needs();
    const int w = EffectiveWidth(needs, camera_);
    const cv::Size size = ScaledSize(native_, w);
    const double fps = needs.full_rate ? source_fps_ : sub_fps;
    if (round == 1 || (size == ctx.frame_size && std::abs(fps - ctx.fps) < 1e-6)) {
      slot.analyzer = std::move(made);
      slot.needs = needs;
      slot.width = w;
      slot.create_failed = false;
      return {};
    }
    ctx.frame_size = size;
    ctx.fps = fps;
  }
  return {};
}

void CameraPipeline::CreateAnalyzer(Slot& slot) {
  auto made = MakeAnalyzer(slot);
  if (!made) {
    slot.create_failed = true;
    m_analyzer_errors_.Inc();
    log::Error("analyzer not created", {{"camera", camera_.id}, {"algorithm", slot.cfg.name},
                                        {"error", made.error().ToString()}});
    SetState(stats_.state, made.error().ToString());
  }
}

void CameraPipeline::CreateAnalyzers() {
  need_analyzers_ = false;
  if (!detector_ && !detector_failed_ && detectors_) {
    auto d = detectors_(detector_cfg_, "detector");
    if (d) {
      detector_ = *d;
    } else {
      detector_failed_ = true;
      m_analyzer_errors_.Inc();
      log::Error("detector not created", {{"camera", camera_.id}, {"error", d.error().ToString()}});
    }
  }
  for (auto& slot : slots_) {
    slot.analyzer.reset();
    if (slot.scheduled) CreateAnalyzer(slot);
  }
}

void CameraPipeline::FinishAnalyzers(int64_t pts, bool destroy) {
  for (auto& slot : slots_) {
    if (!slot.analyzer) continue;
    try {
      slot.analyzer->Finish(pts, *sink_);
    } catch (const std::exception& e) {
      m_analyzer_errors_.Inc();
      log::Error("analyzer Finish threw", {{"camera", camera_.id}, {"algorithm", slot.cfg.name},
                                           {"error", e.what()}});
    }
    if (destroy) slot.analyzer.reset();
  }
  if (destroy) need_analyzers_ = true;
}

void CameraPipeline::UpdateSchedules(int64_t wall_ms) {
  if (!options_.schedules) return;
  // (INT64_MIN: never checked; tested first, the subtraction would overflow)
  if (last_schedule_check_ms_ != INT64_MIN && wall_ms - last_schedule_check_ms_ < 1000) return;
  last_schedule_check_ms_ = wall_ms;
  for (auto& slot : slots_) {
    const bool active = slot.cfg.schedule.Active(wall_ms);
    if (active == slot.scheduled) continue;
    slot.scheduled = active;
    log::Info(active ? "algorithm schedule starts" : "algorithm schedule ends",
              {{"camera", camera_.id}, {"algorithm", slot.cfg.name}});
    if (!active && slot.analyzer) {
      slot.analyzer->Finish(last_pts_, *sink_);
      slot.analyzer.reset();
    } else if (active && !need_analyzers_) {
      CreateAnalyzer(slot);
    }
  }
}

const Frame& CameraPipeline::Scaled(const Frame& frame, int width) {
  const cv::Size size = ScaledSize(frame.image.size(), width);
  if (size == frame.image.size()) return frame;
  for (const auto& [w, f] : scaled_) {
    if (w == size.width) return f;
  }
  Frame f = frame;
  cv::resize(frame.image, f.image, size, 0, 0, cv::INTER_AREA);
  scaled_.emplace_back(size.width, std::move(f));
  return scaled_.back().second;
}

void CameraPipeline::Deliver(Slot& slot, const Frame& frame) {
  try {
    slot.analyzer->Process(Scaled(frame, slot.width), *sink_);
  } catch (const std::exception& e) {
    // The contract says Process() does not throw; a buggy analyzer must not kill the camera.
    m_analyzer_errors_.Inc();
    if (slot.errors++ == 0) {
      log::Error("analyzer Process threw", {{"camera", camera_.id}, {"algorithm", slot.cfg.name},
                                            {"error", e.what()}});
    }
  }
}

void CameraPipeline::ProcessFrame(const Frame& frame) {
  scaled_.clear();
  if (frame.image.empty()) return;  // nobody wanted its pixels (WantsImage)
  const int64_t pts = frame.pts_ms;
  const bool sub = pts >= next_sub_pts_;
  if (sub) {
    const int64_t period = static_cast<int64_t>(std::llround(1000.0 / camera_.analysis_fps));
    next_sub_pts_ += period;
    if (next_sub_pts_ <= pts) next_sub_pts_ = pts + period;  // first frame, or after a gap
  }
  const bool gating = options_.motion_gating && camera_.motion.enabled;
  bool need_motion = false;
  for (const auto& slot : slots_) {
    if (slot.analyzer && slot.needs.motion_gated && (slot.needs.full_rate || sub)) need_motion = true;
  }
  bool motion = true;
  if (gating && need_motion) motion = motion_.Update(frame.image, pts);
  const int64_t keepalive = static_cast<int64_t>(std::llround(1000.0 / camera_.motion.keepalive_fps));

  bool full_delivered = false, sub_delivered = false, sub_gated = false;
  for (auto& slot : slots_) {
    if (!slot.analyzer) continue;
    if (!slot.needs.full_rate && !sub) continue;
    if (gating && slot.needs.motion_gated && !motion) {
      if (pts < slot.next_keepalive) {
        if (!slot.needs.full_rate) sub_gated = true;
        continue;
      }
    }
    if (gating && slot.needs.motion_gated && !motion) slot.next_keepalive = pts + keepalive;
    Deliver(slot, frame);
    (slot.needs.full_rate ? full_delivered : sub_delivered) = true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (sub_delivered) {
    ++stats_.frames_analysed;
    ++window_analysed_;
    m_analysed_.Inc();
  } else if (sub_gated) {
    ++stats_.frames_gated;
  }
  if (full_delivered) ++stats_.frames_full_rate;
}

void CameraPipeline::UpdateRates(bool force) {
  const auto now = clock_.Monotonic();
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t ms = MsBetween(window_start_, now);
  if (ms < 1000 && !force) return;
  if (ms > 0) {
    stats_.decoded_fps = window_decoded_ * 1000.0 / static_cast<double>(ms);
    stats_.analysed_fps = window_analysed_ * 1000.0 / static_cast<double>(ms);
  }
  window_decoded_ = window_analysed_ = 0;
  window_start_ = now;
}

Result<void> CameraPipeline::Run() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_tasks_ = true;
  }
  auto r = RunLoop();
  FailTasks("camera " + camera_.id + " stopped");
  return r;
}

Result<void> CameraPipeline::RunLoop() {
  SetState(CameraState::kStarting);
  window_start_ = clock_.Monotonic();
  auto finish = [&](CameraState state) {
    FinishAnalyzers(last_pts_, true);
    if (!loss_id_.empty()) EndVideoLoss(last_pts_, state == CameraState::kStopped ? "stopped" : "ended");
    if (observer_) observer_->OnStreamEnd();
    UpdateRates(true);
    SetState(state);
  };
  auto opened = OpenWithBackoff();
  if (!opened) {
    finish(stop_ ? CameraState::kStopped : CameraState::kFailed);
    if (stop_) return {};
    return opened;
  }
  SetState(CameraState::kRunning);
  while (!stop_) {
    auto r = source_->Read();
    if (!r) {
      m_source_errors_.Inc();
      const Error err = r.error();
      if (stop_) break;
      if (err.code() != ErrorCode::kUnavailable) {
        finish(CameraState::kFailed);
        SetState(CameraState::kFailed, err.ToString());
        return std::unexpected(err);
      }
      // Video loss: end the analyzers' open events (no evidence while blind; the background
      // models are rebuilt after the reconnect, possibly at another frame size).
      FinishAnalyzers(last_pts_, true);
      SetState(CameraState::kReconnecting, err.ToString());
      BeginVideoLoss(err.message());
      if (!WaitMs(camera_.reconnect_initial_ms)) break;
      auto again = OpenWithBackoff();
      if (!again) {
        if (stop_) break;
        finish(CameraState::kFailed);
        return again;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.reconnects;
      }
      m_reconnects_.Inc();
      continue;
    }
    if (!r->has_value()) {  // end of a finite file
      finish(CameraState::kEnded);
      return {};
    }
    Frame& frame = **r;
    if (!loss_id_.empty()) {
      SetState(CameraState::kRunning);
      EndVideoLoss(frame.pts_ms, "frames flowing again");
    }
    if (!frame.image.empty() && frame.image.size() != native_) {
      // Resolution changed mid-stream: analyzers were made for the old size.
      FinishAnalyzers(last_pts_, true);
      native_ = frame.image.size();
      std::lock_guard<std::mutex> lock(mu_);
      stats_.width = native_.width;
      stats_.height = native_.height;
    }
    last_pts_ = frame.pts_ms;
    if (frame.wall_ms == 0 && live_) frame.wall_ms = clock_.NowMs();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.frames_decoded;
      ++window_decoded_;
    }
    m_decoded_.Inc();

    // Real time: pace files, measure lag, drop frames rather than fall behind.
    if (live_) {
      const auto now = clock_.Monotonic();
      if (!anchored_) {
        anchored_ = true;
        anchor_mono_ = now;
        anchor_pts_ = frame.pts_ms;
      }
      const auto due = anchor_mono_ + std::chrono::milliseconds(frame.pts_ms - anchor_pts_);
      int64_t lag = MsBetween(due, now);
      if (lag < 0) {
        if (paced_) {
          if (!WaitMs(-lag)) break;
          lag = 0;
        } else {
          anchor_mono_ += std::chrono::milliseconds(lag);  // frames came early: re-anchor
          lag = 0;
        }
      }
      m_lag_.Set(static_cast<double>(lag) / 1000.0);
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.lag_ms = static_cast<double>(lag);
      }
      dropping_ = dropping_ ? lag > camera_.max_lag_ms / 2 : lag > camera_.max_lag_ms;
      if (dropping_) {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.frames_dropped;
        m_dropped_.Inc();
        continue;
      }
    }
    if (observer_) observer_->OnFrame(frame);
    if (need_analyzers_) CreateAnalyzers();
    if (options_.schedules) UpdateSchedules(frame.wall_ms != 0 ? frame.wall_ms : clock_.NowMs());
    ProcessFrame(frame);
    if (has_tasks_.load() && !frame.image.empty()) RunTasks(frame);
    UpdateRates(false);
  }
  finish(CameraState::kStopped);
  return {};
}

// ---- tasks on the camera's thread ----

class CameraPipeline::ThreadContext final : public CameraThreadContext {
 public:
  ThreadContext(CameraPipeline& owner, const Frame& frame) : owner_(owner), frame_(frame) {}
  const CameraConfig& camera() const override { return owner_.camera_; }
  Analyzer* analyzer(const std::string& name) override {
    Slot* s = Find(name);
    return s != nullptr ? s->analyzer.get() : nullptr;
  }
  const cv::Mat& FrameFor(const std::string& name) override {
    Slot* s = Find(name);
    return owner_.Scaled(frame_, s != nullptr ? s->width : owner_.camera_.max_width).image;
  }
  int64_t frame_pts_ms() const override { return frame_.pts_ms; }
  Result<void> Recreate(const std::string& name) override {
    Slot* s = Find(name);
    if (s == nullptr) return Fail(ErrorCode::kNotFound, "camera " + owner_.camera_.id + " runs no " + name);
    if (!s->scheduled) return {};
    Slot trial;
    trial.cfg = s->cfg;
    LINLI_RETURN_IF_ERROR(owner_.MakeAnalyzer(trial));
    if (s->analyzer) s->analyzer->Finish(owner_.last_pts_, *owner_.sink_);
    s->analyzer = std::move(trial.analyzer);
    s->needs = trial.needs;
    s->width = trial.width;
    s->create_failed = false;
    return {};
  }

 private:
  Slot* Find(const std::string& name) {
    for (auto& s : owner_.slots_)
      if (s.cfg.name == name) return &s;
    return nullptr;
  }
  CameraPipeline& owner_;
  const Frame& frame_;
};

Result<std::shared_ptr<PostedCameraTask>> CameraPipeline::PostTask(CameraTask task) {
  auto t = std::make_shared<PostedCameraTask>();
  t->fn = std::move(task);
  std::lock_guard<std::mutex> lock(mu_);
  if (!accepting_tasks_ || stats_.state == CameraState::kEnded ||
      stats_.state == CameraState::kFailed || stats_.state == CameraState::kStopped) {
    return Fail(ErrorCode::kFailedPrecondition,
                "camera " + camera_.id + " is not running (" +
                    std::string(CameraStateName(stats_.state)) + ")");
  }
  if (stats_.state == CameraState::kReconnecting) {
    return Fail(ErrorCode::kUnavailable, "camera " + camera_.id + " has no video now (" +
                                             stats_.last_error + ")");
  }
  tasks_.push_back(t);
  has_tasks_ = true;
  return t;
}

void CameraPipeline::RunTasks(const Frame& frame) {
  std::deque<std::shared_ptr<PostedCameraTask>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(tasks_);
    has_tasks_ = false;
  }
  ThreadContext ctx(*this, frame);
  for (auto& t : tasks) {
    {
      std::lock_guard<std::mutex> lock(t->mu);
      if (t->state == PostedCameraTask::State::kCancelled) continue;
      t->state = PostedCameraTask::State::kRunning;
    }
    Result<Json> r = Json();
    try {
      r = t->fn(ctx);
    } catch (const std::exception& e) {
      m_analyzer_errors_.Inc();
      r = Fail(ErrorCode::kInternal, std::string("camera task failed: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(t->mu);
      t->result = std::move(r);
      t->state = PostedCameraTask::State::kDone;
    }
    t->cv.notify_all();
  }
}

void CameraPipeline::FailTasks(const std::string& why) {
  std::deque<std::shared_ptr<PostedCameraTask>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_tasks_ = false;
    tasks.swap(tasks_);
    has_tasks_ = false;
  }
  for (auto& t : tasks) {
    {
      std::lock_guard<std::mutex> lock(t->mu);
      if (t->state != PostedCameraTask::State::kQueued) continue;
      t->result = Fail(ErrorCode::kUnavailable, why);
      t->state = PostedCameraTask::State::kDone;
    }
    t->cv.notify_all();
  }
}

Result<Json> WaitCameraTask(const std::shared_ptr<PostedCameraTask>& task,
                            const std::string& camera_id, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(task->mu);
  auto done = [&] { return task->state == PostedCameraTask::State::kDone; };
  if (!task->cv.wait_for(lock, wait, done)) {
    if (task->state == PostedCameraTask::State::kQueued) {
      task->state = PostedCameraTask::State::kCancelled;
      return Fail(ErrorCode::kUnavailable, "no frame from camera " + camera_id + " within " +
                                               std::to_string(wait.count()) + " ms");
    }
    task->cv.wait(lock, done);  // running: it finishes soon
  }
  return std::move(task->result);
}

// ---- Pipeline ----

Pipeline::Pipeline(const AnalyzerRegistry& registry, DetectorFactory detectors, MediaEventSink& out,
                   Clock& clock, PipelineOptions options, SourceFactory sources)
    : registry_(registry),
      detectors_(std::move(detectors)),
      out_(out),
      clock_(clock),
      options_(std::move(options)),
      sources_(std::move(sources)) {
  if (!sources_) sources_ = [this](const CameraConfig& c) { return MakeSource(c, clock_); };
}

Pipeline::~Pipeline() { Stop(); }

std::unique_ptr<Pipeline::Camera> Pipeline::StartCamera(const CameraConfig& cam) {
  auto c = std::make_unique<Camera>();
  const std::string media_dir = (std::filesystem::path(options_.state_dir) / "media").string();
  c->renderer = std::make_unique<EventMediaRenderer>(cam, media_dir, out_);
  c->pipeline = std::make_unique<CameraPipeline>(cam, sources_(cam), registry_, detectors_,
                                                 config_.detector, *c->renderer, options_, clock_,
                                                 c->renderer.get());
  c->pipeline->Start();
  return c;
}

Result<void> Pipeline::Start(const BoxConfig& config) {
  LINLI_RETURN_IF_ERROR(ValidateAnalyzers(config, registry_, detectors_, options_.state_dir));
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Fail(ErrorCode::kFailedPrecondition, "pipeline already started");
  config_ = config;
  started_ = true;
  for (const auto& cam : config_.cameras) {
    if (cam.enabled) cameras_[cam.id] = StartCamera(cam);
  }
  log::Info("edge pipeline started", {{"cameras", std::to_string(cameras_.size())}});
  return {};
}

Result<void> Pipeline::ApplyConfig(const std::string& yaml_text) {
  LINLI_ASSIGN_OR_RETURN(BoxConfig cfg, ParseBoxConfig(yaml_text));
  return Apply(cfg);
}

Result<void> Pipeline::Apply(const BoxConfig& cfg) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cfg.box.device_id != config_.box.device_id) {
      return Fail(ErrorCode::kFailedPrecondition, "box.device_id cannot change without a restart",
                  "box.device_id");
    }
    if (cfg.box.compound_id != config_.box.compound_id) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "box.compound_id cannot change without a restart", "box.compound_id");
    }
    if (cfg.box.state_dir != config_.box.state_dir) {
      return Fail(ErrorCode::kFailedPrecondition, "box.state_dir cannot change without a restart",
                  "box.state_dir");
    }
    if (cfg.uplink_fingerprint != config_.uplink_fingerprint) {
      return Fail(ErrorCode::kFailedPrecondition, "the uplink section cannot change without a restart",
                  "uplink");
    }
  }
  LINLI_RETURN_IF_ERROR(ValidateAnalyzers(cfg, registry_, detectors_, options_.state_dir));
  std::lock_guard<std::mutex> lock(mu_);
  const bool detector_changed = cfg.detector_fingerprint != config_.detector_fingerprint;
  std::map<std::string, const CameraConfig*> wanted;
  for (const auto& c : cfg.cameras) {
    if (c.enabled) wanted[c.id] = &c;
  }
  int stopped = 0, started = 0, kept = 0;
  for (auto it = cameras_.begin(); it != cameras_.end();) {
    auto w = wanted.find(it->first);
    const bool same = w != wanted.end() && !detector_changed &&
                      w->second->fingerprint == it->second->pipeline->camera().fingerprint;
    if (same) {
      ++kept;
      ++it;
      continue;
    }
    it->second->pipeline->Stop();  // Finish()es its analyzers
    it->second->renderer.reset();  // delivers held-back steps
    it = cameras_.erase(it);
    ++stopped;
  }
  config_ = cfg;
  for (const auto& c : config_.cameras) {
    if (!c.enabled || cameras_.count(c.id)) continue;
    cameras_[c.id] = StartCamera(c);
    ++started;
  }
  log::Info("edge config applied", {{"kept", std::to_string(kept)},
                                    {"stopped", std::to_string(stopped)},
                                    {"started", std::to_string(started)}});
  return {};
}

void Pipeline::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, cam] : cameras_) cam->pipeline->Stop();
  cameras_.clear();  // renderers flush and deliver as they go
}

void Pipeline::WaitAll() {
  std::vector<CameraPipeline*> pipes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, cam] : cameras_) pipes.push_back(cam->pipeline.get());
  }
  for (auto* p : pipes) p->Wait();
}

Result<Json> Pipeline::RunOnCamera(const std::string& camera_id, CameraTask task,
                                   std::chrono::milliseconds wait) {
  std::shared_ptr<PostedCameraTask> posted;
  {
    // Posted under mu_: Apply()/Stop() cannot destroy the camera meanwhile; once posted, the
    // task is answered even if the camera goes away.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cameras_.find(camera_id);
    if (it == cameras_.end()) {
      return Fail(ErrorCode::kFailedPrecondition, "camera " + camera_id + " is not running");
    }
    LINLI_ASSIGN_OR_RETURN(posted, it->second->pipeline->PostTask(std::move(task)));
  }
  return WaitCameraTask(posted, camera_id, wait);
}

std::optional<CameraConfig> Pipeline::CameraConfigOf(const std::string& camera_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : config_.cameras)
    if (c.id == camera_id) return c;
  return std::nullopt;
}

std::vector<std::string> Pipeline::CameraIds() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& c : config_.cameras) out.push_back(c.id);
  return out;
}

std::string Pipeline::AlgorithmStateDir(const std::string& camera_id,
                                        const std::string& algorithm) const {
  return StateDirFor(options_.state_dir, camera_id, algorithm);
}

std::vector<CameraStats> Pipeline::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CameraStats> out;
  for (const auto& [id, cam] : cameras_) out.push_back(cam->pipeline->Stats());
  return out;
}

}  // namespace linli::edge
