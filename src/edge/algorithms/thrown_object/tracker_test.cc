// Tests of the tracker on synthetic detections.
#include "edge/algorithms/thrown_object/tracker.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "edge/testing/scene_gen/rng.h"

namespace linli::edge::thrown {
namespace {

constexpr double kPxPerM = 20;

Tracker MakeTracker(TrackerOptions o = {}) {
  return Tracker(o, [](cv::Point2d) { return 9.81 * kPxPerM; });
}

Blob At(double x, double y, double size = 4) {
  Blob b;
  b.centre = {x, y};
  b.size = size;
  b.area = size * size;
  b.box = cv::Rect(static_cast<int>(x - size / 2), static_cast<int>(y - size / 2),
                   static_cast<int>(size), static_cast<int>(size));
  return b;
}

// A falling object and a bird crossing its path, with clutter, at 25 fps.
TEST(Tracker, KeepsObjectsApartThroughClutter) {
  Tracker tr = MakeTracker();
  scene_gen::Rng r(7);
  std::vector<Track> ended;
  for (int i = 0; i < 40; ++i) {
    const double t = i / 25.0;
    std::vector<Blob> blobs;
    blobs.push_back(At(400 + r.N(0, 0.3), 100 + 0.5 * 9.81 * kPxPerM * t * t + r.N(0, 0.3)));
    blobs.push_back(At(100 + 200 * t, 300 + r.N(0, 0.3), 6));  // 10 m/s sideways
    for (int k = 0; k < 3; ++k) blobs.push_back(At(r.U(0, 800), r.U(0, 800), 2));
    tr.Step(static_cast<int64_t>(std::lround(t * 1000)), blobs, &ended);
  }
  tr.Flush(&ended);
  // Exactly two long tracks, each following one object all the way.
  std::vector<const Track*> long_tracks;
  for (const Track& t : ended) {
    if (t.points.size() >= 30) long_tracks.push_back(&t);
  }
  ASSERT_EQ(long_tracks.size(), 2u);
  for (const Track* t : long_tracks) {
    EXPECT_EQ(t->points.size(), 40u);
    const bool falling = std::abs(t->points.back().centre.x - 400) < 3;
    for (const TrackPointPx& p : t->points) {
      if (falling) {
        EXPECT_NEAR(p.centre.x, 400, 3);
      } else {
        EXPECT_NEAR(p.centre.y, 300, 3);
      }
    }
  }
}

// Feeds a tracker one object falling from (300, 50) at 25 fps, seen or missed frame by frame.
class FallingObject {
 public:
  FallingObject(Tracker& tr, std::vector<Track>* ended) : tr_(tr), ended_(ended) {}
  void Frame(bool seen, double t) {
    std::vector<Blob> blobs;
    if (seen) blobs.push_back(At(300, 50 + 0.5 * 9.81 * kPxPerM * t * t));
    tr_.Step(ms_, blobs, ended_);
    ms_ += 40;
  }

 private:
  Tracker& tr_;
  std::vector<Track>* ended_;
  int64_t ms_ = 0;
};

TEST(Tracker, CoastsOverShortGapsAndEndsAfterLongOnes) {
  TrackerOptions o;
  o.max_gap_frames = 3;
  Tracker tr = MakeTracker(o);
  std::vector<Track> ended;
  FallingObject obj(tr, &ended);
  for (int i = 0; i < 10; ++i) obj.Frame(true, i * 0.04);
  for (int i = 10; i < 13; ++i) obj.Frame(false, i * 0.04);  // 3 missed frames: coast
  for (int i = 13; i < 20; ++i) obj.Frame(true, i * 0.04);
  EXPECT_TRUE(ended.empty());
  ASSERT_EQ(tr.tracks().size(), 1u);
  EXPECT_EQ(tr.tracks()[0].points.size(), 17u);
  for (int i = 20; i < 24; ++i) obj.Frame(false, i * 0.04);  // 4 missed: ends
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].points.size(), 17u);
  EXPECT_TRUE(tr.tracks().empty());
}

// Misses the analyzer explains as hidden (the object over a background of its own colour)
// are coasted over beyond max_gap_frames, up to max_hidden_frames per gap, and remembered;
// unexplained misses end the track as before.
TEST(Tracker, CoastsWhereTheObjectIsHidden) {
  TrackerOptions o;
  o.max_gap_frames = 2;
  o.max_hidden_frames = 6;
  Tracker tr = MakeTracker(o);
  bool hidden = true;
  int asked = 0;
  tr.SetHiddenTest([&](const Track& t) {
    ++asked;
    EXPECT_GE(t.points.size(), 3u);
    return hidden;
  });
  std::vector<Track> ended;
  FallingObject obj(tr, &ended);
  for (int i = 0; i < 8; ++i) obj.Frame(true, i * 0.04);
  for (int i = 8; i < 14; ++i) obj.Frame(false, i * 0.04);  // 6 hidden frames: coast
  for (int i = 14; i < 20; ++i) obj.Frame(true, i * 0.04);  // found again where it fell to
  EXPECT_TRUE(ended.empty());
  ASSERT_EQ(tr.tracks().size(), 1u);
  EXPECT_EQ(tr.tracks()[0].points.size(), 14u);
  EXPECT_EQ(tr.tracks()[0].hidden_ms.size(), 6u);
  EXPECT_EQ(tr.tracks()[0].hidden_ms.front(), 8 * 40);
  EXPECT_EQ(asked, 6);
  // More than max_hidden_frames in one gap: the rest are ordinary misses.
  for (int i = 20; i < 28; ++i) obj.Frame(false, i * 0.04);  // 6 hidden + 2 misses: coasting
  EXPECT_TRUE(ended.empty());
  obj.Frame(false, 28 * 0.04);  // a third ordinary miss: ends
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].hidden_ms.size(), 12u);
  // Not hidden: ends after max_gap_frames, as without the test.
  hidden = false;
  for (int i = 0; i < 8; ++i) obj.Frame(true, i * 0.04);
  for (int i = 8; i < 11; ++i) obj.Frame(false, i * 0.04);
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_TRUE(ended[1].hidden_ms.empty());
}

TEST(Tracker, DoesNotJumpFasterThanPhysicsAllows) {
  Tracker tr = MakeTracker();
  std::vector<Track> ended;
  tr.Step(0, std::vector<Blob>{At(100, 100)}, &ended);
  // 200 px in one frame at 20 px/m is 250 m/s: a new track, not the same one.
  tr.Step(40, std::vector<Blob>{At(300, 100)}, &ended);
  size_t total = tr.tracks().size() + ended.size();
  EXPECT_EQ(total, 2u);
  for (const Track& t : tr.tracks()) EXPECT_EQ(t.points.size(), 1u);
}

TEST(Tracker, RespectsTheTrackBudget) {
  TrackerOptions o;
  o.max_tracks = 10;
  Tracker tr = MakeTracker(o);
  std::vector<Blob> rain;
  for (int k = 0; k < 100; ++k) rain.push_back(At(k * 8.0, 10));
  tr.Step(0, rain, nullptr);
  EXPECT_EQ(tr.tracks().size(), 10u);
}

}  // namespace
}  // namespace linli::edge::thrown
