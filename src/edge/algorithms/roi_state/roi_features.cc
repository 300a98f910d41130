#include "edge/algorithms/roi_state/roi_features.h"

#include <algorithm>
#include <map>

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

namespace linli::edge {

namespace {

constexpr int kSide = 64;

// Uniform LBP code table (58 uniform patterns + 1 for the rest).
const std::vector<int>& UniformTable() {
  static const std::vector<int> table = [] {
    std::vector<int> t(256, 58);
    int next = 0;
    for (int c = 0; c < 256; ++c) {
      int transitions = 0;
      for (int b = 0; b < 8; ++b) transitions += ((c >> b) & 1) != ((c >> ((b + 1) % 8)) & 1);
      if (transitions <= 2) t[c] = next++;
    }
    return t;
  }();
  return table;
}

cv::Mat LbpHist(const cv::Mat& gray, const cv::Mat& mask) {
  const auto& table = UniformTable();
  cv::Mat hist = cv::Mat::zeros(1, 4 * 59, CV_32F);
  static const int dx[8] = {-1, 0, 1, 1, 1, 0, -1, -1}, dy[8] = {-1, -1, -1, 0, 1, 1, 1, 0};
  for (int y = 1; y < gray.rows - 1; ++y)
    for (int x = 1; x < gray.cols - 1; ++x) {
      if (!mask.at<uint8_t>(y, x)) continue;
      uint8_t c = gray.at<uint8_t>(y, x);
      int code = 0;
      for (int b = 0; b < 8; ++b) code |= (gray.at<uint8_t>(y + dy[b], x + dx[b]) >= c + 2) << b;
      int cell = (y * 2 / gray.rows) * 2 + (x * 2 / gray.cols);
      hist.at<float>(0, cell * 59 + table[code]) += 1;
    }
  for (int cell = 0; cell < 4; ++cell) {
    cv::Mat part = hist.colRange(cell * 59, cell * 59 + 59);
    double s = cv::sum(part)[0];
    if (s > 0) part /= s;
  }
  return hist;
}

double ChiSquare(const cv::Mat& a, const cv::Mat& b) {
  double d = 0;
  const float* pa = a.ptr<float>();
  const float* pb = b.ptr<float>();
  for (int i = 0; i < a.cols; ++i) {
    double s = pa[i] + pb[i];
    if (s > 0) d += (pa[i] - pb[i]) * (pa[i] - pb[i]) / s;
  }
  return d / 2;
}

}  // namespace

RoiFeatures ExtractRoiFeatures(const cv::Mat& frame, const std::vector<cv::Point2f>& poly) {
  RoiFeatures f;
  if (frame.empty() || poly.size() < 3) return f;
  std::vector<cv::Point> px;
  for (const auto& p : poly)
    px.emplace_back(cvRound(p.x * frame.cols), cvRound(p.y * frame.rows));
  cv::Rect box = cv::boundingRect(px) & cv::Rect(0, 0, frame.cols, frame.rows);
  if (box.width < 4 || box.height < 4) return f;
  cv::Mat mask_full = cv::Mat::zeros(box.size(), CV_8U);
  std::vector<cv::Point> local;
  for (const auto& p : px) local.push_back(p - box.tl());
  cv::fillPoly(mask_full, std::vector<std::vector<cv::Point>>{local}, cv::Scalar(255));
  cv::Mat crop, mask;
  cv::resize(frame(box), crop, cv::Size(kSide, kSide), 0, 0, cv::INTER_AREA);
  cv::resize(mask_full, mask, cv::Size(kSide, kSide), 0, 0, cv::INTER_NEAREST);
  if (crop.channels() == 1) cv::cvtColor(crop, crop, cv::COLOR_GRAY2BGR);
  // Hue-saturation histogram of pixels bright and coloured enough for hue to mean something.
  cv::Mat hsv;
  cv::cvtColor(crop, hsv, cv::COLOR_BGR2HSV);
  // Coarse bins (12 hues x 2 saturations + grey): a colour cast of 10-15% or sensor noise
  // moves few pixels across bins.
  f.hs = cv::Mat::zeros(1, 12 * 2 + 1, CV_32F);
  cv::Mat smooth;
  cv::GaussianBlur(hsv, smooth, cv::Size(3, 3), 0);
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x) {
      if (!mask.at<uint8_t>(y, x)) continue;
      const cv::Vec3b& v = smooth.at<cv::Vec3b>(y, x);
      if (v[2] < 40 || v[1] < 70) {
        f.hs.at<float>(0, 24) += 1;  // grey or too dark: one bin of its own
      } else {
        f.hs.at<float>(0, ((v[0] + 7) % 180 * 12 / 180) * 2 + (v[1] >= 150)) += 1;
      }
    }
  double s = cv::sum(f.hs)[0];
  if (s > 0) f.hs /= s;
  // Illumination normalisation (a simple retinex): the grey image divided by its own
  // large-scale blur, so that gain, soft shadows and most of a gamma change cancel out and
  // what remains is the ROI's reflectance pattern.
  cv::Mat gray, g32, illum, ratio;
  cv::cvtColor(crop, gray, cv::COLOR_BGR2GRAY);
  gray.convertTo(g32, CV_32F);
  cv::GaussianBlur(g32, g32, cv::Size(0, 0), 0.8);
  cv::GaussianBlur(g32, illum, cv::Size(0, 0), 6);
  cv::divide(g32 + 4.f, illum + 4.f, ratio);
  cv::Mat logr;
  cv::log(ratio, logr);
  // log ratio in about [-1, 1] → 8 bits.
  logr.convertTo(gray, CV_8U, 96, 128);
  gray.setTo(128, mask == 0);
  f.lbp = LbpHist(gray, mask);
  static const cv::HOGDescriptor hog(cv::Size(kSide, kSide), cv::Size(16, 16), cv::Size(8, 8),
                                     cv::Size(8, 8), 9);
  std::vector<float> desc;
  hog.compute(gray, desc);
  f.hog = cv::Mat(desc, true).reshape(1, 1);
  // Edges.
  cv::Mat blurred, edges;
  cv::GaussianBlur(gray, blurred, cv::Size(3, 3), 0);
  std::vector<uint8_t> vals;
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x)
      if (mask.at<uint8_t>(y, x)) vals.push_back(blurred.at<uint8_t>(y, x));
  double median = 128;
  if (!vals.empty()) {
    std::nth_element(vals.begin(), vals.begin() + vals.size() / 2, vals.end());
    median = vals[vals.size() / 2];
  }
  cv::Canny(blurred, edges, std::max(10.0, 0.66 * median), std::max(30.0, 1.33 * median));
  f.edges = cv::Mat::zeros(1, 16, CV_32F);
  for (int gy = 0; gy < 4; ++gy)
    for (int gx = 0; gx < 4; ++gx) {
      cv::Rect r(gx * 16, gy * 16, 16, 16);
      int m = cv::countNonZero(mask(r));
      f.edges.at<float>(0, gy * 4 + gx) =
          m > 0 ? static_cast<float>(cv::countNonZero(edges(r) & mask(r))) / m : 0.f;
    }
  return f;
}

