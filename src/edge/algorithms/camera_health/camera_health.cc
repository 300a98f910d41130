#include "edge/algorithms/camera_health/camera_health.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <opencv2/imgproc.hpp>

#include "common/ids.h"
#include "common/log.h"
#include "edge/detectors/param_reader.h"

namespace linli::edge {

namespace {

constexpr int kWorkWidth = 320;  // sharpness, blocks, brightness
constexpr int kDiffWidth = 160;  // frame differences
constexpr int kRefWidth = 64;    // scene reference
constexpr int kGridX = 8, kGridY = 6;

struct HealthParams {
  double learn_s = 5, baseline_tau_s = 300, clear_s = 3;
  double frozen_s = 10, frozen_diff = 0.3, frozen_changed = 0.001;
  double occluded_s = 3, occluded_fraction = 0.6, flat_ratio = 0.3;
  double blurred_s = 5, blur_ratio = 0.35;
  double brightness_s = 5, dark_level = 25, bright_level = 235, saturated_fraction = 0.5,
         dark_ratio = 0.3;
  double scene_s = 3, scene_similarity = 0.5, relearn_s = 120;
  bool frozen = true, occluded = true, blurred = true, brightness = true, scene = true;
};

double Zncc(const cv::Mat& a, const cv::Mat& b) {
  cv::Scalar ma, sa, mb, sb;
  cv::meanStdDev(a, ma, sa);
  cv::meanStdDev(b, mb, sb);
  if (sa[0] < 1e-6 || sb[0] < 1e-6) return 0;
  cv::Mat da = a - ma[0], db = b - mb[0];
  return da.dot(db) / (static_cast<double>(a.total()) * sa[0] * sb[0]);
}

// One condition's episode with onset and clear timers.
class Condition {
 public:
  Condition(std::string type, int64_t onset_ms, int64_t clear_ms)
      : type_(std::move(type)), onset_ms_(onset_ms), clear_ms_(clear_ms) {}
  bool active() const { return static_cast<bool>(ev_); }
  bool pending() const { return bad_since_ >= 0; }

  // `bad`: past the onset threshold; `good`: past the (looser) clear threshold.
  void Step(const Frame& f, bool bad, bool good, double score, const Json& data,
            const std::string& camera_id, EventSink& sink) {
    const int64_t now = f.pts_ms;
    if (!ev_) {
      if (bad) {
        if (bad_since_ < 0) bad_since_ = now;
        last_bad_ = now;
        if (now - bad_since_ >= onset_ms_) {
          ev_ = std::make_unique<EdgeEvent>();
          ev_->id = NewUuid();
          ev_->type = type_;
          ev_->camera_id = camera_id;
          ev_->phase = EventPhase::kBegin;
          ev_->start_ms = bad_since_;
          ev_->end_ms = now;
          ev_->score = static_cast<float>(std::clamp(score, 0.0, 1.0));
          ev_->data = data;
          ev_->snapshot = f.image;
          ev_->snapshot_pts_ms = now;
          sink.Emit(*ev_);
          good_since_ = -1;
        }
      } else if (good) {
        bad_since_ = -1;
      }
      return;
    }
    if (!good) {  // bad, or inside the hysteresis band: the condition goes on
      last_bad_ = now;
      good_since_ = -1;
      ev_->end_ms = now;
    } else {
      if (good_since_ < 0) good_since_ = now;
      if (now - good_since_ >= clear_ms_) End(sink, Json());
    }
  }

  void End(EventSink& sink, const Json& extra) {
    if (!ev_) return;
    ev_->phase = EventPhase::kEnd;
    ev_->end_ms = last_bad_;
    if (extra.is_object())
      for (auto it = extra.begin(); it != extra.end(); ++it) ev_->data[it.key()] = it.value();
    sink.Emit(*ev_);
    ev_.reset();
    bad_since_ = good_since_ = -1;
  }
  void Reset() { bad_since_ = good_since_ = -1; }
  int64_t active_since() const { return ev_ ? ev_->start_ms : -1; }

