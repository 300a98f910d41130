// OnnxYoloDetector: a YOLO-style ONNX model through OpenCV DNN (CPU), and the output decoding.
#include <algorithm>
#include <filesystem>

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "edge/detectors/detectors.h"

namespace linli::edge {

Letterbox MakeLetterbox(cv::Size image, cv::Size input) {
  Letterbox lb;
  lb.image = image;
  if (image.width <= 0 || image.height <= 0) return lb;
  lb.scale = std::min(static_cast<float>(input.width) / image.width,
                      static_cast<float>(input.height) / image.height);
  lb.pad_x = (input.width - image.width * lb.scale) / 2.f;
  lb.pad_y = (input.height - image.height * lb.scale) / 2.f;
  return lb;
}

namespace {

std::string ShapeString(const cv::Mat& m) {
  std::string s = "[";
  for (int i = 0; i < m.dims; ++i) s += (i ? ", " : "") + std::to_string(m.size[i]);
  return s + "]";
}

}  // namespace

Result<std::vector<Detection>> DecodeYoloOutput(const cv::Mat& out,
                                                const std::vector<std::string>& class_names,
                                                const YoloDecodeOptions& opt,
                                                const Letterbox& lb) {
  if (out.type() != CV_32F)
    return InvalidArgument("output", "expected a float32 tensor, got type " +
                                         std::to_string(out.type()));
  // Reduce to a 2-D view a x b.
  int a = 0, b = 0;
  if (out.dims == 3 && out.size[0] == 1) {
    a = out.size[1];
    b = out.size[2];
  } else if (out.dims == 2) {
    a = out.size[0];
    b = out.size[1];
  } else {
    return InvalidArgument("output", "unsupported output shape " + ShapeString(out));
  }
  if (!out.isContinuous()) return InvalidArgument("output", "output tensor is not contiguous");
  const int c = static_cast<int>(class_names.size());
  bool v5 = b == 5 + c;
  bool v8 = a == 4 + c;
  YoloLayout layout = opt.layout;
  if (layout == YoloLayout::kAuto) {
    if (v5 && v8 && a != b) {
      layout = a < b ? YoloLayout::kV8 : YoloLayout::kV5;  // fewer channels than anchors
    } else if (v5) {
      layout = YoloLayout::kV5;
    } else if (v8) {
      layout = YoloLayout::kV8;
    }
  }
  if ((layout == YoloLayout::kV5 && !v5) || (layout == YoloLayout::kV8 && !v8) ||
      layout == YoloLayout::kAuto)
    return InvalidArgument("output", "output shape " + ShapeString(out) + " fits " +
                                         (opt.layout == YoloLayout::kV5   ? "not YOLOv5 "
                                          : opt.layout == YoloLayout::kV8 ? "not YOLOv8 "
                                                                          : "neither YOLOv5 "
                                                                            "nor YOLOv8 ") +
                                         "with " + std::to_string(c) + " classes");
  cv::Mat m(a, b, CV_32F, const_cast<float*>(out.ptr<float>()));
  cv::Mat rows;  // one candidate per row
  if (layout == YoloLayout::kV8) {
    cv::transpose(m, rows);  // [4+C, N] → [N, 4+C]
  } else {
    rows = m;
  }
  const int off = layout == YoloLayout::kV5 ? 5 : 4;
  const float sx = opt.normalized_coords ? static_cast<float>(opt.input.width) : 1.f;
  const float sy = opt.normalized_coords ? static_cast<float>(opt.input.height) : 1.f;
  const cv::Rect2f frame(0, 0, static_cast<float>(lb.image.width),
                         static_cast<float>(lb.image.height));
  std::vector<Detection> dets;
  for (int i = 0; i < rows.rows; ++i) {
    const float* r = rows.ptr<float>(i);
    float obj = layout == YoloLayout::kV5 ? r[4] : 1.f;
    if (!(obj >= opt.conf_threshold)) continue;  // also drops NaN
    int best = 0;
    for (int k = 1; k < c; ++k)
      if (r[off + k] > r[off + best]) best = k;
    float score = obj * r[off + best];
    if (!(score >= opt.conf_threshold)) continue;
    const std::string& label = class_names[static_cast<std::size_t>(best)];
    if (!opt.keep_labels.empty() &&
        std::find(opt.keep_labels.begin(), opt.keep_labels.end(), label) == opt.keep_labels.end())
      continue;
    float cx = r[0] * sx, cy = r[1] * sy, w = r[2] * sx, h = r[3] * sy;
    if (!(w > 0 && h > 0)) continue;
    cv::Rect2f box((cx - w / 2 - lb.pad_x) / lb.scale, (cy - h / 2 - lb.pad_y) / lb.scale,
                   w / lb.scale, h / lb.scale);
    box &= frame;
    if (box.area() <= 0) continue;
    dets.push_back(Detection{box, label, std::min(score, 1.f)});
  }
  return SuppressOverlaps(std::move(dets), opt.nms_iou);
}

namespace {

class OnnxYoloDetector final : public Detector {
 public:
  OnnxYoloDetector(const OnnxParams& p, cv::dnn::Net net) : p_(p), net_(std::move(net)) {}

