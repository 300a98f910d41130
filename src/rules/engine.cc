#include "rules/engine.h"

#include <algorithm>
#include <cstdio>
#include <deque>

#include "common/ids.h"

namespace linli::rules {

void Output::Append(Output&& other) {
  for (auto& i : other.intents) intents.push_back(std::move(i));
  for (auto& s : other.state) state.push_back(std::move(s));
}

namespace {

// The persisted state of one (rule, compound, key).
struct KeyState {
  int64_t cooldown_until = 0;
  std::deque<std::pair<int64_t, std::string>> window;  // (ts, cause id), oldest first
  int64_t since_ms = 0;  // telemetry/presence: condition holding since; absence: last seen
  bool fired = false;    // the current episode has fired
  int64_t last_minute = -1;  // schedule: the local minute it last fired
  std::string device_id;
  Json last_value;  // telemetry: the last value that held

  bool Empty() const {
    return cooldown_until == 0 && window.empty() && since_ms == 0 && !fired && last_minute < 0;
  }
  Json ToJson() const {
    Json j = Json::object();
    if (cooldown_until) j["c"] = cooldown_until;
    if (!window.empty()) {
      Json w = Json::array();
      for (const auto& [ts, id] : window) w.push_back(Json::array({ts, id}));
      j["w"] = std::move(w);
    }
    if (since_ms) j["s"] = since_ms;
    if (fired) j["f"] = true;
    if (last_minute >= 0) j["m"] = last_minute;
    if (!device_id.empty()) j["d"] = device_id;
    if (!last_value.is_null()) j["v"] = last_value;
    return j;
  }
  static KeyState FromJson(const Json& j) {
    KeyState s;
    if (!j.is_object()) return s;
    s.cooldown_until = j.value("c", int64_t{0});
    if (auto w = j.find("w"); w != j.end() && w->is_array()) {
      for (const auto& e : *w) {
        if (e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_string())
          s.window.emplace_back(e[0].get<int64_t>(), e[1].get<std::string>());
      }
    }
    s.since_ms = j.value("s", int64_t{0});
    s.fired = j.value("f", false);
    s.last_minute = j.value("m", int64_t{-1});
    s.device_id = j.value("d", std::string());
    if (auto v = j.find("v"); v != j.end()) s.last_value = *v;
    return s;
  }
};

struct Run {
  std::string id;
  RulePtr rule;
  std::string compound_id;
  std::string key;
  Json context;
  std::string cause_kind, cause_id;
  int next_step = 0;
  std::set<std::string> pending;
  bool failed = false;

  Json ToJson() const {
    Json p = Json::array();
    for (const auto& c : pending) p.push_back(c);
    return Json{{"compound", compound_id}, {"key", key},       {"context", context}, {"cause_kind", cause_kind},
                {"cause_id", cause_id},    {"next", next_step}, {"pending", p},      {"failed", failed}};
  }
};

struct Index {
  std::unordered_map<std::string, std::vector<RulePtr>> event_exact;
  std::vector<std::pair<std::string, RulePtr>> event_prefix;  // ("vision.", rule)
  std::vector<RulePtr> event_any;
  std::unordered_map<std::string, std::vector<RulePtr>> clear_exact;
  std::unordered_map<std::string, std::vector<RulePtr>> telemetry;
  std::vector<RulePtr> presence, alarm;
};

constexpr char kSep = '\x1f';

bool TypeMatches(const std::string& pattern, const std::string& type) {
  if (pattern == "*") return true;
  if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, ".*") == 0)
    return type.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return pattern == type;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Json DeviceJson(const DeviceView& d) {
  return Json{{"id", d.id},           {"kind", d.kind},       {"name", d.name},       {"area", d.area},
              {"building_id", d.building_id}, {"unit_id", d.unit_id}, {"room_id", d.room_id}};
}

}  // namespace

struct Engine::Impl {
  const RegistryView* registry;
  EngineOptions opt;
  std::map<std::string, RulePtr> rules;
  std::unordered_map<std::string, Index> by_compound;
  Index global;
  std::vector<RulePtr> schedules, absences;
  std::set<std::string> metrics;  // metrics any telemetry rule watches
  // compound → (rule_id SEP key) → state
  std::unordered_map<std::string, std::unordered_map<std::string, KeyState>> state;
  // (compound SEP rule_id SEP key) of states with a running timer (held-for conditions).
  std::set<std::string> armed;
  std::unordered_map<std::string, Run> runs;
  std::unordered_map<std::string, std::string> command_to_run;
  int64_t last_absence_check = 0;
  int64_t last_schedule_minute = -1;

  Impl(const RegistryView* r, EngineOptions o) : registry(r), opt(o) {}