 private:
  std::string type_;
  int64_t onset_ms_, clear_ms_;
  int64_t bad_since_ = -1, good_since_ = -1, last_bad_ = 0;
  std::unique_ptr<EdgeEvent> ev_;
};

class CameraHealth final : public Analyzer {
 public:
  CameraHealth(const HealthParams& p, std::string camera_id)
      : p_(p), camera_id_(std::move(camera_id)),
        frozen_("camera.frozen", Ms(p.frozen_s), Ms(p.clear_s)),
        occluded_("camera.occluded", Ms(p.occluded_s), Ms(p.clear_s)),
        blurred_("camera.blurred", Ms(p.blurred_s), Ms(p.clear_s)),
        brightness_("camera.brightness", Ms(p.brightness_s), Ms(p.clear_s)),
        scene_("camera.scene_changed", Ms(p.scene_s), Ms(p.clear_s)) {}

  std::string_view Name() const override { return "camera_health"; }
  FrameNeeds Needs() const override {
    FrameNeeds n;
    n.full_rate = false;
    n.max_width = 640;
    n.motion_gated = false;
    return n;
  }

  void Process(const Frame& frame, EventSink& sink) override {
    if (frame.image.empty()) return;
    try {
      ProcessImpl(frame, sink);
    } catch (const cv::Exception& e) {
      if (errors_++ % 100 == 0)
        log::Warn("camera_health failed on a frame",
                  {{"camera", camera_id_}, {"error", e.what()}});
    }
  }

  void Finish(int64_t pts_ms, EventSink& sink) override {
    (void)pts_ms;
    for (Condition* c : All()) c->End(sink, Json());
  }

  const HealthMetrics& last() const { return m_; }

 private:
  static int64_t Ms(double s) { return static_cast<int64_t>(s * 1000); }
  std::vector<Condition*> All() { return {&frozen_, &occluded_, &blurred_, &brightness_, &scene_}; }

  void Restart() {
    learning_ = true;
    learn_start_ = -1;
    learn_n_ = 0;
    sharp_samples_.clear();
    for (Condition* c : All()) c->Reset();
  }

  void Measure(const cv::Mat& bgr) {
    cv::Mat gray;
    if (bgr.channels() == 3) {
      cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
    } else {
      gray = bgr;
    }
    int h = std::max(kGridY * 4, cvRound(gray.rows * double(kWorkWidth) / gray.cols));
    cv::resize(gray, g_, cv::Size(kWorkWidth, h), 0, 0, cv::INTER_AREA);
    cv::Scalar mean, sd;
    cv::meanStdDev(g_, mean, sd);
    m_.mean = mean[0];
    m_.contrast = sd[0];
    m_.saturated = cv::countNonZero(g_ >= 250) / static_cast<double>(g_.total());
    cv::Mat lap;
    cv::Laplacian(g_, lap, CV_32F, 1);
    cv::Scalar lm, ls;
    cv::meanStdDev(lap, lm, ls);
    m_.sharpness = ls[0] * ls[0] / (sd[0] * sd[0] + 1.0);
    // Block texture and brightness.
    blocks_.assign(kGridX * kGridY, 0.0);
    block_means_.assign(kGridX * kGridY, 0.0);
    for (int by = 0; by < kGridY; ++by)
      for (int bx = 0; bx < kGridX; ++bx) {
        cv::Rect r(bx * g_.cols / kGridX, by * g_.rows / kGridY, g_.cols / kGridX,
                   g_.rows / kGridY);
        cv::Scalar bm, bs;
        cv::meanStdDev(g_(r), bm, bs);
        blocks_[by * kGridX + bx] = bs[0];
        block_means_[by * kGridX + bx] = bm[0];
      }
    // Frame difference over the textured blocks only: a flat region (a covered lens, the sky)
    // is static in any picture, frozen or not; a frozen picture is static where it has detail.
    cv::Mat small;
    cv::resize(g_, small, cv::Size(kDiffWidth, std::max(kGridY, h / 2)), 0, 0, cv::INTER_AREA);
    m_.diff = m_.changed = -1;
    if (!prev_small_.empty() && prev_small_.size() == small.size()) {
      cv::Mat d;
      cv::absdiff(small, prev_small_, d);
      double sum = 0, changed = 0, pixels = 0;
      int textured = 0;
      for (int by = 0; by < kGridY; ++by)
        for (int bx = 0; bx < kGridX; ++bx) {
          if (blocks_[by * kGridX + bx] < 4) continue;
          ++textured;
          cv::Rect r(bx * d.cols / kGridX, by * d.rows / kGridY, d.cols / kGridX,
                     d.rows / kGridY);
          cv::Mat b = d(r);
          sum += cv::sum(b)[0];
          changed += cv::countNonZero(b > 4);
          pixels += static_cast<double>(b.total());
        }
      if (textured >= 5 && pixels > 0) {
        m_.diff = sum / pixels;
        m_.changed = changed / pixels;
      }
    }
    prev_small_ = small;
    // Gradient image for the scene reference.
    cv::Mat ref_small, f32, gx, gy;
    cv::resize(g_, ref_small, cv::Size(kRefWidth, std::max(8, kRefWidth * h / kWorkWidth)), 0, 0,
               cv::INTER_AREA);
    ref_small.convertTo(f32, CV_32F);
    cv::GaussianBlur(f32, f32, cv::Size(3, 3), 0);
    cv::Sobel(f32, gx, CV_32F, 1, 0);
    cv::Sobel(f32, gy, CV_32F, 0, 1);
    cv::magnitude(gx, gy, grad_);
  }

