// Routes: linkage rules, alarms (the closed loop: raise → acknowledge → dispatch → resolve →
// close), work orders, device commands and outgoing notifications. Every change goes through
// the LinkageService (one lock, the incident log and the audit log); every read is scope
// checked — an object outside the caller's compounds is not found (404).
#include <algorithm>
#include <cctype>

#include "api/route_util.h"
#include "incidents/linkage.h"
#include "rules/parse.h"

namespace linli::api {
namespace {

using incidents::LinkageService;

Result<LinkageService*> Linkage(ApiContext* ctx) {
  if (ctx->deps.linkage == nullptr) return Fail(ErrorCode::kUnavailable, "the linkage engine is not running");
  return ctx->deps.linkage;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string MediaType(const std::string& ct) {
  std::string t = Lower(ct.substr(0, ct.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

std::string BodyStr(const Json& b, const char* k, size_t max, bool* bad = nullptr) {
  auto it = b.find(k);
  if (it == b.end() || it->is_null()) return "";
  if (!it->is_string()) {
    if (bad != nullptr) *bad = true;
    return "";
  }
  std::string v = it->get<std::string>();
  if (v.size() > max) {
    if (bad != nullptr) *bad = true;
    return "";
  }
  return v;
}

Result<std::string> Text(const Json& b, const char* k, size_t max, bool required = false) {
  bool bad = false;
  std::string v = BodyStr(b, k, max, &bad);
  if (bad) return InvalidArgument(k, "must be a string of at most " + std::to_string(max) + " bytes");
  if (required && v.empty()) return InvalidArgument(k, "is required");
  return v;
}

Result<std::vector<std::string>> MediaIds(const Json& b, const char* k) {
  std::vector<std::string> out;
  auto it = b.find(k);
  if (it == b.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > 50) return InvalidArgument(k, "must be a list of at most 50 media ids");
  for (const auto& v : *it) {
    if (!v.is_string() || !model::ValidateId(v.get<std::string>())) return InvalidArgument(k, "must hold media ids");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// Media must exist and be in the caller's scope before an alarm or work order references it.
Result<void> CheckMedia(ApiContext& ctx, const Principal& p, const std::vector<std::string>& ids,
                        const std::string& compound, const char* field) {
  for (const auto& id : ids) {
    auto m = ctx.deps.store->GetMedia(id);
    if (!m || !p.InScope(m->compound_id) || m->compound_id != compound)
      return InvalidArgument(field, "no such media '" + id + "' in this compound");
  }
  return {};
}

// ---- rules ----

Json RuleJson(const incidents::RuleInfo& info) {
  const rules::Rule& r = *info.entry.rule;
  return Json{{"id", r.id},
              {"name", r.name},
              {"description", r.description},
              {"enabled", r.enabled},
              {"trigger", std::string(rules::TriggerKindName(r.trigger.kind))},
              {"file", info.entry.file},
              {"line", r.line},
              {"builtin", info.entry.builtin},
              {"editable", info.entry.own_file},
              {"fired", info.fired},
              {"last_fired_ms", info.last_fired_ms},
              {"source", r.source}};
}

Json ErrorJson(const rules::RuleError& e) {
  return Json{{"file", e.file}, {"line", e.line}, {"rule_id", e.rule_id}, {"field", e.field}, {"message", e.message},
              {"text", e.ToString()}};
}

// A rule body: JSON (application/json) or YAML (application/yaml, text/yaml). Returns the
// rule's source as JSON, or the validation errors.
Result<Json> RuleBody(const ApiRequest& req, std::vector<rules::RuleError>* errors) {
  const std::string type = MediaType(req.content_type);
  if (req.body.empty()) return InvalidArgument("body", "a rule is required");
  rules::ParsedFile parsed;
  if (type == "application/json") {
    auto j = ParseJson(req.body);
    if (!j) return std::unexpected(j.error());
    parsed = rules::ParseRuleJson(*j, "request");
  } else if (type == "application/yaml" || type == "application/x-yaml" || type == "text/yaml" ||
             type == "text/x-yaml") {
    parsed = rules::ParseRuleText(req.body, "request");
  } else {
    return InvalidArgument("Content-Type", "must be application/json or application/yaml");
  }
  if (!parsed.errors.empty()) {
    *errors = parsed.errors;
    const auto& e = parsed.errors.front();
    return InvalidArgument(e.field.empty() ? "rule" : e.field, e.ToString());
  }
  if (parsed.rules.size() != 1) return InvalidArgument("rule", "give exactly one rule");
  return parsed.rules.front().source;
}

const std::vector<std::string> kRuleTypes = {"application/json", "application/yaml", "text/yaml"};

// ---- alarms ----

Result<model::Alarm> VisibleAlarm(ApiContext& ctx, const Principal& p, const std::string& id) {
  auto missing = Fail(ErrorCode::kNotFound, "no such alarm '" + id.substr(0, 64) + "'");
  if (!model::ValidateId(id)) return missing;
  auto a = ctx.deps.store->GetAlarm(id);
  if (!a) return a.error().code() == ErrorCode::kNotFound ? missing : std::unexpected(a.error());
  if (!p.InScope(a->compound_id)) return missing;
  return a;
}

Result<model::WorkOrder> VisibleWorkOrder(ApiContext& ctx, const Principal& p, const std::string& id) {
  auto missing = Fail(ErrorCode::kNotFound, "no such work order '" + id.substr(0, 64) + "'");
  if (!model::ValidateId(id)) return missing;
  auto w = ctx.deps.store->GetWorkOrder(id);
  if (!w) return w.error().code() == ErrorCode::kNotFound ? missing : std::unexpected(w.error());
  if (!p.InScope(w->compound_id)) return missing;
  // Residents see only the requests they made.
  if (p.role == Role::kResident && w->actor != p.username) return missing;
  return w;
}

Json LogJson(const std::vector<model::IncidentLogEntry>& log) {
  Json items = Json::array();
  for (const auto& e : log) {
    items.push_back(Json{{"id", e.id},
                         {"ts_ms", e.ts_ms},
                         {"actor", e.actor},
                         {"action", e.action},
                         {"from", e.from_state},
                         {"to", e.to_state},
                         {"comment", e.comment},
                         {"data", e.data}});
  }
  return items;
}

Result<std::vector<model::AlarmState>> States(const ApiRequest& req) {
  std::vector<model::AlarmState> out;
  std::string v = req.Query("state").value_or("");
  size_t start = 0;
  while (!v.empty() && start <= v.size()) {
    size_t comma = v.find(',', start);
    std::string one = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto s = model::ParseAlarmState(one);
    if (!s) return InvalidArgument("state", "unknown alarm state '" + one.substr(0, 40) + "'");
    out.push_back(*s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::vector<model::WorkOrderState>> OrderStates(const ApiRequest& req) {
  std::vector<model::WorkOrderState> out;
  std::string v = req.Query("state").value_or("");
  size_t start = 0;
  while (!v.empty() && start <= v.size()) {
    size_t comma = v.find(',', start);
    std::string one = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto s = model::ParseWorkOrderState(one);
    if (!s) return InvalidArgument("state", "unknown work order state '" + one.substr(0, 40) + "'");
    out.push_back(*s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<int64_t> Limit(const ApiRequest& req, int64_t* offset) {
  LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(req, "limit", 50, 1, 1000));
  LINLI_ASSIGN_OR_RETURN(*offset, IntParam(req, "offset", 0, 0, 1'000'000'000));
  return limit;
}

// Which work orders a technician or grid worker may change: theirs, or unassigned ones meant
// for their role.
bool MayWork(const Principal& p, const model::WorkOrder& w) {
  if (p.role == Role::kAdmin || p.role == Role::kOperator) return true;
  if (w.assignee == p.username) return true;
  const std::string role(RoleName(p.role));
  return w.assignee.empty() && w.assignee_role == role;
}

const std::vector<QueryParamDoc> kRange = {{"from", "integer", "ms since epoch, inclusive (default 0)"},
                                           {"to", "integer", "ms since epoch, exclusive (default: no limit)"}};

std::vector<QueryParamDoc> With(std::vector<QueryParamDoc> a) {
  a.insert(a.end(), kRange.begin(), kRange.end());
  a.push_back({"limit", "integer", "1..1000, default 50"});
  a.push_back({"offset", "integer", ">= 0"});
  return a;
}

}  // namespace

void AddIncidentRoutes(Router& r, ApiContext* ctx) {
  // ---------------- rules ----------------
  r.Add("GET", "/api/v1/rules",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          Json items = Json::array(), errors = Json::array();
          for (const auto& info : l->ListRules()) items.push_back(RuleJson(info));
          for (const auto& e : l->RuleErrors()) errors.push_back(ErrorJson(e));
          return ApiResponse::FromJson(200, Json{{"items", std::move(items)}, {"errors", std::move(errors)}});
        },
        {.summary = "Linkage rules and the rule files' errors",
         .description = "Roles: admin, operator. `errors` lists refused rules with file, line and field.",
         .tag = "rules",
         .response_schema = "RuleList"});

  r.Add("POST", "/api/v1/rules",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule, Action::kCreate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          std::vector<rules::RuleError> errors;
          LINLI_ASSIGN_OR_RETURN(Json source, RuleBody(rc.req, &errors));
          LINLI_ASSIGN_OR_RETURN(auto info, l->PutRule(source, /*must_be_new=*/true, rc.principal.Actor(),
                                                        rc.principal.remote));
          return ApiResponse::FromJson(201, RuleJson(info));
        },
        {.summary = "Create a rule (JSON or YAML)",
         .description = "Admin only. The rule language is docs/rules.md; the body is one rule as JSON or YAML. "
                        "Invalid rules are refused with 400 naming the field (and the line for YAML). The rule "
                        "is written to DATA_DIR/rules/<id>.yaml and takes effect at once.",
         .tag = "rules",
         .response_schema = "Rule",
         .success_status = 201,
         .request_content_types = kRuleTypes});

  r.Add("POST", "/api/v1/rules/validate",
        [](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule));
          std::vector<rules::RuleError> errors;
          auto source = RuleBody(rc.req, &errors);
          Json errs = Json::array();
          for (const auto& e : errors) errs.push_back(ErrorJson(e));
          if (!source && errors.empty()) return std::unexpected(source.error());
          return ApiResponse::FromJson(200, Json{{"valid", source.has_value()}, {"errors", errs}});
        },
        {.summary = "Check a rule without saving it",
         .description = "Roles: admin, operator. Answers {valid, errors[]} (200 either way).",
         .tag = "rules",
         .response_schema = "RuleValidation",
         .request_content_types = kRuleTypes});

  r.Add("POST", "/api/v1/rules/reload",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule, Action::kUpdate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          LINLI_RETURN_IF_ERROR(l->Reload());
          AuditAction(*ctx, rc.principal, "rule.reload", "rule", "*", "");
          Json errors = Json::array();
          for (const auto& e : l->RuleErrors()) errors.push_back(ErrorJson(e));
          return ApiResponse::FromJson(200, Json{{"rules", l->ListRules().size()}, {"errors", errors}});
        },
        {.summary = "Re-read the rule files",
         .description = "Admin only (also done on SIGHUP). Answers the number of rules loaded and the refused ones.",
         .tag = "rules"});

  r.Add("GET", "/api/v1/rules/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          LINLI_ASSIGN_OR_RETURN(auto info, l->GetRule(rc.Param("id")));
          return ApiResponse::FromJson(200, RuleJson(info));
        },
        {.summary = "One rule", .description = "Roles: admin, operator.", .tag = "rules", .response_schema = "Rule"});

  r.Add("PUT", "/api/v1/rules/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule, Action::kUpdate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          std::vector<rules::RuleError> errors;
          LINLI_ASSIGN_OR_RETURN(Json source, RuleBody(rc.req, &errors));
          if (source.value("id", std::string()) != rc.Param("id"))
            return InvalidArgument("id", "must be the id in the path");
          LINLI_RETURN_IF_ERROR(l->GetRule(rc.Param("id")));
          LINLI_ASSIGN_OR_RETURN(auto info, l->PutRule(source, false, rc.principal.Actor(), rc.principal.remote));
          return ApiResponse::FromJson(200, RuleJson(info));
        },
        {.summary = "Replace a rule",
         .description = "Admin only. Rules defined in a file together with other rules are edited in that file "
                        "(409 here).",
         .tag = "rules",
         .response_schema = "Rule",
         .request_content_types = kRuleTypes});

  r.Add("PATCH", "/api/v1/rules/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule, Action::kUpdate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          auto it = rc.body.find("enabled");
          if (!rc.body.is_object() || rc.body.size() != 1 || it == rc.body.end() || !it->is_boolean())
            return InvalidArgument("enabled", "the body must be {\"enabled\": true|false}");
          LINLI_ASSIGN_OR_RETURN(auto info, l->SetRuleEnabled(rc.Param("id"), it->get<bool>(), rc.principal.Actor(),
                                                               rc.principal.remote));
          return ApiResponse::FromJson(200, RuleJson(info));
        },
        {.summary = "Enable or disable a rule",
         .description = "Admin only. Body {\"enabled\": bool}.",
         .tag = "rules",
         .request_schema = "RuleEnable",
         .response_schema = "Rule"});

  r.Add("DELETE", "/api/v1/rules/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kRule, Action::kDelete));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          LINLI_RETURN_IF_ERROR(l->DeleteRule(rc.Param("id"), rc.principal.Actor(), rc.principal.remote));
          ApiResponse resp;
          resp.status = 204;
          return resp;
        },
        {.summary = "Delete a rule", .description = "Admin only.", .tag = "rules", .success_status = 204});

  // ---------------- alarms ----------------
  r.Add("GET", "/api/v1/alarms",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kAlarm));
          store::AlarmQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(q.compound_id, StringParam(rc.req, "compound", 64));
          if (!q.compound_id.empty())
            LINLI_RETURN_IF_ERROR(InScope(*ctx, rc.principal, model::Kind::kCompound, q.compound_id, "compound"));
          LINLI_ASSIGN_OR_RETURN(q.states, States(rc.req));
          LINLI_ASSIGN_OR_RETURN(q.open_only, BoolParam(rc.req, "open", false));
          LINLI_ASSIGN_OR_RETURN(q.type, StringParam(rc.req, "type", 64));
          LINLI_ASSIGN_OR_RETURN(q.rule_id, StringParam(rc.req, "rule", 64));
          LINLI_ASSIGN_OR_RETURN(q.device_id, StringParam(rc.req, "device", 64));
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          int64_t offset = 0;
          LINLI_ASSIGN_OR_RETURN(int64_t limit, Limit(rc.req, &offset));
          q.limit = static_cast<int>(limit);
          q.offset = static_cast<int>(offset);
          LINLI_ASSIGN_OR_RETURN(auto page, ctx->deps.store->ListAlarms(q));
          Json items = Json::array();
          for (const auto& a : page.items) items.push_back(model::ToJson(a));
          return ApiResponse::FromJson(
              200, Json{{"items", std::move(items)}, {"total", page.total}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "Alarms (newest first)",
         .description = "Roles: admin, operator, technician, grid_worker, police, integrator; only alarms of "
                        "compounds in scope. `state` is a comma-separated list; `type` exact or prefix*.",
         .tag = "alarms",
         .response_schema = "AlarmList",
         .query = With({{"compound", "string", "compound id"},
                        {"state", "string", "raised,acknowledged,dispatched,resolved,closed,false_alarm"},
                        {"open", "boolean", "only raised/acknowledged/dispatched"},
                        {"type", "string", "alarm type, or prefix ending with *"},
                        {"rule", "string", "rule id"},
                        {"device", "string", "device id"}})});

  r.Add("POST", "/api/v1/alarms",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kAlarm, Action::kCreate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          incidents::ManualAlarm m;
          LINLI_ASSIGN_OR_RETURN(m.compound_id, Text(rc.body, "compound_id", 64, true));
          LINLI_RETURN_IF_ERROR(InScope(*ctx, rc.principal, model::Kind::kCompound, m.compound_id, "compound_id"));
          LINLI_ASSIGN_OR_RETURN(m.type, Text(rc.body, "type", 64, true));
          for (char c : m.type) {
            if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
              return InvalidArgument("type", "must be lower-case [a-z0-9_.]");
          }
          LINLI_ASSIGN_OR_RETURN(m.level, Text(rc.body, "level", 16));
          if (m.level.empty()) m.level = "warning";
          if (!model::ParseAlarmLevel(m.level)) return InvalidArgument("level", "must be info, warning, major or critical");
          LINLI_ASSIGN_OR_RETURN(m.title, Text(rc.body, "title", 300, true));
          LINLI_ASSIGN_OR_RETURN(m.description, Text(rc.body, "description", 4000));
          LINLI_ASSIGN_OR_RETURN(m.device_id, Text(rc.body, "device_id", 64));
          if (!m.device_id.empty()) {
            LINLI_ASSIGN_OR_RETURN(auto d, InScope(*ctx, rc.principal, model::Kind::kDevice, m.device_id, "device_id"));
            if (d.compound_id != m.compound_id) return InvalidArgument("device_id", "is in another compound");
          }
          LINLI_ASSIGN_OR_RETURN(m.room_id, Text(rc.body, "room_id", 64));
          if (!m.room_id.empty()) {
            LINLI_ASSIGN_OR_RETURN(auto room, InScope(*ctx, rc.principal, model::Kind::kRoom, m.room_id, "room_id"));
            if (room.compound_id != m.compound_id) return InvalidArgument("room_id", "is in another compound");
          }
          LINLI_ASSIGN_OR_RETURN(m.attachments, MediaIds(rc.body, "attachments"));
          LINLI_RETURN_IF_ERROR(CheckMedia(*ctx, rc.principal, m.attachments, m.compound_id, "attachments"));
          LINLI_ASSIGN_OR_RETURN(auto a, l->RaiseAlarm(m, rc.principal.Actor(), "operator", rc.principal.remote));
          return ApiResponse::FromJson(201, model::ToJson(a));
        },
        {.summary = "Raise an alarm by hand",
         .description = "Roles: admin, operator (a guard reporting what they saw).",
         .tag = "alarms",
         .request_schema = "AlarmCreate",
         .response_schema = "Alarm",
         .success_status = 201});

  r.Add("GET", "/api/v1/alarms/stats",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kIncidentStats));
          store::StatsQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(q.compound_id, StringParam(rc.req, "compound", 64));
          if (!q.compound_id.empty())
            LINLI_RETURN_IF_ERROR(InScope(*ctx, rc.principal, model::Kind::kCompound, q.compound_id, "compound"));
          LINLI_ASSIGN_OR_RETURN(q.type, StringParam(rc.req, "type", 64));
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          q.now_ms = ctx->deps.clock->NowMs();
          LINLI_ASSIGN_OR_RETURN(auto rows, ctx->deps.store->AlarmStatistics(q));
          Json items = Json::array();
          int64_t raised = 0, closed = 0, acked = 0, overdue = 0;
          double ack_sum = 0, close_sum = 0;
          for (const auto& s : rows) {
            items.push_back(Json{{"compound_id", s.compound_id}, {"type", s.type}, {"raised", s.raised},
                                 {"open", s.open}, {"acknowledged", s.acknowledged}, {"closed", s.closed},
                                 {"false_alarms", s.false_alarms}, {"escalated", s.escalated},
                                 {"mean_ack_s", s.mean_ack_s}, {"max_ack_s", s.max_ack_s},
                                 {"mean_close_s", s.mean_close_s}, {"max_close_s", s.max_close_s},
                                 {"ack_overdue", s.ack_overdue}});
            raised += s.raised;
            closed += s.closed;
            acked += s.acknowledged;
            overdue += s.ack_overdue;
            ack_sum += s.mean_ack_s * static_cast<double>(s.acknowledged);
            close_sum += s.mean_close_s * static_cast<double>(s.closed);
          }
          Json totals{{"raised", raised}, {"acknowledged", acked}, {"closed", closed}, {"ack_overdue", overdue},
                      {"mean_ack_s", acked > 0 ? ack_sum / static_cast<double>(acked) : 0.0},
                      {"mean_close_s", closed > 0 ? close_sum / static_cast<double>(closed) : 0.0}};
          return ApiResponse::FromJson(200, Json{{"items", std::move(items)}, {"totals", std::move(totals)}});
        },
        {.summary = "Alarm statistics per compound and type",
         .description = "Roles: admin, operator, grid_worker, police. Over alarms raised in [from, to): counts, "
                        "time to acknowledge and to close (seconds), acknowledgements past their SLA.",
         .tag = "alarms",
         .response_schema = "AlarmStats",
         .query = {{"compound", "string", "compound id"},
                   {"type", "string", "alarm type or prefix*"},
                   {"from", "integer", "ms since epoch"},
                   {"to", "integer", "ms since epoch"}}});

