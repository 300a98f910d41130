// Scene generator (see scene_gen.h). Layout of this file:
//   geometry (facade homography), options resolution, facade texture, moving objects and their
//   physics, per-frame rendering, ground truth JSON, clip writing.
#include "edge/testing/scene_gen/scene_gen.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edge/testing/scene_gen/rng.h"

namespace linli::edge::scene_gen {

namespace {

constexpr double kG = 9.81;
constexpr int kSub = 8;       // physics samples per frame
// The shutter is open for `exposure` samples of each frame: short by day, long at night, so
// fast objects smear into streaks in the dark as they do on real cameras.
constexpr double kPi = std::numbers::pi;

// Sub-stream ids for Rng::For.
enum Stream : uint64_t {
  kLayout = 1,
  kTexture,
  kThrownStream,
  kBirdStream,
  kLeafStream,
  kRainStream,
  kLaundryStream,
  kToggleStream,
  kShakeStream,
  kStreetStream,
  kBugStream,
  kCloudStream,
  kExposureStream,
  kNoiseStream,
  kDistractorPick,
  kTreeStream,  // streams added later go last (the others keep their ids)
  kWalkerStream,
};

// The facade plane: metres (X right, Y up from the ground) <-> unit square (u, v) <-> image px.
struct Geometry {
  cv::Matx33d unit_to_img;
  cv::Matx33d img_to_unit;
  double width_m = 0, height_m = 0;
  int floors = 1, columns = 1;
  double floor_h = 3, col_w = 3;

  cv::Point2d UnitToImage(double u, double v) const {
    cv::Vec3d p = unit_to_img * cv::Vec3d(u, v, 1);
    return {p[0] / p[2], p[1] / p[2]};
  }
  cv::Point2d ToImage(double x_m, double y_m) const {
    return UnitToImage(x_m / width_m, y_m / height_m);
  }
  cv::Point2d ToMetres(cv::Point2d px) const {
    cv::Vec3d p = img_to_unit * cv::Vec3d(px.x, px.y, 1);
    return {p[0] / p[2] * width_m, p[1] / p[2] * height_m};
  }
  // Local vertical scale, pixels per metre, at a metric point.
  double PxPerMetre(double x_m, double y_m) const {
    cv::Point2d a = ToImage(x_m, y_m - 0.25);
    cv::Point2d b = ToImage(x_m, y_m + 0.25);
    return std::hypot(a.x - b.x, a.y - b.y) / 0.5;
  }
};

Geometry MakeGeometry(const std::array<cv::Point2f, 4>& quad_px, int floors, int columns,
                      double floor_h, double width_m) {
  Geometry g;
  cv::Point2f unit[4] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
  cv::Point2f q[4] = {quad_px[0], quad_px[1], quad_px[2], quad_px[3]};
  cv::Mat m = cv::getPerspectiveTransform(unit, q);
  g.unit_to_img = cv::Matx33d(m.ptr<double>());
  g.img_to_unit = g.unit_to_img.inv();
  g.floors = floors;
  g.columns = columns;
  g.floor_h = floor_h;
  g.height_m = floors * floor_h;
  if (width_m <= 0) {
    // Square pixels: the bottom edge's pixel length at the bottom's vertical scale.
    cv::Point2d b0 = g.UnitToImage(0.5, 0.0);
    cv::Point2d b1 = g.UnitToImage(0.5, 0.02);
    double px_per_m = std::hypot(b1.x - b0.x, b1.y - b0.y) / (0.02 * g.height_m);
    double bottom_px = std::hypot(quad_px[1].x - quad_px[0].x, quad_px[1].y - quad_px[0].y);
    width_m = bottom_px / px_per_m;
  }
  g.width_m = width_m;
  g.col_w = width_m / columns;
  return g;
}

cv::Scalar Clamp(cv::Scalar c) {
  for (int i = 0; i < 3; ++i) c[i] = std::clamp(c[i], 0.0, 255.0);
  return c;
}

// Lighting applied to reflective surfaces (walls, objects, birds): a gain, a tint, and for
// infrared night cameras a grey conversion.
struct Light {
  double gain = 1;
  cv::Scalar tint{1, 1, 1};
  bool ir = false;
  cv::Scalar Apply(cv::Scalar c) const {
    if (ir) {
      double y = 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2];
      return Clamp(cv::Scalar(y, y, y) * gain);
    }
    return Clamp(cv::Scalar(c[0] * gain * tint[0], c[1] * gain * tint[1], c[2] * gain * tint[2]));
  }
  cv::Scalar Lit() const {  // an emissive (lit) window
    return ir ? cv::Scalar(235, 235, 235) : cv::Scalar(120, 215, 250);
  }
};

// One sample of a moving thing: metric (facade plane) or pixel position.
struct Sample {
  cv::Point2d p;
  double angle = 0;  // rotation (tumbling), radians
  double phase = 0;  // flap/stride phase
  double scale = 1;  // of the mover's size (perspective: a walker coming closer)
};

enum class Shape { kEllipse, kBox, kPoly, kBird, kLeaf, kPerson, kCar, kBug };

struct Mover {
  std::string kind;
  Shape shape = Shape::kEllipse;
  bool pixel_space = false;  // samples are pixels (street, bugs) rather than metres
  int64_t t0 = 0;            // global sample index of samples[0] (t = index / (fps * kSub))
  std::vector<Sample> samples;
  double size = 0;    // metres (or pixels if pixel_space): the longest dimension
  double aspect = 1;  // minor/major
  cv::Scalar colour;  // after lighting
  double alpha = 1;   // opacity (bugs)
  std::vector<cv::Point2d> poly;  // unit polygon (kPoly)
  double min_px = 2;  // rendered size never below this many pixels
  int truth_index = -1;
};

struct Toggle {
  std::vector<cv::Point> polygon;  // window in image px
  cv::Rect rect;
  std::vector<double> times;       // switch times, seconds
};

struct Laundry {
  double x_m, top_m, w_m, len_m, amp_m, hz, phase;
  cv::Scalar colour;
  int truth_index;
};

struct ShakeEpisode {
  double t0, t1, amp, fx, fy, phx, phy;
};

}  // namespace

std::string_view LightingName(Lighting l) {
  switch (l) {
    case Lighting::kDay:
      return "day";
    case Lighting::kDusk:
      return "dusk";
    case Lighting::kNight:
      return "night";
  }
  return "day";
}

std::string_view DistractorName(Distractor d) {
  switch (d) {
    case Distractor::kBird:
      return "bird";
    case Distractor::kLeaf:
      return "leaf";
    case Distractor::kRain:
      return "rain";
    case Distractor::kLaundry:
      return "laundry";
    case Distractor::kLightToggle:
      return "light_toggle";
    case Distractor::kShake:
      return "shake";
    case Distractor::kStreet:
      return "street";
    case Distractor::kBug:
      return "bug";
    case Distractor::kCloud:
      return "cloud";
    case Distractor::kExposure:
      return "exposure";
    case Distractor::kTree:
      return "tree";
    case Distractor::kWalker:
      return "walker";
  }
  return "?";
}

std::vector<Distractor> AllDistractors() {
  return {Distractor::kBird,  Distractor::kLeaf,        Distractor::kRain,
          Distractor::kLaundry, Distractor::kLightToggle, Distractor::kShake,
          Distractor::kStreet, Distractor::kBug,        Distractor::kCloud,
          Distractor::kExposure};
}

std::vector<Distractor> ExtraDistractors() { return {Distractor::kTree, Distractor::kWalker}; }

std::optional<Distractor> ParseDistractor(std::string_view name) {
  for (Distractor d : AllDistractors()) {
    if (DistractorName(d) == name) return d;
  }
  for (Distractor d : ExtraDistractors()) {
    if (DistractorName(d) == name) return d;
  }
  return std::nullopt;
}

std::string ExtensionFor(const std::string& codec) { return codec == "mjpg" ? "avi" : "mp4"; }

// ---------------------------------------------------------------------------------------------
// Scene::Impl

struct Scene::Impl {
  SceneOptions opt;
  SceneTruth truth;
  Geometry geo;
  Light light;
  cv::Scalar wall_colour;  // lit
  cv::Mat bg;              // static background, BGR8
  cv::Mat bg_alt;          // the same with the toggle-candidate windows switched
  std::vector<Toggle> toggles;
  std::vector<Mover> movers;
  std::vector<Laundry> laundry;
  std::vector<ShakeEpisode> shakes;
  bool rain = false;
  double rain_density = 0;  // streaks per megapixel per frame
  cv::Mat cloud_field;      // CV_8U gain * 255, low resolution, wider than the frame
  double cloud_speed = 0;   // field pixels per second
  double cloud_scale = 8;   // frame pixels per field pixel
  double exposure_t0 = -1, exposure_t1 = -1, exposure_gain = 1, exposure_back = -1;
  std::vector<cv::Mat> noise_pos, noise_neg;
  double noise_sigma = 0, blur_sigma = 0;
  int exposure = 2;  // samples (of kSub per frame) the shutter is open
  // Video backdrop.
  cv::VideoCapture video;
  int64_t video_next = 0;
  int64_t video_frames = 0;
  cv::Mat video_frame;
  // Scratch.
  cv::Mat layer, patch_acc, patch_tmp;

  double Fps() const { return truth.fps; }
  double TimeOfSample(int64_t s) const { return static_cast<double>(s) / (Fps() * kSub); }

  Result<void> Build();
  void ChooseLayout(Rng& r);
  void RenderFacade(Rng r, const std::vector<char>& lit, cv::Mat& out) const;
  void AddThrown(int n);
  void AddDistractor(Distractor d);
  void AddBirds(Rng r);
  void AddLeaves(Rng r);
  void AddLaundry(Rng r);
  void AddToggles(Rng r);
  void AddShake(Rng r);
  void AddStreet(Rng r);
  void AddBugs(Rng r);
  void AddCloud(Rng r);
  void AddExposure(Rng r);
  void AddTree(Rng r);
  void AddWalkers(Rng r);
  int AddTruth(const std::string& kind, int64_t f0, int64_t f1);
  void FinishMoverTruth(Mover& m);
  void DrawMover(const Mover& m, int64_t frame, cv::Mat& img);
  std::vector<cv::Point2d> Outline(const Mover& m, const Sample& s, double px_per_unit,
                                   cv::Point2d centre_px) const;
  cv::Point2d SamplePx(const Mover& m, const Sample& s) const {
    return m.pixel_space ? s.p : geo.ToImage(s.p.x, s.p.y);
  }
  double PxPerUnit(const Mover& m, const Sample& s) const {
    return m.pixel_space ? 1.0 : geo.PxPerMetre(s.p.x, s.p.y);
  }
  Result<void> RenderFrame(int64_t index, cv::Mat& out);
  // Video backdrop: seek to backdrop_start_frame (by reading, as seeking is not exact in
  // every container); read the next frame into video_frame, flipped. False at the end.
  void SkipToBackdropStart() {
    video.set(cv::CAP_PROP_POS_FRAMES, 0);
    for (int64_t i = 0; i < opt.backdrop_start_frame; ++i) {
      if (!video.grab()) {
        video.set(cv::CAP_PROP_POS_FRAMES, 0);
        break;
      }
    }
  }
  bool ReadBackdrop() {
    if (!video.read(video_frame) || video_frame.empty()) return false;
    if (opt.backdrop_flip != 0) cv::flip(video_frame, video_frame, opt.backdrop_flip > 0 ? 1 : -1);
    return true;
  }
};