  void Learn(int64_t now, double alpha) {
    if (learning_) {
      if (learn_n_ == 0) {
        base_blocks_.assign(blocks_.size(), 0.0);
        ref_ = cv::Mat::zeros(grad_.size(), CV_32F);
        base_mean_ = base_contrast_ = 0;
      }
      ++learn_n_;
      for (std::size_t i = 0; i < blocks_.size(); ++i) base_blocks_[i] += blocks_[i];
      ref_ += grad_;
      base_mean_ += m_.mean;
      base_contrast_ += m_.contrast;
      sharp_samples_.push_back(m_.sharpness);
      if (now - learn_start_ >= Ms(p_.learn_s) && learn_n_ >= 3) {
        for (double& b : base_blocks_) b /= learn_n_;
        ref_ /= learn_n_;
        base_mean_ /= learn_n_;
        base_contrast_ /= learn_n_;
        std::nth_element(sharp_samples_.begin(),
                         sharp_samples_.begin() + sharp_samples_.size() / 2, sharp_samples_.end());
        base_sharp_ = sharp_samples_[sharp_samples_.size() / 2];
        learning_ = false;
      }
      return;
    }
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      base_blocks_[i] += alpha * (blocks_[i] - base_blocks_[i]);
    cv::addWeighted(ref_, 1 - alpha, grad_, alpha, 0, ref_);
    base_mean_ += alpha * (m_.mean - base_mean_);
    base_contrast_ += alpha * (m_.contrast - base_contrast_);
    base_sharp_ += alpha * (m_.sharpness - base_sharp_);
  }

