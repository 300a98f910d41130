// Internal to src/api: helpers shared by the route groups — role checks, scope-checked record
// lookups and typed query parameters. Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/access.h"
#include "api/api_context.h"

namespace linli::api {

inline constexpr int64_t kMaxTime = INT64_MAX;

// PermissionDenied naming the role, the action and the resource unless `p` may do it.
Result<void> Require(const Principal& p, Resource r, Action a = Action::kRead);

// A record of `kind` in the caller's scope; NotFound (naming `field` if given) when absent or
// outside the scope, so that existence does not leak.
Result<model::Record> InScope(ApiContext& ctx, const Principal& p, model::Kind kind,
                              const std::string& id, const std::string& field = "");

// Query parameter `name` ("" if absent); InvalidArgument if longer than `max_len` bytes.
Result<std::string> StringParam(const ApiRequest& req, std::string_view name, size_t max_len);

// ?from= and ?to= (ms since epoch; defaults 0 and no limit); InvalidArgument if to < from.
Result<void> TimeRange(const ApiRequest& req, int64_t* from, int64_t* to);

// An audit entry for the caller; a failure to write it is logged, not returned.
void AuditAction(ApiContext& ctx, const Principal& p, const std::string& action,
                 const std::string& object_kind, const std::string& object_id,
                 const std::string& compound_id, Json detail = Json::object());

}  // namespace linli::api