  // ---- index ----
  void Rebuild() {
    by_compound.clear();
    global = Index();
    schedules.clear();
    absences.clear();
    metrics.clear();
    for (const auto& [id, r] : rules) {
      if (!r->enabled) continue;
      std::vector<Index*> targets;
      if (r->scope.compounds.empty()) {
        targets.push_back(&global);
      } else {
        for (const auto& c : r->scope.compounds) targets.push_back(&by_compound[c]);
      }
      for (Index* ix : targets) {
        switch (r->trigger.kind) {
          case TriggerKind::kEvent: {
            const std::string& t = r->trigger.event_type;
            if (t == "*") ix->event_any.push_back(r);
            else if (t.size() >= 2 && t.compare(t.size() - 2, 2, ".*") == 0)
              ix->event_prefix.emplace_back(t.substr(0, t.size() - 1), r);
            else ix->event_exact[t].push_back(r);
            if (!r->clear_event.empty()) ix->clear_exact[r->clear_event].push_back(r);
            break;
          }
          case TriggerKind::kTelemetry:
            ix->telemetry[r->trigger.metric].push_back(r);
            metrics.insert(r->trigger.metric);
            break;
          case TriggerKind::kPresence:
            ix->presence.push_back(r);
            break;
          case TriggerKind::kAlarm:
            ix->alarm.push_back(r);
            break;
          case TriggerKind::kSchedule:
          case TriggerKind::kAbsence:
            break;
        }
      }
      if (r->trigger.kind == TriggerKind::kSchedule) schedules.push_back(r);
      if (r->trigger.kind == TriggerKind::kAbsence) absences.push_back(r);
    }
  }

  template <typename F>
  void ForEachIndex(const std::string& compound, F f) const {
    f(global);
    auto it = by_compound.find(compound);
    if (it != by_compound.end()) f(it->second);
  }

  // ---- state ----
  KeyState& State(const std::string& compound, const RulePtr& r, const std::string& key) {
    return state[compound][r->id + kSep + key];
  }
  KeyState* FindState(const std::string& compound, const std::string& rule_id, const std::string& key) {
    auto c = state.find(compound);
    if (c == state.end()) return nullptr;
    auto it = c->second.find(rule_id + kSep + key);
    return it == c->second.end() ? nullptr : &it->second;
  }
  void Persist(Output& out, const std::string& compound, const RulePtr& r, const std::string& key) {
    KeyState* s = FindState(compound, r->id, key);
    const std::string pkey = compound + "/" + key;
    if (s == nullptr || s->Empty()) {
      if (s != nullptr) state[compound].erase(r->id + kSep + key);
      armed.erase(compound + kSep + r->id + kSep + key);
      out.state.push_back({r->id, pkey, Json()});
    } else {
      out.state.push_back({r->id, pkey, s->ToJson()});
    }
  }
  void PersistRun(Output& out, const Run& run) {
    if (run.pending.empty()) {
      out.state.push_back({run.rule->id, "run:" + run.id, Json()});
    } else {
      out.state.push_back({run.rule->id, "run:" + run.id, run.ToJson()});
    }
  }

  // ---- context ----
  Json BaseContext(const RulePtr& r, const std::string& compound, int64_t now) const {
    return Json{{"rule", {{"id", r->id}, {"name", r->name}}}, {"compound_id", compound}, {"now_ms", now}};
  }
  void AddPlaces(Json& ctx, const std::string& compound) const {
    ctx["compound"] = registry->Describe("compounds", compound);
    if (auto d = ctx.find("device"); d != ctx.end() && d->is_object()) {
      auto place = [&](const char* field, const char* collection, const char* name) {
        std::string id = d->value(field, std::string());
        if (!id.empty()) ctx[name] = registry->Describe(collection, id);
      };
      place("building_id", "buildings", "building");
      place("unit_id", "units", "unit");
      place("room_id", "rooms", "room");
    }
  }
  static bool ReadsOnlyEvent(const RulePtr& r) {
    for (const auto& root : r->where.roots()) {
      if (root != "event" && root != "device" && root != "compound_id" && root != "now_ms") return false;
    }
    return true;
  }
  static bool NeedsPlaces(const RulePtr& r) {
    for (const auto& root : r->where.roots()) {
      if (root == "compound" || root == "building" || root == "unit" || root == "room") return true;
    }
    return false;
  }

  bool InDeviceScope(const RulePtr& r, const DeviceView* d) const {
    const Scope& s = r->scope;
    if (s.device_kinds.empty() && s.buildings.empty() && s.devices.empty() && s.areas.empty()) return true;
    if (d == nullptr) return false;
    if (!s.device_kinds.empty() && !Contains(s.device_kinds, d->kind)) return false;
    if (!s.buildings.empty() && !Contains(s.buildings, d->building_id)) return false;
    if (!s.devices.empty() && !Contains(s.devices, d->id)) return false;
    if (!s.areas.empty() && !Contains(s.areas, d->area)) return false;
    return true;
  }
  bool InTimeWindow(const RulePtr& r, int64_t now) const {
    if (r->time_of_day.empty() && r->weekdays.empty()) return true;
    LocalTime t = ToLocal(now, opt.utc_offset_minutes);
    if (!r->weekdays.empty() && std::find(r->weekdays.begin(), r->weekdays.end(), t.weekday) == r->weekdays.end())
      return false;
    if (r->time_of_day.empty()) return true;
    return std::any_of(r->time_of_day.begin(), r->time_of_day.end(), [&](const auto& w) { return w.Contains(t); });
  }
  std::string KeyOf(const RulePtr& r, const Json& ctx, const std::string& def) const {
    if (r->key.Empty()) return def;
    std::string k = r->key.Render(ctx);
    if (k.size() > 200) k.resize(200);
    return k.empty() ? def : k;
  }

