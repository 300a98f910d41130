#include "rules/parse.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <regex>
#include <set>

#include "model/registry.h"

namespace linli::rules {
namespace {

// ---- YAML → JSON with line numbers ----

using Lines = std::map<std::string, int>;  // JSON path ("actions[1].command") → 1-based line

Json ScalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;  // quoted: always a string
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null") return nullptr;
  int64_t i = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && p == s.data() + s.size()) return i;
  double d = 0;
  auto [q, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec2 == std::errc() && q == s.data() + s.size() && std::isfinite(d)) return d;
  return s;
}

Result<Json> ToJson(const YAML::Node& n, const std::string& path, Lines* lines, int depth) {
  if (depth > 32) return InvalidArgument(path, "nested too deeply");
  (*lines)[path] = n.Mark().line + 1;
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return ScalarToJson(n);
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      size_t i = 0;
      for (const auto& item : n) {
        LINLI_ASSIGN_OR_RETURN(Json v, ToJson(item, path + "[" + std::to_string(i++) + "]", lines, depth + 1));
        a.push_back(std::move(v));
      }
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return InvalidArgument(path, "keys must be plain names");
        const std::string key = kv.first.Scalar();
        const std::string child = path.empty() ? key : path + "." + key;
        if (o.contains(key)) {
          (*lines)[child] = kv.first.Mark().line + 1;
          return InvalidArgument(child, "appears twice");
        }
        LINLI_ASSIGN_OR_RETURN(Json v, ToJson(kv.second, child, lines, depth + 1));
        o[key] = std::move(v);
      }
      return o;
    }
  }
  return Json(nullptr);
}

// ---- the rule parser on JSON ----

// Collects the first error of a rule with its field path.
class Ctx {
 public:
  Ctx(const std::string& file, const Lines* lines, std::string base) : file_(file), lines_(lines), base_(std::move(base)) {}
  bool ok() const { return error_.message.empty(); }
  void Fail(const std::string& field, const std::string& message) {
    if (!ok()) return;
    error_.file = file_;
    error_.field = field;
    error_.message = message;
    error_.line = LineOf(field);
  }
  void Fail(const std::string& field, const Error& e) {
    Fail(field, e.message());
  }
  int LineOf(const std::string& field) const {
    if (lines_ == nullptr) return 0;
    std::string p = base_.empty() ? field : (field.empty() ? base_ : base_ + "." + field);
    while (true) {
      auto it = lines_->find(p);
      if (it != lines_->end()) return it->second;
      size_t cut = p.find_last_of(".[");
      if (cut == std::string::npos) break;
      p = p.substr(0, cut);
    }
    auto it = lines_->find(base_);
    return it != lines_->end() ? it->second : 0;
  }
  RuleError error_;

 private:
  const std::string& file_;
  const Lines* lines_;
  std::string base_;
};

std::string Join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

// Checks that `obj` has only `allowed` keys.
bool OnlyKeys(Ctx& c, const Json& obj, const std::string& path, std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) {
    c.Fail(path, "must be a mapping");
    return false;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* k) { return it.key() == k; });
    if (!known) {
      std::string list;
      for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
      c.Fail(Join(path, it.key()), "unknown key (allowed: " + list + ")");
      return false;
    }
  }
  return true;
}

std::string Str(Ctx& c, const Json& obj, const std::string& path, const char* key, bool required = false,
                size_t max_len = 200) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) c.Fail(Join(path, key), "is required");
    return "";
  }
  std::string v;
  if (it->is_string()) {
    v = it->get<std::string>();
  } else if (it->is_number_integer()) {
    v = std::to_string(it->get<int64_t>());
  } else {
    c.Fail(Join(path, key), "must be a string");
    return "";
  }
  if (v.size() > max_len) c.Fail(Join(path, key), "must be at most " + std::to_string(max_len) + " bytes");
  if (required && v.empty()) c.Fail(Join(path, key), "must not be empty");
  return v;
}

std::vector<std::string> Strings(Ctx& c, const Json& obj, const std::string& path, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array()) {
    c.Fail(Join(path, key), "must be a list of strings");
    return out;
  }
  if (it->size() > 1000) c.Fail(Join(path, key), "has more than 1000 entries");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& v = (*it)[i];
    if (!v.is_string() && !v.is_number_integer()) {
      c.Fail(Join(path, key) + "[" + std::to_string(i) + "]", "must be a string");
      return out;
    }
    out.push_back(v.is_string() ? v.get<std::string>() : std::to_string(v.get<int64_t>()));
  }
  return out;
}

