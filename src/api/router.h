// The transport-independent side of the HTTP API: request/response values, the route table
// (method + path template → handler, with the documentation the OpenAPI file is checked
// against) and small parsing helpers. No Beast here; http_server.cc converts to and from Beast.
// Thread-safety: a Router is built once and then only read (Find, routes) from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/principal.h"
#include "common/json.h"
#include "common/result.h"

namespace linli::api {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the raw (still percent-encoded) path without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string content_type;
  std::string authorization;  // the Authorization header
  std::string accept;
  std::string body;
  std::string remote;  // client IP address

  // The last value of query parameter `name`, if present.
  std::optional<std::string> Query(std::string_view name) const;
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static ApiResponse FromJson(int status, const Json& j);
  static ApiResponse FromError(const Error& e);
};

// What a handler gets: the request, the path parameters, the authenticated caller (for routes
// that require authentication) and the parsed JSON body (null when the route takes none or
// the body was empty).
struct RequestContext {
  const ApiRequest& req;
  std::map<std::string, std::string> params;
  Principal principal;
  Json body;
  // Set by handlers that fail with 429 to produce a Retry-After header (seconds, rounded up).
  int64_t retry_after_ms = 0;

  const std::string& Param(const std::string& name) const;
};

using Handler = std::function<Result<ApiResponse>(RequestContext&)>;

struct QueryParamDoc {
  std::string name;
  std::string type = "string";  // "string", "integer", "boolean"
  std::string description;
};

// Documentation and dispatch flags of one route; also the source of docs/openapi.json.
struct RouteDoc {
  std::string summary;
  std::string description;  // who may call it, what it does
  std::string tag;
  bool auth = true;             // requires a bearer token
  std::string request_schema;   // "" = no body; otherwise the components/schemas name
  bool body_optional = false;   // an empty body is accepted (as null)
  std::string response_schema;  // components/schemas name, or "" for a generic object
  int success_status = 200;
  std::vector<QueryParamDoc> query;
  std::string response_content_type = "application/json";
  // Raw (non-JSON) request bodies the route accepts, e.g. {"image/jpeg", "video/mp4"}; the
  // handler reads RequestContext::req.body. Mutually exclusive with request_schema.
  std::vector<std::string> request_content_types;
  // Per-route body limit (0 = the server's max_body_bytes).
  size_t max_body_bytes = 0;
};

struct Route {
  std::string method;
  std::string path;  // template, e.g. "/api/v1/devices/{id}/telemetry"
  std::vector<std::string> segments;
  Handler handler;
  RouteDoc doc;
};

class Router {
 public:
  // Registers a route. Path templates are absolute, segments in {braces} are parameters.
  void Add(std::string method, std::string path, Handler handler, RouteDoc doc);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    // When no route matched the method but some matched the path: their methods (for 405).
    std::vector<std::string> allowed_methods;
  };
  // Literal segments win over parameters. `path` is raw; each segment is percent-decoded
  // (so "%2F" inside an id never splits a segment).
  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Percent-decodes `s` ('+' stays '+' unless `plus_is_space`). nullopt on malformed escapes or
// a decoded NUL byte.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);
// Splits "a=1&b=x%20y" into decoded pairs; nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    std::string_view qs);

// Integer query parameter `name`: `def` if absent; InvalidArgument naming it if not an integer
// or outside [lo, hi].
Result<int64_t> IntParam(const ApiRequest& req, std::string_view name, int64_t def, int64_t lo,
                         int64_t hi);
// Boolean query parameter: "true"/"1" or "false"/"0".
Result<bool> BoolParam(const ApiRequest& req, std::string_view name, bool def);

}  // namespace linli::api
