// Event media: the best snapshot of each event (annotated JPEG with the boxes drawn, and the
// clean JPEG) and an optional short clip around it, rendered by EventMediaRenderer, an
// EventSink decorator that sits between a camera's analyzers and the box's delivery
// (MediaEventSink: the uplink's outbox, or the JSONL writer).
//
// Which steps carry media: kBegin always carries both JPEGs; kUpdate carries them only when the
// snapshot improved (higher score); kEnd carries the best snapshot of the whole event and, if
// clips are enabled, the clip file. The kEnd step is held back until the clip's post-roll has
// been seen (clip.post_s of stream time) or the stream ends (Flush()).
//
// Ownership: the renderer owns its frame ring buffer and a delivery thread; the MediaEventSink
// must outlive it. Thread-safety: Emit()/OnFrame()/Flush() from the camera's thread only;
// MediaEventSink::Deliver() is called from the renderer's delivery thread (one per camera), so
// a sink shared by several cameras must be thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "edge/config.h"
#include "edge/event_sink.h"
#include "edge/types.h"

namespace linli::edge {

struct EventMedia {
  std::vector<uint8_t> annotated_jpeg;  // empty when this step carries no new snapshot
  std::vector<uint8_t> clean_jpeg;
  std::string clip_path;  // a file (kEnd, clips enabled); the receiver takes it over
  std::string clip_mime;  // "video/mp4" or "video/x-msvideo"
};

// Where events go with their media. Deliver() must not throw.
class MediaEventSink {
 public:
  virtual ~MediaEventSink() = default;
  virtual void Deliver(const EdgeEvent& event, const EventMedia& media) = 0;
};

// Draws an event's boxes, trajectory, origin and zone (from `zones`) on a copy of `clean`.
cv::Mat AnnotateSnapshot(const cv::Mat& clean, const EdgeEvent& event,
                         const std::vector<Zone>& zones);

// JPEG bytes of `img` (scaled to max_width if > 0); empty on failure.
std::vector<uint8_t> EncodeJpeg(const cv::Mat& img, int quality, int max_width = 0);

// Writes `frames` as a clip (codec/fps from `clip`) to `path` (extension chosen by the caller).
// FailedPrecondition if no writer could be opened.
Result<void> WriteClip(const std::vector<cv::Mat>& frames, const ClipConfig& clip,
                       const std::string& path);

// Sees every decoded frame of a camera before its analyzers do (the renderer keeps the current
// frame for snapshots and the ring buffer for clips). A frame whose pixels neither the
// analyzers nor WantsImage() asked for may come with an empty image (see SelectiveSource).
class FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  // Whether the frame at `pts_ms` must come with its image for this observer.
  virtual bool WantsImage(int64_t pts_ms) const {
    (void)pts_ms;
    return true;
  }
  virtual void OnFrame(const Frame& frame) = 0;
  // The stream ended or the camera stopped: deliver whatever is held back.
  virtual void OnStreamEnd() = 0;
};

class EventMediaRenderer final : public EventSink, public FrameObserver {
 public:
  // Clips are written into `media_dir` as <event id>.mp4 (.avi for MJPG).
  EventMediaRenderer(const CameraConfig& camera, std::string media_dir, MediaEventSink& next);
  ~EventMediaRenderer() override;  // Flush()es and joins the delivery thread

  // Images only for the clip ring (snapshots are taken from frames the analyzers saw).
  bool WantsImage(int64_t pts_ms) const override {
    return camera_.clip.enabled && pts_ms >= next_ring_pts_;
  }
  // Every decoded frame, native size, before the analyzers see it (the image may be empty).
  void OnFrame(const Frame& frame) override;
  void OnStreamEnd() override { Flush(); }
  void Emit(const EdgeEvent& event) override;
  // Delivers held-back end steps now (end of stream, camera stopped).
  void Flush();

  int64_t clips_written() const { return clips_written_; }

 private:
  struct Tracked {
    float best_score = -1;
    cv::Mat best_clean;
    EdgeEvent best_step;  // the step whose frame is best_clean (boxes to draw)
  };
  struct Pending {  // an end step waiting for its post-roll
    EdgeEvent event;
    EventMedia media;
    int64_t release_pts = 0;
  };
  struct Job {
    EdgeEvent event;
    EventMedia media;
    std::vector<cv::Mat> clip_frames;
    double clip_fps = 0;
  };

  void Enqueue(Job job);
  void ReleasePending(bool all);
  std::vector<cv::Mat> ClipFrames(int64_t start_ms, int64_t end_ms, double* fps) const;
  void DeliveryLoop();

  CameraConfig camera_;
  std::string media_dir_;
  MediaEventSink& next_;
  Frame current_;
  std::map<std::string, Tracked> tracked_;
  std::vector<Pending> pending_;
  std::deque<std::pair<int64_t, cv::Mat>> ring_;  // (pts, downscaled frame) for clips
  int64_t next_ring_pts_ = 0;
  int64_t last_pts_ = 0;
  std::atomic<int64_t> clips_written_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace linli::edge
