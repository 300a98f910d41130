#include "edge/sources.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "common/log.h"

namespace linli::edge {
namespace {

double SaneFps(double fps) {
  // Containers sometimes announce 0, NaN or 1000 (timebase leaked into the rate).
  if (!std::isfinite(fps) || fps < 1 || fps > 240) return 25;
  return fps;
}

// OpenCV reads this variable when a capture is opened; set it once, before any RTSP open,
// unless the operator set it.
void EnsureRtspOverTcp() {
  static std::once_flag once;
  std::call_once(once, [] { setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp", 0); });
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  auto slash = url.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

// ---- VideoFileSource ----

VideoFileSource::VideoFileSource(std::string path, bool loop)
    : path_(std::move(path)), loop_(loop) {}

std::string VideoFileSource::Describe() const {
  return std::filesystem::path(path_).filename().string();
}

Result<void> VideoFileSource::Open() {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path_, ec)) {
    return InvalidArgument(path_, "no such video file");
  }
  try {
    cap_.release();
    if (!cap_.open(path_, cv::CAP_FFMPEG)) {
      return InvalidArgument(path_, "not a video FFmpeg can decode");
    }
    fps_ = SaneFps(cap_.get(cv::CAP_PROP_FPS));
    size_ = cv::Size(static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_WIDTH)),
                     static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_HEIGHT)));
    if (size_.width <= 0 || size_.height <= 0) {
      return InvalidArgument(path_, "the file has no video frames");
    }
  } catch (const cv::Exception& e) {
    return InvalidArgument(path_, std::string("cannot open: ") + e.what());
  }
  pass_frames_ = 0;
  return {};
}

Result<std::optional<Frame>> VideoFileSource::Read() {
  if (!cap_.isOpened()) return Fail(ErrorCode::kFailedPrecondition, "source not open");
  for (int attempt = 0; attempt < 2; ++attempt) {
    cv::Mat img;
    bool ok = false, want = true;
    int64_t pts = 0;
    try {
      ok = cap_.grab();
      if (ok) {
        double pos = cap_.get(cv::CAP_PROP_POS_MSEC);
        pts = std::isfinite(pos) && pos >= 0
                  ? static_cast<int64_t>(std::llround(pos))
                  : static_cast<int64_t>(std::llround(pass_frames_ * 1000.0 / fps_));
        pts += pts_offset_;
        if (pts <= last_pts_) pts = last_pts_ + 1;  // strictly increasing, whatever the container says
        want = !wanted_ || wanted_(pts);
        if (want) ok = cap_.retrieve(img) && !img.empty() && img.type() == CV_8UC3;
      }
    } catch (const cv::Exception& e) {
      log::Warn("video decode error", {{"file", Describe()}, {"error", e.what()}});
      ok = false;
    }
    if (ok) {
      last_pts_ = pts;
      ++pass_frames_;
      Frame f;
      f.image = std::move(img);
      f.pts_ms = pts;
      f.index = index_++;
      return std::optional<Frame>(std::move(f));
    }
    // End of file, or decoding stopped (truncated/corrupt data): both end this pass.
    if (!loop_) return std::optional<Frame>();
    if (pass_frames_ == 0) {
      return InvalidArgument(path_, "no frame could be decoded; cannot loop an empty video");
    }
    pts_offset_ = last_pts_ + static_cast<int64_t>(std::llround(1000.0 / fps_));
    // Container pts restart near 0; the offset continues after the last one.
    LINLI_RETURN_IF_ERROR(Open());
  }
  return std::optional<Frame>();
}

// ---- RtspSource ----

RtspSource::RtspSource(std::string url, int64_t open_timeout_ms, int64_t read_timeout_ms,
                       Clock& clock)
    : url_(std::move(url)),
      open_timeout_ms_(open_timeout_ms),
      read_timeout_ms_(read_timeout_ms),
      clock_(clock),
      created_(clock.Monotonic()) {}

std::string RtspSource::Describe() const { return RedactUrl(url_); }

Result<void> RtspSource::Open() {
  EnsureRtspOverTcp();
  interrupted_ = false;
  anchored_ = false;
  try {
    cap_.release();
    std::vector<int> params = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, static_cast<int>(open_timeout_ms_),
                               cv::CAP_PROP_READ_TIMEOUT_MSEC, static_cast<int>(read_timeout_ms_)};
    if (!cap_.open(url_, cv::CAP_FFMPEG, params)) {
      return Fail(ErrorCode::kUnavailable, "cannot open RTSP stream " + Describe());
    }
    fps_ = SaneFps(cap_.get(cv::CAP_PROP_FPS));
    size_ = cv::Size(static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_WIDTH)),
                     static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_HEIGHT)));
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kUnavailable, std::string("cannot open RTSP stream: ") + e.what());
  }
  return {};
}

