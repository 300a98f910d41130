#include "edge/uplink/uplink.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/json.h"
#include "common/log.h"
#include "edge/uplink/event_payload.h"
#include "mqtt/mosquitto/mosq_util.h"

namespace linli::edge {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr milliseconds kSenderTick{200};
// Group commit of removals: confirmed entries are removed in one transaction when this many
// have gathered, when this long has passed since the oldest of them was confirmed, when nothing
// is in flight any more, or before the sender starts over on a new connection.
constexpr size_t kRemoveBatchMax = 512;
constexpr milliseconds kRemoveDelay{20};
// How many entries with pending media the media thread reads at a time.
constexpr int kMediaBatch = 16;
constexpr milliseconds kLoopTimeout{100};
constexpr milliseconds kOfflineFlushTimeout{2000};
constexpr size_t kMaxQueuedCommands = 1000;
constexpr size_t kMaxQueuedAcks = 1000;

}  // namespace

Uplink::Uplink(UplinkOptions options, Outbox& outbox, std::unique_ptr<MediaUploader> uploader,
               UplinkHooks hooks, Clock& clock)
    : opts_(std::move(options)),
      outbox_(outbox),
      uploader_(std::move(uploader)),
      hooks_(std::move(hooks)),
      clock_(clock),
      media_backoff_(opts_.backoff_min_ms),
      backoff_(opts_.backoff_min_ms),
      commands_proc_(clock),
      published_total_(metrics::Default().GetCounter(
          "linli_edge_uplink_published_total", "Event steps published (including resends)")),
      confirmed_total_(metrics::Default().GetCounter(
          "linli_edge_uplink_confirmed_total", "Event steps acknowledged by the broker")),
      uploaded_total_(metrics::Default().GetCounter("linli_edge_uplink_media_uploaded_total",
                                                    "Media items stored by the platform")),
      upload_retries_total_(metrics::Default().GetCounter(
          "linli_edge_uplink_media_retries_total", "Media uploads that failed and will be retried")),
      media_dead_total_(metrics::Default().GetCounter(
          "linli_edge_uplink_media_dead_total", "Media items refused permanently (dead letters)")),
      bad_entries_total_(metrics::Default().GetCounter(
          "linli_edge_uplink_bad_entries_total",
          "Outbox entries that could not be published at all and were dropped")),
      reconnects_total_(metrics::Default().GetCounter("linli_edge_uplink_reconnects_total",
                                                      "MQTT connection attempts after the first")),
      commands_dropped_total_(metrics::Default().GetCounter(
          "linli_edge_uplink_commands_dropped_total",
          "Commands dropped because too many were waiting")),
      connected_gauge_(metrics::Default().GetGauge("linli_edge_uplink_connected",
                                                   "1 while the box is connected to the broker")) {
  if (hooks_.apply_config) {
    commands_proc_.Register("config.apply", ConfigApplyHandler(hooks_.apply_config));
  }
  for (const auto& [name, handler] : hooks_.commands) {
    if (handler) commands_proc_.RegisterWithResult(name, handler);
  }
}

Uplink::~Uplink() { Stop(); }

Result<void> Uplink::Validate(const UplinkOptions& o) {
  if (!IsValidDeviceId(o.compound_id)) {
    return InvalidArgument("uplink.compound_id", "must be 1-64 of [A-Za-z0-9_-]");
  }
  if (!IsValidDeviceId(o.box_id)) {
    return InvalidArgument("uplink.box_id", "must be 1-64 of [A-Za-z0-9_-]");
  }
  if (o.mqtt_host.empty()) return InvalidArgument("uplink.mqtt_host", "must not be empty");
  if (o.mqtt_port < 1 || o.mqtt_port > 65535) {
    return InvalidArgument("uplink.mqtt_port", "must be in 1..65535");
  }
  if (o.mqtt_password.empty()) {
    return InvalidArgument("uplink.mqtt_password", "required (the box's device credentials)");
  }
  if (o.keepalive_s < 5 || o.keepalive_s > 65535) {
    return InvalidArgument("uplink.keepalive_s", "must be in 5..65535");
  }
  if (o.connect_timeout_ms < 100) {
    return InvalidArgument("uplink.connect_timeout_ms", "must be >= 100");
  }
  if (o.telemetry_interval_ms < 1000) {
    return InvalidArgument("uplink.telemetry_interval_ms", "must be >= 1000");
  }
  if (o.inflight_window < 1 || o.inflight_window > 1000) {
    return InvalidArgument("uplink.inflight_window", "must be in 1..1000");
  }
  if (o.backoff_min_ms < 10 || o.backoff_max_ms < o.backoff_min_ms) {
    return InvalidArgument("uplink.backoff_min_ms", "need 10 <= backoff_min_ms <= backoff_max_ms");
  }
  return {};
}

