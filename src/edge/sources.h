// The FrameSource implementations: video files and RTSP streams through OpenCV's videoio with
// its FFmpeg backend, and an in-memory source for tests.
//
// Ownership: each source owns its cv::VideoCapture. Thread-safety: as FrameSource (one thread;
// Interrupt() from any).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/videoio.hpp>

#include "common/clock.h"
#include "edge/config.h"
#include "edge/frame_source.h"

namespace linli::edge {

// A source that can leave out the pixels of frames nobody looks at. Every frame is still
// decoded (the codec needs it as a reference), but the conversion to a BGR image — a fifth of
// the decoding cost at 640x360 H.264 — is done only for frames `wanted(pts_ms)` accepts; the
// others are returned with an empty image (pts, index and wall time set). Without a
// predicate every frame has its image. Set before the first Read(), from the reading thread.
class SelectiveSource {
 public:
  virtual ~SelectiveSource() = default;
  virtual void SetWanted(std::function<bool(int64_t pts_ms)> wanted) = 0;
};

// A video file decoded by FFmpeg. pts come from the container (kept strictly increasing);
// with `loop`, the file starts again at its end and pts continue from the last one, so a
// looped file is an endless stream with monotonic time. A file that cannot be opened is
// InvalidArgument (never retried); a corrupt or truncated file ends where decoding stops.
class VideoFileSource final : public FrameSource, public SelectiveSource {
 public:
  VideoFileSource(std::string path, bool loop);
  Result<void> Open() override;
  Result<std::optional<Frame>> Read() override;
  double Fps() const override { return fps_; }
  cv::Size FrameSize() const override { return size_; }
  std::string Describe() const override;
  void SetWanted(std::function<bool(int64_t pts_ms)> wanted) override {
    wanted_ = std::move(wanted);
  }

 private:
  std::string path_;
  bool loop_;
  std::function<bool(int64_t)> wanted_;
  cv::VideoCapture cap_;
  double fps_ = 0;
  cv::Size size_;
  int64_t index_ = 0;          // frames read over all passes
  int64_t pass_frames_ = 0;    // frames read in this pass
  int64_t pts_offset_ = 0;     // added to container pts (loops)
  int64_t last_pts_ = -1;
};

// An RTSP camera. Open and each read are bounded by the configured timeouts (FFmpeg's
// interrupt callback through CAP_PROP_OPEN_TIMEOUT_MSEC / CAP_PROP_READ_TIMEOUT_MSEC), so a
// camera that does not answer or stalls gives Unavailable instead of hanging. Transport is
// TCP (OPENCV_FFMPEG_CAPTURE_OPTIONS, unless the environment already sets it). pts follow the
// stream's own clock, anchored at the arrival (monotonic time since the source was created) of
// the first frame after each open, so they keep increasing across reconnects and a frame read
// late has a pts behind the clock (that is how the pipeline sees lag). Interrupt() takes effect
// at the next Read(); a Read() blocked in FFmpeg returns within read_timeout_ms.
class RtspSource final : public FrameSource, public SelectiveSource {
 public:
  RtspSource(std::string url, int64_t open_timeout_ms, int64_t read_timeout_ms, Clock& clock);
  Result<void> Open() override;
  Result<std::optional<Frame>> Read() override;
  double Fps() const override { return fps_; }
  cv::Size FrameSize() const override { return size_; }
  void Interrupt() override { interrupted_ = true; }
  std::string Describe() const override;
  void SetWanted(std::function<bool(int64_t pts_ms)> wanted) override {
    wanted_ = std::move(wanted);
  }

 private:
  std::string url_;
  std::function<bool(int64_t)> wanted_;
  int64_t open_timeout_ms_, read_timeout_ms_;
  Clock& clock_;
  std::chrono::steady_clock::time_point created_;
  cv::VideoCapture cap_;
  double fps_ = 0;
  cv::Size size_;
  int64_t index_ = 0;
  int64_t last_pts_ = -1;
  bool anchored_ = false;
  int64_t stream_offset_ = 0;
  int64_t last_stream_ms_ = -1;
  std::atomic<bool> interrupted_{false};
};

// Frames from memory, for tests: a script of frames and failures. A kFail step makes Read()
// return Unavailable once; `open_failures` makes the first N Open() calls fail.
class MemorySource final : public FrameSource {
 public:
  struct Step {
    Frame frame;
    bool fail = false;  // Read() returns Unavailable instead of a frame
  };
  MemorySource(std::vector<Step> steps, double fps, int open_failures = 0);
  // Convenience: `count` frames made by `make(i)`, at `fps`, pts = i * 1000 / fps.
  static std::unique_ptr<MemorySource> Generate(int count, double fps,
                                                const std::function<cv::Mat(int)>& make);
  Result<void> Open() override;
  Result<std::optional<Frame>> Read() override;
  double Fps() const override { return fps_; }
  cv::Size FrameSize() const override { return size_; }
  std::string Describe() const override { return "memory"; }
  int opens() const { return opens_; }

 private:
  std::vector<Step> steps_;
  double fps_;
  int open_failures_;
  int opens_ = 0;
  size_t next_ = 0;
  cv::Size size_;
};

// The source for a camera config: RtspSource for rtsp(s)://, else VideoFileSource.
std::unique_ptr<FrameSource> MakeSource(const CameraConfig& camera, Clock& clock);

// "rtsp://user:pass@host/path" → "rtsp://host/path" (for logs and stats).
std::string RedactUrl(const std::string& url);

}  // namespace linli::edge
