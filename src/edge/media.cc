#include "edge/media.h"

#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/log.h"
#include "common/metrics.h"

namespace linli::edge {
namespace {

cv::Point ToPx(float x, float y, const cv::Size& s) {
  return {static_cast<int>(std::lround(x * s.width)), static_cast<int>(std::lround(y * s.height))};
}

cv::Mat ScaleToWidth(const cv::Mat& img, int max_width) {
  if (max_width <= 0 || img.cols <= max_width) return img;
  cv::Mat out;
  int h = std::max(2, static_cast<int>(std::lround(img.rows * static_cast<double>(max_width) /
                                                   img.cols)));
  cv::resize(img, out, cv::Size(max_width, h), 0, 0, cv::INTER_AREA);
  return out;
}

}  // namespace

cv::Mat AnnotateSnapshot(const cv::Mat& clean, const EdgeEvent& event,
                         const std::vector<Zone>& zones) {
  cv::Mat out = clean.clone();
  if (out.empty()) return out;
  const cv::Size s = out.size();
  const int thick = std::max(2, s.width / 320);
  for (const auto& z : zones) {
    if (z.name != event.zone || z.points.empty()) continue;
    std::vector<cv::Point> pts;
    for (const auto& p : z.points) pts.push_back(ToPx(p.x, p.y, s));
    cv::polylines(out, pts, z.points.size() >= 3, cv::Scalar(0, 215, 255), thick / 2 + 1,
                  cv::LINE_AA);
  }
  if (event.trajectory.size() >= 2) {
    std::vector<cv::Point> pts;
    for (const auto& p : event.trajectory) pts.push_back(ToPx(p.x, p.y, s));
    cv::polylines(out, pts, false, cv::Scalar(0, 255, 0), thick, cv::LINE_AA);
  }
  if (event.origin) {
    cv::circle(out, ToPx(event.origin->x, event.origin->y, s), thick * 4, cv::Scalar(255, 0, 255),
               thick, cv::LINE_AA);
  }
  const double font = std::max(0.4, s.width / 1600.0);
  for (const auto& b : event.boxes) {
    cv::Rect r(ToPx(b.x, b.y, s), ToPx(b.x + b.w, b.y + b.h, s));
    cv::rectangle(out, r, cv::Scalar(0, 0, 255), thick, cv::LINE_AA);
    std::string text = b.label.empty() ? std::string() : b.label;
    if (b.score > 0) text += (text.empty() ? "" : " ") + std::to_string(b.score).substr(0, 4);
    if (!text.empty()) {
      cv::putText(out, text, cv::Point(r.x, std::max(12, r.y - 4)), cv::FONT_HERSHEY_SIMPLEX,
                  font, cv::Scalar(0, 0, 255), std::max(1, thick / 2), cv::LINE_AA);
    }
  }
  cv::putText(out, event.type, cv::Point(8, static_cast<int>(24 * font / 0.5)),
              cv::FONT_HERSHEY_SIMPLEX, font * 1.2, cv::Scalar(255, 255, 255),
              std::max(1, thick / 2), cv::LINE_AA);
  return out;
}

std::vector<uint8_t> EncodeJpeg(const cv::Mat& img, int quality, int max_width) {
  std::vector<uint8_t> buf;
  if (img.empty()) return buf;
  try {
    cv::imencode(".jpg", ScaleToWidth(img, max_width), buf, {cv::IMWRITE_JPEG_QUALITY, quality});
  } catch (const cv::Exception& e) {
    log::Warn("jpeg encoding failed", {{"error", e.what()}});
    buf.clear();
  }
  return buf;
}

Result<void> WriteClip(const std::vector<cv::Mat>& frames, const ClipConfig& clip,
                       const std::string& path) {
  if (frames.empty()) return Fail(ErrorCode::kFailedPrecondition, "no frames for the clip");
  try {
    const std::string& c = clip.codec;
    cv::VideoWriter w(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc(c[0], c[1], c[2], c[3]),
                      clip.fps, frames.front().size());
    if (!w.isOpened()) {
      return Fail(ErrorCode::kFailedPrecondition, "cannot open a " + c + " writer for " + path);
    }
    for (const auto& f : frames) {
      if (f.size() == frames.front().size()) w.write(f);
    }
    w.release();
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kFailedPrecondition, std::string("clip encoding failed: ") + e.what());
  }
  return {};
}

EventMediaRenderer::EventMediaRenderer(const CameraConfig& camera, std::string media_dir,
                                       MediaEventSink& next)
    : camera_(camera), media_dir_(std::move(media_dir)), next_(next) {
  worker_ = std::thread([this] { DeliveryLoop(); });
}