std::string Uplink::Topic(std::string_view channel) const {
  return "linli/v1/" + opts_.compound_id + "/" + opts_.box_id + "/" + std::string(channel);
}

Result<void> Uplink::Start() {
  LINLI_RETURN_IF_ERROR(Validate(opts_));
  if (started_.exchange(true)) return Fail(ErrorCode::kFailedPrecondition, "already started");
  mqtt::EnsureMosquittoLibInit();
  started_at_ = clock_.Monotonic();
  outbox_.SetAppendListener([this] { Wake(); });
  net_thread_ = std::thread([this] { NetLoop(); });
  sender_thread_ = std::thread([this] { SenderLoop(); });
  media_thread_ = std::thread([this] { MediaLoop(); });
  command_thread_ = std::thread([this] { CommandLoop(); });
  return {};
}

void Uplink::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_.load() || stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  cmd_cv_.notify_all();
  net_cv_.notify_all();
  media_cv_.notify_all();
  if (uploader_ != nullptr) uploader_->Cancel();  // a stalled upload must not delay the stop
  if (media_thread_.joinable()) media_thread_.join();
  if (sender_thread_.joinable()) sender_thread_.join();
  if (command_thread_.joinable()) command_thread_.join();
  if (net_thread_.joinable()) net_thread_.join();
  outbox_.SetAppendListener(nullptr);
}

bool Uplink::StopRequested() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void Uplink::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
    media_wake_ = true;
  }
  cv_.notify_all();
  media_cv_.notify_all();
}

void Uplink::WakeSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

UplinkCounters Uplink::Counters() const {
  std::lock_guard<std::mutex> lock(counters_mu_);
  return counters_;
}

void Uplink::Fault(std::string_view point, int64_t seq) {
  if (hooks_.fault_point) hooks_.fault_point(point, seq);
}

// ---- network thread ----

void Uplink::WaitNet(milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  net_cv_.wait_for(lock, d, [&] { return stop_; });
}

bool Uplink::Probe() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(opts_.mqtt_port);
  if (::getaddrinfo(opts_.mqtt_host.c_str(), port.c_str(), &hints, &res) != 0) return false;
  bool ok = false;
  for (addrinfo* a = res; a != nullptr && !ok; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      auto deadline = clock_.Monotonic() + milliseconds(opts_.connect_timeout_ms);
      while (clock_.Monotonic() < deadline && !StopRequested()) {
        pollfd p{fd, POLLOUT, 0};
        int pr = ::poll(&p, 1, 100);
        if (pr > 0) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          ok = err == 0;
          break;
        }
        if (pr < 0 && errno != EINTR) break;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return ok;
}