// ---------------------------------------------------------------------------------------------
// Layout.

namespace {

struct Resolution {
  int w, h;
  double weight;
};
constexpr Resolution kResolutions[] = {
    {640, 360, 0.22}, {704, 576, 0.12}, {960, 540, 0.18}, {1280, 720, 0.28}, {1920, 1080, 0.20}};

std::string ResolutionTag(cv::Size s) {
  if (s.height <= 360) return "360p";
  if (s.height <= 576) return s.width == 704 ? "d1_576p" : "540p";
  if (s.height <= 720) return "720p";
  return "1080p";
}

}  // namespace

void Scene::Impl::ChooseLayout(Rng& r) {
  cv::Size size = opt.size;
  if (size.width <= 0 || size.height <= 0) {
    double x = r.U();
    size = {kResolutions[0].w, kResolutions[0].h};
    for (const Resolution& res : kResolutions) {
      if (x < res.weight) {
        size = {res.w, res.h};
        break;
      }
      x -= res.weight;
    }
  }
  truth.size = size;
  double fps = opt.fps;
  if (fps <= 0) {
    double x = r.U();
    fps = x < 0.7 ? 25 : (x < 0.85 ? 30 : 15);
  }
  truth.fps = fps;
  double duration = opt.duration_s > 0 ? opt.duration_s : r.U(6.0, 8.0);
  truth.frames = std::max<int64_t>(1, std::llround(duration * fps));
  truth.lighting = opt.lighting ? *opt.lighting
                                : (r.P(0.5) ? Lighting::kDay
                                            : (r.P(0.5) ? Lighting::kDusk : Lighting::kNight));
  switch (truth.lighting) {
    case Lighting::kDay:
      light.gain = r.U(0.9, 1.1);
      noise_sigma = r.U(1.0, 2.5);
      exposure = r.I(1, 2);
      break;
    case Lighting::kDusk:
      light.gain = r.U(0.45, 0.65);
      light.tint = cv::Scalar(0.85, 0.95, 1.08);
      noise_sigma = r.U(2.0, 3.5);
      exposure = r.I(2, 4);
      break;
    case Lighting::kNight:
      light.ir = r.P(0.5);
      light.gain = light.ir ? r.U(0.4, 0.55) : r.U(0.2, 0.3);
      light.tint = cv::Scalar(1.05, 0.95, 0.9);
      noise_sigma = r.U(3.0, 5.5);
      exposure = r.I(4, 7);
      break;
  }
  blur_sigma = r.P(0.5) ? r.U(0.3, 1.0) : 0.0;
}

// The facade texture: wall with grain and stains, floor slabs, a grid of windows with frames,
// glass, curtains and lit windows, balconies with railings, AC units, drain pipes. Drawn in
// metres scaled by `ppm` (texture pixels per metre), daylight colours, then lit.
void Scene::Impl::RenderFacade(Rng r, const std::vector<char>& lit, cv::Mat& out) const {
  const double ppm = std::clamp(geo.PxPerMetre(geo.width_m / 2, 0.5) * 1.1, 4.0, 60.0);
  const int tw = std::max(8, static_cast<int>(std::ceil(geo.width_m * ppm)));
  const int th = std::max(8, static_cast<int>(std::ceil(geo.height_m * ppm)));
  static const cv::Scalar kWalls[] = {{170, 195, 215}, {185, 185, 188}, {220, 222, 225},
                                      {70, 85, 150},   {195, 170, 140}, {150, 205, 222},
                                      {115, 115, 120}, {160, 175, 190}};
  cv::Scalar wall = kWalls[r.I(0, 7)];
  for (int i = 0; i < 3; ++i) wall[i] = std::clamp(wall[i] + r.U(-12, 12), 30.0, 240.0);
  cv::Mat tex(th, tw, CV_8UC3, wall);
  // Stains: low-frequency variation, and a fine grain.
  {
    cv::Mat low(std::max(2, th / 24), std::max(2, tw / 24), CV_32F);
    cv::RNG cr(r.Next());
    cr.fill(low, cv::RNG::UNIFORM, -14, 14);
    cv::Mat up;
    cv::resize(low, up, tex.size(), 0, 0, cv::INTER_CUBIC);
    cv::Mat grain(tex.size(), CV_32F);
    cr.fill(grain, cv::RNG::NORMAL, 0, r.U(2, 6));
    up += grain;
    cv::Mat up3;
    cv::merge(std::vector<cv::Mat>{up, up, up}, up3);
    cv::Mat texf;
    tex.convertTo(texf, CV_32FC3);
    texf += up3;
    texf.convertTo(tex, CV_8UC3);
  }
  auto Y2row = [&](double y_m) { return static_cast<int>(std::lround((geo.height_m - y_m) * ppm)); };
  auto X2col = [&](double x_m) { return static_cast<int>(std::lround(x_m * ppm)); };
  auto RectM = [&](double x0, double y0, double x1, double y1) {  // metres, y0 < y1
    int c0 = X2col(x0), c1 = X2col(x1), r0 = Y2row(y1), r1 = Y2row(y0);
    return cv::Rect(cv::Point(c0, r0), cv::Point(std::max(c1, c0 + 1), std::max(r1, r0 + 1)));
  };
  // Floor slabs.
  cv::Scalar slab = wall * r.U(0.8, 1.12);
  for (int f = 1; f < geo.floors; ++f) {
    cv::rectangle(tex, RectM(0, f * geo.floor_h - 0.12, geo.width_m, f * geo.floor_h + 0.12),
                  Clamp(slab), cv::FILLED);
  }
  const double win_w = geo.col_w * r.U(0.38, 0.62);
  const double win_h = geo.floor_h * r.U(0.42, 0.58);
  const double sill = r.U(0.8, 1.0);
  const bool balconies = r.P(0.5);
  const double balcony_share = r.U(0.3, 1.0);
  cv::Scalar frame_c = r.P(0.5) ? cv::Scalar(225, 225, 225) : cv::Scalar(70, 70, 75);
  cv::Scalar rail_c = r.P(0.5) ? cv::Scalar(200, 200, 200) : cv::Scalar(60, 60, 60);
  cv::Mat lit_mask(tex.size(), CV_8U, cv::Scalar(0));
  for (int f = 0; f < geo.floors; ++f) {
    for (int c = 0; c < geo.columns; ++c) {
      Rng wr = Rng::For(r.Next(), 0);
      const double xc = (c + 0.5) * geo.col_w;
      const double y0 = f * geo.floor_h + sill;
      cv::Rect w = RectM(xc - win_w / 2, y0, xc + win_w / 2, y0 + win_h);
      cv::Rect fr = RectM(xc - win_w / 2 - 0.08, y0 - 0.08, xc + win_w / 2 + 0.08,
                          y0 + win_h + 0.08);
      cv::rectangle(tex, fr, frame_c, cv::FILLED);
      // Glass: a dark, slightly blue reflection with a vertical gradient.
      double base = wr.U(35, 80);
      for (int row = w.y; row < w.y + w.height; ++row) {
        double k = base + 30.0 * (row - w.y) / std::max(1, w.height);
        cv::line(tex, {w.x, row}, {w.x + w.width - 1, row},
                 cv::Scalar(k * 1.15, k * 1.05, k * 0.95));
      }
      if (wr.P(0.35)) {  // curtain
        cv::Scalar cc(wr.U(80, 220), wr.U(80, 220), wr.U(80, 220));
        int cw = static_cast<int>(w.width * wr.U(0.3, 0.6));
        cv::rectangle(tex, {w.x, w.y, cw, w.height}, cc, cv::FILLED);
      }
      // Mullion.
      cv::line(tex, {w.x + w.width / 2, w.y}, {w.x + w.width / 2, w.y + w.height}, frame_c,
               std::max(1, static_cast<int>(0.05 * ppm)));
      const size_t wi = static_cast<size_t>(f * geo.columns + c);
      if (wi < lit.size() && lit[wi]) cv::rectangle(lit_mask, w, cv::Scalar(255), cv::FILLED);
      if (balconies && f > 0 && wr.P(balcony_share)) {
        double bx0 = xc - win_w / 2 - 0.4, bx1 = xc + win_w / 2 + 0.4;
        double by = f * geo.floor_h;
        cv::rectangle(tex, RectM(bx0, by - 0.05, bx1, by + 0.15), Clamp(wall * 0.7),
                      cv::FILLED);
        cv::rectangle(tex, RectM(bx0, by + 0.95, bx1, by + 1.02), rail_c, cv::FILLED);
        for (double bx = bx0; bx <= bx1; bx += 0.14) {
          cv::line(tex, {X2col(bx), Y2row(by + 0.15)}, {X2col(bx), Y2row(by + 0.95)}, rail_c,
                   1);
        }
      }
      if (wr.P(0.3)) {  // AC unit
        double ax = xc + (wr.P(0.5) ? 1 : -1) * (win_w / 2 + 0.55);
        double ay = f * geo.floor_h + 0.3;
        cv::Rect a = RectM(ax - 0.4, ay, ax + 0.4, ay + 0.55);
        cv::rectangle(tex, a, cv::Scalar(205, 208, 210), cv::FILLED);
        for (int k = 1; k < 5; ++k) {
          int yy = a.y + k * a.height / 5;
          cv::line(tex, {a.x, yy}, {a.x + a.width, yy}, cv::Scalar(150, 150, 150), 1);
        }
      }
    }
  }
  if (r.P(0.6)) {  // drain pipes
    int n = r.I(1, 3);
    for (int k = 0; k < n; ++k) {
      int col = X2col(geo.col_w * r.I(1, std::max(1, geo.columns - 1)));
      cv::line(tex, {col, 0}, {col, th}, cv::Scalar(150, 150, 145),
               std::max(1, static_cast<int>(0.1 * ppm)));
    }
  }
  // Lighting.
  {
    cv::Mat lit_tex;
    if (light.ir) {
      cv::Mat grey;
      cv::cvtColor(tex, grey, cv::COLOR_BGR2GRAY);
      grey.convertTo(grey, -1, light.gain);
      cv::cvtColor(grey, lit_tex, cv::COLOR_GRAY2BGR);
    } else {
      cv::Mat f;
      tex.convertTo(f, CV_32FC3);
      cv::multiply(f, cv::Scalar(light.gain * light.tint[0], light.gain * light.tint[1],
                                 light.gain * light.tint[2]),
                   f);
      f.convertTo(lit_tex, CV_8UC3);
    }
    // Lit windows: emissive, with a little structure so they are not flat.
    cv::Mat emissive(tex.size(), CV_8UC3, light.Lit());
    if (truth.lighting == Lighting::kDay) {
      cv::max(lit_tex, emissive * 0.75, emissive);
    }
    emissive.copyTo(lit_tex, lit_mask);
    tex = lit_tex;
  }
  // Warp the texture onto the frame: texture px -> metres -> unit -> image.
  cv::Matx33d tex_to_unit(1.0 / (ppm * geo.width_m), 0, 0,  //
                          0, -1.0 / (ppm * geo.height_m), 1.0,  //
                          0, 0, 1);
  cv::Matx33d tex_to_img = geo.unit_to_img * tex_to_unit;
  cv::warpPerspective(tex, out, cv::Mat(tex_to_img), out.size(), cv::INTER_LINEAR,
                      cv::BORDER_TRANSPARENT);
}

