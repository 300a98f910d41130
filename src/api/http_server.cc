// The Beast/Asio HTTP server: accept loop, HTTP/1.1 sessions (keep-alive, 100-continue, body
// and header limits, read timeout), handler execution on a worker pool so that slow handlers
// (Argon2id, SQLite) never block I/O threads, static files, and graceful shutdown.
#include <future>
#include <thread>

#include "api/http_errors.h"
#include "api/http_internal.h"
#include "api/static_files.h"
#include "common/log.h"

namespace linli::api {
namespace http_internal {

bool Tracker::Register(std::weak_ptr<Closable> c) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  ++live_;
  if (sessions_.size() >= 64 && sessions_.size() % 64 == 0) {
    std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
  }
  sessions_.push_back(std::move(c));
  return true;
}

void Tracker::Unregister() {
  std::lock_guard lock(mu_);
  --live_;
  cv_.notify_all();
}

void Tracker::ShutdownAll() {
  std::vector<std::weak_ptr<Closable>> sessions;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    sessions.swap(sessions_);
  }
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->Shutdown();
  }
}

bool Tracker::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return live_ == 0; });
}

std::shared_ptr<StringResponse> ToBeast(const ApiResponse& r, unsigned version, bool keep_alive) {
  auto res = std::make_shared<StringResponse>();
  res->version(version);
  res->result(static_cast<unsigned>(r.status));
  res->set(http::field::server, "linlid");
  res->set(http::field::content_type, r.content_type);
  res->set(http::field::cache_control, "no-store");
  res->set("X-Content-Type-Options", "nosniff");
  for (const auto& [k, v] : r.headers) res->set(k, v);
  res->keep_alive(keep_alive);
  res->body() = r.body;
  res->prepare_payload();
  return res;
}

Result<ApiRequest> ToApiRequest(const http::request<http::string_body>& req,
                                const std::string& remote) {
  ApiRequest ar;
  ar.method = std::string(req.method_string());
  ar.remote = remote;
  std::string_view target(req.target().data(), req.target().size());
  if (target.empty() || target[0] != '/')
    return InvalidArgument("target", "request target must be an absolute path");
  size_t q = target.find('?');
  ar.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    auto parsed = ParseQueryString(target.substr(q + 1));
    if (!parsed) return InvalidArgument("query", "malformed query string");
    ar.query = std::move(*parsed);
  }
  ar.content_type = std::string(req[http::field::content_type]);
  ar.authorization = std::string(req[http::field::authorization]);
  ar.accept = std::string(req[http::field::accept]);
  ar.body = req.body();
  return ar;
}

namespace {

bool IsApiPath(std::string_view path) {
  return path == "/api" || path.starts_with("/api/") || path == "/metrics";
}

bool AcceptsEventStream(std::string_view accept) {
  return accept.find("text/event-stream") != std::string_view::npos;
}

class HttpSession : public std::enable_shared_from_this<HttpSession>, public Closable {
 public:
  HttpSession(tcp::socket&& socket, ServerState& st) : stream_(std::move(socket)), st_(st) {}

  void Start() {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : ep.address().to_string();
    if (!token_.Acquire(st_.tracker, weak_from_this())) return;  // shutting down: drop
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
  }

