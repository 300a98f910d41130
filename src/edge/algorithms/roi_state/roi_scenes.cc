#include "edge/algorithms/roi_state/roi_scenes.h"

#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace linli::edge::testing {

const char* RoiSceneName(RoiSceneKind k) {
  switch (k) {
    case RoiSceneKind::kGarbageBin: return "garbage_bin";
    case RoiSceneKind::kFireLane: return "fire_lane";
    case RoiSceneKind::kDoor: return "door";
    case RoiSceneKind::kRealLane: return "real_lane";
  }
  return "?";
}

Lighting RandomLighting(uint64_t seed) {
  // splitmix64: neighbouring seeds give unrelated lightings.
  uint64_t z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  cv::RNG rng(z ^ (z >> 31));
  Lighting l;
  l.gain = rng.uniform(0.45, 1.5);
  l.gamma = rng.uniform(0.7, 1.4);
  l.cast = cv::Scalar(rng.uniform(0.88, 1.12), rng.uniform(0.88, 1.12), rng.uniform(0.88, 1.12));
  l.shadow = rng.uniform(0.0, 1.0) < 0.4 ? rng.uniform(0.3, 0.6) : 0;
  l.shadow_angle = rng.uniform(0.0, 2 * CV_PI);
  l.noise = rng.uniform(1.0, 6.0);
  l.shift = cv::Point(rng.uniform(-3, 4), rng.uniform(-3, 4));
  return l;
}

namespace {

void Texture(cv::Mat& img, cv::Rect r, cv::Scalar base, double amp, cv::RNG& rng) {
  cv::Mat n(r.size(), CV_32FC1);
  rng.fill(n, cv::RNG::NORMAL, 0, amp);
  cv::GaussianBlur(n, n, cv::Size(0, 0), 1.5);
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x) {
      float v = n.at<float>(y, x);
      cv::Vec3b& p = img.at<cv::Vec3b>(y + r.y, x + r.x);
      for (int c = 0; c < 3; ++c) p[c] = cv::saturate_cast<uint8_t>(base[c] + v);
    }
}

Zone RectZone(const std::string& name, cv::Rect2f r) {
  return Zone{name, {{r.x, r.y}, {r.x + r.width, r.y}, {r.x + r.width, r.y + r.height},
                     {r.x, r.y + r.height}}};
}

cv::Mat Cut(const std::string& file, cv::Rect2f r) {
  cv::Mat img = cv::imread(file);
  if (img.empty()) return img;
  cv::Rect px(cvRound(r.x * img.cols), cvRound(r.y * img.rows), cvRound(r.width * img.cols),
              cvRound(r.height * img.rows));
  return img(px & cv::Rect(0, 0, img.cols, img.rows)).clone();
}

}  // namespace

RoiSceneGen::RoiSceneGen(RoiSceneKind kind, cv::Size size) : kind_(kind), size_(size) {
  cv::RNG rng(1234 + static_cast<int>(kind));
  base_ = cv::Mat(size, CV_8UC3);
  const int w = size.width, h = size.height;
  if (kind == RoiSceneKind::kRealLane) {
    cv::Mat photo = cv::imread("/usr/share/doc/opencv-doc/examples/data/building.jpg");
    if (photo.empty()) {
      base_.release();
      return;
    }
    cv::resize(photo, base_, size, 0, 0, cv::INTER_AREA);
    roi_ = RectZone("entrance_lane", {0.3f, 0.72f, 0.42f, 0.24f});
    const std::string dog = "/usr/share/darknet/data/dog.jpg";
    const std::string person = "/usr/share/darknet/data/person.jpg";
    for (cv::Mat m : {Cut(dog, {0.6f, 0.12f, 0.33f, 0.22f}),      // the white car
                      Cut(dog, {0.15f, 0.35f, 0.25f, 0.62f}),     // the dog
                      Cut(dog, {0.12f, 0.22f, 0.62f, 0.48f}),     // the bicycle
                      Cut(person, {0.66f, 0.28f, 0.32f, 0.48f}),  // the horse
                      Cut(person, {0.38f, 0.1f, 0.17f, 0.85f})})  // the man
      if (!m.empty()) objects_.push_back(m);
    if (objects_.empty()) base_.release();
    return;
  }
  // Wall above, pavement below.
  Texture(base_, cv::Rect(0, 0, w, h / 2), cv::Scalar(150, 160, 170), 8, rng);
  Texture(base_, cv::Rect(0, h / 2, w, h - h / 2), cv::Scalar(95, 98, 100), 14, rng);
  for (int i = 0; i < 6; ++i)  // windows
    cv::rectangle(base_, cv::Rect(30 + i * 100, 30, 50, 60), cv::Scalar(90, 70, 60), cv::FILLED);
  cv::line(base_, {0, h / 2}, {w, h / 2}, cv::Scalar(70, 70, 70), 3);
  if (kind == RoiSceneKind::kGarbageBin) {
    roi_ = RectZone("bin", {0.4f, 0.3f, 0.22f, 0.55f});
  } else if (kind == RoiSceneKind::kFireLane) {
    cv::Rect lane(w / 4, h * 11 / 20, w / 2, h * 2 / 5);
    for (int x = lane.x - lane.height; x < lane.br().x; x += 28)
      cv::line(base_, {x, lane.br().y}, {x + lane.height, lane.y}, cv::Scalar(40, 200, 230), 6);
    cv::rectangle(base_, lane, cv::Scalar(40, 200, 230), 4);
    // Everything outside the lane back to pavement.
    cv::Mat keep = base_(lane).clone();
    Texture(base_, cv::Rect(0, h / 2 + 2, w, h - h / 2 - 2), cv::Scalar(95, 98, 100), 14, rng);
    keep.copyTo(base_(lane));
    roi_ = RectZone("fire_lane", {lane.x / float(w), lane.y / float(h), lane.width / float(w),
                                  lane.height / float(h)});
  } else {
    cv::rectangle(base_, cv::Rect(w * 2 / 5 - 8, h / 8 - 8, w / 5 + 16, h * 3 / 4 + 8),
                  cv::Scalar(60, 60, 70), cv::FILLED);  // frame
    roi_ = RectZone("door", {0.38f, 0.1f, 0.24f, 0.78f});
  }
}

