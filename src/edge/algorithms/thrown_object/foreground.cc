#include "edge/algorithms/thrown_object/foreground.h"

#include <algorithm>
#include <cmath>

#include <opencv2/core/hal/intrin.hpp>
#include <opencv2/imgproc.hpp>

namespace linli::edge::thrown {

ForegroundDetector::ForegroundDetector(const ForegroundOptions& options, cv::Size size,
                                       double fps, const cv::Mat& roi_mask)
    : opt_(options), size_(size), fps_(fps > 0 ? fps : 25) {
  if (roi_mask.empty() || roi_mask.size() != size) {
    roi_ = cv::Mat(size, CV_8U, cv::Scalar(255));
  } else {
    roi_ = roi_mask.clone();
  }
  roi_pixels_ = std::max(1, cv::countNonZero(roi_));
  absorb_frames_ = std::clamp(static_cast<int>(std::lround(opt_.absorb_s * fps_)), 2, 250);
  threshold_ = opt_.threshold > 0 ? opt_.threshold : opt_.min_threshold;
  opt_.update_every = std::max(1, opt_.update_every);
  small_scale_ = std::min(1.0, 320.0 / std::max(1, size.width));
  cv::Size small(std::max(16, static_cast<int>(std::lround(size.width * small_scale_))),
                 std::max(16, static_cast<int>(std::lround(size.height * small_scale_))));
  cv::createHanningWindow(hann_, small, CV_32F);
  mask_ = cv::Mat(size, CV_8U, cv::Scalar(0));
  count_ = cv::Mat(size, CV_8U, cv::Scalar(0));
  tiles_ = cv::Mat((size.height + kTile - 1) / kTile, (size.width + kTile - 1) / kTile, CV_8U,
                   cv::Scalar(0));
}

void ForegroundDetector::Reset(const cv::Mat& bgr) {
  bgr.copyTo(bg_);
  UpdateRange();
  diff_img_.release();
  count_.setTo(0);
  mask_.setTo(0);
  tiles_.setTo(0);
  gains_smooth_.release();
  shifted_frames_ = 0;
  if (opt_.model == "mog2") {
    mog2_ = cv::createBackgroundSubtractorMOG2(
        std::max(10, static_cast<int>(opt_.learning_s * fps_)), 16, true);
    mog2_->apply(bgr, mog_mask_, 1.0);
  }
  initialised_ = true;
}

void ForegroundDetector::UpdateRange() {
  static const cv::Mat k3 = cv::getStructuringElement(cv::MORPH_RECT, {3, 3});
  cv::dilate(bg_, bg_max_, k3);
  cv::erode(bg_, bg_min_, k3);
}

void ForegroundDetector::Absorb(const cv::Rect& r) {
  const cv::Rect c = r & cv::Rect(0, 0, size_.width, size_.height);
  if (c.area() <= 0 || count_.empty()) return;
  count_(c).setTo(255, mask_(c));
}

double ForegroundDetector::EstimateGains(const cv::Mat& img) {
  // Median of frame/background brightness ratios at 16 points of each tile.
  constexpr int kOff[4] = {2, 6, 10, 14};
  const int th = tiles_.rows, tw = tiles_.cols;
  gains_.create(th, tw, CV_32F);
  samples_.resize(16);
  for (int ty = 0; ty < th; ++ty) {
    float* pg = gains_.ptr<float>(ty);
    for (int tx = 0; tx < tw; ++tx) {
      int n = 0;
      for (int oy : kOff) {
        const int y = ty * kTile + oy;
        if (y >= img.rows) break;
        const uint8_t* pi = img.ptr<uint8_t>(y);
        const uint8_t* pb = bg_.ptr<uint8_t>(y);
        const uint8_t* pr = roi_.ptr<uint8_t>(y);
        for (int ox : kOff) {
          const int x = tx * kTile + ox;
          if (x >= img.cols) break;
          if (!pr[x]) continue;
          const int si = pi[3 * x] + pi[3 * x + 1] + pi[3 * x + 2];
          const int sb = pb[3 * x] + pb[3 * x + 1] + pb[3 * x + 2];
          samples_[static_cast<size_t>(n++)] = static_cast<float>(si + 24) / static_cast<float>(sb + 24);
        }
      }
      if (n < 6) {
        pg[tx] = 1.0f;
        continue;
      }
      std::nth_element(samples_.begin(), samples_.begin() + n / 2, samples_.begin() + n);
      pg[tx] = samples_[static_cast<size_t>(n / 2)];
    }
  }
  // Tiles that differ from their neighbours (an object, a lit window) keep their contrast.
  if (th >= 3 && tw >= 3) {
    cv::medianBlur(gains_, gains_filtered_, 3);
  } else {
    gains_.copyTo(gains_filtered_);
  }
  // Real illumination changes are smooth in time: average over frames, which also keeps the
  // noise of 16-sample medians from making bright edges flicker; deviations below 2% are 1.
  if (gains_smooth_.size() != gains_filtered_.size()) gains_filtered_.copyTo(gains_smooth_);
  for (int y = 0; y < gains_smooth_.rows; ++y) {
    float* ps = gains_smooth_.ptr<float>(y);
    float* pf = gains_filtered_.ptr<float>(y);
    for (int x = 0; x < gains_smooth_.cols; ++x) {
      // Follow a real step at once; average away the noise of small differences.
      ps[x] = std::abs(pf[x] - ps[x]) > 0.03f ? pf[x] : 0.6f * ps[x] + 0.4f * pf[x];
      const float d = ps[x] - 1.0f;
      pf[x] = std::abs(d) < 0.02f ? 1.0f : 1.0f + (d > 0 ? d - 0.02f : d + 0.02f);
    }
  }
  double lo = 1, hi = 1;
  cv::minMaxLoc(gains_filtered_, &lo, &hi);
  return std::max(std::abs(lo - 1), std::abs(hi - 1));
}

// out = img / gain, with the tile gains interpolated per pixel (Q7 fixed point).
void ForegroundDetector::Normalise(const cv::Mat& img, cv::Mat& out) {
  cv::Mat inv = 128.0 / gains_filtered_;
  cv::min(inv, 256.0, inv);
  cv::max(inv, 16.0, inv);
  inv.convertTo(ginv_tiles_, CV_16U);
  // Tile centres sit at (k + 0.5) * kTile: resize maps them so, up to the borders.
  cv::resize(ginv_tiles_, ginv_, cv::Size(tiles_.cols * kTile, tiles_.rows * kTile), 0, 0,
             cv::INTER_LINEAR);
  out.create(img.size(), CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    const uint8_t* pi = img.ptr<uint8_t>(y);
    const uint16_t* pg = ginv_.ptr<uint16_t>(y);
    uint8_t* po = out.ptr<uint8_t>(y);
    int x = 0;
#if CV_SIMD
    const int n = cv::v_uint8::nlanes;
    for (; x + n <= img.cols; x += n) {
      cv::v_uint8 c[3];
      cv::v_load_deinterleave(pi + 3 * x, c[0], c[1], c[2]);
      const cv::v_uint16 g0 = cv::vx_load(pg + x), g1 = cv::vx_load(pg + x + n / 2);
      for (auto& ch : c) {
        cv::v_uint16 lo, hi;
        cv::v_expand(ch, lo, hi);
        ch = cv::v_pack((lo * g0) >> 7, (hi * g1) >> 7);
      }
      cv::v_store_interleave(po + 3 * x, c[0], c[1], c[2]);
    }
#endif
    for (; x < img.cols; ++x) {
      for (int ch = 0; ch < 3; ++ch) {
        po[3 * x + ch] = cv::saturate_cast<uint8_t>((pi[3 * x + ch] * pg[x]) >> 7);
      }
    }
  }
}

double ForegroundDetector::EstimateNoise(const cv::Mat& img) const {
  // Robust sigma of the green-channel difference to the background (1.4826 * median |d|).
  int hist[256] = {0};
  int n = 0;
  for (int y = 1; y < img.rows; y += 4) {
    const uint8_t* pi = img.ptr<uint8_t>(y);
    const uint8_t* pb = bg_.ptr<uint8_t>(y);
    const uint8_t* pr = roi_.ptr<uint8_t>(y);
    for (int x = 1; x < img.cols; x += 4) {
      if (!pr[x]) continue;
      ++hist[std::abs(pi[3 * x + 1] - pb[3 * x + 1])];
      ++n;
    }
  }
  if (n == 0) return 2.0;
  int acc = 0, median = 0;
  for (int i = 0; i < 256; ++i) {
    acc += hist[i];
    if (acc * 2 >= n) {
      median = i;
      break;
    }
  }
  return std::max(0.5, 1.4826 * median);
}

int ForegroundDetector::Contrast(cv::Point p, const cv::Vec3b& c) const {
  // (With mog2 nothing is differenced: diff_img_ stays empty.)
  if (diff_img_.empty() || bg_max_.empty()) return 255;
  if (p.x < 0 || p.y < 0 || p.x >= bg_max_.cols || p.y >= bg_max_.rows) return 255;
  if (!roi_.at<uint8_t>(p)) return 0;
  const cv::Vec3b& hi = bg_max_.at<cv::Vec3b>(p);
  const cv::Vec3b& lo = bg_min_.at<cv::Vec3b>(p);
  int d = 0;
  for (int k = 0; k < 3; ++k) d = std::max({d, c[k] - hi[k], lo[k] - c[k]});
  return d;
}

// Foreground where a pixel lies outside its 3x3 background neighbourhood's [min, max] by more
// than the threshold in any channel; marks the tiles that hold some. Returns the count.
int ForegroundDetector::Difference(const cv::Mat& img) {
  diff_img_ = img;
  const int w = img.cols;
  int total = 0;
  tiles_.setTo(0);
  // Per-pixel thresholds, constant per tile: where the illumination is being compensated the
  // compensation is only approximate (gamma, saturated highlights), so the threshold rises
  // with the size of the correction.
  thr_row_.resize(static_cast<size_t>(w) + 64);
  for (int y = 0; y < img.rows; ++y) {
    if (y % kTile == 0) {
      const int ty = y / kTile;
      const float* pg = normalised_ && gains_filtered_.rows > ty ? gains_filtered_.ptr<float>(ty)
                                                                 : nullptr;
      for (int x = 0; x < w; ++x) {
        int t = threshold_;
        if (pg) t += static_cast<int>(std::lround(0.6 * std::abs(pg[x / kTile] - 1.0f) * 255));
        thr_row_[static_cast<size_t>(x)] = static_cast<uint8_t>(std::min(t, 255));
      }
    }
    const uint8_t* pth = thr_row_.data();
    const uint8_t* pi = img.ptr<uint8_t>(y);
    const uint8_t* pmax = bg_max_.ptr<uint8_t>(y);
    const uint8_t* pmin = bg_min_.ptr<uint8_t>(y);
    const uint8_t* pr = roi_.ptr<uint8_t>(y);
    uint8_t* pm = mask_.ptr<uint8_t>(y);
    uint8_t* pt = tiles_.ptr<uint8_t>(y / kTile);
    int x = 0;
#if CV_SIMD
    const int n = cv::v_uint8::nlanes;
    const cv::v_uint8 zero = cv::vx_setzero_u8();
    for (; x + n <= w; x += n) {
      cv::v_uint8 i0, i1, i2, a0, a1, a2, b0, b1, b2;
      cv::v_load_deinterleave(pi + 3 * x, i0, i1, i2);
      cv::v_load_deinterleave(pmax + 3 * x, a0, a1, a2);
      cv::v_load_deinterleave(pmin + 3 * x, b0, b1, b2);
      // Saturating differences: how far above max or below min, per channel.
      cv::v_uint8 d = cv::v_max(cv::v_max(i0 - a0, b0 - i0),
                                cv::v_max(cv::v_max(i1 - a1, b1 - i1), cv::v_max(i2 - a2, b2 - i2)));
      cv::v_uint8 fg = (d > cv::v_load(pth + x)) & (cv::v_load(pr + x) != zero);
      cv::v_store(pm + x, fg);
      if (cv::v_check_any(fg)) {
        for (int k = x; k < x + n; ++k) {
          if (pm[k]) {
            ++total;
            pt[k / kTile] = 255;
          }
        }
      }
    }
#endif
    for (; x < w; ++x) {
      int d = 0;
      for (int c = 0; c < 3; ++c) {
        const int v = pi[3 * x + c];
        d = std::max({d, v - pmax[3 * x + c], pmin[3 * x + c] - v});
      }
      const bool fg = d > pth[x] && pr[x];
      pm[x] = fg ? 255 : 0;
      if (fg) {
        ++total;
        pt[x / kTile] = 255;
      }
    }
  }
  return total;
}

bool ForegroundDetector::EstimateShift(const cv::Mat& img, cv::Point2d* shift) {
  const cv::Size small = hann_.size();
  cv::resize(bg_, small_tmp_, small, 0, 0, cv::INTER_AREA);
  cv::cvtColor(small_tmp_, small_tmp_, cv::COLOR_BGR2GRAY);
  small_tmp_.convertTo(small_bg_, CV_32F);
  cv::resize(img, small_tmp_, small, 0, 0, cv::INTER_AREA);
  cv::cvtColor(small_tmp_, small_tmp_, cv::COLOR_BGR2GRAY);
  small_tmp_.convertTo(small_cur_, CV_32F);
  double response = 0;
  cv::Point2d s = cv::phaseCorrelate(small_bg_, small_cur_, hann_, &response);
  if (response < 0.03) return false;
  *shift = s / small_scale_;
  return true;
}

// One sigma-delta step towards the frame for background pixels; pixels foreground for
// absorb_frames_ (or marked by Absorb()) take the frame's value.
void ForegroundDetector::UpdateBackground(const cv::Mat& img) {
  const uint8_t k = static_cast<uint8_t>(absorb_frames_);
  // During the first second the model comes from a single noisy frame: larger steps.
  const uint8_t step = frames_ < fps_ ? 3 : 1;
  bool absorbed = false;
  for (int y = 0; y < img.rows; ++y) {
    const uint8_t* pi = img.ptr<uint8_t>(y);
    uint8_t* pb = bg_.ptr<uint8_t>(y);
    const uint8_t* pm = mask_.ptr<uint8_t>(y);
    uint8_t* pc = count_.ptr<uint8_t>(y);
    int x = 0;
#if CV_SIMD
    const int n = cv::v_uint8::nlanes;
    const cv::v_uint8 one = cv::vx_setall_u8(step), vk = cv::vx_setall_u8(k),
                      zero = cv::vx_setzero_u8();
    for (; x + n <= img.cols; x += n) {
      const cv::v_uint8 fg = cv::v_load(pm + x);
      const cv::v_uint8 c = cv::v_load(pc + x);
      const cv::v_uint8 ab = c >= vk;
      const cv::v_uint8 upd = ~fg;
      cv::v_uint8 i0, i1, i2, b0, b1, b2;
      cv::v_load_deinterleave(pi + 3 * x, i0, i1, i2);
      cv::v_load_deinterleave(pb + 3 * x, b0, b1, b2);
      auto Step = [&](const cv::v_uint8& i, cv::v_uint8& b) {
        const cv::v_uint8 inc = (i > b) & upd & one;
        const cv::v_uint8 dec = (i < b) & upd & one;
        b = cv::v_select(ab, i, (b + inc) - dec);
      };
      Step(i0, b0);
      Step(i1, b1);
      Step(i2, b2);
      cv::v_store_interleave(pb + 3 * x, b0, b1, b2);
      if (cv::v_check_any(ab)) {
        absorbed = true;
        cv::v_store(pc + x, cv::v_select(ab, zero, c));
      }
    }
#endif
    for (; x < img.cols; ++x) {
      const bool ab = pc[x] >= k;
      for (int ch = 0; ch < 3; ++ch) {
        uint8_t& b = pb[3 * x + ch];
        const uint8_t i = pi[3 * x + ch];
        if (ab) {
          b = i;
        } else if (!pm[x]) {
          b = static_cast<uint8_t>(std::clamp(b + step * ((i > b) - (i < b)), 0, 255));
        }
      }
      if (ab) {
        pc[x] = 0;
        absorbed = true;
      }
    }
  }
  if (absorbed || (frames_ / opt_.update_every) % 2 == 0) UpdateRange();
}

const cv::Mat& ForegroundDetector::Apply(const cv::Mat& bgr, ForegroundStats* stats) {
  ForegroundStats local;
  ForegroundStats& st = stats ? *stats : local;
  st = ForegroundStats();
  shift_applied_ = cv::Point(0, 0);
  if (!initialised_ || bgr.size() != size_) {
    Reset(bgr);
    st.reset = true;
    return mask_;
  }
  ++frames_;
  if (opt_.model == "mog2") {
    mog2_->apply(bgr, mog_mask_, 1.0 / std::max(1.0, opt_.learning_s * fps_));
    cv::compare(mog_mask_, 200, mask_, cv::CMP_GT);  // 255 = foreground, 127 = shadow
    cv::bitwise_and(mask_, roi_, mask_);
    cv::Mat nz;
    cv::resize(mask_, nz, tiles_.size(), 0, 0, cv::INTER_AREA);
    cv::compare(nz, 0, tiles_, cv::CMP_GT);
    st.fraction = static_cast<double>(cv::countNonZero(mask_)) / roi_pixels_;
    if (st.fraction > opt_.global_change) {
      Reset(bgr);
      st.reset = true;
    }
    return mask_;
  }
  // `raw` is the frame (re-aligned if the camera moved) that the background learns from;
  // `img` the same with the illumination field divided out, that is differenced.
  const cv::Mat* raw = &bgr;
  const cv::Mat* img = &bgr;
  auto Illumination = [&] {
    const double dev = EstimateGains(*raw);
    st.gain = 1 + dev;
    normalised_ = dev > 0.005;
    if (normalised_) {
      Normalise(*raw, scaled_);
      img = &scaled_;
    } else {
      img = raw;
    }
  };
  Illumination();
  if (opt_.threshold <= 0 && (frames_ % 16 == 1 || frames_ < 4)) {
    threshold_ = std::clamp(static_cast<int>(std::lround(opt_.noise_k * EstimateNoise(*img))),
                            opt_.min_threshold, opt_.max_threshold);
  }
  st.threshold = threshold_;
  int n = Difference(*img);
  st.fraction = static_cast<double>(n) / roi_pixels_;
  bool aligned = false;
  if (opt_.shake_compensation && st.fraction > opt_.shake_trigger) {
    cv::Point2d s;
    if (EstimateShift(bgr, &s)) {
      st.shift = s;
      if (std::hypot(s.x, s.y) > opt_.max_shift_px) {
        st.unstable = true;
        mask_.setTo(0);
        tiles_.setTo(0);
        return mask_;
      }
      const int ix = static_cast<int>(std::lround(s.x)), iy = static_cast<int>(std::lround(s.y));
      if ((ix != 0 || iy != 0) && std::abs(ix) < bgr.cols / 2 && std::abs(iy) < bgr.rows / 2) {
        // aligned(x, y) = frame(x + ix, y + iy), edges replicated.
        const cv::Rect src(std::max(0, ix), std::max(0, iy), bgr.cols - std::abs(ix),
                           bgr.rows - std::abs(iy));
        cv::copyMakeBorder(bgr(src), shifted_, std::max(0, -iy), std::max(0, iy),
                           std::max(0, -ix), std::max(0, ix), cv::BORDER_REPLICATE);
        raw = &shifted_;
        aligned = true;
        st.aligned = true;
        shift_applied_ = cv::Point(ix, iy);
        Illumination();
        n = Difference(*img);
        st.fraction = static_cast<double>(n) / roi_pixels_;
      }
    }
  }
  shifted_frames_ = aligned ? shifted_frames_ + 1 : 0;
  if (st.fraction > opt_.global_change || shifted_frames_ > 2 * fps_) {
    // The scene changed as a whole (lights, exposure jump) or the camera stays moved: start
    // over from this frame rather than report the whole facade.
    Reset(bgr);
    st.reset = true;
    return mask_;
  }
  // Counters on the final mask (a cheap second pass).
  {
    for (int y = 0; y < mask_.rows; ++y) {
      const uint8_t* pm = mask_.ptr<uint8_t>(y);
      uint8_t* pc = count_.ptr<uint8_t>(y);
      int x = 0;
#if CV_SIMD
      const int nl = cv::v_uint8::nlanes;
      const cv::v_uint8 one = cv::vx_setall_u8(1);
      for (; x + nl <= mask_.cols; x += nl) {
        cv::v_store(pc + x, (cv::v_load(pc + x) + one) & cv::v_load(pm + x));
      }
#endif
      for (; x < mask_.cols; ++x) {
        pc[x] = pm[x] ? static_cast<uint8_t>(pc[x] < 255 ? pc[x] + 1 : 255) : 0;
      }
    }
  }
  if (frames_ % opt_.update_every == 0 || frames_ < fps_) UpdateBackground(*raw);
  return mask_;
}

}  // namespace linli::edge::thrown
