// CascadeDetector: a Haar or LBP cascade (cv::CascadeClassifier) behind Detector.
#include <cmath>
#include <filesystem>

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "edge/detectors/detectors.h"

namespace linli::edge {

namespace fs = std::filesystem;

std::string ResolveCascadeFile(const std::string& name) {
  if (name.empty()) return "";
  std::error_code ec;
  if (fs::is_regular_file(name, ec)) return name;
  if (name.find('/') != std::string::npos) return "";
  for (const char* dir : {"/usr/share/opencv4/haarcascades/", "/usr/share/opencv4/lbpcascades/"}) {
    for (const std::string& candidate : {std::string(dir) + name, std::string(dir) + name + ".xml"})
      if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return "";
}

std::string DefaultCascadeLabel(const std::string& file) {
  std::string f = fs::path(file).filename().string();
  if (f.find("catface") != std::string::npos) return "cat_face";
  if (f.find("body") != std::string::npos) return "person";
  if (f.find("face") != std::string::npos) return "face";
  if (f.find("plate") != std::string::npos) return "plate";
  return "object";
}

namespace {

class CascadeDetector final : public Detector {
 public:
  CascadeDetector(const CascadeParams& p, cv::CascadeClassifier c)
      : p_(p), cascade_(std::move(c)) {}

  Result<std::vector<Detection>> Detect(const cv::Mat& bgr) override {
    std::vector<Detection> out;
    if (bgr.empty()) return out;
    try {
      cv::Mat gray;
      if (bgr.channels() == 3) {
        cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
      } else {
        gray = bgr.clone();
      }
      if (p_.upscale != 1.0) cv::resize(gray, gray, cv::Size(), p_.upscale, p_.upscale);
      cv::equalizeHist(gray, gray);
      std::vector<cv::Rect> rects;
      std::vector<int> neighbours;
      auto scaled = [&](cv::Size s) {
        return cv::Size(static_cast<int>(s.width * p_.upscale),
                        static_cast<int>(s.height * p_.upscale));
      };
      cascade_.detectMultiScale(gray, rects, neighbours, p_.scale_factor, p_.min_neighbors, 0,
                                scaled(p_.min_size), scaled(p_.max_size));
      const float inv = static_cast<float>(1.0 / p_.upscale);
      for (std::size_t i = 0; i < rects.size(); ++i) {
        // More neighbouring hits, more confidence: 1 - exp(-n / 5).
        int n = i < neighbours.size() ? neighbours[i] : 1;
        float s = static_cast<float>(1.0 - std::exp(-std::max(n, 1) / 5.0));
        if (s < p_.min_score) continue;
        cv::Rect2f b(rects[i].x * inv, rects[i].y * inv, rects[i].width * inv,
                     rects[i].height * inv);
        out.push_back(Detection{b, p_.label, s});
      }
      return SuppressOverlaps(std::move(out), static_cast<float>(p_.nms_iou), 0.8f);
    } catch (const cv::Exception& e) {
      return Fail(ErrorCode::kInternal, std::string("cascade detection failed: ") + e.what());
    }
  }

  std::vector<std::string> Labels() const override { return {p_.label}; }

 private:
  CascadeParams p_;
  cv::CascadeClassifier cascade_;
};

}  // namespace

Result<std::shared_ptr<Detector>> MakeCascadeDetector(const CascadeParams& params,
                                                      const std::string& key) {
  CascadeParams p = params;
  std::string path = ResolveCascadeFile(p.file);
  if (path.empty())
    return InvalidArgument(key + ".file", "no cascade file \"" + p.file +
                                              "\" (nor under /usr/share/opencv4/haarcascades or "
                                              "lbpcascades; is opencv-data installed?)");
  cv::CascadeClassifier c;
  try {
    if (!c.load(path) || c.empty())
      return InvalidArgument(key + ".file", "\"" + path + "\" is not a cascade classifier");
  } catch (const cv::Exception& e) {
    return InvalidArgument(key + ".file", "\"" + path + "\" cannot be loaded: " + e.what());
  }
  if (p.label.empty()) p.label = DefaultCascadeLabel(path);
  p.file = path;
  return std::make_shared<CascadeDetector>(p, std::move(c));
}

}  // namespace linli::edge
