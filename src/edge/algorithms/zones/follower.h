// AppearanceFollower: finds tracked people again between two runs of the detector by their
// appearance — a grey template of the upper body (head and torso keep their shape while the
// legs walk) taken where the detector last found them, searched for by normalised
// cross-correlation in a window around where the tracker expects them, on a small grey copy of
// the frame. A person costs tens of microseconds where a detector run around them costs
// milliseconds (HOG), so PeopleStage detects a followed person only every redetect_s.
//
// A template without texture (a flat patch: nothing to correlate) is not kept, so a person on
// a featureless picture is never followed, only detected. Boxes are in frame pixels.
// Thread-safety: one thread at a time.
#pragma once

#include <map>
#include <optional>
#include <set>

#include <opencv2/core.hpp>

namespace linli::edge {

class AppearanceFollower {
 public:
  // The width of the grey copy the templates are taken from and searched in.
  static constexpr int kWidth = 320;

  // The frame the next calls refer to (a BGR or grey image); converted once.
  void SetFrame(const cv::Mat& image);
  // The current frame, grey, at most kWidth wide, and its scale from frame pixels.
  const cv::Mat& grey() const { return grey_; }
  double scale() const { return scale_; }

  // Takes `id`'s template from the current frame at `box`. Returns false (and forgets `id`) if
  // the patch is too small or flat to be followed.
  bool Remember(int id, const cv::Rect2f& box);
  struct Found {
    cv::Rect2f box;  // `expected` moved to where the template matched best
    float score = 0; // normalised cross-correlation, -1..1
  };
  // Searches for `id` around `expected` (its box predicted for this frame), up to about a third
  // of its height away. Nothing if `id` has no template, the window is outside the frame, or
  // the best match scores below `min_score`.
  std::optional<Found> Find(int id, const cv::Rect2f& expected, float min_score) const;
  // Forgets every id not in `ids`.
  void Retain(const std::set<int>& ids);
  bool Has(int id) const { return templates_.contains(id); }

 private:
  struct Template {
    cv::Mat patch;       // grey, small-copy pixels
    cv::Point2f offset;  // patch top-left minus box top-left, small-copy pixels
  };
  cv::Mat grey_;
  double scale_ = 1;
  std::map<int, Template> templates_;
};

}  // namespace linli::edge
