// Appearance features of a region of interest that survive lighting changes, and the
// few-shot nearest-prototype classifier built on them (the seed of custom algorithms: a user
// labels a handful of example frames per state, nothing is trained offline).
//
// Features of the ROI (polygon crop, masked, resized to 64 x 64):
//   - hue-saturation histogram (12 x 2 bins + grey; value ignored: brightness does not matter),
//   - uniform LBP histograms on a 2 x 2 grid (texture, invariant to monotonic grey changes),
//   - HOG (64 x 64 window, 16 px blocks, 9 bins, block-normalised: shape and edges),
//   - edge density on a 4 x 4 grid (Canny with thresholds from the median grey).
// Each part's distance is divided by its spread among examples of one state and weighed by how
// well it separates the enrolled states (see RoiClassifier::Rescale). Thread-safety: plain values; the classifier is used
// by one thread at a time.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace linli::edge {

struct RoiFeatures {
  cv::Mat hs;     // CV_32F row, L1-normalised
  cv::Mat lbp;    // CV_32F row, each cell L1-normalised
  cv::Mat hog;    // CV_32F row
  cv::Mat edges;  // CV_32F row, fractions
  bool empty() const { return hog.empty(); }
};

// The ROI `poly` (normalised) of `frame` (BGR). Empty features if the ROI falls outside.
RoiFeatures ExtractRoiFeatures(const cv::Mat& frame, const std::vector<cv::Point2f>& poly);

// Per-part distances.
struct RoiDistance {
  double hs = 0, lbp = 0, hog = 0, edges = 0;
};
RoiDistance Distance(const RoiFeatures& a, const RoiFeatures& b);

struct RoiVerdict {
  std::string state;   // best state, "" if no examples
  double margin = 0;   // (d2 - d1) / d2: 0 = tie with the runner-up, 1 = certain
  bool certain = false;  // margin >= the classifier's min_margin
  std::vector<std::pair<std::string, double>> distances;  // per state, ascending
};

class RoiClassifier {
 public:
  explicit RoiClassifier(int k = 3, double min_margin = 0.1) : k_(k), min_margin_(min_margin) {}
  void Add(const std::string& state, RoiFeatures f);
  std::vector<std::string> States() const;
  std::size_t Count(const std::string& state) const;
  // Mean of the k nearest examples' distances per state; the nearest state wins.
  RoiVerdict Classify(const RoiFeatures& f) const;

 private:
  void Rescale();
  double Combined(const RoiDistance& d) const;
  int k_;
  double min_margin_;
  std::vector<std::pair<std::string, RoiFeatures>> samples_;
  RoiDistance scale_{1, 1, 1, 1};
  RoiDistance weight_{1, 1, 1, 1};
};

}  // namespace linli::edge
