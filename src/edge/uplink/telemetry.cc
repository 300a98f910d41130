#include "edge/uplink/telemetry.h"

#include <cmath>

#include "common/json.h"

namespace linli::edge {
namespace {

constexpr size_t kMaxMetricsPerMessage = 256;
constexpr size_t kMaxMetricName = 64;

double Round2(double v) { return std::isfinite(v) ? std::round(v * 100.0) / 100.0 : 0.0; }

}  // namespace

std::vector<std::string> BuildTelemetryMessages(int64_t ts_ms, int64_t uptime_s,
                                                const std::vector<CameraStats>& cameras,
                                                const OutboxStats& outbox,
                                                const UplinkCounters& c,
                                                std::vector<std::string>* skipped) {
  std::vector<std::pair<std::string, Json>> all;
  all.emplace_back("heartbeat", 1);
  all.emplace_back("uptime_s", uptime_s);
  all.emplace_back("outbox.entries", outbox.entries);
  all.emplace_back("outbox.bytes", outbox.bytes);
  all.emplace_back("outbox.oldest_age_s",
                   outbox.oldest_ms > 0 ? std::max<int64_t>(0, (ts_ms - outbox.oldest_ms) / 1000)
                                        : 0);
  all.emplace_back("outbox.evicted_events", outbox.evicted_events);
  all.emplace_back("outbox.evicted_bytes", outbox.evicted_bytes);
  all.emplace_back("outbox.dead_letters", outbox.dead_letters);
  all.emplace_back("uplink.published", c.published);
  all.emplace_back("uplink.confirmed", c.confirmed);
  all.emplace_back("uplink.media_uploaded", c.media_uploaded);
  all.emplace_back("uplink.media_retries", c.media_retries);
  all.emplace_back("uplink.media_dead", c.media_dead);
  for (const auto& cam : cameras) {
    std::string p = "cam." + cam.camera_id + ".";
    if (p.size() + std::string_view("dropped_frames").size() > kMaxMetricName) {
      if (skipped != nullptr) skipped->push_back(cam.camera_id);
      continue;
    }
    all.emplace_back(p + "fps", Round2(cam.decoded_fps));
    all.emplace_back(p + "analysed_fps", Round2(cam.analysed_fps));
    all.emplace_back(p + "lag_ms", static_cast<int64_t>(std::llround(std::isfinite(cam.lag_ms) ? cam.lag_ms : 0)));
    all.emplace_back(p + "dropped_frames", cam.frames_dropped);
    all.emplace_back(p + "reconnects", cam.reconnects);
    all.emplace_back(p + "online", cam.state == CameraState::kRunning);
    all.emplace_back(p + "video_loss", cam.video_loss);
    all.emplace_back(p + "state", std::string(CameraStateName(cam.state)));
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < all.size(); i += kMaxMetricsPerMessage) {
    Json metrics = Json::object();
    for (size_t k = i; k < all.size() && k < i + kMaxMetricsPerMessage; ++k) {
      metrics[all[k].first] = all[k].second;
    }
    out.push_back(DumpJson(Json{{"ts", ts_ms}, {"metrics", std::move(metrics)}}));
  }
  return out;
}

}  // namespace linli::edge
