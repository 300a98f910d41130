#include <algorithm>
#include <cctype>
#include <exception>

#include "api/access.h"
#include "api/api_context.h"
#include "api/http_errors.h"
#include "common/log.h"

namespace linli::api {
namespace {

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsJsonContentType(std::string_view ct) {
  size_t semi = ct.find(';');
  std::string media = LowerAscii(ct.substr(0, semi));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  while (!media.empty() && media.front() == ' ') media.erase(media.begin());
  return media == "application/json";
}

ApiResponse SimpleError(int status, std::string code, std::string message) {
  return ApiResponse::FromJson(
      status, Json{{"error", {{"code", std::move(code)}, {"message", std::move(message)}}}});
}

void AuditDenied(ApiContext& ctx, const Principal& p, const ApiRequest& req,
                 const std::string& route, const std::string& message) {
  model::AuditEntry e;
  e.ts_ms = ctx.deps.clock->NowMs();
  e.actor = p.Actor();
  e.action = "denied";
  e.object_kind = "route";
  e.object_id = req.method + " " + route;
  e.remote = p.remote;
  e.detail = Json{{"message", message}};
  auto r = ctx.deps.store->AppendAudit(e);
  if (!r) log::Warn("audit write failed", {{"action", "denied"}, {"error", r.error().ToString()}});
}

}  // namespace

Server::~Server() = default;

ApiContext::ApiContext(const ServerOptions& opts, const ApiDeps& d)
    : options(opts), deps(d), metrics(d.metrics != nullptr ? d.metrics : &metrics::Default()) {
  if (deps.clock == nullptr) deps.clock = &SystemClock();
  RegistryOptions ro;
  ro.password_hash_interactive = options.password_hash_interactive;
  registry = std::make_unique<RegistryService>(deps, ro);
  AuthOptions ao;
  ao.session_ttl_ms = options.session_ttl_ms;
  ao.login_max_failures = options.login_max_failures;
  ao.login_window_ms = options.login_window_ms;
  ao.password_hash_interactive = options.password_hash_interactive;
  auth = std::make_unique<Authenticator>(deps, registry.get(), ao);
  feed = std::make_unique<FeedHub>(metrics, options.feed_queue_capacity);
}

Router BuildRouter(ApiContext* ctx) {
  Router r;
  AddSystemRoutes(r, ctx);
  AddRegistryRoutes(r, ctx);
  AddQueryRoutes(r, ctx);
  AddMediaRoutes(r, ctx);
  AddIncidentRoutes(r, ctx);
  return r;
}

std::string BearerToken(std::string_view authorization) {
  size_t b = 0;
  while (b < authorization.size() && authorization[b] == ' ') ++b;
  authorization.remove_prefix(b);
  if (authorization.size() < 7 || LowerAscii(authorization.substr(0, 7)) != "bearer ") return {};
  std::string_view t = authorization.substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return std::string(t);
}

void RecordRequest(ApiContext& ctx, const ApiRequest& req, const std::string& route, int status,
                   double seconds, const std::string& user) {
  const std::string code = std::to_string(status);
  ctx.metrics
      ->GetCounter("linli_http_requests_total", "HTTP requests by route template and status",
                   {{"route", route}, {"code", code}})
      .Inc();
  static const std::vector<double> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10};
  ctx.metrics
      ->GetHistogram("linli_http_request_duration_seconds", "HTTP request handling time", kBounds,
                     {{"route", route}})
      .Observe(seconds);
  // Never the query string (it may carry ?token=) and never bodies.
  log::Info("http", {{"method", req.method.substr(0, 16)},
                     {"path", req.path.substr(0, 200)},
                     {"route", route},
                     {"status", code},
                     {"ms", std::to_string(static_cast<int64_t>(seconds * 1000))},
                     {"remote", req.remote},
                     {"user", user}});
}

Result<Principal> AuthenticateFeed(ApiContext& ctx, const ApiRequest& req) {
  std::string token = BearerToken(req.authorization);
  if (token.empty()) token = req.Query("token").value_or("");
  LINLI_ASSIGN_OR_RETURN(Principal p, ctx.auth->Authenticate(token, req.remote));
  if (!Allowed(p.role, Resource::kFeed, Action::kRead)) {
    std::string msg =
        "role " + std::string(RoleName(p.role)) + " may not subscribe to the live feed";
    AuditDenied(ctx, p, req, "/api/v1/feed", msg);
    return Fail(ErrorCode::kPermissionDenied, msg);
  }
  return p;
}