  r.Add("GET", "/api/v1/alarms/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kAlarm));
          LINLI_ASSIGN_OR_RETURN(model::Alarm a, VisibleAlarm(*ctx, rc.principal, rc.Param("id")));
          Json out = model::ToJson(a);
          LINLI_ASSIGN_OR_RETURN(auto log, ctx->deps.store->ListIncidentLog("alarm", a.id, 1000));
          out["log"] = LogJson(log);
          // People and contacts as the caller may see them (masked per role).
          Json persons = Json::array();
          if (Allowed(rc.principal.role, Resource::kPerson, Action::kRead)) {
            for (const auto& pid : a.data.value("person_ids", Json::array())) {
              if (!pid.is_string()) continue;
              auto person = ctx->registry->Get(rc.principal, model::Kind::kPerson, pid.get<std::string>());
              if (person) persons.push_back(std::move(*person));
            }
          }
          out["persons"] = std::move(persons);
          Json contacts = Json::array();
          if (Allowed(rc.principal.role, Resource::kContact, Action::kRead)) {
            for (const auto& c : a.data.value("contacts", Json::array())) {
              if (!c.is_object() || !c.contains("id") || !c["id"].is_string()) continue;
              auto contact = ctx->registry->Get(rc.principal, model::Kind::kContact, c["id"].get<std::string>());
              if (contact) contacts.push_back(std::move(*contact));
            }
          }
          out["contacts"] = std::move(contacts);
          store::CommandQuery cq;
          cq.alarm_id = a.id;
          cq.limit = 200;
          LINLI_ASSIGN_OR_RETURN(auto cmds, ctx->deps.store->ListCommands(cq));
          Json commands = Json::array();
          for (const auto& c : cmds.items) commands.push_back(model::ToJson(c));
          out["commands"] = std::move(commands);
          return ApiResponse::FromJson(200, out);
        },
        {.summary = "One alarm with its history, people, contacts and commands",
         .description = "Roles as for listing. `persons` (the residents of the alarm's room) and `contacts` "
                        "(the compound's escalation contacts) are masked per role, and omitted for roles that may "
                        "not read them.",
         .tag = "alarms",
         .response_schema = "AlarmDetail"});

  struct Transition {
    const char* path;
    model::AlarmAction action;
    const char* summary;
  };
  static const Transition kTransitions[] = {
      {"acknowledge", model::AlarmAction::kAcknowledge, "Acknowledge an alarm (接警)"},
      {"dispatch", model::AlarmAction::kDispatch, "Dispatch an alarm (派单): opens or reassigns its work order"},
      {"resolve", model::AlarmAction::kResolve, "Mark an alarm resolved (处置完成)"},
      {"close", model::AlarmAction::kClose, "Close a resolved alarm (闭环)"},
      {"false-alarm", model::AlarmAction::kFalseAlarm, "Close an alarm as a false alarm (误报)"},
      {"reopen", model::AlarmAction::kReopen, "Reopen a resolved alarm"},
  };
  for (const auto& t : kTransitions) {
    const model::AlarmAction action = t.action;
    r.Add("POST", std::string("/api/v1/alarms/{id}/") + t.path,
          [ctx, action](RequestContext& rc) -> Result<ApiResponse> {
            LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kAlarm, Action::kUpdate));
            LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
            LINLI_ASSIGN_OR_RETURN(model::Alarm a, VisibleAlarm(*ctx, rc.principal, rc.Param("id")));
            Json body = rc.body.is_object() ? rc.body : Json::object();
            LINLI_ASSIGN_OR_RETURN(std::string comment, Text(body, "comment", 4000));
            Json extra = Json::object();
            if (action == model::AlarmAction::kDispatch) {
              LINLI_ASSIGN_OR_RETURN(std::string assignee, Text(body, "assignee", 64));
              if (!assignee.empty()) {
                auto user = ctx->deps.store->FindByUnique(model::Kind::kUser, "username", assignee);
                if (!user) return InvalidArgument("assignee", "no such user '" + assignee + "'");
                extra["assignee"] = assignee;
              }
              LINLI_ASSIGN_OR_RETURN(std::string role, Text(body, "assignee_role", 32));
              if (!role.empty()) {
                if (role != "technician" && role != "operator" && role != "grid_worker")
                  return InvalidArgument("assignee_role", "must be technician, operator or grid_worker");
                extra["assignee_role"] = role;
              }
              if (auto due = body.find("due_ms"); due != body.end() && !due->is_null()) {
                if (!due->is_number_integer() || due->get<int64_t>() < 0) return InvalidArgument("due_ms", "must be ms since epoch");
                extra["due_ms"] = *due;
              }
              if (auto wo = body.find("work_order"); wo != body.end() && !wo->is_null()) {
                if (!wo->is_boolean()) return InvalidArgument("work_order", "must be true or false");
                extra["work_order"] = *wo;
              }
            }
            LINLI_ASSIGN_OR_RETURN(auto updated, l->TransitionAlarm(a.id, action, rc.principal.Actor(), comment, extra,
                                                                     rc.principal.remote));
            return ApiResponse::FromJson(200, model::ToJson(updated));
          },
          {.summary = t.summary,
           .description = "Roles: admin, operator. An illegal transition (closing an alarm that is not "
                          "resolved, acknowledging twice) is refused with 409 failed_precondition. Body {comment}; "
                          "dispatch also takes {assignee (username), assignee_role, due_ms, work_order: bool}.",
           .tag = "alarms",
           .request_schema = "AlarmTransition",
           .body_optional = true,
           .response_schema = "Alarm"});
  }

  r.Add("POST", "/api/v1/alarms/{id}/comments",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kAlarm, Action::kUpdate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          LINLI_ASSIGN_OR_RETURN(model::Alarm a, VisibleAlarm(*ctx, rc.principal, rc.Param("id")));
          LINLI_ASSIGN_OR_RETURN(std::string comment, Text(rc.body, "comment", 4000));
          LINLI_ASSIGN_OR_RETURN(auto media, MediaIds(rc.body, "attachments"));
          if (comment.empty() && media.empty()) return InvalidArgument("comment", "give a comment or attachments");
          LINLI_RETURN_IF_ERROR(CheckMedia(*ctx, rc.principal, media, a.compound_id, "attachments"));
          LINLI_ASSIGN_OR_RETURN(auto updated, l->CommentAlarm(a.id, rc.principal.Actor(), comment, media,
                                                                rc.principal.remote));
          return ApiResponse::FromJson(200, model::ToJson(updated));
        },
        {.summary = "Comment on an alarm, attach photos or clips",
         .description = "Roles: admin, operator. Attachments are media ids uploaded with PUT /api/v1/media/{id}.",
         .tag = "alarms",
         .request_schema = "Comment",
         .response_schema = "Alarm"});

  // ---------------- work orders ----------------
  r.Add("GET", "/api/v1/work-orders",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kWorkOrder));
          store::WorkOrderQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(q.compound_id, StringParam(rc.req, "compound", 64));
          if (!q.compound_id.empty())
            LINLI_RETURN_IF_ERROR(InScope(*ctx, rc.principal, model::Kind::kCompound, q.compound_id, "compound"));
          LINLI_ASSIGN_OR_RETURN(q.states, OrderStates(rc.req));
          LINLI_ASSIGN_OR_RETURN(q.open_only, BoolParam(rc.req, "open", false));
          LINLI_ASSIGN_OR_RETURN(q.kind, StringParam(rc.req, "kind", 32));
          LINLI_ASSIGN_OR_RETURN(q.assignee, StringParam(rc.req, "assignee", 64));
          LINLI_ASSIGN_OR_RETURN(q.assignee_role, StringParam(rc.req, "assignee_role", 32));
          LINLI_ASSIGN_OR_RETURN(q.alarm_id, StringParam(rc.req, "alarm", 64));
          LINLI_ASSIGN_OR_RETURN(q.device_id, StringParam(rc.req, "device", 64));
          LINLI_ASSIGN_OR_RETURN(bool mine, BoolParam(rc.req, "mine", false));
          if (mine) q.assignee = rc.principal.username;
          if (rc.principal.role == Role::kResident) q.actor = rc.principal.username;
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          int64_t offset = 0;
          LINLI_ASSIGN_OR_RETURN(int64_t limit, Limit(rc.req, &offset));
          q.limit = static_cast<int>(limit);
          q.offset = static_cast<int>(offset);
          LINLI_ASSIGN_OR_RETURN(auto page, ctx->deps.store->ListWorkOrders(q));
          Json items = Json::array();
          for (const auto& w : page.items) items.push_back(model::ToJson(w));
          return ApiResponse::FromJson(
              200, Json{{"items", std::move(items)}, {"total", page.total}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "Work orders (newest first)",
         .description = "Roles: admin, operator, technician, grid_worker, and residents (their own repair "
                        "requests only). `mine=true`: assigned to the caller.",
         .tag = "work orders",
         .response_schema = "WorkOrderList",
         .query = With({{"compound", "string", "compound id"},
                        {"state", "string", "open,assigned,in_progress,done,closed,cancelled"},
                        {"open", "boolean", "only open/assigned/in_progress"},
                        {"kind", "string", "repair, inspection, care, maintenance"},
                        {"assignee", "string", "username"},
                        {"assignee_role", "string", "technician, operator, grid_worker"},
                        {"alarm", "string", "alarm id"},
                        {"device", "string", "device id"},
                        {"mine", "boolean", "assigned to me"}})});

  r.Add("POST", "/api/v1/work-orders",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kWorkOrder, Action::kCreate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          const Principal& p = rc.principal;
          incidents::NewWorkOrder w;
          LINLI_ASSIGN_OR_RETURN(w.kind, Text(rc.body, "kind", 32));
          if (w.kind.empty()) w.kind = "repair";
          if (w.kind != "repair" && w.kind != "inspection" && w.kind != "care" && w.kind != "maintenance")
            return InvalidArgument("kind", "must be repair, inspection, care or maintenance");
          LINLI_ASSIGN_OR_RETURN(w.title, Text(rc.body, "title", 300, true));
          LINLI_ASSIGN_OR_RETURN(w.description, Text(rc.body, "description", 4000));
          LINLI_ASSIGN_OR_RETURN(w.priority, Text(rc.body, "priority", 16));
          if (w.priority.empty()) w.priority = "normal";
          if (w.priority != "low" && w.priority != "normal" && w.priority != "high" && w.priority != "urgent")
            return InvalidArgument("priority", "must be low, normal, high or urgent");
          LINLI_ASSIGN_OR_RETURN(w.photos, MediaIds(rc.body, "photos"));
          if (p.role == Role::kResident) {
            // A resident's repair request (报修) for their own household.
            if (w.kind != "repair") return InvalidArgument("kind", "residents open repair requests");
            if (p.household_room_id.empty())
              return Fail(ErrorCode::kFailedPrecondition, "your account is not linked to a room");
            LINLI_ASSIGN_OR_RETURN(std::string room, Text(rc.body, "room_id", 64));
            if (!room.empty() && room != p.household_room_id) return InvalidArgument("room_id", "must be your own room");
            w.room_id = p.household_room_id;
            w.person_id = p.person_id;
            LINLI_ASSIGN_OR_RETURN(auto rec, ctx->deps.store->GetRecord(model::Kind::kRoom, w.room_id));
            w.compound_id = rec.compound_id;
            w.source = "resident";
            w.assignee_role = "technician";
            if (!w.photos.empty()) return InvalidArgument("photos", "residents cannot attach media yet");
          } else {
            LINLI_ASSIGN_OR_RETURN(w.compound_id, Text(rc.body, "compound_id", 64, true));
            LINLI_RETURN_IF_ERROR(InScope(*ctx, p, model::Kind::kCompound, w.compound_id, "compound_id"));
            LINLI_ASSIGN_OR_RETURN(w.assignee, Text(rc.body, "assignee", 64));
            if (!w.assignee.empty() && !ctx->deps.store->FindByUnique(model::Kind::kUser, "username", w.assignee))
              return InvalidArgument("assignee", "no such user '" + w.assignee + "'");
            LINLI_ASSIGN_OR_RETURN(w.assignee_role, Text(rc.body, "assignee_role", 32));
            if (w.assignee_role.empty()) w.assignee_role = w.kind == "care" ? "grid_worker" : "technician";
            if (w.assignee_role != "technician" && w.assignee_role != "operator" && w.assignee_role != "grid_worker")
              return InvalidArgument("assignee_role", "must be technician, operator or grid_worker");
            auto ref = [&](const char* field, model::Kind kind, std::string* out) -> Result<void> {
              LINLI_ASSIGN_OR_RETURN(*out, Text(rc.body, field, 64));
              if (out->empty()) return {};
              LINLI_ASSIGN_OR_RETURN(auto rec, InScope(*ctx, p, kind, *out, field));
              if (rec.compound_id != w.compound_id) return InvalidArgument(field, "is in another compound");
              return {};
            };
            LINLI_RETURN_IF_ERROR(ref("device_id", model::Kind::kDevice, &w.device_id));
            LINLI_RETURN_IF_ERROR(ref("room_id", model::Kind::kRoom, &w.room_id));
            LINLI_RETURN_IF_ERROR(ref("person_id", model::Kind::kPerson, &w.person_id));
            LINLI_ASSIGN_OR_RETURN(w.alarm_id, Text(rc.body, "alarm_id", 64));
            if (!w.alarm_id.empty()) {
              auto a = VisibleAlarm(*ctx, p, w.alarm_id);
              if (!a || a->compound_id != w.compound_id) return InvalidArgument("alarm_id", "no such alarm in this compound");
            }
            if (auto due = rc.body.find("due_ms"); due != rc.body.end() && !due->is_null()) {
              if (!due->is_number_integer() || due->get<int64_t>() < 0) return InvalidArgument("due_ms", "must be ms since epoch");
              w.due_ms = due->get<int64_t>();
            }
            LINLI_RETURN_IF_ERROR(CheckMedia(*ctx, p, w.photos, w.compound_id, "photos"));
          }
          LINLI_ASSIGN_OR_RETURN(auto created, l->CreateWorkOrder(w, p.Actor(), p.remote));
          return ApiResponse::FromJson(201, model::ToJson(created));
        },
        {.summary = "Open a work order (维修/巡检/关爱), or a resident's repair request (报修)",
         .description = "Roles: admin, operator, grid_worker; residents open repair requests for their own room "
                        "(the room and compound are taken from their account).",
         .tag = "work orders",
         .request_schema = "WorkOrderCreate",
         .response_schema = "WorkOrder",
         .success_status = 201});

  r.Add("GET", "/api/v1/work-orders/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kWorkOrder));
          LINLI_ASSIGN_OR_RETURN(model::WorkOrder w, VisibleWorkOrder(*ctx, rc.principal, rc.Param("id")));
          Json out = model::ToJson(w);
          LINLI_ASSIGN_OR_RETURN(auto log, ctx->deps.store->ListIncidentLog("work_order", w.id, 1000));
          out["log"] = LogJson(log);
          return ApiResponse::FromJson(200, out);
        },
        {.summary = "One work order with its history",
         .description = "Roles as for listing.",
         .tag = "work orders",
         .response_schema = "WorkOrderDetail"});

  struct OrderTransition {
    const char* path;
    model::WorkOrderAction action;
    const char* summary;
  };
  static const OrderTransition kOrderTransitions[] = {
      {"assign", model::WorkOrderAction::kAssign, "Assign a work order {assignee}"},
      {"start", model::WorkOrderAction::kStart, "Start working on it"},
      {"complete", model::WorkOrderAction::kComplete, "Report it done {result, photos}"},
      {"close", model::WorkOrderAction::kClose, "Close (accept) it"},
      {"cancel", model::WorkOrderAction::kCancel, "Cancel it"},
      {"reopen", model::WorkOrderAction::kReopen, "Reopen a done work order"},
  };
  for (const auto& t : kOrderTransitions) {
    const model::WorkOrderAction action = t.action;
    r.Add("POST", std::string("/api/v1/work-orders/{id}/") + t.path,
          [ctx, action](RequestContext& rc) -> Result<ApiResponse> {
            LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kWorkOrder, Action::kUpdate));
            LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
            LINLI_ASSIGN_OR_RETURN(model::WorkOrder w, VisibleWorkOrder(*ctx, rc.principal, rc.Param("id")));
            const Principal& p = rc.principal;
            if (!MayWork(p, w))
              return Fail(ErrorCode::kPermissionDenied, "work order '" + w.id + "' is not yours to change");
            // Assigning and accepting are the dispatcher's: operators and admins (grid workers for care).
            const bool dispatcher = p.role == Role::kAdmin || p.role == Role::kOperator ||
                                    (p.role == Role::kGridWorker && w.kind == "care");
            if ((action == model::WorkOrderAction::kAssign && !dispatcher && w.assignee_role != RoleName(p.role)) ||
                (action == model::WorkOrderAction::kClose && !dispatcher) ||
                (action == model::WorkOrderAction::kCancel && !dispatcher)) {
              return Fail(ErrorCode::kPermissionDenied,
                          "role " + std::string(RoleName(p.role)) + " may not " +
                              std::string(model::WorkOrderActionName(action)) + " this work order");
            }
            Json body = rc.body.is_object() ? rc.body : Json::object();
            LINLI_RETURN_IF_ERROR(Text(body, "comment", 4000));
            LINLI_RETURN_IF_ERROR(Text(body, "result", 4000));
            if (action == model::WorkOrderAction::kAssign) {
              LINLI_ASSIGN_OR_RETURN(std::string assignee, Text(body, "assignee", 64, true));
              if (!ctx->deps.store->FindByUnique(model::Kind::kUser, "username", assignee))
                return InvalidArgument("assignee", "no such user '" + assignee + "'");
              // Technicians may only take orders for themselves.
              if (!dispatcher && assignee != p.username) return InvalidArgument("assignee", "you may only assign yourself");
            }
            LINLI_ASSIGN_OR_RETURN(auto photos, MediaIds(body, "photos"));
            LINLI_RETURN_IF_ERROR(CheckMedia(*ctx, p, photos, w.compound_id, "photos"));
            LINLI_ASSIGN_OR_RETURN(auto updated, l->TransitionWorkOrder(w.id, action, p.Actor(), body, p.remote));
            return ApiResponse::FromJson(200, model::ToJson(updated));
          },
          {.summary = t.summary,
           .description = "Roles: admin, operator; technicians and grid workers on orders assigned to them or "
                          "unassigned orders for their role (they may assign themselves, start and complete). "
                          "Illegal transitions are 409 failed_precondition. Body {comment, assignee, result, photos}.",
           .tag = "work orders",
           .request_schema = "WorkOrderTransition",
           .body_optional = true,
           .response_schema = "WorkOrder"});
  }

  r.Add("POST", "/api/v1/work-orders/{id}/comments",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kWorkOrder, Action::kUpdate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          LINLI_ASSIGN_OR_RETURN(model::WorkOrder w, VisibleWorkOrder(*ctx, rc.principal, rc.Param("id")));
          if (!MayWork(rc.principal, w))
            return Fail(ErrorCode::kPermissionDenied, "work order '" + w.id + "' is not yours to change");
          LINLI_ASSIGN_OR_RETURN(std::string comment, Text(rc.body, "comment", 4000));
          LINLI_ASSIGN_OR_RETURN(auto photos, MediaIds(rc.body, "photos"));
          if (comment.empty() && photos.empty()) return InvalidArgument("comment", "give a comment or photos");
          LINLI_RETURN_IF_ERROR(CheckMedia(*ctx, rc.principal, photos, w.compound_id, "photos"));
          LINLI_ASSIGN_OR_RETURN(auto updated, l->CommentWorkOrder(w.id, rc.principal.Actor(), comment, photos,
                                                                    rc.principal.remote));
          return ApiResponse::FromJson(200, model::ToJson(updated));
        },
        {.summary = "Comment on a work order, attach photos",
         .description = "As for transitions.",
         .tag = "work orders",
         .request_schema = "WorkOrderComment",
         .response_schema = "WorkOrder"});

  // ---------------- commands ----------------
  r.Add("POST", "/api/v1/devices/{id}/commands",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kCommand, Action::kCreate));
          LINLI_ASSIGN_OR_RETURN(LinkageService * l, Linkage(ctx));
          LINLI_ASSIGN_OR_RETURN(auto device, InScope(*ctx, rc.principal, model::Kind::kDevice, rc.Param("id")));
          incidents::OperatorCommand c;
          c.device_id = device.id;
          LINLI_ASSIGN_OR_RETURN(c.name, Text(rc.body, "name", 64, true));
          if (auto args = rc.body.find("args"); args != rc.body.end() && !args->is_null()) {
            if (!args->is_object() || DumpJson(*args).size() > 4096)
              return InvalidArgument("args", "must be an object of at most 4 KiB");
            c.args = *args;
          }
          LINLI_ASSIGN_OR_RETURN(c.reason, Text(rc.body, "reason", 500));
          // Opening doors and gates is sensitive: say why (it is in the audit log).
          if ((c.name == "unlock" || c.name == "raise") && c.reason.empty())
            return InvalidArgument("reason", "is required for " + c.name);
          LINLI_ASSIGN_OR_RETURN(c.alarm_id, Text(rc.body, "alarm_id", 64));
          if (!c.alarm_id.empty()) {
            auto a = VisibleAlarm(*ctx, rc.principal, c.alarm_id);
            if (!a || a->compound_id != device.compound_id) return InvalidArgument("alarm_id", "no such alarm in this compound");
          }
          auto seconds = [&](const char* k, int64_t def, int64_t lo, int64_t hi, int64_t* out) -> Result<void> {
            auto it = rc.body.find(k);
            if (it == rc.body.end() || it->is_null()) {
              *out = def * 1000;
              return {};
            }
            if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
              return InvalidArgument(k, "must be " + std::to_string(lo) + ".." + std::to_string(hi) + " seconds");
            *out = it->get<int64_t>() * 1000;
            return {};
          };
          LINLI_RETURN_IF_ERROR(seconds("timeout_s", 10, 1, 300, &c.timeout_ms));
          LINLI_RETURN_IF_ERROR(seconds("expires_s", 60, 1, 86400, &c.expires_ms));
          int64_t retries = 2;
          if (auto it = rc.body.find("retries"); it != rc.body.end() && !it->is_null()) {
            if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 10)
              return InvalidArgument("retries", "must be 0..10");
            retries = it->get<int64_t>();
          }
          c.retries = static_cast<int>(retries);
          LINLI_ASSIGN_OR_RETURN(auto cmd, l->SendCommand(c, rc.principal.Actor(), rc.principal.remote));
          return ApiResponse::FromJson(202, model::ToJson(cmd));
        },
        {.summary = "Send a command to a device (unlock a door, raise a barrier, sound an alarm)",
         .description = "Roles: admin, operator; audited. The command goes over MQTT (docs/protocol.md) and is "
                        "tracked: sent → acked | failed | expired (GET /api/v1/commands/{id}). `reason` is "
                        "required for unlock and raise. 400 if the device kind does not take the command.",
         .tag = "commands",
         .request_schema = "CommandRequest",
         .response_schema = "Command",
         .success_status = 202});

  r.Add("GET", "/api/v1/commands",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kCommand));
          store::CommandQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(q.device_id, StringParam(rc.req, "device", 64));
          if (!q.device_id.empty())
            LINLI_RETURN_IF_ERROR(InScope(*ctx, rc.principal, model::Kind::kDevice, q.device_id, "device"));
          LINLI_ASSIGN_OR_RETURN(q.alarm_id, StringParam(rc.req, "alarm", 64));
          LINLI_ASSIGN_OR_RETURN(q.cause_id, StringParam(rc.req, "cause", 128));
          std::string st = rc.req.Query("state").value_or("");
          if (!st.empty()) {
            auto s = model::ParseCommandState(st);
            if (!s) return InvalidArgument("state", "must be pending, sent, acked, failed or expired");
            q.states = {*s};
          }
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          int64_t offset = 0;
          LINLI_ASSIGN_OR_RETURN(int64_t limit, Limit(rc.req, &offset));
          q.limit = static_cast<int>(limit);
          q.offset = static_cast<int>(offset);
          LINLI_ASSIGN_OR_RETURN(auto page, ctx->deps.store->ListCommands(q));
          Json items = Json::array();
          for (const auto& c : page.items) items.push_back(model::ToJson(c));
          return ApiResponse::FromJson(
              200, Json{{"items", std::move(items)}, {"total", page.total}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "Device commands (newest first)",
         .description = "Roles: admin, operator, technician, integrator; only commands in scope. `cause` is the id "
                        "of the event, alarm or operator behind the command.",
         .tag = "commands",
         .response_schema = "CommandList",
         .query = With({{"device", "string", "device id"},
                        {"alarm", "string", "alarm id"},
                        {"cause", "string", "cause id (event id, ...)"},
                        {"state", "string", "pending, sent, acked, failed, expired"}})});

  r.Add("GET", "/api/v1/commands/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kCommand));
          const std::string id = rc.Param("id");
          auto missing = Fail(ErrorCode::kNotFound, "no such command '" + id.substr(0, 64) + "'");
          if (!model::ValidateId(id)) return missing;
          auto c = ctx->deps.store->GetCommand(id);
          if (!c) return c.error().code() == ErrorCode::kNotFound ? missing : std::unexpected(c.error());
          if (!rc.principal.InScope(c->compound_id)) return missing;
          return ApiResponse::FromJson(200, model::ToJson(*c));
        },
        {.summary = "One command", .description = "Roles as for listing.", .tag = "commands", .response_schema = "Command"});

  // ---------------- notifications ----------------
  r.Add("GET", "/api/v1/notifications",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kWebhook));
          LINLI_ASSIGN_OR_RETURN(int64_t from, IntParam(rc.req, "from", 0, 0, kMaxTime));
          int64_t offset = 0;
          LINLI_ASSIGN_OR_RETURN(int64_t limit, Limit(rc.req, &offset));
          LINLI_ASSIGN_OR_RETURN(auto items, ctx->deps.store->ListNotifications(from, static_cast<int>(limit),
                                                                                static_cast<int>(offset)));
          Json out = Json::array();
          for (const auto& n : items) {
            out.push_back(Json{{"id", n.id}, {"compound_id", n.compound_id}, {"channel", n.channel}, {"target", n.target},
                               {"url", n.url}, {"topic", n.topic}, {"state", std::string(model::NotificationStateName(n.state))},
                               {"attempts", n.attempts}, {"created_ms", n.created_ms},
                               {"next_attempt_ms", n.next_attempt_ms}, {"delivered_ms", n.delivered_ms},
                               {"last_error", n.last_error}});
          }
          return ApiResponse::FromJson(200, Json{{"items", std::move(out)}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "Outgoing notifications (webhooks, contacts) and their delivery",
         .description = "Admin only.",
         .tag = "webhooks",
         .response_schema = "NotificationList",
         .query = {{"from", "integer", "created at or after (ms)"},
                   {"limit", "integer", "1..1000"},
                   {"offset", "integer", ">= 0"}}});
}

}  // namespace linli::api