Result<std::optional<Frame>> RtspSource::Read() {
  if (interrupted_) {
    interrupted_ = false;
    return Fail(ErrorCode::kUnavailable, "interrupted");
  }
  if (!cap_.isOpened()) return Fail(ErrorCode::kUnavailable, "stream not open");
  cv::Mat img;
  bool ok = false;
  double pos = -1;
  try {
    ok = cap_.grab();
    if (ok) pos = cap_.get(cv::CAP_PROP_POS_MSEC);
  } catch (const cv::Exception& e) {
    log::Warn("rtsp decode error", {{"url", Describe()}, {"error", e.what()}});
    ok = false;
  }
  if (!ok) {
    cap_.release();
    return Fail(ErrorCode::kUnavailable, "RTSP stream stalled or closed");
  }
  const int64_t arrival =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic() - created_).count();
  // Stream time (the camera's RTP clock through FFmpeg) anchored at the arrival time of the
  // first frame after each open: pts then show how late frames are read (the pipeline's lag),
  // and stay monotonic across reconnects. Without usable stream time, the arrival time.
  int64_t pts = arrival;
  if (std::isfinite(pos) && pos >= 0) {
    const int64_t stream_ms = static_cast<int64_t>(std::llround(pos));
    if (!anchored_ || stream_ms < last_stream_ms_ || stream_ms - last_stream_ms_ > 60000) {
      stream_offset_ = arrival - stream_ms;  // (re)anchor: first frame, or a jump in stream time
      anchored_ = true;
    }
    last_stream_ms_ = stream_ms;
    pts = stream_ms + stream_offset_;
  }
  if (pts <= last_pts_) pts = last_pts_ + 1;
  if (!wanted_ || wanted_(pts)) {
    try {
      ok = cap_.retrieve(img) && !img.empty() && img.type() == CV_8UC3;
    } catch (const cv::Exception& e) {
      log::Warn("rtsp decode error", {{"url", Describe()}, {"error", e.what()}});
      ok = false;
    }
    if (!ok) {
      cap_.release();
      return Fail(ErrorCode::kUnavailable, "RTSP stream stalled or closed");
    }
  }
  last_pts_ = pts;
  Frame f;
  f.image = std::move(img);
  f.pts_ms = pts;
  f.index = index_++;
  f.wall_ms = clock_.NowMs();
  return std::optional<Frame>(std::move(f));
}

// ---- MemorySource ----

MemorySource::MemorySource(std::vector<Step> steps, double fps, int open_failures)
    : steps_(std::move(steps)), fps_(fps), open_failures_(open_failures) {
  for (const auto& s : steps_) {
    if (!s.fail && !s.frame.image.empty()) {
      size_ = s.frame.image.size();
      break;
    }
  }
}

std::unique_ptr<MemorySource> MemorySource::Generate(int count, double fps,
                                                     const std::function<cv::Mat(int)>& make) {
  std::vector<Step> steps;
  steps.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    Step s;
    s.frame.image = make(i);
    s.frame.index = i;
    s.frame.pts_ms = static_cast<int64_t>(std::llround(i * 1000.0 / fps));
    steps.push_back(std::move(s));
  }
  return std::make_unique<MemorySource>(std::move(steps), fps);
}

Result<void> MemorySource::Open() {
  ++opens_;
  if (open_failures_ > 0) {
    --open_failures_;
    return Fail(ErrorCode::kUnavailable, "memory source: scripted open failure");
  }
  return {};
}

Result<std::optional<Frame>> MemorySource::Read() {
  if (next_ >= steps_.size()) return std::optional<Frame>();
  Step& s = steps_[next_++];
  if (s.fail) return Fail(ErrorCode::kUnavailable, "memory source: scripted failure");
  return std::optional<Frame>(s.frame);
}

std::unique_ptr<FrameSource> MakeSource(const CameraConfig& camera, Clock& clock) {
  if (camera.IsRtsp()) {
    return std::make_unique<RtspSource>(camera.url, camera.open_timeout_ms, camera.read_timeout_ms,
                                        clock);
  }
  return std::make_unique<VideoFileSource>(camera.url, camera.loop);
}

}  // namespace linli::edge
