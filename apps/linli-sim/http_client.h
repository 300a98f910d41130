// HttpClient: a blocking HTTP/1.1 client for talking to linlid's REST API.
//
// One client holds one kept-alive connection (reconnecting when the server closed it) and is
// used by one thread at a time. The Beast implementation never throws: network failures and
// timeouts come back as Unavailable, malformed responses as Internal.
// Thread-safety: none per instance; make one per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace linli::sim {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  int retry_after_s = -1;  // from Retry-After, -1 if absent
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Sends `method target` (target is the path + query, e.g. "/api/v1/devices") with `body`
  // (sent as application/json when non-empty) and returns the response, whatever its status.
  virtual Result<HttpResponse> Request(std::string_view method, const std::string& target,
                                       const std::string& body, const HttpHeaders& headers) = 0;
};

// "http://host:port[/base]" → parts. Only plain http; https is InvalidArgument.
struct HttpEndpoint {
  std::string host;
  int port = 80;
  std::string base_path;  // without a trailing slash, "" for none
};
Result<HttpEndpoint> ParseHttpUrl(std::string_view url);

// Responses larger than `max_body_bytes` are an error (Internal).
std::unique_ptr<HttpClient> MakeBeastHttpClient(const HttpEndpoint& endpoint, int timeout_ms = 30000,
                                                size_t max_body_bytes = 256u << 20);

}  // namespace linli::sim
