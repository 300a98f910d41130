#include "behavior.h"

#include <cmath>

#include "common/json.h"

namespace linli::sim {
namespace {

double Round(double v, int decimals) {
  const double f = std::pow(10.0, decimals);
  return std::round(v * f) / f;
}

bool BatteryPowered(std::string_view kind) {
  return kind == "smoke_sensor" || kind == "water_sensor" || kind == "sos_button" ||
         kind == "environment_sensor";
}

}  // namespace

DeviceBehavior::DeviceBehavior(const SimDevice& device, const SimCompound* compound, uint64_t seed,
                               AlarmRates rates)
    : device_(device), compound_(compound), rng_(SeedFor(seed, device.id)), rates_(rates) {
  kwh_ = Round(rng_.Real(500, 20000), 2);
  battery_pct_ = Round(rng_.Real(60, 100), 0);
}

Outgoing DeviceBehavior::Online() { return {"up/status", "online", true, false}; }
Outgoing DeviceBehavior::Offline() { return {"up/status", "offline", true, false}; }

Outgoing DeviceBehavior::Telemetry(int64_t now_ms, Json metrics) {
  Json j = {{"ts", now_ms}, {"metrics", std::move(metrics)}};
  return {"up/telemetry", DumpJson(j), false, false};
}

Outgoing DeviceBehavior::Event(int64_t now_ms, const IdSource& new_id, std::string type, Json data,
                               bool alarm) {
  Json j = {{"id", new_id()}, {"ts", now_ms}, {"type", std::move(type)}, {"data", std::move(data)}};
  return {"up/event", DumpJson(j), false, alarm};
}

Outgoing DeviceBehavior::Heartbeat(int64_t now_ms) {
  if (started_ms_ < 0) started_ms_ = now_ms;
  Json m = {{"heartbeat", true},
            {"uptime_s", (now_ms - started_ms_) / 1000},
            {"rssi_dbm", static_cast<int>(rng_.Normal(-62, 6))}};
  if (BatteryPowered(device_.kind)) {
    battery_pct_ = std::max(1.0, battery_pct_ - (rng_.Chance(0.02) ? 1 : 0));
    m["battery_pct"] = battery_pct_;
  }
  return Telemetry(now_ms, std::move(m));
}

Outgoing DeviceBehavior::Activity(int64_t now_ms, const IdSource& new_id) {
  if (started_ms_ < 0) started_ms_ = now_ms;
  const std::string& kind = device_.kind;
  if (kind == "door_controller") {
    const bool have_people = compound_ != nullptr && !compound_->persons.empty();
    if (have_people && rng_.Chance(0.75)) {
      const SimPerson& p = compound_->persons[rng_.Index(compound_->persons.size())];
      ++passages_;
      const double m = rng_.Real();
      return Event(now_ms, new_id, "door.passage",
                   {{"person_id", p.id},
                    {"card_no", p.card_no},
                    {"direction", rng_.Chance(0.5) ? "in" : "out"},
                    {"method", m < 0.6 ? "card" : (m < 0.9 ? "face" : "qr")}});
    }
    if (!have_people && rng_.Chance(0.5)) {
      // Visitors and unknown cards: the controller reports the card without a person.
      return Event(now_ms, new_id, "door.passage",
                   {{"card_no", RandomCardNo(rng_)}, {"direction", rng_.Chance(0.5) ? "in" : "out"},
                    {"method", "card"}});
    }
    door_open_ = !door_open_;
    return Telemetry(now_ms, {{"door_open", door_open_}});
  }
  if (kind == "barrier_gate") {
    if (rng_.Chance(0.8)) {
      std::string plate;
      const bool known = compound_ != nullptr && !compound_->plates.empty() && rng_.Chance(0.85);
      if (known) {
        plate = compound_->plates[rng_.Index(compound_->plates.size())];
      } else {
        plate = RandomPlate(rng_, compound_ != nullptr ? compound_->province : "京");  // a visitor
      }
      ++passages_;
      return Event(now_ms, new_id, "vehicle.passage",
                   {{"plate", plate}, {"direction", rng_.Chance(0.5) ? "in" : "out"}});
    }
    return Telemetry(now_ms, {{"barrier_up", barrier_up_}, {"passages", passages_}});
  }
  if (kind == "gas_sensor") {
    if (rng_.Chance(rates_.gas_leak)) {
      const double ppm = Round(rng_.Real(5000, 20000), 1);
      return Event(now_ms, new_id, "gas.leak", {{"ch4_ppm", ppm}, {"level", ppm > 10000 ? "high" : "low"}},
                   true);
    }
    return Telemetry(now_ms, {{"ch4_ppm", Round(std::max(0.0, rng_.Normal(8, 3)), 2)},
                              {"temperature_c", Round(rng_.Normal(22, 2), 1)}});
  }
  if (kind == "smoke_sensor") {
    if (rng_.Chance(rates_.smoke_alarm)) {
      return Event(now_ms, new_id, "smoke.alarm", {{"density", Round(rng_.Real(0.2, 1.2), 3)}}, true);
    }
    return Telemetry(now_ms, {{"smoke_density", Round(std::max(0.0, rng_.Normal(0.01, 0.005)), 3)},
                              {"temperature_c", Round(rng_.Normal(23, 2), 1)}});
  }
  if (kind == "water_sensor") {
    if (rng_.Chance(rates_.water_leak)) {
      Json data = {{"water_level_mm", Round(rng_.Real(3, 40), 1)}};
      if (!device_.room_id.empty()) data["room_id"] = device_.room_id;
      return Event(now_ms, new_id, "water.leak", std::move(data), true);
    }
    return Telemetry(now_ms, {{"water_detected", false}, {"battery_pct", battery_pct_}});
  }
  if (kind == "electricity_meter") {
    const double voltage = Round(rng_.Normal(220, 3), 1);
    const double current = Round(std::max(0.05, rng_.Exponential(3)), 2);
    const double pf = Round(rng_.Real(0.85, 0.99), 2);
    const double power = Round(voltage * current * pf, 1);
    kwh_ = Round(kwh_ + power / 1000.0 * rng_.Real(0.05, 0.3), 2);
    return Telemetry(now_ms, {{"kwh", kwh_}, {"voltage", voltage}, {"current", current},
                              {"power", power}, {"pf", pf}});
  }
  if (kind == "sos_button") {
    if (rng_.Chance(rates_.sos)) {
      Json data = {{"press", rng_.Chance(0.8) ? "short" : "long"}};
      if (!device_.person_id.empty()) data["person_id"] = device_.person_id;
      if (!device_.room_id.empty()) data["room_id"] = device_.room_id;
      return Event(now_ms, new_id, "sos.pressed", std::move(data), true);
    }
    return Telemetry(now_ms, {{"battery_pct", battery_pct_}});
  }
  if (kind == "camera") {
    return Telemetry(now_ms, {{"fps", rng_.Chance(0.98) ? 25 : static_cast<int>(rng_.Uniform(5, 24))},
                              {"bitrate_kbps", static_cast<int>(rng_.Normal(4096, 300))},
                              {"storage_pct", Round(rng_.Real(20, 95), 1)}});
  }
  if (kind == "sound_light_alarm") {
    return Telemetry(now_ms, {{"sounding", sounding_}});
  }
  // edge_box, environment_sensor, other.
  return Telemetry(now_ms, {{"temperature_c", Round(rng_.Normal(24, 3), 1)},
                            {"humidity_pct", Round(rng_.Real(30, 80), 1)},
                            {"pm25", static_cast<int>(std::max(1.0, rng_.Normal(35, 15)))}});
}

std::vector<Outgoing> DeviceBehavior::HandleCommand(std::string_view payload, int64_t now_ms,
                                                    const IdSource& new_id, std::string* error) {
  std::vector<Outgoing> out;
  auto parsed = ParseJson(payload);
  if (!parsed || !parsed->is_object()) {
    *error = "command is not a JSON object";
    return out;
  }
  const Json& cmd = *parsed;
  auto id = OptionalString(cmd, "id");
  if (!id || !id->has_value() || (*id)->empty() || (*id)->size() > 128) {
    *error = "command without a usable id";
    return out;
  }
  const std::string command_id = **id;
  auto ack = [&](bool ok, std::string err) {
    Json j = {{"command_id", command_id}, {"ok", ok}};
    j["error"] = ok ? Json(nullptr) : Json(err);
    out.push_back({"up/ack", DumpJson(j), false, false});
    if (!ok) *error = err;
  };
  auto name = OptionalString(cmd, "name");
  if (!name || !name->has_value()) {
    ack(false, "missing command name");
    return out;
  }
  // docs/protocol.md: the device must not execute a command received after `expires` (ms since
  // the epoch; 0 or absent: no expiry).
  if (auto it = cmd.find("expires"); it != cmd.end() && !it->is_null()) {
    if (!it->is_number()) {
      ack(false, "invalid expires");
      return out;
    }
    const double expires = it->get<double>();
    if (expires > 0 && expires < static_cast<double>(now_ms)) {
      ack(false, "expired");
      return out;
    }
  }
  Json args = Json::object();
  if (auto it = cmd.find("args"); it != cmd.end() && !it->is_null()) {
    if (!it->is_object()) {
      ack(false, "args must be an object");
      return out;
    }
    args = *it;
  }
  Json cause = cmd.contains("cause") ? cmd["cause"] : Json(nullptr);
  const std::string& n = **name;
  const std::string& kind = device_.kind;
  if (n == "ping") {
    ack(true, "");
    return out;
  }
  if (kind == "door_controller" && n == "unlock") {
    int64_t duration_s = 5;
    if (auto it = args.find("duration_s"); it != args.end()) {
      if (!it->is_number() || it->get<double>() < 1 || it->get<double>() > 3600) {
        ack(false, "duration_s must be a number of seconds in 1..3600");
        return out;
      }
      duration_s = static_cast<int64_t>(it->get<double>());
    }
    ack(true, "");
    door_open_ = true;
    out.push_back(Event(now_ms, new_id, "door.unlocked",
                        {{"command_id", command_id}, {"by", "remote"}, {"duration_s", duration_s}, {"cause", cause}}));
    out.push_back(Telemetry(now_ms, {{"door_open", true}}));
    return out;
  }
  if (kind == "door_controller" && n == "lock") {
    ack(true, "");
    door_open_ = false;
    out.push_back(Event(now_ms, new_id, "door.locked", {{"command_id", command_id}, {"by", "remote"}, {"cause", cause}}));
    out.push_back(Telemetry(now_ms, {{"door_open", false}}));
    return out;
  }
  if (kind == "sound_light_alarm" && (n == "alarm_on" || n == "alarm_off")) {
    ack(true, "");
    sounding_ = n == "alarm_on";
    out.push_back(Event(now_ms, new_id, sounding_ ? "alarm.on" : "alarm.off",
                        {{"command_id", command_id}, {"cause", cause}}));
    out.push_back(Telemetry(now_ms, {{"sounding", sounding_}}));
    return out;
  }
  if (kind == "barrier_gate" && (n == "raise" || n == "lower")) {
    ack(true, "");
    barrier_up_ = n == "raise";
    out.push_back(Event(now_ms, new_id, barrier_up_ ? "barrier.raised" : "barrier.lowered",
                        {{"command_id", command_id}, {"cause", cause}}));
    out.push_back(Telemetry(now_ms, {{"barrier_up", barrier_up_}}));
    return out;
  }
  ack(false, "unsupported command \"" + n.substr(0, 64) + "\" for " + kind);
  return out;
}

BadMessage MakeBadMessage(Rng& rng, int64_t now_ms) {
  const std::string ts = std::to_string(now_ms);
  switch (rng.Uniform(0, 8)) {
    case 0:
      return {{"up/telemetry", "{\"ts\": " + ts + ", \"metrics\": {\"ch4_ppm\": 1.5", false, false},
              "invalid_json"};
    case 1:
      return {{"up/telemetry", "{\"ts\": \"yesterday\", \"metrics\": [1, 2, 3]}", false, false},
              "wrong_types"};
    case 2:
      return {{"up/telemetry", "{\"ts\": " + ts + ", \"metrics\": {\"nested\": {\"a\": 1}}}", false, false},
              "nested_metric"};
    case 3:
      return {{"up/event", "{\"ts\": " + ts + ", \"type\": \"door.passage\", \"data\": {}}", false, false},
              "event_without_id"};
    case 4:
      return {{"up/event",
               "{\"id\": \"not-a-uuid\", \"ts\": " + ts + ", \"type\": \"door.passage\", \"data\": {}}",
               false, false},
              "event_bad_id"};
    case 5: {
      // Bigger than linlid's 256 KiB payload limit.
      std::string big = "{\"ts\": " + ts + ", \"metrics\": {\"blob\": \"";
      big.append(300 * 1024, 'x');
      big += "\"}}";
      return {{"up/telemetry", std::move(big), false, false}, "oversized"};
    }
    case 6:
      return {{"up/telemetry", std::string("{\"ts\": ") + ts + ", \"metrics\": {\"name\": \"\xff\xfe\"}}",
               false, false},
              "invalid_utf8"};
    case 7:
      return {{"up/telemetry/extra", "{\"ts\": " + ts + ", \"metrics\": {\"x\": 1}}", false, false},
              "wrong_topic_shape"};
    default:
      return {{"up/bogus", "{\"ts\": " + ts + "}", false, false}, "unknown_topic"};
  }
}

}  // namespace linli::sim
