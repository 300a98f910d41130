// The built-in Detector implementations and the factory that makes one from a config mapping.
//
//   kind: hog      OpenCV's HOG + linear SVM people detector (Dalal-Triggs, INRIA-trained),
//                  multi-scale, with an optional up-scaling for small people and greedy NMS.
//   kind: cascade  a Haar/LBP cascade from Debian's opencv-data (full body, upper body, faces)
//                  or any cascade XML file; the label is configurable.
//   kind: onnx     a user-supplied YOLO-style ONNX model run by OpenCV DNN: letterboxed input,
//                  YOLOv5 ([1, N, 5+C]) or YOLOv8 ([1, 4+C, N]) output decoding, per-class NMS.
//
// Nothing is downloaded: the HOG model is compiled into OpenCV, cascades come from
// /usr/share/opencv4, and an ONNX model is a file the user points at.
// Thread-safety: each Detector instance is used by one thread at a time (see detector.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.h"
#include "edge/detector.h"

namespace linli::edge {

// Makes a detector from `cfg` (a mapping with `kind:` and the kind's parameters, documented in
// docs/analytics.md). InvalidArgument naming `key` + ".<param>" for a bad or unknown parameter,
// a cascade or model file that is missing or cannot be loaded, or a model whose output does not
// match its class list.
Result<std::shared_ptr<Detector>> MakeDetector(const YAML::Node& cfg, const std::string& key);

struct HogParams {
  double upscale = 1.5;       // image scale before detection (people < 128 px tall need > 1)
  int win_stride = 8;         // px, multiple of 8 (the cell size)
  double scale = 1.2;         // pyramid step: 1.1 finds ~6 % more of what it finds on vtest
                              // at 1.8x the cost, 1.05 a little more again at twice that
  double hit_threshold = 0;   // SVM margin below which windows are dropped inside OpenCV
  double min_score = 0.5;     // after the margin → [0,1] mapping, see HogScore()
  double nms_iou = 0.3;       // suppression overlap (IoU, or containment ≥ 0.7)
  int min_height = 0;         // px of the input image; smaller boxes are dropped
};
// The HOG SVM margin m mapped to a score in [0, 1): 1 - exp(-m) (0 for m <= 0).
float HogScore(double margin);
Result<std::shared_ptr<Detector>> MakeHogDetector(const HogParams& p);

struct CascadeParams {
  std::string file = "haarcascade_fullbody.xml";  // path, or a name under /usr/share/opencv4
  std::string label;          // reported label; default from the file name (person/face/...)
  double scale_factor = 1.1;
  int min_neighbors = 3;
  cv::Size min_size{0, 0};
  cv::Size max_size{0, 0};
  double upscale = 1.0;
  double min_score = 0.0;
  double nms_iou = 0.3;
};
// Resolves a cascade name to a readable file ("" if none): absolute/relative paths first, then
// /usr/share/opencv4/{haarcascades,lbpcascades}/NAME[.xml].
std::string ResolveCascadeFile(const std::string& name);
// The default label for a cascade file name: "person" for full/upper/lower body, "face" for
// faces, "cat_face", "plate", else "object".
std::string DefaultCascadeLabel(const std::string& file);
Result<std::shared_ptr<Detector>> MakeCascadeDetector(const CascadeParams& p,
                                                      const std::string& key = "cascade");

enum class YoloLayout { kAuto, kV5, kV8 };

// How an image was letterboxed into the network input: input = image * scale + pad.
struct Letterbox {
  float scale = 1;
  float pad_x = 0, pad_y = 0;
  cv::Size image;  // original image size, for clipping
};
// The letterbox that fits `image` into `input` keeping aspect ratio, centred.
Letterbox MakeLetterbox(cv::Size image, cv::Size input);

struct YoloDecodeOptions {
  YoloLayout layout = YoloLayout::kAuto;
  float conf_threshold = 0.25f;
  float nms_iou = 0.45f;
  bool normalized_coords = false;  // boxes in [0,1] of the input instead of input pixels
  cv::Size input{640, 640};
  std::vector<std::string> keep_labels;  // empty = all
};

// Decodes one YOLO output tensor (dims [1, N, 5+C] for v5, [1, 4+C, N] for v8, or the same
// without the leading 1) into detections in pixels of the original image, after
// confidence filtering and per-class NMS. InvalidArgument if the shape fits neither layout for
// `class_names.size()` classes (or not the one asked for).
Result<std::vector<Detection>> DecodeYoloOutput(const cv::Mat& out,
                                                const std::vector<std::string>& class_names,
                                                const YoloDecodeOptions& opt,
                                                const Letterbox& lb);

struct OnnxParams {
  std::string model;                     // .onnx file
  cv::Size input{640, 640};
  std::vector<std::string> class_names;  // default: the 80 COCO names
  YoloDecodeOptions decode;
  bool swap_rb = true;                   // models are trained on RGB
};
// The 80 COCO class names in YOLO order.
const std::vector<std::string>& CocoClassNames();
// Loads the model and checks its output shape on a blank image. Errors name `key`.model or
// `key`.classes.
Result<std::shared_ptr<Detector>> MakeOnnxDetector(const OnnxParams& p,
                                                   const std::string& key = "onnx");

// Greedy NMS: keeps the highest score, drops boxes of the same label overlapping it by IoU >
// `iou` or lying ≥ `containment` inside it. Result sorted by descending score.
std::vector<Detection> SuppressOverlaps(std::vector<Detection> dets, float iou,
                                        float containment = 1.01f);

}  // namespace linli::edge
