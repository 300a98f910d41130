// Test and benchmark support: a real HTTP/1.1 server on loopback (Boost.Beast, one connection
// at a time, keep-alive) that plays the platform's media endpoint: every PUT
// /api/v1/media/{id} is answered 201 (200 when the id was stored already). It counts what it
// stored; it keeps no bodies (a drain benchmark sends hundreds of MiB through it).
//
// Ownership: owns its listening socket and serving thread. Thread-safety: Start/Stop from one
// thread; Stored()/Count() from any thread.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace linli::edge::testing {

class MediaServer {
 public:
  MediaServer() = default;
  ~MediaServer() { Stop(); }
  MediaServer(const MediaServer&) = delete;
  MediaServer& operator=(const MediaServer&) = delete;

  // Listens on 127.0.0.1:`port` (0 = a free port); returns the port.
  int Start(int port = 0) {
    namespace net = boost::asio;
    acceptor_ = std::make_unique<net::ip::tcp::acceptor>(ioc_);
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"),
                              static_cast<unsigned short>(port));
    acceptor_->open(ep.protocol());
    acceptor_->set_option(net::socket_base::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
    return port_;
  }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (active_fd_ >= 0) ::shutdown(active_fd_, SHUT_RDWR);  // unblocks a keep-alive read
    }
    boost::system::error_code ec;
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);  // wakes accept() with a connection of our own
    s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
              ec);
    thread_.join();
  }
  bool Stored(const std::string& media_id) {
    std::lock_guard<std::mutex> lock(mu_);
    return stored_.contains(media_id);
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu_);
    return stored_.size();
  }

 private:
  void Serve() {
    namespace beast = boost::beast;
    namespace http = beast::http;
    const std::string prefix = "/api/v1/media/";
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_->accept(sock, ec);
      if (ec || stop_) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_fd_ = sock.native_handle();
      }
      beast::flat_buffer buf;
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 << 20);
        http::read(sock, buf, parser, ec);
        if (ec) break;
        auto& req = parser.get();
        std::string target(req.target());
        int status = 405;
        if (req.method() == http::verb::put && target.rfind(prefix, 0) == 0) {
          std::string id = target.substr(prefix.size(), target.find('?') - prefix.size());
          std::lock_guard<std::mutex> lock(mu_);
          status = stored_.insert(id).second ? 201 : 200;
        }
        http::response<http::string_body> res{static_cast<http::status>(status), 11};
        res.set(http::field::content_type, "application/json");
        res.body() = status >= 400 ? R"({"error":{"code":"method"}})" : R"({"id":"x"})";
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(sock, res, ec);
        if (ec || !req.keep_alive()) break;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_fd_ = -1;
      }
      sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  int active_fd_ = -1;
  std::set<std::string> stored_;
};

}  // namespace linli::edge::testing