void Uplink::NetLoop() {
  milliseconds backoff(opts_.backoff_min_ms);
  const milliseconds max_backoff(opts_.backoff_max_ms);
  bool first = true;
  const std::string status_topic = Topic("up/status");
  while (!StopRequested()) {
    if (!first) reconnects_total_.Inc();
    first = false;
    if (!Probe()) {
      log::Debug("uplink: broker not reachable",
                 {{"broker", opts_.mqtt_host + ":" + std::to_string(opts_.mqtt_port)}});
      WaitNet(backoff);
      backoff = std::min(backoff * 2, max_backoff);
      continue;
    }
    mosquitto* m = mosquitto_new(opts_.box_id.c_str(), /*clean_session=*/false, this);
    if (m == nullptr) {
      log::Error("uplink: mosquitto_new failed", {{"error", std::strerror(errno)}});
      WaitNet(max_backoff);
      continue;
    }
    mosquitto_threaded_set(m, true);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_username_pw_set(m, opts_.box_id.c_str(), opts_.mqtt_password.c_str());
    mosquitto_will_set(m, status_topic.c_str(), 7, "offline", 1, true);
    mosquitto_max_inflight_messages_set(m, 0);  // the sender bounds what is in flight
    // A live event must leave at once, and a drain with a small window must not wait for the
    // broker's delayed ACK between publishes (Nagle's algorithm: ~40 ms per round trip).
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(m, &Uplink::OnConnect);
    mosquitto_disconnect_callback_set(m, &Uplink::OnDisconnect);
    mosquitto_publish_callback_set(m, &Uplink::OnPublish);
    mosquitto_message_callback_set(m, &Uplink::OnMessage);
    {
      std::lock_guard<std::mutex> lock(mu_);
      refused_ = false;
    }
    int rc = mosquitto_connect(m, opts_.mqtt_host.c_str(), opts_.mqtt_port, opts_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      log::Debug("uplink: connect failed", {{"error", mosquitto_strerror(rc)}});
      mosquitto_destroy(m);
      WaitNet(backoff);
      backoff = std::min(backoff * 2, max_backoff);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(handle_mu_);
      mosq_ = m;
    }
    bool was_connected = false;
    bool refused = false;
    for (;;) {
      if (StopRequested()) break;
      rc = mosquitto_loop(m, static_cast<int>(kLoopTimeout.count()), 1);
      if (connected_.load()) {
        was_connected = true;
        backoff = milliseconds(opts_.backoff_min_ms);
      }
      if (rc != MOSQ_ERR_SUCCESS) break;
      std::lock_guard<std::mutex> lock(mu_);
      if (refused_) {
        refused = true;
        break;
      }
    }
    bool stopping = StopRequested();
    if (stopping && connected_.load()) GracefulClose(m);
    {
      std::lock_guard<std::mutex> lock(handle_mu_);
      mosq_ = nullptr;
    }
    mosquitto_destroy(m);
    if (connected_.exchange(false)) connected_gauge_.Set(0);
    cv_.notify_all();
    if (stopping) break;
    if (was_connected) {
      log::Warn("uplink: connection to the broker lost; reconnecting",
                {{"box", opts_.box_id}, {"error", mosquitto_strerror(rc)}});
    }
    WaitNet(refused ? max_backoff : backoff);
    backoff = std::min(backoff * 2, max_backoff);
  }
  log::Info("uplink: stopped", {{"box", opts_.box_id}});
}

void Uplink::GracefulClose(mosquitto* m) {
  const std::string status_topic = Topic("up/status");
  int mid = 0;
  if (mosquitto_publish(m, &mid, status_topic.c_str(), 7, "offline", 1, true) ==
      MOSQ_ERR_SUCCESS) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      offline_mid_ = mid;
      offline_acked_ = false;
    }
    auto deadline = clock_.Monotonic() + kOfflineFlushTimeout;
    while (clock_.Monotonic() < deadline) {
      if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS) break;
      std::lock_guard<std::mutex> lock(mu_);
      if (offline_acked_) break;
    }
  }
  mosquitto_disconnect(m);
  auto deadline = clock_.Monotonic() + milliseconds(500);
  while (clock_.Monotonic() < deadline) {
    if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS) break;
  }
}

void Uplink::OnConnect(mosquitto* m, void* self_ptr, int rc) {
  auto* self = static_cast<Uplink*>(self_ptr);
  if (rc != 0) {
    log::Warn("uplink: the broker refused the connection",
              {{"box", self->opts_.box_id}, {"reason", mosquitto_connack_string(rc)}});
    std::lock_guard<std::mutex> lock(self->mu_);
    self->refused_ = true;
    return;
  }
  const std::string cmd = self->Topic("down/command");
  const std::string status = self->Topic("up/status");
  int src = mosquitto_subscribe(m, nullptr, cmd.c_str(), 1);
  if (src != MOSQ_ERR_SUCCESS) {
    log::Error("uplink: subscribe failed", {{"error", mosquitto_strerror(src)}});
  }
  mosquitto_publish(m, nullptr, status.c_str(), 6, "online", 1, true);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    ++self->gen_;
    self->connected_ = true;
  }
  self->connected_gauge_.Set(1);
  self->cv_.notify_all();
  log::Info("uplink: connected",
            {{"box", self->opts_.box_id},
             {"broker", self->opts_.mqtt_host + ":" + std::to_string(self->opts_.mqtt_port)}});
}

