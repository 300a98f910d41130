// Tests of the facade model, the trajectory fits and the fall test.
#include "edge/algorithms/thrown_object/physics.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "edge/algorithms/thrown_object/facade.h"
#include "edge/testing/scene_gen/rng.h"

namespace linli::edge::thrown {
namespace {

// A frontal facade: 10 floors of 3 m over 600 px (20 px/m), 1000 px wide, in a 1200x800 frame.
FacadeModel Frontal() {
  FacadeSpec s;
  s.quad = {cv::Point2f(100.f / 1200, 700.f / 800), cv::Point2f(1100.f / 1200, 700.f / 800),
            cv::Point2f(1100.f / 1200, 100.f / 800), cv::Point2f(100.f / 1200, 100.f / 800)};
  s.floors = 10;
  s.columns = 5;
  s.floor_height_m = 3;
  return FacadeModel(s, {1200, 800});
}

// A camera looking up: the top edge 20% narrower, so upper floors are smaller.
FacadeModel Keystone() {
  FacadeSpec s;
  s.quad = {cv::Point2f(0.1f, 0.9f), cv::Point2f(0.9f, 0.9f), cv::Point2f(0.82f, 0.1f),
            cv::Point2f(0.18f, 0.1f)};
  s.floors = 12;
  s.columns = 6;
  s.floor_height_m = 3;
  return FacadeModel(s, {1280, 720});
}

// Points of a body released at (x0, y0) metres with velocity (vx, vy) m/s under gravity
// `g`, sampled at `fps` for `seconds`, projected through the facade, with pixel noise.
std::vector<FallPoint> Fall(const FacadeModel& f, double x0, double y0, double vx, double vy,
                            double g, double fps, double seconds, double noise_px = 0,
                            double size_px = 4, uint64_t seed = 1) {
  scene_gen::Rng r(seed);
  std::vector<FallPoint> pts;
  for (int i = 0; i <= static_cast<int>(seconds * fps); ++i) {
    double t = i / fps;
    cv::Point2d px = f.ToPixels({x0 + vx * t, y0 + vy * t - 0.5 * g * t * t});
    px += cv::Point2d(r.N(0, noise_px), r.N(0, noise_px));
    pts.push_back({10.0 + t, px, size_px});
  }
  return pts;
}

TEST(Facade, MetresFloorsAndWindows) {
  FacadeModel f = Frontal();
  EXPECT_NEAR(f.width_m(), 50, 1e-6);  // 1000 px at 20 px/m
  EXPECT_NEAR(f.height_m(), 30, 1e-9);
  cv::Point2d m = f.ToMetres({600, 400});
  EXPECT_NEAR(m.x, 25, 1e-6);
  EXPECT_NEAR(m.y, 15, 1e-6);
  EXPECT_NEAR(f.PxPerMetre({600, 400}), 20, 1e-6);
  EXPECT_NEAR(f.GravityPx({600, 400}), 9.81 * 20, 1e-4);
  EXPECT_EQ(f.FloorAt({600, 699}), 1);
  EXPECT_EQ(f.FloorAt({600, 101}), 10);
  EXPECT_EQ(f.FloorAt({600, 5}), 10);  // clamped
  EXPECT_EQ(f.WindowAt({101, 400}), 1);
  EXPECT_EQ(f.WindowAt({1099, 400}), 5);
  cv::Point2d back = f.ToPixels(f.ToMetres({321, 456}));
  EXPECT_NEAR(back.x, 321, 1e-6);
  EXPECT_NEAR(back.y, 456, 1e-6);
}

TEST(Facade, KeystoneShrinksUpperFloors) {
  FacadeModel f = Keystone();
  const double low = f.PxPerMetre(f.ToPixels({10, 2}));
  const double high = f.PxPerMetre(f.ToPixels({10, 34}));
  EXPECT_GT(low, high * 1.1);
}

TEST(Fit, ExactParabola) {
  std::vector<double> t, y;
  for (int i = 0; i < 20; ++i) {
    t.push_back(3.0 + i * 0.04);
    y.push_back(7 - 2 * t.back() + 0.5 * 9.81 * t.back() * t.back());
  }
  auto q = FitQuadratic(t, y);
  ASSERT_TRUE(q);
  EXPECT_NEAR(q->c0, 7, 1e-6);
  EXPECT_NEAR(q->c1, -2, 1e-6);
  EXPECT_NEAR(q->c2, 4.905, 1e-7);
  EXPECT_LT(q->rms, 1e-7);
  auto l = FitLinear(t, t);
  ASSERT_TRUE(l);
  EXPECT_NEAR(l->c1, 1, 1e-9);
  EXPECT_FALSE(FitQuadratic(std::vector<double>{1, 1, 1}, std::vector<double>{1, 2, 3}));
  EXPECT_FALSE(FitLinear(std::vector<double>{1}, std::vector<double>{1}));
}

TEST(Fit, NoisyParabola) {
  scene_gen::Rng r(3);
  std::vector<double> t, y;
  for (int i = 0; i < 40; ++i) {
    t.push_back(i / 25.0);
    y.push_back(100 + 20 * t.back() + 0.5 * 196 * t.back() * t.back() + r.N(0, 0.7));
  }
  auto q = FitQuadratic(t, y);
  ASSERT_TRUE(q);
  EXPECT_NEAR(2 * q->c2, 196, 196 * 0.05);
  EXPECT_NEAR(q->rms, 0.7, 0.25);
}

TEST(FallTest, DroppedObjectIsAccepted) {
  FacadeModel f = Frontal();
  auto pts = Fall(f, 20, 25, 0.5, 0, 9.81, 25, 1.2, 0.3);
  FallVerdict v = TestFall(pts, f, FallLimits());
  EXPECT_TRUE(v.accepted) << v.reason;
  EXPECT_NEAR(v.g_mps2, 9.81, 0.6);
  EXPECT_NEAR(v.vx_mps, 0.5, 0.2);
  EXPECT_GT(v.fall_m, 6);
  // Released at rest: the origin is the first point.
  EXPECT_NEAR(v.origin_px.x, pts.front().px.x, 2);
  EXPECT_NEAR(v.origin_px.y, pts.front().px.y, 2);
  EXPECT_GT(v.score, 0.8);
}

TEST(FallTest, OriginIsBackExtrapolatedToTheApex) {
  FacadeModel f = Frontal();
  // Seen only from 0.3 s after release (already falling at ~3 m/s).
  auto all = Fall(f, 20, 25, 0, 0, 9.81, 25, 1.4);
  std::vector<FallPoint> late(all.begin() + 8, all.end());
  FallVerdict v = TestFall(late, f, FallLimits());
  ASSERT_TRUE(v.accepted) << v.reason;
  EXPECT_NEAR(v.origin_px.y, all.front().px.y, 1.5);
  EXPECT_NEAR(v.origin_t_s, all.front().t_s, 0.02);
}

TEST(FallTest, GravityHoldsUnderPerspective) {
  FacadeModel f = Keystone();
  auto pts = Fall(f, 12, 30, -1, 1.5, 9.81, 25, 1.5, 0.4);
  FallVerdict v = TestFall(pts, f, FallLimits());
  EXPECT_TRUE(v.accepted) << v.reason;
  EXPECT_NEAR(v.g_mps2, 9.81, 0.8);
}

TEST(FallTest, NonFallsAreRejected) {
  FacadeModel f = Frontal();
  FallLimits lim;
  // A glide at constant speed (a bird going down, rain): no acceleration.
  EXPECT_EQ(TestFall(Fall(f, 20, 25, 2, -6, 0, 25, 1.2), f, lim).reason, "gravity_low");
  // A leaf: 0.6 m/s.
  EXPECT_EQ(TestFall(Fall(f, 20, 25, 0.5, -0.6, 0, 25, 3), f, lim).reason, "short_fall");
  // Accelerating upward (a bird climbing).
  EXPECT_EQ(TestFall(Fall(f, 20, 5, 0, 1, -9.81, 25, 1.5), f, lim).reason, "short_fall");
  // Three times gravity.
  EXPECT_EQ(TestFall(Fall(f, 20, 28, 0, 0, 30, 25, 0.8), f, lim).reason, "gravity_high");
  // Falling like an object but flying sideways at 12 m/s.
  EXPECT_EQ(TestFall(Fall(f, 5, 25, 12, 0, 9.81, 25, 1.2), f, lim).reason, "fast_sideways");
  // Too few points and too short.
  auto few = Fall(f, 20, 25, 0, 0, 9.81, 25, 0.16);
  EXPECT_EQ(TestFall(few, f, lim).reason, "few_points");
  // Jittering around a parabola by several pixels (random associations).
  EXPECT_EQ(TestFall(Fall(f, 20, 25, 0, 0, 9.81, 25, 1.2, 6.0), f, lim).reason,
            "not_parabolic");
  // A big blob whose centroid sinks less than its own size (a window being absorbed).
  EXPECT_EQ(TestFall(Fall(f, 20, 25, 0, 0, 9.81, 25, 0.8, 0, 150), f, lim).reason, "drift");
}

TEST(FallTest, AFallFromRestIsTestedFromItsDeparture) {
  FacadeModel f = Frontal();
  // 1.2 s still on a sill (pixel noise), then released: the whole track is no parabola.
  std::vector<FallPoint> pts = Fall(f, 20, 25, 0, 0, 0, 25, 1.15, 0.3, 4, 3);
  const size_t rest_points = pts.size();
  const auto fall = Fall(f, 20, 25, 0.3, 0, 9.81, 25, 1.2, 0.3, 4, 4);
  for (FallPoint p : fall) {
    p.t_s += 1.2;
    pts.push_back(p);
  }
  EXPECT_FALSE(TestFall(pts, f, FallLimits()).accepted);
  const size_t d = DepartureIndex(pts);
  EXPECT_GE(d, rest_points - 1);
  EXPECT_LE(d, rest_points + 4);  // the first frames of a fall move less than the tolerance
  std::span<const FallPoint> from(pts.begin() + static_cast<long>(d), pts.end());
  FallVerdict v = TestFall(from, f, FallLimits());
  ASSERT_TRUE(v.accepted) << v.reason;
  EXPECT_NEAR(v.g_mps2, 9.81, 1.5);
  EXPECT_NEAR(v.origin_px.y, fall.front().px.y, 3);
  // A fall seen from its release never rested: nothing is cut.
  EXPECT_EQ(DepartureIndex(Fall(f, 20, 25, 0, -3, 9.81, 25, 1.2, 0.3)), 0u);
}

TEST(FallTest, GappyChainsAreRejected) {
  FacadeModel f = Frontal();
  FallLimits lim;
  lim.frame_interval_s = 1.0 / 25;
  auto pts = Fall(f, 20, 25, 0, 0, 9.81, 25, 1.2);
  std::vector<FallPoint> every_third;
  for (size_t i = 0; i < pts.size(); i += 3) every_third.push_back(pts[i]);
  EXPECT_EQ(TestFall(every_third, f, lim).reason, "gappy");
  EXPECT_TRUE(TestFall(pts, f, lim).accepted);
  // The same chain where the frames between were ones the object could not be seen in (it
  // crossed window rows of its own colour): not a gap.
  const int between = 3 * static_cast<int>(every_third.size() - 1) + 1 -
                      static_cast<int>(every_third.size());  // frames between its points
  EXPECT_NE(TestFall(every_third, f, lim, between).reason, "gappy");
  EXPECT_EQ(TestFall(every_third, f, lim, between / 4).reason, "gappy");
}

}  // namespace
}  // namespace linli::edge::thrown
