// Foreground extraction for the thrown-object analyzer, on the facade's region of interest at
// full frame rate:
//   - a background model: "median" (our own: a per-pixel running median by sigma-delta
//     steps, compared with a 1-pixel neighbourhood tolerance — the pixel must lie outside the
//     [min, max] of its 3x3 background neighbourhood — so that sub-pixel jitter, compression
//     ringing and edges do not light up; stationary foreground such as a window switched on is
//     absorbed after `absorb_s`, or at once when the analyzer says a blob is too large to be a
//     thrown object), or "mog2" (OpenCV's Gaussian mixture with shadow detection) for
//     comparison;
//   - illumination: a smooth gain field — the median frame/background ratio per 16x16 tile,
//     median-filtered over 3x3 tiles and interpolated — is divided out before differencing,
//     so that auto exposure, dusk and cloud shadows sliding over the facade do not light up
//     while anything smaller than a few tiles (a thrown object, a lit window) still does; a
//     change that lights up a large part of the facade resets the model;
//   - camera shake: when many pixels change, the global shift against the background is
//     estimated by phase correlation and the frame is re-aligned (to the whole pixel; the
//     neighbourhood tolerance absorbs the rest) before differencing; while the camera moves
//     more than `max_shift_px` the frame is reported unstable.
// The hot loops use OpenCV's universal intrinsics. No per-frame allocation once warmed up
// (except with MOG2). Thread-safety: one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/video/background_segm.hpp>

namespace linli::edge::thrown {

struct ForegroundOptions {
  std::string model = "median";  // or "mog2"
  double learning_s = 2.0;       // mog2: history length
  int update_every = 2;          // median: one sigma-delta step every this many frames
  int threshold = 0;             // fixed difference threshold; 0 = from the measured noise
  double noise_k = 4.0;          // threshold = noise_k * noise sigma, clamped to:
  int min_threshold = 12;
  int max_threshold = 40;
  double absorb_s = 2.0;         // foreground for this long becomes background
  bool shake_compensation = true;
  double shake_trigger = 0.004;  // foreground fraction that triggers shift estimation
  double max_shift_px = 12;      // beyond this the frame is unstable (not analysed)
  double global_change = 0.2;    // foreground fraction that resets the model
};

struct ForegroundStats {
  double fraction = 0;        // foreground pixels / ROI pixels
  cv::Point2d shift;          // estimated camera shift (px), zero if not estimated
  bool aligned = false;       // the frame was re-aligned
  bool unstable = false;      // frame not usable (strong shake)
  bool reset = false;         // the model was reset (global change)
  double gain = 1;            // largest compensated tile gain deviation from 1, plus 1
  int threshold = 0;
};

class ForegroundDetector {
 public:
  static constexpr int kTile = 16;  // tile size of the activity map

  // `roi_mask`: CV_8U, 255 where detection is allowed, of the size of the images to come.
  ForegroundDetector(const ForegroundOptions& options, cv::Size size, double fps,
                     const cv::Mat& roi_mask);

  // Computes the foreground mask (CV_8U 0/255) of `bgr` (CV_8UC3, the configured size) and
  // updates the model. The first frame initialises the model and has no foreground.
  const cv::Mat& Apply(const cv::Mat& bgr, ForegroundStats* stats);
  // Tiles (kTile x kTile) holding foreground in the last mask, CV_8U 0/255.
  const cv::Mat& tiles() const { return tiles_; }
  // Makes the foreground inside `r` part of the background at the next update (a blob too
  // large to be a thrown object: a lit window, an insect's blur, a shadow).
  void Absorb(const cv::Rect& r);
  cv::Point shift_applied() const { return shift_applied_; }
  // The image the last mask was computed from (re-aligned, illumination divided out): the
  // colours the mask compared with the background. Empty before the first difference.
  const cv::Mat& differenced() const { return diff_img_; }
  // Whether something of colour `c` (as in differenced()) at `p` would be foreground now:
  // false where it matches the background (a dark object in front of a dark window, a light
  // one in front of a lit window) or where nothing is analysed (outside the region, an
  // excluded area). True outside the image and with the mog2 model (no range to compare).
  bool Detectable(cv::Point p, const cv::Vec3b& c) const { return Contrast(p, c) > threshold_; }
  // How far colour `c` lies outside the background's range at `p` (grey levels, the largest
  // channel; 0 inside it, or where nothing is analysed; 255 outside the image or with mog2).
  int Contrast(cv::Point p, const cv::Vec3b& c) const;
  int threshold() const { return threshold_; }

 private:
  void Reset(const cv::Mat& bgr);
  int Difference(const cv::Mat& img);
  void UpdateBackground(const cv::Mat& img);
  void UpdateRange();
  double EstimateNoise(const cv::Mat& img) const;
  // Fills gains_ (per tile); returns the largest |gain - 1|.
  double EstimateGains(const cv::Mat& img);
  void Normalise(const cv::Mat& img, cv::Mat& out);
  bool EstimateShift(const cv::Mat& img, cv::Point2d* shift);

  ForegroundOptions opt_;
  cv::Size size_;
  double fps_;
  cv::Mat roi_;
  int roi_pixels_ = 1;
  bool initialised_ = false;
  int64_t frames_ = 0;
  int threshold_ = 20;
  int absorb_frames_ = 50;
  cv::Mat bg_, bg_max_, bg_min_;  // CV_8UC3
  cv::Mat count_;                 // CV_8U: consecutive foreground frames (saturating)
  cv::Mat mask_, tiles_;
  cv::Mat diff_img_;  // header of the last differenced image (scaled_, shifted_ or the input)
  cv::Mat scaled_, shifted_;
  cv::Mat gains_, gains_filtered_, gains_smooth_, ginv_tiles_, ginv_;  // tile gains; per-pixel 1/gain (Q7)
  std::vector<float> samples_;
  std::vector<uint8_t> thr_row_;
  bool normalised_ = false;
  cv::Point shift_applied_;
  int shifted_frames_ = 0;
  double small_scale_ = 1;
  cv::Mat small_bg_, small_cur_, small_tmp_, hann_;
  cv::Ptr<cv::BackgroundSubtractorMOG2> mog2_;
  cv::Mat mog_mask_;
};

}  // namespace linli::edge::thrown
