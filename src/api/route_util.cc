#include "api/route_util.h"

#include "common/log.h"

namespace linli::api {

Result<void> Require(const Principal& p, Resource r, Action a) {
  if (Allowed(p.role, r, a)) return {};
  return Fail(ErrorCode::kPermissionDenied, "role " + std::string(RoleName(p.role)) + " may not " +
                                                std::string(ActionName(a)) + " " +
                                                std::string(ResourceName(r)));
}

Result<model::Record> InScope(ApiContext& ctx, const Principal& p, model::Kind kind,
                              const std::string& id, const std::string& field) {
  auto missing = Fail(ErrorCode::kNotFound,
                      "no such " + std::string(model::KindName(kind)) + " '" + id.substr(0, 64) + "'",
                      field);
  if (!model::ValidateId(id)) return missing;
  auto rec = ctx.deps.store->GetRecord(kind, id);
  if (!rec) {
    if (rec.error().code() == ErrorCode::kNotFound) return missing;
    return std::unexpected(rec.error());
  }
  if (model::CompoundBound(kind) && !p.InScope(rec->compound_id)) return missing;
  return rec;
}

Result<std::string> StringParam(const ApiRequest& req, std::string_view name, size_t max_len) {
  std::string v = req.Query(name).value_or("");
  if (v.size() > max_len)
    return InvalidArgument(std::string(name),
                           "must be at most " + std::to_string(max_len) + " bytes");
  return v;
}

Result<void> TimeRange(const ApiRequest& req, int64_t* from, int64_t* to) {
  LINLI_ASSIGN_OR_RETURN(*from, IntParam(req, "from", 0, 0, kMaxTime));
  LINLI_ASSIGN_OR_RETURN(*to, IntParam(req, "to", kMaxTime, 0, kMaxTime));
  if (*to < *from) return InvalidArgument("to", "must not be before from");
  return {};
}

void AuditAction(ApiContext& ctx, const Principal& p, const std::string& action,
                 const std::string& object_kind, const std::string& object_id,
                 const std::string& compound_id, Json detail) {
  model::AuditEntry e;
  e.ts_ms = ctx.deps.clock->NowMs();
  e.actor = p.Actor();
  e.action = action;
  e.object_kind = object_kind;
  e.object_id = object_id;
  e.compound_id = compound_id;
  e.remote = p.remote;
  e.detail = std::move(detail);
  auto r = ctx.deps.store->AppendAudit(e);
  if (!r) log::Warn("audit write failed", {{"action", action}, {"error", r.error().ToString()}});
}

}  // namespace linli::api