int64_t Duration(Ctx& c, const Json& obj, const std::string& path, const char* key, int64_t def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_string()) {
    c.Fail(Join(path, key), "must be a duration like 30s, 10m, 2h or 1d");
    return def;
  }
  auto d = ParseDuration(it->get<std::string>());
  if (!d) {
    c.Fail(Join(path, key), d.error());
    return def;
  }
  return *d;
}

int64_t Int(Ctx& c, const Json& obj, const std::string& path, const char* key, int64_t def, int64_t lo, int64_t hi) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    c.Fail(Join(path, key), "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return def;
  }
  return it->get<int64_t>();
}

bool Bool(Ctx& c, const Json& obj, const std::string& path, const char* key, bool def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean()) {
    c.Fail(Join(path, key), "must be true or false");
    return def;
  }
  return it->get<bool>();
}

Template Tmpl(Ctx& c, const Json& obj, const std::string& path, const char* key, const std::string& def = "") {
  std::string text = Str(c, obj, path, key, false, 2000);
  if (text.empty()) text = def;
  auto t = Template::Compile(text);
  if (!t) {
    c.Fail(Join(path, key), t.error());
    return {};
  }
  return *t;
}

bool OneOf(Ctx& c, const std::string& v, const std::string& path, std::initializer_list<const char*> allowed) {
  if (std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; })) return true;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  c.Fail(path, "'" + v.substr(0, 40) + "' is not one of: " + list);
  return false;
}

bool ValidEventType(const std::string& t) {
  if (t == "*") return true;
  static const std::regex re("^[a-z0-9_]+(\\.[a-z0-9_]+)*(\\.\\*)?$");
  return t.size() <= 64 && std::regex_match(t, re);
}

const std::set<std::string>& DeviceKindSet() {
  static const std::set<std::string>* kinds = [] {
    auto* s = new std::set<std::string>;
    for (const auto& d : model::DeviceKinds()) s->insert(d.kind);
    return s;
  }();
  return *kinds;
}