ApiResponse Dispatch(ApiContext& ctx, const Router& router, const ApiRequest& req) {
  const auto start = ctx.deps.clock->Monotonic();
  std::string route = "unmatched";
  std::string user;
  ApiResponse resp;
  try {
    Router::Match m = router.Find(req.method, req.path);
    if (m.route == nullptr) {
      if (!m.allowed_methods.empty()) {
        std::sort(m.allowed_methods.begin(), m.allowed_methods.end());
        std::string allow;
        for (const auto& a : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + a;
        resp = SimpleError(405, "method_not_allowed",
                           "method " + req.method.substr(0, 16) + " is not allowed here");
        resp.headers.emplace_back("Allow", allow);
      } else {
        resp = SimpleError(404, "not_found", "no such route");
      }
    } else {
      route = m.route->path;
      const RouteDoc& doc = m.route->doc;
      RequestContext rc{req, std::move(m.params), Principal(), Json(), 0};
      rc.principal.remote = req.remote;
      std::optional<ApiResponse> early;
      if (doc.auth) {
        auto p = ctx.auth->Authenticate(BearerToken(req.authorization), req.remote);
        if (!p) {
          early = ApiResponse::FromError(p.error());
          if (p.error().code() == ErrorCode::kUnauthenticated)
            early->headers.emplace_back("WWW-Authenticate", "Bearer");
        } else {
          rc.principal = std::move(*p);
          user = rc.principal.username;
        }
      }
      if (!early && !doc.request_schema.empty()) {
        if (req.body.empty()) {
          if (!doc.body_optional)
            early = ApiResponse::FromError(
                Error(ErrorCode::kInvalidArgument, "a JSON body is required"));
        } else if (!IsJsonContentType(req.content_type)) {
          early = SimpleError(415, "unsupported_media_type", "the body must be application/json");
        } else {
          auto j = ParseJson(req.body);
          if (!j) {
            early = ApiResponse::FromError(j.error());
          } else {
            rc.body = std::move(*j);
          }
        }
      }
      if (early) {
        resp = std::move(*early);
      } else {
        Result<ApiResponse> r = m.route->handler(rc);
        if (r) {
          resp = std::move(*r);
        } else {
          const Error& e = r.error();
          if (e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kUnavailable) {
            log::Error("request failed", {{"route", route}, {"error", e.ToString()}});
          }
          resp = ApiResponse::FromError(e);
          if (e.code() == ErrorCode::kResourceExhausted && rc.retry_after_ms > 0) {
            resp.headers.emplace_back("Retry-After",
                                      std::to_string((rc.retry_after_ms + 999) / 1000));
          }
          if (e.code() == ErrorCode::kPermissionDenied)
            AuditDenied(ctx, rc.principal, req, route, e.message());
        }
      }
    }
  } catch (const std::exception& ex) {
    log::Error("handler threw", {{"route", route}, {"what", ex.what()}});
    resp = ApiResponse::FromError(Error(ErrorCode::kInternal, ex.what()));
  } catch (...) {
    log::Error("handler threw", {{"route", route}});
    resp = ApiResponse::FromError(Error(ErrorCode::kInternal, "unknown exception"));
  }
  const double seconds = std::chrono::duration<double>(ctx.deps.clock->Monotonic() - start).count();
  RecordRequest(ctx, req, route, resp.status, seconds, user);
  return resp;
}

Result<bool> EnsureAdminUser(const ApiDeps& deps, const std::string& password) {
  if (password.size() < 8) return InvalidArgument("password", "must be at least 8 characters");
  if (deps.store == nullptr) return Fail(ErrorCode::kFailedPrecondition, "no store");
  store::ListQuery q;
  q.kind = model::Kind::kUser;
  q.limit = 1;
  LINLI_ASSIGN_OR_RETURN(auto existing, deps.store->ListRecords(q));
  if (existing.total > 0 || !existing.items.empty()) return false;
  RegistryService registry(deps);
  LINLI_RETURN_IF_ERROR(
      registry.Create(Principal::System("system"), model::Kind::kUser,
                      Json{{"username", "admin"}, {"role", "admin"}, {"password", password}}));
  return true;
}

}  // namespace linli::api
