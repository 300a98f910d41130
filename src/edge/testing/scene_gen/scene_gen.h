// Scene generator: synthetic building facades seen by a fixed camera, with objects thrown from
// windows under real physics and the hard distractors a thrown-object detector must ignore
// (birds, leaves, rain, laundry, window lights, camera shake, street traffic, bugs on the lens,
// cloud shadows, exposure changes), and the exact ground truth of every object.
//
// Everything is deterministic from SceneOptions (seed included): the same options render the
// same pixels on the same build, frame by frame and in any order. Physics is computed in
// metres on the facade plane (X right, Y up from the ground) and projected into the image
// through the facade's homography (a slight keystone, like a camera looking up), so gravity in
// pixels varies with the row exactly as it does for a real camera.
//
// Ground truth coordinates are normalised to [0, 1] of the frame (edge/types.h convention).
// Thread-safety: a Scene is immutable after Make() except for Render(), which uses per-call
// scratch buffers; use one Scene per thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "common/json.h"
#include "common/result.h"
#include "edge/types.h"

namespace linli::edge::scene_gen {

enum class Lighting { kDay, kDusk, kNight };
std::string_view LightingName(Lighting l);

// Hard distractors. kStreet = pedestrians and cars below the facade; kBug = an insect close to
// the lens (a large blurred blob); kExposure = the camera's auto-exposure stepping. kTree = a
// tree close to the camera in front of the lower floors, its leaf clusters swinging on their
// branches; kWalker = people walking towards or away from the camera in front of the lower
// floors (as on a facade laid over a street view), growing and accelerating in the image
// with perspective, legs swinging.
enum class Distractor {
  kBird,
  kLeaf,
  kRain,
  kLaundry,
  kLightToggle,
  kShake,
  kStreet,
  kBug,
  kCloud,
  kExposure,
  kTree,
  kWalker,
};
std::string_view DistractorName(Distractor d);
std::optional<Distractor> ParseDistractor(std::string_view name);
// The distractors the evaluation sets draw from (unchanged since the held-out set was made;
// the sets' clips stay as they were).
std::vector<Distractor> AllDistractors();
// Distractors added later (kTree, kWalker), used by name or by the tuning set's extra clips.
std::vector<Distractor> ExtraDistractors();

// Where the facade texture comes from.
enum class Backdrop {
  kProcedural,  // drawn from the seed
  kStill,       // a real photograph (`backdrop_path`, e.g. opencv-doc's building.jpg)
  kVideo,       // a real clip (`backdrop_path`, e.g. vtest.avi) read frame by frame
};

struct SceneOptions {
  uint64_t seed = 1;
  // Zero or negative values mean "choose from the seed".
  cv::Size size{0, 0};  // 640x360 .. 1920x1080
  double fps = 0;       // 15, 25 or 30
  double duration_s = 0;
  int thrown = -1;      // number of thrown objects (0..2); -1 = one
  // Distractors present in the scene; `random_distractors` adds 0..3 more chosen by the seed.
  std::vector<Distractor> distractors;
  bool random_distractors = false;
  std::optional<Lighting> lighting;
  // Forces objects whose colour is close to the wall behind them (otherwise ~25% are).
  bool low_contrast = false;
  // Objects with strong air drag (terminal velocity 8..14 m/s; otherwise ~15% are).
  bool light_objects = false;
  Backdrop backdrop = Backdrop::kProcedural;
  std::string backdrop_path;
  // For kStill/kVideo: the facade quad in the backdrop, normalised (bottom-left, bottom-right,
  // top-right, top-left) and its floors/columns. Defaults fit building.jpg.
  std::optional<std::array<cv::Point2f, 4>> backdrop_quad;
  int backdrop_floors = 0;
  int backdrop_columns = 0;
  // kVideo: the first frame of the backdrop used (a later segment of the clip), and how its
  // frames are flipped before use (0 none, 1 mirrored left-right, -1 rotated by 180 degrees;
  // also applied to kStill). The evaluation tool's tuning and held-out sets use different
  // segments and flips of the same footage.
  int64_t backdrop_start_frame = 0;
  int backdrop_flip = 0;
};

// The facade as an installer would configure it (the thrown_object analyzer's parameters).
struct FacadeTruth {
  std::array<cv::Point2f, 4> quad;  // bottom-left, bottom-right, top-right, top-left; normalised
  int floors = 0;                   // visible floors, numbered from 1 at the bottom of the quad
  int columns = 0;                  // window columns
  double floor_height_m = 3.0;
  double width_m = 0;
};

struct ObjectTruth {
  std::string kind;  // "thrown" or a distractor name ("bird", "leaf", ...)
  int64_t first_frame = 0;  // inclusive
  int64_t last_frame = 0;   // inclusive
  int64_t start_ms = 0;     // stream time of first_frame
  int64_t end_ms = 0;       // stream time of last_frame
  std::vector<TrackPoint> trajectory;  // per frame while visible (empty for global distractors)
  std::optional<cv::Point2f> origin;   // thrown: the release point
  int floor = 0;    // thrown: floor of the release point (1 = lowest visible floor)
  int window = 0;   // thrown: window column of the release point (1 = leftmost)
  double size_px = 0;     // typical size in pixels (thrown, birds, leaves, bugs)
  double contrast = 0;    // mean absolute colour difference to the wall (thrown)
  double terminal_mps = 0;  // thrown: terminal velocity of its drag model
  double fall_m = 0;        // thrown: visible fall height
};

struct SceneTruth {
  uint64_t seed = 0;
  cv::Size size;
  double fps = 0;
  int64_t frames = 0;
  Lighting lighting = Lighting::kDay;
  std::string backdrop;  // "procedural", "still", "video"
  double noise_sigma = 0;
  double blur_sigma = 0;
  FacadeTruth facade;
  std::vector<std::string> tags;  // conditions: "night", "1080p", "rain", "low_contrast", ...
  std::vector<ObjectTruth> objects;

