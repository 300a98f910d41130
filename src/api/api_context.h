// Internal to src/api: the state shared by the route handlers and the HTTP layer, the route
// table builder and the transport-independent request dispatcher.
// Thread-safety: built once before the server starts; afterwards only const use and the
// components' own thread-safe methods.
#pragma once

#include <memory>
#include <string>

#include "api/auth.h"
#include "api/feed_hub.h"
#include "api/registry_service.h"
#include "api/router.h"
#include "api/server.h"
#include "common/metrics.h"

namespace linli::api {

struct ApiContext {
  ApiContext(const ServerOptions& options, const ApiDeps& deps);

  ServerOptions options;
  ApiDeps deps;
  metrics::Registry* metrics;  // deps.metrics or the process default
  std::unique_ptr<RegistryService> registry;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<FeedHub> feed;
};

// Every route of the API. `ctx` may be null to list routes only (openapi tests, generator).
Router BuildRouter(ApiContext* ctx);

// Route groups (routes_*.cc).
void AddSystemRoutes(Router& r, ApiContext* ctx);    // health, openapi, auth, metrics, feed
void AddRegistryRoutes(Router& r, ApiContext* ctx);  // the collections, credentials, api keys
void AddQueryRoutes(Router& r, ApiContext* ctx);     // telemetry, events, faults, audit, ...
void AddMediaRoutes(Router& r, ApiContext* ctx);     // snapshots, clips, photos
void AddIncidentRoutes(Router& r, ApiContext* ctx);  // rules, alarms, work orders, commands

// Runs one API request: routing (404/405), authentication (401), body checks (415, 400),
// the handler (exceptions become 500), error mapping, Retry-After on 429, an audit entry for
// every 403, metrics and the access log. Never throws.
ApiResponse Dispatch(ApiContext& ctx, const Router& router, const ApiRequest& req);

// The live feed's authentication: bearer header or ?token=, and the feed permission
// (residents are refused). Denials are audited.
Result<Principal> AuthenticateFeed(ApiContext& ctx, const ApiRequest& req);

// Records linli_http_requests_total{route,code}, the duration histogram and the access log.
void RecordRequest(ApiContext& ctx, const ApiRequest& req, const std::string& route, int status,
                   double seconds, const std::string& user);

// "Bearer X" → "X" (scheme case-insensitive); empty if absent or another scheme.
std::string BearerToken(std::string_view authorization);

}  // namespace linli::api