void ParseTrigger(Ctx& c, const Json& j, Rule& r) {
  const std::string path = "trigger";
  if (!j.is_object()) return c.Fail(path, "must be a mapping with one of: event, telemetry, presence, schedule, alarm, absence");
  if (!OnlyKeys(c, j, path, {"event", "telemetry", "presence", "schedule", "alarm", "absence"})) return;
  if (j.size() != 1) return c.Fail(path, "must have exactly one of: event, telemetry, presence, schedule, alarm, absence");
  Trigger& t = r.trigger;
  const std::string kind = j.begin().key();
  const Json& v = j.begin().value();
  const std::string at = path + "." + kind;
  if (kind == "event") {
    t.kind = TriggerKind::kEvent;
    if (v.is_string()) {
      t.event_type = v.get<std::string>();
    } else if (v.is_object() && OnlyKeys(c, v, at, {"type"})) {
      t.event_type = Str(c, v, at, "type", true, 64);
    } else {
      return c.Fail(at, "must be an event type or {type: ...}");
    }
    if (!ValidEventType(t.event_type)) c.Fail(at, "'" + t.event_type.substr(0, 64) + "' is not an event type like gas.leak or vision.*");
  } else if (kind == "telemetry") {
    t.kind = TriggerKind::kTelemetry;
    if (!OnlyKeys(c, v, at, {"metric", "when", "for"})) return;
    t.metric = Str(c, v, at, "metric", true, 64);
    std::string when = Str(c, v, at, "when", true, 1000);
    auto e = Expr::Compile(when);
    if (!e) return c.Fail(at + ".when", e.error());
    t.condition = std::move(*e);
    t.for_ms = Duration(c, v, at, "for", 0);
  } else if (kind == "presence") {
    t.kind = TriggerKind::kPresence;
    if (!OnlyKeys(c, v, at, {"status", "for"})) return;
    t.status = Str(c, v, at, "status", true);
    OneOf(c, t.status, at + ".status", {"offline", "online"});
    t.for_ms = Duration(c, v, at, "for", 0);
  } else if (kind == "schedule") {
    t.kind = TriggerKind::kSchedule;
    std::string text = v.is_string() ? v.get<std::string>() : std::string();
    if (v.is_object()) {
      if (!OnlyKeys(c, v, at, {"cron"})) return;
      text = Str(c, v, at, "cron", true);
    }
    auto cron = CronSchedule::Parse(text);
    if (!cron) return c.Fail(at, cron.error());
    t.cron = std::move(*cron);
  } else if (kind == "alarm") {
    t.kind = TriggerKind::kAlarm;
    if (!OnlyKeys(c, v, at, {"states", "types"})) return;
    t.alarm_states = Strings(c, v, at, "states");
    if (t.alarm_states.empty()) t.alarm_states = {"raised"};
    for (size_t i = 0; i < t.alarm_states.size(); ++i) {
      OneOf(c, t.alarm_states[i], at + ".states[" + std::to_string(i) + "]",
            {"raised", "acknowledged", "dispatched", "resolved", "closed", "false_alarm", "escalated", "merged"});
    }
    t.alarm_types = Strings(c, v, at, "types");
  } else if (kind == "absence") {
    t.kind = TriggerKind::kAbsence;
    if (!OnlyKeys(c, v, at, {"event", "person_field", "tags", "for"})) return;
    t.event_type = Str(c, v, at, "event", true, 64);
    if (!ValidEventType(t.event_type)) c.Fail(at + ".event", "is not an event type");
    std::string pf = Str(c, v, at, "person_field");
    if (!pf.empty()) t.person_field = pf;
    t.person_tags = Strings(c, v, at, "tags");
    if (t.person_tags.empty()) c.Fail(at + ".tags", "name at least one person tag (e.g. elderly_living_alone)");
    t.for_ms = Duration(c, v, at, "for", 0);
    if (t.for_ms < 60'000) c.Fail(at + ".for", "must be at least 1m");
  }
}

DeviceSelector ParseSelector(Ctx& c, const Json& j, const std::string& at) {
  DeviceSelector s;
  if (j.is_string()) {
    if (j.get<std::string>() == "trigger") {
      s.trigger_device = true;
    } else {
      s.ids = {j.get<std::string>()};
    }
    return s;
  }
  if (!OnlyKeys(c, j, at, {"devices", "kinds", "kind", "same", "area", "trigger_device"})) return s;
  s.ids = Strings(c, j, at, "devices");
  s.kinds = Strings(c, j, at, "kinds");
  for (auto& k : Strings(c, j, at, "kind")) s.kinds.push_back(k);
  for (size_t i = 0; i < s.kinds.size(); ++i) {
    if (!DeviceKindSet().count(s.kinds[i])) c.Fail(at + ".kinds[" + std::to_string(i) + "]", "unknown device kind '" + s.kinds[i] + "'");
  }
  s.same = Str(c, j, at, "same");
  if (!s.same.empty()) OneOf(c, s.same, at + ".same", {"building", "unit", "room", "compound"});
  s.area = Str(c, j, at, "area", false, 100);
  s.trigger_device = Bool(c, j, at, "trigger_device", false);
  if (s.ids.empty() && s.kinds.empty() && !s.trigger_device)
    c.Fail(at, "name devices, kinds or trigger_device");
  if (!s.kinds.empty() && s.same.empty() && s.area.empty()) s.same = "compound";
  return s;
}

std::vector<EscalationStep> ParseEscalation(Ctx& c, const Json& j, const std::string& at) {
  std::vector<EscalationStep> out;
  if (!j.is_array()) {
    c.Fail(at, "must be a list of steps");
    return out;
  }
  int64_t last = -1;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string p = at + "[" + std::to_string(i) + "]";
    if (!OnlyKeys(c, j[i], p, {"after", "unless", "contacts", "roles", "level", "note"})) return out;
    EscalationStep s;
    s.after_ms = Duration(c, j[i], p, "after", 0);
    if (j[i].find("after") == j[i].end()) c.Fail(p + ".after", "is required");
    if (s.after_ms < last) c.Fail(p + ".after", "steps must be in time order");
    last = s.after_ms;
    s.unless = Str(c, j[i], p, "unless");
    if (s.unless.empty()) s.unless = "acknowledged";
    OneOf(c, s.unless, p + ".unless", {"acknowledged", "dispatched", "resolved"});
    s.contacts = Strings(c, j[i], p, "contacts");
    s.roles = Strings(c, j[i], p, "roles");
    s.level = Str(c, j[i], p, "level");
    if (!s.level.empty()) OneOf(c, s.level, p + ".level", {"info", "warning", "major", "critical"});
    s.note = Str(c, j[i], p, "note", false, 500);
    if (s.contacts.empty() && s.roles.empty() && s.level.empty())
      c.Fail(p, "does nothing: give contacts, roles or level");
    out.push_back(std::move(s));
  }
  if (out.size() > 10) c.Fail(at, "has more than 10 steps");
  return out;
}

