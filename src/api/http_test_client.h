// Test-only Beast clients for the HTTP server tests: plain HTTP requests, a WebSocket client
// and a raw server-sent-events reader. Every operation runs with a deadline so that a broken
// server fails the test instead of hanging it.
#pragma once

#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace linli::api::testing {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

struct HttpResult {
  int status = 0;  // 0: no answer (connection closed or timed out)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  Json json;                                   // parsed body if it was JSON, else null

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class HttpClient {
 public:
  explicit HttpClient(int port) : port_(port) {}

  HttpResult Request(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& token = "",
                     std::vector<std::pair<std::string, std::string>> headers = {},
                     const std::string& content_type = "application/json") {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty() && !content_type.empty()) req.set(http::field::content_type, content_type);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(false);
    return RoundTrip([&](beast::tcp_stream& s, auto done) { http::async_write(s, req, done); },
                     method == "HEAD");
  }

  HttpResult Get(const std::string& target, const std::string& token = "") {
    return Request("GET", target, "", token);
  }
  HttpResult Post(const std::string& target, const Json& body, const std::string& token = "") {
    return Request("POST", target, body.dump(), token);
  }
  HttpResult Patch(const std::string& target, const Json& body, const std::string& token = "") {
    return Request("PATCH", target, body.dump(), token);
  }
  HttpResult Delete(const std::string& target, const std::string& token = "") {
    return Request("DELETE", target, "", token);
  }

  // Sends raw bytes and reads one response (for malformed requests).
  HttpResult Raw(const std::string& bytes) {
    return RoundTrip(
        [&](beast::tcp_stream& s, auto done) { net::async_write(s, net::buffer(bytes), done); });
  }

 private:
  template <class WriteFn>
  HttpResult RoundTrip(WriteFn write, bool head = false) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    HttpResult out;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    parser.skip(head);  // a HEAD answer announces a length but has no body
    stream.async_connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)),
        [&](beast::error_code ec) {
          if (ec) return;
          write(stream, [&](beast::error_code wec, size_t) {
            if (wec) return;
            http::async_read(stream, buffer, parser, [&](beast::error_code rec, size_t) {
              if (rec) return;
              const auto& res = parser.get();
              out.status = res.result_int();
              out.body = res.body();
              for (const auto& f : res) {
                out.headers[Lower(std::string(f.name_string()))] = std::string(f.value());
              }
            });
          });
        });
    ioc.run();
    if (!out.body.empty()) {
      try {
        out.json = Json::parse(out.body);
      } catch (...) {
      }
    }
    return out;
  }

  int port_;
};

// A WebSocket client with deadline-bounded operations.
class WsClient {
 public:
  explicit WsClient(int port) : port_(port), ws_(ioc_) {}

  // Connects and performs the handshake. Returns the HTTP status of the handshake answer
  // (101 on success).
  int Connect(const std::string& target, const std::string& token_header = "") {
    websocket::response_type res;
    beast::error_code result = net::error::timed_out;
    ws_.set_option(websocket::stream_base::decorator([token_header](websocket::request_type& req) {
      if (!token_header.empty()) req.set(http::field::authorization, "Bearer " + token_header);
    }));
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws_).async_connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)),
        [&](beast::error_code ec) {
          if (ec) {
            result = ec;
            return;
          }
          ws_.async_handshake(res, "127.0.0.1", target,
                              [&](beast::error_code hec) { result = hec; });
        });
    ioc_.restart();
    ioc_.run_for(std::chrono::seconds(10));
    beast::get_lowest_layer(ws_).expires_never();
    if (!result) return 101;
    return res.result_int();
  }

  // The next text message, or nullopt if none arrived within `timeout` or the connection ended.
  std::optional<std::string> Read(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::optional<std::string> out;
    bool finished = false;
    buffer_.clear();
    ws_.async_read(buffer_, [&](beast::error_code ec, size_t) {
      finished = true;
      if (!ec) out = beast::buffers_to_string(buffer_.data());
      last_error_ = ec;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!finished) {
      // Abandon the read: close the socket so the handler completes before we return.
      beast::get_lowest_layer(ws_).close();
      ioc_.restart();
      ioc_.run_for(std::chrono::seconds(1));
    }
    return out;
  }

  beast::error_code last_error() const { return last_error_; }

 private:
  int port_;
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  beast::error_code last_error_;
};

// Reads a server-sent-events stream as raw bytes.
class SseClient {
 public:
  explicit SseClient(int port) : port_(port), socket_(ioc_) {}

  // Sends the request and reads until the header block is complete; returns the status line.
  std::string Open(const std::string& target, const std::string& token) {
    beast::error_code ec;
    socket_.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)), ec);
    if (ec) return "";
    std::string req =
        "GET " + target +
        " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer " + token +
        "\r\n\r\n";
    net::write(socket_, net::buffer(req), ec);
    if (ec) return "";
    ReadUntil("\r\n\r\n", std::chrono::seconds(5));
    return data_.substr(0, data_.find("\r\n"));
  }

  // Reads until `needle` appears in everything received so far, or the deadline passes.
  bool ReadUntil(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (data_.find(needle) == std::string::npos) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::milliseconds(0)) return false;
      bool done = false;
      beast::error_code result;
      size_t n = 0;
      socket_.async_read_some(net::buffer(chunk_), [&](beast::error_code ec, size_t len) {
        done = true;
        result = ec;
        n = len;
      });
      ioc_.restart();
      ioc_.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(left));
      if (!done) {
        socket_.cancel();
        ioc_.restart();
        ioc_.run();
        return data_.find(needle) != std::string::npos;
      }
      if (result) return false;
      data_.append(chunk_, n);
    }
    return true;
  }

  const std::string& data() const { return data_; }

 private:
  int port_;
  net::io_context ioc_;
  tcp::socket socket_;
  char chunk_[4096];
  std::string data_;
};

}  // namespace linli::api::testing
