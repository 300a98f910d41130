#include "edge/event_json.h"

#include <cmath>

namespace linli::edge {
namespace {

double Round4(double v) { return std::round(v * 10000.0) / 10000.0; }

Result<double> Num(const Json& j, const std::string& field, bool required = true) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (required) return InvalidArgument(field, "is required");
    return 0.0;
  }
  if (!it->is_number()) return InvalidArgument(field, "must be a number");
  return it->get<double>();
}

}  // namespace

Json EventToJson(const EdgeEvent& e) {
  Json j = Json::object();
  j["id"] = e.id;
  j["type"] = e.type;
  j["camera_id"] = e.camera_id;
  j["phase"] = std::string(EventPhaseName(e.phase));
  j["start_ms"] = e.start_ms;
  j["end_ms"] = e.end_ms;
  j["score"] = Round4(e.score);
  j["zone"] = e.zone;
  Json boxes = Json::array();
  for (const auto& b : e.boxes) {
    boxes.push_back({{"x", Round4(b.x)}, {"y", Round4(b.y)}, {"w", Round4(b.w)},
                     {"h", Round4(b.h)}, {"label", b.label}, {"score", Round4(b.score)}});
  }
  j["boxes"] = std::move(boxes);
  Json traj = Json::array();
  for (const auto& p : e.trajectory) {
    traj.push_back({{"pts_ms", p.pts_ms}, {"x", Round4(p.x)}, {"y", Round4(p.y)}});
  }
  j["trajectory"] = std::move(traj);
  if (e.origin) {
    j["origin"] = {{"x", Round4(e.origin->x)}, {"y", Round4(e.origin->y)}};
  } else {
    j["origin"] = nullptr;
  }
  j["data"] = e.data.is_null() ? Json::object() : e.data;
  return j;
}

Result<EdgeEvent> EventFromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgument("", "an event must be a JSON object");
  EdgeEvent e;
  LINLI_ASSIGN_OR_RETURN(e.id, RequireString(j, "id"));
  LINLI_ASSIGN_OR_RETURN(e.type, RequireString(j, "type"));
  LINLI_ASSIGN_OR_RETURN(e.camera_id, RequireString(j, "camera_id"));
  LINLI_ASSIGN_OR_RETURN(std::string phase, RequireString(j, "phase"));
  if (phase == "begin") {
    e.phase = EventPhase::kBegin;
  } else if (phase == "update") {
    e.phase = EventPhase::kUpdate;
  } else if (phase == "end") {
    e.phase = EventPhase::kEnd;
  } else {
    return InvalidArgument("phase", "must be begin, update or end");
  }
  LINLI_ASSIGN_OR_RETURN(e.start_ms, RequireInt(j, "start_ms"));
  LINLI_ASSIGN_OR_RETURN(e.end_ms, RequireInt(j, "end_ms"));
  LINLI_ASSIGN_OR_RETURN(double score, Num(j, "score"));
  e.score = static_cast<float>(score);
  LINLI_ASSIGN_OR_RETURN(auto zone, OptionalString(j, "zone"));
  e.zone = zone.value_or("");
  if (auto it = j.find("boxes"); it != j.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& b = (*it)[i];
      if (!b.is_object()) return InvalidArgument("boxes[" + std::to_string(i) + "]", "not an object");
      Box box;
      LINLI_ASSIGN_OR_RETURN(double x, Num(b, "x"));
      LINLI_ASSIGN_OR_RETURN(double y, Num(b, "y"));
      LINLI_ASSIGN_OR_RETURN(double w, Num(b, "w"));
      LINLI_ASSIGN_OR_RETURN(double h, Num(b, "h"));
      LINLI_ASSIGN_OR_RETURN(double s, Num(b, "score", false));
      box = {static_cast<float>(x), static_cast<float>(y), static_cast<float>(w),
             static_cast<float>(h), b.value("label", std::string()), static_cast<float>(s)};
      e.boxes.push_back(std::move(box));
    }
  }
  if (auto it = j.find("trajectory"); it != j.end() && it->is_array()) {
    for (const Json& p : *it) {
      if (!p.is_object()) return InvalidArgument("trajectory", "points must be objects");
      LINLI_ASSIGN_OR_RETURN(int64_t t, RequireInt(p, "pts_ms"));
      LINLI_ASSIGN_OR_RETURN(double x, Num(p, "x"));
      LINLI_ASSIGN_OR_RETURN(double y, Num(p, "y"));
      e.trajectory.push_back({t, static_cast<float>(x), static_cast<float>(y)});
    }
  }
  if (auto it = j.find("origin"); it != j.end() && it->is_object()) {
    LINLI_ASSIGN_OR_RETURN(double x, Num(*it, "x"));
    LINLI_ASSIGN_OR_RETURN(double y, Num(*it, "y"));
    e.origin = cv::Point2f(static_cast<float>(x), static_cast<float>(y));
  }
  if (auto it = j.find("data"); it != j.end() && it->is_object()) e.data = *it;
  return e;
}

}  // namespace linli::edge