std::optional<Action> ParseAction(Ctx& c, const Json& j, const std::string& at, const Rule& r) {
  if (!j.is_object() || j.size() != 1) {
    c.Fail(at, "must be a mapping with exactly one of: command, alarm, work_order, notify, resolve");
    return std::nullopt;
  }
  Action a;
  a.label = at;
  const std::string kind = j.begin().key();
  const Json& v = j.begin().value();
  const std::string p = at + "." + kind;
  if (kind == "command") {
    a.kind = ActionKind::kCommand;
    if (!OnlyKeys(c, v, p, {"target", "name", "args", "timeout", "retries", "expires", "wait", "stop_on_failure"}))
      return std::nullopt;
    auto t = v.find("target");
    if (t == v.end()) {
      c.Fail(p + ".target", "is required");
      return std::nullopt;
    }
    CommandAction& cmd = a.command;
    cmd.target = ParseSelector(c, *t, p + ".target");
    cmd.name = Str(c, v, p, "name", true, 64);
    // A command must be one that the targeted kinds accept.
    for (const auto& k : cmd.target.kinds) {
      if (!KnownCommand(k, cmd.name))
        c.Fail(p + ".name", "a " + k + " does not accept the command '" + cmd.name + "'");
    }
    if (auto args = v.find("args"); args != v.end() && !args->is_null()) {
      if (!args->is_object()) c.Fail(p + ".args", "must be a mapping");
      else cmd.args = *args;
    }
    cmd.timeout_ms = Duration(c, v, p, "timeout", 10'000);
    if (cmd.timeout_ms < 100) c.Fail(p + ".timeout", "must be at least 100ms");
    cmd.retries = static_cast<int>(Int(c, v, p, "retries", 2, 0, 10));
    cmd.expires_ms = Duration(c, v, p, "expires", 60'000);
    cmd.wait = Bool(c, v, p, "wait", false);
    cmd.stop_on_failure = Bool(c, v, p, "stop_on_failure", false);
  } else if (kind == "alarm") {
    a.kind = ActionKind::kAlarm;
    if (!OnlyKeys(c, v, p, {"type", "level", "title", "description", "merge_key", "sla", "escalation",
                            "resolve_on_clear", "attach_snapshots"}))
      return std::nullopt;
    AlarmAction& al = a.alarm;
    al.type = Str(c, v, p, "type", true, 64);
    static const std::regex type_re("^[a-z0-9_.]+$");
    if (!al.type.empty() && !std::regex_match(al.type, type_re)) c.Fail(p + ".type", "must be lower-case [a-z0-9_.]");
    al.level = Str(c, v, p, "level");
    if (al.level.empty()) al.level = "warning";
    OneOf(c, al.level, p + ".level", {"info", "warning", "major", "critical"});
    al.title = Tmpl(c, v, p, "title", r.name.empty() ? r.id : r.name);
    al.description = Tmpl(c, v, p, "description");
    al.merge_key = Tmpl(c, v, p, "merge_key", "{rule.id}:{key}");
    if (auto sla = v.find("sla"); sla != v.end() && !sla->is_null()) {
      if (OnlyKeys(c, *sla, p + ".sla", {"ack", "close"})) {
        al.ack_sla_ms = Duration(c, *sla, p + ".sla", "ack", 0);
        al.close_sla_ms = Duration(c, *sla, p + ".sla", "close", 0);
      }
    }
    if (auto esc = v.find("escalation"); esc != v.end() && !esc->is_null())
      al.escalation = ParseEscalation(c, *esc, p + ".escalation");
    al.resolve_on_clear = Bool(c, v, p, "resolve_on_clear", false);
    al.attach_snapshots = Bool(c, v, p, "attach_snapshots", true);
  } else if (kind == "work_order") {
    a.kind = ActionKind::kWorkOrder;
    if (!OnlyKeys(c, v, p, {"kind", "title", "description", "priority", "assignee_role", "due", "close_on_clear",
                            "link_alarm"}))
      return std::nullopt;
    WorkOrderAction& w = a.work_order;
    w.kind = Str(c, v, p, "kind");
    if (w.kind.empty()) w.kind = "repair";
    OneOf(c, w.kind, p + ".kind", {"repair", "inspection", "care", "maintenance"});
    w.title = Tmpl(c, v, p, "title", r.name.empty() ? r.id : r.name);
    w.description = Tmpl(c, v, p, "description");
    w.priority = Str(c, v, p, "priority");
    if (w.priority.empty()) w.priority = "normal";
    OneOf(c, w.priority, p + ".priority", {"low", "normal", "high", "urgent"});
    w.assignee_role = Str(c, v, p, "assignee_role");
    if (w.assignee_role.empty()) w.assignee_role = "technician";
    OneOf(c, w.assignee_role, p + ".assignee_role", {"technician", "operator", "grid_worker"});
    w.due_ms = Duration(c, v, p, "due", 0);
    w.close_on_clear = Bool(c, v, p, "close_on_clear", false);
    w.link_alarm = Bool(c, v, p, "link_alarm", true);
  } else if (kind == "notify") {
    a.kind = ActionKind::kNotify;
    if (!OnlyKeys(c, v, p, {"roles", "contacts", "webhooks", "message", "level"})) return std::nullopt;
    NotifyAction& n = a.notify;
    n.roles = Strings(c, v, p, "roles");
    n.contacts = Strings(c, v, p, "contacts");
    n.webhooks = Bool(c, v, p, "webhooks", true);
    n.message = Tmpl(c, v, p, "message", r.name.empty() ? r.id : r.name);
    n.level = Str(c, v, p, "level");
    if (n.level.empty()) n.level = "info";
    OneOf(c, n.level, p + ".level", {"info", "warning", "major", "critical"});
  } else if (kind == "resolve") {
    a.kind = ActionKind::kResolve;
    if (!v.is_null() && !OnlyKeys(c, v, p, {"rule", "comment"})) return std::nullopt;
    if (v.is_object()) {
      std::string comment = Str(c, v, p, "comment", false, 500);
      if (!comment.empty()) a.resolve.comment = comment;
      a.resolve.rule = Str(c, v, p, "rule", false, 64);
      if (!a.resolve.rule.empty() && !model::ValidateId(a.resolve.rule)) c.Fail(p + ".rule", "is not a rule id");
    }
  } else {
    c.Fail(at, "unknown action '" + kind.substr(0, 40) + "' (command, alarm, work_order, notify, resolve)");
    return std::nullopt;
  }
  return a;
}

std::optional<Rule> ParseRule(Ctx& c, const Json& j, const std::string& file) {
  Rule r;
  r.file = file;
  r.source = j;
  if (!OnlyKeys(c, j, "", {"id", "name", "description", "enabled", "trigger", "scope", "where", "time_of_day",
                           "weekdays", "window", "cooldown", "key", "actions", "clear"}))
    return std::nullopt;
  r.id = Str(c, j, "", "id", true, 64);
  if (!r.id.empty() && !model::ValidateId(r.id)) c.Fail("id", "must be 1-64 of [A-Za-z0-9_-]");
  r.name = Str(c, j, "", "name", false, 100);
  r.description = Str(c, j, "", "description", false, 2000);
  r.enabled = Bool(c, j, "", "enabled", true);
  auto trig = j.find("trigger");
  if (trig == j.end()) {
    c.Fail("trigger", "is required");
    return std::nullopt;
  }
  ParseTrigger(c, *trig, r);
  if (auto scope = j.find("scope"); scope != j.end() && !scope->is_null()) {
    if (OnlyKeys(c, *scope, "scope", {"compounds", "buildings", "device_kinds", "devices", "areas"})) {
      r.scope.compounds = Strings(c, *scope, "scope", "compounds");
      r.scope.buildings = Strings(c, *scope, "scope", "buildings");
      r.scope.device_kinds = Strings(c, *scope, "scope", "device_kinds");
      for (size_t i = 0; i < r.scope.device_kinds.size(); ++i) {
        if (!DeviceKindSet().count(r.scope.device_kinds[i]))
          c.Fail("scope.device_kinds[" + std::to_string(i) + "]", "unknown device kind '" + r.scope.device_kinds[i] + "'");
      }
      r.scope.devices = Strings(c, *scope, "scope", "devices");
      r.scope.areas = Strings(c, *scope, "scope", "areas");
    }
  }
  if (std::string where = Str(c, j, "", "where", false, 2000); !where.empty()) {
    auto e = Expr::Compile(where);
    if (!e) c.Fail("where", e.error());
    else r.where = std::move(*e);
  }
  for (const auto& w : Strings(c, j, "", "time_of_day")) {
    auto t = TimeOfDayWindow::Parse(w);
    if (!t) c.Fail("time_of_day", t.error());
    else r.time_of_day.push_back(std::move(*t));
  }
  if (auto wd = j.find("weekdays"); wd != j.end() && !wd->is_null()) {
    if (!wd->is_array()) {
      c.Fail("weekdays", "must be a list of 0 (Sunday) .. 6");
    } else {
      for (size_t i = 0; i < wd->size(); ++i) {
        const Json& d = (*wd)[i];
        if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > 7) {
          c.Fail("weekdays[" + std::to_string(i) + "]", "must be 0 (Sunday) .. 6, or 7 (Sunday)");
          break;
        }
        r.weekdays.push_back(static_cast<int>(d.get<int64_t>() % 7));
      }
    }
  }
  if (auto w = j.find("window"); w != j.end() && !w->is_null()) {
    if (OnlyKeys(c, *w, "window", {"count", "within"})) {
      r.window.count = static_cast<int>(Int(c, *w, "window", "count", 0, 2, 10000));
      r.window.within_ms = Duration(c, *w, "window", "within", 0);
      if (r.window.count == 0) c.Fail("window.count", "is required");
      if (r.window.within_ms == 0) c.Fail("window.within", "is required");
    }
  }
  r.cooldown_ms = Duration(c, j, "", "cooldown", 0);
  r.key = Tmpl(c, j, "", "key");
  if (auto cl = j.find("clear"); cl != j.end() && !cl->is_null()) {
    if (OnlyKeys(c, *cl, "clear", {"event"})) {
      r.clear_event = Str(c, *cl, "clear", "event", true, 64);
      if (!ValidEventType(r.clear_event)) c.Fail("clear.event", "is not an event type");
    }
  }
  auto actions = j.find("actions");
  if (actions == j.end() || !actions->is_array() || actions->empty()) {
    c.Fail("actions", "must be a non-empty list");
    return std::nullopt;
  }
  if (actions->size() > 50) c.Fail("actions", "has more than 50 steps");
  for (size_t i = 0; i < actions->size() && c.ok(); ++i) {
    const Json& item = (*actions)[i];
    const std::string at = "actions[" + std::to_string(i) + "]";
    Step step;
    if (item.is_object() && item.size() == 1 && item.contains("parallel")) {
      const Json& group = item["parallel"];
      if (!group.is_array() || group.empty()) {
        c.Fail(at + ".parallel", "must be a non-empty list of actions");
        break;
      }
      step.parallel = true;
      for (size_t k = 0; k < group.size(); ++k) {
        auto a = ParseAction(c, group[k], at + ".parallel[" + std::to_string(k) + "]", r);
        if (a) step.actions.push_back(std::move(*a));
      }
    } else {
      auto a = ParseAction(c, item, at, r);
      if (a) step.actions.push_back(std::move(*a));
    }
    r.steps.push_back(std::move(step));
  }
  // Cross-field checks.
  if (c.ok()) {
    const bool device_trigger = r.trigger.kind == TriggerKind::kEvent || r.trigger.kind == TriggerKind::kTelemetry ||
                                r.trigger.kind == TriggerKind::kPresence;
    for (const auto& s : r.steps) {
      for (const auto& a : s.actions) {
        if (a.kind != ActionKind::kCommand) continue;
        const auto& sel = a.command.target;
        if ((sel.trigger_device || (sel.same != "compound" && !sel.same.empty())) && !device_trigger) {
          c.Fail(a.label + ".command.target", "'same: " + sel.same + "' needs a device trigger (event, telemetry, presence)");
        }
      }
    }
    if (!r.clear_event.empty() && r.trigger.kind != TriggerKind::kEvent)
      c.Fail("clear.event", "only event rules take a clear event (presence and telemetry rules clear by themselves)");
  }
  if (!c.ok()) return std::nullopt;
  return r;
}

void ParseRules(const Json& doc, const Lines* lines, const std::string& file, ParsedFile* out) {
  std::vector<std::pair<std::string, const Json*>> items;  // (base path, rule)
  if (doc.is_object() && doc.contains("rules")) {
    if (doc.size() != 1) {
      RuleError e{file, lines != nullptr && lines->count("rules") ? lines->at("rules") : 0, "", "",
                  "a file with 'rules:' must contain nothing else"};
      out->errors.push_back(e);
      return;
    }
    const Json& list = doc["rules"];
    if (!list.is_array()) {
      out->errors.push_back({file, 1, "", "rules", "must be a list of rules"});
      return;
    }
    for (size_t i = 0; i < list.size(); ++i) items.emplace_back("rules[" + std::to_string(i) + "]", &list[i]);
  } else if (doc.is_array()) {
    for (size_t i = 0; i < doc.size(); ++i) items.emplace_back("[" + std::to_string(i) + "]", &doc[i]);
  } else if (doc.is_object()) {
    items.emplace_back("", &doc);
  } else if (!doc.is_null()) {
    out->errors.push_back({file, 1, "", "", "a rule file holds a rule, a list of rules or {rules: [...]}"});
    return;
  }
  std::set<std::string> seen;
  for (const auto& [base, j] : items) {
    Ctx c(file, lines, base);
    auto r = ParseRule(c, *j, file);
    std::string id = j->is_object() && j->contains("id") && (*j)["id"].is_string() ? (*j)["id"].get<std::string>() : "";
    if (r) {
      r->line = c.LineOf("");
      if (!seen.insert(r->id).second) {
        out->errors.push_back({file, r->line, r->id, "id", "rule id '" + r->id + "' appears twice in this file"});
        continue;
      }
      out->rules.push_back(std::move(*r));
    } else {
      c.error_.rule_id = id;
      out->errors.push_back(c.error_);
    }
  }
}

void EmitJson(YAML::Emitter& e, const Json& j) {
  if (j.is_object()) {
    e << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      e << YAML::Key << it.key() << YAML::Value;
      EmitJson(e, it.value());
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& v : j) EmitJson(e, v);
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    e << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_boolean()) {
    e << (j.get<bool>() ? "true" : "false");
  } else if (j.is_number_integer()) {
    e << j.get<int64_t>();
  } else if (j.is_number()) {
    e << j.get<double>();
  } else {
    e << YAML::Null;
  }
}

}  // namespace

