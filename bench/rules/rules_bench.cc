// linli-bench-rules: the linkage engine in process. 1,000 rules over 100 compounds (10 per
// compound: event rules with conditions, windows and cool-downs, telemetry and presence rules),
// a registry of 100 compounds × 60 devices, then:
//   - match:  OnEvent for an event whose compound has rules of that type but whose condition
//             fails (the common case: most events fire nothing);
//   - fire:   OnEvent that fires one rule with two commands resolved through the registry;
//   - miss:   OnEvent of a type no rule of the compound watches;
//   - memory: RSS growth from parsing and loading the 1,000 rules.
// Prints medians over repetitions and the ratio to the limits (10 µs, 50 MB).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "rules/engine.h"
#include "rules/parse.h"

namespace {

using namespace linli;

class BenchRegistry final : public rules::RegistryView {
 public:
  BenchRegistry() {
    const char* kinds[] = {"gas_sensor", "door_controller", "smoke_sensor", "sos_button", "camera", "sound_light_alarm"};
    for (int c = 0; c < 100; ++c) {
      const std::string cid = "c" + std::to_string(c);
      compounds_.push_back(cid);
      for (int i = 0; i < 60; ++i) {
        rules::DeviceView d;
        d.id = cid + "-d" + std::to_string(i);
        d.compound_id = cid;
        d.kind = kinds[i % 6];
        d.name = d.id;
        d.building_id = cid + "-b" + std::to_string(i % 5);
        d.area = i % 6 == 5 ? "物业中心" : "";
        by_compound_[cid].push_back(d.id);
        devices_[d.id] = d;
      }
    }
  }
  std::optional<rules::DeviceView> Device(const std::string& id) const override {
    auto it = devices_.find(id);
    if (it == devices_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> FindDevices(const std::string& compound, const std::vector<std::string>& kinds,
                                       const std::string& building, const std::string& unit, const std::string& room,
                                       const std::string& area) const override {
    std::vector<std::string> out;
    auto it = by_compound_.find(compound);
    if (it == by_compound_.end()) return out;
    for (const auto& id : it->second) {
      const auto& d = devices_.at(id);
      if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), d.kind) == kinds.end()) continue;
      if (!building.empty() && d.building_id != building) continue;
      if (!unit.empty() && d.unit_id != unit) continue;
      if (!room.empty() && d.room_id != room) continue;
      if (!area.empty() && d.area != area) continue;
      out.push_back(id);
    }
    return out;
  }
  Json Describe(const std::string&, const std::string& id) const override { return Json{{"id", id}, {"name", id}}; }
  std::vector<rules::PersonView> PersonsWithTags(const std::string&, const std::vector<std::string>&) const override {
    return {};
  }
  std::vector<std::string> PersonsInRoom(const std::string&) const override { return {}; }
  std::vector<std::string> CompoundIds() const override { return compounds_; }

 private:
  std::vector<std::string> compounds_;
  std::map<std::string, std::vector<std::string>> by_compound_;
  std::map<std::string, rules::DeviceView> devices_;
};

double RssMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

std::string RuleSet() {
  std::string y = "rules:\n";
  for (int c = 0; c < 100; ++c) {
    const std::string cid = "c" + std::to_string(c);
    auto id = [&](int k) { return "r" + std::to_string(c) + "-" + std::to_string(k); };
    y += "  - {id: " + id(0) + ", trigger: {event: gas.leak}, scope: {compounds: [" + cid +
         "], device_kinds: [gas_sensor]}, where: \"event.data.ch4_ppm >= 500\", actions: [{alarm: {type: gas_leak, "
         "level: critical, title: 'leak {device.name}', escalation: [{after: 2m, contacts: [fire_brigade]}]}}, "
         "{parallel: [{command: {target: {kinds: [door_controller], same: building}, name: unlock}}, {command: "
         "{target: {kinds: [sound_light_alarm], area: 物业中心}, name: alarm_on}}]}]}\n";
    y += "  - {id: " + id(1) + ", trigger: {event: smoke.alarm}, scope: {compounds: [" + cid +
         "]}, actions: [{alarm: {type: fire, level: critical}}]}\n";
    y += "  - {id: " + id(2) + ", trigger: {event: sos.pressed}, scope: {compounds: [" + cid +
         "]}, cooldown: 30s, actions: [{alarm: {type: sos}}]}\n";
    y += "  - {id: " + id(3) + ", trigger: {event: door.forced}, scope: {compounds: [" + cid +
         "]}, time_of_day: ['22:00-06:00'], actions: [{alarm: {type: door_forced}}]}\n";
    y += "  - {id: " + id(4) + ", trigger: {event: vision.garbage_overflow}, scope: {compounds: [" + cid +
         "]}, key: '{event.data.camera_id}', window: {count: 3, within: 1h}, actions: [{work_order: {kind: inspection}}]}\n";
    y += "  - {id: " + id(5) + ", trigger: {event: vision.*}, scope: {compounds: [" + cid +
         "]}, where: \"event.data.score > 0.99\", actions: [{notify: {}}]}\n";
    y += "  - {id: " + id(6) + ", trigger: {telemetry: {metric: ch4_ppm, when: 'value > 500', for: 10s}}, "
         "scope: {compounds: [" + cid + "]}, actions: [{alarm: {type: gas_leak}}]}\n";
    y += "  - {id: " + id(7) + ", trigger: {presence: {status: offline, for: 10m}}, scope: {compounds: [" + cid +
         "]}, actions: [{work_order: {kind: maintenance, close_on_clear: true}}]}\n";
    y += "  - {id: " + id(8) + ", trigger: {event: water.leak}, scope: {compounds: [" + cid +
         "]}, actions: [{work_order: {kind: repair}}]}\n";
    y += "  - {id: " + id(9) + ", trigger: {event: gas.leak}, scope: {compounds: [" + cid +
         "], buildings: [" + cid + "-b9]}, actions: [{notify: {}}]}\n";
  }
  return y;
}