void Uplink::OnDisconnect(mosquitto*, void* self_ptr, int) {
  auto* self = static_cast<Uplink*>(self_ptr);
  if (self->connected_.exchange(false)) self->connected_gauge_.Set(0);
  self->cv_.notify_all();
}

void Uplink::OnPublish(mosquitto*, void* self_ptr, int mid) {
  auto* self = static_cast<Uplink*>(self_ptr);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->acked_.push_back({self->gen_, mid});
    if (mid == self->offline_mid_) self->offline_acked_ = true;
  }
  self->cv_.notify_all();
}

void Uplink::OnMessage(mosquitto*, void* self_ptr, const mosquitto_message* msg) {
  auto* self = static_cast<Uplink*>(self_ptr);
  if (msg->topic == nullptr || self->Topic("down/command") != msg->topic) return;
  std::string payload;
  if (msg->payload != nullptr && msg->payloadlen > 0) {
    payload.assign(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
  }
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    if (self->commands_.size() >= kMaxQueuedCommands) {
      self->commands_dropped_total_.Inc();
      log::Warn("uplink: too many commands waiting; dropped one",
                {{"bytes", std::to_string(payload.size())}});
      return;
    }
    self->commands_.push_back(std::move(payload));
  }
  self->cmd_cv_.notify_all();
}

// ---- command thread ----

void Uplink::CommandLoop() {
  for (;;) {
    std::string payload;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cmd_cv_.wait(lock, [&] { return stop_ || !commands_.empty(); });
      if (stop_) return;
      payload = std::move(commands_.front());
      commands_.pop_front();
    }
    auto ack = commands_proc_.Handle(payload);
    if (!ack) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (acks_out_.size() >= kMaxQueuedAcks) acks_out_.pop_front();
      acks_out_.push_back(OutAck{next_ack_serial_++, std::move(*ack), UINT64_MAX});
      wake_ = true;
    }
    cv_.notify_all();
  }
}

// ---- sender thread ----

Result<int> Uplink::PublishRaw(const std::string& topic, const std::string& payload,
                               bool retain) {
  if (!connected_.load()) return Fail(ErrorCode::kUnavailable, "not connected");
  std::lock_guard<std::mutex> lock(handle_mu_);
  if (mosq_ == nullptr) return Fail(ErrorCode::kUnavailable, "not connected");
  int mid = 0;
  int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, retain);
  if (rc != MOSQ_ERR_SUCCESS) return Fail(mqtt::MosquittoError(rc, "publish"));
  return mid;
}

