// Routes: health, OpenAPI document, authentication, metrics and the live feed's HTTP fallback.
#include <fstream>
#include <sstream>

#include "api/access.h"
#include "api/api_context.h"

#ifndef LINLI_VERSION
#define LINLI_VERSION "dev"
#endif

namespace linli::api {

void AddSystemRoutes(Router& r, ApiContext* ctx) {
  r.Add("GET", "/api/v1/health",
        [ctx](RequestContext&) -> Result<ApiResponse> {
          return ApiResponse::FromJson(200, Json{{"status", "ok"},
                                                 {"version", LINLI_VERSION},
                                                 {"time_ms", ctx->deps.clock->NowMs()}});
        },
        {.summary = "Liveness and version",
         .description = "No authentication. Answers {status, version, time_ms}.",
         .tag = "system",
         .auth = false,
         .response_schema = "Health"});

  r.Add("GET", "/api/v1/openapi.json",
        [ctx](RequestContext&) -> Result<ApiResponse> {
          if (ctx->options.openapi_path.empty())
            return Fail(ErrorCode::kNotFound, "no OpenAPI document configured");
          std::ifstream in(ctx->options.openapi_path, std::ios::binary);
          if (!in) return Fail(ErrorCode::kNotFound, "OpenAPI document not found");
          std::stringstream ss;
          ss << in.rdbuf();
          ApiResponse resp;
          resp.body = ss.str();
          return resp;
        },
        {.summary = "This API's OpenAPI 3 document",
         .description = "No authentication.",
         .tag = "system",
         .auth = false});

  r.Add("POST", "/api/v1/auth/login",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_ASSIGN_OR_RETURN(std::string username, RequireString(rc.body, "username"));
          LINLI_ASSIGN_OR_RETURN(std::string password, RequireString(rc.body, "password"));
          for (auto it = rc.body.begin(); it != rc.body.end(); ++it) {
            if (it.key() != "username" && it.key() != "password") {
              return InvalidArgument(it.key(), "is not a field of a login request");
            }
          }
          LINLI_ASSIGN_OR_RETURN(
              Json out, ctx->auth->Login(username, password, rc.req.remote, &rc.retry_after_ms));
          return ApiResponse::FromJson(200, out);
        },
        {.summary = "Log in with username and password",
         .description =
             "Returns an opaque session token (send it as 'Authorization: Bearer <token>') valid "
             "for the configured session TTL. Failures are counted per username and per client "
             "address; after too many within the window the answer is 429 with Retry-After.",
         .tag = "auth",
         .auth = false,
         .request_schema = "LoginRequest",
         .response_schema = "LoginResponse"});

  r.Add("POST", "/api/v1/auth/logout",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(ctx->auth->Logout(rc.principal));
          return ApiResponse{204, "", "application/json", {}};
        },
        {.summary = "Revoke the current session token",
         .description = "Any role. API keys cannot log out (409).",
         .tag = "auth",
         .success_status = 204});

  r.Add("GET", "/api/v1/auth/me",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_ASSIGN_OR_RETURN(Json out, ctx->auth->Me(rc.principal));
          return ApiResponse::FromJson(200, out);
        },
        {.summary = "The caller's user record and effective scope",
         .description = "Any role.",
         .tag = "auth",
         .response_schema = "Me"});

  r.Add("GET", "/metrics",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          if (!Allowed(rc.principal.role, Resource::kMetrics, Action::kRead)) {
            return Fail(ErrorCode::kPermissionDenied, "only admins may read metrics");
          }
          ApiResponse resp;
          resp.body = ctx->metrics->Render();
          resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
          return resp;
        },
        {.summary = "Prometheus metrics",
         .description = "Admin only (bearer token). Text exposition format 0.0.4.",
         .tag = "system",
         .response_content_type = "text/plain"});

  r.Add(
      "GET", "/api/v1/feed",
      [](RequestContext&) -> Result<ApiResponse> {
        // Reached only when the request is neither a WebSocket upgrade nor asks for SSE.
        return ApiResponse::FromJson(
            406, Json{{"error",
                       {{"code", "not_acceptable"},
                        {"message", "use a WebSocket upgrade or 'Accept: text/event-stream'"}}}});
      },
      {.summary = "Live feed (WebSocket or server-sent events)",
       .description =
           "Upgrade to a WebSocket, or send 'Accept: text/event-stream' for server-sent events. "
           "Authenticate with the Authorization header or ?token= (browsers cannot set headers on "
           "WebSockets). Each message is a JSON object {type, compound_id, ts_ms, data} for a "
           "compound in the caller's scope. Roles: admin, operator, technician, grid_worker, "
           "police, "
           "integrator; residents are refused (403). A slow client loses the oldest messages.",
       .tag = "feed",
       .response_schema = "FeedItem",
       .query = {{"token", "string", "bearer token, for clients that cannot set headers"}}});
}

}  // namespace linli::api