template <typename F>
double MedianNs(F f, int reps, int per_rep) {
  std::vector<double> v;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < per_rep; ++i) f(i);
    auto t1 = std::chrono::steady_clock::now();
    v.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / per_rep);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  BenchRegistry registry;
  malloc_trim(0);
  const double rss0 = RssMb();
  std::string text = RuleSet();
  rules::ParsedFile parsed = rules::ParseRuleText(text, "bench.yaml");
  if (!parsed.errors.empty()) {
    std::fprintf(stderr, "rule error: %s\n", parsed.errors.front().ToString().c_str());
    return 1;
  }
  std::vector<rules::RulePtr> rules;
  for (auto& r : parsed.rules) rules.push_back(std::make_shared<const rules::Rule>(std::move(r)));
  rules::Engine engine(&registry);
  (void)engine.SetRules(rules);
  text.clear();
  text.shrink_to_fit();
  parsed = {};
  malloc_trim(0);
  const double rss1 = RssMb();
  const int64_t now = 1796171400000;

  model::Event no_fire{"x", "c42", "c42-d0", "gas.leak", now, now, Json{{"ch4_ppm", 120}}};
  model::Event miss{"x", "c42", "c42-d0", "meter.reading", now, now, Json{{"kwh", 12}}};
  model::Event fire{"x", "c42", "c42-d0", "gas.leak", now, now, Json{{"ch4_ppm", 820}}};
  size_t sink = 0;
  const double match_ns = MedianNs([&](int) { sink += engine.OnEvent(no_fire, now).intents.size(); }, 15, 20000);
  const double miss_ns = MedianNs([&](int) { sink += engine.OnEvent(miss, now).intents.size(); }, 15, 20000);
  const double fire_ns = MedianNs(
      [&](int i) {
        fire.compound_id = "c" + std::to_string(i % 100);
        fire.device_id = fire.compound_id + "-d0";
        sink += engine.OnEvent(fire, now).intents.size();
      },
      15, 5000);
  std::printf("## Linkage engine in process (linli-bench-rules)\n\n");
  std::printf("1,000 rules over 100 compounds (10 each), registry of 6,000 devices; medians of 15 runs.\n\n");
  std::printf("| measurement | median | limit | ratio |\n| --- | --- | --- | --- |\n");
  std::printf("| match an event against the rules (condition fails, nothing fires) | %.2f µs | 10 µs | %.2f |\n",
              match_ns / 1000, match_ns / 10000);
  std::printf("| event of a type no rule watches | %.2f µs | 10 µs | %.2f |\n", miss_ns / 1000, miss_ns / 10000);
  std::printf("| event that fires (alarm + 2 commands resolved through the registry) | %.2f µs | — | — |\n",
              fire_ns / 1000);
  std::printf("| memory for the 1,000 rules (RSS growth) | %.1f MB | 50 MB | %.2f |\n", rss1 - rss0,
              (rss1 - rss0) / 50);
  std::printf("\ncandidates considered for gas.leak in c42: %zu (of %zu rules); intents produced: %zu\n",
              engine.CandidateCount("c42", "gas.leak"), engine.Stats().rules, sink);
  return 0;
}