Result<void> Scene::Impl::Build() {
  // Real backdrops keep their own size (and a video its own rate) unless told otherwise.
  if (opt.backdrop == Backdrop::kStill && (opt.size.width <= 0 || opt.size.height <= 0)) {
    cv::Mat img = cv::imread(opt.backdrop_path, cv::IMREAD_COLOR);
    if (img.empty()) {
      return InvalidArgument("backdrop_path", "cannot read image '" + opt.backdrop_path + "'");
    }
    opt.size = img.size();
  } else if (opt.backdrop == Backdrop::kVideo) {
    cv::VideoCapture probe(opt.backdrop_path);
    if (!probe.isOpened()) {
      return InvalidArgument("backdrop_path", "cannot open video '" + opt.backdrop_path + "'");
    }
    if (opt.size.width <= 0 || opt.size.height <= 0) {
      opt.size = cv::Size(static_cast<int>(probe.get(cv::CAP_PROP_FRAME_WIDTH)),
                          static_cast<int>(probe.get(cv::CAP_PROP_FRAME_HEIGHT)));
    }
    if (opt.fps <= 0) {
      double f = probe.get(cv::CAP_PROP_FPS);
      opt.fps = f > 1 && f < 121 ? f : 25;
    }
  }
  Rng r = Rng::For(opt.seed, kLayout);
  ChooseLayout(r);
  const cv::Size size = truth.size;
  if (size.width < 160 || size.height < 120 || size.width > 3840 || size.height > 2160) {
    return InvalidArgument("size", "must be within 160x120..3840x2160");
  }
  truth.seed = opt.seed;
  truth.noise_sigma = noise_sigma;
  truth.blur_sigma = blur_sigma;
  const double W = size.width, H = size.height;
  std::array<cv::Point2f, 4> quad_px;
  int floors = 0, columns = 0;
  double floor_h = 3.0;
  if (opt.backdrop == Backdrop::kProcedural) {
    truth.backdrop = "procedural";
    floors = r.I(5, 24);
    floor_h = r.U(2.8, 3.3);
    double ground = H * r.U(0.80, 0.94);
    double roof = H * (r.P(0.25) ? 0.0 : r.U(0.02, 0.14));
    double left = W * r.U(0.02, 0.18), right = W * r.U(0.82, 0.98);
    double keystone = r.P(0.5) ? r.U(0.88, 0.97) : r.U(0.97, 1.0);
    if (keystone < 0.93) truth.tags.push_back("perspective");
    double shift = (right - left) * r.U(-0.03, 0.03);
    double mid = (left + right) / 2 + shift;
    double half_top = (right - left) / 2 * keystone;
    double tilt = H * r.U(-0.015, 0.015);
    roof = std::max(roof, std::abs(tilt));
    quad_px = {cv::Point2f(left, ground), cv::Point2f(right, ground),
               cv::Point2f(mid + half_top, roof - tilt), cv::Point2f(mid - half_top, roof + tilt)};
    // Columns so that windows are 3..4.5 m apart (width from square pixels).
    Geometry g0 = MakeGeometry(quad_px, floors, 1, floor_h, 0);
    columns = std::clamp(static_cast<int>(std::lround(g0.width_m / r.U(3.0, 4.5))), 2, 40);
  } else {
    truth.backdrop = opt.backdrop == Backdrop::kStill ? "still" : "video";
    std::array<cv::Point2f, 4> q =
        opt.backdrop_quad.value_or(std::array<cv::Point2f, 4>{
            cv::Point2f(0.2235f, 0.65f), cv::Point2f(1.0f, 0.5f), cv::Point2f(1.0f, 0.1f),
            cv::Point2f(0.2235f, 0.3567f)});
    for (int i = 0; i < 4; ++i) quad_px[i] = cv::Point2f(q[i].x * W, q[i].y * H);
    floors = opt.backdrop_floors > 0 ? opt.backdrop_floors : 4;
    columns = opt.backdrop_columns > 0 ? opt.backdrop_columns : 6;
    truth.tags.push_back("backdrop_" + truth.backdrop);
  }
  geo = MakeGeometry(quad_px, floors, columns, floor_h, 0);
  truth.facade.floors = floors;
  truth.facade.columns = columns;
  truth.facade.floor_height_m = floor_h;
  truth.facade.width_m = geo.width_m;
  for (int i = 0; i < 4; ++i) {
    truth.facade.quad[i] = cv::Point2f(quad_px[i].x / W, quad_px[i].y / H);
  }
  truth.tags.push_back(std::string(LightingName(truth.lighting)));
  if (light.ir) truth.tags.push_back("ir");
  truth.tags.push_back(ResolutionTag(size));
  truth.tags.push_back("fps" + std::to_string(static_cast<int>(std::lround(truth.fps))));

  // Background.
  bg.create(size, CV_8UC3);
  if (opt.backdrop == Backdrop::kProcedural) {
    // Sky gradient, neighbouring buildings, street band, then the facade.
    cv::Scalar sky_top, sky_bottom;
    switch (truth.lighting) {
      case Lighting::kDay:
        sky_top = {230, 190, 140};
        sky_bottom = {240, 225, 210};
        break;
      case Lighting::kDusk:
        sky_top = {120, 80, 70};
        sky_bottom = {120, 140, 200};
        break;
      case Lighting::kNight:
        sky_top = {25, 15, 10};
        sky_bottom = {45, 40, 40};
        break;
    }
    for (int y = 0; y < size.height; ++y) {
      double k = static_cast<double>(y) / size.height;
      cv::Scalar c = sky_top * (1 - k) + sky_bottom * k;
      if (light.ir) {
        double g = (c[0] + c[1] + c[2]) / 3;
        c = {g, g, g};
      }
      cv::line(bg, {0, y}, {size.width - 1, y}, c);
    }
    Rng br = Rng::For(opt.seed, kTexture, 7);
    for (int k = 0; k < 3; ++k) {  // neighbouring buildings, left and right
      double x0 = k == 0 ? 0 : (k == 1 ? quad_px[1].x : br.U(0, W * 0.1));
      double x1 = k == 0 ? quad_px[0].x : (k == 1 ? W : x0 + W * 0.05);
      double top = H * br.U(0.05, 0.5);
      cv::Scalar c = light.Apply(cv::Scalar(br.U(90, 170), br.U(90, 170), br.U(90, 170)));
      cv::rectangle(bg, cv::Point(static_cast<int>(x0), static_cast<int>(top)),
                    cv::Point(static_cast<int>(x1), size.height), c, cv::FILLED);
    }
    const double ground = quad_px[0].y;
    cv::Scalar road = light.Apply(cv::Scalar(95, 98, 100));
    cv::rectangle(bg, cv::Point(0, static_cast<int>(ground)), cv::Point(size.width, size.height),
                  road, cv::FILLED);
    cv::Scalar walk = light.Apply(cv::Scalar(150, 155, 160));
    cv::rectangle(bg, cv::Point(0, static_cast<int>(ground)),
                  cv::Point(size.width, static_cast<int>(ground + (H - ground) * 0.3)), walk,
                  cv::FILLED);
    // Windows lit from the start, and the toggle candidates.
    Rng lr = Rng::For(opt.seed, kTexture, 11);
    double p_lit = truth.lighting == Lighting::kDay ? 0.0
                   : truth.lighting == Lighting::kDusk ? 0.2 : 0.35;
    std::vector<char> lit(static_cast<size_t>(floors * columns));
    for (auto& l : lit) l = lr.P(p_lit);
    RenderFacade(Rng::For(opt.seed, kTexture), lit, bg);
    bg_alt = bg.clone();
    std::vector<char> alt = lit;
    for (auto& l : alt) l = !l;
    RenderFacade(Rng::For(opt.seed, kTexture), alt, bg_alt);
    // The wall colour behind objects: the median of the facade's pixels.
    cv::Mat mask(size, CV_8U, cv::Scalar(0));
    std::vector<cv::Point> poly;
    for (const auto& p : quad_px) poly.emplace_back(cv::Point(p));
    cv::fillConvexPoly(mask, poly, cv::Scalar(255));
    wall_colour = cv::mean(bg, mask);
  } else if (opt.backdrop == Backdrop::kStill) {
    cv::Mat img = cv::imread(opt.backdrop_path, cv::IMREAD_COLOR);
    if (img.empty()) {
      return InvalidArgument("backdrop_path", "cannot read image '" + opt.backdrop_path + "'");
    }
    if (opt.backdrop_flip != 0) cv::flip(img, img, opt.backdrop_flip > 0 ? 1 : -1);
    cv::resize(img, bg, size, 0, 0, cv::INTER_AREA);
    wall_colour = cv::mean(bg);
  } else {
    if (!video.open(opt.backdrop_path) || !video.isOpened()) {
      return InvalidArgument("backdrop_path", "cannot open video '" + opt.backdrop_path + "'");
    }
    video_frames = static_cast<int64_t>(video.get(cv::CAP_PROP_FRAME_COUNT));
    SkipToBackdropStart();
    if (!ReadBackdrop()) {
      return InvalidArgument("backdrop_path", "no frames in '" + opt.backdrop_path + "'");
    }
    cv::resize(video_frame, bg, size, 0, 0, cv::INTER_AREA);
    video_next = 1;
    wall_colour = cv::mean(bg);
    noise_sigma = 0;  // real footage has its own
    blur_sigma = 0;
    truth.noise_sigma = 0;
    truth.blur_sigma = 0;
  }

  // Objects.
  int n_thrown = opt.thrown < 0 ? 1 : opt.thrown;
  AddThrown(n_thrown);
  std::vector<Distractor> ds = opt.distractors;
  if (opt.random_distractors) {
    Rng dr = Rng::For(opt.seed, kDistractorPick);
    int n = dr.I(0, 3);
    std::vector<Distractor> all = AllDistractors();
    for (int k = 0; k < n; ++k) ds.push_back(all[static_cast<size_t>(dr.I(0, 9))]);
  }
  std::sort(ds.begin(), ds.end());
  ds.erase(std::unique(ds.begin(), ds.end()), ds.end());
  for (Distractor d : ds) {
    if (opt.backdrop != Backdrop::kProcedural &&
        (d == Distractor::kLightToggle || d == Distractor::kLaundry)) {
      continue;  // no window model on real backdrops
    }
    AddDistractor(d);
    truth.tags.push_back(std::string(DistractorName(d)));
  }
  if (ds.empty()) truth.tags.push_back("clean");
  for (const ObjectTruth& o : truth.objects) {
    if (o.kind != "thrown") continue;
    if (o.contrast < 25) truth.tags.push_back("low_contrast");
    if (o.size_px < 6) truth.tags.push_back("small");
    if (o.terminal_mps < 15) truth.tags.push_back("light_object");
  }
  std::sort(truth.tags.begin(), truth.tags.end());
  truth.tags.erase(std::unique(truth.tags.begin(), truth.tags.end()), truth.tags.end());

  // Noise bank.
  if (noise_sigma > 0) {
    cv::RNG nr(Rng::Mix(opt.seed ^ kNoiseStream));
    for (int k = 0; k < 6; ++k) {
      cv::Mat n16(size, light.ir ? CV_16SC1 : CV_16SC3);
      nr.fill(n16, cv::RNG::NORMAL, 0, noise_sigma);
      if (light.ir) cv::merge(std::vector<cv::Mat>{n16, n16, n16}, n16);
      cv::Mat pos, neg;
      cv::max(n16, 0, pos);
      cv::max(-n16, 0, neg);
      pos.convertTo(pos, CV_8UC3);
      neg.convertTo(neg, CV_8UC3);
      noise_pos.push_back(pos);
      noise_neg.push_back(neg);
    }
  }
  return {};
}