void Uplink::SenderLoop() {
  for (bool stopping = false; !stopping;) {
    std::vector<Ack> acks;
    uint64_t gen;
    {
      std::unique_lock<std::mutex> lock(mu_);
      milliseconds wait = kSenderTick;
      if (!to_remove_.empty()) {
        auto left = std::chrono::duration_cast<milliseconds>(
            to_remove_since_ + kRemoveDelay - clock_.Monotonic());
        wait = std::clamp(left, milliseconds(0), kSenderTick);
      }
      cv_.wait_for(lock, wait, [&] {
        return stop_ || wake_ || !acked_.empty() || (connected_.load() && gen_ != sender_gen_);
      });
      stopping = stop_;
      wake_ = false;
      acks.swap(acked_);
      gen = gen_;
    }
    // Match PUBACKs against what this generation published (before any generation change:
    // acks that arrived just before a disconnect still confirm their entries).
    for (const Ack& a : acks) {
      if (a.gen != sender_gen_) continue;
      auto it = pending_.find(a.mid);
      if (it == pending_.end()) continue;
      Pending p = std::move(it->second);
      pending_.erase(it);
      if (p.what == Tracked::kEntry) {
        --inflight_entries_;
        confirmed_total_.Inc();
        {
          std::lock_guard<std::mutex> lock(counters_mu_);
          ++counters_.confirmed;
        }
        Fault("confirmed", p.seq);
        if (to_remove_.empty()) to_remove_since_ = clock_.Monotonic();
        to_remove_.push_back(p.seq);
      } else if (p.what == Tracked::kAck) {
        std::lock_guard<std::mutex> lock(mu_);
        std::erase_if(acks_out_, [&](const OutAck& o) { return o.serial == p.ack_serial; });
      }
    }
    if (stopping) break;  // after taking in the last PUBACKs
    const bool new_gen = gen != sender_gen_ && connected_.load();
    if (new_gen) {
      // A new connection: nothing the old handle had in flight counts any more; start again
      // at the oldest unconfirmed entry (after removing what was confirmed, so that it is not
      // sent again).
      RemoveConfirmed();
      sender_gen_ = gen;
      pending_.clear();
      inflight_entries_ = 0;
      cursor_ = 0;
      next_telemetry_ = clock_.Monotonic();
      retry_at_ = {};
    }
    if (clock_.Monotonic() >= next_outbox_gauge_) {
      // The oldest entry's age matters most while the uplink is down: refresh its gauge
      // (Stats() sets it) whether connected or not.
      (void)outbox_.Stats();
      next_outbox_gauge_ = clock_.Monotonic() + std::chrono::seconds(1);
    }
    if (connected_.load() && sender_gen_ == gen) {
      SendAcks();
      if (clock_.Monotonic() >= next_telemetry_) SendTelemetry();
      // Refill the window before committing the removals: the next steps travel while the
      // outbox commits (entries at or below cursor_ are not read again in this generation).
      if (clock_.Monotonic() >= retry_at_) SendEntries();
    }
    if (!to_remove_.empty() &&
        (to_remove_.size() >= kRemoveBatchMax || inflight_entries_ == 0 ||
         clock_.Monotonic() >= to_remove_since_ + kRemoveDelay || !connected_.load())) {
      RemoveConfirmed();
    }
  }
  RemoveConfirmed();  // confirmed by the broker: do not send them again after a restart
}

void Uplink::RemoveConfirmed() {
  if (to_remove_.empty()) return;
  auto r = outbox_.Remove(to_remove_);
  if (!r) {
    log::Error("uplink: cannot remove confirmed entries (they will be sent again)",
               {{"entries", std::to_string(to_remove_.size())}, {"error", r.error().ToString()}});
  }
  for (int64_t seq : to_remove_) Fault("removed", seq);
  to_remove_.clear();
}

void Uplink::SendAcks() {
  std::vector<std::pair<uint64_t, std::string>> to_send;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& o : acks_out_) {
      if (o.sent_gen == sender_gen_) continue;
      to_send.emplace_back(o.serial, o.ack.ToJson());
    }
  }
  for (auto& [serial, payload] : to_send) {
    auto mid = PublishRaw(Topic("up/ack"), payload, false);
    if (!mid) return;
    pending_[*mid] = Pending{Tracked::kAck, 0, serial};
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& o : acks_out_) {
      if (o.serial == serial) o.sent_gen = sender_gen_;
    }
  }
}