std::string RuleError::ToString() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line);
  s += ": ";
  if (!rule_id.empty()) s += "rule " + rule_id + ": ";
  if (!field.empty()) s += field + ": ";
  return s + message;
}

bool KnownCommand(std::string_view kind, std::string_view command) {
  if (command == "ping") return true;
  if (kind == "door_controller") return command == "unlock" || command == "lock";
  if (kind == "barrier_gate") return command == "raise" || command == "lower";
  if (kind == "sound_light_alarm") return command == "alarm_on" || command == "alarm_off";
  if (kind == "edge_box")
    return command == "config.apply" || command == "roi.enroll" || command == "roi.examples" || command == "roi.remove";
  return false;
}

ParsedFile ParseRuleText(std::string_view text, const std::string& file) {
  ParsedFile out;
  if (text.size() > (4u << 20)) {
    out.errors.push_back({file, 0, "", "", "the file is larger than 4 MiB"});
    return out;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    out.errors.push_back({file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "", "YAML: " + e.msg});
    return out;
  }
  Lines lines;
  Json doc;
  try {
    auto converted = ToJson(root, "", &lines, 0);
    if (!converted) {
      out.errors.push_back({file, lines.count(converted.error().field()) ? lines[converted.error().field()] : 0, "",
                            converted.error().field(), converted.error().message()});
      return out;
    }
    doc = std::move(*converted);
  } catch (const YAML::Exception& e) {
    out.errors.push_back({file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "", "YAML: " + e.msg});
    return out;
  }
  ParseRules(doc, &lines, file, &out);
  return out;
}

ParsedFile ParseRuleJson(const Json& rule, const std::string& file) {
  ParsedFile out;
  if (!rule.is_object()) {
    out.errors.push_back({file, 0, "", "", "a rule must be an object"});
    return out;
  }
  ParseRules(rule, nullptr, file, &out);
  return out;
}

std::string RuleSourceToYaml(const Json& source) {
  YAML::Emitter e;
  e.SetIndent(2);
  EmitJson(e, source);
  return std::string(e.c_str()) + "\n";
}

}  // namespace linli::rules
