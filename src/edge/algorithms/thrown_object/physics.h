// Trajectory physics of the thrown-object analyzer: least-squares fits of a track's points and
// the test that accepts a track as a falling object — in facade metres, it must fall far
// enough, accelerate downward like gravity (y(t) = y0 + v0 t - ½ g' t², g' close to 9.81 m/s²),
// fit that parabola closely, and move sideways slowly and steadily. Everything a bird, a leaf,
// rain, laundry or a light switching on does fails at least one of these.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include <opencv2/core.hpp>

#include "edge/algorithms/thrown_object/facade.h"

namespace linli::edge::thrown {

// y = c0 + c1 t + c2 t².
struct QuadraticFit {
  double c0 = 0, c1 = 0, c2 = 0;
  double rms = 0;  // root mean square residual
};
// y = c0 + c1 t.
struct LinearFit {
  double c0 = 0, c1 = 0;
  double rms = 0;
};

// nullopt if fewer than 3 (2) points or the times are degenerate.
std::optional<QuadraticFit> FitQuadratic(std::span<const double> t, std::span<const double> y);
std::optional<LinearFit> FitLinear(std::span<const double> t, std::span<const double> y);

// One observed point of a track, in the analyzer's frame pixels.
struct FallPoint {
  double t_s = 0;        // seconds (any origin; only differences matter)
  cv::Point2d px;        // blob centroid
  double size_px = 0;    // blob's largest dimension
  // What the object looks like and where it is (0 = unknown/none; pure physics tests leave
  // them so):
  double area_px = 0;    // blob's pixel count
  double context = 0;    // foreground around the blob (a ring of about its size) / its area:
                         // a thrown object is alone on the wall, a limb or a branch is part of
                         // something larger that moves with it
  double activity = 0;   // how busy the blob's place was in the last seconds, 0..1: a falling
                         // object crosses a wall that was still; a swaying tree or people
                         // walking keep their region busy
};

struct FallLimits {
  int min_points = 6;
  double min_duration_s = 0.28;
  double min_fall_m = 2.5;        // visible fall
  double min_fall_sizes = 3;      // ... and at least this many times the object's size (a blob
                                  // whose centroid drifts inside itself does not fall)
  double gravity_min = 0.55;      // accepted g' as a fraction of 9.81 m/s²
  double gravity_max = 1.5;
  double max_horizontal_mps = 6;  // |vx|
  double max_residual_px = 1.2;   // vertical rms residual, plus residual_size_factor * size
  double residual_size_factor = 0.15;
  double max_horizontal_residual_px = 1.6;  // plus residual_size_factor * size
  double max_horizontal_accel = 0.3;  // |x''| as a fraction of the fitted g' (a circling bird
                                      // accelerates sideways as much as down; air drag barely)
  double min_hit_ratio = 0.6;       // measured points / frames spanned (random chains of rain
                                    // streaks or insect fragments skip many frames)
  double frame_interval_s = 0;      // set by the analyzer from the camera rate; 0 = no check
  double max_origin_above_m = 6;    // the parabola's apex may lie this far above the facade
  double origin_backtrack_s = 0.5;  // how far before the first point the origin may lie
  // What the track is, beyond its motion (points without appearance data pass):
  double max_context = 0.5;      // median foreground around the blob / its area ("attached":
                                 // a limb of a walking person, a piece of a swaying tree)
  double max_activity = 0.3;     // median activity of the places the fall crossed once it left
                                 // its start ("busy": a tree, people walking, a flag)
  double max_size_jumps = 0.34;  // fraction of consecutive points whose area changes more than
                                 // 2.5x ("unsteady": fragments that split and merge)
  double max_upswing_sizes = 1.5;  // before the fall, the track rose by more than this many
                                   // sizes (+ 3 px) within the last 3 s ("oscillating": a
                                   // branch or laundry swinging down from its turning point)
};

struct FallVerdict {
  bool accepted = false;
  std::string_view reason;  // "ok" or why not: "few_points", "short", "gravity", ...
  double g_mps2 = 0;        // fitted downward acceleration
  double vx_mps = 0;        // horizontal speed
  double ax_mps2 = 0;       // horizontal acceleration
  double v0_mps = 0;        // vertical speed at the first point, positive downward
  double rms_px = 0, rms_x_px = 0;
  double fall_m = 0, fall_px = 0, duration_s = 0;
  cv::Point2d origin_px;    // where the fall began (apex of the parabola or first point)
  double origin_t_s = 0;    // its time (same origin as the points' t_s)
  double score = 0;         // [0, 1]
  double context = 0, activity = 0, size_jumps = 0;  // see FallLimits
};

// Where a fall that began from rest starts: the index of the last point at which the object
// had been still for `min_rest` points (all of them within `rest_px` plus a third of the
// object's size of it) — a pot pushed off a sill, a bag held out of a window, or a track that
// sat on a flickering lit window or shake residue before the object's fall passed through it
// and took the track over. 0 if the object never rested. Testing and fitting the fall from
// there keeps the still part out of the parabola and puts the origin where the fall began.
size_t DepartureIndex(std::span<const FallPoint> points, int min_rest = 5, double rest_px = 1.5);

// How far (px) a track rose before its fall: the largest upward movement (later point
// higher in the image) among `before`, the points preceding the fall's first point, in time
// order, limited to the last `window_s` seconds before `fall_start_s`. A thrown object rests,
// or is tossed up as part of its fall; a swinging branch or garment comes back up.
double Upswing(std::span<const FallPoint> before, double fall_start_s, double window_s = 3.0);

// Tests a track (points in time order) against the facade's gravity. Always fills the fitted
// quantities it could compute; `accepted` only if every limit holds. `hidden_frames`: frames
// between the first and the last point in which the object was where it could not be seen
// (Track::hidden_ms); they do not count as gaps for min_hit_ratio.
FallVerdict TestFall(std::span<const FallPoint> points, const FacadeModel& facade,
                     const FallLimits& limits, int hidden_frames = 0);

}  // namespace linli::edge::thrown
