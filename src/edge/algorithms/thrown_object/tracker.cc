#include "edge/algorithms/thrown_object/tracker.h"

#include <algorithm>
#include <cmath>

namespace linli::edge::thrown {

Tracker::Tracker(const TrackerOptions& options, std::function<double(cv::Point2d)> gravity_px)
    : opt_(options), gravity_px_(std::move(gravity_px)) {
  tracks_.reserve(static_cast<size_t>(opt_.max_tracks));
}

void Tracker::Predict(Track& t, double dt) const {
  if (dt <= 0) return;
  const double g = gravity_px_({t.x[0], t.x[1]});
  const double a = opt_.gravity_prior * g;
  t.x[0] += t.x[2] * dt;
  t.x[1] += t.x[3] * dt + 0.5 * a * dt * dt;
  t.x[3] += a * dt;
  const cv::Matx44d f(1, 0, dt, 0,  //
                      0, 1, 0, dt,  //
                      0, 0, 1, 0,   //
                      0, 0, 0, 1);
  const double s = opt_.accel_noise_g * g;
  const double q = s * s;
  const double d2 = dt * dt, d3 = d2 * dt / 2, d4 = d2 * d2 / 4;
  const cv::Matx44d qm(d4 * q, 0, d3 * q, 0,  //
                       0, d4 * q, 0, d3 * q,  //
                       d3 * q, 0, d2 * q, 0,  //
                       0, d3 * q, 0, d2 * q);
  t.p = f * t.p * f.t() + qm;
}

void Tracker::Update(Track& t, const Blob& b, int64_t pts_ms) const {
  const double r = std::pow(opt_.measure_noise_px + 0.2 * b.size, 2);
  // S = H P H' + R (the top-left 2x2 block), K = P H' S^-1.
  const cv::Matx22d s(t.p(0, 0) + r, t.p(0, 1), t.p(1, 0), t.p(1, 1) + r);
  const cv::Matx22d si = s.inv();
  cv::Matx<double, 4, 2> ph;
  for (int i = 0; i < 4; ++i) {
    ph(i, 0) = t.p(i, 0);
    ph(i, 1) = t.p(i, 1);
  }
  const cv::Matx<double, 4, 2> k = ph * si;
  const cv::Vec2d y(b.centre.x - t.x[0], b.centre.y - t.x[1]);
  const cv::Vec4d dx = k * y;
  t.x += dx;
  cv::Matx44d kh = cv::Matx44d::zeros();
  for (int i = 0; i < 4; ++i) {
    kh(i, 0) = k(i, 0);
    kh(i, 1) = k(i, 1);
  }
  t.p = (cv::Matx44d::eye() - kh) * t.p;
  if (t.points.size() >= opt_.max_points) {
    t.points.erase(t.points.begin(), t.points.begin() + static_cast<long>(opt_.max_points / 4));
  }
  t.points.push_back({pts_ms, b.centre, b.box, b.size, b.area, b.context, b.activity, b.colour});
  t.misses = 0;
  t.hidden = 0;
  t.updated = true;
}

void Tracker::Step(int64_t pts_ms, std::span<const Blob> blobs, std::vector<Track>* ended) {
  for (Track& t : tracks_) {
    Predict(t, static_cast<double>(pts_ms - t.last_pts_ms) / 1000.0);
    t.last_pts_ms = pts_ms;
    t.updated = false;
  }
  // Gated candidate pairs, cheapest first.
  pairs_.clear();
  for (size_t ti = 0; ti < tracks_.size(); ++ti) {
    const Track& t = tracks_[ti];
    for (size_t bi = 0; bi < blobs.size(); ++bi) {
      const Blob& b = blobs[bi];
      if (b.weak && t.points.size() < 3) continue;
      const double ex = b.centre.x - t.x[0], ey = b.centre.y - t.x[1];
      const double r = std::pow(opt_.measure_noise_px + 0.2 * b.size, 2);
      const double a = t.p(0, 0) + r, bb = t.p(0, 1), d = t.p(1, 1) + r;
      const double det = a * d - bb * bb;
      if (det <= 0) continue;
      const double m2 = (d * ex * ex - 2 * bb * ex * ey + a * ey * ey) / det;
      const double dist = std::hypot(ex, ey);
      // Physical cap: from the last measurement, no faster than max_speed_mps (g' / 9.81 is
      // the scale in px per metre).
      const TrackPointPx& last = t.points.back();
      const double ppm = gravity_px_(last.centre) / 9.81;
      const double reach = opt_.max_speed_mps * ppm *
                               static_cast<double>(pts_ms - last.pts_ms) / 1000.0 +
                           opt_.min_gate_px + 0.5 * (b.size + last.size);
      if (std::hypot(b.centre.x - last.centre.x, b.centre.y - last.centre.y) > reach) continue;
      const bool in_gate = m2 <= opt_.gate_sigma * opt_.gate_sigma ||
                           dist <= opt_.min_gate_px + 0.5 * b.size;
      if (!in_gate) continue;
      pairs_.push_back({m2, static_cast<int>(ti), static_cast<int>(bi)});
    }
  }
  std::sort(pairs_.begin(), pairs_.end(), [](const Pair& x, const Pair& y) {
    return x.cost != y.cost ? x.cost < y.cost : (x.track != y.track ? x.track < y.track
                                                                   : x.blob < y.blob);
  });
  track_used_.assign(tracks_.size(), 0);
  blob_used_.assign(blobs.size(), 0);
  for (const Pair& pr : pairs_) {
    if (track_used_[static_cast<size_t>(pr.track)] || blob_used_[static_cast<size_t>(pr.blob)]) {
      continue;
    }
    track_used_[static_cast<size_t>(pr.track)] = 1;
    blob_used_[static_cast<size_t>(pr.blob)] = 1;
    Update(tracks_[static_cast<size_t>(pr.track)], blobs[static_cast<size_t>(pr.blob)], pts_ms);
  }
  // Misses and ends. A track seen once gives up sooner: most of those are noise.
  for (size_t ti = 0; ti < tracks_.size();) {
    Track& t = tracks_[ti];
    if (!t.updated) {
      if (t.points.size() >= 3 && t.hidden < opt_.max_hidden_frames && hidden_ && hidden_(t)) {
        ++t.hidden;
        t.hidden_ms.push_back(pts_ms);
        if (t.hidden_ms.size() > 256) {
          t.hidden_ms.erase(t.hidden_ms.begin(), t.hidden_ms.begin() + 64);
        }
      } else {
        ++t.misses;
      }
    }
    const int allowed = t.points.size() <= 1 ? std::min(opt_.max_gap_frames, 1)
                                             : opt_.max_gap_frames;
    if (t.misses > allowed) {
      if (ended) ended->push_back(std::move(t));
      tracks_.erase(tracks_.begin() + static_cast<long>(ti));
    } else {
      ++ti;
    }
  }
  // New tracks for unassigned blobs, compact ones first (rain streaks are thin lines). When
  // the budget is spent, a young track (at most 2 points) makes room.
  order_.clear();
  for (size_t bi = 0; bi < blobs.size(); ++bi) {
    if (!blob_used_[bi] && !blobs[bi].weak) order_.push_back(static_cast<int>(bi));
  }
  auto Fill = [&](int bi) {
    const Blob& b = blobs[static_cast<size_t>(bi)];
    return b.area / std::max(1.0, static_cast<double>(b.box.area()));
  };
  std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return Fill(a) > Fill(b); });
  for (int bi : order_) {
    const Blob& b = blobs[static_cast<size_t>(bi)];
    if (static_cast<int>(tracks_.size()) >= opt_.max_tracks) {
      size_t victim = tracks_.size();
      for (size_t ti = 0; ti < tracks_.size(); ++ti) {
        const Track& t = tracks_[ti];
        if (t.points.size() > 2 || t.confirmed || t.updated) continue;
        if (victim == tracks_.size() || t.points.size() < tracks_[victim].points.size()) {
          victim = ti;
        }
      }
      if (victim == tracks_.size()) break;
      if (ended) ended->push_back(std::move(tracks_[victim]));
      tracks_.erase(tracks_.begin() + static_cast<long>(victim));
    }
    Track t;
    t.id = next_id_++;
    t.x = cv::Vec4d(b.centre.x, b.centre.y, 0, 0);
    const double sv = opt_.initial_speed_mps * gravity_px_(b.centre) / 9.81;
    const double sm = std::pow(opt_.measure_noise_px + 0.2 * b.size, 2);
    t.p = cv::Matx44d(sm, 0, 0, 0, 0, sm, 0, 0, 0, 0, sv * sv, 0, 0, 0, 0, sv * sv);
    t.last_pts_ms = pts_ms;
    t.points.reserve(64);
    t.points.push_back({pts_ms, b.centre, b.box, b.size, b.area, b.context, b.activity, b.colour});
    t.updated = true;
    tracks_.push_back(std::move(t));
  }
}

void Tracker::Flush(std::vector<Track>* ended) {
  if (ended) {
    for (Track& t : tracks_) ended->push_back(std::move(t));
  }
  tracks_.clear();
}

}  // namespace linli::edge::thrown
