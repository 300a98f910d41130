#include "edge/algorithms/camera_health/doctored_clips.h"

#include <cmath>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace linli::edge::testing {

const char* DoctoringName(Doctoring d) {
  switch (d) {
    case Doctoring::kClean: return "clean";
    case Doctoring::kCovered: return "covered";
    case Doctoring::kGreyPatch: return "grey_patch";
    case Doctoring::kFrozen: return "frozen";
    case Doctoring::kBlurred: return "blurred";
    case Doctoring::kDarkened: return "darkened";
    case Doctoring::kShifted: return "shifted";
    case Doctoring::kSprayed: return "sprayed";
    case Doctoring::kSaturated: return "saturated";
  }
  return "?";
}

const char* ExpectedEventType(Doctoring d) {
  switch (d) {
    case Doctoring::kClean: return "";
    case Doctoring::kCovered:
    case Doctoring::kGreyPatch:
    case Doctoring::kSprayed: return "camera.occluded";
    case Doctoring::kFrozen: return "camera.frozen";
    case Doctoring::kBlurred: return "camera.blurred";
    case Doctoring::kDarkened:
    case Doctoring::kSaturated: return "camera.brightness";
    case Doctoring::kShifted: return "camera.scene_changed";
  }
  return "";
}

namespace {

// The sensor sees the blurred or painted picture and adds its own noise to it: seeded from the
// frame's content so that a clip is reproducible.
void AddSensorNoise(cv::Mat& img, const cv::Mat& seed_from) {
  cv::RNG rng(static_cast<uint64_t>(cv::sum(seed_from)[0]) + 1);
  cv::Mat noise(img.size(), CV_16SC3), f16;
  rng.fill(noise, cv::RNG::NORMAL, 0, 2.0);
  img.convertTo(f16, CV_16SC3);
  f16 += noise;
  f16.convertTo(img, CV_8UC3);
}

}  // namespace

cv::Mat Doctor(const cv::Mat& frame, Doctoring d, const cv::Mat& frozen) {
  cv::Mat out = frame.clone();
  const int w = frame.cols, h = frame.rows;
  switch (d) {
    case Doctoring::kClean:
      break;
    case Doctoring::kCovered:  // a hand or cloth: dark, over 85% of the frame
      cv::rectangle(out, cv::Rect(0, 0, w * 92 / 100, h * 92 / 100), cv::Scalar(12, 10, 14),
                    cv::FILLED);
      break;
    case Doctoring::kGreyPatch:  // a sheet of card: mid grey, 75% of the frame
      cv::rectangle(out, cv::Rect(w / 8, 0, w * 7 / 8, h * 86 / 100), cv::Scalar(128, 128, 128),
                    cv::FILLED);
      break;
    case Doctoring::kFrozen:
      out = frozen.clone();
      break;
    case Doctoring::kBlurred:
      cv::GaussianBlur(frame, out, cv::Size(0, 0), w / 160.0);
      AddSensorNoise(out, frame);
      break;
    case Doctoring::kDarkened:
      frame.convertTo(out, -1, 0.12, 0);
      break;
    case Doctoring::kSaturated:
      frame.convertTo(out, -1, 3.0, 90);
      break;
    case Doctoring::kShifted: {  // turned away: rotated 12 degrees and shifted by 20%
      cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(w / 2.f, h / 2.f), 12, 1.15);
      m.at<double>(0, 2) += 0.2 * w;
      m.at<double>(1, 2) -= 0.1 * h;
      cv::warpAffine(frame, out, m, frame.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
      break;
    }
    case Doctoring::kSprayed: {  // a translucent coat of paint: blur and a strong tint
      cv::Mat blurred;
      cv::GaussianBlur(frame, blurred, cv::Size(0, 0), w / 50.0);
      cv::Mat paint(frame.size(), frame.type(), cv::Scalar(40, 160, 200));
      cv::addWeighted(blurred, 0.3, paint, 0.7, 0, out);
      AddSensorNoise(out, frame);
      break;
    }
  }
  return out;
}

Result<std::vector<cv::Mat>> ReadClip(const std::string& src, double start_s, double length_s,
                                      double fps, cv::Size size) {
  cv::VideoCapture cap(src, cv::CAP_FFMPEG);
  if (!cap.isOpened()) return InvalidArgument("src", "cannot open " + src);
  double src_fps = cap.get(cv::CAP_PROP_FPS);
  if (!(src_fps > 0)) src_fps = 25;
  std::vector<cv::Mat> out;
  cv::Mat f;
  int64_t next_slot = std::llround(start_s * fps);
  const int64_t end_slot = next_slot + std::llround(length_s * fps);
  for (int64_t i = 0; next_slot < end_slot && cap.read(f); ++i) {
    double t = i / src_fps;
    if (t * fps + 1e-9 < next_slot) continue;
    ++next_slot;
    cv::Mat s;
    cv::resize(f, s, size, 0, 0, cv::INTER_AREA);
    out.push_back(s);
  }
  if (next_slot < end_slot) return InvalidArgument("src", src + " is shorter than asked");
  return out;
}

Result<void> WriteDoctoredClip(const std::vector<cv::Mat>& frames, double fps,
                               const std::string& out, Doctoring d, double from_s, double to_s) {
  if (frames.empty()) return InvalidArgument("frames", "no frames");
  cv::VideoWriter wr(out, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, frames[0].size());
  if (!wr.isOpened()) return InvalidArgument("out", "cannot write " + out);
  cv::Mat frozen;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    double t = static_cast<double>(i) / fps;
    bool doctored = t >= from_s && t < to_s;
    if (!doctored || frozen.empty()) frozen = frames[i];
    wr.write(doctored ? Doctor(frames[i], d, frozen) : frames[i]);
  }
  return {};
}

Result<int> FeedFile(const std::string& path, double fps, Analyzer& analyzer, EventSink& sink,
                     int max_width) {
  cv::VideoCapture cap(path, cv::CAP_FFMPEG);
  if (!cap.isOpened()) return InvalidArgument("path", "cannot open " + path);
  double src_fps = cap.get(cv::CAP_PROP_FPS);
  if (!(src_fps > 0)) src_fps = 25;
  cv::Mat f;
  int64_t index = 0, next_slot = 0, last_pts = 0;
  int fed = 0;
  while (cap.read(f)) {
    int64_t pts = std::llround(index * 1000.0 / src_fps);
    int64_t slot = static_cast<int64_t>(std::floor(pts * fps / 1000.0 + 1e-9));
    if (slot >= next_slot) {
      next_slot = slot + 1;
      Frame fr;
      fr.index = index;
      fr.pts_ms = pts;
      if (max_width > 0 && f.cols > max_width) {
        cv::resize(f, fr.image, cv::Size(max_width, f.rows * max_width / f.cols), 0, 0,
                   cv::INTER_AREA);
      } else {
        fr.image = f.clone();
      }
      analyzer.Process(fr, sink);
      ++fed;
    }
    last_pts = pts;
    ++index;
  }
  analyzer.Finish(last_pts, sink);
  return fed;
}

}  // namespace linli::edge::testing
