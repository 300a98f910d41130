#include "ingest/decode.h"

#include <cmath>

#include "common/json.h"

namespace linli::ingest {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

Result<int64_t> DecodeTs(const Json& j, int64_t now_ms, const DecodeLimits& lim) {
  auto it = j.find("ts");
  if (it == j.end() || it->is_null()) return now_ms;
  if (!it->is_number_integer() && !(it->is_number_float() && std::isfinite(it->get<double>()))) {
    return InvalidArgument("ts", "must be an integer (milliseconds since the epoch)");
  }
  int64_t ts = it->is_number_integer() ? it->get<int64_t>() : static_cast<int64_t>(it->get<double>());
  if (ts < now_ms - lim.max_past_ms || ts > now_ms + lim.max_future_ms) {
    return InvalidArgument("ts", "is outside the accepted clock window");
  }
  return ts;
}

Result<Json> ParseObject(std::string_view payload, const DecodeLimits& lim) {
  if (payload.size() > lim.max_payload_bytes) {
    return Fail(ErrorCode::kResourceExhausted, "payload of " + std::to_string(payload.size()) +
                                                   " bytes exceeds " + std::to_string(lim.max_payload_bytes));
  }
  LINLI_ASSIGN_OR_RETURN(Json j, ParseJson(payload, 16));
  if (!j.is_object()) return InvalidArgument("", "payload must be a JSON object");
  return j;
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsValidEventId(std::string_view id) {
  if (id.empty() || id.size() > 64 || !IsAlnum(id[0])) return false;
  for (char c : id) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != ':' && c != '-') return false;
  }
  return true;
}

Result<std::vector<model::TelemetryPoint>> DecodeTelemetry(std::string_view payload,
                                                           const std::string& device_id,
                                                           int64_t now_ms, const DecodeLimits& lim) {
  LINLI_ASSIGN_OR_RETURN(Json j, ParseObject(payload, lim));
  LINLI_ASSIGN_OR_RETURN(int64_t ts, DecodeTs(j, now_ms, lim));
  auto it = j.find("metrics");
  if (it == j.end() || !it->is_object()) return InvalidArgument("metrics", "must be an object");
  if (it->empty()) return InvalidArgument("metrics", "must not be empty");
  if (it->size() > lim.max_metrics) {
    return InvalidArgument("metrics", "more than " + std::to_string(lim.max_metrics) + " metrics");
  }
  std::vector<model::TelemetryPoint> points;
  points.reserve(it->size());
  for (auto m = it->begin(); m != it->end(); ++m) {
    auto field = [&m] { return "metrics." + m.key(); };  // built only for an error
    if (!IsValidMetricName(m.key())) return InvalidArgument(field(), "invalid metric name");
    model::TelemetryPoint p;
    p.device_id = device_id;
    p.metric = m.key();
    p.ts_ms = ts;
    const Json& v = m.value();
    if (v.is_boolean()) {
      p.value = v.get<bool>();
    } else if (v.is_number()) {
      double d = v.get<double>();
      if (!std::isfinite(d)) return InvalidArgument(field(), "must be finite");
      p.value = d;
    } else if (v.is_string()) {
      std::string s = v.get<std::string>();
      if (s.size() > lim.max_string_value) return InvalidArgument(field(), "string value too long");
      p.value = std::move(s);
    } else {
      return InvalidArgument(field(), "must be a number, boolean or string");
    }
    points.push_back(std::move(p));
  }
  return points;
}

Result<model::Event> DecodeEvent(std::string_view payload, const std::string& compound_id,
                                 const std::string& device_id, int64_t now_ms, const DecodeLimits& lim) {
  LINLI_ASSIGN_OR_RETURN(Json j, ParseObject(payload, lim));
  model::Event e;
  LINLI_ASSIGN_OR_RETURN(e.id, RequireString(j, "id"));
  if (!IsValidEventId(e.id)) return InvalidArgument("id", "must be 1-64 of [A-Za-z0-9_.:-] (a UUID)");
  LINLI_ASSIGN_OR_RETURN(e.type, RequireString(j, "type"));
  if (!IsValidEventType(e.type)) return InvalidArgument("type", "must be a dotted lower-case name like gas.leak");
  LINLI_ASSIGN_OR_RETURN(e.ts_ms, DecodeTs(j, now_ms, lim));
  auto d = j.find("data");
  if (d != j.end() && !d->is_null()) {
    if (!d->is_object()) return InvalidArgument("data", "must be an object");
    if (DumpJson(*d).size() > lim.max_event_data_bytes) return InvalidArgument("data", "too large");
    e.data = *d;
  }
  e.compound_id = compound_id;
  e.device_id = device_id;
  e.received_ms = now_ms;
  return e;
}

Result<model::Presence> DecodeStatus(std::string_view payload) {
  std::string_view s = payload;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  if (s.size() > 256) return InvalidArgument("status", "too long");
  std::string value(s);
  if (!s.empty() && (s.front() == '"' || s.front() == '{')) {
    auto j = ParseJson(s, 4);
    if (!j) return InvalidArgument("status", "must be online or offline");
    if (j->is_string()) {
      value = j->get<std::string>();
    } else if (j->is_object() && j->contains("status") && (*j)["status"].is_string()) {
      value = (*j)["status"].get<std::string>();
    } else {
      return InvalidArgument("status", "must be online or offline");
    }
  }
  if (value == "online") return model::Presence::kOnline;
  if (value == "offline") return model::Presence::kOffline;
  return InvalidArgument("status", "must be online or offline");
}

}  // namespace linli::ingest