RoiDistance Distance(const RoiFeatures& a, const RoiFeatures& b) {
  RoiDistance d;
  d.hs = ChiSquare(a.hs, b.hs);
  d.lbp = ChiSquare(a.lbp, b.lbp) / 4;
  d.hog = cv::norm(a.hog, b.hog, cv::NORM_L2) / std::sqrt(static_cast<double>(a.hog.cols) / 36);
  d.edges = cv::norm(a.edges, b.edges, cv::NORM_L1) / 16;
  return d;
}

void RoiClassifier::Add(const std::string& state, RoiFeatures f) {
  if (f.empty()) return;
  samples_.emplace_back(state, std::move(f));
  Rescale();
}

void RoiClassifier::Rescale() {
  // Per part: the mean distance between examples of the same state (W) and of different states
  // (B). A part is scaled by W and weighed by how much farther apart the states are than the
  // examples of one state (B / W - 1, a Fisher-like ratio): under this camera's lighting and
  // this ROI, the parts that separate the enrolled states count, the others fade out.
  double w_sum[4] = {0, 0, 0, 0}, b_sum[4] = {0, 0, 0, 0}, all_sum[4] = {0, 0, 0, 0};
  int w_n = 0, b_n = 0;
  for (std::size_t i = 0; i < samples_.size(); ++i)
    for (std::size_t j = i + 1; j < samples_.size(); ++j) {
      RoiDistance d = Distance(samples_[i].second, samples_[j].second);
      double v[4] = {d.hs, d.lbp, d.hog, d.edges};
      bool same = samples_[i].first == samples_[j].first;
      for (int p = 0; p < 4; ++p) {
        (same ? w_sum : b_sum)[p] += v[p];
        all_sum[p] += v[p];
      }
      (same ? w_n : b_n) += 1;
    }
  double scale[4], weight[4];
  double total_weight = 0;
  for (int p = 0; p < 4; ++p) {
    double w = w_n > 0 ? w_sum[p] / w_n : 0, b = b_n > 0 ? b_sum[p] / b_n : 0;
    double all = (w_n + b_n) > 0 ? all_sum[p] / (w_n + b_n) : 1;
    scale[p] = std::max(w > 0 ? w : all, 1e-4);
    weight[p] = (w_n > 0 && b_n > 0) ? std::clamp(b / scale[p] - 1, 0.0, 10.0) : 1.0;
    total_weight += weight[p];
  }
  if (total_weight <= 1e-9)
    for (double& w : weight) w = 1;
  scale_ = RoiDistance{scale[0], scale[1], scale[2], scale[3]};
  weight_ = RoiDistance{weight[0], weight[1], weight[2], weight[3]};
}

double RoiClassifier::Combined(const RoiDistance& d) const {
  return weight_.hs * d.hs / scale_.hs + weight_.lbp * d.lbp / scale_.lbp +
         weight_.hog * d.hog / scale_.hog + weight_.edges * d.edges / scale_.edges;
}

std::vector<std::string> RoiClassifier::States() const {
  std::vector<std::string> out;
  for (const auto& [s, f] : samples_)
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

std::size_t RoiClassifier::Count(const std::string& state) const {
  return static_cast<std::size_t>(std::count_if(samples_.begin(), samples_.end(),
                                                [&](const auto& s) { return s.first == state; }));
}

RoiVerdict RoiClassifier::Classify(const RoiFeatures& f) const {
  RoiVerdict v;
  if (f.empty() || samples_.empty()) return v;
  std::map<std::string, std::vector<double>> per_state;
  for (const auto& [s, ex] : samples_) per_state[s].push_back(Combined(Distance(f, ex)));
  for (auto& [s, ds] : per_state) {
    std::sort(ds.begin(), ds.end());
    std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(k_), ds.size());
    double mean = 0;
    for (std::size_t i = 0; i < k; ++i) mean += ds[i];
    v.distances.emplace_back(s, mean / static_cast<double>(k));
  }
  std::sort(v.distances.begin(), v.distances.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  v.state = v.distances[0].first;
  if (v.distances.size() == 1) {
    v.margin = 0;
  } else {
    double d1 = v.distances[0].second, d2 = v.distances[1].second;
    v.margin = d2 > 0 ? (d2 - d1) / d2 : 0;
  }
  v.certain = v.distances.size() > 1 && v.margin >= min_margin_;
  return v;
}

}  // namespace linli::edge