int Scene::Impl::AddTruth(const std::string& kind, int64_t f0, int64_t f1) {
  ObjectTruth o;
  o.kind = kind;
  o.first_frame = std::max<int64_t>(0, f0);
  o.last_frame = std::min<int64_t>(truth.frames - 1, f1);
  truth.objects.push_back(o);
  return static_cast<int>(truth.objects.size()) - 1;
}

// Fills a mover's truth: frame range and per-frame centre (the mean of the exposure samples,
// which is where the blurred blob's centroid lies), clipped to the frame.
void Scene::Impl::FinishMoverTruth(Mover& m) {
  if (m.truth_index < 0 || m.samples.empty()) return;
  ObjectTruth& o = truth.objects[static_cast<size_t>(m.truth_index)];
  const int64_t first_s = m.t0, last_s = m.t0 + static_cast<int64_t>(m.samples.size()) - 1;
  int64_t f0 = -1, f1 = -1;
  o.trajectory.clear();
  for (int64_t f = std::max<int64_t>(0, first_s / kSub); f < truth.frames; ++f) {
    int64_t s1 = f * kSub, s0 = s1 - exposure + 1;
    if (s1 < first_s) continue;
    if (s0 > last_s) break;
    cv::Point2d sum(0, 0);
    int n = 0;
    for (int64_t s = std::max(s0, first_s); s <= std::min(s1, last_s); ++s) {
      sum += SamplePx(m, m.samples[static_cast<size_t>(s - first_s)]);
      ++n;
    }
    cv::Point2d c = sum / n;
    if (c.x < 0 || c.y < 0 || c.x >= truth.size.width || c.y >= truth.size.height) {
      if (f0 >= 0) break;  // left the frame
      continue;
    }
    if (f0 < 0) f0 = f;
    f1 = f;
    o.trajectory.push_back({std::llround(f * 1000.0 / truth.fps),
                            static_cast<float>(c.x / truth.size.width),
                            static_cast<float>(c.y / truth.size.height)});
  }
  if (f0 < 0) {
    f0 = f1 = std::clamp<int64_t>(first_s / kSub, 0, truth.frames - 1);
  }
  o.first_frame = f0;
  o.last_frame = f1;
  o.start_ms = std::llround(f0 * 1000.0 / truth.fps);
  o.end_ms = std::llround(f1 * 1000.0 / truth.fps);
  double px = m.pixel_space ? m.size : m.size * PxPerUnit(m, m.samples.front());
  o.size_px = std::max(px, m.min_px);
}

void Scene::Impl::AddThrown(int n) {
  const double dt = 1.0 / (Fps() * kSub);
  double duration = truth.frames / Fps();
  double next_free = 0.8;  // objects do not overlap in time
  for (int k = 0; k < n; ++k) {
    Rng r = Rng::For(opt.seed, kThrownStream, static_cast<uint64_t>(k));
    Mover m;
    m.kind = "thrown";
    const int lowest = std::min(2, geo.floors);
    const int floor = r.I(lowest, geo.floors);
    const int column = r.I(1, geo.columns);
    const double x0 = (column - 0.5) * geo.col_w + r.U(-0.3, 0.3) * std::min(1.0, geo.col_w / 3);
    const double y0 = (floor - 1) * geo.floor_h + r.U(0.8, 1.3);
    double vx = r.P(0.3) ? 0.0 : r.U(-2.0, 2.0);
    double vy = r.P(0.4) ? 0.0 : r.U(-1.0, 2.5);
    const bool light_obj = opt.light_objects || r.P(0.15);
    const double vt = light_obj ? r.U(8, 14) : r.U(15, 60);
    const double kdrag = kG / (vt * vt);
    // Integrate (semi-implicit Euler at kSub steps per frame) until the ground.
    double x = x0, y = y0, angle = r.U(0, 2 * kPi);
    const double spin = r.U(-12, 12);
    std::vector<Sample> path;
    path.push_back({{x, y}, angle, 0});
    while (y > 0 && path.size() < static_cast<size_t>(20 * Fps() * kSub)) {
      double v = std::hypot(vx, vy);
      vx += -kdrag * v * vx * dt;
      vy += (-kG - kdrag * v * vy) * dt;
      x += vx * dt;
      y += vy * dt;
      angle += spin * dt;
      path.push_back({{x, std::max(y, 0.0)}, angle, 0});
    }
    const double fall_s = static_cast<double>(path.size()) * dt;
    double latest = duration - fall_s - 0.4;
    double t_rel;
    if (latest < next_free) {
      // Make the clip long enough for the whole fall.
      t_rel = next_free;
      duration = t_rel + fall_s + 0.6;
      truth.frames = std::llround(duration * Fps());
    } else {
      t_rel = r.U(next_free, latest);
    }
    next_free = t_rel + fall_s + 0.3;
    m.t0 = std::llround(t_rel * Fps() * kSub);
    m.samples = std::move(path);
    // Appearance.
    m.size = r.U(0.1, 0.7);
    const double px_per_m = geo.PxPerMetre(x0, y0);
    double px = std::clamp(m.size * px_per_m, 3.0, 30.0);
    m.size = px / px_per_m;
    m.min_px = 3.0;
    m.aspect = r.U(0.35, 1.0);
    int shape = r.I(0, 2);
    m.shape = shape == 0 ? Shape::kEllipse : (shape == 1 ? Shape::kBox : Shape::kPoly);
    int nv = r.I(5, 8);
    for (int v = 0; v < nv; ++v) {
      double a = 2 * kPi * v / nv;
      double rr = r.U(0.55, 1.0) * 0.5;
      m.poly.emplace_back(rr * std::cos(a), rr * std::sin(a) * m.aspect);
    }
    const bool low = opt.low_contrast || r.P(0.25);
    cv::Point2d rel_px = geo.ToImage(x0, y0);
    cv::Scalar behind = wall_colour;
    if (opt.backdrop != Backdrop::kProcedural) {
      cv::Rect around(cv::Point(static_cast<int>(rel_px.x) - 8, static_cast<int>(rel_px.y) - 8),
                      cv::Size(16, 16));
      around &= cv::Rect(0, 0, bg.cols, bg.rows);
      if (around.area() > 0) behind = cv::mean(bg(around));
    }
    if (low) {
      // Close to the wall: every channel within 12..25 levels, one sign for all.
      double sgn = behind[0] + behind[1] + behind[2] > 3 * 128 ? -1.0 : 1.0;
      double d = r.U(14, 26);
      m.colour = Clamp(behind + cv::Scalar::all(sgn * d) +
                       cv::Scalar(r.U(-4, 4), r.U(-4, 4), r.U(-4, 4)));
    } else {
      static const cv::Scalar kColours[] = {{235, 235, 235}, {30, 30, 30},   {40, 40, 200},
                                            {180, 90, 30},   {40, 120, 160}, {60, 150, 60},
                                            {130, 130, 130}, {80, 200, 230}};
      m.colour = opt.backdrop == Backdrop::kProcedural ? light.Apply(kColours[r.I(0, 7)])
                                                       : kColours[r.I(0, 7)];
    }
    m.truth_index = AddTruth("thrown", 0, 0);
    ObjectTruth& o = truth.objects.back();
    o.origin = cv::Point2f(static_cast<float>(rel_px.x / truth.size.width),
                           static_cast<float>(rel_px.y / truth.size.height));
    o.floor = std::clamp(static_cast<int>(std::floor(y0 / geo.floor_h)) + 1, 1, geo.floors);
    o.window = std::clamp(static_cast<int>(std::floor(x0 / geo.col_w)) + 1, 1, geo.columns);
    o.terminal_mps = vt;
    o.fall_m = y0;
    FinishMoverTruth(m);
    // Contrast against what is really behind it along the way.
    double sum = 0;
    int cnt = 0;
    for (const TrackPoint& tp : o.trajectory) {
      int px_x = std::clamp(static_cast<int>(tp.x * truth.size.width), 0, truth.size.width - 1);
      int px_y = std::clamp(static_cast<int>(tp.y * truth.size.height), 0, truth.size.height - 1);
      cv::Vec3b b = bg.at<cv::Vec3b>(px_y, px_x);
      double dmax = 0;
      for (int c = 0; c < 3; ++c) dmax = std::max(dmax, std::abs(m.colour[c] - b[c]));
      sum += dmax;
      ++cnt;
    }
    o.contrast = cnt ? sum / cnt : 0;
    movers.push_back(std::move(m));
  }
}

void Scene::Impl::AddDistractor(Distractor d) {
  const uint64_t sd = opt.seed;
  switch (d) {
    case Distractor::kBird:
      AddBirds(Rng::For(sd, kBirdStream));
      break;
    case Distractor::kLeaf:
      AddLeaves(Rng::For(sd, kLeafStream));
      break;
    case Distractor::kRain: {
      Rng r = Rng::For(sd, kRainStream);
      rain = true;
      rain_density = r.U(60, 220);
      AddTruth("rain", 0, truth.frames - 1);
      break;
    }
    case Distractor::kLaundry:
      AddLaundry(Rng::For(sd, kLaundryStream));
      break;
    case Distractor::kLightToggle:
      AddToggles(Rng::For(sd, kToggleStream));
      break;
    case Distractor::kShake:
      AddShake(Rng::For(sd, kShakeStream));
      break;
    case Distractor::kStreet:
      AddStreet(Rng::For(sd, kStreetStream));
      break;
    case Distractor::kBug:
      AddBugs(Rng::For(sd, kBugStream));
      break;
    case Distractor::kCloud:
      AddCloud(Rng::For(sd, kCloudStream));
      break;
    case Distractor::kExposure:
      AddExposure(Rng::For(sd, kExposureStream));
      break;
    case Distractor::kTree:
      AddTree(Rng::For(sd, kTreeStream));
      break;
    case Distractor::kWalker:
      AddWalkers(Rng::For(sd, kWalkerStream));
      break;
  }
}

