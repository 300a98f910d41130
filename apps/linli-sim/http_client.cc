#include "http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

namespace linli::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class BeastHttpClient final : public HttpClient {
 public:
  BeastHttpClient(HttpEndpoint endpoint, int timeout_ms, size_t max_body_bytes)
      : endpoint_(std::move(endpoint)), timeout_ms_(timeout_ms), max_body_bytes_(max_body_bytes),
        socket_(ioc_) {}

  Result<HttpResponse> Request(std::string_view method, const std::string& target, const std::string& body,
                               const HttpHeaders& headers) override {
    // A kept-alive connection may have been closed by the server since the last request: on a
    // failure before any response byte arrived on a reused connection, retry once on a new one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = socket_.is_open();
      if (!reused) LINLI_RETURN_IF_ERROR(Connect());
      bool retryable = false;
      auto r = RoundTrip(method, target, body, headers, &retryable);
      if (r || !(reused && retryable)) return r;
      Close();
    }
    return Fail(ErrorCode::kUnavailable, "connection to " + endpoint_.host + " keeps closing");
  }

 private:
  Result<void> Connect() {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
    if (ec) return Fail(ErrorCode::kUnavailable, "resolve " + endpoint_.host + ": " + ec.message());
    asio::connect(socket_, results, ec);
    if (ec) {
      Close();
      return Fail(ErrorCode::kUnavailable,
                  "connect " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " + ec.message());
    }
    // Blocking Beast calls have no deadline of their own; socket timeouts bound every read/write.
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    socket_.set_option(tcp::no_delay(true), ec);
    return {};
  }

  void Close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    buffer_.clear();
  }

  Result<HttpResponse> RoundTrip(std::string_view method, const std::string& target, const std::string& body,
                                 const HttpHeaders& headers, bool* retryable) {
    http::request<http::string_body> req;
    req.method(http::string_to_verb(beast::string_view(method.data(), method.size())));
    if (req.method() == http::verb::unknown) {
      return InvalidArgument("method", "unknown HTTP method " + std::string(method));
    }
    req.target(endpoint_.base_path + target);
    req.version(11);
    req.set(http::field::host, endpoint_.host + ":" + std::to_string(endpoint_.port));
    req.set(http::field::user_agent, "linli-sim");
    req.keep_alive(true);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();

    beast::error_code ec;
    http::write(socket_, req, ec);
    if (ec) {
      *retryable = true;
      Close();
      return Fail(ErrorCode::kUnavailable, "send " + std::string(method) + " " + target + ": " + ec.message());
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body_bytes_);
    parser.header_limit(64 * 1024);
    http::read(socket_, buffer_, parser, ec);
    if (ec) {
      *retryable = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                   ec == asio::error::eof;
      Close();
      const bool timeout = ec == asio::error::would_block || ec == asio::error::try_again ||
                           ec == asio::error::timed_out;
      return Fail(ErrorCode::kUnavailable, std::string(timeout ? "timeout" : "read") + " " +
                                               std::string(method) + " " + target + ": " + ec.message());
    }
    auto& res = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    out.content_type = std::string(res[http::field::content_type]);
    if (auto ra = res[http::field::retry_after]; !ra.empty()) {
      int v = -1;
      std::from_chars(ra.data(), ra.data() + ra.size(), v);
      out.retry_after_s = v;
    }
    if (!res.keep_alive()) Close();
    return out;
  }

  HttpEndpoint endpoint_;
  int timeout_ms_;
  size_t max_body_bytes_;
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

}  // namespace

Result<HttpEndpoint> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.starts_with("https://")) return InvalidArgument("api", "https is not supported; use http://");
  if (!url.starts_with(kScheme)) return InvalidArgument("api", "must start with http://");
  std::string_view rest = url.substr(kScheme.size());
  HttpEndpoint ep;
  const size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    ep.base_path = std::string(rest.substr(slash));
    while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
  }
  const size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) {
    ep.host = std::string(hostport);
  } else {
    ep.host = std::string(hostport.substr(0, colon));
    std::string_view p = hostport.substr(colon + 1);
    int port = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || ptr != p.data() + p.size() || port < 1 || port > 65535) {
      return InvalidArgument("api", "bad port in \"" + std::string(url) + "\"");
    }
    ep.port = port;
  }
  if (ep.host.empty()) return InvalidArgument("api", "missing host in \"" + std::string(url) + "\"");
  return ep;
}

std::unique_ptr<HttpClient> MakeBeastHttpClient(const HttpEndpoint& endpoint, int timeout_ms,
                                                size_t max_body_bytes) {
  return std::make_unique<BeastHttpClient>(endpoint, timeout_ms, max_body_bytes);
}

}  // namespace linli::sim