  // Window and cool-down for a firing candidate. True if the rule fires now.
  bool Admit(Output& out, const RulePtr& r, const std::string& compound, const std::string& key,
             const std::string& cause_id, int64_t now, Json* ctx) {
    KeyState& s = State(compound, r, key);
    bool fire = true;
    bool changed = false;
    if (r->window.count > 0) {
      while (!s.window.empty() && s.window.front().first <= now - r->window.within_ms) {
        s.window.pop_front();
        changed = true;
      }
      bool dup = std::any_of(s.window.begin(), s.window.end(), [&](const auto& e) { return e.second == cause_id; });
      if (!dup) {
        s.window.emplace_back(now, cause_id);
        if (s.window.size() > opt.max_window_entries) s.window.pop_front();
        changed = true;
      }
      (*ctx)["count"] = static_cast<int64_t>(s.window.size());
      if (static_cast<int>(s.window.size()) < r->window.count) fire = false;
    }
    if (fire && r->cooldown_ms > 0 && now < s.cooldown_until) fire = false;
    if (fire) {
      if (r->window.count > 0) {
        Json causes = Json::array();
        for (const auto& e : s.window) causes.push_back(e.second);
        (*ctx)["window_causes"] = std::move(causes);
        s.window.clear();
      }
      if (r->cooldown_ms > 0) s.cooldown_until = now + r->cooldown_ms;
      changed = true;
    }
    if (changed) Persist(out, compound, r, key);
    else if (s.Empty()) state[compound].erase(r->id + kSep + key);
    return fire;
  }

  // ---- runs ----
  void Fire(Output& out, const RulePtr& r, const std::string& compound, const std::string& key, Json ctx,
            const std::string& cause_kind, const std::string& cause_id, int64_t now) {
    ctx["key"] = key;
    if (!ctx.contains("compound")) AddPlaces(ctx, compound);
    Run run;
    run.id = NewUuid();
    run.rule = r;
    run.compound_id = compound;
    run.key = key;
    run.context = std::move(ctx);
    run.cause_kind = cause_kind;
    run.cause_id = cause_id;
    Advance(out, run, now);
    if (!run.pending.empty()) {
      for (const auto& c : run.pending) command_to_run[c] = run.id;
      PersistRun(out, run);
      runs.emplace(run.id, std::move(run));
    }
  }