// Birds fly in front of the facade: crossing, gliding down, landing on a ledge and leaving,
// or circling; wings flap at 3..8 Hz (or are held while gliding).
void Scene::Impl::AddBirds(Rng r) {
  const double dt = 1.0 / (Fps() * kSub);
  const int64_t total = truth.frames * kSub;
  int n = r.I(1, 4);
  for (int k = 0; k < n; ++k) {
    Mover m;
    m.kind = "bird";
    m.shape = Shape::kBird;
    m.size = r.U(0.25, 0.45);
    m.min_px = 4;
    double g = r.U(50, 90);
    m.colour = light.Apply(r.P(0.2) ? cv::Scalar(215, 215, 215) : cv::Scalar(g, g, g * 1.05));
    const int mode = r.I(0, 3);  // 0 cross, 1 glide down, 2 land and leave, 3 circle
    const double flap_hz = r.U(3, 8);
    double x = r.U(0, geo.width_m), y = r.U(geo.height_m * 0.15, geo.height_m * 0.95);
    double speed = r.U(5, 14);
    double dir = r.Sign();
    if (mode == 0 || mode == 1) x = dir > 0 ? -1.0 : geo.width_m + 1.0;
    m.t0 = static_cast<int64_t>(r.U(0, 0.6) * total);
    const int64_t len = std::min<int64_t>(total - m.t0 + kSub, static_cast<int64_t>(
                                                                  r.U(2.0, 5.0) * Fps() * kSub));
    double vx = dir * speed, vy = mode == 1 ? -speed * r.U(0.2, 0.7) : 0.0;
    double ph = r.U(0, 2 * kPi);
    const double wobble = r.U(0.2, 0.8), wob_hz = r.U(0.5, 1.5);
    const double land_y = std::floor(y / geo.floor_h) * geo.floor_h + 1.0;
    double circle_r = r.U(2, 6), circle_w = r.Sign() * speed / 4;
    const double cx = x, cy = y;
    for (int64_t s = 0; s < len; ++s) {
      const double t = s * dt;
      bool gliding = mode == 1 && std::fmod(t, 2.0) > 1.2;
      ph += (gliding ? 0 : 2 * kPi * flap_hz * dt);
      double px = x, py = y;
      switch (mode) {
        case 0:
          px = x + vx * t;
          py = y + wobble * std::sin(2 * kPi * wob_hz * t);
          break;
        case 1:
          px = x + vx * t;
          py = y + vy * t;
          break;
        case 2: {
          // Descend decelerating to the ledge (1.5 s), sit (1 s), take off upwards.
          if (t < 1.5) {
            double a = t / 1.5;
            px = x + vx * 0.6 * (a - 0.5 * a * a) * 1.5;
            py = y + (land_y - y) * (2 * a - a * a);
          } else if (t < 2.5) {
            px = x + vx * 0.6 * 0.75;
            py = land_y;
            ph = 0;
          } else {
            double tt = t - 2.5;
            px = x + vx * 0.45 + vx * tt;
            py = land_y + 2.0 * tt + 1.5 * tt * tt;
          }
          break;
        }
        default:
          px = cx + circle_r * std::cos(circle_w * t);
          py = cy + circle_r * 0.6 * std::sin(circle_w * t);
          break;
      }
      m.samples.push_back({{px, py}, std::atan2(0.0, dir), ph});
    }
    m.truth_index = AddTruth("bird", 0, 0);
    FinishMoverTruth(m);
    movers.push_back(std::move(m));
  }
}

// Leaves: light, so they reach 0.5..2 m/s within a fraction of a second and then drift and
// flutter sideways.
void Scene::Impl::AddLeaves(Rng r) {
  const double dt = 1.0 / (Fps() * kSub);
  const int64_t total = truth.frames * kSub;
  int n = r.I(1, 6);
  const double wind = r.U(-1.5, 1.5);
  for (int k = 0; k < n; ++k) {
    Mover m;
    m.kind = "leaf";
    m.shape = Shape::kLeaf;
    m.size = r.U(0.06, 0.16);
    m.min_px = 2.5;
    m.aspect = r.U(0.4, 0.7);
    static const cv::Scalar kLeaf[] = {{40, 140, 60}, {40, 180, 200}, {30, 80, 130}, {50, 160, 120}};
    m.colour = light.Apply(kLeaf[r.I(0, 3)]);
    const double vt = r.U(0.5, 2.0);
    const double amp = r.U(0.3, 1.5), hz = r.U(0.3, 0.8), ph = r.U(0, 2 * kPi);
    double x = r.U(0, geo.width_m), y = r.U(geo.height_m * 0.4, geo.height_m * 1.05);
    double vy = 0;
    const double kd = kG / (vt * vt);
    double angle = r.U(0, 2 * kPi);
    const double spin = r.U(-6, 6);
    m.t0 = static_cast<int64_t>(r.U(0, 0.5) * total);
    const int64_t len = total - m.t0 + kSub;
    for (int64_t s = 0; s < len && y > 0; ++s) {
      const double t = s * dt;
      vy += (-kG + kd * vy * vy) * dt;
      if (vy < -vt) vy = -vt;
      y += vy * dt;
      double px = x + wind * t + amp * std::sin(2 * kPi * hz * t + ph);
      angle += spin * dt;
      m.samples.push_back({{px, y}, angle, 0});
    }
    m.truth_index = AddTruth("leaf", 0, 0);
    FinishMoverTruth(m);
    movers.push_back(std::move(m));
  }
}

void Scene::Impl::AddLaundry(Rng r) {
  int n = r.I(1, 3);
  for (int k = 0; k < n; ++k) {
    Laundry l;
    int f = r.I(1, std::max(1, geo.floors - 1));
    int c = r.I(1, geo.columns);
    l.x_m = (c - 0.5) * geo.col_w + r.U(-0.5, 0.5);
    l.top_m = f * geo.floor_h + r.U(0.9, 1.1);
    l.w_m = r.U(0.5, 1.2);
    l.len_m = r.U(0.6, 1.5);
    l.amp_m = r.U(0.1, 0.45);
    l.hz = r.U(0.5, 2.0);
    l.phase = r.U(0, 2 * kPi);
    l.colour = light.Apply(cv::Scalar(r.U(60, 250), r.U(60, 250), r.U(60, 250)));
    l.truth_index = AddTruth("laundry", 0, truth.frames - 1);
    ObjectTruth& o = truth.objects.back();
    cv::Point2d p = geo.ToImage(l.x_m, l.top_m - l.len_m / 2);
    for (int64_t fr = 0; fr < truth.frames; ++fr) {
      o.trajectory.push_back({std::llround(fr * 1000.0 / truth.fps),
                              static_cast<float>(p.x / truth.size.width),
                              static_cast<float>(p.y / truth.size.height)});
    }
    o.start_ms = 0;
    o.end_ms = std::llround((truth.frames - 1) * 1000.0 / truth.fps);
    laundry.push_back(l);
  }
}