void Uplink::SendTelemetry() {
  next_telemetry_ = clock_.Monotonic() + milliseconds(opts_.telemetry_interval_ms);
  std::vector<CameraStats> cams;
  if (hooks_.camera_stats) {
    try {
      cams = hooks_.camera_stats();
    } catch (const std::exception& e) {
      log::Error("uplink: camera stats provider threw", {{"error", e.what()}});
    }
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(clock_.Monotonic() - started_at_);
  std::vector<std::string> skipped;
  auto msgs = BuildTelemetryMessages(clock_.NowMs(), uptime.count(), cams, outbox_.Stats(),
                                     Counters(), &skipped);
  for (const auto& id : skipped) {
    log::Warn("uplink: camera id too long for telemetry metric names; left out", {{"camera", id}});
  }
  for (const auto& m : msgs) {
    auto mid = PublishRaw(Topic("up/telemetry"), m, false);
    if (!mid) return;
    pending_[*mid] = Pending{Tracked::kOther, 0, 0};
  }
}

// ---- media thread ----

void Uplink::MediaLoop() {
  int64_t cursor = 0;  // entries up to here have no media left to upload
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stop_) return;
        auto now = clock_.Monotonic();
        if (now < media_retry_at_) {
          media_cv_.wait_for(lock, std::chrono::ceil<milliseconds>(media_retry_at_ - now));
          continue;
        }
        if (media_wake_) break;
        // Woken by appends; the tick is only a safety net.
        if (media_cv_.wait_for(lock, kSenderTick) == std::cv_status::timeout) break;
      }
      media_wake_ = false;
    }
    for (bool more = true; more && !StopRequested();) {
      auto batch = outbox_.WithPendingMedia(cursor, kMediaBatch);
      if (!batch) {
        log::Error("uplink: cannot read the outbox", {{"error", batch.error().ToString()}});
        MediaBackOff();
        break;
      }
      more = static_cast<int>(batch->size()) == kMediaBatch;
      for (const OutboxEntry& e : *batch) {
        Prepared p = UploadMedia(e);
        if (p == Prepared::kRetry) {
          MediaBackOff();
          more = false;
          break;
        }
        cursor = e.seq;
        WakeSender();  // the entry may be the one the sender waits for
      }
    }
  }
}

void Uplink::MediaBackOff() {
  std::lock_guard<std::mutex> lock(mu_);
  media_retry_at_ = clock_.Monotonic() + media_backoff_;
  media_backoff_ = std::min(media_backoff_ * 2, milliseconds(opts_.backoff_max_ms));
  media_wake_ = true;  // try again once media_retry_at_ has passed
}

Uplink::Prepared Uplink::UploadMedia(const OutboxEntry& e) {
  // Any failure to record an outcome is a retry: the item must not stay pending behind the
  // cursor, or the sender would wait for it forever.
  auto dead = [&](const OutboxMedia& m, int status, const std::string& error) -> bool {
    auto r = outbox_.MarkMediaDead(m.media_id, status, error);
    if (!r) {
      log::Error("uplink: cannot record a dead letter",
                 {{"media_id", m.media_id}, {"error", r.error().ToString()}});
      return false;
    }
    media_dead_total_.Inc();
    std::lock_guard<std::mutex> lock(counters_mu_);
    ++counters_.media_dead;
    return true;
  };
  for (const auto& m : e.media) {
    if (m.state == MediaState::kUploaded) continue;
    if (StopRequested()) return Prepared::kRetry;
    std::error_code ec;
    if (!std::filesystem::exists(m.path, ec)) {
      if (!outbox_.Contains(e.seq)) return Prepared::kGone;  // evicted meanwhile
      log::Warn("uplink: media file missing; event goes out without it",
                {{"media_id", m.media_id}, {"event_id", e.event_id}, {"path", m.path}});
      if (!dead(m, 0, "media file missing")) return Prepared::kRetry;
      continue;
    }
    if (uploader_ == nullptr) {
      log::Warn("uplink: no media uploader configured; media kept as a dead letter",
                {{"media_id", m.media_id}, {"event_id", e.event_id}});
      if (!dead(m, 0, "no media uploader configured")) return Prepared::kRetry;
      continue;
    }
    MediaUpload u{m.media_id, e.camera_id.empty() ? opts_.box_id : e.camera_id, e.event_id,
                  m.content_type, m.path};
    UploadResult r = uploader_->Upload(u);
    switch (r.outcome) {
      case UploadOutcome::kStored: {
        auto mr = outbox_.MarkMediaUploaded(m.media_id);
        if (!mr) {
          log::Error("uplink: cannot record an upload (it will be repeated)",
                     {{"media_id", m.media_id}, {"error", mr.error().ToString()}});
          return Prepared::kRetry;
        }
        uploaded_total_.Inc();
        {
          std::lock_guard<std::mutex> lock(counters_mu_);
          ++counters_.media_uploaded;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          media_backoff_ = milliseconds(opts_.backoff_min_ms);
        }
        if (retry_logged_) {
          log::Info("uplink: media uploads work again", {{"media_id", m.media_id}});
          retry_logged_ = false;
        }
        break;
      }
      case UploadOutcome::kRejected:
        if (!outbox_.Contains(e.seq)) return Prepared::kGone;
        log::Warn("uplink: the platform refused a media item; kept as a dead letter",
                  {{"media_id", m.media_id},
                   {"event_id", e.event_id},
                   {"camera", e.camera_id},
                   {"status", std::to_string(r.http_status)},
                   {"error", r.error}});
        if (!dead(m, r.http_status, r.error)) return Prepared::kRetry;
        break;
      case UploadOutcome::kRetry:
        if (StopRequested()) return Prepared::kRetry;  // cancelled by Stop(): not a failure
        upload_retries_total_.Inc();
        {
          std::lock_guard<std::mutex> lock(counters_mu_);
          ++counters_.media_retries;
        }
        if (!retry_logged_) {
          log::Warn("uplink: media upload failed; retrying with back-off",
                    {{"media_id", m.media_id}, {"error", r.error}});
          retry_logged_ = true;
        } else {
          log::Debug("uplink: media upload failed again",
                     {{"media_id", m.media_id}, {"error", r.error}});
        }
        return Prepared::kRetry;
    }
  }
  return Prepared::kReady;
}

