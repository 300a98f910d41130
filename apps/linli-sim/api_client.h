// LinliApi: the part of linlid's REST API the simulator uses (login, registry create/get,
// device credential rotation, raw GETs such as /metrics), on top of an HttpClient.
//
// Retries what is worth retrying: 429 and 503 (honouring Retry-After, bounded), network errors,
// and a 401 once after logging in again. Errors carry the server's {"error":{code,message,field}}.
// Thread-safety: none per instance; one LinliApi (and HttpClient) per thread, sharing the token
// through Token()/SetToken().
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/json.h"
#include "common/result.h"
#include "http_client.h"

namespace linli::sim {

// What POST /devices and POST /devices/{id}/credentials return under "mqtt".
struct MqttAccount {
  std::string client_id;
  std::string username;
  std::string password;
  std::string topic_prefix;  // "linli/v1/<compound>/<device>/"
};
Result<MqttAccount> ParseMqttAccount(const Json& response);

// Maps an HTTP error response to an Error (400 → InvalidArgument, 401 → Unauthenticated, 403 →
// PermissionDenied, 404 → NotFound, 409 → Conflict, 429 → ResourceExhausted, 5xx → Unavailable),
// with the message and field from the body when it has them.
Error ErrorFromResponse(const HttpResponse& response, std::string_view what);

class LinliApi {
 public:
  LinliApi(std::unique_ptr<HttpClient> http, Clock& clock);

  // POST /api/v1/auth/login; keeps the token for later requests.
  Result<void> Login(const std::string& username, const std::string& password);
  const std::string& Token() const { return token_; }
  // Also remembers credentials for a re-login after a 401 when `username` is non-empty.
  void SetToken(std::string token, std::string username = {}, std::string password = {});

  struct Created {
    Json object;
    bool existed = false;  // 409: the id was taken; `object` is then the stored record (GET)
  };
  // POST /api/v1/{collection} with `body` (which should carry "id"). On 409 fetches the existing
  // record by id, so that re-running the simulator reuses what it registered before.
  Result<Created> CreateOrGet(const std::string& collection, const Json& body);
  Result<Json> Get(const std::string& collection, const std::string& id);
  // POST /api/v1/devices/{id}/credentials → the new MQTT account.
  Result<MqttAccount> RotateCredentials(const std::string& device_id);
  // GET `path` (absolute, e.g. "/metrics") with the bearer token; the body on 2xx.
  Result<std::string> GetText(const std::string& path);

 private:
  Result<HttpResponse> Send(std::string_view method, const std::string& path, const std::string& body);

  std::unique_ptr<HttpClient> http_;
  Clock& clock_;
  std::string token_;
  std::string username_;
  std::string password_;
};

}  // namespace linli::sim
