// Internal to src/api's Beast layer (http_server.cc, http_feed.cc): the shared server state,
// session tracking for graceful shutdown, and response conversion. Includes Beast: never
// include this from a header other modules see.
#pragma once

// <utility> first: Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "api/api_context.h"
#include "api/router.h"

namespace linli::api::http_internal {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

// Something the server can ask to wind down (posted onto its own strand).
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void Shutdown() = 0;
};

// Counts live connections so that Stop() can wait for in-flight work without sleeping.
class Tracker {
 public:
  // False once shutdown began (the caller should just drop the connection).
  bool Register(std::weak_ptr<Closable> c);
  void Unregister();
  // Refuses new registrations and asks every live connection to shut down.
  void ShutdownAll();
  // Waits until no connection is left or `timeout` passed; true if none is left.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t live_ = 0;
  bool stopping_ = false;
  std::vector<std::weak_ptr<Closable>> sessions_;
};

// Registration that unregisters when destroyed (one per session object).
class TrackerToken {
 public:
  TrackerToken() = default;
  TrackerToken(const TrackerToken&) = delete;
  TrackerToken& operator=(const TrackerToken&) = delete;
  ~TrackerToken() {
    if (tracker_ != nullptr) tracker_->Unregister();
  }
  bool Acquire(Tracker& t, std::weak_ptr<Closable> c) {
    if (!t.Register(std::move(c))) return false;
    tracker_ = &t;
    return true;
  }

 private:
  Tracker* tracker_ = nullptr;
};

struct ServerState {
  ApiContext& ctx;
  const Router& router;
  net::thread_pool& workers;
  Tracker& tracker;
  uint64_t max_route_body_bytes = 0;  // the largest RouteDoc::max_body_bytes
};

using StringResponse = http::response<http::string_body>;

// An ApiResponse as a Beast response (security headers, keep-alive, payload prepared).
std::shared_ptr<StringResponse> ToBeast(const ApiResponse& r, unsigned version, bool keep_alive);

// Builds the transport-independent request; InvalidArgument for an unusable target.
Result<ApiRequest> ToApiRequest(const http::request<http::string_body>& req,
                                const std::string& remote);

// Takes over a connection whose request asked for the live feed and was authenticated.
void StartWebSocketFeed(ServerState& st, beast::tcp_stream&& stream, Principal principal,
                        http::request<http::string_body> req, const ApiRequest& api_req);
void StartEventStreamFeed(ServerState& st, beast::tcp_stream&& stream, Principal principal,
                          const http::request<http::string_body>& req, const ApiRequest& api_req);

}  // namespace linli::api::http_internal
