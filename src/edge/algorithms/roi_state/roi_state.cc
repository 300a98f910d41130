#include "edge/algorithms/roi_state/roi_state.h"

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <tuple>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "common/ids.h"
#include "common/log.h"
#include "edge/algorithms/roi_state/roi_features.h"
#include "edge/detectors/param_reader.h"

namespace linli::edge {

namespace fs = std::filesystem;

namespace {

bool ValidName(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

std::string ExampleDir(const std::string& state_dir, const std::string& roi,
                       const std::string& state) {
  return (fs::path(state_dir) / "roi_state" / roi / state).string();
}

struct RoiParams {
  Zone roi;
  std::string event_type;
  std::vector<std::string> alarm_states;
  int64_t min_duration_ms = 5000;
  int64_t interval_ms = 1000;
  double min_margin = 0.05;
  int k = 1;  // a handful of examples under different light: the nearest one decides
};

class RoiState final : public Analyzer, public RoiEnrollment {
 public:
  RoiState(RoiParams p, std::string camera_id, std::string state_dir)
      : p_(std::move(p)), camera_id_(std::move(camera_id)), state_dir_(std::move(state_dir)),
        classifier_(p_.k, p_.min_margin) {}

  std::string_view Name() const override { return "roi_state"; }
  FrameNeeds Needs() const override {
    FrameNeeds n;
    n.max_width = 640;
    n.motion_gated = false;  // a blocked lane or an open door does not move
    return n;
  }

  void AddExample(const std::string& state, RoiFeatures f) { classifier_.Add(state, std::move(f)); }
  const RoiClassifier& classifier() const { return classifier_; }

  Result<std::string> Enroll(const std::string& state, const cv::Mat& frame) override {
    if (!ValidName(state)) return InvalidArgument("state", "must match [a-z0-9_]+");
    RoiFeatures f;
    try {
      f = ExtractRoiFeatures(frame, p_.roi.points);
    } catch (const cv::Exception& e) {
      return InvalidArgument("frame", std::string("cannot read the ROI: ") + e.what());
    }
    if (f.empty()) return InvalidArgument("frame", "the ROI is empty in this frame");
    std::string file;
    if (!state_dir_.empty()) {
      LINLI_ASSIGN_OR_RETURN(file, SaveRoiExample(state_dir_, p_.roi.name, state, frame));
    }
    classifier_.Add(state, std::move(f));
    return file;
  }
  std::vector<std::string> States() const override {
    std::vector<std::string> s = classifier_.States();
    std::sort(s.begin(), s.end());
    return s;
  }
  const std::string& Roi() const override { return p_.roi.name; }

  void Process(const Frame& frame, EventSink& sink) override {
    if (frame.image.empty()) return;
    if (last_eval_ms_ >= 0 && frame.pts_ms - last_eval_ms_ < p_.interval_ms &&
        frame.pts_ms >= last_eval_ms_)
      return;
    last_eval_ms_ = frame.pts_ms;
    try {
      RoiVerdict v = classifier_.Classify(ExtractRoiFeatures(frame.image, p_.roi.points));
      Step(frame, v, sink);
    } catch (const cv::Exception& e) {
      if (errors_++ % 100 == 0)
        log::Warn("roi_state failed on a frame", {{"camera", camera_id_}, {"error", e.what()}});
    }
  }

  void Finish(int64_t pts_ms, EventSink& sink) override {
    (void)pts_ms;
    if (open_) {
      open_->phase = EventPhase::kEnd;
      sink.Emit(*open_);
      open_.reset();
    }
  }

 private:
  bool IsAlarm(const std::string& s) const {
    return std::find(p_.alarm_states.begin(), p_.alarm_states.end(), s) != p_.alarm_states.end();
  }

  void Step(const Frame& frame, const RoiVerdict& v, EventSink& sink) {
    const int64_t now = frame.pts_ms;
    if (v.certain) {
      if (v.state != candidate_) {
        candidate_ = v.state;
        candidate_since_ = now;
      }
      candidate_last_ = now;
      if (candidate_ == reported_) reported_last_ = now;
    }
    if (!candidate_.empty() && candidate_ != reported_ &&
        now - candidate_since_ >= p_.min_duration_ms) {
      std::string before = reported_;
      int64_t before_last = reported_last_;
      reported_ = candidate_;
      reported_last_ = candidate_last_;
      Json data = {{"state", reported_}, {"previous", before}, {"margin", Round(v.margin)}};
      Json dist = Json::object();
      for (const auto& [s, d] : v.distances) dist[s] = Round(d);
      data["distances"] = dist;
      if (IsAlarm(reported_)) {
        if (!open_) {
          open_ = std::make_unique<EdgeEvent>();
          open_->id = NewUuid();
          open_->type = p_.event_type;
          open_->camera_id = camera_id_;
          open_->zone = p_.roi.name;
          open_->phase = EventPhase::kBegin;
          open_->start_ms = candidate_since_;
        } else {
          open_->phase = EventPhase::kUpdate;
        }
        open_->end_ms = now;
        open_->score = static_cast<float>(std::clamp(v.margin * 2, 0.0, 1.0));
        open_->data = data;
        open_->boxes = {RoiBox()};
        open_->snapshot = frame.image;
        open_->snapshot_pts_ms = now;
        sink.Emit(*open_);
      } else if (open_) {
        open_->phase = EventPhase::kEnd;
        open_->end_ms = std::max(open_->start_ms, before_last);
        open_->data["state"] = reported_;
        open_->data["previous"] = before;
        sink.Emit(*open_);
        open_.reset();
      }
    }
    if (open_ && reported_ == candidate_ && v.certain) open_->end_ms = now;
  }

  Box RoiBox() const {
    float x0 = 1, y0 = 1, x1 = 0, y1 = 0;
    for (const auto& p : p_.roi.points) {
      x0 = std::min(x0, p.x);
      y0 = std::min(y0, p.y);
      x1 = std::max(x1, p.x);
      y1 = std::max(y1, p.y);
    }
    return Box{x0, y0, x1 - x0, y1 - y0, reported_, 1.f};
  }

  static double Round(double v) { return std::round(v * 1000) / 1000; }

  RoiParams p_;
  std::string camera_id_, state_dir_;
  RoiClassifier classifier_;
  std::string candidate_, reported_;
  int64_t candidate_since_ = 0, candidate_last_ = 0, reported_last_ = 0, last_eval_ms_ = -1;
  std::unique_ptr<EdgeEvent> open_;
  int64_t errors_ = 0;
};

// Frames of `video` at the stream times `at_s` (seconds, ascending).
Result<std::vector<cv::Mat>> FramesAt(const std::string& video, std::vector<double> at_s,
                                      const std::string& key) {
  cv::VideoCapture cap(video, cv::CAP_FFMPEG);
  if (!cap.isOpened()) return InvalidArgument(key + ".video", "cannot open \"" + video + "\"");
  double fps = cap.get(cv::CAP_PROP_FPS);
  if (!(fps > 0)) fps = 25;
  std::sort(at_s.begin(), at_s.end());
  std::vector<cv::Mat> out;
  cv::Mat f;
  std::size_t next = 0;
  for (int64_t i = 0; next < at_s.size() && cap.read(f); ++i) {
    double t = i / fps;
    while (next < at_s.size() && t + 0.5 / fps >= at_s[next]) {
      out.push_back(f.clone());
      ++next;
    }
  }
  if (next < at_s.size())
    return InvalidArgument(key + ".at_s", "\"" + video + "\" ends before " +
                                              std::to_string(at_s[next]) + " s");
  return out;
}

Result<void> LoadConfiguredExamples(const ParamReader& r, const Zone& roi, RoiState& a) {
  YAML::Node enroll = r.Node("enroll");
  if (!enroll.IsDefined() || enroll.IsNull()) return {};
  if (!enroll.IsMap()) return InvalidArgument(r.Key("enroll"), "must map states to examples");
  for (const auto& kv : enroll) {
    std::string state = kv.first.Scalar();
    std::string skey = r.Key("enroll") + "." + state;
    if (!ValidName(state)) return InvalidArgument(skey, "state names must match [a-z0-9_]+");
    YAML::Node items = kv.second;
    if (!items.IsSequence()) return InvalidArgument(skey, "must be a list of examples");
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::string ikey = skey + "[" + std::to_string(i) + "]";
      std::vector<cv::Mat> frames;
      if (items[i].IsScalar()) {
        cv::Mat img = cv::imread(items[i].Scalar(), cv::IMREAD_COLOR);
        if (img.empty())
          return InvalidArgument(ikey, "cannot read image \"" + items[i].Scalar() + "\"");
        frames.push_back(img);
      } else if (items[i].IsMap()) {
        ParamReader ir(items[i], ikey);
        LINLI_RETURN_IF_ERROR(ir.CheckKnown({"video", "at_s"}));
        LINLI_ASSIGN_OR_RETURN(std::string video, ir.String("video", ""));
        if (video.empty()) return InvalidArgument(ikey + ".video", "is required");
        std::vector<double> at;
        YAML::Node at_node = ir.Node("at_s");
        try {
          if (at_node.IsScalar()) {
            at.push_back(at_node.as<double>());
          } else if (at_node.IsSequence()) {
            for (const auto& t : at_node) at.push_back(t.as<double>());
          }
        } catch (const YAML::Exception&) {
          return InvalidArgument(ikey + ".at_s", "must be seconds or a list of seconds");
        }
        if (at.empty() || std::any_of(at.begin(), at.end(), [](double t) { return !(t >= 0); }))
          return InvalidArgument(ikey + ".at_s", "must be seconds >= 0 (or a list of them)");
        LINLI_ASSIGN_OR_RETURN(frames, FramesAt(video, at, ikey));
      } else {
        return InvalidArgument(ikey, "must be an image file or {video, at_s}");
      }
      for (const auto& f : frames) {
        RoiFeatures feat = ExtractRoiFeatures(f, roi.points);
        if (feat.empty()) return InvalidArgument(ikey, "the ROI is empty in this example");
        a.AddExample(state, std::move(feat));
      }
    }
  }
  return {};
}

void LoadPersistedExamples(const std::string& state_dir, const Zone& roi, RoiState& a) {
  for (const auto& f : ListRoiExamples(state_dir, roi.name)) {
    cv::Mat img = cv::imread(f.path, cv::IMREAD_COLOR);
    RoiFeatures feat = img.empty() ? RoiFeatures{} : ExtractRoiFeatures(img, roi.points);
    if (feat.empty()) {
      log::Warn("roi_state: unreadable enrolled example skipped", {{"file", f.path}});
      continue;
    }
    a.AddExample(f.state, std::move(feat));
  }
}

}  // namespace

std::vector<RoiExampleFile> ListRoiExamples(const std::string& state_dir, const std::string& roi) {
  std::vector<RoiExampleFile> out;
  if (state_dir.empty() || roi.empty()) return out;
  std::error_code ec;
  fs::path dir = fs::path(state_dir) / "roi_state" / roi;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& state : fs::directory_iterator(dir, ec)) {
    if (!state.is_directory() || !ValidName(state.path().filename().string())) continue;
    for (const auto& f : fs::directory_iterator(state.path(), ec)) {
      const std::string ext = f.path().extension().string();
      const std::string stem = f.path().stem().string();
      // ".tmp.jpg" files are being written (SaveRoiExample renames them when complete).
      if ((ext != ".jpg" && ext != ".png") || stem.ends_with(".tmp")) continue;
      out.push_back({stem, state.path().filename().string(), f.path().string()});
    }
  }
  std::sort(out.begin(), out.end(), [](const RoiExampleFile& a, const RoiExampleFile& b) {
    return std::tie(a.state, a.id) < std::tie(b.state, b.id);
  });
  return out;
}

