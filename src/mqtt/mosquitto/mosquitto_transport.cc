#include "mqtt/mosquitto/mosquitto_transport.h"

#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/log.h"
#include "mqtt/mosquitto/mosq_util.h"

namespace linli::mqtt {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMinBackoff{100};
constexpr milliseconds kMaxBackoff{5000};
// Longest poll() sleep: bounds how late keepalive (loop_misc) and Stop() are noticed.
constexpr milliseconds kMaxPoll{500};
// How long Stop() waits for the socket to take the final PUBACKs and DISCONNECT.
constexpr milliseconds kStopFlushTimeout{2000};

metrics::Labels ClientLabel(const MosquittoOptions& o) { return {{"client", o.client_id}}; }

}  // namespace

MosquittoTransport::MosquittoTransport(MosquittoOptions options, MessageHandler* handler,
                                       Clock& clock)
    : opts_(std::move(options)),
      handler_(handler),
      clock_(clock),
      received_(metrics::Default().GetCounter("linli_mqtt_messages_received_total",
                                              "MQTT messages received by the transport",
                                              ClientLabel(opts_))),
      commits_(metrics::Default().GetCounter("linli_mqtt_commits_total",
                                             "Successful handler commits (each releases PUBACKs)",
                                             ClientLabel(opts_))),
      commit_failures_(metrics::Default().GetCounter(
          "linli_mqtt_commit_failures_total",
          "Handler commits that failed (connection dropped, broker redelivers)",
          ClientLabel(opts_))),
      reconnects_(metrics::Default().GetCounter("linli_mqtt_reconnects_total",
                                                "MQTT reconnect attempts", ClientLabel(opts_))),
      oversized_(metrics::Default().GetCounter(
          "linli_mqtt_oversized_messages_total",
          "Received messages larger than max_payload_bytes (delivered anyway)",
          ClientLabel(opts_))),
      connected_gauge_(metrics::Default().GetGauge(
          "linli_mqtt_connected", "1 while connected to the broker", ClientLabel(opts_))) {}

MosquittoTransport::~MosquittoTransport() {
  Stop();
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<void> MosquittoTransport::ValidateOptions(const MosquittoOptions& o) {
  if (o.host.empty()) return InvalidArgument("host", "must not be empty");
  if (o.port < 1 || o.port > 65535) return InvalidArgument("port", "must be in 1..65535");
  if (o.client_id.empty() || o.client_id.size() > 65535) {
    return InvalidArgument("client_id", "must be 1..65535 bytes");
  }
  if (mosquitto_validate_utf8(o.client_id.c_str(), static_cast<int>(o.client_id.size())) !=
      MOSQ_ERR_SUCCESS) {
    return InvalidArgument("client_id", "not valid UTF-8");
  }
  if (!o.password.empty() && o.username.empty()) {
    return InvalidArgument("username", "required when a password is given");
  }
  if (o.keepalive_s < 5 || o.keepalive_s > 65535) {
    return InvalidArgument("keepalive_s", "must be in 5..65535");
  }
  if (o.max_burst < 1) return InvalidArgument("max_burst", "must be at least 1");
  for (size_t i = 0; i < o.subscriptions.size(); ++i) {
    const auto& s = o.subscriptions[i];
    if (s.empty() || mosquitto_sub_topic_check2(s.c_str(), s.size()) != MOSQ_ERR_SUCCESS ||
        mosquitto_validate_utf8(s.c_str(), static_cast<int>(s.size())) != MOSQ_ERR_SUCCESS) {
      return InvalidArgument("subscriptions[" + std::to_string(i) + "]",
                             "not a valid MQTT topic filter");
    }
  }
  return {};
}

Result<void> MosquittoTransport::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_) return Fail(ErrorCode::kFailedPrecondition, "transport already started");
  if (handler_ == nullptr) return InvalidArgument("handler", "must not be null");
  LINLI_RETURN_IF_ERROR(ValidateOptions(opts_));
  EnsureMosquittoLibInit();

  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return Fail(ErrorCode::kUnavailable, std::string("eventfd: ") + std::strerror(errno));
  }
  mosq_ = mosquitto_new(opts_.client_id.c_str(), opts_.clean_session, this);
  if (mosq_ == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("mosquitto_new failed: ") + std::strerror(errno));
  }
  // Queue, never write, from inside libmosquitto: we decide when PUBACKs go out.
  mosquitto_threaded_set(mosq_, true);
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  // Commands (an unlock after a gas leak) must leave at once: without TCP_NODELAY, Nagle's
  // algorithm holds small packets for up to ~40 ms behind unacknowledged data.
  mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
  if (!opts_.username.empty()) {
    int rc = mosquitto_username_pw_set(mosq_, opts_.username.c_str(),
                                       opts_.password.empty() ? nullptr : opts_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) return Fail(MosquittoError(rc, "username/password"));
  }
  // Our own PUBLISHes (commands) may have many in flight.
  mosquitto_max_inflight_messages_set(mosq_, 1000);
  mosquitto_connect_callback_set(mosq_, &MosquittoTransport::OnConnect);
  mosquitto_disconnect_callback_set(mosq_, &MosquittoTransport::OnDisconnect);
  mosquitto_message_callback_set(mosq_, &MosquittoTransport::OnMessage);
  mosquitto_subscribe_callback_set(mosq_, &MosquittoTransport::OnSubscribe);

  started_ = true;
  next_attempt_ = clock_.Monotonic();
  thread_ = std::thread([this] { Run(); });
  return {};
}

