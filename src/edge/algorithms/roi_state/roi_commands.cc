#include "edge/algorithms/roi_state/roi_commands.h"

#include <algorithm>
#include <filesystem>

#include "common/log.h"
#include "edge/algorithms/roi_state/roi_state.h"

namespace linli::edge {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAlgorithm = "roi_state";

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

// A printable, bounded copy of an untrusted value for error messages.
std::string Printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
  if (s.size() > 64) out += "...";
  return out;
}
std::string Quoted(const std::string& s) { return "\"" + Printable(s) + "\""; }

bool ValidState(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::string> StringArg(const Json& args, const std::string& name, bool required) {
  const std::string key = "args." + name;
  if (!args.is_object() || !args.contains(name) || args[name].is_null()) {
    if (required) return InvalidArgument(key, "is required");
    return std::string();
  }
  if (!args[name].is_string()) return InvalidArgument(key, "must be a string");
  std::string v = args[name].get<std::string>();
  if (v.empty() || v.size() > 128) return InvalidArgument(key, "must be 1-128 characters");
  return v;
}

Result<void> OnlyArgs(const Json& args, std::initializer_list<const char*> known) {
  if (!args.is_object()) return InvalidArgument("args", "must be an object");
  for (const auto& [k, v] : args.items()) {
    (void)v;
    if (std::none_of(known.begin(), known.end(), [&](const char* n) { return k == n; })) {
      std::string list;
      for (const char* n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      return InvalidArgument("args." + Printable(k), "unknown argument (expected: " + list + ")");
    }
  }
  return {};
}

// A camera of the box with its roi_state algorithm.
struct RoiTarget {
  CameraConfig camera;
  AlgorithmConfig algorithm;
  std::string roi;
};

// The camera and its roi_state as configured (enabled or not).
Result<RoiTarget> FindConfigured(const Pipeline& pipeline, const std::string& camera_id,
                                 const std::string& roi) {
  auto cam = pipeline.CameraConfigOf(camera_id);
  if (!cam) {
    return Fail(ErrorCode::kNotFound,
                "no camera " + Quoted(camera_id) +
                    " on this box (cameras: " + Join(pipeline.CameraIds()) + ")",
                "args.camera_id");
  }
  auto algo = std::find_if(cam->algorithms.begin(), cam->algorithms.end(),
                           [](const AlgorithmConfig& a) { return a.name == kAlgorithm; });
  if (algo == cam->algorithms.end()) {
    return Fail(ErrorCode::kNotFound, "camera " + camera_id + " runs no roi_state algorithm",
                "args.camera_id");
  }
  RoiTarget t{*cam, *algo, ""};
  try {
    if (algo->params["roi"]) t.roi = algo->params["roi"].as<std::string>();
  } catch (const YAML::Exception&) {
  }
  if (!roi.empty() && roi != t.roi) {
    return Fail(
        ErrorCode::kNotFound,
        "camera " + camera_id + "'s roi_state watches ROI \"" + t.roi + "\", not " + Quoted(roi),
        "args.roi");
  }
  return t;
}

// The same, for work on the running analyzer: the camera must be enabled.
Result<RoiTarget> FindTarget(const Pipeline& pipeline, const std::string& camera_id,
                             const std::string& roi) {
  LINLI_ASSIGN_OR_RETURN(RoiTarget t, FindConfigured(pipeline, camera_id, roi));
  if (!t.camera.enabled) {
    return Fail(ErrorCode::kFailedPrecondition, "camera " + camera_id + " is disabled",
                "args.camera_id");
  }
  return t;
}

}  // namespace

Result<Json> RoiEnrollCommand(Pipeline& pipeline, const Json& args,
                              std::chrono::milliseconds wait) {
  LINLI_RETURN_IF_ERROR(OnlyArgs(args, {"camera_id", "state", "roi", "new_state"}));
  LINLI_ASSIGN_OR_RETURN(std::string camera_id, StringArg(args, "camera_id", true));
  LINLI_ASSIGN_OR_RETURN(std::string state, StringArg(args, "state", true));
  LINLI_ASSIGN_OR_RETURN(std::string roi, StringArg(args, "roi", false));
  bool new_state = false;
  if (args.contains("new_state") && !args["new_state"].is_null()) {
    if (!args["new_state"].is_boolean())
      return InvalidArgument("args.new_state", "must be a boolean");
    new_state = args["new_state"].get<bool>();
  }
  if (!ValidState(state)) {
    return InvalidArgument(
        "args.state", "state names are 1-64 characters of [a-z0-9_] (got " + Quoted(state) + ")");
  }
  LINLI_ASSIGN_OR_RETURN(RoiTarget target, FindTarget(pipeline, camera_id, roi));
  const std::string state_dir = pipeline.AlgorithmStateDir(camera_id, kAlgorithm);
  auto task = [&](CameraThreadContext& ctx) -> Result<Json> {
    auto* enrol = dynamic_cast<RoiEnrollment*>(ctx.analyzer(kAlgorithm));
    if (enrol == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "roi_state is not running on camera " + camera_id +
                      " now (outside its schedule, or it could not be created)");
    }
    std::vector<std::string> states = enrol->States();
    if (!new_state && std::find(states.begin(), states.end(), state) == states.end()) {
      return InvalidArgument("args.state", "unknown state \"" + state + "\" for ROI \"" +
                                               enrol->Roi() + "\" (its states: " + Join(states) +
                                               "); args.new_state: true adds a state");
    }
    LINLI_ASSIGN_OR_RETURN(std::string file, enrol->Enroll(state, ctx.FrameFor(kAlgorithm)));
    const std::string id = fs::path(file).stem().string();
    int64_t examples = 0;
    for (const auto& f : ListRoiExamples(state_dir, enrol->Roi())) examples += f.state == state;
    log::Info("roi example enrolled",
              {{"camera", camera_id}, {"roi", enrol->Roi()}, {"state", state}, {"example", id}});
    return Json{
        {"camera_id", camera_id}, {"roi", enrol->Roi()},          {"state", state},
        {"example", id},          {"pts_ms", ctx.frame_pts_ms()}, {"states", enrol->States()},
        {"examples", examples}};
  };
  return pipeline.RunOnCamera(camera_id, task, wait);
}