  std::vector<std::string> ResolveTargets(const DeviceSelector& sel, const Run& run) const {
    std::vector<std::string> out;
    for (const auto& id : sel.ids) {
      auto d = registry->Device(id);
      if (d && d->compound_id == run.compound_id) out.push_back(id);
    }
    const Json* dev = run.context.contains("device") ? &run.context["device"] : nullptr;
    auto field = [&](const char* f) { return dev != nullptr ? dev->value(f, std::string()) : std::string(); };
    if (sel.trigger_device && dev != nullptr) out.push_back(field("id"));
    if (!sel.kinds.empty() || !sel.area.empty()) {
      std::string building, unit, room;
      if (sel.same == "building") building = field("building_id");
      if (sel.same == "unit") unit = field("unit_id");
      if (sel.same == "room") room = field("room_id");
      // A relative selector whose anchor is unknown (a sensor not placed in a building)
      // matches nothing rather than the whole compound.
      const bool anchored = (sel.same != "building" || !building.empty()) && (sel.same != "unit" || !unit.empty()) &&
                            (sel.same != "room" || !room.empty());
      if (anchored) {
        auto found = registry->FindDevices(run.compound_id, sel.kinds, building, unit, room, sel.area);
        out.insert(out.end(), found.begin(), found.end());
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void Advance(Output& out, Run& run, int64_t now) {
    const auto& steps = run.rule->steps;
    std::shared_ptr<const Json> shared_ctx;
    while (run.next_step < static_cast<int>(steps.size()) && run.pending.empty() && !run.failed) {
      const Step& s = steps[static_cast<size_t>(run.next_step)];
      if (!shared_ctx) shared_ctx = std::make_shared<const Json>(run.context);
      for (size_t i = 0; i < s.actions.size(); ++i) {
        const Action& a = s.actions[i];
        Intent in;
        in.rule = run.rule;
        in.action = &a;
        in.compound_id = run.compound_id;
        in.key = run.key;
        in.run_id = run.id;
        in.step = run.next_step;
        in.index = static_cast<int>(i);
        in.context = shared_ctx;
        in.cause_kind = run.cause_kind;
        in.cause_id = run.cause_id;
        in.ts_ms = now;
        if (a.kind == ActionKind::kCommand) {
          in.device_ids = ResolveTargets(a.command.target, run);
          for (size_t k = 0; k < in.device_ids.size(); ++k) {
            std::string cid = run.id + "-" + std::to_string(run.next_step) + "-" + std::to_string(i) + "-" +
                              std::to_string(k);
            in.command_ids.push_back(cid);
            if (a.command.wait) run.pending.insert(cid);
          }
        } else if (a.kind == ActionKind::kResolve) {
          in.clear = true;
          in.clear_rule_id = a.resolve.rule.empty() ? run.rule->id : a.resolve.rule;
          in.clear_comment = a.resolve.comment;
        }
        out.intents.push_back(std::move(in));
      }
      ++run.next_step;
    }
  }

  // A clear: the condition behind a rule's firing is over for `key`.
  void Clear(Output& out, const RulePtr& r, const std::string& compound, const std::string& key, Json ctx,
             const std::string& cause_kind, const std::string& cause_id, int64_t now, const std::string& comment) {
    Intent in;
    in.rule = r;
    in.compound_id = compound;
    in.key = key;
    in.clear = true;
    in.clear_rule_id = r->id;
    in.clear_comment = comment;
    in.cause_kind = cause_kind;
    in.cause_id = cause_id;
    ctx["key"] = key;
    in.context = std::make_shared<const Json>(std::move(ctx));
    in.ts_ms = now;
    out.intents.push_back(std::move(in));
  }

  // ---- inputs ----
  Output OnEvent(const model::Event& e, int64_t now) {
    Output out;
    std::optional<DeviceView> dev;
    bool dev_loaded = false;
    auto device = [&]() -> const DeviceView* {
      if (!dev_loaded) {
        dev = registry->Device(e.device_id);
        dev_loaded = true;
      }
      return dev ? &*dev : nullptr;
    };
    // The event's part of the context is built once per event, and only when a rule gets past
    // its cheap filters (index, scope, time); a rule's own part is added when it fires.
    std::optional<Json> shared;
    auto event_context = [&]() -> const Json& {
      if (!shared) {
        shared = Json{{"compound_id", e.compound_id},
                      {"now_ms", now},
                      {"event", {{"id", e.id}, {"type", e.type}, {"ts_ms", e.ts_ms}, {"device_id", e.device_id}, {"data", e.data}}}};
        if (const DeviceView* d = device()) (*shared)["device"] = DeviceJson(*d);
        else (*shared)["device"] = Json{{"id", e.device_id}};
      }
      return *shared;
    };
    // Conditions that read only the event and its device are evaluated without a JSON context.
    const std::function<Json(std::string_view)> lookup = [&](std::string_view path) -> Json {
      auto rest = [&](std::string_view prefix) { return path.substr(prefix.size()); };
      if (path.rfind("event.data.", 0) == 0) {
        const Json* v = LookupPath(e.data, rest("event.data."));
        return v != nullptr ? *v : Json(nullptr);
      }
      if (path == "event.data") return e.data;
      if (path == "event.type") return e.type;
      if (path == "event.id") return e.id;
      if (path == "event.device_id") return e.device_id;
      if (path == "event.ts_ms") return e.ts_ms;
      if (path == "compound_id") return e.compound_id;
      if (path == "now_ms") return now;
      if (path.rfind("device.", 0) == 0) {
        const DeviceView* d = device();
        std::string_view f = rest("device.");
        if (f == "id") return e.device_id;
        if (d == nullptr) return nullptr;
        if (f == "kind") return d->kind;
        if (f == "name") return d->name;
        if (f == "area") return d->area;
        if (f == "building_id") return d->building_id;
        if (f == "unit_id") return d->unit_id;
        if (f == "room_id") return d->room_id;
      }
      return nullptr;
    };
    auto context = [&](const RulePtr& r) {
      Json ctx = event_context();
      ctx["rule"] = Json{{"id", r->id}, {"name", r->name}};
      if (NeedsPlaces(r)) AddPlaces(ctx, e.compound_id);
      return ctx;
    };
    auto consider = [&](const RulePtr& r) {
      if (!InDeviceScope(r, device())) return;
      if (!InTimeWindow(r, now)) return;
      if (!r->where.Empty()) {
        if (ReadsOnlyEvent(r)) {
          if (!r->where.Test(lookup)) return;
        } else if (!NeedsPlaces(r) && !r->where.Test(event_context())) {
          return;
        }
      }
      Json ctx = context(r);
      if (NeedsPlaces(r) && !r->where.Test(ctx)) return;
      std::string key = KeyOf(r, ctx, e.device_id);
      if (!Admit(out, r, e.compound_id, key, e.id, now, &ctx)) return;
      Fire(out, r, e.compound_id, key, std::move(ctx), "event", e.id, now);
    };
    ForEachIndex(e.compound_id, [&](const Index& ix) {
      if (auto it = ix.event_exact.find(e.type); it != ix.event_exact.end()) {
        for (const auto& r : it->second) consider(r);
      }
      for (const auto& [prefix, r] : ix.event_prefix) {
        if (e.type.compare(0, prefix.size(), prefix) == 0) consider(r);
      }
      for (const auto& r : ix.event_any) consider(r);
      if (auto it = ix.clear_exact.find(e.type); it != ix.clear_exact.end()) {
        for (const auto& r : it->second) {
          if (!InDeviceScope(r, device())) continue;
          Json ctx = context(r);
          Clear(out, r, e.compound_id, KeyOf(r, ctx, e.device_id), std::move(ctx), "event", e.id, now,
                "clear event " + e.type);
        }
      }
    });
    // Absence rules: a matching event is a sign of life of its person.
    for (const auto& r : absences) {
      if (!r->scope.compounds.empty() && !Contains(r->scope.compounds, e.compound_id)) continue;
      if (!TypeMatches(r->trigger.event_type, e.type)) continue;
      Json ev = Json{{"data", e.data}, {"device_id", e.device_id}};
      std::string field = r->trigger.person_field;
      if (field.rfind("event.", 0) == 0) field = field.substr(6);
      const Json* pid = LookupPath(ev, field);
      if (pid == nullptr || !pid->is_string() || pid->get<std::string>().empty()) continue;
      const std::string person = pid->get<std::string>();
      KeyState* s = FindState(e.compound_id, r->id, person);
      if (s == nullptr) continue;  // not a watched person (watched persons have state)
      const bool was_fired = s->fired;
      s->since_ms = std::max(s->since_ms, std::min(e.ts_ms, now));
      s->fired = false;
      Persist(out, e.compound_id, r, person);
      if (was_fired) {
        Json ctx = BaseContext(r, e.compound_id, now);
        ctx["person"] = Json{{"id", person}};
        Clear(out, r, e.compound_id, person, std::move(ctx), "event", e.id, now, "seen again: " + e.type);
      }
    }
    return out;
  }

  Output OnTelemetry(const model::TelemetryPoint& p, const std::string& compound, int64_t now) {
    Output out;
    std::optional<DeviceView> dev;
    bool loaded = false;
    ForEachIndex(compound, [&](const Index& ix) {
      auto it = ix.telemetry.find(p.metric);
      if (it == ix.telemetry.end()) return;
      for (const auto& r : it->second) {
        if (!loaded) {
          dev = registry->Device(p.device_id);
          loaded = true;
        }
        if (!InDeviceScope(r, dev ? &*dev : nullptr)) continue;
        Json value;
        std::visit([&](const auto& v) { value = v; }, p.value);
        Json ctx = BaseContext(r, compound, now);
        ctx["metric"] = p.metric;
        ctx["value"] = value;
        ctx["ts_ms"] = p.ts_ms;
        ctx["device"] = dev ? DeviceJson(*dev) : Json{{"id", p.device_id}};
        if (NeedsPlaces(r)) AddPlaces(ctx, compound);
        const std::string key = KeyOf(r, ctx, p.device_id);
        const bool holds = r->trigger.condition.Test(ctx) && r->where.Test(ctx);
        KeyState* existing = FindState(compound, r->id, key);
        if (!holds) {
          if (existing == nullptr || existing->since_ms == 0) continue;
          const bool was_fired = existing->fired;
          existing->since_ms = 0;
          existing->fired = false;
          existing->last_value = nullptr;
          Persist(out, compound, r, key);
          if (was_fired) Clear(out, r, compound, key, std::move(ctx), "telemetry", p.device_id, now, "back to normal");
          continue;
        }
        KeyState& s = State(compound, r, key);
        bool changed = false;
        if (s.since_ms == 0) {
          s.since_ms = std::min(p.ts_ms, now);
          s.device_id = p.device_id;
          changed = true;
        }
        s.last_value = value;
        if (!s.fired && now - s.since_ms >= r->trigger.for_ms && InTimeWindow(r, now)) {
          ctx["since_ms"] = s.since_ms;
          if (Admit(out, r, compound, key, p.device_id + "@" + std::to_string(p.ts_ms), now, &ctx)) {
            KeyState& s2 = State(compound, r, key);
            s2.fired = true;
            Persist(out, compound, r, key);
            armed.erase(compound + kSep + r->id + kSep + key);
            Fire(out, r, compound, key, std::move(ctx), "telemetry", p.device_id, now);
            continue;
          }
        }
        if (!State(compound, r, key).fired) armed.insert(compound + kSep + r->id + kSep + key);
        if (changed) Persist(out, compound, r, key);
      }
    });
    return out;
  }

  Output OnStatus(const model::StatusChange& c, int64_t now) {
    Output out;
    std::optional<DeviceView> dev;
    bool loaded = false;
    const std::string status(model::PresenceName(c.status));
    ForEachIndex(c.compound_id, [&](const Index& ix) {
      for (const auto& r : ix.presence) {
        if (!loaded) {
          dev = registry->Device(c.device_id);
          loaded = true;
        }
        if (!InDeviceScope(r, dev ? &*dev : nullptr)) continue;
        Json ctx = BaseContext(r, c.compound_id, now);
        ctx["status"] = status;
        ctx["reason"] = c.reason;
        ctx["device"] = dev ? DeviceJson(*dev) : Json{{"id", c.device_id}};
        if (NeedsPlaces(r)) AddPlaces(ctx, c.compound_id);
        if (!r->where.Test(ctx)) continue;
        const std::string key = KeyOf(r, ctx, c.device_id);
        if (status == r->trigger.status) {
          KeyState& s = State(c.compound_id, r, key);
          if (s.since_ms != 0 && !s.fired) continue;  // already counting
          if (s.fired) continue;                      // still in the fired episode
          s.since_ms = c.ts_ms;
          s.device_id = c.device_id;
          if (r->trigger.for_ms == 0 || now - s.since_ms >= r->trigger.for_ms) {
            ctx["since_ms"] = s.since_ms;
            if (Admit(out, r, c.compound_id, key, c.device_id + "@" + std::to_string(c.ts_ms), now, &ctx)) {
              State(c.compound_id, r, key).fired = true;
              Persist(out, c.compound_id, r, key);
              Fire(out, r, c.compound_id, key, std::move(ctx), "presence", c.device_id, now);
              continue;
            }
          }
          armed.insert(c.compound_id + kSep + r->id + kSep + key);
          Persist(out, c.compound_id, r, key);
        } else if (model::Presence p = c.status; p != model::Presence::kUnknown) {
          KeyState* s = FindState(c.compound_id, r->id, key);
          if (s == nullptr || s->since_ms == 0) continue;
          const bool was_fired = s->fired;
          s->since_ms = 0;
          s->fired = false;
          Persist(out, c.compound_id, r, key);
          if (was_fired) Clear(out, r, c.compound_id, key, std::move(ctx), "presence", c.device_id, now, "device " + status);
        }
      }
    });
    return out;
  }

  Output OnAlarm(const AlarmChange& ch, int64_t now) {
    Output out;
    const std::string compound = ch.alarm.value("compound_id", std::string());
    const std::string type = ch.alarm.value("type", std::string());
    const std::string alarm_rule = ch.alarm.value("rule_id", std::string());
    ForEachIndex(compound, [&](const Index& ix) {
      for (const auto& r : ix.alarm) {
        if (r->id == alarm_rule && ch.change == "raised") continue;  // a rule does not trigger itself
        if (!Contains(r->trigger.alarm_states, ch.change)) continue;
        if (!r->trigger.alarm_types.empty() && !Contains(r->trigger.alarm_types, type)) continue;
        std::optional<DeviceView> dev;
        std::string device_id = ch.alarm.value("device_id", std::string());
        if (!device_id.empty()) dev = registry->Device(device_id);
        if (!InDeviceScope(r, dev ? &*dev : nullptr)) continue;
        if (!InTimeWindow(r, now)) continue;
        Json ctx = BaseContext(r, compound, now);
        ctx["alarm"] = ch.alarm;
        ctx["change"] = ch.change;
        if (dev) ctx["device"] = DeviceJson(*dev);
        if (NeedsPlaces(r)) AddPlaces(ctx, compound);
        if (!r->where.Test(ctx)) continue;
        const std::string alarm_id = ch.alarm.value("id", std::string());
        const std::string key = KeyOf(r, ctx, alarm_id);
        if (!Admit(out, r, compound, key, alarm_id + ":" + ch.change, now, &ctx)) continue;
        Fire(out, r, compound, key, std::move(ctx), "alarm", alarm_id, now);
      }
    });
    return out;
  }

  Output OnCommandDone(const CommandOutcome& o, int64_t now) {
    Output out;
    auto it = command_to_run.find(o.command_id);
    if (it == command_to_run.end()) return out;
    auto run_it = runs.find(it->second);
    command_to_run.erase(it);
    if (run_it == runs.end()) return out;
    Run& run = run_it->second;
    run.pending.erase(o.command_id);
    // Which action sent it decides whether a failure stops the run.
    if (!o.ok) {
      int step = -1, action = -1;
      if (sscanf(o.command_id.c_str() + std::min(o.command_id.size(), run.id.size()), "-%d-%d", &step, &action) == 2 &&
          step >= 0 && step < static_cast<int>(run.rule->steps.size())) {
        const auto& acts = run.rule->steps[static_cast<size_t>(step)].actions;
        if (action >= 0 && action < static_cast<int>(acts.size()) && acts[static_cast<size_t>(action)].command.stop_on_failure)
          run.failed = true;
      }
    }
    if (run.pending.empty()) {
      if (!run.failed) Advance(out, run, now);
      if (!run.pending.empty()) {
        for (const auto& c : run.pending) command_to_run[c] = run.id;
      }
    }
    PersistRun(out, run);
    if (run.pending.empty()) runs.erase(run_it);
    return out;
  }

  Output Tick(int64_t now) {
    Output out;
    // Held-for conditions (telemetry, presence).
    std::vector<std::string> due;
    for (const auto& a : armed) due.push_back(a);
    for (const auto& a : due) {
      size_t p1 = a.find(kSep), p2 = a.find(kSep, p1 + 1);
      const std::string compound = a.substr(0, p1), rule_id = a.substr(p1 + 1, p2 - p1 - 1), key = a.substr(p2 + 1);
      auto rit = rules.find(rule_id);
      KeyState* s = FindState(compound, rule_id, key);
      if (rit == rules.end() || s == nullptr || s->since_ms == 0 || s->fired || !rit->second->enabled) {
        armed.erase(a);
        continue;
      }
      const RulePtr& r = rit->second;
      if (now - s->since_ms < r->trigger.for_ms) continue;
      if (!InTimeWindow(r, now)) continue;
      Json ctx = BaseContext(r, compound, now);
      std::optional<DeviceView> dev = registry->Device(s->device_id);
      ctx["device"] = dev ? DeviceJson(*dev) : Json{{"id", s->device_id}};
      ctx["since_ms"] = s->since_ms;
      if (r->trigger.kind == TriggerKind::kTelemetry) {
        ctx["metric"] = r->trigger.metric;
        ctx["value"] = s->last_value;
      } else {
        ctx["status"] = r->trigger.status;
      }
      const std::string cause = s->device_id + "@" + std::to_string(s->since_ms);
      const std::string cause_kind = r->trigger.kind == TriggerKind::kTelemetry ? "telemetry" : "presence";
      const std::string device_id = s->device_id;
      armed.erase(a);
      if (!Admit(out, r, compound, key, cause, now, &ctx)) continue;
      KeyState& st = State(compound, r, key);
      st.fired = true;
      Persist(out, compound, r, key);
      Fire(out, r, compound, key, std::move(ctx), cause_kind, device_id, now);
    }
    // Schedules, once per local minute.
    const int64_t minute = now / 60'000;
    if (minute != last_schedule_minute) {
      last_schedule_minute = minute;
      LocalTime t = ToLocal(now, opt.utc_offset_minutes);
      for (const auto& r : schedules) {
        if (!r->trigger.cron || !r->trigger.cron->Matches(t)) continue;
        std::vector<std::string> compounds = r->scope.compounds.empty() ? registry->CompoundIds() : r->scope.compounds;
        for (const auto& c : compounds) {
          KeyState& s = State(c, r, c);
          if (s.last_minute == minute) continue;  // already fired this minute (restart)
          Json ctx = BaseContext(r, c, now);
          if (!r->where.Test(ctx)) continue;
          s.last_minute = minute;
          Persist(out, c, r, c);
          Fire(out, r, c, KeyOf(r, ctx, c), std::move(ctx), "schedule", r->id, now);
        }
      }
    }
    // Absences.
    if (now - last_absence_check >= opt.absence_check_interval_ms) {
      last_absence_check = now;
      for (const auto& r : absences) {
        std::vector<std::string> compounds = r->scope.compounds.empty() ? registry->CompoundIds() : r->scope.compounds;
        for (const auto& c : compounds) {
          for (const auto& person : registry->PersonsWithTags(c, r->trigger.person_tags)) {
            KeyState& s = State(c, r, person.id);
            if (s.since_ms == 0) {
              // First time this person is watched: the clock starts now, nothing fires.
              s.since_ms = now;
              Persist(out, c, r, person.id);
              continue;
            }
            if (s.fired || now - s.since_ms < r->trigger.for_ms) continue;
            if (!InTimeWindow(r, now)) continue;
            Json ctx = BaseContext(r, c, now);
            ctx["person"] = Json{{"id", person.id}, {"name", person.name}, {"room_id", person.room_id}};
            ctx["last_seen_ms"] = s.since_ms;
            ctx["absent_hours"] = (now - s.since_ms) / 3'600'000;
            if (!person.room_id.empty()) ctx["room"] = registry->Describe("rooms", person.room_id);
            if (!r->where.Test(ctx)) continue;
            s.fired = true;
            Persist(out, c, r, person.id);
            Fire(out, r, c, person.id, std::move(ctx), "absence", person.id, now);
          }
        }
      }
    }
    return out;
  }
};

Engine::Engine(const RegistryView* registry, EngineOptions options)
    : impl_(std::make_unique<Impl>(registry, options)) {}
Engine::~Engine() = default;

Output Engine::SetRules(std::vector<RulePtr> rules) {
  Output out;
  std::map<std::string, RulePtr> next;
  for (auto& r : rules) next[r->id] = std::move(r);
  // Drop the state of rules that are gone; runs of changed rules keep their old rule object.
  for (auto& [compound, entries] : impl_->state) {
    for (auto it = entries.begin(); it != entries.end();) {
      const std::string rule_id = it->first.substr(0, it->first.find(kSep));
      if (!next.count(rule_id)) {
        out.state.push_back({rule_id, compound + "/" + it->first.substr(it->first.find(kSep) + 1), Json()});
        it = entries.erase(it);
      } else {
        ++it;
      }
    }
  }
  impl_->rules = std::move(next);
  impl_->Rebuild();
  return out;
}

std::vector<RulePtr> Engine::Rules() const {
  std::vector<RulePtr> out;
  for (const auto& [id, r] : impl_->rules) out.push_back(r);
  return out;
}

RulePtr Engine::FindRule(const std::string& id) const {
  auto it = impl_->rules.find(id);
  return it == impl_->rules.end() ? nullptr : it->second;
}

void Engine::LoadState(const std::vector<StateChange>& entries) {
  for (const auto& e : entries) {
    auto rit = impl_->rules.find(e.rule_id);
    if (rit == impl_->rules.end()) continue;
    if (e.key.rfind("run:", 0) == 0) {
      Run run;
      run.id = e.key.substr(4);
      run.rule = rit->second;
      run.compound_id = e.state.value("compound", std::string());
      run.key = e.state.value("key", std::string());
      run.context = e.state.value("context", Json::object());
      run.cause_kind = e.state.value("cause_kind", std::string());
      run.cause_id = e.state.value("cause_id", std::string());
      run.next_step = e.state.value("next", 0);
      run.failed = e.state.value("failed", false);
      if (auto p = e.state.find("pending"); p != e.state.end() && p->is_array()) {
        for (const auto& c : *p) {
          if (c.is_string()) run.pending.insert(c.get<std::string>());
        }
      }
      if (run.pending.empty()) continue;
      for (const auto& c : run.pending) impl_->command_to_run[c] = run.id;
      impl_->runs.emplace(run.id, std::move(run));
      continue;
    }
    size_t slash = e.key.find('/');
    if (slash == std::string::npos) continue;
    const std::string compound = e.key.substr(0, slash), key = e.key.substr(slash + 1);
    KeyState s = KeyState::FromJson(e.state);
    const RulePtr& r = rit->second;
    const bool held = r->trigger.kind == TriggerKind::kTelemetry || r->trigger.kind == TriggerKind::kPresence;
    if (held && s.since_ms != 0 && !s.fired) impl_->armed.insert(compound + kSep + r->id + kSep + key);
    impl_->state[compound][r->id + kSep + key] = std::move(s);
  }
}

Output Engine::OnEvent(const model::Event& e, int64_t now_ms) { return impl_->OnEvent(e, now_ms); }
Output Engine::OnTelemetry(const model::TelemetryPoint& p, const std::string& compound_id, int64_t now_ms) {
  return impl_->OnTelemetry(p, compound_id, now_ms);
}
Output Engine::OnStatus(const model::StatusChange& c, int64_t now_ms) { return impl_->OnStatus(c, now_ms); }
Output Engine::OnAlarm(const AlarmChange& change, int64_t now_ms) { return impl_->OnAlarm(change, now_ms); }
Output Engine::OnCommandDone(const CommandOutcome& outcome, int64_t now_ms) {
  return impl_->OnCommandDone(outcome, now_ms);
}
Output Engine::Tick(int64_t now_ms) { return impl_->Tick(now_ms); }

bool Engine::WantsMetric(const std::string& metric) const { return impl_->metrics.count(metric) > 0; }

size_t Engine::CandidateCount(const std::string& compound_id, const std::string& event_type) const {
  size_t n = 0;
  impl_->ForEachIndex(compound_id, [&](const Index& ix) {
    if (auto it = ix.event_exact.find(event_type); it != ix.event_exact.end()) n += it->second.size();
    for (const auto& [prefix, r] : ix.event_prefix) {
      if (event_type.compare(0, prefix.size(), prefix) == 0) ++n;
    }
    n += ix.event_any.size();
  });
  return n;
}

EngineStats Engine::Stats() const {
  EngineStats s;
  s.rules = impl_->rules.size();
  for (const auto& [id, r] : impl_->rules) s.enabled_rules += r->enabled ? 1 : 0;
  for (const auto& [c, m] : impl_->state) s.state_entries += m.size();
  s.armed_timers = impl_->armed.size();
  s.waiting_runs = impl_->runs.size();
  return s;
}

std::string_view TriggerKindName(TriggerKind k) {
  switch (k) {
    case TriggerKind::kEvent: return "event";
    case TriggerKind::kTelemetry: return "telemetry";
    case TriggerKind::kPresence: return "presence";
    case TriggerKind::kSchedule: return "schedule";
    case TriggerKind::kAlarm: return "alarm";
    case TriggerKind::kAbsence: return "absence";
  }
  return "unknown";
}

std::string_view ActionKindName(ActionKind k) {
  switch (k) {
    case ActionKind::kCommand: return "command";
    case ActionKind::kAlarm: return "alarm";
    case ActionKind::kWorkOrder: return "work_order";
    case ActionKind::kNotify: return "notify";
    case ActionKind::kResolve: return "resolve";
  }
  return "unknown";
}

}  // namespace linli::rules
