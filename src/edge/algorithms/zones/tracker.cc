#include "edge/algorithms/zones/tracker.h"

#include <algorithm>
#include <cmath>

namespace linli::edge {

namespace {

float Iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

cv::Point2f Centre(const cv::Rect2f& r) { return {r.x + r.width / 2, r.y + r.height / 2}; }

}  // namespace

const Track* PeopleTracker::Find(int id) const {
  for (const auto& t : tracks_)
    if (t.id == id) return &t;
  return nullptr;
}

std::vector<int> PeopleTracker::Update(int64_t pts_ms, const std::vector<Detection>& dets) {
  // Predict each track's box at pts_ms from where it was last seen (velocity capped so a
  // bridged track cannot fly off; the box of a bridged track is already a prediction, so
  // moving it on again would compound).
  std::vector<cv::Rect2f> predicted, seen;
  predicted.reserve(tracks_.size());
  seen.reserve(tracks_.size());
  for (const auto& t : tracks_) {
    float dt = static_cast<float>(std::min<int64_t>(pts_ms - t.last_ms, 1000));
    cv::Point2f v = t.velocity;
    float speed = std::hypot(v.x, v.y), cap = t.box.height / 1000.f;  // ≤ 1 height per s
    if (speed > cap && speed > 0) v *= cap / speed;
    cv::Rect2f from = t.box;
    if (!t.path.empty()) {
      const TrackPoint& feet = t.path.back();
      from = cv::Rect2f(feet.x - t.box.width / 2, feet.y - t.box.height, t.box.width,
                        t.box.height);
    }
    seen.push_back(from);
    predicted.emplace_back(from.x + v.x * dt, from.y + v.y * dt, from.width, from.height);
  }
  struct Pair {
    float cost;
    std::size_t t, d;
  };
  std::vector<Pair> pairs;
  for (std::size_t i = 0; i < tracks_.size(); ++i) {
    for (std::size_t j = 0; j < dets.size(); ++j) {
      const cv::Rect2f& p = predicted[i];
      const cv::Rect2f& d = dets[j].box;
      float iou = Iou(p, d);
      float h = std::max(1.f, (p.height + d.height) / 2);
      cv::Point2f delta = Centre(p) - Centre(d);
      float dist = std::hypot(delta.x, delta.y) / h;
      float size_ratio = std::max(p.height, d.height) / std::max(1.f, std::min(p.height, d.height));
      if ((iou < p_.min_iou && dist > p_.max_distance) || size_ratio > 1.8f) continue;
      if (dist > p_.max_distance * 1.5f) continue;
      pairs.push_back({(1 - iou) + dist, i, j});
    }
  }
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
    return a.cost != b.cost ? a.cost < b.cost : (a.t != b.t ? a.t < b.t : a.d < b.d);
  });
  std::vector<bool> t_used(tracks_.size(), false), d_used(dets.size(), false);
  for (auto& t : tracks_) t.matched = t.detected = false;
  for (const auto& pr : pairs) {
    if (t_used[pr.t] || d_used[pr.d]) continue;
    t_used[pr.t] = d_used[pr.d] = true;
    Track& t = tracks_[pr.t];
    const Detection& d = dets[pr.d];
    float dt = static_cast<float>(std::max<int64_t>(pts_ms - t.last_ms, 1));
    cv::Point2f v = (Centre(d.box) - Centre(seen[pr.t])) * (1.f / dt);
    t.velocity = t.hits > 1 ? 0.6f * t.velocity + 0.4f * v : v;
    t.box = d.box;
    t.score = d.score;
    t.mean_score = (t.mean_score * t.hits + d.score) / (t.hits + 1);
    ++t.hits;
    t.matched = t.detected = true;
    t.last_ms = t.detected_ms = pts_ms;
    if (t.hits >= p_.min_hits) t.confirmed = true;
    t.path.push_back({pts_ms, d.box.x + d.box.width / 2, d.box.y + d.box.height});
    if (t.path.size() > p_.max_path) t.path.erase(t.path.begin());
  }
  // Unmatched tracks keep their predicted box while bridged.
  for (std::size_t i = 0; i < tracks_.size(); ++i)
    if (!t_used[i]) tracks_[i].box = predicted[i];
  for (std::size_t j = 0; j < dets.size(); ++j) {
    if (d_used[j]) continue;
    Track t;
    t.id = next_id_++;
    t.box = dets[j].box;
    t.score = t.mean_score = dets[j].score;
    t.hits = 1;
    t.confirmed = p_.min_hits <= 1;
    t.matched = t.detected = true;
    t.first_ms = t.last_ms = t.detected_ms = pts_ms;
    t.path.push_back({pts_ms, t.box.x + t.box.width / 2, t.box.y + t.box.height});
    tracks_.push_back(std::move(t));
  }
  std::vector<int> dropped;
  std::erase_if(tracks_, [&](const Track& t) {
    bool gone = pts_ms - t.last_ms > p_.max_gap_ms;
    if (gone) dropped.push_back(t.id);
    return gone;
  });
  last_pts_ = pts_ms;
  return dropped;
}

bool PeopleTracker::Follow(int64_t pts_ms, int id, const cv::Rect2f& box) {
  auto it = std::find_if(tracks_.begin(), tracks_.end(), [&](const Track& t) { return t.id == id; });
  if (it == tracks_.end() || it->detected) return false;
  Track& t = *it;
  // The box Update() moved on with the velocity is where `box` was searched from; the velocity
  // is re-estimated from the last seen position.
  float dt = static_cast<float>(std::max<int64_t>(pts_ms - t.last_ms, 1));
  cv::Point2f last_centre = t.path.empty() ? Centre(t.box)
                                           : cv::Point2f(t.path.back().x,
                                                         t.path.back().y - t.box.height / 2);
  cv::Point2f v = (Centre(box) - last_centre) * (1.f / dt);
  t.velocity = 0.6f * t.velocity + 0.4f * v;
  t.box = box;
  t.matched = true;
  t.last_ms = pts_ms;
  t.path.push_back({pts_ms, box.x + box.width / 2, box.y + box.height});
  if (t.path.size() > p_.max_path) t.path.erase(t.path.begin());
  return true;
}

}  // namespace linli::edge