std::string RoiSceneGen::normal_state() const {
  switch (kind_) {
    case RoiSceneKind::kGarbageBin: return "normal";
    case RoiSceneKind::kDoor: return "closed";
    default: return "clear";
  }
}
std::string RoiSceneGen::alarm_state() const {
  switch (kind_) {
    case RoiSceneKind::kGarbageBin: return "overflow";
    case RoiSceneKind::kDoor: return "open";
    default: return "blocked";
  }
}

cv::Mat RoiSceneGen::Render(bool alarm, uint64_t variant, const Lighting& light) const {
  cv::Mat img = base_.clone();
  cv::RNG rng(variant * 7919 + 3);
  const int w = size_.width, h = size_.height;
  switch (kind_) {
    case RoiSceneKind::kGarbageBin: {
      cv::Rect bin(w * 44 / 100, h * 50 / 100, w * 14 / 100, h * 30 / 100);
      cv::rectangle(img, bin, cv::Scalar(40, 110, 40), cv::FILLED);
      for (int x = bin.x + 8; x < bin.br().x; x += 14)
        cv::line(img, {x, bin.y + 10}, {x, bin.br().y - 6}, cv::Scalar(30, 80, 30), 2);
      cv::rectangle(img, cv::Rect(bin.x - 4, bin.y - 8, bin.width + 8, 10),
                    cv::Scalar(30, 90, 30), cv::FILLED);  // lid
      int bags = alarm ? rng.uniform(5, 10) : rng.uniform(0, 2);
      for (int i = 0; i < bags; ++i) {
        cv::Point c = alarm ? cv::Point(bin.x + rng.uniform(-10, bin.width + 10),
                                        bin.y - rng.uniform(-30, 40))
                            : cv::Point(bin.x + (rng.uniform(0, 2) ? -18 : bin.width + 18),
                                        bin.br().y - 12);
        cv::Scalar col = rng.uniform(0, 3) == 0
                             ? cv::Scalar(20, 20, 20)
                             : cv::Scalar(rng.uniform(30, 230), rng.uniform(30, 230),
                                          rng.uniform(30, 230));
        cv::ellipse(img, c, cv::Size(rng.uniform(12, 26), rng.uniform(10, 20)),
                    rng.uniform(0, 180), 0, 360, col, cv::FILLED);
        cv::ellipse(img, c, cv::Size(6, 4), 0, 0, 360, col * 0.6, cv::FILLED);
      }
      break;
    }
    case RoiSceneKind::kFireLane: {
      if (rng.uniform(0, 3) == 0)  // a leaf or a paper on the lane
        cv::circle(img, {w / 4 + rng.uniform(10, w / 2 - 10), h * 6 / 10 + rng.uniform(0, h / 3)},
                   rng.uniform(3, 7), cv::Scalar(30, 90, 140), cv::FILLED);
      if (alarm) {
        int cw = rng.uniform(w / 4, w * 2 / 5), ch = rng.uniform(h / 6, h / 4);
        int cx = w / 4 + rng.uniform(-cw / 5, w / 2 - cw * 4 / 5);
        int cy = h * 11 / 20 + rng.uniform(0, h * 2 / 5 - ch);
        cv::Scalar body(rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235));
        cv::rectangle(img, cv::Rect(cx, cy, cw, ch), body, cv::FILLED);
        cv::rectangle(img, cv::Rect(cx + cw / 5, cy - ch / 3, cw * 3 / 5, ch / 3 + 2),
                      body * 0.9, cv::FILLED);
        cv::rectangle(img, cv::Rect(cx + cw / 4, cy - ch / 4, cw / 5, ch / 5),
                      cv::Scalar(60, 50, 40), cv::FILLED);
        cv::rectangle(img, cv::Rect(cx + cw / 2, cy - ch / 4, cw / 5, ch / 5),
                      cv::Scalar(60, 50, 40), cv::FILLED);
        cv::circle(img, {cx + cw / 5, cy + ch}, ch / 4, cv::Scalar(20, 20, 20), cv::FILLED);
        cv::circle(img, {cx + cw * 4 / 5, cy + ch}, ch / 4, cv::Scalar(20, 20, 20), cv::FILLED);
      }
      break;
    }
    case RoiSceneKind::kDoor: {
      cv::Rect frame(w * 2 / 5, h / 8, w / 5, h * 3 / 4);
      cv::Scalar wood(30 + rng.uniform(0, 20), 70 + rng.uniform(0, 20), 120 + rng.uniform(0, 20));
      if (!alarm) {
        cv::rectangle(img, frame, wood, cv::FILLED);
        cv::rectangle(img, cv::Rect(frame.x + 10, frame.y + 12, frame.width - 20, frame.height / 3),
                      wood * 0.8, 2);
        cv::rectangle(img, cv::Rect(frame.x + 10, frame.y + frame.height / 2, frame.width - 20,
                                    frame.height / 3),
                      wood * 0.8, 2);
        cv::circle(img, {frame.br().x - 14, frame.y + frame.height / 2}, 4,
                   cv::Scalar(180, 190, 200), cv::FILLED);
      } else {
        // Dark interior with a few shapes, the door swung open to a narrow strip.
        cv::rectangle(img, frame, cv::Scalar(25, 22, 20), cv::FILLED);
        for (int i = 0; i < 3; ++i)
          cv::rectangle(img, cv::Rect(frame.x + rng.uniform(5, frame.width - 30),
                                      frame.y + rng.uniform(10, frame.height - 40),
                                      rng.uniform(10, 30), rng.uniform(15, 40)),
                        cv::Scalar(rng.uniform(30, 70), rng.uniform(30, 70), rng.uniform(30, 70)),
                        cv::FILLED);
        int open = rng.uniform(frame.width / 6, frame.width / 3);
        std::vector<cv::Point> leaf = {{frame.x, frame.y},
                                       {frame.x + open, frame.y + 14},
                                       {frame.x + open, frame.br().y - 14},
                                       {frame.x, frame.br().y}};
        cv::fillConvexPoly(img, leaf, wood * 0.85);
      }
      break;
    }
    case RoiSceneKind::kRealLane: {
      if (alarm) {
        const cv::Mat& obj = objects_[static_cast<std::size_t>(rng.uniform(0, static_cast<int>(objects_.size())))];
        cv::Rect lane(cvRound(roi_.points[0].x * w), cvRound(roi_.points[0].y * h),
                      cvRound((roi_.points[2].x - roi_.points[0].x) * w),
                      cvRound((roi_.points[2].y - roi_.points[0].y) * h));
        double scale = rng.uniform(0.6, 0.9) * lane.height / obj.rows;
        cv::Mat o;
        cv::resize(obj, o, cv::Size(), scale, scale, cv::INTER_AREA);
        if (o.cols > lane.width) o = o(cv::Rect(0, 0, lane.width, o.rows));
        int x = lane.x + rng.uniform(0, std::max(1, lane.width - o.cols));
        int y = lane.br().y - o.rows - rng.uniform(0, std::max(1, lane.height - o.rows) / 3 + 1);
        cv::Rect at(x, std::max(0, y), o.cols, o.rows);
        at &= cv::Rect(0, 0, w, h);
        o(cv::Rect(0, 0, at.width, at.height)).copyTo(img(at));
      }
      break;
    }
  }
  // Lighting: gain and gamma, colour cast, shadow, jitter, noise.
  cv::Mat f;
  img.convertTo(f, CV_32FC3, 1 / 255.0);
  cv::pow(f, light.gamma, f);
  cv::multiply(f, cv::Scalar(light.gain * light.cast[0], light.gain * light.cast[1],
                             light.gain * light.cast[2]),
               f);
  if (light.shadow > 0) {
    cv::Mat s(f.size(), CV_32FC1);
    double ca = std::cos(light.shadow_angle), sa = std::sin(light.shadow_angle);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double d = ((x - w / 2.0) * ca + (y - h / 2.0) * sa) / 20.0;
        s.at<float>(y, x) = static_cast<float>(1 - light.shadow / (1 + std::exp(-d)));
      }
    cv::Mat s3;
    cv::merge(std::vector<cv::Mat>{s, s, s}, s3);
    cv::multiply(f, s3, f);
  }
  f.convertTo(img, CV_8UC3, 255.0);
  if (light.shift != cv::Point(0, 0)) {
    cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, light.shift.x, 0, 1, light.shift.y);
    cv::warpAffine(img, img, m, img.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  }
  cv::Mat noise(img.size(), CV_16SC3), i16;
  rng.fill(noise, cv::RNG::NORMAL, 0, light.noise);
  img.convertTo(i16, CV_16SC3);
  i16 += noise;
  i16.convertTo(img, CV_8UC3);
  return img;
}

}  // namespace linli::edge::testing
