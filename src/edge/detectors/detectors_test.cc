#include "edge/detectors/detectors.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edge/detectors/param_reader.h"
#include "edge/detectors/tiny_onnx.h"

namespace linli::edge {
namespace {

const char* kVtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

YAML::Node Yaml(const std::string& s) { return YAML::Load(s); }

std::string TempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("linli_detectors_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

cv::Mat VtestFrame(int index) {
  cv::VideoCapture cap(kVtest);
  cv::Mat f;
  for (int i = 0; i <= index; ++i) cap.read(f);
  cv::Mat s;
  if (!f.empty()) cv::resize(f, s, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
  return s;
}

TEST(ParamReader, RefusesBadValuesNamingTheKey) {
  auto r = MakeDetector(Yaml("{kind: hog, win_stride: 12}"), "cameras[0].detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "cameras[0].detector.win_stride");

  r = MakeDetector(Yaml("{kind: hog, scale: fast}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.scale");
  EXPECT_NE(r.error().message().find("number"), std::string::npos);

  r = MakeDetector(Yaml("{kind: hog, min_score: 3}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.min_score");

  r = MakeDetector(Yaml("{kind: hog, winstride: 8}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.winstride");
  EXPECT_NE(r.error().message().find("unknown"), std::string::npos);

  r = MakeDetector(Yaml("{kind: yolo}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.kind");

  r = MakeDetector(Yaml("[1, 2]"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector");

  r = MakeDetector(Yaml("{kind: cascade, file: no_such_cascade.xml}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.file");

  r = MakeDetector(Yaml("{kind: cascade, min_size: [10, x]}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.min_size");

  r = MakeDetector(Yaml("{kind: onnx}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.model");

  r = MakeDetector(Yaml("{kind: onnx, model: /nonexistent.onnx}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.model");

  std::string garbage = TempPath("garbage.onnx");
  WriteFile(garbage, "this is not a protobuf");
  r = MakeDetector(Yaml("{kind: onnx, model: " + garbage + "}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.model");

  r = MakeDetector(Yaml("{kind: onnx, model: " + garbage + ", input_size: 100}"), "detector");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "detector.input_size");
}

TEST(SuppressOverlaps, KeepsBestPerLabelAndDropsContained) {
  std::vector<Detection> d = {{{0, 0, 10, 20}, "person", 0.6f},
                              {{1, 1, 10, 20}, "person", 0.9f},
                              {{0, 0, 10, 20}, "dog", 0.5f},
                              {{50, 50, 10, 10}, "person", 0.3f},
                              {{2, 2, 4, 8}, "person", 0.4f}};
  auto k = SuppressOverlaps(d, 0.5f, 0.7f);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_FLOAT_EQ(k[0].score, 0.9f);
  EXPECT_EQ(k[1].label, "dog");
  EXPECT_FLOAT_EQ(k[2].score, 0.3f);
}

TEST(HogDetector, FindsPedestriansInVtestAndNothingInAFlatImage) {
  auto det = MakeDetector(Yaml("{kind: hog}"), "detector");
  ASSERT_TRUE(det) << det.error().ToString();
  cv::Mat frame = VtestFrame(100);
  ASSERT_FALSE(frame.empty()) << "opencv-doc's vtest.avi is needed";
  auto d = (*det)->Detect(frame);
  ASSERT_TRUE(d);
  EXPECT_GE(d->size(), 2u);
  for (const auto& x : *d) {
    EXPECT_EQ(x.label, "person");
    EXPECT_GT(x.score, 0.f);
    EXPECT_LE(x.score, 1.f);
    // Upright people: taller than wide, inside the frame.
    EXPECT_GT(x.box.height, x.box.width);
    EXPECT_GE(x.box.x, 0);
    EXPECT_LE(x.box.br().x, frame.cols + 0.01f);
  }
  auto none = (*det)->Detect(cv::Mat(360, 640, CV_8UC3, cv::Scalar(90, 100, 110)));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto tiny = (*det)->Detect(cv::Mat(20, 20, CV_8UC3, cv::Scalar(0)));
  ASSERT_TRUE(tiny);
  EXPECT_TRUE(tiny->empty());
}

TEST(CascadeDetector, FrontalFaceOnARealPhoto) {
  EXPECT_EQ(DefaultCascadeLabel("haarcascade_fullbody.xml"), "person");
  EXPECT_EQ(DefaultCascadeLabel("/x/lbpcascade_frontalface_improved.xml"), "face");
  auto det = MakeDetector(Yaml("{kind: cascade, file: haarcascade_frontalface_default, "
                               "min_neighbors: 5}"),
                          "detector");
  ASSERT_TRUE(det) << det.error().ToString();
  EXPECT_EQ((*det)->Labels(), std::vector<std::string>{"face"});
  cv::Mat messi = cv::imread("/usr/share/doc/opencv-doc/examples/data/messi5.jpg");
  ASSERT_FALSE(messi.empty());
  auto faces = (*det)->Detect(messi);
  ASSERT_TRUE(faces);
  ASSERT_GE(faces->size(), 1u);
  EXPECT_EQ((*faces)[0].label, "face");
  auto none = (*det)->Detect(cv::Mat(300, 300, CV_8UC3, cv::Scalar(128, 128, 128)));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());

  auto body = MakeDetector(Yaml("{kind: cascade, file: haarcascade_fullbody.xml, "
                                "label: pedestrian}"),
                           "detector");
  ASSERT_TRUE(body) << body.error().ToString();
  EXPECT_EQ((*body)->Labels(), std::vector<std::string>{"pedestrian"});
}

// Three classes; input 64 x 64; image 128 x 96 → scale 0.5, pad_y 8.
const std::vector<std::string> kClasses = {"person", "dog", "car"};

TEST(DecodeYolo, V5RowsMapBackThroughTheLetterbox) {
  Letterbox lb = MakeLetterbox({128, 96}, {64, 64});
  EXPECT_FLOAT_EQ(lb.scale, 0.5f);
  EXPECT_FLOAT_EQ(lb.pad_x, 0.f);
  EXPECT_FLOAT_EQ(lb.pad_y, 8.f);
  // [1, 3, 8]: cx cy w h obj p0 p1 p2
  float data[3][8] = {{32, 32, 16, 8, 0.9f, 0.9f, 0.1f, 0.0f},
                      {33, 32, 16, 8, 0.8f, 0.9f, 0.1f, 0.0f},  // duplicate, suppressed
                      {10, 20, 8, 8, 0.9f, 0.1f, 0.2f, 0.8f}};
  int sz[3] = {1, 3, 8};
  cv::Mat out(3, sz, CV_32F, data);
  YoloDecodeOptions opt;
  opt.input = {64, 64};
  auto d = DecodeYoloOutput(out, kClasses, opt, lb);
  ASSERT_TRUE(d) << d.error().ToString();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].label, "person");
  EXPECT_NEAR((*d)[0].score, 0.81f, 1e-5);
  EXPECT_NEAR((*d)[0].box.x, 48, 1e-4);
  EXPECT_NEAR((*d)[0].box.y, 40, 1e-4);
  EXPECT_NEAR((*d)[0].box.width, 32, 1e-4);
  EXPECT_NEAR((*d)[0].box.height, 16, 1e-4);
  EXPECT_EQ((*d)[1].label, "car");
  EXPECT_NEAR((*d)[1].score, 0.72f, 1e-5);

  opt.keep_labels = {"person"};
  d = DecodeYoloOutput(out, kClasses, opt, lb);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size(), 1u);

  opt.keep_labels = {};
  opt.conf_threshold = 0.85f;
  d = DecodeYoloOutput(out, kClasses, opt, lb);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->empty());
}

TEST(DecodeYolo, V8ColumnsAndShapeChecks) {
  Letterbox lb = MakeLetterbox({128, 96}, {64, 64});
  // [1, 4+3, 5]: channel-major; anchor 1 is a dog, the others are below threshold.
  float data[7][5] = {};
  data[0][1] = 32;
  data[1][1] = 32;
  data[2][1] = 16;
  data[3][1] = 8;
  data[5][1] = 0.7f;  // dog
  data[4][3] = 0.1f;  // person, too low
  data[2][3] = 4;
  data[3][3] = 4;
  int sz[3] = {1, 7, 5};
  cv::Mat out(3, sz, CV_32F, data);
  YoloDecodeOptions opt;
  opt.input = {64, 64};
  auto d = DecodeYoloOutput(out, kClasses, opt, lb);
  ASSERT_TRUE(d) << d.error().ToString();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].label, "dog");
  EXPECT_NEAR((*d)[0].box.x, 48, 1e-4);
  EXPECT_NEAR((*d)[0].box.y, 40, 1e-4);

  opt.layout = YoloLayout::kV5;
  auto bad = DecodeYoloOutput(out, kClasses, opt, lb);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not YOLOv5"), std::string::npos);

  opt.layout = YoloLayout::kAuto;
  std::vector<std::string> four = {"a", "b", "c", "d"};
  bad = DecodeYoloOutput(out, four, opt, lb);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("neither"), std::string::npos);

  // NaN and negative sizes never become detections.
  data[4][1] = std::numeric_limits<float>::quiet_NaN();
  data[5][1] = std::numeric_limits<float>::quiet_NaN();
  d = DecodeYoloOutput(out, kClasses, opt, lb);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->empty());
}

TEST(OnnxDetector, RunsARealOnnxGraphThroughOpenCvDnn) {
  // v5 layout [1, 2, 8]: box 0 person at input (32, 32, 16, 8), box 1 below threshold.
  std::vector<float> bias = {32, 32, 16, 8, 0.9f, 0.95f, 0.0f, 0.0f,
                             10, 10, 4,  4, 0.1f, 0.1f,  0.0f, 0.0f};
  std::string v5 = TempPath("tiny_v5.onnx");
  WriteFile(v5, testing::TinyYoloOnnx(64, {1, 2, 8}, bias));
  auto det = MakeDetector(Yaml("{kind: onnx, model: " + v5 +
                               ", input_size: 64, class_names: [person, dog, car]}"),
                          "detector");
  ASSERT_TRUE(det) << det.error().ToString();
  cv::Mat img(96, 128, CV_8UC3, cv::Scalar(10, 20, 30));
  auto d = (*det)->Detect(img);
  ASSERT_TRUE(d) << d.error().ToString();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].label, "person");
  EXPECT_NEAR((*d)[0].score, 0.855f, 1e-4);
  EXPECT_NEAR((*d)[0].box.x, 48, 1e-3);
  EXPECT_NEAR((*d)[0].box.y, 40, 1e-3);
  EXPECT_NEAR((*d)[0].box.width, 32, 1e-3);

  // The wrong class list is refused at start-up, naming the key.
  auto wrong = MakeDetector(Yaml("{kind: onnx, model: " + v5 + ", input_size: 64}"), "detector");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().field(), "detector.classes");

  // v8 layout [1, 4+3, 3] where the dog's score follows the input: weight 1 on channel 0 of the
  // blob (R after swap_rb), so a red image scores high and a blue one low.
  const int n = 3, ch = 7;
  std::vector<float> b8(ch * n, 0.f), w8(ch * n * 3, 0.f);
  auto at = [&](int c, int a) { return c * n + a; };
  b8[at(0, 0)] = 32;
  b8[at(1, 0)] = 32;
  b8[at(2, 0)] = 16;
  b8[at(3, 0)] = 8;
  w8[at(5, 0) * 3 + 0] = 1.f;  // dog score = mean of blob channel 0 (R)
  std::string v8 = TempPath("tiny_v8.onnx");
  WriteFile(v8, testing::TinyYoloOnnx(64, {1, ch, n}, b8, w8));
  std::string names = TempPath("names.txt");
  WriteFile(names, "person\ndog\ncar\n");
  det = MakeDetector(Yaml("{kind: onnx, model: " + v8 + ", input_size: [64, 64], classes: " +
                          names + ", layout: yolov8, conf_threshold: 0.5}"),
                     "detector");
  ASSERT_TRUE(det) << det.error().ToString();
  cv::Mat red(64, 64, CV_8UC3, cv::Scalar(0, 0, 255));
  d = (*det)->Detect(red);
  ASSERT_TRUE(d) << d.error().ToString();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].label, "dog");
  EXPECT_NEAR((*d)[0].score, 1.0f, 1e-3);
  cv::Mat blue(64, 64, CV_8UC3, cv::Scalar(255, 0, 0));
  d = (*det)->Detect(blue);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->empty());
}

}  // namespace
}  // namespace linli::edge
