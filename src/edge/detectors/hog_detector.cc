// HogPeopleDetector: OpenCV's default HOG people detector (64x128 window) behind Detector.
#include <cmath>

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "edge/detectors/detectors.h"

namespace linli::edge {

float HogScore(double margin) {
  return margin <= 0 ? 0.f : static_cast<float>(1.0 - std::exp(-margin));
}

namespace {

class HogPeopleDetector final : public Detector {
 public:
  explicit HogPeopleDetector(const HogParams& p) : p_(p) {
    hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
  }

  Result<std::vector<Detection>> Detect(const cv::Mat& bgr) override {
    std::vector<Detection> out;
    if (bgr.empty()) return out;
    try {
      cv::Mat gray;
      if (bgr.channels() == 3) {
        cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
      } else {
        gray = bgr;
      }
      cv::Mat input = gray;
      if (p_.upscale != 1.0)
        cv::resize(gray, input, cv::Size(), p_.upscale, p_.upscale,
                   p_.upscale > 1 ? cv::INTER_LINEAR : cv::INTER_AREA);
      if (input.cols < hog_.winSize.width || input.rows < hog_.winSize.height) return out;
      std::vector<cv::Rect> rects;
      std::vector<double> weights;
      hog_.detectMultiScale(input, rects, weights, p_.hit_threshold,
                            cv::Size(p_.win_stride, p_.win_stride), cv::Size(0, 0), p_.scale,
                            /*finalThreshold=*/0, /*useMeanshiftGrouping=*/false);
      const float inv = static_cast<float>(1.0 / p_.upscale);
      for (std::size_t i = 0; i < rects.size(); ++i) {
        float s = HogScore(i < weights.size() ? weights[i] : 0);
        if (s < p_.min_score) continue;
        // The INRIA window has a margin of about 16 px of 64 x 128 around the person: shrink it
        // so that the box's bottom centre is at the feet.
        const cv::Rect& r = rects[i];
        cv::Rect2f b(r.x + 0.2f * r.width, r.y + 0.08f * r.height, 0.6f * r.width,
                     0.86f * r.height);
        b = cv::Rect2f(b.x * inv, b.y * inv, b.width * inv, b.height * inv);
        b &= cv::Rect2f(0, 0, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
        if (b.height < p_.min_height || b.area() <= 0) continue;
        out.push_back(Detection{b, "person", s});
      }
      return SuppressOverlaps(std::move(out), static_cast<float>(p_.nms_iou), 0.7f);
    } catch (const cv::Exception& e) {
      return Fail(ErrorCode::kInternal, std::string("HOG detection failed: ") + e.what());
    }
  }

  std::vector<std::string> Labels() const override { return {"person"}; }

 private:
  HogParams p_;
  cv::HOGDescriptor hog_;
};

}  // namespace

Result<std::shared_ptr<Detector>> MakeHogDetector(const HogParams& p) {
  return std::make_shared<HogPeopleDetector>(p);
}

}  // namespace linli::edge