void MosquittoTransport::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  stop_requested_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
}

void MosquittoTransport::Wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  // A full counter (EAGAIN) still means "readable"; nothing else can fail here.
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
}

Result<void> MosquittoTransport::Publish(const std::string& topic, const std::string& payload,
                                         int qos, bool retain) {
  if (qos < 0 || qos > 2) return InvalidArgument("qos", "must be 0, 1 or 2");
  if (topic.empty() ||
      mosquitto_pub_topic_check2(topic.c_str(), topic.size()) != MOSQ_ERR_SUCCESS ||
      mosquitto_validate_utf8(topic.c_str(), static_cast<int>(topic.size())) != MOSQ_ERR_SUCCESS) {
    return InvalidArgument("topic", "not a valid MQTT topic name");
  }
  if (payload.size() > 268'435'455) return InvalidArgument("payload", "larger than MQTT allows");
  {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!started_ || stopped_) {
      return Fail(ErrorCode::kFailedPrecondition, "transport not running");
    }
  }
  if (!connected_.load()) return Fail(ErrorCode::kUnavailable, "not connected to the broker");
  int rc = mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), qos, retain);
  if (rc != MOSQ_ERR_SUCCESS) return Fail(MosquittoError(rc, "publish"));
  Wake();
  return {};
}

void MosquittoTransport::ScheduleRetry() {
  next_attempt_ = clock_.Monotonic() + backoff_;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

void MosquittoTransport::TryConnect() {
  int rc;
  if (!attempted_) {
    attempted_ = true;
    rc = mosquitto_connect_async(mosq_, opts_.host.c_str(), opts_.port, opts_.keepalive_s);
  } else {
    reconnects_.Inc();
    // Also closes an aborted socket and drops its queued (unsent) PUBACKs.
    rc = mosquitto_reconnect_async(mosq_);
  }
  session_aborted_ = false;
  if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0) {
    log::Debug("mqtt connect attempt failed",
               {{"client", opts_.client_id}, {"error", mosquitto_strerror(rc)}});
    ScheduleRetry();
    have_socket_ = false;
    return;
  }
  have_socket_ = true;
}

void MosquittoTransport::NoteSocketGone(bool expected) {
  if (connected_.exchange(false)) {
    connected_gauge_.Set(0);
    if (!expected) log::Warn("mqtt connection lost", {{"client", opts_.client_id}});
  }
  if (reported_up_) {
    reported_up_ = false;
    handler_->OnConnectionChange(false);
  }
}

void MosquittoTransport::AbortSession() {
  // Make the broker see the connection end now, without the queued PUBACKs ever being written.
  int sock = mosquitto_socket(mosq_);
  if (sock >= 0) ::shutdown(sock, SHUT_RDWR);
  session_aborted_ = true;
  NoteSocketGone(/*expected=*/false);
  ScheduleRetry();
}

