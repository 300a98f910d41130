// Routes: registry CRUD for every model::Kind, device credential rotation, API keys.
#include "api/access.h"
#include "api/api_context.h"

namespace linli::api {
namespace {

std::string WhoMayWrite(model::Kind kind) {
  std::string roles;
  for (Role role : kAllRoles) {
    if (Allowed(role, ResourceOf(kind), Action::kCreate))
      roles += (roles.empty() ? "" : ", ") + std::string(RoleName(role));
  }
  return roles;
}

std::string WhoMayRead(model::Kind kind) {
  std::string roles;
  for (Role role : kAllRoles) {
    if (!Allowed(role, ResourceOf(kind), Action::kRead)) continue;
    roles += (roles.empty() ? "" : ", ") + std::string(RoleName(role));
    if (role == Role::kResident) roles += " (own household only)";
  }
  return roles;
}

std::string PiiNote(model::Kind kind) {
  std::string fields;
  for (const auto& f : model::Spec(kind).fields) {
    if (f.pii) fields += (fields.empty() ? "" : ", ") + f.name;
  }
  if (fields.empty()) return "";
  return " Personal data (" + fields +
         ") is encrypted at rest; id numbers are shown in full to admin, police and grid_worker, "
         "phone "
         "numbers also to operator, masked to everyone else; filters on these fields match "
         "exactly.";
}

}  // namespace

void AddRegistryRoutes(Router& r, ApiContext* ctx) {
  for (model::Kind kind : model::AllKinds()) {
    const auto& spec = model::Spec(kind);
    const std::string base = "/api/v1/" + spec.collection;
    const std::string schema = "Kind_" + spec.name;
    const std::string read_roles = "Roles: " + WhoMayRead(kind) + ".";
    const std::string write_roles = "Roles: " + WhoMayWrite(kind) + ".";
    const std::string scope_note =
        !model::CompoundBound(kind)
            ? std::string()
            : " Records outside the caller's compound scope are not found (404).";

    std::vector<QueryParamDoc> list_params = {
        {"limit", "integer", "1..1000, default 50"},
        {"offset", "integer", ">= 0, default 0"},
        {"q", "string", "case-insensitive substring of the " + spec.label_field}};
    for (const auto& f : spec.fields) {
      if (f.filterable && !f.write_only) list_params.push_back({f.name, "string", "exact match"});
    }

    std::string create_note =
        write_roles + scope_note + PiiNote(kind) +
        " The client may give \"id\"; otherwise a UUID is generated. References "
        "to other records must exist, be in scope and belong to the same compound "
        "(400 naming the field).";
    if (kind == model::Kind::kDevice) {
      create_note +=
          " When an MQTT broker is configured the answer carries \"mqtt\" {client_id, username, "
          "password, topic_prefix}; the password is shown only this once. 503 if the broker "
          "refuses (nothing is created).";
    }
    if (kind == model::Kind::kUser) {
      create_note += " \"password\" is write-only (Argon2id hash stored).";
    }

    r.Add("POST", base,
          [ctx, kind](RequestContext& rc) -> Result<ApiResponse> {
            LINLI_ASSIGN_OR_RETURN(Json out, ctx->registry->Create(rc.principal, kind, rc.body));
            return ApiResponse::FromJson(201, out);
          },
          {.summary = "Create a " + spec.name,
           .description = create_note,
           .tag = spec.collection,
           .request_schema = schema + "_create",
           .response_schema = schema,
           .success_status = 201});

    r.Add("GET", base,
          [ctx, kind](RequestContext& rc) -> Result<ApiResponse> {
            ListParams lp;
            for (const auto& [k, v] : rc.req.query) {
              if (k == "limit" || k == "offset") continue;
              if (k == "q") {
                lp.search = v;
                continue;
              }
              lp.filters.emplace_back(k, v);
            }
            LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 50, 1, 1000));
            LINLI_ASSIGN_OR_RETURN(int64_t offset, IntParam(rc.req, "offset", 0, 0, 1'000'000'000));
            lp.limit = static_cast<int>(limit);
            lp.offset = static_cast<int>(offset);
            LINLI_ASSIGN_OR_RETURN(Json out, ctx->registry->List(rc.principal, kind, lp));
            return ApiResponse::FromJson(200, out);
          },
          {.summary = "List " + spec.collection,
           .description = read_roles + scope_note + PiiNote(kind) +
                          " Unknown or non-filterable query parameters are rejected (400).",
           .tag = spec.collection,
           .response_schema = schema + "_list",
           .query = list_params});

    r.Add("GET", base + "/{id}",
          [ctx, kind](RequestContext& rc) -> Result<ApiResponse> {
            LINLI_ASSIGN_OR_RETURN(Json out,
                                   ctx->registry->Get(rc.principal, kind, rc.Param("id")));
            return ApiResponse::FromJson(200, out);
          },
          {.summary = "Get a " + spec.name,
           .description = read_roles + scope_note + PiiNote(kind),
           .tag = spec.collection,
           .response_schema = schema});

    r.Add("PATCH", base + "/{id}",
          [ctx, kind](RequestContext& rc) -> Result<ApiResponse> {
            LINLI_ASSIGN_OR_RETURN(
                Json out, ctx->registry->Update(rc.principal, kind, rc.Param("id"), rc.body));
            return ApiResponse::FromJson(200, out);
          },
          {.summary = "Change fields of a " + spec.name,
           .description =
               write_roles + scope_note +
               " Only the given fields change; null clears an optional field; immutable fields "
               "cannot be changed." +
               (kind == model::Kind::kUser
                    ? std::string(" Disabling a user or changing their password revokes their "
                                  "tokens; nobody can disable themselves and the last enabled "
                                  "admin cannot be disabled or demoted (409).")
                    : std::string()),
           .tag = spec.collection,
           .request_schema = schema + "_patch",
           .response_schema = schema});

    r.Add(
        "DELETE", base + "/{id}",
        [ctx, kind](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(ctx->registry->Delete(rc.principal, kind, rc.Param("id")));
          return ApiResponse{204, "", "application/json", {}};
        },
        {.summary = "Delete a " + spec.name,
         .description =
             write_roles + scope_note + " 409 while other records reference it." +
             (kind == model::Kind::kUser
                  ? std::string(" You cannot delete yourself or the last enabled admin.")
                  : std::string()) +
             (kind == model::Kind::kDevice ? std::string(" Also removes the device's MQTT account.")
                                           : std::string()),
         .tag = spec.collection,
         .success_status = 204});
  }

  r.Add("POST", "/api/v1/devices/{id}/credentials",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_ASSIGN_OR_RETURN(
              Json out, ctx->registry->RotateDeviceCredentials(rc.principal, rc.Param("id")));
          return ApiResponse::FromJson(200, out);
        },
        {.summary = "Rotate a device's MQTT password",
         .description =
             "Roles: admin, operator, integrator. Answers the new password once. 409 if no broker "
             "is configured, 503 if the broker does not answer.",
         .tag = "devices",
         .response_schema = "DeviceCredentials"});

  r.Add("POST", "/api/v1/users/{id}/api-keys",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_ASSIGN_OR_RETURN(Json out,
                                 ctx->auth->CreateApiKey(rc.principal, rc.Param("id"), rc.body));
          return ApiResponse::FromJson(201, out);
        },
        {.summary = "Create an API key for a user",
         .description =
             "Admin only. The key is shown only in this answer and stored hashed; it does not "
             "expire and is used as 'Authorization: Bearer <key>'. It is revoked when the user "
             "is disabled or deleted.",
         .tag = "users",
         .request_schema = "ApiKeyRequest",
         .body_optional = true,
         .response_schema = "ApiKey",
         .success_status = 201});
}

}  // namespace linli::api
