#include "edge/algorithms/thrown_object/facade.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace linli::edge::thrown {

FacadeModel::FacadeModel(const FacadeSpec& spec, cv::Size frame) : spec_(spec), frame_(frame) {
  cv::Point2f unit[4] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
  std::array<cv::Point2f, 4> q = QuadPx();
  cv::Point2f qa[4] = {q[0], q[1], q[2], q[3]};
  cv::Mat m = cv::getPerspectiveTransform(unit, qa);
  unit_to_img_ = cv::Matx33d(m.ptr<double>());
  img_to_unit_ = unit_to_img_.inv();
  height_m_ = spec_.floors * spec_.floor_height_m;
  width_m_ = spec_.width_m;
  if (width_m_ <= 0) {
    // Square pixels: the bottom edge measured with the vertical scale at the bottom.
    cv::Vec3d a = unit_to_img_ * cv::Vec3d(0.5, 0.0, 1);
    cv::Vec3d b = unit_to_img_ * cv::Vec3d(0.5, 0.02, 1);
    double dy = std::hypot(a[0] / a[2] - b[0] / b[2], a[1] / a[2] - b[1] / b[2]);
    double px_per_m = dy / (0.02 * height_m_);
    double bottom = std::hypot(q[1].x - q[0].x, q[1].y - q[0].y);
    width_m_ = px_per_m > 0 ? bottom / px_per_m : 1.0;
  }
}

std::array<cv::Point2f, 4> FacadeModel::QuadPx() const {
  std::array<cv::Point2f, 4> q;
  for (size_t i = 0; i < 4; ++i) {
    q[i] = cv::Point2f(spec_.quad[i].x * frame_.width, spec_.quad[i].y * frame_.height);
  }
  return q;
}

cv::Point2d FacadeModel::ToMetres(cv::Point2d px) const {
  cv::Vec3d u = img_to_unit_ * cv::Vec3d(px.x, px.y, 1);
  return {u[0] / u[2] * width_m_, u[1] / u[2] * height_m_};
}

cv::Point2d FacadeModel::ToPixels(cv::Point2d m) const {
  cv::Vec3d p = unit_to_img_ * cv::Vec3d(m.x / width_m_, m.y / height_m_, 1);
  return {p[0] / p[2], p[1] / p[2]};
}

double FacadeModel::PxPerMetre(cv::Point2d px) const {
  cv::Point2d m = ToMetres(px);
  cv::Point2d a = ToPixels({m.x, m.y - 0.25});
  cv::Point2d b = ToPixels({m.x, m.y + 0.25});
  return std::hypot(a.x - b.x, a.y - b.y) / 0.5;
}

int FacadeModel::FloorAt(cv::Point2d px) const {
  double y = ToMetres(px).y;
  int f = static_cast<int>(std::floor(y / spec_.floor_height_m));
  return std::clamp(f, 0, spec_.floors - 1) + spec_.lowest_floor;
}

int FacadeModel::WindowAt(cv::Point2d px) const {
  double x = ToMetres(px).x;
  int c = static_cast<int>(std::floor(x / width_m_ * spec_.columns));
  return std::clamp(c, 0, spec_.columns - 1) + 1;
}

}  // namespace linli::edge::thrown