  Json ToJson() const;
  static Result<SceneTruth> FromJson(const Json& j);
  // The thrown_object analyzer's parameter mapping for this facade, as JSON (also valid YAML).
  Json AnalyzerParams() const;
  int ThrownCount() const;
};

class Scene {
 public:
  // InvalidArgument for impossible options (size out of range, missing backdrop file).
  static Result<std::unique_ptr<Scene>> Make(const SceneOptions& options);
  ~Scene();
  Scene(const Scene&) = delete;
  Scene& operator=(const Scene&) = delete;

  const SceneTruth& truth() const;
  int64_t FrameCount() const;
  int64_t PtsMs(int64_t index) const;
  // Renders frame `index` (0-based) into `out` (BGR8, truth().size). Frames may be rendered in
  // any order for procedural and still backdrops; a video backdrop must be rendered in order.
  Result<void> Render(int64_t index, cv::Mat& out);

 private:
  struct Impl;
  explicit Scene(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Codecs the generator can write: "mjpg" (.avi, OpenCV's MJPEG writer with a JPEG quality),
// "h264" (.mp4, FFmpeg's libx264 through OpenCV), "mp4v" (.mp4, MPEG-4 part 2).
struct ClipFormat {
  std::string codec = "mjpg";
  int jpeg_quality = 75;  // mjpg only
};

// Renders the whole scene into `video_path` and its ground truth into `truth_path` (JSON;
// skipped if empty). Returns the truth. Unavailable if the writer cannot be opened.
Result<SceneTruth> WriteClip(const SceneOptions& options, const ClipFormat& format,
                             const std::string& video_path, const std::string& truth_path);

// The file extension that suits `codec` ("avi" or "mp4").
std::string ExtensionFor(const std::string& codec);

}  // namespace linli::edge::scene_gen
