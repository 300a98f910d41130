// Detector: finds objects (people, dogs, bikes, ...) in one image. The built-in implementations
// use what runs here without downloads (OpenCV's HOG people detector, opencv-data cascades);
// a neural model (ONNX through OpenCV DNN) can replace them behind this interface.
// Thread-safety: one thread at a time per instance.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "edge/types.h"

namespace linli::edge {

class Detector {
 public:
  virtual ~Detector() = default;
  // Detections in pixels of `bgr`. An Error only for a broken model, never for an empty scene.
  virtual Result<std::vector<Detection>> Detect(const cv::Mat& bgr) = 0;
  // The classes it can report ("person", ...).
  virtual std::vector<std::string> Labels() const = 0;
};

}  // namespace linli::edge
