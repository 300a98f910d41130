#include "api/openapi.h"

#include "model/registry.h"

#ifndef LINLI_VERSION
#define LINLI_VERSION "dev"
#endif

namespace linli::api {
namespace {

Json Ref(const std::string& name) { return Json{{"$ref", "#/components/schemas/" + name}}; }
Json Type(const char* t) { return Json{{"type", t}}; }
Json Int64() { return Json{{"type", "integer"}, {"format", "int64"}}; }
Json ArrayOf(Json items) { return Json{{"type", "array"}, {"items", std::move(items)}}; }

Json Object(Json properties, std::vector<std::string> required = {}) {
  Json o{{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) o["required"] = required;
  return o;
}

Json FieldSchema(const model::FieldSpec& f) {
  Json s;
  switch (f.type) {
    case model::FieldType::kString:
      s = Type("string");
      s["maxLength"] = f.max_len;
      if (!f.enum_values.empty()) s["enum"] = f.enum_values;
      break;
    case model::FieldType::kRef:
      s = Type("string");
      s["maxLength"] = f.max_len;
      if (f.ref_kind) s["description"] = "id of a " + std::string(model::KindName(*f.ref_kind));
      break;
    case model::FieldType::kInt:
      s = Int64();
      break;
    case model::FieldType::kNumber:
      s = Type("number");
      break;
    case model::FieldType::kBool:
      s = Type("boolean");
      break;
    case model::FieldType::kJson:
      s = Type("object");
      s["additionalProperties"] = true;
      break;
    case model::FieldType::kStringList:
      s = ArrayOf(Json{{"type", "string"}, {"maxLength", f.max_len}});
      s["maxItems"] = 50;
      break;
  }
  std::string notes;
  if (f.pii) notes += "Personal data: encrypted at rest, masked for roles that do not need it. ";
  if (f.unique) notes += "Unique. ";
  if (f.immutable) notes += "Cannot be changed after creation. ";
  if (f.write_only) notes += "Write-only: never returned. ";
  if (!notes.empty()) {
    std::string d = s.value("description", "");
    s["description"] = d.empty() ? notes.substr(0, notes.size() - 1)
                                 : d + ". " + notes.substr(0, notes.size() - 1);
  }
  return s;
}

void AddKindSchemas(Json& schemas) {
  for (model::Kind kind : model::AllKinds()) {
    const auto& spec = model::Spec(kind);
    const std::string base = "Kind_" + spec.name;
    const bool compound_bound = model::CompoundBound(kind);

    Json out = Json::object();
    out["id"] = Type("string");
    if (compound_bound)
      out["compound_id"] =
          Json{{"type", "string"}, {"description", "the compound the record belongs to"}};
    out["created_ms"] = Int64();
    out["updated_ms"] = Int64();
    Json create = Json::object();
    create["id"] =
        Json{{"type", "string"},
             {"pattern", "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"},
             {"description", "optional client-chosen id; a UUID is generated otherwise"}};
    Json patch = Json::object();
    std::vector<std::string> required;
    for (const auto& f : spec.fields) {
      if (f.internal) continue;
      Json fs = FieldSchema(f);
      if (!f.write_only) out[f.name] = fs;
      create[f.name] = fs;
      if (!f.immutable) {
        Json p = fs;
        if (!f.required) p["nullable"] = true;
        patch[f.name] = p;
      }
      if (f.required) required.push_back(f.name);
    }
    if (kind == model::Kind::kDevice) {
      out["presence"] = Ref("Presence");
      out["mqtt"] = Ref("MqttAccount");
      out["mqtt"] =
          Json{{"allOf", Json::array({Ref("MqttAccount")})},
               {"description",
                "only in the answer to POST /api/v1/devices, when a broker is configured"}};
    }
    schemas[base] = Object(out, {"id", "created_ms", "updated_ms"});
    schemas[base]["additionalProperties"] = false;
    schemas[base + "_create"] = Object(create, required);
    schemas[base + "_create"]["additionalProperties"] = false;
    schemas[base + "_patch"] = Object(patch);
    schemas[base + "_patch"]["additionalProperties"] = false;
    schemas[base + "_list"] = Object({{"items", ArrayOf(Ref(base))},
                                      {"total", Int64()},
                                      {"limit", Type("integer")},
                                      {"offset", Type("integer")}},
                                     {"items", "total", "limit", "offset"});
  }
}

void AddFixedSchemas(Json& s) {
  s["Error"] = Object(
      {{"error",
        Object({{"code", Json{{"type", "string"},
                              {"enum",
                               {"invalid_argument", "not_found", "permission_denied",
                                "unauthenticated", "conflict", "unavailable", "failed_precondition",
                                "resource_exhausted", "internal", "method_not_allowed",
                                "unsupported_media_type", "payload_too_large", "headers_too_large",
                                "bad_request", "not_acceptable"}}}},
                {"message", Type("string")},
                {"field", Json{{"type", "string"}, {"description", "the input field at fault"}}}},
               {"code", "message"})}},
      {"error"});
  s["Media"] = Object({{"id", Type("string")},
                       {"compound_id", Type("string")},
                       {"device_id", Type("string")},
                       {"event_id", Type("string")},
                       {"content_type", Type("string")},
                       {"size", Int64()},
                       {"sha256", Type("string")},
                       {"created_ms", Int64()},
                       {"uploaded_by", Type("string")}},
                      {"id", "compound_id", "content_type", "size", "sha256", "created_ms"});
  s["MediaList"] = Object({{"items", ArrayOf(Ref("Media"))}}, {"items"});

  // ---- incidents (routes_incidents.cc) ----
  auto str = [] { return Type("string"); };
  auto strs = [] { return ArrayOf(Type("string")); };
  Json alarm_state = Json{{"type", "string"},
                          {"enum", {"raised", "acknowledged", "dispatched", "resolved", "closed", "false_alarm"}}};
  Json level = Json{{"type", "string"}, {"enum", {"info", "warning", "major", "critical"}}};
  s["Alarm"] = Object({{"id", str()}, {"compound_id", str()}, {"type", str()}, {"level", level},
                       {"title", str()}, {"description", str()}, {"state", alarm_state},
                       {"source", Json{{"type", "string"}, {"description", "rule, operator, resident"}}},
                       {"rule_id", str()}, {"actor", str()}, {"merge_key", str()}, {"cause_event_id", str()},
                       {"device_id", str()}, {"building_id", str()}, {"unit_id", str()}, {"room_id", str()},
                       {"location", str()}, {"count", Int64()}, {"raised_ms", Int64()}, {"last_ms", Int64()},
                       {"updated_ms", Int64()}, {"acknowledged_ms", Int64()}, {"dispatched_ms", Int64()},
                       {"resolved_ms", Int64()}, {"closed_ms", Int64()}, {"acknowledged_by", str()},
                       {"dispatched_to", str()}, {"resolved_by", str()}, {"closed_by", str()},
                       {"ack_due_ms", Int64()}, {"close_due_ms", Int64()}, {"escalation", str()},
                       {"escalation_step", Type("integer")}, {"next_escalation_ms", Int64()},
                       {"work_order_id", str()},
                       {"attachments", Json{{"type", "array"}, {"items", Type("string")}, {"description", "media ids"}}},
                       {"events", strs()}, {"data", Type("object")}},
                      {"id", "compound_id", "type", "level", "state", "raised_ms"});
  s["AlarmList"] = Object({{"items", ArrayOf(Ref("Alarm"))}, {"total", Int64()}, {"limit", Type("integer")},
                           {"offset", Type("integer")}},
                          {"items", "total"});
  s["AlarmDetail"] = Json{{"allOf", Json::array({Ref("Alarm"),
                                                 Object({{"log", ArrayOf(Ref("IncidentLogEntry"))},
                                                         {"persons", ArrayOf(Ref("Kind_person"))},
                                                         {"contacts", ArrayOf(Ref("Kind_contact"))},
                                                         {"commands", ArrayOf(Ref("Command"))}})})}};
  s["IncidentLogEntry"] = Object({{"id", Int64()}, {"ts_ms", Int64()}, {"actor", str()}, {"action", str()},
                                  {"from", str()}, {"to", str()}, {"comment", str()}, {"data", Type("object")}});
  s["AlarmCreate"] = Object({{"compound_id", str()}, {"type", str()}, {"level", level}, {"title", str()},
                             {"description", str()}, {"device_id", str()}, {"room_id", str()},
                             {"attachments", strs()}},
                            {"compound_id", "type", "title"});
  s["AlarmTransition"] = Object({{"comment", str()}, {"assignee", str()}, {"assignee_role", str()},
                                 {"due_ms", Int64()}, {"work_order", Type("boolean")}});
  s["Comment"] = Object({{"comment", str()}, {"attachments", strs()}});
  s["AlarmStats"] = Object(
      {{"items", ArrayOf(Object({{"compound_id", str()}, {"type", str()}, {"raised", Int64()}, {"open", Int64()},
                                 {"acknowledged", Int64()}, {"closed", Int64()}, {"false_alarms", Int64()},
                                 {"escalated", Int64()}, {"mean_ack_s", Type("number")},
                                 {"max_ack_s", Type("number")}, {"mean_close_s", Type("number")},
                                 {"max_close_s", Type("number")}, {"ack_overdue", Int64()}}))},
       {"totals", Type("object")}});
  Json wo_state = Json{{"type", "string"},
                       {"enum", {"open", "assigned", "in_progress", "done", "closed", "cancelled"}}};
  s["WorkOrder"] = Object({{"id", str()}, {"compound_id", str()},
                           {"kind", Json{{"type", "string"}, {"enum", {"repair", "inspection", "care", "maintenance"}}}},
                           {"title", str()}, {"description", str()}, {"state", wo_state}, {"priority", str()},
                           {"source", str()}, {"rule_id", str()}, {"actor", str()}, {"assignee", str()},
                           {"assignee_role", str()}, {"alarm_id", str()}, {"device_id", str()}, {"room_id", str()},
                           {"person_id", str()}, {"clear_key", str()}, {"created_ms", Int64()},
                           {"updated_ms", Int64()}, {"due_ms", Int64()}, {"started_ms", Int64()},
                           {"done_ms", Int64()}, {"closed_ms", Int64()}, {"result", str()}, {"photos", strs()},
                           {"data", Type("object")}},
                          {"id", "compound_id", "kind", "state", "created_ms"});
  s["WorkOrderList"] = Object({{"items", ArrayOf(Ref("WorkOrder"))}, {"total", Int64()},
                               {"limit", Type("integer")}, {"offset", Type("integer")}},
                              {"items", "total"});
  s["WorkOrderDetail"] = Json{{"allOf", Json::array({Ref("WorkOrder"),
                                                     Object({{"log", ArrayOf(Ref("IncidentLogEntry"))}})})}};
  s["WorkOrderCreate"] = Object({{"compound_id", str()}, {"kind", str()}, {"title", str()}, {"description", str()},
                                 {"priority", str()}, {"assignee", str()}, {"assignee_role", str()},
                                 {"device_id", str()}, {"room_id", str()}, {"person_id", str()},
                                 {"alarm_id", str()}, {"due_ms", Int64()}, {"photos", strs()}},
                                {"title"});
  s["WorkOrderTransition"] = Object({{"comment", str()}, {"assignee", str()}, {"result", str()}, {"photos", strs()}});
  s["WorkOrderComment"] = Object({{"comment", str()}, {"photos", strs()}});
  Json cmd_state = Json{{"type", "string"}, {"enum", {"pending", "sent", "acked", "failed", "expired"}}};
  s["Command"] = Object({{"id", str()}, {"compound_id", str()}, {"device_id", str()}, {"name", str()},
                         {"args", Type("object")}, {"cause", Type("object")}, {"actor", str()},
                         {"state", cmd_state}, {"attempts", Type("integer")}, {"max_attempts", Type("integer")},
                         {"timeout_ms", Int64()}, {"created_ms", Int64()}, {"sent_ms", Int64()},
                         {"acked_ms", Int64()}, {"updated_ms", Int64()}, {"expires_ms", Int64()},
                         {"deadline_ms", Int64()}, {"error", str()}, {"rule_id", str()}, {"alarm_id", str()}},
                        {"id", "device_id", "name", "state"});
  s["CommandList"] = Object({{"items", ArrayOf(Ref("Command"))}, {"total", Int64()}, {"limit", Type("integer")},
                             {"offset", Type("integer")}},
                            {"items", "total"});
  s["CommandRequest"] = Object({{"name", str()}, {"args", Type("object")}, {"reason", str()},
                                {"timeout_s", Type("integer")}, {"retries", Type("integer")},
                                {"expires_s", Type("integer")}, {"alarm_id", str()}},
                               {"name"});
  s["Rule"] = Object({{"id", str()}, {"name", str()}, {"description", str()}, {"enabled", Type("boolean")},
                      {"trigger", Json{{"type", "string"},
                                       {"enum", {"event", "telemetry", "presence", "schedule", "alarm", "absence"}}}},
                      {"file", str()}, {"line", Type("integer")}, {"builtin", Type("boolean")},
                      {"editable", Type("boolean")}, {"fired", Int64()}, {"last_fired_ms", Int64()},
                      {"source", Json{{"type", "object"}, {"description", "the rule as written (docs/rules.md)"}}}},
                     {"id", "enabled", "trigger", "source"});
  s["RuleError"] = Object({{"file", str()}, {"line", Type("integer")}, {"rule_id", str()}, {"field", str()},
                           {"message", str()}, {"text", str()}});
  s["RuleList"] = Object({{"items", ArrayOf(Ref("Rule"))}, {"errors", ArrayOf(Ref("RuleError"))}}, {"items", "errors"});
  s["RuleValidation"] = Object({{"valid", Type("boolean")}, {"errors", ArrayOf(Ref("RuleError"))}}, {"valid", "errors"});
  s["RuleEnable"] = Object({{"enabled", Type("boolean")}}, {"enabled"});
  s["NotificationList"] = Object(
      {{"items", ArrayOf(Object({{"id", Int64()}, {"compound_id", str()}, {"channel", str()}, {"target", str()},
                                 {"url", str()}, {"topic", str()}, {"state", str()}, {"attempts", Type("integer")},
                                 {"created_ms", Int64()}, {"next_attempt_ms", Int64()},
                                 {"delivered_ms", Int64()}, {"last_error", str()}}))},
       {"limit", Type("integer")}, {"offset", Type("integer")}});
  s["Health"] =
      Object({{"status", Type("string")}, {"version", Type("string")}, {"time_ms", Int64()}},
             {"status", "version", "time_ms"});
  s["LoginRequest"] = Object({{"username", Type("string")}, {"password", Type("string")}},
                             {"username", "password"});
  s["LoginResponse"] =
      Object({{"token", Type("string")}, {"expires_ms", Int64()}, {"user", Ref("Kind_user")}},
             {"token", "expires_ms", "user"});
  s["Me"] = Object({{"user", Ref("Kind_user")},
                    {"scope", Object({{"all", Type("boolean")},
                                      {"compounds", ArrayOf(Type("string"))},
                                      {"person_id", Type("string")},
                                      {"household_room_id", Type("string")}})},
                    {"auth", Json{{"type", "string"}, {"enum", {"session", "api_key"}}}}});
  s["FeedItem"] =
      Object({{"type", Json{{"type", "string"}, {"description", "event, status, fault, ..."}}},
              {"compound_id", Type("string")},
              {"ts_ms", Int64()},
              {"data", Type("object")}},
             {"type", "compound_id", "ts_ms", "data"});
  s["Presence"] =
      Object({{"status", Json{{"type", "string"}, {"enum", {"unknown", "online", "offline"}}}},
              {"status_ms", Int64()},
              {"last_seen_ms", Int64()}});
  s["MqttAccount"] =
      Object({{"client_id", Type("string")},
              {"username", Type("string")},
              {"password", Json{{"type", "string"}, {"description", "shown only once"}}},
              {"topic_prefix", Type("string")}},
             {"client_id", "username", "password", "topic_prefix"});
  s["DeviceCredentials"] =
      Object({{"id", Type("string")}, {"mqtt", Ref("MqttAccount")}}, {"id", "mqtt"});
  s["ApiKeyRequest"] = Object({{"label", Json{{"type", "string"}, {"maxLength", 100}}}});
  s["ApiKey"] = Object({{"key", Json{{"type", "string"}, {"description", "shown only once"}}},
                        {"user_id", Type("string")},
                        {"label", Type("string")},
                        {"created_ms", Int64()}},
                       {"key", "user_id"});
  s["TelemetryList"] = Object(
      {{"device_id", Type("string")},
       {"items",
        ArrayOf(Object({{"metric", Type("string")},
                        {"ts_ms", Int64()},
                        {"value", Json{{"oneOf", Json::array({Type("number"), Type("boolean"),
                                                              Type("string")})}}}}))}});
  s["StatusHistory"] = Object(
      {{"device_id", Type("string")},
       {"items", ArrayOf(Object({{"status", Json{{"type", "string"},
                                                 {"enum", {"unknown", "online", "offline"}}}},
                                 {"ts_ms", Int64()},
                                 {"reason", Type("string")}}))}});
  s["Event"] = Object({{"id", Type("string")},
                       {"compound_id", Type("string")},
                       {"device_id", Type("string")},
                       {"type", Type("string")},
                       {"ts_ms", Int64()},
                       {"received_ms", Int64()},
                       {"data", Type("object")}});
  s["EventList"] = Object(
      {{"items", ArrayOf(Ref("Event"))}, {"limit", Type("integer")}, {"offset", Type("integer")}});
  s["Online"] = Object({{"compound_id", Type("string")},
                        {"total", Int64()},
                        {"online", Int64()},
                        {"ratio", Type("number")}});
  s["OnlineStats"] = Object({{"total", Int64()},
                             {"online", Int64()},
                             {"ratio", Type("number")},
                             {"items", ArrayOf(Json{{"allOf", Json::array({Ref("Online")})},
                                                    {"properties", {{"name", Type("string")}}}})}});
  Json closed = Int64();
  closed["nullable"] = true;
  s["Fault"] = Object({{"id", Int64()},
                       {"device_id", Type("string")},
                       {"compound_id", Type("string")},
                       {"kind", Type("string")},
                       {"opened_ms", Int64()},
                       {"closed_ms", closed},
                       {"detail", Type("string")}});
  s["FaultList"] = Object(
      {{"items", ArrayOf(Ref("Fault"))}, {"limit", Type("integer")}, {"offset", Type("integer")}});
  s["DeadLetterList"] = Object({{"items", ArrayOf(Object({{"id", Int64()},
                                                          {"received_ms", Int64()},
                                                          {"source", Type("string")},
                                                          {"topic", Type("string")},
                                                          {"reason", Type("string")},
                                                          {"detail", Type("string")},
                                                          {"payload", Type("string")},
                                                          {"payload_size", Int64()}}))},
                                {"total", Int64()},
                                {"limit", Type("integer")},
                                {"offset", Type("integer")}});
  s["AuditList"] = Object({{"items", ArrayOf(Object({{"id", Int64()},
                                                     {"ts_ms", Int64()},
                                                     {"actor", Type("string")},
                                                     {"action", Type("string")},
                                                     {"object_kind", Type("string")},
                                                     {"object_id", Type("string")},
                                                     {"compound_id", Type("string")},
                                                     {"remote", Type("string")},
                                                     {"detail", Type("object")}}))},
                           {"limit", Type("integer")},
                           {"offset", Type("integer")}});
}

std::string OperationId(const Route& r) {
  std::string id = r.method;
  for (char c : r.path) {
    if (c == '/' || c == '-' || c == '{' || c == '}' || c == '.') {
      if (!id.empty() && id.back() != '_') id.push_back('_');
    } else {
      id.push_back(c);
    }
  }
  while (!id.empty() && id.back() == '_') id.pop_back();
  return id;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Json BuildOpenApi(const Router& router) {
  Json doc = Json::object();
  doc["openapi"] = "3.0.3";
  doc["info"] = {
      {"title", "Linli (邻里) platform API"},
      {"version", LINLI_VERSION},
      {"description",
       "REST API of linlid. JSON (UTF-8) under /api/v1/. Authenticate with 'Authorization: Bearer "
       "<token>' (a session token from POST /api/v1/auth/login or an API key). Errors are "
       "{\"error\":{\"code\",\"message\",\"field\"}}: 400 invalid input (field names the culprit), "
       "401 "
       "no or bad token, 403 the role may not do this, 404 absent or outside the caller's compound "
       "scope (existence is not revealed), 409 conflict, 413 body too large, 415 not JSON, 429 "
       "rate "
       "limited (Retry-After), 503 a dependency (MQTT broker) is unavailable. Generated by "
       "linli_openapi_gen from the server's route table; do not edit by hand."}};
  doc["servers"] = Json::array({Json{{"url", "/"}}});
  Json schemas = Json::object();
  AddFixedSchemas(schemas);
  AddKindSchemas(schemas);
  Json error_response = {{"description", "error"},
                         {"content", {{"application/json", {{"schema", Ref("Error")}}}}}};
  doc["components"] = Json::object();
  doc["components"]["schemas"] = schemas;
  doc["components"]["securitySchemes"] = {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}};
  doc["components"]["responses"] = {{"Error", error_response}};

  Json paths = Json::object();
  for (const Route& r : router.routes()) {
    Json op = Json::object();
    op["operationId"] = OperationId(r);
    op["summary"] = r.doc.summary;
    if (!r.doc.description.empty()) op["description"] = r.doc.description;
    if (!r.doc.tag.empty()) op["tags"] = Json::array({r.doc.tag});
    op["security"] = r.doc.auth ? Json::array({Json{{"bearer", Json::array()}}}) : Json::array();
    Json params = Json::array();
    for (const auto& seg : r.segments) {
      if (seg.size() > 2 && seg.front() == '{') {
        params.push_back({{"name", seg.substr(1, seg.size() - 2)},
                          {"in", "path"},
                          {"required", true},
                          {"schema", Type("string")}});
      }
    }
    for (const auto& q : r.doc.query) {
      Json schema = q.type == "integer" ? Int64() : Type(q.type.c_str());
      params.push_back({{"name", q.name},
                        {"in", "query"},
                        {"required", false},
                        {"description", q.description},
                        {"schema", schema}});
    }
    if (!params.empty()) op["parameters"] = params;
    if (!r.doc.request_schema.empty()) {
      op["requestBody"] = {
          {"required", !r.doc.body_optional},
          {"content", {{"application/json", {{"schema", Ref(r.doc.request_schema)}}}}}};
    }
    if (!r.doc.request_content_types.empty()) {
      Json content = Json::object();
      for (const auto& ct : r.doc.request_content_types)
        content[ct] = {{"schema", {{"type", "string"}, {"format", "binary"}}}};
      op["requestBody"] = {{"required", true}, {"content", content}};
    }
    Json ok = {{"description", "success"}};
    if (r.doc.success_status != 204) {
      Json schema = r.doc.response_schema.empty()
                        ? (r.doc.response_content_type == "application/json" ? Type("object")
                                                                             : Type("string"))
                        : Ref(r.doc.response_schema);
      ok["content"] = {{r.doc.response_content_type, {{"schema", schema}}}};
    }
    op["responses"] = {{std::to_string(r.doc.success_status), ok},
                       {"default", {{"$ref", "#/components/responses/Error"}}}};
    paths[r.path][Lower(r.method)] = op;
  }
  doc["paths"] = paths;
  return doc;
}

}  // namespace linli::api