void Scene::Impl::AddToggles(Rng r) {
  int n = r.I(2, 8);
  double duration = truth.frames / Fps();
  for (int k = 0; k < n; ++k) {
    Toggle tg;
    int f = r.I(0, geo.floors - 1), c = r.I(0, geo.columns - 1);
    const double xc = (c + 0.5) * geo.col_w;
    const double y0 = f * geo.floor_h + 0.7;
    const double hw = geo.col_w * 0.33, hh = geo.floor_h * 0.65;
    static const cv::Point2d kCorners[] = {{-1, 0}, {1, 0}, {1, 1}, {-1, 1}};
    for (const cv::Point2d& k : kCorners) {
      cv::Point2d p = geo.ToImage(xc + k.x * hw, y0 + k.y * hh);
      tg.polygon.emplace_back(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
    }
    tg.rect = cv::boundingRect(tg.polygon) & cv::Rect(0, 0, truth.size.width, truth.size.height);
    int switches = r.I(1, 3);
    for (int s = 0; s < switches; ++s) tg.times.push_back(r.U(0.3, duration - 0.2));
    std::sort(tg.times.begin(), tg.times.end());
    int ti = AddTruth("light_toggle", std::llround(tg.times.front() * Fps()),
                      std::llround(tg.times.back() * Fps()));
    ObjectTruth& o = truth.objects[static_cast<size_t>(ti)];
    o.start_ms = std::llround(o.first_frame * 1000.0 / truth.fps);
    o.end_ms = std::llround(o.last_frame * 1000.0 / truth.fps);
    if (tg.rect.area() > 0) toggles.push_back(tg);
  }
}

void Scene::Impl::AddShake(Rng r) {
  double duration = truth.frames / Fps();
  int n = r.I(1, 2);
  const double scale = truth.size.height / 720.0;
  for (int k = 0; k < n; ++k) {
    ShakeEpisode e;
    e.t0 = r.U(0, std::max(0.1, duration - 1.5));
    e.t1 = std::min(duration, e.t0 + r.U(1.0, 3.0));
    e.amp = r.U(1.0, 6.0) * scale;
    e.fx = r.U(2, 9);
    e.fy = r.U(2, 9);
    e.phx = r.U(0, 2 * kPi);
    e.phy = r.U(0, 2 * kPi);
    shakes.push_back(e);
    int ti = AddTruth("shake", std::llround(e.t0 * Fps()), std::llround(e.t1 * Fps()));
    ObjectTruth& o = truth.objects[static_cast<size_t>(ti)];
    o.start_ms = std::llround(o.first_frame * 1000.0 / truth.fps);
    o.end_ms = std::llround(o.last_frame * 1000.0 / truth.fps);
  }
}

void Scene::Impl::AddStreet(Rng r) {
  const double dt = 1.0 / (Fps() * kSub);
  const int64_t total = truth.frames * kSub;
  const double W = truth.size.width, H = truth.size.height;
  const double ground = truth.facade.quad[0].y * H;
  const double ppm = geo.PxPerMetre(geo.width_m / 2, 0.5);
  int people = r.I(2, 6), cars = r.I(0, 3);
  for (int k = 0; k < people + cars; ++k) {
    Mover m;
    const bool car = k >= people;
    m.kind = "street";
    m.shape = car ? Shape::kCar : Shape::kPerson;
    m.pixel_space = true;
    double feet = ground + (H - ground) * r.U(0.25, 0.95);
    double scale = ppm * (1.0 + 0.6 * (feet - ground) / std::max(1.0, H - ground));
    m.size = (car ? 4.5 : 1.7) * scale;
    m.aspect = car ? 0.33 : 0.3;
    m.colour = light.Apply(cv::Scalar(r.U(20, 230), r.U(20, 230), r.U(20, 230)));
    double v = (car ? r.U(4, 12) : r.U(0.8, 1.6)) * scale * r.Sign();
    double x = v > 0 ? r.U(-0.2, 0.5) * W : r.U(0.5, 1.2) * W;
    m.t0 = static_cast<int64_t>(r.U(0, 0.3) * total);
    const int64_t len = total - m.t0 + kSub;
    double stride = r.U(1.6, 2.2);
    for (int64_t s = 0; s < len; ++s) {
      double t = s * dt;
      // Sample position: the centre of the person/car (feet minus half height).
      double cy = feet - (car ? 0.75 : 0.85) * scale;
      m.samples.push_back({{x + v * t, cy}, v > 0 ? 0.0 : kPi, 2 * kPi * stride * t});
    }
    m.truth_index = AddTruth("street", 0, 0);
    FinishMoverTruth(m);
    movers.push_back(std::move(m));
  }
}

// A tree close to the camera in front of the lower floors: a static trunk (part of the
// background) and leaf clusters on 3..6 branches that swing about their pivots at 0.3..1.2 Hz,
// with slower gusts, each cluster fluttering on its own. Near the camera, a sway of a few
// pixels spans metres of the facade behind it, and a cluster swinging down from its turning
// point accelerates like a falling body for a fraction of a second.
void Scene::Impl::AddTree(Rng r) {
  const double dt = 1.0 / (Fps() * kSub);
  const int64_t total = truth.frames * kSub;
  const double W = truth.size.width, H = truth.size.height;
  const double ground = std::min(H - 1, static_cast<double>(truth.facade.quad[0].y) * H);
  const double roof = static_cast<double>(truth.facade.quad[3].y) * H;
  const double height = (ground - roof) * r.U(0.35, 0.65);  // tree top above the ground, px
  const double base_x = W * r.U(0.15, 0.85);
  const cv::Point2d top(base_x + r.U(-0.05, 0.05) * height, ground - height * 0.55);
  const cv::Scalar bark = light.Apply(cv::Scalar(30, 45, 60));
  const int thick = std::max(2, static_cast<int>(height * 0.04));
  for (cv::Mat* m : {&bg, &bg_alt}) {
    if (m->empty()) continue;
    cv::line(*m, cv::Point(cv::Point2d(base_x, ground)), cv::Point(top), bark, thick, cv::LINE_AA);
  }
  static const cv::Scalar kFoliage[] = {
      {40, 110, 50}, {30, 90, 40}, {50, 140, 70}, {35, 120, 90}, {25, 70, 35}};
  const int branches = r.I(3, 6);
  const double gust_a = r.U(0.0, 0.08), gust_hz = r.U(0.1, 0.3), gust_ph = r.U(0, 2 * kPi);
  for (int b = 0; b < branches; ++b) {
    const cv::Point2d pivot = top + cv::Point2d(r.U(-0.08, 0.08) * height, r.U(-0.1, 0.2) * height);
    const double length = height * r.U(0.3, 0.6);
    const double angle0 = -kPi / 2 + r.U(-1.2, 1.2);  // upwards, spread
    const double amp = r.U(0.04, 0.14), hz = r.U(0.3, 1.2), ph = r.U(0, 2 * kPi);
    const int clusters = r.I(6, 14);
    for (int c = 0; c < clusters; ++c) {
      Mover m;
      m.kind = "tree";
      m.shape = Shape::kEllipse;
      m.pixel_space = true;
      m.size = std::max(3.0, height * r.U(0.03, 0.09));
      m.min_px = 3;
      m.aspect = r.U(0.5, 1.0);
      m.colour = light.Apply(kFoliage[r.I(0, 4)] + cv::Scalar::all(r.U(-15, 15)));
      const double along = r.U(0.3, 1.0) * length, side = r.U(-0.15, 0.15) * length;
      const double fl_a = r.U(0.3, 1.5), fl_hz = r.U(1.5, 4.0), fl_ph = r.U(0, 2 * kPi);
      const double rot0 = r.U(0, kPi);
      m.t0 = 0;
      for (int64_t s = 0; s < total + kSub; ++s) {
        const double t = s * dt;
        const double g = std::sin(2 * kPi * gust_hz * t + gust_ph);
        const double th = angle0 + amp * std::sin(2 * kPi * hz * t + ph) + gust_a * g * g * g;
        const cv::Point2d dir(std::cos(th), std::sin(th)), nrm(-dir.y, dir.x);
        const cv::Point2d p = pivot + dir * along + nrm * side +
                              cv::Point2d(fl_a * std::sin(2 * kPi * fl_hz * t + fl_ph),
                                          0.6 * fl_a * std::cos(2 * kPi * fl_hz * t + fl_ph));
        m.samples.push_back({p, rot0 + th, 0});
      }
      movers.push_back(std::move(m));
    }
  }
  AddTruth("tree", 0, truth.frames - 1);
  ObjectTruth& o = truth.objects.back();
  o.end_ms = std::llround((truth.frames - 1) * 1000.0 / truth.fps);
}

// People walking towards or away from the camera (and a little sideways) in front of the
// lower floors, as on a facade laid over a street view: with perspective the feet move down
// the image faster as a walker comes closer, and the walker grows.
void Scene::Impl::AddWalkers(Rng r) {
  const double dt = 1.0 / (Fps() * kSub);
  const int64_t total = truth.frames * kSub;
  const double W = truth.size.width, H = truth.size.height;
  const double ground = std::min(H - 1, static_cast<double>(truth.facade.quad[0].y) * H);
  const double roof = static_cast<double>(truth.facade.quad[3].y) * H;
  const double y_far = ground - (ground - roof) * r.U(0.25, 0.45);  // feet at Z = 10 m
  const double y_near = std::min(H - 1, ground + (H - ground) * 0.5);  // feet at Z = 4 m
  const double k = (y_near - y_far) / (1.0 / 4 - 1.0 / 10);
  const double horizon = y_far - k / 10;
  const double h_near = H * r.U(0.12, 0.22);  // a walker's height at Z = 4 m
  const double f = h_near * 4 / 1.7;           // px per metre at Z = 1 m
  const int n = r.I(2, 5);
  for (int i = 0; i < n; ++i) {
    Mover m;
    m.kind = "walker";
    m.shape = Shape::kPerson;
    m.pixel_space = true;
    m.size = h_near;
    m.aspect = 0.3;
    m.min_px = 3;
    m.colour = light.Apply(cv::Scalar(r.U(20, 230), r.U(20, 230), r.U(20, 230)));
    const bool towards = r.P(0.6);
    const double speed = r.U(1.0, 1.7);
    const double x0 = r.U(-0.35, 0.35) * W / f * 7;  // lateral metres at mid depth
    const double vx = r.U(-0.5, 0.5);
    const double stride = r.U(1.6, 2.2);
    // On their way when the clip starts (people do not appear out of nowhere).
    const double z0 = towards ? r.U(7.0, 10.5) : r.U(4.0, 7.5);
    m.t0 = 0;
    for (int64_t s = 0; s < total + kSub; ++s) {
      const double t = s * dt;
      const double z = towards ? z0 - speed * t : z0 + speed * t;
      if (z < 3.5 || z > 11) break;
      const double feet = horizon + k / z;
      const double h = 1.7 * f / z;
      const double x = W / 2 + f * (x0 + vx * t) / z;
      m.samples.push_back({{x, feet - 0.5 * h}, 0, 2 * kPi * stride * t, h / h_near});
    }
    if (m.samples.empty()) continue;
    m.truth_index = AddTruth("walker", 0, 0);
    FinishMoverTruth(m);
    movers.push_back(std::move(m));
  }
}

void Scene::Impl::AddBugs(Rng r) {
  const double dt = 1.0 / (Fps() * kSub);
  const int64_t total = truth.frames * kSub;
  const double W = truth.size.width, H = truth.size.height;
  int n = r.I(1, 2);
  for (int k = 0; k < n; ++k) {
    Mover m;
    m.kind = "bug";
    m.shape = Shape::kBug;
    m.pixel_space = true;
    m.size = H * r.U(0.08, 0.25);
    m.alpha = r.U(0.3, 0.7);
    m.colour = light.ir ? cv::Scalar(220, 220, 220) : cv::Scalar(25, 25, 30);
    m.t0 = static_cast<int64_t>(r.U(0, 0.7) * total);
    const int64_t len = std::min<int64_t>(total - m.t0 + kSub,
                                          static_cast<int64_t>(r.U(0.5, 3.0) * Fps() * kSub));
    double x = r.U(0.1, 0.9) * W, y = r.U(0.1, 0.9) * H;
    double vx = r.U(-1, 1) * H, vy = r.U(-1, 1) * H;
    for (int64_t s = 0; s < len; ++s) {
      if (s % (kSub * 3) == 0) {  // erratic: a new heading every few frames
        vx = r.U(-1.2, 1.2) * H;
        vy = r.U(-1.2, 1.2) * H;
      }
      x += vx * dt;
      y += vy * dt;
      m.samples.push_back({{x, y}, 0, 0});
    }
    m.truth_index = AddTruth("bug", 0, 0);
    FinishMoverTruth(m);
    movers.push_back(std::move(m));
  }
}

void Scene::Impl::AddCloud(Rng r) {
  const double W = truth.size.width, H = truth.size.height;
  cloud_scale = 8;
  const double duration = truth.frames / Fps();
  cloud_speed = r.U(0.01, 0.04) * W / cloud_scale * r.Sign();
  int fw = static_cast<int>(W / cloud_scale + std::abs(cloud_speed) * duration + 4);
  int fh = static_cast<int>(H / cloud_scale + 2);
  cv::Mat low(std::max(2, fh / 6), std::max(2, fw / 6), CV_32F);
  cv::RNG cr(r.Next());
  cr.fill(low, cv::RNG::UNIFORM, 0, 1);
  cv::Mat field;
  cv::resize(low, field, cv::Size(fw, fh), 0, 0, cv::INTER_CUBIC);
  // A cloud shadow's penumbra is the cloud's height times the sun's angular size (~10 m at
  // 1 km): soft, tens of pixels wide.
  cv::GaussianBlur(field, field, cv::Size(0, 0), 3.0);
  const double depth = r.U(0.08, 0.25);
  // Gain = 1 where field < 0.4, falling smoothly to 1 - depth.
  cv::Mat ramp = (field - 0.4) * 2.5;
  cv::max(ramp, 0.0, ramp);
  cv::min(ramp, 1.0, ramp);
  cv::Mat gain = 1.0 - depth * ramp;
  gain.convertTo(cloud_field, CV_8U, 255);
  AddTruth("cloud", 0, truth.frames - 1);
  truth.objects.back().end_ms = std::llround((truth.frames - 1) * 1000.0 / truth.fps);
}

void Scene::Impl::AddExposure(Rng r) {
  const double duration = truth.frames / Fps();
  exposure_t0 = r.U(0.3, std::max(0.4, duration - 1.5));
  exposure_t1 = exposure_t0 + r.U(0.1, 0.8);
  exposure_gain = r.P(0.5) ? r.U(0.75, 0.9) : r.U(1.1, 1.3);
  exposure_back = r.P(0.5) ? exposure_t1 + r.U(0.5, 2.0) : -1;
  int ti = AddTruth("exposure", std::llround(exposure_t0 * Fps()),
                    std::llround((exposure_back > 0 ? exposure_back : exposure_t1) * Fps()));
  ObjectTruth& o = truth.objects[static_cast<size_t>(ti)];
  o.start_ms = std::llround(o.first_frame * 1000.0 / truth.fps);
  o.end_ms = std::llround(o.last_frame * 1000.0 / truth.fps);
}

// ---------------------------------------------------------------------------------------------
// Rendering.

// The outline of a mover at one sample, in image pixels, as one or more polygons flattened
// into a list (polygons separated by a NaN point).
std::vector<cv::Point2d> Scene::Impl::Outline(const Mover& m, const Sample& s, double ppu,
                                              cv::Point2d c) const {
  std::vector<cv::Point2d> out;
  double L = std::max(m.size * ppu * s.scale, m.min_px);  // pixels
  auto Rot = [](cv::Point2d p, double a) {
    return cv::Point2d(p.x * std::cos(a) - p.y * std::sin(a), p.x * std::sin(a) + p.y * std::cos(a));
  };
  auto Ellipse = [&](double a, double b, double rot, cv::Point2d at, int n) {
    for (int i = 0; i < n; ++i) {
      double t = 2 * kPi * i / n;
      out.push_back(at + Rot({a * std::cos(t), b * std::sin(t)}, rot));
    }
  };
  const cv::Point2d sep(std::nan(""), 0);
  switch (m.shape) {
    case Shape::kEllipse:
    case Shape::kLeaf:
      Ellipse(L / 2, std::max(0.6, L / 2 * m.aspect * (0.5 + 0.5 * std::abs(std::cos(s.angle)))),
              s.angle, c, 14);
      break;
    case Shape::kBox: {
      double a = L / 2, b = std::max(0.6, L / 2 * m.aspect);
      const cv::Point2d corners[] = {{-a, -b}, {a, -b}, {a, b}, {-a, b}};
      for (const cv::Point2d& k : corners) out.push_back(c + Rot(k, s.angle));
      break;
    }
    case Shape::kPoly:
      for (const cv::Point2d& p : m.poly) out.push_back(c + Rot(p * L, s.angle));
      break;
    case Shape::kBird: {
      // Body, then two wings whose tips follow the flap phase.
      Ellipse(L / 2, std::max(0.7, L * 0.16), 0, c, 10);
      double lift = std::sin(s.phase) * L * 0.55;
      for (double side : {-1.0, 1.0}) {
        out.push_back(sep);
        out.push_back(c + cv::Point2d(side * L * 0.05, -L * 0.05));
        out.push_back(c + cv::Point2d(side * L * 0.85, -lift));
        out.push_back(c + cv::Point2d(side * L * 0.35, L * 0.08));
      }
      break;
    }
    case Shape::kPerson: {
      double h = L, w = L * m.aspect;
      // Torso + head + two legs.
      const cv::Point2d torso[] = {
          {-w / 2, -h * 0.45}, {w / 2, -h * 0.45}, {w / 2, h * 0.05}, {-w / 2, h * 0.05}};
      for (const cv::Point2d& k : torso) out.push_back(c + k);
      out.push_back(sep);
      Ellipse(w * 0.35, w * 0.4, 0, c + cv::Point2d(0, -h * 0.55), 10);
      for (double side : {-1.0, 1.0}) {
        double swing = std::sin(s.phase) * side * w * 0.5;
        out.push_back(sep);
        out.push_back(c + cv::Point2d(-w * 0.2, h * 0.05));
        out.push_back(c + cv::Point2d(w * 0.2, h * 0.05));
        out.push_back(c + cv::Point2d(swing + w * 0.15, h * 0.5));
        out.push_back(c + cv::Point2d(swing - w * 0.15, h * 0.5));
      }
      break;
    }
    case Shape::kCar: {
      double a = L / 2, b = L * m.aspect / 2;
      const cv::Point2d body[] = {{-a, -b * 0.2}, {-a * 0.6, -b}, {a * 0.5, -b},
                                  {a, -b * 0.2},  {a, b},         {-a, b}};
      for (const cv::Point2d& k : body) out.push_back(c + k);
      break;
    }
    case Shape::kBug:
      Ellipse(L / 2, L / 2 * 0.8, 0, c, 20);
      break;
  }
  return out;
}

void Scene::Impl::DrawMover(const Mover& m, int64_t frame, cv::Mat& img) {
  const int64_t s1 = frame * kSub, s0 = s1 - exposure + 1;
  const int64_t first = m.t0, last = m.t0 + static_cast<int64_t>(m.samples.size()) - 1;
  const int64_t a = std::max(s0, first), b = std::min(s1, last);
  if (a > b) return;
  // Outlines of the exposure samples, and their common bounding box.
  std::vector<std::vector<cv::Point2d>> outlines;
  cv::Rect2d box;
  bool have = false;
  for (int64_t s = a; s <= b; ++s) {
    const Sample& smp = m.samples[static_cast<size_t>(s - first)];
    auto o = Outline(m, smp, PxPerUnit(m, smp), SamplePx(m, smp));
    for (const auto& p : o) {
      if (std::isnan(p.x)) continue;
      box = have ? (box | cv::Rect2d(p.x, p.y, 1e-9, 1e-9)) : cv::Rect2d(p.x, p.y, 1e-9, 1e-9);
      have = true;
    }
    outlines.push_back(std::move(o));
  }
  if (!have) return;
  const int pad = m.shape == Shape::kBug ? static_cast<int>(m.size * 0.3) + 2 : 2;
  cv::Rect roi(static_cast<int>(std::floor(box.x)) - pad, static_cast<int>(std::floor(box.y)) - pad,
               static_cast<int>(std::ceil(box.width)) + 2 * pad + 1,
               static_cast<int>(std::ceil(box.height)) + 2 * pad + 1);
  cv::Rect clipped = roi & cv::Rect(0, 0, img.cols, img.rows);
  if (clipped.area() <= 0) return;
  // Coverage: the average over exposure samples of an anti-aliased fill (sub-pixel shifts).
  constexpr int kShift = 3;
  patch_acc.create(roi.size(), CV_32F);
  patch_acc.setTo(0);
  patch_tmp.create(roi.size(), CV_8U);
  for (const auto& o : outlines) {
    patch_tmp.setTo(0);
    std::vector<std::vector<cv::Point>> polys(1);
    for (const auto& p : o) {
      if (std::isnan(p.x)) {
        polys.emplace_back();
        continue;
      }
      polys.back().emplace_back(static_cast<int>(std::lround((p.x - roi.x) * (1 << kShift))),
                                static_cast<int>(std::lround((p.y - roi.y) * (1 << kShift))));
    }
    for (const auto& poly : polys) {
      if (poly.size() >= 3) {
        cv::fillPoly(patch_tmp, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(255),
                     cv::LINE_AA, kShift);
      }
    }
    cv::accumulate(patch_tmp, patch_acc);
  }
  patch_acc *= m.alpha / (255.0 * static_cast<double>(outlines.size()));
  if (m.shape == Shape::kBug) {
    cv::GaussianBlur(patch_acc, patch_acc, cv::Size(0, 0), std::max(1.0, m.size * 0.12));
  }
  cv::Rect local(clipped.x - roi.x, clipped.y - roi.y, clipped.width, clipped.height);
  cv::Mat dst = img(clipped);
  cv::Mat alpha = patch_acc(local);
  for (int y = 0; y < dst.rows; ++y) {
    cv::Vec3b* d = dst.ptr<cv::Vec3b>(y);
    const float* al = alpha.ptr<float>(y);
    for (int x = 0; x < dst.cols; ++x) {
      float k = std::min(al[x], 1.0f);
      if (k <= 0) continue;
      for (int c = 0; c < 3; ++c) {
        d[x][c] = cv::saturate_cast<uchar>(d[x][c] * (1 - k) + m.colour[c] * k);
      }
    }
  }
}

Result<void> Scene::Impl::RenderFrame(int64_t index, cv::Mat& out) {
  if (index < 0 || index >= truth.frames) {
    return InvalidArgument("index", "frame " + std::to_string(index) + " out of range");
  }
  const double t = index / Fps();
  if (opt.backdrop == Backdrop::kVideo) {
    if (index < video_next - 1 || index > video_next) {
      // Random access into the video: re-open and skip (tests only render in order).
      SkipToBackdropStart();
      video_next = 0;
      while (video_next < index) {
        if (!ReadBackdrop()) break;
        ++video_next;
      }
    }
    if (index == video_next) {
      if (!ReadBackdrop()) {
        SkipToBackdropStart();  // loop
        if (!ReadBackdrop()) {
          return Fail(ErrorCode::kUnavailable, "backdrop video stopped");
        }
      }
      ++video_next;
    }
    cv::resize(video_frame, out, truth.size, 0, 0, cv::INTER_AREA);
  } else {
    bg.copyTo(out);
  }
  // Windows switched at time t (odd number of switches so far shows the alternate state).
  for (const Toggle& tg : toggles) {
    int n = static_cast<int>(std::upper_bound(tg.times.begin(), tg.times.end(), t) -
                             tg.times.begin());
    if (n % 2 == 1) {
      cv::Mat mask(tg.rect.size(), CV_8U, cv::Scalar(0));
      std::vector<cv::Point> local;
      for (const cv::Point& p : tg.polygon) local.push_back(p - tg.rect.tl());
      cv::fillConvexPoly(mask, local, cv::Scalar(255));
      bg_alt(tg.rect).copyTo(out(tg.rect), mask);
    }
  }
  for (const Laundry& l : laundry) {
    std::vector<cv::Point> poly;
    const int n = 6;
    auto Swing = [&](double frac) {
      return frac * (l.amp_m * std::sin(2 * kPi * l.hz * t + l.phase) +
                     0.3 * l.amp_m * std::sin(2 * kPi * 2.7 * l.hz * t + 1.3 * l.phase));
    };
    for (int i = 0; i <= n; ++i) {  // left edge down
      double f = static_cast<double>(i) / n;
      cv::Point2d p = geo.ToImage(l.x_m - l.w_m / 2 + Swing(f), l.top_m - f * l.len_m);
      poly.emplace_back(p);
    }
    for (int i = n; i >= 0; --i) {  // right edge up
      double f = static_cast<double>(i) / n;
      cv::Point2d p = geo.ToImage(l.x_m + l.w_m / 2 + Swing(f) * 1.2, l.top_m - f * l.len_m);
      poly.emplace_back(p);
    }
    cv::fillPoly(out, std::vector<std::vector<cv::Point>>{poly}, l.colour, cv::LINE_AA);
  }
  if (!cloud_field.empty()) {
    double off = cloud_speed > 0 ? cloud_speed * t : (cloud_field.cols - truth.size.width / cloud_scale - 2) + cloud_speed * t;
    cv::Mat crop;
    cv::getRectSubPix(cloud_field,
                      cv::Size(static_cast<int>(truth.size.width / cloud_scale) + 1,
                               cloud_field.rows),
                      cv::Point2f(static_cast<float>(off + truth.size.width / cloud_scale / 2),
                                  cloud_field.rows / 2.0f),
                      crop);
    cv::Mat gain, gain3;
    cv::resize(crop, gain, truth.size, 0, 0, cv::INTER_LINEAR);
    cv::merge(std::vector<cv::Mat>{gain, gain, gain}, gain3);
    cv::multiply(out, gain3, out, 1.0 / 255);
  }
  for (const Mover& m : movers) DrawMover(m, index, out);
  if (exposure_t0 >= 0) {
    double g = 1;
    if (t >= exposure_t0) {
      double k = std::min(1.0, (t - exposure_t0) / std::max(1e-3, exposure_t1 - exposure_t0));
      g = 1 + (exposure_gain - 1) * k;
      if (exposure_back > 0 && t >= exposure_back) {
        g = 1 + (exposure_gain - 1) * std::max(0.0, 1 - (t - exposure_back) / 0.4);
      }
    }
    if (std::abs(g - 1) > 1e-3) out.convertTo(out, -1, g, 0);
  }
  if (rain) {
    Rng r = Rng::For(opt.seed, kRainStream, static_cast<uint64_t>(index) + 1);
    layer.create(truth.size, CV_8UC3);
    layer.setTo(0);
    const double mp = truth.size.area() / 1e6;
    const int n = static_cast<int>(rain_density * mp);
    const double s = truth.size.height / 720.0;
    const double slant = r.U(-0.3, 0.3);
    for (int k = 0; k < n; ++k) {
      double x = r.U(0, truth.size.width), y = r.U(0, truth.size.height);
      double len = r.U(8, 28) * s;
      double ang = slant + r.U(-0.05, 0.05);
      int v = r.I(15, 55);
      cv::line(layer, cv::Point(cv::Point2d(x, y)),
               cv::Point(cv::Point2d(x + len * std::sin(ang), y + len * std::cos(ang))),
               cv::Scalar(v, v, v), 1, cv::LINE_AA);
    }
    cv::add(out, layer, out);
  }
  double sx = 0, sy = 0;
  for (const ShakeEpisode& e : shakes) {
    if (t < e.t0 || t > e.t1) continue;
    double env = std::sin(kPi * (t - e.t0) / (e.t1 - e.t0));
    sx += e.amp * env * std::sin(2 * kPi * e.fx * t + e.phx);
    sy += e.amp * env * std::sin(2 * kPi * e.fy * t + e.phy);
  }
  if (std::abs(sx) > 0.01 || std::abs(sy) > 0.01) {
    cv::Matx23d tr(1, 0, sx, 0, 1, sy);
    cv::warpAffine(out, layer, tr, out.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
    layer.copyTo(out);
  }
  if (blur_sigma > 0.25) cv::GaussianBlur(out, out, cv::Size(0, 0), blur_sigma);
  if (!noise_pos.empty()) {
    size_t k = Rng::For(opt.seed, kNoiseStream, static_cast<uint64_t>(index)).Next() %
               noise_pos.size();
    cv::add(out, noise_pos[k], out);
    cv::subtract(out, noise_neg[k], out);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Scene.

Scene::Scene(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scene::~Scene() = default;

Result<std::unique_ptr<Scene>> Scene::Make(const SceneOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  try {
    LINLI_RETURN_IF_ERROR(impl->Build());
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kInternal, std::string("scene build failed: ") + e.what());
  }
  return std::unique_ptr<Scene>(new Scene(std::move(impl)));
}

const SceneTruth& Scene::truth() const { return impl_->truth; }
int64_t Scene::FrameCount() const { return impl_->truth.frames; }
int64_t Scene::PtsMs(int64_t index) const {
  return std::llround(static_cast<double>(index) * 1000.0 / impl_->truth.fps);
}

Result<void> Scene::Render(int64_t index, cv::Mat& out) {
  try {
    return impl_->RenderFrame(index, out);
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kInternal, std::string("render failed: ") + e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Ground truth JSON.

namespace {

Json PointJson(cv::Point2f p) { return Json::array({p.x, p.y}); }

}  // namespace

int SceneTruth::ThrownCount() const {
  return static_cast<int>(std::count_if(objects.begin(), objects.end(),
                                        [](const ObjectTruth& o) { return o.kind == "thrown"; }));
}

Json SceneTruth::AnalyzerParams() const {
  Json quad = Json::array();
  for (const auto& p : facade.quad) quad.push_back(PointJson(p));
  return Json{{"facade", quad},
              {"floors", facade.floors},
              {"columns", facade.columns},
              {"floor_height_m", facade.floor_height_m}};
}

Json SceneTruth::ToJson() const {
  Json j;
  j["seed"] = seed;
  j["width"] = size.width;
  j["height"] = size.height;
  j["fps"] = fps;
  j["frames"] = frames;
  j["lighting"] = std::string(LightingName(lighting));
  j["backdrop"] = backdrop;
  j["noise_sigma"] = noise_sigma;
  j["blur_sigma"] = blur_sigma;
  Json quad = Json::array();
  for (const auto& p : facade.quad) quad.push_back(PointJson(p));
  j["facade"] = {{"quad", quad},
                 {"floors", facade.floors},
                 {"columns", facade.columns},
                 {"floor_height_m", facade.floor_height_m},
                 {"width_m", facade.width_m}};
  j["tags"] = tags;
  j["analyzer_params"] = AnalyzerParams();
  Json objs = Json::array();
  for (const ObjectTruth& o : objects) {
    Json jo{{"kind", o.kind},
            {"first_frame", o.first_frame},
            {"last_frame", o.last_frame},
            {"start_ms", o.start_ms},
            {"end_ms", o.end_ms}};
    if (!o.trajectory.empty()) {
      Json tr = Json::array();
      for (const TrackPoint& p : o.trajectory) tr.push_back(Json::array({p.pts_ms, p.x, p.y}));
      jo["trajectory"] = tr;
    }
    if (o.origin) jo["origin"] = PointJson(*o.origin);
    if (o.kind == "thrown") {
      jo["floor"] = o.floor;
      jo["window"] = o.window;
      jo["contrast"] = o.contrast;
      jo["terminal_mps"] = o.terminal_mps;
      jo["fall_m"] = o.fall_m;
    }
    if (o.size_px > 0) jo["size_px"] = o.size_px;
    objs.push_back(jo);
  }
  j["objects"] = objs;
  return j;
}

Result<SceneTruth> SceneTruth::FromJson(const Json& j) {
  SceneTruth t;
  try {
    t.seed = j.at("seed").get<uint64_t>();
    t.size = cv::Size(j.at("width").get<int>(), j.at("height").get<int>());
    t.fps = j.at("fps").get<double>();
    t.frames = j.at("frames").get<int64_t>();
    std::string l = j.at("lighting").get<std::string>();
    t.lighting = l == "night" ? Lighting::kNight : (l == "dusk" ? Lighting::kDusk : Lighting::kDay);
    t.backdrop = j.value("backdrop", "procedural");
    t.noise_sigma = j.value("noise_sigma", 0.0);
    t.blur_sigma = j.value("blur_sigma", 0.0);
    const Json& f = j.at("facade");
    for (int i = 0; i < 4; ++i) {
      t.facade.quad[static_cast<size_t>(i)] =
          cv::Point2f(f.at("quad").at(i).at(0).get<float>(), f.at("quad").at(i).at(1).get<float>());
    }
    t.facade.floors = f.at("floors").get<int>();
    t.facade.columns = f.at("columns").get<int>();
    t.facade.floor_height_m = f.at("floor_height_m").get<double>();
    t.facade.width_m = f.value("width_m", 0.0);
    t.tags = j.value("tags", std::vector<std::string>{});
    for (const Json& jo : j.at("objects")) {
      ObjectTruth o;
      o.kind = jo.at("kind").get<std::string>();
      o.first_frame = jo.at("first_frame").get<int64_t>();
      o.last_frame = jo.at("last_frame").get<int64_t>();
      o.start_ms = jo.at("start_ms").get<int64_t>();
      o.end_ms = jo.at("end_ms").get<int64_t>();
      if (jo.contains("trajectory")) {
        for (const Json& p : jo.at("trajectory")) {
          o.trajectory.push_back({p.at(0).get<int64_t>(), p.at(1).get<float>(), p.at(2).get<float>()});
        }
      }
      if (jo.contains("origin")) {
        o.origin = cv::Point2f(jo.at("origin").at(0).get<float>(), jo.at("origin").at(1).get<float>());
      }
      o.floor = jo.value("floor", 0);
      o.window = jo.value("window", 0);
      o.contrast = jo.value("contrast", 0.0);
      o.terminal_mps = jo.value("terminal_mps", 0.0);
      o.fall_m = jo.value("fall_m", 0.0);
      o.size_px = jo.value("size_px", 0.0);
      t.objects.push_back(std::move(o));
    }
  } catch (const Json::exception& e) {
    return InvalidArgument("truth", std::string("malformed ground truth: ") + e.what());
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Clip writing.

Result<SceneTruth> WriteClip(const SceneOptions& options, const ClipFormat& format,
                             const std::string& video_path, const std::string& truth_path) {
  LINLI_ASSIGN_OR_RETURN(auto scene, Scene::Make(options));
  const SceneTruth& truth = scene->truth();
  cv::VideoWriter writer;
  try {
    if (format.codec == "mjpg") {
      // OpenCV's own MJPEG/AVI writer honours the JPEG quality.
      writer.open(video_path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                  truth.fps, truth.size,
                  {cv::VIDEOWRITER_PROP_QUALITY, std::clamp(format.jpeg_quality, 10, 100)});
    } else if (format.codec == "h264") {
      writer.open(video_path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('a', 'v', 'c', '1'),
                  truth.fps, truth.size);
    } else if (format.codec == "mp4v") {
      writer.open(video_path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('m', 'p', '4', 'v'),
                  truth.fps, truth.size);
    } else {
      return InvalidArgument("codec", "unknown codec '" + format.codec + "' (mjpg, h264, mp4v)");
    }
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kUnavailable, std::string("video writer: ") + e.what());
  }
  if (!writer.isOpened()) {
    return Fail(ErrorCode::kUnavailable,
                "cannot open a " + format.codec + " writer for '" + video_path + "'");
  }
  cv::Mat frame;
  for (int64_t i = 0; i < scene->FrameCount(); ++i) {
    LINLI_RETURN_IF_ERROR(scene->Render(i, frame));
    writer.write(frame);
  }
  writer.release();
  if (!truth_path.empty()) {
    FILE* f = std::fopen(truth_path.c_str(), "wb");
    if (!f) return Fail(ErrorCode::kUnavailable, "cannot write '" + truth_path + "'");
    std::string text = truth.ToJson().dump(1);
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok) return Fail(ErrorCode::kUnavailable, "short write to '" + truth_path + "'");
  }
  return truth;
}

}  // namespace linli::edge::scene_gen
