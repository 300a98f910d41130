#include "edge/uplink/event_payload.h"

#include <cmath>

namespace linli::edge {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Normalised coordinates and scores with 4 decimals: enough for 10k-pixel frames, compact JSON.
double Round4(double v) {
  if (!std::isfinite(v)) return 0;
  return std::round(v * 10000.0) / 10000.0;
}

Json BoxesJson(const std::vector<Box>& boxes, size_t max) {
  Json out = Json::array();
  for (size_t i = 0; i < boxes.size() && i < max; ++i) {
    const Box& b = boxes[i];
    Json j = {{"x", Round4(b.x)}, {"y", Round4(b.y)}, {"w", Round4(b.w)}, {"h", Round4(b.h)}};
    if (!b.label.empty()) j["label"] = b.label;
    j["score"] = Round4(b.score);
    out.push_back(std::move(j));
  }
  return out;
}

// Every `stride`-th point, always with the first and the last.
Json TrajectoryJson(const std::vector<TrackPoint>& t, size_t stride) {
  Json out = Json::array();
  if (stride == 0) stride = 1;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i % stride != 0 && i + 1 != t.size()) continue;
    out.push_back({{"pts_ms", t[i].pts_ms}, {"x", Round4(t[i].x)}, {"y", Round4(t[i].y)}});
  }
  return out;
}

}  // namespace

bool IsValidDeviceId(std::string_view id) {
  if (id.empty() || id.size() > 64 || !IsAlnum(id[0])) return false;
  for (char c : id) {
    if (!IsAlnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool IsValidEventType(std::string_view type) {
  if (type.empty() || type.size() > 64) return false;
  bool dot = false;
  size_t seg = 0;
  for (char c : type) {
    if (c == '.') {
      if (seg == 0) return false;
      dot = true;
      seg = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    ++seg;
  }
  return dot && seg > 0;
}

Result<void> ValidateEdgeEvent(const EdgeEvent& e) {
  if (e.id.empty() || e.id.size() > kMaxEventIdLength) {
    return InvalidArgument("id", "must be 1.." + std::to_string(kMaxEventIdLength) + " characters");
  }
  for (char c : e.id) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') {
      return InvalidArgument("id", "only [A-Za-z0-9_.-] allowed");
    }
  }
  if (!IsValidEventType(e.type)) {
    return InvalidArgument("type", "must be dotted lower case ([a-z0-9_] segments, <= 64 bytes)");
  }
  if (!e.camera_id.empty() && !IsValidDeviceId(e.camera_id)) {
    return InvalidArgument("camera_id", "not a valid device id");
  }
  return {};
}

Json EventStepBody(const EdgeEvent& e, int64_t ts_ms, bool with_snapshot) {
  Json data = {{"event_id", e.id},
               {"phase", std::string(EventPhaseName(e.phase))},
               {"start_ms", e.start_ms},
               {"end_ms", e.end_ms},
               {"score", Round4(e.score)}};
  if (!e.camera_id.empty()) data["camera_id"] = e.camera_id;
  if (!e.zone.empty()) data["zone"] = e.zone;
  if (!e.boxes.empty()) data["boxes"] = BoxesJson(e.boxes, kMaxBoxes);
  size_t stride = (e.trajectory.size() + kMaxTrajectoryPoints - 1) / kMaxTrajectoryPoints;
  if (!e.trajectory.empty()) data["trajectory"] = TrajectoryJson(e.trajectory, stride);
  if (e.origin) data["origin"] = {{"x", Round4(e.origin->x)}, {"y", Round4(e.origin->y)}};
  if (with_snapshot) data["snapshot_pts_ms"] = e.snapshot_pts_ms;
  if (!e.data.is_null() && !(e.data.is_object() && e.data.empty())) {
    data["details"] = e.data.is_object() ? e.data : Json{{"value", e.data}};
  }
  bool truncated = e.boxes.size() > kMaxBoxes || stride > 1;

  // Shrink until the serialised data fits.
  auto size = [&] { return DumpJson(data).size(); };
  while (size() > kMaxEventDataBytes && data.contains("trajectory") &&
         data["trajectory"].size() > 2) {
    stride = std::max<size_t>(stride, 1) * 2;
    data["trajectory"] = TrajectoryJson(e.trajectory, stride);
    truncated = true;
  }
  if (size() > kMaxEventDataBytes && data.contains("details")) {
    data["details"] = Json{{"truncated", true}};
    truncated = true;
  }
  if (size() > kMaxEventDataBytes && data.contains("boxes")) {
    data["boxes"] = BoxesJson(e.boxes, 8);
    truncated = true;
  }
  if (truncated) data["truncated"] = true;
  return Json{{"ts", ts_ms}, {"type", e.type}, {"data", std::move(data)}};
}

}  // namespace linli::edge
