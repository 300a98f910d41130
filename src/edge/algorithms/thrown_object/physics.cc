#include "edge/algorithms/thrown_object/physics.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace linli::edge::thrown {

std::optional<QuadraticFit> FitQuadratic(std::span<const double> t, std::span<const double> y) {
  const size_t n = std::min(t.size(), y.size());
  if (n < 3) return std::nullopt;
  // Centre and scale time for a well-conditioned system.
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += t[i];
  mean /= static_cast<double>(n);
  double span = 0;
  for (size_t i = 0; i < n; ++i) span = std::max(span, std::abs(t[i] - mean));
  if (span <= 1e-9) return std::nullopt;
  double s[5] = {0, 0, 0, 0, 0}, r[3] = {0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    double u = (t[i] - mean) / span, p = 1;
    for (int k = 0; k < 5; ++k) {
      s[k] += p;
      if (k < 3) r[k] += p * y[i];
      p *= u;
    }
  }
  // Normal equations [s0 s1 s2; s1 s2 s3; s2 s3 s4] [a b c] = r, by Cramer's rule.
  auto Det = [](double a, double b, double c, double d, double e, double f, double g, double h,
                double i) { return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g); };
  double D = Det(s[0], s[1], s[2], s[1], s[2], s[3], s[2], s[3], s[4]);
  if (std::abs(D) < 1e-12) return std::nullopt;
  double a = Det(r[0], s[1], s[2], r[1], s[2], s[3], r[2], s[3], s[4]) / D;
  double b = Det(s[0], r[0], s[2], s[1], r[1], s[3], s[2], r[2], s[4]) / D;
  double c = Det(s[0], s[1], r[0], s[1], s[2], r[1], s[2], s[3], r[2]) / D;
  // Back to unscaled time: y = a + b u + c u², u = (t - mean) / span.
  b /= span;
  c /= span * span;
  QuadraticFit f;
  f.c2 = c;
  f.c1 = b - 2 * c * mean;
  f.c0 = a - b * mean + c * mean * mean;
  double ss = 0;
  for (size_t i = 0; i < n; ++i) {
    double e = y[i] - (f.c0 + f.c1 * t[i] + f.c2 * t[i] * t[i]);
    ss += e * e;
  }
  f.rms = std::sqrt(ss / static_cast<double>(n));
  return f;
}

std::optional<LinearFit> FitLinear(std::span<const double> t, std::span<const double> y) {
  const size_t n = std::min(t.size(), y.size());
  if (n < 2) return std::nullopt;
  double mt = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mt += t[i];
    my += y[i];
  }
  mt /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double stt = 0, sty = 0;
  for (size_t i = 0; i < n; ++i) {
    stt += (t[i] - mt) * (t[i] - mt);
    sty += (t[i] - mt) * (y[i] - my);
  }
  if (stt <= 1e-12) return std::nullopt;
  LinearFit f;
  f.c1 = sty / stt;
  f.c0 = my - f.c1 * mt;
  double ss = 0;
  for (size_t i = 0; i < n; ++i) {
    double e = y[i] - (f.c0 + f.c1 * t[i]);
    ss += e * e;
  }
  f.rms = std::sqrt(ss / static_cast<double>(n));
  return f;
}

size_t DepartureIndex(std::span<const FallPoint> points, int min_rest, double rest_px) {
  const size_t m = static_cast<size_t>(std::max(1, min_rest));
  for (size_t i = points.size(); i-- > m;) {
    const FallPoint& p = points[i];
    bool still = true;
    for (size_t k = i - m; k < i && still; ++k) {
      const double tol = rest_px + (std::max(p.size_px, points[k].size_px)) / 3.0;
      still = std::hypot(points[k].px.x - p.px.x, points[k].px.y - p.px.y) <= tol;
    }
    // The still stretch ends at i (within the tolerance the fall may have begun a little
    // earlier; starting the test at the stretch's first point instead lets more swaying and
    // jittering residue pass on the tuning set, and the origin fit backtracks to the apex).
    if (still) return i;
  }
  return 0;
}

double Upswing(std::span<const FallPoint> before, double fall_start_s, double window_s) {
  double lowest = -1e18, rise = 0;  // lowest = largest y so far
  for (const FallPoint& p : before) {
    if (p.t_s < fall_start_s - window_s) continue;
    lowest = std::max(lowest, p.px.y);
    rise = std::max(rise, lowest - p.px.y);
  }
  return rise;
}

namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Appearance features of a fall (FallPoint's context/activity/area).
void Appearance(std::span<const FallPoint> points, FallVerdict* v) {
  std::vector<double> ctx, act;
  const FallPoint& p0 = points.front();
  int pairs = 0, jumps = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const FallPoint& p = points[i];
    ctx.push_back(p.context);
    // Activity once the object has left its start (a hand that held it out of a window,
    // the object resting on the sill before the push, keep the start busy).
    if (std::hypot(p.px.x - p0.px.x, p.px.y - p0.px.y) > 2 * std::max(2.0, p0.size_px)) {
      act.push_back(p.activity);
    }
    if (i > 0 && p.area_px > 0 && points[i - 1].area_px > 0) {
      ++pairs;
      const double r = p.area_px / points[i - 1].area_px;
      jumps += r > 2.5 || r < 1 / 2.5;
    }
  }
  if (act.size() < 3) {
    act.clear();
    for (const FallPoint& p : points) act.push_back(p.activity);
  }
  v->context = Median(ctx);
  v->activity = Median(act);
  v->size_jumps = pairs > 0 ? static_cast<double>(jumps) / pairs : 0;
}

}  // namespace

FallVerdict TestFall(std::span<const FallPoint> points, const FacadeModel& facade,
                     const FallLimits& limits, int hidden_frames) {
  FallVerdict v;
  const size_t n = points.size();
  if (n < 3 || static_cast<int>(n) < limits.min_points) {
    v.reason = "few_points";
    return v;
  }
  const double t0 = points.front().t_s;
  v.duration_s = points.back().t_s - t0;
  std::vector<double> t(n), xm(n), ym(n);
  double ppm = 0, size = 0;
  std::vector<double> sizes(n);
  for (size_t i = 0; i < n; ++i) {
    sizes[i] = points[i].size_px;
    t[i] = points[i].t_s - t0;
    cv::Point2d m = facade.ToMetres(points[i].px);
    xm[i] = m.x;
    ym[i] = m.y;
    ppm += facade.PxPerMetre(points[i].px);
    size += points[i].size_px;
  }
  ppm /= static_cast<double>(n);
  size /= static_cast<double>(n);
  std::nth_element(sizes.begin(), sizes.begin() + static_cast<long>(n / 2), sizes.end());
  const double median_size = sizes[n / 2];
  auto q = FitQuadratic(t, ym);
  auto lx = FitLinear(t, xm);
  if (!q || !lx || ppm <= 0) {
    v.reason = "degenerate";
    return v;
  }
  // Robustness: a few points that belong to something else (a raindrop the tracker took
  // while the object was hidden, a frame mis-aligned by shake) are dropped if they lie far
  // outside the fit — at most a fifth of them — and the fit is repeated.
  {
    std::vector<double> res(n);
    for (size_t i = 0; i < n; ++i) {
      const double ey = ym[i] - (q->c0 + q->c1 * t[i] + q->c2 * t[i] * t[i]);
      const double ex = xm[i] - (lx->c0 + lx->c1 * t[i]);
      res[i] = std::hypot(ex, ey) * ppm;
    }
    std::vector<double> sorted = res;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(n / 2), sorted.end());
    const double cut = std::max(2.5, 3.0 * sorted[n / 2]);
    std::vector<double> t2, x2, y2;
    for (size_t i = 0; i < n; ++i) {
      if (res[i] <= cut) {
        t2.push_back(t[i]);
        x2.push_back(xm[i]);
        y2.push_back(ym[i]);
      }
    }
    if (t2.size() < n && t2.size() * 5 >= n * 4 && t2.size() >= 3) {
      auto q2 = FitQuadratic(t2, y2);
      auto l2 = FitLinear(t2, x2);
      if (q2 && l2) {
        q = q2;
        lx = l2;
        t.swap(t2);
        xm.swap(x2);
        ym.swap(y2);
      }
    }
  }
  auto qx = FitQuadratic(t, xm);
  v.g_mps2 = -2 * q->c2;
  v.v0_mps = -q->c1;
  v.vx_mps = lx->c1;
  v.rms_px = q->rms * ppm;
  v.rms_x_px = lx->rms * ppm;
  v.ax_mps2 = qx ? 2 * qx->c2 : 0;
  // Curvature that is visible (the straight line misses by more than the noise) and large.
  const bool curved = qx && std::abs(v.ax_mps2) > limits.max_horizontal_accel *
                                                    std::max(v.g_mps2, kGravity * 0.5) &&
                      v.rms_x_px > 0.6 && lx->rms > 1.5 * qx->rms;
  auto Y = [&](double tt) { return q->c0 + q->c1 * tt + q->c2 * tt * tt; };
  const double tn = t.back();
  double top = Y(0);
  double t_apex = q->c2 < 0 ? -q->c1 / (2 * q->c2) : -1e9;
  if (t_apex > 0 && t_apex < tn) top = std::max(top, Y(t_apex));
  v.fall_m = top - Y(tn);
  v.fall_px = std::abs(points.back().px.y - points.front().px.y);
  // Origin: the apex if it lies shortly before the first point (the object was dropped or
  // thrown and first seen a little later), the first point if the object was seen rising,
  // else the furthest allowed back-extrapolation.
  double t_origin = 0;
  if (q->c2 < 0 && t_apex < 0) t_origin = std::max(t_apex, -limits.origin_backtrack_s);
  cv::Point2d om(lx->c0 + lx->c1 * t_origin, Y(t_origin));
  om.y = std::min(om.y, facade.height_m());
  v.origin_px = facade.ToPixels(om);
  v.origin_t_s = t0 + t_origin;

  // Where the parabola started (velocity zero), however far back: far above the facade means
  // the thing came in fast from the sky (a diving bird, an artifact), not out of a window.
  const double apex_above =
      q->c2 < 0 && t_apex < 0 ? Y(t_apex) - facade.height_m() : -1e9;
  const double g_ratio = v.g_mps2 / kGravity;
  const double max_rms = limits.max_residual_px + limits.residual_size_factor * size;
  const double max_rms_x = limits.max_horizontal_residual_px + limits.residual_size_factor * size;
  {
    double gq = std::exp(-0.5 * std::pow((g_ratio - 1) / 0.25, 2));
    double rq = std::clamp(1 - v.rms_px / std::max(1e-6, max_rms), 0.0, 1.0);
    double nq = std::min(1.0, static_cast<double>(n) / 12.0);
    double fq = std::min(1.0, v.fall_m / std::max(1e-6, 2 * limits.min_fall_m));
    v.score = 0.4 * gq + 0.3 * rq + 0.15 * nq + 0.15 * fq;
  }
  const double spanned =
      limits.frame_interval_s > 0
          ? std::max(static_cast<double>(n),
                     v.duration_s / limits.frame_interval_s + 1 - std::max(0, hidden_frames))
          : static_cast<double>(n);
  if (v.duration_s < limits.min_duration_s) {
    v.reason = "short_time";
  } else if (static_cast<double>(n) < limits.min_hit_ratio * spanned) {
    v.reason = "gappy";
  } else if (v.fall_m < limits.min_fall_m) {
    v.reason = "short_fall";
  } else if (v.fall_px < limits.min_fall_sizes * median_size) {
    v.reason = "drift";
  } else if (g_ratio < limits.gravity_min) {
    v.reason = "gravity_low";
  } else if (g_ratio > limits.gravity_max) {
    v.reason = "gravity_high";
  } else if (v.rms_px > max_rms) {
    v.reason = "not_parabolic";
  } else if (std::abs(v.vx_mps) > limits.max_horizontal_mps) {
    v.reason = "fast_sideways";
  } else if (v.rms_x_px > max_rms_x) {
    v.reason = "erratic_sideways";
  } else if (curved) {
    v.reason = "curved_sideways";
  } else if (apex_above > limits.max_origin_above_m) {
    v.reason = "from_above";
  } else if (Appearance(points, &v), v.context > limits.max_context) {
    v.reason = "attached";
  } else if (v.activity > limits.max_activity) {
    v.reason = "busy";
  } else if (v.size_jumps > limits.max_size_jumps) {
    v.reason = "unsteady";
  } else {
    v.accepted = true;
    v.reason = "ok";
    v.score = 0.5 + 0.5 * v.score;
    return v;
  }
  v.score *= 0.5;
  return v;
}

}  // namespace linli::edge::thrown
