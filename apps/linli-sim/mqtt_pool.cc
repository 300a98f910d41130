#include "mqtt_pool.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

namespace linli::sim {

namespace {
enum class State { kIdle, kConnecting, kConnected, kWaitRetry, kClosing, kClosed };
constexpr int kMinBackoffMs = 200;
constexpr int kMaxBackoffMs = 10000;
}  // namespace

struct MqttPool::Client {
  MqttPool* pool = nullptr;
  size_t index = 0;
  mosquitto* mosq = nullptr;
  MqttClientOptions options;
  State state = State::kIdle;
  int fd = -1;         // the socket registered in epoll, -1 if none
  bool want_out = false;
  int wake_fd = -1;    // read end of libmosquitto's wake-up socket pair, -1 if unknown
  int outstanding = 0;
  bool refused = false;  // the last CONNACK refused us
  int backoff_ms = kMinBackoffMs;
  std::chrono::steady_clock::time_point retry_at;
};

// The C callbacks of libmosquitto, forwarding to the pool.
struct PoolCallbacks {
  static void OnConnect(mosquitto*, void* obj, int rc) {
    auto* c = static_cast<MqttPool::Client*>(obj);
    MqttPool* pool = c->pool;
    if (rc == 0) {
      if (c->state == State::kConnecting) {
        c->state = State::kConnected;
        c->backoff_ms = kMinBackoffMs;
        c->refused = false;
        ++pool->connected_;
        pool->listener_->OnConnected(c->index);
      }
      return;
    }
    c->refused = true;
    pool->listener_->OnConnectFailed(c->index, rc, mosquitto_connack_string(rc));
    // libmosquitto closes the socket after a refused CONNACK; OnDisconnect follows.
  }
  static void OnDisconnect(mosquitto*, void* obj, int rc) {
    auto* c = static_cast<MqttPool::Client*>(obj);
    MqttPool* pool = c->pool;
    const bool was_connected = c->state == State::kConnected;
    if (was_connected) --pool->connected_;
    c->fd = -1;  // libmosquitto has closed it (which also removed it from epoll)
    c->want_out = false;
    if (c->state == State::kClosing || c->state == State::kClosed || !c->options.auto_reconnect) {
      c->state = State::kClosed;
    } else {
      pool->ScheduleRetry(*c);
    }
    if (was_connected) pool->listener_->OnDisconnected(c->index, rc);
  }
  static void OnPublish(mosquitto*, void* obj, int mid) {
    auto* c = static_cast<MqttPool::Client*>(obj);
    if (c->outstanding > 0) --c->outstanding;
    c->pool->listener_->OnPublished(c->index, mid);
  }
  static void OnSubscribe(mosquitto*, void* obj, int mid, int count, const int* granted) {
    auto* c = static_cast<MqttPool::Client*>(obj);
    c->pool->listener_->OnSubscribed(c->index, mid, count > 0 && granted != nullptr ? granted[0] : 128);
  }
  static void OnMessage(mosquitto*, void* obj, const mosquitto_message* m) {
    auto* c = static_cast<MqttPool::Client*>(obj);
    std::string_view payload(static_cast<const char*>(m->payload), m->payloadlen > 0 ? m->payloadlen : 0);
    c->pool->listener_->OnMessage(c->index, m->topic != nullptr ? m->topic : "", payload);
  }
};

Result<HostPort> ParseHostPort(std::string_view s, int default_port) {
  HostPort hp;
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    hp.host = std::string(s);
    hp.port = default_port;
  } else {
    hp.host = std::string(s.substr(0, colon));
    std::string_view p = s.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), hp.port);
    if (ec != std::errc() || ptr != p.data() + p.size() || hp.port < 1 || hp.port > 65535) {
      return InvalidArgument("mqtt", "bad port in \"" + std::string(s) + "\"");
    }
  }
  if (hp.host.empty()) return InvalidArgument("mqtt", "missing host in \"" + std::string(s) + "\"");
  return hp;
}

void InitMosquittoLib() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

MqttPool::MqttPool(HostPort broker, MqttPoolListener* listener, Clock& clock)
    : broker_(std::move(broker)), listener_(listener), clock_(clock) {
  InitMosquittoLib();
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  next_misc_ = clock_.Monotonic();
}