  void Shutdown() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      if (self->idle_) self->CloseSocket();
    });
  }

 private:
  void DoRead() {
    idle_ = true;
    if (stopping_) return CloseSocket();
    parser_.emplace();
    body_limit_ = st_.ctx.options.max_body_bytes;
    parser_->body_limit(std::max<uint64_t>(body_limit_, st_.max_route_body_bytes));
    parser_->header_limit(16 * 1024);
    stream_.expires_after(std::chrono::milliseconds(st_.ctx.options.read_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    idle_ = false;
    if (ec) return OnReadError(ec);
    auto& req = parser_->get();
    // Routes that take large raw bodies (media uploads) raise the limit for this request only.
    {
      std::string_view target(req.target().data(), req.target().size());
      target = target.substr(0, target.find('?'));
      Router::Match m = st_.router.Find(std::string_view(req.method_string().data(), req.method_string().size()),
                                        target);
      body_limit_ = st_.ctx.options.max_body_bytes;
      if (m.route != nullptr && m.route->doc.max_body_bytes > 0) body_limit_ = m.route->doc.max_body_bytes;
      // The header was parsed under the largest limit of any route; Beast checks a declared
      // Content-Length only while parsing the header, so the route's own limit is checked here.
      auto length = parser_->content_length();
      if (length && *length > body_limit_) return OnReadError(http::error::body_limit);
      parser_->body_limit(body_limit_);
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code wec, size_t) {
                          if (wec) return self->CloseSocket();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Reject(
          413, "payload_too_large",
          "the body exceeds " + std::to_string(body_limit_) + " bytes");
    }
    if (ec == http::error::header_limit)
      return Reject(431, "headers_too_large", "request headers too large");
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::bad_descriptor) {
      return CloseSocket();
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
      return Reject(400, "bad_request", "malformed HTTP request");
    }
    CloseSocket();
  }

  // Answers an unreadable request and closes the connection (the stream position is unknown).
  void Reject(int status, const std::string& code, const std::string& message) {
    ApiResponse r =
        ApiResponse::FromJson(status, Json{{"error", {{"code", code}, {"message", message}}}});
    ApiRequest ar;
    ar.method = "?";
    ar.remote = remote_;
    RecordRequest(st_.ctx, ar, "unreadable", status, 0, "");
    Write(ToBeast(r, 11, false), true);
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    auto req = std::make_shared<http::request<http::string_body>>(parser_->release());
    const bool keep_alive = req->keep_alive();
    const unsigned version = req->version();
    auto ar = ToApiRequest(*req, remote_);
    if (!ar) {
      ApiRequest bad;
      bad.method = std::string(req->method_string()).substr(0, 16);
      bad.remote = remote_;
      RecordRequest(st_.ctx, bad, "unmatched", 400, 0, "");
      return Write(ToBeast(ApiResponse::FromError(ar.error()), version, false), true);
    }
    const bool is_get = req->method() == http::verb::get;
    if (is_get && ar->path == "/api/v1/feed" &&
        (websocket::is_upgrade(*req) || AcceptsEventStream(ar->accept))) {
      return HandleFeed(std::move(req), std::move(*ar));
    }
    auto self = shared_from_this();
    if (IsApiPath(ar->path) || (!is_get && req->method() != http::verb::head)) {
      net::post(st_.workers, [self, ar = std::move(*ar), version, keep_alive]() {
        ApiResponse resp = Dispatch(self->st_.ctx, self->st_.router, ar);
        auto msg = ToBeast(resp, version, keep_alive);
        net::post(self->stream_.get_executor(),
                  [self, msg, keep_alive] { self->Write(msg, !keep_alive); });
      });
      return;
    }
    const bool head = !is_get;
    net::post(st_.workers, [self, ar = std::move(*ar), version, keep_alive, head]() {
      self->ServeStatic(ar, version, keep_alive, head);
    });
  }

  // Runs on a worker thread.
  void ServeStatic(const ApiRequest& ar, unsigned version, bool keep_alive, bool head) {
    const auto start = st_.ctx.deps.clock->Monotonic();
    auto seconds = [&] {
      return std::chrono::duration<double>(st_.ctx.deps.clock->Monotonic() - start).count();
    };
    auto self = shared_from_this();
    auto file = ResolveStaticFile(st_.ctx.options.web_root, ar.path);
    http::file_body::value_type body;
    beast::error_code ec;
    if (file) body.open(file->path.c_str(), beast::file_mode::scan, ec);
    if (!file || ec) {
      Error e = file ? Error(ErrorCode::kNotFound, "no such file") : file.error();
      RecordRequest(st_.ctx, ar, "static", HttpStatusFor(e.code()), seconds(), "");
      auto msg = ToBeast(ApiResponse::FromError(e), version, keep_alive);
      net::post(stream_.get_executor(), [self, msg, keep_alive] { self->Write(msg, !keep_alive); });
      return;
    }
    const bool is_index = file->path.ends_with("/index.html");
    auto fill = [&](auto& res) {
      res.set(http::field::server, "linlid");
      res.set(http::field::content_type, file->content_type);
      res.set(http::field::cache_control, is_index ? "no-cache" : "public, max-age=3600");
      res.set("X-Content-Type-Options", "nosniff");
      res.keep_alive(keep_alive);
    };
    RecordRequest(st_.ctx, ar, "static", 200, seconds(), "");
    if (head) {
      auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, version);
      fill(*res);
      res->content_length(body.size());
      net::post(stream_.get_executor(), [self, res, keep_alive] { self->Write(res, !keep_alive); });
      return;
    }
    auto res = std::make_shared<http::response<http::file_body>>(http::status::ok, version);
    fill(*res);
    res->body() = std::move(body);
    res->prepare_payload();
    net::post(stream_.get_executor(), [self, res, keep_alive] { self->Write(res, !keep_alive); });
  }

  void HandleFeed(std::shared_ptr<http::request<http::string_body>> req, ApiRequest ar) {
    auto self = shared_from_this();
    net::post(st_.workers, [self, req, ar = std::move(ar)]() mutable {
      auto principal = AuthenticateFeed(self->st_.ctx, ar);
      net::post(self->stream_.get_executor(), [self, req, ar = std::move(ar),
                                               principal = std::move(principal)]() mutable {
        if (!principal) {
          ApiResponse resp = ApiResponse::FromError(principal.error());
          if (principal.error().code() == ErrorCode::kUnauthenticated)
            resp.headers.emplace_back("WWW-Authenticate", "Bearer");
          RecordRequest(self->st_.ctx, ar, "/api/v1/feed", resp.status, 0, "");
          return self->Write(ToBeast(resp, req->version(), false), true);
        }
        if (self->stopping_) {
          ApiResponse resp =
              ApiResponse::FromError(Error(ErrorCode::kUnavailable, "the server is shutting down"));
          return self->Write(ToBeast(resp, req->version(), false), true);
        }
        self->stream_.expires_never();
        if (websocket::is_upgrade(*req)) {
          StartWebSocketFeed(self->st_, std::move(self->stream_), std::move(*principal),
                             std::move(*req), ar);
        } else {
          StartEventStreamFeed(self->st_, std::move(self->stream_), std::move(*principal), *req,
                               ar);
        }
        self->handed_off_ = true;
      });
    });
  }

  template <class Message>
  void Write(std::shared_ptr<Message> msg, bool close) {
    stream_.expires_after(std::chrono::milliseconds(st_.ctx.options.read_timeout_ms));
    http::async_write(stream_, *msg,
                      [self = shared_from_this(), msg, close](beast::error_code ec, size_t) {
                        if (ec || close || self->stopping_) return self->CloseSocket();
                        self->DoRead();
                      });
  }

  void CloseSocket() {
    if (handed_off_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  ServerState& st_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  TrackerToken token_;
  bool idle_ = false;
  size_t body_limit_ = 0;
  bool stopping_ = false;
  bool handed_off_ = false;
};

}  // namespace
}  // namespace http_internal

