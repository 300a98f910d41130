#include "edge/metrics_http/metrics_http.h"

// <utility> first: Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>

#include "common/log.h"

namespace linli::edge {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr int kMaxConnections = 16;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MetricsHttpOptions& options, std::atomic<int>& live)
      : stream_(std::move(socket)), options_(options), live_(live) {
    ++live_;
  }
  ~Session() { --live_; }
  void Run() { Read(); }

 private:
  void Read() {
    req_ = {};
    stream_.expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->Close();
                       self->Answer();
                     });
  }

  void Answer() {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req_.version());
    res->keep_alive(req_.keep_alive());
    res->set(http::field::server, "linli-edge");
    const auto target = req_.target();
    const auto path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "not found: the edge box serves GET /metrics only\n";
    } else if (req_.method() != http::verb::get && req_.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "method not allowed\n";
    } else {
      try {
        if (options_.before_render) options_.before_render();
      } catch (const std::exception& e) {
        log::Warn("metrics: refreshing gauges failed", {{"error", e.what()}});
      }
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res->body() = options_.registry->Render();
      if (req_.method() == http::verb::head) {
        res->content_length(res->body().size());
        res->body().clear();
      }
    }
    if (req_.method() != http::verb::head || path != "/metrics") res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec || !res->keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  const MetricsHttpOptions& options_;
  std::atomic<int>& live_;
};

class BeastMetricsServer final : public MetricsHttpServer {
 public:
  explicit BeastMetricsServer(MetricsHttpOptions options)
      : options_(std::move(options)),
        ioc_(std::make_unique<net::io_context>(1)),
        acceptor_(std::make_unique<tcp::acceptor>(*ioc_)) {}
  BeastMetricsServer(const BeastMetricsServer&) = delete;
  BeastMetricsServer& operator=(const BeastMetricsServer&) = delete;
  ~BeastMetricsServer() override { Stop(); }

  Result<void> Bind() {
    beast::error_code ec;
    auto address = net::ip::make_address(options_.host, ec);
    if (ec) return InvalidArgument("host", "not an IP address: \"" + options_.host + "\"");
    if (options_.port < 0 || options_.port > 65535)
      return InvalidArgument("port", "must be in 0..65535");
    tcp::endpoint ep(address, static_cast<unsigned short>(options_.port));
    const std::string where = ep.address().is_v6()
                                  ? "[" + options_.host + "]:" + std::to_string(options_.port)
                                  : options_.host + ":" + std::to_string(options_.port);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Fail(ErrorCode::kUnavailable, "cannot listen on " + where + ": " + ec.message());
    port_ = acceptor_->local_endpoint().port();
    return {};
  }

  void Run() {
    Accept();
    thread_ = std::thread([this] {
      try {
        ioc_->run();
      } catch (const std::exception& e) {
        log::Error("metrics server stopped", {{"error", e.what()}});
      }
    });
  }

  int port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
    // The thread is gone: destroying the io_context destroys the sessions its queued handlers
    // hold, which closes their sockets (idle keep-alive clients included).
    acceptor_.reset();
    ioc_.reset();
  }

 private:
  void Accept() {
    acceptor_->async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
      } else if (live_.load() >= kMaxConnections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(std::move(socket), options_, live_)->Run();
      }
      Accept();
    });
  }

  // Sessions still queued in ioc_ when it is destroyed refer to options_ and live_: those are
  // declared first, so that they outlive it.
  MetricsHttpOptions options_;
  std::atomic<int> live_{0};
  std::atomic<bool> stopped_{false};
  int port_ = 0;
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const MetricsHttpOptions& options) {
  auto s = std::make_unique<BeastMetricsServer>(options);
  LINLI_RETURN_IF_ERROR(s->Bind());
  s->Run();
  return std::unique_ptr<MetricsHttpServer>(std::move(s));
}

}  // namespace linli::edge