// ---- sender thread, continued ----

void Uplink::SendEntries() {
  const std::string topic = Topic("up/event");
  while (inflight_entries_ < opts_.inflight_window && connected_.load() && !StopRequested()) {
    auto batch = outbox_.Next(cursor_, opts_.inflight_window - inflight_entries_);
    if (!batch) {
      log::Error("uplink: cannot read the outbox", {{"error", batch.error().ToString()}});
      retry_at_ = clock_.Monotonic() + backoff_;
      backoff_ = std::min(backoff_ * 2, milliseconds(opts_.backoff_max_ms));
      return;
    }
    if (batch->empty()) return;
    for (const OutboxEntry& e : *batch) {
      // Its media first (the media thread uploads them, or dead-letters them and takes their
      // references out of the body): wait here, in order, until that is done; the media
      // thread wakes us.
      if (std::any_of(e.media.begin(), e.media.end(),
                      [](const OutboxMedia& m) { return m.state == MediaState::kPending; })) {
        return;
      }
      backoff_ = milliseconds(opts_.backoff_min_ms);
      Json body;
      if (auto parsed = ParseJson(e.body); parsed && parsed->is_object()) {
        body = std::move(*parsed);
        if (!body["data"].is_object()) body["data"] = Json::object();
      }
      auto drop = [&](const std::string& why) {
        log::Error("uplink: outbox entry cannot be published; dropped",
                   {{"seq", std::to_string(e.seq)}, {"event_id", e.event_id}, {"error", why}});
        bad_entries_total_.Inc();
        {
          std::lock_guard<std::mutex> lock(counters_mu_);
          ++counters_.bad_entries;
        }
        (void)outbox_.Remove(e.seq);
        cursor_ = e.seq;
      };
      if (!body.is_object()) {
        drop("stored body is not a JSON object");
        continue;
      }
      body["id"] = e.MessageId();
      if (e.kind == EntryKind::kNotice) {
        auto mp = outbox_.MarkPublished(e.seq);
        if (!mp) {
          retry_at_ = clock_.Monotonic() + backoff_;
          return;
        }
      }
      auto mid = PublishRaw(topic, DumpJson(body), false);
      if (!mid) {
        if (mid.error().code() == ErrorCode::kInvalidArgument) {
          drop(mid.error().ToString());
          continue;
        }
        return;  // connection gone: the next generation starts over from the oldest entry
      }
      pending_[*mid] = Pending{Tracked::kEntry, e.seq, 0};
      ++inflight_entries_;
      cursor_ = e.seq;
      published_total_.Inc();
      {
        std::lock_guard<std::mutex> lock(counters_mu_);
        ++counters_.published;
      }
      Fault("published", e.seq);
    }
  }
}

}  // namespace linli::edge