MqttPool::~MqttPool() {
  for (auto& c : clients_) {
    if (c->mosq != nullptr) mosquitto_destroy(c->mosq);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Result<size_t> MqttPool::Add(const MqttClientOptions& options) {
  if (epoll_fd_ < 0) return Fail(ErrorCode::kUnavailable, std::string("epoll_create1: ") + std::strerror(errno));
  auto c = std::make_unique<Client>();
  c->pool = this;
  c->index = clients_.size();
  c->options = options;
  // The lowest free descriptor now is where socketpair() inside mosquitto_new() puts the read end.
  int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (probe >= 0) ::close(probe);
  c->mosq = mosquitto_new(options.client_id.empty() ? nullptr : options.client_id.c_str(),
                          options.clean_session, c.get());
  if (c->mosq == nullptr) {
    return Fail(ErrorCode::kResourceExhausted,
                "mosquitto_new(" + options.client_id + "): " + std::strerror(errno), "client_id");
  }
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (probe >= 0 && getsockopt(probe, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX) {
    len = sizeof type;
    if (getsockopt(probe, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM) c->wake_fd = probe;
  }
  mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);  // small packets, no Nagle delay
  mosquitto_max_inflight_messages_set(c->mosq, static_cast<unsigned>(std::max(0, options.max_inflight)));
  if (!options.username.empty()) {
    mosquitto_username_pw_set(c->mosq, options.username.c_str(), options.password.c_str());
  }
  if (!options.will_topic.empty()) {
    int rc = mosquitto_will_set(c->mosq, options.will_topic.c_str(), static_cast<int>(options.will_payload.size()),
                                options.will_payload.data(), options.will_qos, options.will_retain);
    if (rc != MOSQ_ERR_SUCCESS) {
      mosquitto_destroy(c->mosq);
      return InvalidArgument("will", std::string("mosquitto_will_set: ") + mosquitto_strerror(rc));
    }
  }
  mosquitto_connect_callback_set(c->mosq, &PoolCallbacks::OnConnect);
  mosquitto_disconnect_callback_set(c->mosq, &PoolCallbacks::OnDisconnect);
  mosquitto_publish_callback_set(c->mosq, &PoolCallbacks::OnPublish);
  mosquitto_message_callback_set(c->mosq, &PoolCallbacks::OnMessage);
  mosquitto_subscribe_callback_set(c->mosq, &PoolCallbacks::OnSubscribe);
  clients_.push_back(std::move(c));
  return clients_.size() - 1;
}

void MqttPool::Register(Client& c) {
  c.fd = mosquitto_socket(c.mosq);
  if (c.fd < 0) return;
  c.want_out = mosquitto_want_write(c.mosq);
  epoll_event ev{};
  ev.events = EPOLLIN | (c.want_out ? EPOLLOUT : 0u);
  ev.data.u64 = c.index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
}

Result<void> MqttPool::Connect(size_t index) {
  Client& c = *clients_.at(index);
  if (c.state == State::kConnecting || c.state == State::kConnected) return {};
  if (c.state == State::kClosing || c.state == State::kClosed) {
    return Fail(ErrorCode::kFailedPrecondition, "client " + c.options.client_id + " was closed");
  }
  const bool first = c.state == State::kIdle;
  int rc = first ? mosquitto_connect(c.mosq, broker_.host.c_str(), broker_.port, c.options.keepalive_s)
                 : mosquitto_reconnect(c.mosq);
  if (rc != MOSQ_ERR_SUCCESS) {
    std::string why = rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc);
    if (first && rc != MOSQ_ERR_ERRNO) {
      // Not a network problem (bad host name, ...): retrying will not help.
      c.state = State::kClosed;
      return InvalidArgument("mqtt", "connect " + broker_.host + ": " + why);
    }
    if (first) c.state = State::kWaitRetry;  // so that later attempts use mosquitto_reconnect
    ScheduleRetry(c);
    listener_->OnConnectFailed(index, -1, why);
    return Fail(ErrorCode::kUnavailable, "connect " + broker_.host + ":" + std::to_string(broker_.port) + ": " + why);
  }
  c.state = State::kConnecting;
  Register(c);
  AfterIo(c);
  return {};
}

void MqttPool::ScheduleRetry(Client& c) {
  if (!c.options.auto_reconnect) {
    c.state = State::kClosed;
    return;
  }
  c.state = State::kWaitRetry;
  // A refused CONNACK (wrong credentials) is unlikely to fix itself quickly.
  const int base = c.refused ? std::max(c.backoff_ms, 2000) : c.backoff_ms;
  c.retry_at = clock_.Monotonic() + std::chrono::milliseconds(base);
  c.backoff_ms = std::min(base * 2, kMaxBackoffMs);
}

Result<int> MqttPool::Publish(size_t index, const std::string& topic, std::string_view payload, int qos,
                              bool retain) {
  Client& c = *clients_.at(index);
  if (c.state != State::kConnected) return Fail(ErrorCode::kUnavailable, "client not connected");
  int mid = 0;
  int rc = mosquitto_publish(c.mosq, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos,
                             retain);
  if (rc != MOSQ_ERR_SUCCESS) {
    AfterIo(c);
    return Fail(rc == MOSQ_ERR_NO_CONN ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument,
                std::string("publish: ") + mosquitto_strerror(rc));
  }
  if (qos > 0) ++c.outstanding;
  AfterIo(c);
  return mid;
}

Result<int> MqttPool::Subscribe(size_t index, const std::string& pattern, int qos) {
  Client& c = *clients_.at(index);
  if (c.state != State::kConnected) return Fail(ErrorCode::kUnavailable, "client not connected");
  int mid = 0;
  int rc = mosquitto_subscribe(c.mosq, &mid, pattern.c_str(), qos);
  AfterIo(c);
  if (rc != MOSQ_ERR_SUCCESS) return InvalidArgument("topic", std::string("subscribe: ") + mosquitto_strerror(rc));
  return mid;
}

void MqttPool::Disconnect(size_t index) {
  Client& c = *clients_.at(index);
  if (c.state == State::kClosed || c.state == State::kClosing) return;
  if (c.state == State::kConnected || c.state == State::kConnecting) {
    const bool was_connected = c.state == State::kConnected;
    if (was_connected) --connected_;
    c.state = State::kClosing;
    mosquitto_disconnect(c.mosq);  // DISCONNECT; the socket closes once it is written
    if (c.mosq != nullptr) AfterIo(c);
    if (was_connected) listener_->OnDisconnected(index, 0);
  } else {
    c.state = State::kClosed;
  }
}

void MqttPool::Kill(size_t index) {
  Client& c = *clients_.at(index);
  if (c.state == State::kClosed || c.mosq == nullptr) return;
  if (c.state == State::kConnected) --connected_;
  if (c.fd >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  c.fd = -1;
  c.state = State::kClosed;
  // mosquitto_destroy closes the socket without sending DISCONNECT: the broker sees the
  // connection drop and publishes the will.
  mosquitto_destroy(c.mosq);
  c.mosq = nullptr;
  c.wake_fd = -1;
}

bool MqttPool::IsConnected(size_t index) const { return clients_.at(index)->state == State::kConnected; }
bool MqttPool::IsClosed(size_t index) const { return clients_.at(index)->state == State::kClosed; }
int MqttPool::Outstanding(size_t index) const { return clients_.at(index)->outstanding; }

void MqttPool::OnSocketGone(Client& c) {
  // libmosquitto closed the socket; its disconnect callback normally updated the state already.
  c.fd = -1;
  c.want_out = false;
  if (c.state == State::kConnecting || c.state == State::kConnected) {
    if (c.state == State::kConnected) --connected_;
    ScheduleRetry(c);
  } else if (c.state == State::kClosing) {
    c.state = State::kClosed;
  }
}

void MqttPool::AfterIo(Client& c) {
  if (c.mosq == nullptr) return;
  if (mosquitto_socket(c.mosq) < 0) {
    OnSocketGone(c);
    return;
  }
  if (c.fd < 0) return;
  bool want = mosquitto_want_write(c.mosq);
  if (want) {
    // Try right away; only wait for EPOLLOUT if the kernel buffer is full.
    mosquitto_loop_write(c.mosq, 1);
    if (mosquitto_socket(c.mosq) < 0) {
      OnSocketGone(c);
      return;
    }
    want = mosquitto_want_write(c.mosq);
  }
  if (want != c.want_out) {
    c.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.u64 = c.index;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }
}

void MqttPool::Misc() {
  const auto now = clock_.Monotonic();
  char drain[4096];
  for (auto& cp : clients_) {
    Client& c = *cp;
    if (c.mosq == nullptr) continue;
    if (c.wake_fd >= 0) {
      while (::read(c.wake_fd, drain, sizeof drain) > 0) {
      }
    }
    if (c.state == State::kConnected || c.state == State::kConnecting || c.state == State::kClosing) {
      mosquitto_loop_misc(c.mosq);
      AfterIo(c);
    } else if (c.state == State::kWaitRetry && now >= c.retry_at) {
      (void)Connect(c.index);  // failures reschedule themselves
    }
  }
}

int MqttPool::Poll(int timeout_ms) {
  epoll_event events[256];
  const auto now = clock_.Monotonic();
  if (now >= next_misc_) {
    next_misc_ = now + std::chrono::seconds(1);
    Misc();
  }
  const int until_misc = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(next_misc_ - clock_.Monotonic()).count());
  const int wait = std::clamp(std::min(timeout_ms, until_misc), 0, 1000);
  int n = epoll_wait(epoll_fd_, events, 256, wait);
  if (n < 0) return 0;  // EINTR: the caller polls again
  for (int i = 0; i < n; ++i) {
    const size_t index = static_cast<size_t>(events[i].data.u64);
    if (index >= clients_.size()) continue;
    Client& c = *clients_[index];
    if (c.mosq == nullptr || c.fd < 0) continue;  // closed earlier in this batch
    if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      // Read every complete packet the kernel holds (bounded, to stay fair to other clients).
      for (int k = 0; k < 512; ++k) {
        int rc = mosquitto_loop_read(c.mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(c.mosq) < 0) break;
        int avail = 0;
        if (ioctl(c.fd, FIONREAD, &avail) != 0 || avail <= 0) break;
      }
    }
    if (c.mosq != nullptr && mosquitto_socket(c.mosq) >= 0 && (events[i].events & EPOLLOUT)) {
      mosquitto_loop_write(c.mosq, 1);
    }
    AfterIo(c);
  }
  return n;
}

}  // namespace linli::sim
