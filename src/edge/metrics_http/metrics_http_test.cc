// The box's /metrics endpoint over a real loopback HTTP connection (Beast client).
#include "edge/metrics_http/metrics_http.h"

#include <gtest/gtest.h>

#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace linli::edge {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Sends `n` requests for `target` on one keep-alive connection; the last reply.
Reply Request(int port, http::verb verb, const std::string& target, int n = 1) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  Reply out;
  beast::flat_buffer buffer;
  for (int i = 0; i < n; ++i) {
    http::request<http::empty_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(i + 1 < n);
    http::write(socket, req);
    http::response_parser<http::string_body> parser;
    parser.skip(verb == http::verb::head);
    http::read(socket, buffer, parser);
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = res.body();
  }
  return out;
}

TEST(MetricsHttpTest, ServesTheRegistryInPrometheusTextFormat) {
  metrics::Registry registry;
  registry.GetCounter("linli_edge_test_total", "A test counter", {{"camera", "cam-1"}}).Inc(3);
  auto& gauge = registry.GetGauge("linli_edge_test_fps", "Refreshed per scrape");
  std::atomic<int> scrapes{0};
  MetricsHttpOptions o;
  o.port = 0;
  o.registry = &registry;
  o.before_render = [&] { gauge.Set(++scrapes * 1.5); };
  auto server = MetricsHttpServer::Start(o);
  ASSERT_TRUE(server) << server.error().ToString();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  Reply r = Request(port, http::verb::get, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE linli_edge_test_total counter\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("linli_edge_test_total{camera=\"cam-1\"} 3\n"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("linli_edge_test_fps 1.5\n"), std::string::npos) << r.body;
  // Keep-alive: three scrapes on one connection, each refreshed.
  r = Request(port, http::verb::get, "/metrics?x=1", 3);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("linli_edge_test_fps 6\n"), std::string::npos) << r.body;
  EXPECT_EQ(scrapes.load(), 4);

  EXPECT_EQ(Request(port, http::verb::head, "/metrics").status, 200);
  r = Request(port, http::verb::get, "/api/v1/anything");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Request(port, http::verb::post, "/metrics").status, 405);
  (*server)->Stop();
  (*server)->Stop();  // idempotent
}

TEST(MetricsHttpTest, ABusyAddressOrABadHostIsAnError) {
  MetricsHttpOptions o;
  o.port = 0;
  auto first = MetricsHttpServer::Start(o);
  ASSERT_TRUE(first) << first.error().ToString();
  o.port = (*first)->port();
  auto second = MetricsHttpServer::Start(o);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(second.error().message().find("cannot listen on 127.0.0.1:" + std::to_string(o.port)),
            std::string::npos)
      << second.error().ToString();
  o.host = "metrics.example";
  auto bad = MetricsHttpServer::Start(o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(MetricsHttpTest, StopClosesIdleKeepAliveConnections) {
  MetricsHttpOptions o;
  o.port = 0;
  auto server = MetricsHttpServer::Start(o);
  ASSERT_TRUE(server);
  net::io_context ioc;
  tcp::socket idle(ioc);
  idle.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"),
                             static_cast<unsigned short>((*server)->port())));
  (*server)->Stop();  // returns although a client holds a connection open
  char c;
  beast::error_code ec;
  idle.read_some(net::buffer(&c, 1), ec);
  EXPECT_TRUE(ec) << "the connection was closed";
}

}  // namespace
}  // namespace linli::edge