void MosquittoTransport::ReadBurst(int sock) {
  burst_ = 0;
  const auto linger_until = clock_.Monotonic() + std::chrono::microseconds(opts_.linger_us);
  for (;;) {
    int rc = mosquitto_loop_read(mosq_, 1);
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0) break;  // connection closed
    if (burst_ >= opts_.max_burst || handler_->CommitSoon()) break;
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0) continue;
    // Nothing more to read now. Linger for more only if the burst is small and not urgent.
    if (opts_.linger_us <= 0 || burst_ == 0 || burst_ >= opts_.linger_min_burst || handler_->Urgent()) break;
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(linger_until - clock_.Monotonic());
    if (left.count() <= 0) break;
    timespec ts{static_cast<time_t>(left.count() / 1'000'000'000), static_cast<long>(left.count() % 1'000'000'000)};
    // A publish queued meanwhile (a command) ends the linger: it leaves after this commit.
    pollfd fds[2] = {{sock, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::ppoll(fds, 2, &ts, nullptr) <= 0 || (fds[1].revents & POLLIN) != 0 || (fds[0].revents & POLLIN) == 0) break;
  }
  if (uncommitted_ == 0) return;
  int n = uncommitted_;
  uncommitted_ = 0;
  auto r = handler_->Commit();
  if (r) {
    commits_.Inc();
    return;
  }
  commit_failures_.Inc();
  log::Warn("mqtt handler commit failed; dropping connection so the broker redelivers",
            {{"client", opts_.client_id},
             {"messages", std::to_string(n)},
             {"error", r.error().ToString()}});
  if (mosquitto_socket(mosq_) >= 0) AbortSession();
}

void MosquittoTransport::Run() {
  while (!stop_requested_.load()) {
    auto now = clock_.Monotonic();
    int sock = mosquitto_socket(mosq_);
    if (sock < 0 && have_socket_) {
      have_socket_ = false;
      NoteSocketGone(/*expected=*/false);
      ScheduleRetry();
    }
    if ((sock < 0 || session_aborted_) && now >= next_attempt_) {
      TryConnect();
      sock = mosquitto_socket(mosq_);
    }
    bool usable = sock >= 0 && !session_aborted_;

    pollfd fds[2];
    fds[0] = {wake_fd_, POLLIN, 0};
    nfds_t nfds = 1;
    if (usable) {
      fds[1] = {sock, static_cast<short>(POLLIN | (mosquitto_want_write(mosq_) ? POLLOUT : 0)), 0};
      nfds = 2;
    }
    milliseconds timeout = kMaxPoll;
    if (!usable) {
      auto until = std::chrono::duration_cast<milliseconds>(next_attempt_ - clock_.Monotonic());
      timeout = std::clamp(until + milliseconds(1), milliseconds(0), kMaxPoll);
    }
    int pr = ::poll(fds, nfds, static_cast<int>(timeout.count()));
    if (pr < 0 && errno != EINTR) {
      log::Error("mqtt poll failed", {{"error", std::strerror(errno)}});
    }
    if (pr > 0 && (fds[0].revents & POLLIN)) {
      uint64_t v;
      ssize_t n = ::read(wake_fd_, &v, sizeof v);
      (void)n;
    }
    if (!usable) continue;
    if (pr > 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) ReadBurst(sock);
    if (session_aborted_ || mosquitto_socket(mosq_) < 0) continue;
    // Everything read so far is committed: writing (PUBACKs, PINGREQ, our PUBLISHes) is safe.
    mosquitto_loop_misc(mosq_);
    if (const int fd = mosquitto_socket(mosq_); fd >= 0 && mosquitto_want_write(mosq_)) {
      // libmosquitto writes each queued packet (a burst's PUBACKs: 4 bytes each) with its own
      // write(); with TCP_NODELAY each would leave as its own segment, costing us and the broker
      // a trip through the TCP stack per message. Corked, they leave together when uncorked,
      // right after the loop: no added delay.
      int on = 1, off = 0;
      ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
      mosquitto_loop_write(mosq_, 1);
      if (mosquitto_socket(mosq_) == fd) ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    }
  }
  Shutdown();
}

