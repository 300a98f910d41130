// Routes: device data (telemetry, status history, events, faults, online ratios) and the
// admin logs (dead letters, audit). All scope-checked: a device or compound outside the
// caller's scope is not found (404).
#include <climits>
#include <variant>

#include "api/access.h"
#include "api/api_context.h"
#include "api/route_util.h"

namespace linli::api {
namespace {


Json TelemetryJson(const model::TelemetryPoint& t) {
  Json j{{"metric", t.metric}, {"ts_ms", t.ts_ms}};
  std::visit([&](const auto& v) { j["value"] = v; }, t.value);
  return j;
}

Json EventJson(const model::Event& e) {
  return Json{{"id", e.id},
              {"compound_id", e.compound_id},
              {"device_id", e.device_id},
              {"type", e.type},
              {"ts_ms", e.ts_ms},
              {"received_ms", e.received_ms},
              {"data", e.data}};
}

Json FaultJson(const model::DeviceFault& f) {
  return Json{{"id", f.id},
              {"device_id", f.device_id},
              {"compound_id", f.compound_id},
              {"kind", f.kind},
              {"opened_ms", f.opened_ms},
              {"closed_ms", f.closed_ms ? Json(*f.closed_ms) : Json(nullptr)},
              {"detail", f.detail}};
}

Json OnlineJson(const std::string& compound_id, const PresenceView::Ratio& r) {
  return Json{
      {"compound_id", compound_id},
      {"total", r.total},
      {"online", r.online},
      {"ratio", r.total > 0 ? static_cast<double>(r.online) / static_cast<double>(r.total) : 0.0}};
}


const std::string kDataRoles =
    "Roles: admin, operator, technician, grid_worker, police, integrator. A device or compound "
    "outside the "
    "caller's scope is not found (404).";

}  // namespace

void AddQueryRoutes(Router& r, ApiContext* ctx) {
  const std::vector<QueryParamDoc> range = {
      {"from", "integer", "ms since epoch, inclusive (default 0)"},
      {"to", "integer", "ms since epoch, exclusive (default: no limit)"}};
  auto with = [](std::vector<QueryParamDoc> a, const std::vector<QueryParamDoc>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  r.Add("GET", "/api/v1/devices/{id}/telemetry",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeviceData));
          LINLI_ASSIGN_OR_RETURN(auto device,
                                 InScope(*ctx, rc.principal, model::Kind::kDevice, rc.Param("id")));
          store::TelemetryQuery q;
          q.device_id = device.id;
          LINLI_ASSIGN_OR_RETURN(q.metric, StringParam(rc.req, "metric", 100));
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 1000, 1, 100000));
          q.limit = static_cast<int>(limit);
          LINLI_ASSIGN_OR_RETURN(auto points, ctx->deps.store->QueryTelemetry(q));
          Json items = Json::array();
          for (const auto& t : points) items.push_back(TelemetryJson(t));
          return ApiResponse::FromJson(200,
                                       Json{{"device_id", device.id}, {"items", std::move(items)}});
        },
        {.summary = "Telemetry of a device (oldest first)",
         .description = kDataRoles,
         .tag = "device data",
         .response_schema = "TelemetryList",
         .query = with({{"metric", "string", "one metric (default all)"},
                        {"limit", "integer", "1..100000, default 1000"}},
                       range)});

  r.Add("GET", "/api/v1/devices/{id}/status-history",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeviceData));
          LINLI_ASSIGN_OR_RETURN(auto device,
                                 InScope(*ctx, rc.principal, model::Kind::kDevice, rc.Param("id")));
          int64_t from = 0, to = 0;
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &from, &to));
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 100, 1, 10000));
          LINLI_ASSIGN_OR_RETURN(auto changes, ctx->deps.store->QueryStatusHistory(
                                                   device.id, from, to, static_cast<int>(limit)));
          Json items = Json::array();
          for (const auto& c : changes) {
            items.push_back(Json{{"status", std::string(model::PresenceName(c.status))},
                                 {"ts_ms", c.ts_ms},
                                 {"reason", c.reason}});
          }
          return ApiResponse::FromJson(200,
                                       Json{{"device_id", device.id}, {"items", std::move(items)}});
        },
        {.summary = "Presence changes of a device",
         .description = kDataRoles,
         .tag = "device data",
         .response_schema = "StatusHistory",
         .query = with({{"limit", "integer", "1..10000, default 100"}}, range)});

  r.Add("GET", "/api/v1/events",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeviceData));
          store::EventQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(std::string compound, StringParam(rc.req, "compound", 64));
          if (!compound.empty()) {
            LINLI_RETURN_IF_ERROR(
                InScope(*ctx, rc.principal, model::Kind::kCompound, compound, "compound"));
            q.compound_id = compound;
          }
          LINLI_ASSIGN_OR_RETURN(std::string device, StringParam(rc.req, "device", 64));
          if (!device.empty()) {
            LINLI_RETURN_IF_ERROR(
                InScope(*ctx, rc.principal, model::Kind::kDevice, device, "device"));
            q.device_id = device;
          }
          LINLI_ASSIGN_OR_RETURN(q.type, StringParam(rc.req, "type", 100));
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 100, 1, 10000));
          LINLI_ASSIGN_OR_RETURN(int64_t offset, IntParam(rc.req, "offset", 0, 0, 1'000'000'000));
          q.limit = static_cast<int>(limit);
          q.offset = static_cast<int>(offset);
          LINLI_ASSIGN_OR_RETURN(auto events, ctx->deps.store->QueryEvents(q));
          Json items = Json::array();
          for (const auto& e : events) items.push_back(EventJson(e));
          return ApiResponse::FromJson(
              200, Json{{"items", std::move(items)}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "Device events (newest first)",
         .description =
             kDataRoles + " \"type\" is exact or a prefix when it ends with '*' (\"door.*\").",
         .tag = "device data",
         .response_schema = "EventList",
         .query = with({{"compound", "string", "compound id"},
                        {"device", "string", "device id"},
                        {"type", "string", "event type, or prefix ending with *"},
                        {"limit", "integer", "1..10000, default 100"},
                        {"offset", "integer", ">= 0"}},
                       range)});

  r.Add("GET", "/api/v1/compounds/{id}/online",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeviceData));
          LINLI_ASSIGN_OR_RETURN(
              auto compound, InScope(*ctx, rc.principal, model::Kind::kCompound, rc.Param("id")));
          if (ctx->deps.presence == nullptr)
            return Fail(ErrorCode::kUnavailable, "presence is not available");
          return ApiResponse::FromJson(
              200, OnlineJson(compound.id, ctx->deps.presence->CompoundOnline(compound.id)));
        },
        {.summary = "Online ratio of a compound's devices",
         .description = kDataRoles,
         .tag = "device data",
         .response_schema = "Online"});

  r.Add("GET", "/api/v1/stats/online",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeviceData));
          if (ctx->deps.presence == nullptr)
            return Fail(ErrorCode::kUnavailable, "presence is not available");
          LINLI_ASSIGN_OR_RETURN(auto compounds, ctx->deps.store->LoadAll(model::Kind::kCompound));
          Json items = Json::array();
          PresenceView::Ratio sum;
          for (const auto& c : compounds) {
            if (!rc.principal.InScope(c.id)) continue;
            auto ratio = ctx->deps.presence->CompoundOnline(c.id);
            sum.total += ratio.total;
            sum.online += ratio.online;
            Json item = OnlineJson(c.id, ratio);
            auto name = c.fields.find("name");
            item["name"] = name != c.fields.end() ? *name : Json("");
            items.push_back(std::move(item));
          }
          Json out = OnlineJson("", sum);
          out.erase("compound_id");
          out["items"] = std::move(items);
          return ApiResponse::FromJson(200, out);
        },
        {.summary = "Online ratios of every compound in scope, and their sum",
         .description = kDataRoles,
         .tag = "device data",
         .response_schema = "OnlineStats"});

  r.Add("GET", "/api/v1/faults",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeviceData));
          store::FaultQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(std::string compound, StringParam(rc.req, "compound", 64));
          if (!compound.empty()) {
            LINLI_RETURN_IF_ERROR(
                InScope(*ctx, rc.principal, model::Kind::kCompound, compound, "compound"));
            q.compound_ids = std::vector<std::string>{compound};
          }
          LINLI_ASSIGN_OR_RETURN(std::string device, StringParam(rc.req, "device", 64));
          if (!device.empty()) {
            LINLI_RETURN_IF_ERROR(
                InScope(*ctx, rc.principal, model::Kind::kDevice, device, "device"));
            q.device_id = device;
          }
          LINLI_ASSIGN_OR_RETURN(q.open_only, BoolParam(rc.req, "open", false));
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 100, 1, 10000));
          LINLI_ASSIGN_OR_RETURN(int64_t offset, IntParam(rc.req, "offset", 0, 0, 1'000'000'000));
          q.limit = static_cast<int>(limit);
          q.offset = static_cast<int>(offset);
          LINLI_ASSIGN_OR_RETURN(auto faults, ctx->deps.store->ListFaults(q));
          Json items = Json::array();
          for (const auto& f : faults) items.push_back(FaultJson(f));
          return ApiResponse::FromJson(
              200, Json{{"items", std::move(items)}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "Device faults",
         .description = kDataRoles,
         .tag = "device data",
         .response_schema = "FaultList",
         .query = {{"compound", "string", "compound id"},
                   {"device", "string", "device id"},
                   {"open", "boolean", "only open faults"},
                   {"limit", "integer", "1..10000, default 100"},
                   {"offset", "integer", ">= 0"}}});

  r.Add("GET", "/api/v1/dead-letters",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kDeadLetters));
          LINLI_ASSIGN_OR_RETURN(int64_t from, IntParam(rc.req, "from", 0, 0, kMaxTime));
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 100, 1, 1000));
          LINLI_ASSIGN_OR_RETURN(int64_t offset, IntParam(rc.req, "offset", 0, 0, 1'000'000'000));
          LINLI_ASSIGN_OR_RETURN(auto letters,
                                 ctx->deps.store->ListDeadLetters(from, static_cast<int>(limit),
                                                                  static_cast<int>(offset)));
          LINLI_ASSIGN_OR_RETURN(int64_t total, ctx->deps.store->CountDeadLetters());
          Json items = Json::array();
          for (const auto& d : letters) {
            items.push_back(Json{{"id", d.id},
                                 {"received_ms", d.received_ms},
                                 {"source", d.source},
                                 {"topic", d.topic},
                                 {"reason", d.reason},
                                 {"detail", d.detail},
                                 {"payload", d.payload},
                                 {"payload_size", d.payload_size}});
          }
          return ApiResponse::FromJson(200, Json{{"items", std::move(items)},
                                                 {"total", total},
                                                 {"limit", limit},
                                                 {"offset", offset}});
        },
        {.summary = "Inputs that could not be processed",
         .description = "Admin only. Payloads are returned as text (invalid UTF-8 replaced).",
         .tag = "admin",
         .response_schema = "DeadLetterList",
         .query = {{"from", "integer", "received at or after (ms)"},
                   {"limit", "integer", "1..1000, default 100"},
                   {"offset", "integer", ">= 0"}}});

  r.Add("GET", "/api/v1/audit",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kAudit));
          store::AuditQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(q.actor, StringParam(rc.req, "actor", 100));
          LINLI_ASSIGN_OR_RETURN(q.action, StringParam(rc.req, "action", 100));
          LINLI_RETURN_IF_ERROR(TimeRange(rc.req, &q.from_ms, &q.to_ms));
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 100, 1, 1000));
          LINLI_ASSIGN_OR_RETURN(int64_t offset, IntParam(rc.req, "offset", 0, 0, 1'000'000'000));
          q.limit = static_cast<int>(limit);
          q.offset = static_cast<int>(offset);
          LINLI_ASSIGN_OR_RETURN(auto entries, ctx->deps.store->ListAudit(q));
          Json items = Json::array();
          for (const auto& e : entries) {
            items.push_back(Json{{"id", e.id},
                                 {"ts_ms", e.ts_ms},
                                 {"actor", e.actor},
                                 {"action", e.action},
                                 {"object_kind", e.object_kind},
                                 {"object_id", e.object_id},
                                 {"compound_id", e.compound_id},
                                 {"remote", e.remote},
                                 {"detail", e.detail}});
          }
          return ApiResponse::FromJson(
              200, Json{{"items", std::move(items)}, {"limit", limit}, {"offset", offset}});
        },
        {.summary = "The audit log",
         .description = "Admin only (a scoped admin sees the entries of their compounds).",
         .tag = "admin",
         .response_schema = "AuditList",
         .query =
             with({{"actor", "string", "username"},
                   {"action", "string", "login, login_failed, create, update, delete, denied, ..."},
                   {"limit", "integer", "1..1000, default 100"},
                   {"offset", "integer", ">= 0"}},
                  range)});
}

}  // namespace linli::api
