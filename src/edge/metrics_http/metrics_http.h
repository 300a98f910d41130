// MetricsHttpServer: the edge box's Prometheus endpoint. Serves GET /metrics (text exposition
// format 0.0.4, metrics::Registry::Render()) over HTTP/1.1 on a listen address of its own
// (box.metrics_listen / `run --metrics-listen`, default 127.0.0.1:9464; docs/edge.md). Any
// other path is 404, any other method 405. No authentication: bind it to loopback or to a
// management network only.
//
// Built on Boost.Beast/Asio like linlid's HTTP server (which brings the platform's router,
// auth and store with it, so the box does not reuse it); one I/O thread, keep-alive, a request
// must arrive within 10 s, at most 16 connections at once (more are closed at accept).
//
//   MetricsHttpOptions o; o.host = "127.0.0.1"; o.port = 9464;
//   o.before_render = [&] { /* refresh gauges from live state */ };
//   auto server = MetricsHttpServer::Start(o);   // Unavailable if the address cannot be bound
//   ... (*server)->port() ...; (*server)->Stop();
//
// Ownership: the server owns its thread and sockets; the registry and before_render's targets
// must outlive it. Thread-safety: Start/Stop from one owner thread; before_render runs on the
// server's thread, one scrape at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/result.h"

namespace linli::edge {

struct MetricsHttpOptions {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal
  int port = 9464;                 // 0 = ephemeral (see port())
  metrics::Registry* registry = &metrics::Default();
  std::function<void()> before_render;  // called before each scrape's Render()
};

class MetricsHttpServer {
 public:
  // Binds and starts serving. InvalidArgument for a host that is not an IP literal or a port
  // outside 0..65535; Unavailable if the address cannot be bound (in use, not local).
  static Result<std::unique_ptr<MetricsHttpServer>> Start(const MetricsHttpOptions& options);
  virtual ~MetricsHttpServer() = default;
  virtual int port() const = 0;  // the bound port
  // Stops accepting, closes the connections and joins the thread. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace linli::edge
