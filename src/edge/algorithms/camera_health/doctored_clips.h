// Test and evaluation support: doctored versions of real footage (a lens covered, a frozen
// picture, defocus, darkness, a camera turned away, spray paint) written as real video files and
// decoded back, and a runner that feeds a file's frames to an analyzer at the analysis rate.
// Thread-safety: pure functions over files.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "common/result.h"
#include "edge/analyzer.h"

namespace linli::edge::testing {

enum class Doctoring { kClean, kCovered, kGreyPatch, kFrozen, kBlurred, kDarkened, kShifted,
                       kSprayed, kSaturated };
const char* DoctoringName(Doctoring d);
// The event type the doctoring must produce ("" for kClean).
const char* ExpectedEventType(Doctoring d);

// Applies `d` to `frame` (BGR). `frozen` is the frame to repeat for kFrozen.
cv::Mat Doctor(const cv::Mat& frame, Doctoring d, const cv::Mat& frozen);

// Decodes `length_s` seconds of `src` from `start_s`, sub-sampled to `fps` and resized to
// `size`: the raw material of doctored clips (decode once, doctor many times).
Result<std::vector<cv::Mat>> ReadClip(const std::string& src, double start_s, double length_s,
                                      double fps, cv::Size size);

// Applies `d` to the frames of `frames` (at `fps`) in [from_s, to_s) and writes them as an
// MJPG AVI at `fps` to `out`.
Result<void> WriteDoctoredClip(const std::vector<cv::Mat>& frames, double fps,
                               const std::string& out, Doctoring d, double from_s, double to_s);

struct CollectingSink final : EventSink {
  void Emit(const EdgeEvent& e) override { events.push_back(e); }
  std::vector<EdgeEvent> events;
};

// Decodes `path` and feeds frames at `fps` (sub-sampled by stream time, pts from the source's
// frame index) to `analyzer`; calls Finish at the end. Returns the number of frames fed.
Result<int> FeedFile(const std::string& path, double fps, Analyzer& analyzer, EventSink& sink,
                     int max_width = 640);

}  // namespace linli::edge::testing