namespace {

using namespace http_internal;  // NOLINT: this file is the Beast layer

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, const ApiDeps& deps)
      : ctx_(options, deps), router_(BuildRouter(&ctx_)), acceptor_(net::make_strand(ioc_)) {}

  ~ServerImpl() override { Stop(); }

  Result<int> Start() override {
    if (started_) return Fail(ErrorCode::kFailedPrecondition, "server already started");
    const auto& o = ctx_.options;
    if (o.port < 0 || o.port > 65535) return InvalidArgument("port", "must be between 0 and 65535");
    if (o.threads < 1 || o.threads > 256)
      return InvalidArgument("threads", "must be between 1 and 256");
    if (ctx_.deps.store == nullptr)
      return Fail(ErrorCode::kFailedPrecondition, "ApiDeps.store is required");
    beast::error_code ec;
    auto address = net::ip::make_address(o.host, ec);
    if (ec) {
      tcp::resolver resolver(ioc_);
      auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
      if (ec || results.empty()) return InvalidArgument("host", "cannot resolve '" + o.host + "'");
      address = results.begin()->endpoint().address();
    }
    tcp::endpoint ep(address, static_cast<unsigned short>(o.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return Fail(ErrorCode::kUnavailable, "cannot listen on " + o.host + ":" +
                                               std::to_string(o.port) + ": " + ec.message());
    }
    const int port = acceptor_.local_endpoint().port();
    workers_ = std::make_unique<net::thread_pool>(static_cast<size_t>(o.threads));
    uint64_t max_route_body = 0;
    for (const Route& r : router_.routes()) max_route_body = std::max<uint64_t>(max_route_body, r.doc.max_body_bytes);
    state_ = std::make_unique<ServerState>(ServerState{ctx_, router_, *workers_, tracker_, max_route_body});
    started_ = true;
    // Keeps the I/O threads running while Stop() winds connections down (without it they
    // return as soon as no operation is pending, stranding posted shutdown work).
    work_.emplace(net::make_work_guard(ioc_));
    DoAccept();
    for (int i = 0; i < o.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    log::Info("http server listening", {{"host", o.host}, {"port", std::to_string(port)}});
    return port;
  }

  void Stop() override {
    if (!started_ || stopped_) return;
    stopped_ = true;
    std::promise<void> closed;
    net::post(acceptor_.get_executor(), [this, &closed] {
      beast::error_code ec;
      acceptor_.close(ec);
      closed.set_value();
    });
    closed.get_future().wait();
    ctx_.feed->CloseAll();
    tracker_.ShutdownAll();
    if (!tracker_.WaitIdle(std::chrono::milliseconds(ctx_.options.shutdown_grace_ms))) {
      log::Warn("http server stopped with connections still open");
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    workers_->join();
    log::Info("http server stopped");
  }

  model::FeedSink* Feed() override { return ctx_.feed.get(); }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec) {
                               if (ec == net::error::operation_aborted || !acceptor_.is_open())
                                 return;
                               log::Warn("accept failed", {{"error", ec.message()}});
                             } else {
                               std::make_shared<HttpSession>(std::move(socket), *state_)->Start();
                             }
                             DoAccept();
                           });
  }

  // Destruction order matters: the io_context (and with it every session still referenced by
  // a handler) goes before the tracker and the context the sessions point to.
  ApiContext ctx_;
  Router router_;
  Tracker tracker_;
  std::unique_ptr<net::thread_pool> workers_;
  std::unique_ptr<ServerState> state_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Server> MakeServer(const ServerOptions& options, const ApiDeps& deps) {
  return std::make_unique<ServerImpl>(options, deps);
}

}  // namespace linli::api
