// The live feed's two transports: WebSocket (Beast) and server-sent events (chunked HTTP).
// Each connection owns a FeedSubscriber; the hub's wake-up is posted onto the connection's
// strand, which drains the subscriber's bounded queue and writes one message (WebSocket) or
// one chunk of events (SSE) at a time. A write that stalls past the timeout closes the
// connection; the hub meanwhile drops the oldest messages, so publishers never wait.
#include "api/http_internal.h"
#include "common/log.h"

namespace linli::api::http_internal {
namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kSsePingInterval = std::chrono::seconds(15);

class WebSocketFeed : public std::enable_shared_from_this<WebSocketFeed>, public Closable {
 public:
  WebSocketFeed(ServerState& st, beast::tcp_stream&& stream, Principal principal)
      : st_(st), hub_(*st.ctx.feed), ws_(std::move(stream)), principal_(std::move(principal)) {}

  ~WebSocketFeed() override {
    if (sub_) hub_.Unsubscribe(sub_);
  }

  void Run(http::request<http::string_body> req, const ApiRequest& ar) {
    if (!token_.Acquire(st_.tracker, weak_from_this())) return;
    std::weak_ptr<WebSocketFeed> weak = shared_from_this();
    auto sub = hub_.Subscribe(principal_, [weak, ex = ws_.get_executor()] {
      net::post(ex, [weak] {
        if (auto s = weak.lock()) s->OnWake();
      });
    });
    if (!sub) {
      RecordRequest(st_.ctx, ar, "/api/v1/feed", 503, 0, principal_.username);
      return;  // dropping the connection: the server is shutting down
    }
    sub_ = *sub;
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "linlid"); }));
    ws_.read_message_max(64 * 1024);
    RecordRequest(st_.ctx, ar, "/api/v1/feed", 101, 0, principal_.username);
    ws_.async_accept(req, beast::bind_front_handler(&WebSocketFeed::OnAccept, shared_from_this()));
  }

  void Shutdown() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      if (self->sub_) self->sub_->Close();
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) return;  // handshake failed: the session ends when the last handler lets go
    accepted_ = true;
    DoRead();
    OnWake();
  }

  // Clients send nothing we use, but reading processes pings and the close handshake.
  void DoRead() {
    ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->done_ = true;
        return;
      }
      self->rbuf_.consume(self->rbuf_.size());
      self->DoRead();
    });
  }

  void OnWake() {
    if (!accepted_ || writing_ || closing_ || done_) return;
    WriteNext();
  }

  void WriteNext() {
    if (done_) return;
    if (pending_.empty()) pending_ = sub_->Drain();
    if (pending_.empty()) {
      writing_ = false;
      if (sub_->closed()) StartClose();
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*pending_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) {
                        self->done_ = true;
                        return;
                      }
                      self->pending_.pop_front();
                      self->WriteNext();
                    });
  }

  void StartClose() {
    if (closing_ || done_) return;
    closing_ = true;
    ws_.async_close(websocket::close_code::going_away,
                    [self = shared_from_this()](beast::error_code) { self->done_ = true; });
  }

  ServerState& st_;
  FeedHub& hub_;
  websocket::stream<beast::tcp_stream> ws_;
  Principal principal_;
  std::shared_ptr<FeedSubscriber> sub_;
  std::deque<std::shared_ptr<const std::string>> pending_;
  beast::flat_buffer rbuf_;
  TrackerToken token_;
  bool accepted_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
};

class EventStreamFeed : public std::enable_shared_from_this<EventStreamFeed>, public Closable {
 public:
  EventStreamFeed(ServerState& st, beast::tcp_stream&& stream, Principal principal)
      : st_(st),
        hub_(*st.ctx.feed),
        stream_(std::move(stream)),
        principal_(std::move(principal)),
        ping_(stream_.get_executor()),
        watchdog_(stream_.get_executor()) {}

  ~EventStreamFeed() override {
    if (sub_) hub_.Unsubscribe(sub_);
  }