Result<Json> RoiExamplesCommand(Pipeline& pipeline, const Json& args) {
  LINLI_RETURN_IF_ERROR(OnlyArgs(args, {"camera_id"}));
  LINLI_ASSIGN_OR_RETURN(std::string camera_id, StringArg(args, "camera_id", false));
  std::vector<std::string> ids =
      camera_id.empty() ? pipeline.CameraIds() : std::vector<std::string>{camera_id};
  Json cameras = Json::array();
  for (const auto& id : ids) {
    auto target = FindConfigured(pipeline, id, "");
    if (!target) {
      if (!camera_id.empty()) return Fail(target.error());  // the camera asked for
      continue;                                             // a camera without roi_state
    }
    Json by_state = Json::object();
    for (const auto& f : ListRoiExamples(pipeline.AlgorithmStateDir(id, kAlgorithm), target->roi)) {
      if (!by_state.contains(f.state)) by_state[f.state] = Json::array();
      by_state[f.state].push_back(f.id);
    }
    cameras.push_back({{"camera_id", id}, {"roi", target->roi}, {"examples", by_state}});
  }
  return Json{{"cameras", cameras}};
}

Result<Json> RoiRemoveCommand(Pipeline& pipeline, const Json& args,
                              std::chrono::milliseconds wait) {
  LINLI_RETURN_IF_ERROR(OnlyArgs(args, {"camera_id", "example"}));
  LINLI_ASSIGN_OR_RETURN(std::string camera_id, StringArg(args, "camera_id", true));
  LINLI_ASSIGN_OR_RETURN(std::string example, StringArg(args, "example", true));
  // A disabled camera's examples may be removed too (it loads what is left when enabled).
  LINLI_ASSIGN_OR_RETURN(RoiTarget target, FindConfigured(pipeline, camera_id, ""));
  const std::string state_dir = pipeline.AlgorithmStateDir(camera_id, kAlgorithm);
  std::vector<RoiExampleFile> files = ListRoiExamples(state_dir, target.roi);
  auto it = std::find_if(files.begin(), files.end(),
                         [&](const RoiExampleFile& f) { return f.id == example; });
  if (it == files.end()) {
    return Fail(ErrorCode::kNotFound,
                "no enrolled example " + Quoted(example) + " for ROI \"" + target.roi +
                    "\" on camera " + camera_id + " (roi.examples lists them)",
                "args.example");
  }
  const RoiExampleFile removed = *it;
  // Set the file aside (not loaded: wrong extension), check that what is left still makes a
  // valid roi_state, then delete it — or put it back.
  const std::string aside = removed.path + ".removed";
  std::error_code ec;
  fs::rename(removed.path, aside, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable, "cannot remove " + removed.path + ": " + ec.message());
  }
  CameraContext ctx;
  ctx.camera_id = camera_id;
  ctx.zones = target.camera.zones;
  ctx.state_dir = state_dir;
  ctx.frame_size = cv::Size(640, 360);
  ctx.fps = target.camera.analysis_fps;
  auto trial = MakeRoiState(target.algorithm.params, target.algorithm.key, ctx);
  if (!trial) {
    fs::rename(aside, removed.path, ec);
    return Fail(ErrorCode::kFailedPrecondition,
                "example " + example + " cannot be removed: without it " + trial.error().ToString(),
                "args.example");
  }
  fs::remove(aside, ec);
  bool reloaded = false;
  if (target.camera.enabled) {
    auto r = pipeline.RunOnCamera(
        camera_id,
        [](CameraThreadContext& c) -> Result<Json> {
          LINLI_RETURN_IF_ERROR(c.Recreate(kAlgorithm));
          return Json();
        },
        wait);
    reloaded = r.has_value();
    if (!r) {
      // Not running now: the analyzer is made afresh (from the files left) when it next starts.
      log::Info("roi example removed; roi_state reloads when the camera runs again",
                {{"camera", camera_id}, {"reason", r.error().ToString()}});
    }
  }
  log::Info(
      "roi example removed",
      {{"camera", camera_id}, {"roi", target.roi}, {"state", removed.state}, {"example", example}});
  return Json{{"camera_id", camera_id},
              {"roi", target.roi},
              {"state", removed.state},
              {"removed", example},
              {"reloaded", reloaded}};
}

}  // namespace linli::edge
