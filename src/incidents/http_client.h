// HttpClient: outgoing HTTP for webhooks. The libcurl implementation follows no redirects,
// limits the time per request and the size of the answer it reads.
// Thread-safety: Post() may be called from any thread; each call is independent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace linli::incidents {

struct HttpAnswer {
  int status = 0;
  std::string body;  // at most 4 KiB
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // POSTs `body` as application/json. Unavailable for network errors and timeouts (retry);
  // the answer's status is for the caller to judge.
  virtual Result<HttpAnswer> Post(const std::string& url, const std::string& body,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  int64_t timeout_ms) = 0;
};

std::unique_ptr<HttpClient> MakeCurlHttpClient();

}  // namespace linli::incidents
