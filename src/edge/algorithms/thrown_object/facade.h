// FacadeModel: the building facade a thrown-object camera watches, as configured by the
// installer: the facade's four corners in the image (normalised), the number of visible floors
// and window columns, and the floor height in metres. A homography maps image points to the
// facade plane, so that a point's height in metres, its floor and window column, and the
// expected acceleration of gravity in pixels/s² at that point follow exactly for a camera
// looking up at the building (keystone), not only for a frontal view.
// Thread-safety: immutable after construction.
#pragma once

#include <array>

#include <opencv2/core.hpp>

namespace linli::edge::thrown {

inline constexpr double kGravity = 9.81;  // m/s²

struct FacadeSpec {
  // Bottom-left, bottom-right, top-right, top-left, normalised to the frame. The bottom edge
  // is the ground line of the lowest visible floor; the top edge the top of the highest one.
  std::array<cv::Point2f, 4> quad;
  int floors = 1;
  int columns = 1;
  int lowest_floor = 1;          // the number of the lowest visible floor
  double floor_height_m = 3.0;
  double width_m = 0;            // 0: from the quad, assuming square pixels
};

class FacadeModel {
 public:
  FacadeModel() = default;
  // `frame` is the size (in pixels) of the frames the points will be in.
  FacadeModel(const FacadeSpec& spec, cv::Size frame);

  const FacadeSpec& spec() const { return spec_; }
  cv::Size frame() const { return frame_; }
  double height_m() const { return height_m_; }
  double width_m() const { return width_m_; }

  // Facade-plane coordinates in metres: x to the right from the left edge, y up from the
  // ground line. Points outside the quad extrapolate.
  cv::Point2d ToMetres(cv::Point2d px) const;
  cv::Point2d ToPixels(cv::Point2d metres) const;
  // Pixels per metre (vertical) at an image point.
  double PxPerMetre(cv::Point2d px) const;
  // Gravity in pixels/s² at an image point (downward in the image).
  double GravityPx(cv::Point2d px) const { return kGravity * PxPerMetre(px); }
  // Floor number (lowest_floor at the bottom) and window column (1 = leftmost), clamped to
  // the facade.
  int FloorAt(cv::Point2d px) const;
  int WindowAt(cv::Point2d px) const;
  // Polygon of the quad in pixels.
  std::array<cv::Point2f, 4> QuadPx() const;

 private:
  FacadeSpec spec_;
  cv::Size frame_;
  cv::Matx33d unit_to_img_ = cv::Matx33d::eye();
  cv::Matx33d img_to_unit_ = cv::Matx33d::eye();
  double height_m_ = 3, width_m_ = 3;
};

}  // namespace linli::edge::thrown