  Result<std::vector<Detection>> Detect(const cv::Mat& bgr) override {
    if (bgr.empty()) return std::vector<Detection>{};
    try {
      Letterbox lb = MakeLetterbox(bgr.size(), p_.input);
      cv::Mat canvas(p_.input, CV_8UC3, cv::Scalar(114, 114, 114));
      cv::Size scaled(std::max(1, cvRound(bgr.cols * lb.scale)),
                      std::max(1, cvRound(bgr.rows * lb.scale)));
      scaled.width = std::min(scaled.width, p_.input.width);
      scaled.height = std::min(scaled.height, p_.input.height);
      int x0 = std::clamp(static_cast<int>(lb.pad_x), 0, p_.input.width - scaled.width);
      int y0 = std::clamp(static_cast<int>(lb.pad_y), 0, p_.input.height - scaled.height);
      lb.pad_x = static_cast<float>(x0);
      lb.pad_y = static_cast<float>(y0);
      cv::Mat src = bgr;
      if (bgr.channels() == 1) cv::cvtColor(bgr, src, cv::COLOR_GRAY2BGR);
      cv::resize(src, canvas(cv::Rect(x0, y0, scaled.width, scaled.height)), scaled, 0, 0,
                 cv::INTER_LINEAR);
      cv::Mat blob = cv::dnn::blobFromImage(canvas, 1.0 / 255, p_.input, cv::Scalar(), p_.swap_rb,
                                            /*crop=*/false, CV_32F);
      net_.setInput(blob);
      cv::Mat out = net_.forward();
      auto dets = DecodeYoloOutput(out, p_.class_names, p_.decode, lb);
      if (!dets)
        return Fail(ErrorCode::kInternal, "ONNX model output: " + dets.error().message());
      return dets;
    } catch (const cv::Exception& e) {
      return Fail(ErrorCode::kInternal, std::string("ONNX inference failed: ") + e.what());
    }
  }

  std::vector<std::string> Labels() const override {
    return p_.decode.keep_labels.empty() ? p_.class_names : p_.decode.keep_labels;
  }

 private:
  OnnxParams p_;
  cv::dnn::Net net_;
};

}  // namespace

Result<std::shared_ptr<Detector>> MakeOnnxDetector(const OnnxParams& params,
                                                   const std::string& key) {
  OnnxParams p = params;
  p.decode.input = p.input;
  if (p.class_names.empty()) p.class_names = CocoClassNames();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p.model, ec))
    return InvalidArgument(key + ".model", "no model file \"" + p.model + "\"");
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(p.model);
    if (net.empty()) return InvalidArgument(key + ".model", "\"" + p.model + "\" has no layers");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  } catch (const cv::Exception& e) {
    return InvalidArgument(key + ".model",
                           "\"" + p.model + "\" cannot be loaded as ONNX: " + e.what());
  }
  auto det = std::make_shared<OnnxYoloDetector>(p, net);
  // One inference on a grey image checks that the model runs at this input size and that its
  // output fits the class list, so that a wrong model is refused at start-up.
  auto probe = det->Detect(cv::Mat(p.input, CV_8UC3, cv::Scalar(114, 114, 114)));
  if (!probe) {
    const std::string& msg = probe.error().message();
    std::string field = msg.find("classes") != std::string::npos ? ".classes" : ".model";
    return InvalidArgument(key + field, msg);
  }
  return std::shared_ptr<Detector>(det);
}

}  // namespace linli::edge
