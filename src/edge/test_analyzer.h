// For tests only: a small analyzer that records what the pipeline gives it and emits a
// "test.bright" event while the frame's mean brightness is above a threshold, plus sinks that
// collect events. Header-only so that unit and integration tests share it.
#pragma once

#include <mutex>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "common/ids.h"
#include "edge/analyzer.h"
#include "edge/media.h"

namespace linli::edge::testing {

struct Seen {
  int64_t pts_ms = 0, index = 0;
  cv::Size size;
};

struct ProbeLog {
  std::mutex mu;
  std::vector<Seen> frames;  // what Process() got
  std::vector<CameraContext> contexts;
  int created = 0, finished = 0;
};

class ProbeAnalyzer final : public Analyzer {
 public:
  ProbeAnalyzer(std::string name, FrameNeeds needs, double threshold, ProbeLog* log)
      : name_(std::move(name)), needs_(needs), threshold_(threshold), log_(log) {}
  std::string_view Name() const override { return name_; }
  FrameNeeds Needs() const override { return needs_; }
  void Process(const Frame& frame, EventSink& sink) override {
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->frames.push_back({frame.pts_ms, frame.index, frame.image.size()});
    }
    const double mean = cv::mean(frame.image)[0];
    if (mean > threshold_ && open_.id.empty()) {
      open_.id = NewUuid();
      open_.type = "test.bright";
      open_.phase = EventPhase::kBegin;
      open_.start_ms = open_.end_ms = frame.pts_ms;
      open_.score = 0.5f;
      open_.boxes = {Box{0.25f, 0.25f, 0.5f, 0.5f, "bright", 0.5f}};
      open_.snapshot = frame.image;
      open_.snapshot_pts_ms = frame.pts_ms;
      sink.Emit(open_);
    } else if (mean > threshold_) {
      open_.phase = EventPhase::kUpdate;
      open_.end_ms = frame.pts_ms;
      open_.score = std::min(1.0f, open_.score + 0.1f);
      open_.snapshot = frame.image;
      open_.snapshot_pts_ms = frame.pts_ms;
      sink.Emit(open_);
    } else if (!open_.id.empty()) {
      End(frame.pts_ms, sink);
    }
  }
  void Finish(int64_t pts_ms, EventSink& sink) override {
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      ++log_->finished;
    }
    if (!open_.id.empty()) End(pts_ms, sink);
  }

 private:
  void End(int64_t pts, EventSink& sink) {
    open_.phase = EventPhase::kEnd;
    open_.end_ms = pts;
    open_.snapshot = cv::Mat();
    open_.data = {{"frames", "many"}};
    sink.Emit(open_);
    open_ = EdgeEvent();
  }
  std::string name_;
  FrameNeeds needs_;
  double threshold_;
  ProbeLog* log_;
  EdgeEvent open_;
};

// Registers "probe" (params: full_rate, max_width, motion_gated, threshold) logging into `log`.
inline void RegisterProbe(AnalyzerRegistry& registry, ProbeLog* log, const std::string& name = "probe") {
  registry.Register(name, [log, name](const YAML::Node& p, const std::string& key,
                                      const CameraContext& ctx) -> Result<std::unique_ptr<Analyzer>> {
    FrameNeeds needs;
    needs.full_rate = p["full_rate"].as<bool>(false);
    needs.max_width = p["max_width"].as<int>(640);
    needs.motion_gated = p["motion_gated"].as<bool>(true);
    double threshold = p["threshold"].as<double>(128);
    if (threshold < 0) return InvalidArgument(key + ".threshold", "must be >= 0");
    {
      std::lock_guard<std::mutex> lock(log->mu);
      ++log->created;
      log->contexts.push_back(ctx);
    }
    return std::unique_ptr<Analyzer>(new ProbeAnalyzer(name, needs, threshold, log));
  });
}

// Collects events (EventSink) and events with media (MediaEventSink). Thread-safe.
class Collector final : public EventSink, public MediaEventSink {
 public:
  void Emit(const EdgeEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
    media_.emplace_back();
  }
  void Deliver(const EdgeEvent& e, const EventMedia& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
    media_.push_back(m);
  }
  std::vector<EdgeEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<EventMedia> media() const {
    std::lock_guard<std::mutex> lock(mu_);
    return media_;
  }
  std::vector<EdgeEvent> OfType(const std::string& type) const {
    std::vector<EdgeEvent> out;
    for (auto& e : events()) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<EdgeEvent> events_;
  std::vector<EventMedia> media_;
};

}  // namespace linli::edge::testing