void MosquittoTransport::Shutdown() {
  // Every received message was committed after its burst; flush the PUBACKs.
  //
  // No MQTT DISCONNECT: libmosquitto close()s the socket right after writing it, and closing a
  // socket with unread input (a SUBACK, a message we will not process) makes Linux send RST,
  // on which the broker may discard our PUBACKs it has not read yet — the messages would be
  // redelivered although committed. Instead: write, half-close (FIN after the PUBACKs), drain
  // until the broker closes its side, then close. Whatever we drained was never acknowledged,
  // so the broker keeps it for the next session.
  if (!session_aborted_ && connected_.load() && mosquitto_socket(mosq_) >= 0) {
    auto deadline = clock_.Monotonic() + kStopFlushTimeout;
    while (mosquitto_socket(mosq_) >= 0 && mosquitto_want_write(mosq_) &&
           clock_.Monotonic() < deadline) {
      pollfd p{mosquitto_socket(mosq_), POLLOUT, 0};
      if (::poll(&p, 1, 100) > 0) {
        if (mosquitto_loop_write(mosq_, 1) != MOSQ_ERR_SUCCESS) break;
      }
    }
    int fd = mosquitto_socket(mosq_);
    if (fd >= 0 && ::shutdown(fd, SHUT_WR) == 0) {
      char buf[4096];
      while (clock_.Monotonic() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;  // the broker has read everything and closed
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
      }
    }
  }
  NoteSocketGone(/*expected=*/true);
  log::Info("mqtt transport stopped", {{"client", opts_.client_id}});
}

void MosquittoTransport::OnConnect(mosquitto* m, void* self_ptr, int rc) {
  auto* self = static_cast<MosquittoTransport*>(self_ptr);
  if (rc != 0) {
    log::Warn("mqtt broker refused the connection",
              {{"client", self->opts_.client_id}, {"reason", mosquitto_connack_string(rc)}});
    return;  // libmosquitto closes the socket; the loop backs off and retries
  }
  self->backoff_ = kMinBackoff;
  if (!self->opts_.subscriptions.empty()) {
    std::vector<char*> subs;
    subs.reserve(self->opts_.subscriptions.size());
    for (const auto& s : self->opts_.subscriptions) subs.push_back(const_cast<char*>(s.c_str()));
    int src = mosquitto_subscribe_multiple(m, nullptr, static_cast<int>(subs.size()), subs.data(),
                                           1, 0, nullptr);
    if (src != MOSQ_ERR_SUCCESS) {
      log::Error("mqtt subscribe failed",
                 {{"client", self->opts_.client_id}, {"error", mosquitto_strerror(src)}});
    }
  }
  self->connected_ = true;
  self->connected_gauge_.Set(1);
  log::Info("mqtt connected",
            {{"client", self->opts_.client_id},
             {"broker", self->opts_.host + ":" + std::to_string(self->opts_.port)}});
  if (!self->reported_up_) {
    self->reported_up_ = true;
    self->handler_->OnConnectionChange(true);
  }
}

void MosquittoTransport::OnDisconnect(mosquitto*, void* self_ptr, int rc) {
  auto* self = static_cast<MosquittoTransport*>(self_ptr);
  if (rc != 0) {
    log::Debug("mqtt disconnected",
               {{"client", self->opts_.client_id}, {"reason", mosquitto_strerror(rc)}});
  }
}

void MosquittoTransport::OnSubscribe(mosquitto*, void* self_ptr, int, int count,
                                     const int* granted) {
  auto* self = static_cast<MosquittoTransport*>(self_ptr);
  for (int i = 0; i < count; ++i) {
    if (granted[i] >= 0x80) {
      std::string topic = i < static_cast<int>(self->opts_.subscriptions.size())
                              ? self->opts_.subscriptions[static_cast<size_t>(i)]
                              : "?";
      log::Error("mqtt subscription refused by the broker",
                 {{"client", self->opts_.client_id}, {"filter", topic}});
    }
  }
}

void MosquittoTransport::OnMessage(mosquitto*, void* self_ptr, const mosquitto_message* msg) {
  auto* self = static_cast<MosquittoTransport*>(self_ptr);
  Message m;
  m.topic = msg->topic != nullptr ? msg->topic : "";
  if (msg->payload != nullptr && msg->payloadlen > 0) {
    m.payload.assign(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
  }
  m.qos = msg->qos;
  m.retain = msg->retain;
  self->received_.Inc();
  if (self->opts_.max_payload_bytes > 0 &&
      m.payload.size() > static_cast<size_t>(self->opts_.max_payload_bytes)) {
    self->oversized_.Inc();
    log::Warn("mqtt message larger than max_payload_bytes",
              {{"topic", m.topic}, {"bytes", std::to_string(m.payload.size())}});
  }
  ++self->burst_;
  ++self->uncommitted_;
  self->handler_->OnMessage(m);
}

std::unique_ptr<Transport> MakeMosquittoTransport(const MosquittoOptions& options,
                                                  MessageHandler* handler) {
  return std::make_unique<MosquittoTransport>(options, handler);
}

}  // namespace linli::mqtt