  void ProcessImpl(const Frame& frame, EventSink& sink) {
    const int64_t now = frame.pts_ms;
    if (last_pts_ >= 0 && now < last_pts_) {  // a looped file or a restarted stream
      Finish(last_pts_, sink);
      prev_small_.release();
      Restart();
    }
    int64_t dt = last_pts_ >= 0 ? now - last_pts_ : 0;
    last_pts_ = now;
    Measure(frame.image);
    if (!learning_ && g_.size() != base_size_) Restart();
    if (learning_) {
      if (learn_start_ < 0) learn_start_ = now;
      base_size_ = g_.size();
      m_.flat_fraction = 0;
      m_.similarity = 1;
      Learn(now, 0);
      // Frozen needs no baseline.
      if (p_.frozen) StepFrozen(frame, sink, 1.0);
      return;
    }
    // Measurements against the baseline.
    double gain = std::clamp(base_mean_ / (m_.mean + 1.0), 0.125, 8.0);
    // The sensor's noise in this frame: the least textured block is about that (a covered
    // lens leaves nothing else); a block no busier than 1.5 times that has lost its detail.
    const double noise_floor =
        std::max(3.0, 1.5 * *std::min_element(blocks_.begin(), blocks_.end()));
    int textured = 0, flat = 0;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      if (base_blocks_[i] < 6) continue;
      ++textured;
      if (block_means_[i] >= 240) continue;  // blown out: a brightness problem, not a cover
      // Flat: lost its texture beyond what the darkness explains, or down to the sensor's
      // noise where it used to be strongly textured.
      if (blocks_[i] * gain < p_.flat_ratio * base_blocks_[i] ||
          (blocks_[i] < noise_floor && base_blocks_[i] >= 12))
        ++flat;
    }
    m_.flat_fraction = textured >= 8 ? static_cast<double>(flat) / textured : 0;
    m_.similarity = Zncc(grad_, ref_);
    const double sharp_ratio = m_.sharpness / std::max(base_sharp_, 1e-6);
    const double contrast_ratio = m_.contrast * gain / std::max(base_contrast_, 1e-6);
    const double mean_ratio = m_.mean / std::max(base_mean_, 1.0);

    bool frozen_raw = p_.frozen && StepFrozen(frame, sink, gain);
    bool any_raw = frozen_raw;
    if (!frozen_raw && !frozen_.active()) {
      // Occlusion.
      bool washed = sharp_ratio < p_.blur_ratio && contrast_ratio < 0.5;
      bool occ_bad = m_.flat_fraction >= p_.occluded_fraction || washed;
      bool occ_good = m_.flat_fraction < 0.7 * p_.occluded_fraction &&
                      !(sharp_ratio < p_.blur_ratio * 1.3 && contrast_ratio < 0.6);
      if (p_.occluded)
        occluded_.Step(frame, occ_bad, occ_good, m_.flat_fraction,
                       Json{{"flat_fraction", Round(m_.flat_fraction)},
                            {"contrast_ratio", Round(contrast_ratio)},
                            {"sharpness_ratio", Round(sharp_ratio)},
                            {"reason", washed && m_.flat_fraction < p_.occluded_fraction
                                           ? "washed_out"
                                           : "covered"}},
                       camera_id_, sink);
      any_raw = any_raw || occ_bad;
      bool masked = occ_bad || occluded_.active();
      if (!masked) {
        // Brightness first: a picture too dark or blown out says nothing reliable about focus
        // or where the camera points.
        std::string reason;
        if (m_.mean < p_.dark_level) {
          reason = "dark";
        } else if (m_.saturated > p_.saturated_fraction) {
          reason = "saturated";
        } else if (m_.mean > p_.bright_level) {
          reason = "bright";
        } else if (mean_ratio < p_.dark_ratio) {
          reason = "sudden_drop";
        }
        bool bright_bad = !reason.empty();
        bool bright_good = m_.mean >= p_.dark_level + 8 && m_.mean <= p_.bright_level - 8 &&
                           m_.saturated <= 0.7 * p_.saturated_fraction &&
                           mean_ratio >= p_.dark_ratio * 1.3;
        if (p_.brightness)
          brightness_.Step(frame, bright_bad, bright_good,
                           m_.mean < 128 ? 1 - m_.mean / 128 : (m_.mean - 128) / 127,
                           Json{{"mean", Round(m_.mean)},
                                {"baseline_mean", Round(base_mean_)},
                                {"saturated", Round(m_.saturated)},
                                {"reason", reason}},
                           camera_id_, sink);
        any_raw = any_raw || bright_bad;
        masked = bright_bad || brightness_.active();
      }
      if (!masked) {
        // Scene change.
        bool scene_bad = m_.similarity < p_.scene_similarity;
        bool scene_good = m_.similarity >= p_.scene_similarity + 0.15;
        if (p_.scene) {
          scene_.Step(frame, scene_bad, scene_good, 1 - m_.similarity,
                      Json{{"similarity", Round(m_.similarity)}}, camera_id_, sink);
          if (scene_.active() && now - scene_.active_since() >= Ms(p_.relearn_s)) {
            // The camera stays where it now points: learn the new view.
            scene_.End(sink, Json{{"relearned", true}});
            Restart();
            return;
          }
        }
        any_raw = any_raw || scene_bad;
        // Blur (only while the structure is still there).
        bool blur_bad = sharp_ratio < p_.blur_ratio && m_.similarity >= p_.scene_similarity;
        bool blur_good = sharp_ratio >= p_.blur_ratio * 1.3;
        if (p_.blurred)
          blurred_.Step(frame, blur_bad, blur_good, 1 - sharp_ratio,
                        Json{{"sharpness", Round(m_.sharpness)},
                             {"baseline", Round(base_sharp_)},
                             {"sharpness_ratio", Round(sharp_ratio)}},
                        camera_id_, sink);
        any_raw = any_raw || blur_bad;
      }
    }
    bool healthy = !any_raw;
    for (Condition* c : All()) healthy = healthy && !c->active() && !c->pending();
    if (healthy && dt > 0) Learn(now, std::min(1.0, dt / (p_.baseline_tau_s * 1000)));
  }

