// MakeDetector (config → Detector) and the NMS shared by the detectors.
#include "edge/detectors/detectors.h"

#include <algorithm>
#include <fstream>

#include "edge/detectors/param_reader.h"

namespace linli::edge {

std::vector<Detection> SuppressOverlaps(std::vector<Detection> dets, float iou,
                                        float containment) {
  std::stable_sort(dets.begin(), dets.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (auto& d : dets) {
    bool drop = false;
    for (const auto& k : kept) {
      if (k.label != d.label) continue;
      float inter = (k.box & d.box).area();
      if (inter <= 0) continue;
      float uni = k.box.area() + d.box.area() - inter;
      float smaller = std::min(k.box.area(), d.box.area());
      if ((uni > 0 && inter / uni > iou) || (smaller > 0 && inter / smaller >= containment)) {
        drop = true;
        break;
      }
    }
    if (!drop) kept.push_back(std::move(d));
  }
  return kept;
}

const std::vector<std::string>& CocoClassNames() {
  static const std::vector<std::string> names = {
      "person",        "bicycle",      "car",           "motorcycle",    "airplane",
      "bus",           "train",        "truck",         "boat",          "traffic light",
      "fire hydrant",  "stop sign",    "parking meter", "bench",         "bird",
      "cat",           "dog",          "horse",         "sheep",         "cow",
      "elephant",      "bear",         "zebra",         "giraffe",       "backpack",
      "umbrella",      "handbag",      "tie",           "suitcase",      "frisbee",
      "skis",          "snowboard",    "sports ball",   "kite",          "baseball bat",
      "baseball glove", "skateboard",  "surfboard",     "tennis racket", "bottle",
      "wine glass",    "cup",          "fork",          "knife",         "spoon",
      "bowl",          "banana",       "apple",         "sandwich",      "orange",
      "broccoli",      "carrot",       "hot dog",       "pizza",         "donut",
      "cake",          "chair",        "couch",         "potted plant",  "bed",
      "dining table",  "toilet",       "tv",            "laptop",        "mouse",
      "remote",        "keyboard",     "cell phone",    "microwave",     "oven",
      "toaster",       "sink",         "refrigerator",  "book",          "clock",
      "vase",          "scissors",     "teddy bear",    "hair drier",    "toothbrush"};
  return names;
}

namespace {

Result<std::shared_ptr<Detector>> MakeHogFromConfig(const ParamReader& r) {
  LINLI_RETURN_IF_ERROR(r.CheckKnown({"kind", "upscale", "win_stride", "scale", "hit_threshold",
                                      "min_score", "nms_iou", "min_height"}));
  HogParams p;
  LINLI_ASSIGN_OR_RETURN(p.upscale, r.Double("upscale", p.upscale, 0.25, 4.0));
  LINLI_ASSIGN_OR_RETURN(p.win_stride, r.Int("win_stride", p.win_stride, 8, 64));
  if (p.win_stride % 8 != 0)
    return InvalidArgument(r.Key("win_stride"), "must be a multiple of 8 (the HOG cell size)");
  LINLI_ASSIGN_OR_RETURN(p.scale, r.Double("scale", p.scale, 1.01, 2.0));
  LINLI_ASSIGN_OR_RETURN(p.hit_threshold, r.Double("hit_threshold", p.hit_threshold, -5, 10));
  LINLI_ASSIGN_OR_RETURN(p.min_score, r.Double("min_score", p.min_score, 0, 1));
  LINLI_ASSIGN_OR_RETURN(p.nms_iou, r.Double("nms_iou", p.nms_iou, 0, 1));
  LINLI_ASSIGN_OR_RETURN(p.min_height, r.Int("min_height", p.min_height, 0, 10000));
  return MakeHogDetector(p);
}

Result<std::shared_ptr<Detector>> MakeCascadeFromConfig(const ParamReader& r) {
  LINLI_RETURN_IF_ERROR(r.CheckKnown({"kind", "file", "label", "scale_factor", "min_neighbors",
                                      "min_size", "max_size", "upscale", "min_score",
                                      "nms_iou"}));
  CascadeParams p;
  LINLI_ASSIGN_OR_RETURN(p.file, r.String("file", p.file));
  LINLI_ASSIGN_OR_RETURN(p.label, r.String("label", ""));
  LINLI_ASSIGN_OR_RETURN(p.scale_factor, r.Double("scale_factor", p.scale_factor, 1.01, 2.0));
  LINLI_ASSIGN_OR_RETURN(p.min_neighbors, r.Int("min_neighbors", p.min_neighbors, 0, 100));
  LINLI_ASSIGN_OR_RETURN(p.min_size, r.Size("min_size", p.min_size, 0, 10000));
  LINLI_ASSIGN_OR_RETURN(p.max_size, r.Size("max_size", p.max_size, 0, 10000));
  LINLI_ASSIGN_OR_RETURN(p.upscale, r.Double("upscale", p.upscale, 0.25, 4.0));
  LINLI_ASSIGN_OR_RETURN(p.min_score, r.Double("min_score", p.min_score, 0, 1));
  LINLI_ASSIGN_OR_RETURN(p.nms_iou, r.Double("nms_iou", p.nms_iou, 0, 1));
  if (p.max_size.area() > 0 &&
      (p.max_size.width < p.min_size.width || p.max_size.height < p.min_size.height))
    return InvalidArgument(r.Key("max_size"), "must not be smaller than min_size");
  return MakeCascadeDetector(p, r.key());
}

Result<std::vector<std::string>> ReadClassNames(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  if (!in) return InvalidArgument(key, "cannot read class names file \"" + path + "\"");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) return InvalidArgument(key, "class names file \"" + path + "\" is empty");
  return names;
}

Result<std::shared_ptr<Detector>> MakeOnnxFromConfig(const ParamReader& r) {
  LINLI_RETURN_IF_ERROR(r.CheckKnown({"kind", "model", "input_size", "classes", "class_names",
                                      "layout", "conf_threshold", "nms_iou", "labels",
                                      "normalized_coords", "swap_rb"}));
  OnnxParams p;
  LINLI_ASSIGN_OR_RETURN(p.model, r.String("model", ""));
  if (p.model.empty()) return InvalidArgument(r.Key("model"), "is required for kind onnx");
  LINLI_ASSIGN_OR_RETURN(p.input, r.Size("input_size", p.input, 32, 4096));
  if (p.input.width % 32 != 0 || p.input.height % 32 != 0)
    return InvalidArgument(r.Key("input_size"), "must be a multiple of 32 (YOLO strides)");
  if (r.Has("classes") && r.Has("class_names"))
    return InvalidArgument(r.Key("class_names"), "give either classes (a file) or class_names");
  if (r.Has("classes")) {
    LINLI_ASSIGN_OR_RETURN(std::string file, r.String("classes", ""));
    LINLI_ASSIGN_OR_RETURN(p.class_names, ReadClassNames(file, r.Key("classes")));
  } else {
    LINLI_ASSIGN_OR_RETURN(p.class_names, r.Strings("class_names", CocoClassNames()));
    if (p.class_names.empty()) return InvalidArgument(r.Key("class_names"), "must not be empty");
  }
  LINLI_ASSIGN_OR_RETURN(std::string layout,
                         r.Choice("layout", "auto", {"auto", "yolov5", "yolov8"}));
  p.decode.layout = layout == "yolov5"   ? YoloLayout::kV5
                    : layout == "yolov8" ? YoloLayout::kV8
                                         : YoloLayout::kAuto;
  LINLI_ASSIGN_OR_RETURN(double conf, r.Double("conf_threshold", 0.25, 0, 1));
  LINLI_ASSIGN_OR_RETURN(double iou, r.Double("nms_iou", 0.45, 0, 1));
  p.decode.conf_threshold = static_cast<float>(conf);
  p.decode.nms_iou = static_cast<float>(iou);
  LINLI_ASSIGN_OR_RETURN(p.decode.keep_labels, r.Strings("labels", {}));
  for (const auto& l : p.decode.keep_labels)
    if (std::find(p.class_names.begin(), p.class_names.end(), l) == p.class_names.end())
      return InvalidArgument(r.Key("labels"), "\"" + l + "\" is not one of the model's classes");
  LINLI_ASSIGN_OR_RETURN(p.decode.normalized_coords, r.Bool("normalized_coords", false));
  LINLI_ASSIGN_OR_RETURN(p.swap_rb, r.Bool("swap_rb", true));
  p.decode.input = p.input;
  return MakeOnnxDetector(p, r.key());
}

}  // namespace

Result<std::shared_ptr<Detector>> MakeDetector(const YAML::Node& cfg, const std::string& key) {
  ParamReader r(cfg, key);
  if (!cfg.IsDefined() || !cfg.IsMap())
    return InvalidArgument(key, "must be a mapping with a kind (hog, cascade, onnx)");
  LINLI_ASSIGN_OR_RETURN(std::string kind, r.Choice("kind", "", {"hog", "cascade", "onnx"}));
  if (kind == "hog") return MakeHogFromConfig(r);
  if (kind == "cascade") return MakeCascadeFromConfig(r);
  return MakeOnnxFromConfig(r);
}

}  // namespace linli::edge