  void Run(const http::request<http::string_body>& req, const ApiRequest& ar) {
    if (!token_.Acquire(st_.tracker, weak_from_this())) return;
    std::weak_ptr<EventStreamFeed> weak = shared_from_this();
    auto sub = hub_.Subscribe(principal_, [weak, ex = stream_.get_executor()] {
      net::post(ex, [weak] {
        if (auto s = weak.lock()) s->OnWake();
      });
    });
    if (!sub) {
      RecordRequest(st_.ctx, ar, "/api/v1/feed", 503, 0, principal_.username);
      return;
    }
    sub_ = *sub;
    RecordRequest(st_.ctx, ar, "/api/v1/feed", 200, 0, principal_.username);
    res_.emplace(http::status::ok, req.version());
    res_->set(http::field::server, "linlid");
    res_->set(http::field::content_type, "text/event-stream");
    res_->set(http::field::cache_control, "no-cache");
    res_->set("X-Accel-Buffering", "no");
    res_->keep_alive(false);
    res_->chunked(true);
    sr_.emplace(*res_);
    writing_ = true;
    ArmWatchdog();
    http::async_write_header(stream_, *sr_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->watchdog_.cancel();
                               self->writing_ = false;
                               if (ec) return self->Finish();
                               self->DoRead();
                               self->SchedulePing();
                               self->OnWake();
                             });
  }

  void Shutdown() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->sub_) self->sub_->Close();
    });
  }

 private:
  // Detects the client going away (SSE clients never send after the request).
  void DoRead() {
    stream_.async_read_some(net::buffer(rbuf_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Finish();
                              self->DoRead();
                            });
  }

  void SchedulePing() {
    ping_.expires_after(kSsePingInterval);
    ping_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->done_) return;
      if (!self->writing_ && !self->closing_)
        self->WriteChunk(std::make_shared<std::string>(": ping\n\n"));
      self->SchedulePing();
    });
  }

  void ArmWatchdog() {
    watchdog_.expires_after(kWriteTimeout);
    watchdog_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->writing_) return;
      log::Warn("live feed client too slow; closing", {{"user", self->principal_.username}});
      self->Finish();
    });
  }

  void OnWake() {
    if (writing_ || closing_ || done_ || !sr_ || !sr_->is_header_done()) return;
    auto batch = sub_->Drain();
    if (batch.empty()) {
      if (sub_->closed()) StartClose();
      return;
    }
    auto text = std::make_shared<std::string>();
    for (const auto& m : batch) {
      text->append("data: ");
      text->append(*m);
      text->append("\n\n");
    }
    WriteChunk(std::move(text));
  }

  void WriteChunk(std::shared_ptr<std::string> text) {
    writing_ = true;
    ArmWatchdog();
    net::async_write(stream_, http::make_chunk(net::buffer(*text)),
                     [self = shared_from_this(), text](beast::error_code ec, size_t) {
                       self->watchdog_.cancel();
                       self->writing_ = false;
                       if (ec) return self->Finish();
                       self->OnWake();
                     });
  }

  void StartClose() {
    if (closing_ || done_) return;
    closing_ = true;
    writing_ = true;
    ArmWatchdog();
    net::async_write(stream_, http::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code, size_t) {
                       self->writing_ = false;
                       self->Finish();
                     });
  }

  void Finish() {
    if (done_) return;
    done_ = true;
    ping_.cancel();
    watchdog_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  ServerState& st_;
  FeedHub& hub_;
  beast::tcp_stream stream_;
  Principal principal_;
  std::shared_ptr<FeedSubscriber> sub_;
  std::optional<http::response<http::empty_body>> res_;
  std::optional<http::response_serializer<http::empty_body>> sr_;
  net::steady_timer ping_;
  net::steady_timer watchdog_;
  char rbuf_[512];
  TrackerToken token_;
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
};

}  // namespace

void StartWebSocketFeed(ServerState& st, beast::tcp_stream&& stream, Principal principal,
                        http::request<http::string_body> req, const ApiRequest& api_req) {
  std::make_shared<WebSocketFeed>(st, std::move(stream), std::move(principal))
      ->Run(std::move(req), api_req);
}

void StartEventStreamFeed(ServerState& st, beast::tcp_stream&& stream, Principal principal,
                          const http::request<http::string_body>& req, const ApiRequest& api_req) {
  std::make_shared<EventStreamFeed>(st, std::move(stream), std::move(principal))->Run(req, api_req);
}

}  // namespace linli::api::http_internal