  // Returns whether the frame looks frozen (raw).
  // A darker picture has less noise: the difference threshold shrinks with the gain.
  bool StepFrozen(const Frame& frame, EventSink& sink, double gain) {
    if (m_.diff < 0) return false;
    const double thr = p_.frozen_diff / std::max(1.0, gain);
    bool bad = m_.diff < thr && m_.changed < p_.frozen_changed;
    bool good = m_.diff >= thr * 1.5 || m_.changed >= p_.frozen_changed * 3;
    frozen_.Step(frame, bad, good, 1.0,
                 Json{{"diff", Round(m_.diff)}, {"changed", Round(m_.changed)}}, camera_id_,
                 sink);
    return bad;
  }

  static double Round(double v) { return std::round(v * 1000) / 1000; }

  HealthParams p_;
  std::string camera_id_;
  Condition frozen_, occluded_, blurred_, brightness_, scene_;
  HealthMetrics m_;
  cv::Mat g_, prev_small_, grad_, ref_;
  std::vector<double> blocks_, block_means_, base_blocks_, sharp_samples_;
  double base_mean_ = 0, base_contrast_ = 0, base_sharp_ = 0;
  cv::Size base_size_;
  bool learning_ = true;
  int64_t learn_start_ = -1, last_pts_ = -1;
  int learn_n_ = 0;
  int64_t errors_ = 0;
};

}  // namespace

