#include "api_client.h"

#include <algorithm>
#include <thread>

namespace linli::sim {
namespace {

ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 429:
      return ErrorCode::kResourceExhausted;
    default:
      return status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInternal;
  }
}

// Paces retries against an overloaded or restarting server (exponential, or Retry-After).
void Backoff(int attempt, int retry_after_s) {
  int ms = retry_after_s > 0 ? std::min(retry_after_s, 30) * 1000 : std::min(100 << attempt, 3000);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

Result<MqttAccount> ParseMqttAccount(const Json& response) {
  if (!response.is_object() || !response.contains("mqtt") || !response["mqtt"].is_object()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "response has no \"mqtt\" account (is linlid running with a broker?)", "mqtt");
  }
  const Json& m = response["mqtt"];
  MqttAccount a;
  LINLI_ASSIGN_OR_RETURN(a.username, RequireString(m, "username"));
  LINLI_ASSIGN_OR_RETURN(a.password, RequireString(m, "password"));
  LINLI_ASSIGN_OR_RETURN(a.topic_prefix, RequireString(m, "topic_prefix"));
  LINLI_ASSIGN_OR_RETURN(auto client_id, OptionalString(m, "client_id"));
  a.client_id = client_id.value_or(a.username);
  if (!a.topic_prefix.empty() && a.topic_prefix.back() != '/') a.topic_prefix.push_back('/');
  return a;
}

Error ErrorFromResponse(const HttpResponse& r, std::string_view what) {
  std::string message = "HTTP " + std::to_string(r.status);
  std::string field;
  if (auto j = ParseJson(r.body); j && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
    const Json& e = (*j)["error"];
    if (e.contains("message") && e["message"].is_string()) message += ": " + e["message"].get<std::string>();
    if (e.contains("field") && e["field"].is_string()) field = e["field"].get<std::string>();
  } else if (!r.body.empty()) {
    message += ": " + r.body.substr(0, 200);
  }
  return Error(CodeForStatus(r.status), std::string(what) + ": " + message, field);
}

LinliApi::LinliApi(std::unique_ptr<HttpClient> http, Clock& clock) : http_(std::move(http)), clock_(clock) {}

void LinliApi::SetToken(std::string token, std::string username, std::string password) {
  token_ = std::move(token);
  if (!username.empty()) {
    username_ = std::move(username);
    password_ = std::move(password);
  }
}

Result<void> LinliApi::Login(const std::string& username, const std::string& password) {
  Json body = {{"username", username}, {"password", password}};
  LINLI_ASSIGN_OR_RETURN(auto r, http_->Request("POST", "/api/v1/auth/login", DumpJson(body), {}));
  if (r.status != 200 && r.status != 201) return Fail(ErrorFromResponse(r, "login as " + username));
  auto j = ParseJson(r.body);
  if (!j) return Fail(ErrorCode::kInternal, "login: response is not JSON");
  LINLI_ASSIGN_OR_RETURN(token_, RequireString(*j, "token"));
  username_ = username;
  password_ = password;
  return {};
}

Result<HttpResponse> LinliApi::Send(std::string_view method, const std::string& path, const std::string& body) {
  const auto deadline = clock_.Monotonic() + std::chrono::seconds(120);
  bool relogged = false;
  for (int attempt = 0;; ++attempt) {
    HttpHeaders headers;
    if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
    auto r = http_->Request(method, path, body, headers);
    const bool out_of_time = clock_.Monotonic() > deadline || attempt >= 12;
    if (!r) {
      if (r.error().code() != ErrorCode::kUnavailable || out_of_time) return r;
      Backoff(attempt, -1);
      continue;
    }
    if (r->status == 401 && !relogged && !username_.empty()) {
      relogged = true;
      LINLI_RETURN_IF_ERROR(Login(username_, password_));
      continue;
    }
    if ((r->status == 429 || r->status == 503) && !out_of_time) {
      Backoff(attempt, r->retry_after_s);
      continue;
    }
    return r;
  }
}

Result<LinliApi::Created> LinliApi::CreateOrGet(const std::string& collection, const Json& body) {
  LINLI_ASSIGN_OR_RETURN(auto r, Send("POST", "/api/v1/" + collection, DumpJson(body)));
  if (r.status == 200 || r.status == 201) {
    auto j = ParseJson(r.body);
    if (!j || !j->is_object()) return Fail(ErrorCode::kInternal, "POST " + collection + ": response is not a JSON object");
    return Created{std::move(*j), false};
  }
  if (r.status == 409 && body.contains("id") && body["id"].is_string()) {
    // The id exists (an earlier run). A 409 for another unique field (plate, id_number) under a
    // different id would make the GET fail with 404, which is then reported as the conflict.
    auto existing = Get(collection, body["id"].get<std::string>());
    if (existing) return Created{std::move(*existing), true};
    if (existing.error().code() != ErrorCode::kNotFound) return Fail(existing.error());
  }
  return Fail(ErrorFromResponse(r, "POST /api/v1/" + collection + " id=" + body.value("id", std::string("?"))));
}

Result<Json> LinliApi::Get(const std::string& collection, const std::string& id) {
  LINLI_ASSIGN_OR_RETURN(auto r, Send("GET", "/api/v1/" + collection + "/" + id, ""));
  if (r.status != 200) return Fail(ErrorFromResponse(r, "GET /api/v1/" + collection + "/" + id));
  auto j = ParseJson(r.body);
  if (!j || !j->is_object()) return Fail(ErrorCode::kInternal, "GET " + collection + ": response is not a JSON object");
  return std::move(*j);
}

Result<MqttAccount> LinliApi::RotateCredentials(const std::string& device_id) {
  const std::string path = "/api/v1/devices/" + device_id + "/credentials";
  LINLI_ASSIGN_OR_RETURN(auto r, Send("POST", path, "{}"));
  if (r.status != 200 && r.status != 201) return Fail(ErrorFromResponse(r, "POST " + path));
  auto j = ParseJson(r.body);
  if (!j) return Fail(ErrorCode::kInternal, "POST " + path + ": response is not JSON");
  return ParseMqttAccount(*j);
}

Result<std::string> LinliApi::GetText(const std::string& path) {
  LINLI_ASSIGN_OR_RETURN(auto r, Send("GET", path, ""));
  if (r.status < 200 || r.status >= 300) return Fail(ErrorFromResponse(r, "GET " + path));
  return std::move(r.body);
}

}  // namespace linli::sim