Result<std::string> SaveRoiExample(const std::string& state_dir, const std::string& roi,
                                   const std::string& state, const cv::Mat& frame) {
  if (!ValidName(state)) return InvalidArgument("state", "must match [a-z0-9_]+");
  if (roi.empty() || roi.find('/') != std::string::npos || roi.find("..") != std::string::npos)
    return InvalidArgument("roi", "bad ROI name");
  if (frame.empty()) return InvalidArgument("frame", "empty image");
  std::error_code ec;
  std::string dir = ExampleDir(state_dir, roi, state);
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot create " + dir + ": " + ec.message());
  std::string path = (fs::path(dir) / (NewUuid() + ".jpg")).string();
  std::string tmp = path + ".tmp.jpg";
  try {
    if (!cv::imwrite(tmp, frame, {cv::IMWRITE_JPEG_QUALITY, 95}))
      return Fail(ErrorCode::kUnavailable, "cannot write " + tmp);
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kUnavailable, std::string("cannot write example: ") + e.what());
  }
  // Durable before it is reported as stored: the file, then its name in the directory.
  auto fsync_path = [](const std::string& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
  };
  if (!fsync_path(tmp)) {
    fs::remove(tmp, ec);
    return Fail(ErrorCode::kUnavailable, "cannot sync " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot rename " + tmp + ": " + ec.message());
  if (!fsync_path(dir)) return Fail(ErrorCode::kUnavailable, "cannot sync " + dir);
  return path;
}

Result<std::unique_ptr<Analyzer>> MakeRoiState(const YAML::Node& params, const std::string& key,
                                               const CameraContext& camera) {
  ParamReader r(params, key);
  LINLI_RETURN_IF_ERROR(r.CheckKnown({"roi", "check", "event_type", "alarm_states", "enroll",
                                      "min_duration_s", "interval_s", "min_margin", "k"}));
  // ParamReader lets `max_width` through for the analyzers that read it; this one does not.
  if (r.Has("max_width"))
    return InvalidArgument(r.Key("max_width"),
                           "unknown parameter: roi_state is given frames at most 640 wide");
  RoiParams p;
  LINLI_ASSIGN_OR_RETURN(std::string roi, r.String("roi", ""));
  if (roi.empty()) return InvalidArgument(r.Key("roi"), "is required (a zone of this camera)");
  auto it = std::find_if(camera.zones.begin(), camera.zones.end(),
                         [&](const Zone& z) { return z.name == roi; });
  if (it == camera.zones.end())
    return InvalidArgument(r.Key("roi"), "no zone \"" + roi + "\" on this camera");
  if (it->points.size() < 3) return InvalidArgument(r.Key("roi"), "\"" + roi + "\" is a line");
  p.roi = *it;
  LINLI_ASSIGN_OR_RETURN(std::string check,
                         r.Choice("check", "custom",
                                  {"garbage_overflow", "fire_lane_blocked", "door_open", "custom"}));
  std::vector<std::string> default_alarm;
  std::string default_type = "vision.roi_state";
  if (check == "garbage_overflow") {
    default_type = "vision.garbage_overflow";
    default_alarm = {"overflow"};
  } else if (check == "fire_lane_blocked") {
    default_type = "vision.fire_lane_blocked";
    default_alarm = {"blocked"};
  } else if (check == "door_open") {
    default_type = "vision.door_open";
    default_alarm = {"open"};
  }
  LINLI_ASSIGN_OR_RETURN(p.event_type, r.String("event_type", default_type));
  LINLI_RETURN_IF_ERROR(CheckEventType(p.event_type, r.Key("event_type")));
  LINLI_ASSIGN_OR_RETURN(p.alarm_states, r.Strings("alarm_states", default_alarm));
  if (p.alarm_states.empty())
    return InvalidArgument(r.Key("alarm_states"), "is required for check: custom");
  LINLI_ASSIGN_OR_RETURN(double dur, r.Double("min_duration_s", 5, 0, 86400));
  p.min_duration_ms = static_cast<int64_t>(dur * 1000);
  LINLI_ASSIGN_OR_RETURN(double iv, r.Double("interval_s", 1, 0, 3600));
  p.interval_ms = static_cast<int64_t>(iv * 1000);
  LINLI_ASSIGN_OR_RETURN(p.min_margin, r.Double("min_margin", p.min_margin, 0, 0.9));
  LINLI_ASSIGN_OR_RETURN(p.k, r.Int("k", p.k, 1, 50));
  auto a = std::make_unique<RoiState>(p, camera.camera_id, camera.state_dir);
  LINLI_RETURN_IF_ERROR(LoadConfiguredExamples(r, p.roi, *a));
  LoadPersistedExamples(camera.state_dir, p.roi, *a);
  std::vector<std::string> states = a->classifier().States();
  if (states.size() < 2)
    return InvalidArgument(r.Key("enroll"),
                           "needs examples of at least two states (has " +
                               std::to_string(states.size()) + ")");
  for (std::size_t i = 0; i < p.alarm_states.size(); ++i)
    if (std::find(states.begin(), states.end(), p.alarm_states[i]) == states.end())
      return InvalidArgument(r.Key("alarm_states") + "[" + std::to_string(i) + "]",
                             "\"" + p.alarm_states[i] + "\" has no enrolled examples");
  return std::unique_ptr<Analyzer>(std::move(a));
}

void RegisterRoiState(AnalyzerRegistry& registry) { registry.Register("roi_state", MakeRoiState); }

}  // namespace linli::edge