Result<std::unique_ptr<Analyzer>> MakeCameraHealth(const YAML::Node& params,
                                                   const std::string& key,
                                                   const CameraContext& camera) {
  ParamReader r(params, key);
  LINLI_RETURN_IF_ERROR(r.CheckKnown(
      {"checks", "learn_s", "baseline_tau_s", "clear_s", "frozen_s", "frozen_diff",
       "frozen_changed", "occluded_s", "occluded_fraction", "flat_ratio", "blurred_s",
       "blur_ratio", "brightness_s", "dark_level", "bright_level", "saturated_fraction",
       "dark_ratio", "scene_s", "scene_similarity", "relearn_s"}));
  // ParamReader lets `max_width` through for the analyzers that read it; this one does not.
  if (r.Has("max_width"))
    return InvalidArgument(r.Key("max_width"),
                           "unknown parameter: camera_health is given frames at most 640 wide");
  HealthParams p;
  LINLI_ASSIGN_OR_RETURN(p.learn_s, r.Double("learn_s", p.learn_s, 0.5, 3600));
  LINLI_ASSIGN_OR_RETURN(p.baseline_tau_s, r.Double("baseline_tau_s", p.baseline_tau_s, 1, 1e6));
  LINLI_ASSIGN_OR_RETURN(p.clear_s, r.Double("clear_s", p.clear_s, 0, 3600));
  LINLI_ASSIGN_OR_RETURN(p.frozen_s, r.Double("frozen_s", p.frozen_s, 0.5, 3600));
  LINLI_ASSIGN_OR_RETURN(p.frozen_diff, r.Double("frozen_diff", p.frozen_diff, 0, 50));
  LINLI_ASSIGN_OR_RETURN(p.frozen_changed, r.Double("frozen_changed", p.frozen_changed, 0, 1));
  LINLI_ASSIGN_OR_RETURN(p.occluded_s, r.Double("occluded_s", p.occluded_s, 0, 3600));
  LINLI_ASSIGN_OR_RETURN(p.occluded_fraction,
                         r.Double("occluded_fraction", p.occluded_fraction, 0.05, 1));
  LINLI_ASSIGN_OR_RETURN(p.flat_ratio, r.Double("flat_ratio", p.flat_ratio, 0.01, 1));
  LINLI_ASSIGN_OR_RETURN(p.blurred_s, r.Double("blurred_s", p.blurred_s, 0, 3600));
  LINLI_ASSIGN_OR_RETURN(p.blur_ratio, r.Double("blur_ratio", p.blur_ratio, 0.01, 1));
  LINLI_ASSIGN_OR_RETURN(p.brightness_s, r.Double("brightness_s", p.brightness_s, 0, 3600));
  LINLI_ASSIGN_OR_RETURN(p.dark_level, r.Double("dark_level", p.dark_level, 0, 255));
  LINLI_ASSIGN_OR_RETURN(p.bright_level, r.Double("bright_level", p.bright_level, 0, 255));
  if (p.bright_level <= p.dark_level + 16)
    return InvalidArgument(r.Key("bright_level"), "must be above dark_level + 16");
  LINLI_ASSIGN_OR_RETURN(p.saturated_fraction,
                         r.Double("saturated_fraction", p.saturated_fraction, 0.01, 1));
  LINLI_ASSIGN_OR_RETURN(p.dark_ratio, r.Double("dark_ratio", p.dark_ratio, 0, 1));
  LINLI_ASSIGN_OR_RETURN(p.scene_s, r.Double("scene_s", p.scene_s, 0, 3600));
  LINLI_ASSIGN_OR_RETURN(p.scene_similarity,
                         r.Double("scene_similarity", p.scene_similarity, -1, 0.95));
  LINLI_ASSIGN_OR_RETURN(p.relearn_s, r.Double("relearn_s", p.relearn_s, 1, 1e6));
  std::vector<std::string> all = {"frozen", "occluded", "blurred", "brightness",
                                  "scene_changed"};
  LINLI_ASSIGN_OR_RETURN(std::vector<std::string> checks, r.Strings("checks", all));
  p.frozen = p.occluded = p.blurred = p.brightness = p.scene = false;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const std::string& c = checks[i];
    if (c == "frozen") p.frozen = true;
    else if (c == "occluded") p.occluded = true;
    else if (c == "blurred") p.blurred = true;
    else if (c == "brightness") p.brightness = true;
    else if (c == "scene_changed") p.scene = true;
    else
      return InvalidArgument(r.Key("checks") + "[" + std::to_string(i) + "]",
                             "unknown check \"" + c +
                                 "\" (frozen, occluded, blurred, brightness, scene_changed)");
  }
  return std::unique_ptr<Analyzer>(new CameraHealth(p, camera.camera_id));
}

void RegisterCameraHealth(AnalyzerRegistry& registry) {
  registry.Register("camera_health", MakeCameraHealth);
}

}  // namespace linli::edge