EventMediaRenderer::~EventMediaRenderer() {
  Flush();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void EventMediaRenderer::OnFrame(const Frame& frame) {
  if (!frame.image.empty()) current_ = frame;
  last_pts_ = frame.pts_ms;
  if (camera_.clip.enabled && frame.pts_ms >= next_ring_pts_ && !frame.image.empty()) {
    ring_.emplace_back(frame.pts_ms, ScaleToWidth(frame.image, camera_.clip.max_width).clone());
    const int64_t period = static_cast<int64_t>(std::llround(1000.0 / camera_.clip.fps));
    next_ring_pts_ += period;  // keep the cadence; after a gap, start again from this frame
    if (next_ring_pts_ <= frame.pts_ms) next_ring_pts_ = frame.pts_ms + period;
    const int64_t keep_ms =
        static_cast<int64_t>((camera_.clip.pre_s + camera_.clip.max_s + camera_.clip.post_s) * 1000);
    while (!ring_.empty() && ring_.front().first < frame.pts_ms - keep_ms) ring_.pop_front();
  }
  if (!pending_.empty()) ReleasePending(false);
}

void EventMediaRenderer::Emit(const EdgeEvent& in) {
  EdgeEvent event = in;
  if (event.camera_id.empty()) event.camera_id = camera_.id;
  // The frame for this step: the native current frame when the analyzer's snapshot is of it
  // (or it gave none), else the analyzer's own snapshot.
  cv::Mat frame;
  if (!event.snapshot.empty() && event.snapshot_pts_ms != current_.pts_ms) {
    frame = event.snapshot;
  } else if (!current_.image.empty()) {
    frame = current_.image;
    event.snapshot_pts_ms = current_.pts_ms;
  } else {
    frame = event.snapshot;
  }

  Tracked& t = tracked_[event.id];
  const bool first = t.best_score < 0;
  const bool improved = !frame.empty() && (first || event.score > t.best_score + 1e-4f);
  if (improved) {
    t.best_score = std::max(0.0f, event.score);
    t.best_clean = frame.clone();  // the current frame buffer is reused by the decoder
    t.best_step = event;
    t.best_step.snapshot = cv::Mat();
  }

  EventMedia media;
  const int q = camera_.snapshot.jpeg_quality;
  const int mw = camera_.snapshot.max_width;
  if (event.phase == EventPhase::kEnd) {
    if (!t.best_clean.empty()) {
      media.clean_jpeg = EncodeJpeg(t.best_clean, q, mw);
      media.annotated_jpeg =
          EncodeJpeg(AnnotateSnapshot(t.best_clean, t.best_step, camera_.zones), q, mw);
      event.snapshot = t.best_clean;
      event.snapshot_pts_ms = t.best_step.snapshot_pts_ms;
    }
    tracked_.erase(event.id);
    if (camera_.clip.enabled) {
      const int64_t post = static_cast<int64_t>(camera_.clip.post_s * 1000);
      pending_.push_back({std::move(event), std::move(media), in.end_ms + post});
      ReleasePending(false);
      return;
    }
    Enqueue({std::move(event), std::move(media), {}});
    return;
  }
  if (improved || event.phase == EventPhase::kBegin) {
    media.clean_jpeg = EncodeJpeg(t.best_clean, q, mw);
    media.annotated_jpeg =
        EncodeJpeg(AnnotateSnapshot(t.best_clean, t.best_step, camera_.zones), q, mw);
  }
  event.snapshot = t.best_clean;
  event.snapshot_pts_ms = t.best_step.snapshot_pts_ms;
  Enqueue({std::move(event), std::move(media), {}});
}

std::vector<cv::Mat> EventMediaRenderer::ClipFrames(int64_t start_ms, int64_t end_ms,
                                                    double* fps) const {
  const auto& c = camera_.clip;
  int64_t from = start_ms - static_cast<int64_t>(c.pre_s * 1000);
  int64_t to = end_ms + static_cast<int64_t>(c.post_s * 1000);
  from = std::max(from, to - static_cast<int64_t>(c.max_s * 1000));
  std::vector<cv::Mat> out;
  int64_t first = -1, last = -1;
  for (const auto& [pts, img] : ring_) {
    if (pts >= from && pts <= to) {
      out.push_back(img);
      if (first < 0) first = pts;
      last = pts;
    }
  }
  *fps = (out.size() >= 2 && last > first)
             ? std::min(camera_.clip.fps, (out.size() - 1) * 1000.0 / static_cast<double>(last - first))
             : camera_.clip.fps;
  return out;
}

void EventMediaRenderer::ReleasePending(bool all) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (all || last_pts_ >= it->release_pts) {
      Job job{std::move(it->event), std::move(it->media), {}};
      job.clip_frames = ClipFrames(job.event.start_ms, job.event.end_ms, &job.clip_fps);
      Enqueue(std::move(job));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void EventMediaRenderer::Flush() { ReleasePending(true); }

void EventMediaRenderer::Enqueue(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void EventMediaRenderer::DeliveryLoop() {
  static auto& clip_failures = metrics::Default().GetCounter(
      "linli_edge_clip_failures_total", "Event clips that could not be written");
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stop_ and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    if (!job.clip_frames.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(media_dir_, ec);
      const bool avi = camera_.clip.codec == "MJPG";
      std::string path = (std::filesystem::path(media_dir_) /
                          (job.event.id + (avi ? ".avi" : ".mp4"))).string();
      ClipConfig clip = camera_.clip;
      clip.fps = job.clip_fps > 0 ? job.clip_fps : clip.fps;  // the rate the ring really holds
      auto written = WriteClip(job.clip_frames, clip, path);
      if (written) {
        job.media.clip_path = path;
        job.media.clip_mime = avi ? "video/x-msvideo" : "video/mp4";
        ++clips_written_;
      } else {
        clip_failures.Inc();
        log::Warn("event clip not written",
                  {{"camera", camera_.id}, {"event", job.event.id},
                   {"error", written.error().ToString()}});
      }
    }
    next_.Deliver(job.event, job.media);
  }
}

}  // namespace linli::edge
