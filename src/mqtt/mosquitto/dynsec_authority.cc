#include "mqtt/mosquitto/dynsec_authority.h"

#include <mosquitto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_set>

#include "common/ids.h"
#include "common/log.h"
#include "mqtt/dynsec_config.h"
#include "mqtt/mosquitto/mosq_util.h"

namespace linli::mqtt {
namespace {

constexpr char kControlTopic[] = "$CONTROL/dynamic-security/v1";
constexpr char kResponseTopic[] = "$CONTROL/dynamic-security/v1/response";

// Response messages are produced by the broker's plugin, but still parsed defensively.
constexpr int kMaxResponseDepth = 32;

std::string ErrorOf(const Json& response) {
  auto it = response.find("error");
  if (it == response.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

Error CommandError(const Json& response, const std::string& what) {
  std::string err = ErrorOf(response);
  ErrorCode code = ErrorCode::kInternal;
  if (err.find("not found") != std::string::npos) code = ErrorCode::kNotFound;
  if (err.find("already exists") != std::string::npos) code = ErrorCode::kConflict;
  return Error(code, "dynamic-security " + what + ": " + err);
}

}  // namespace

size_t NextChunkSize(size_t current, size_t devices, double elapsed_ms,
                     const DynsecTuning& tuning) {
  size_t max = std::max<size_t>(1, tuning.max_devices_per_message);
  if (devices == 0) return std::clamp<size_t>(current, 1, max);
  double per_device = std::max(elapsed_ms / static_cast<double>(devices), 1e-3);
  double ideal = static_cast<double>(std::max(tuning.target_message_ms, 1)) / per_device;
  size_t next = ideal >= static_cast<double>(max) ? max : static_cast<size_t>(ideal);
  next = std::min(next, std::max<size_t>(current, 1) * 2);
  return std::clamp<size_t>(next, 1, max);
}

DynsecAuthority::DynsecAuthority(BrokerAdminOptions options, DynsecTuning tuning)
    : opts_(std::move(options)),
      tuning_(tuning),
      chunk_(std::clamp<size_t>(tuning.initial_devices_per_message, 1,
                                std::max<size_t>(1, tuning.max_devices_per_message))) {
  if (opts_.host.empty()) {
    init_error_ = Error(ErrorCode::kInvalidArgument, "must not be empty", "host");
  } else if (opts_.port < 1 || opts_.port > 65535) {
    init_error_ = Error(ErrorCode::kInvalidArgument, "must be in 1..65535", "port");
  } else if (opts_.username.empty() || opts_.password.empty()) {
    init_error_ =
        Error(ErrorCode::kInvalidArgument, "admin username and password are required", "username");
  } else if (opts_.timeout_ms < 1) {
    init_error_ = Error(ErrorCode::kInvalidArgument, "must be positive", "timeout_ms");
  } else if (tuning_.max_devices_per_message < 1 || tuning_.max_message_bytes < 1024) {
    init_error_ = Error(ErrorCode::kInvalidArgument, "chunk limits too small", "tuning");
  }
  if (init_error_) return;

  EnsureMosquittoLibInit();
  corr_prefix_ = RandomHex(6);
  std::string client_id = "linli-admin-" + corr_prefix_;
  mosq_ = mosquitto_new(client_id.c_str(), true, this);
  if (mosq_ == nullptr) {
    init_error_ = Error(ErrorCode::kInternal, "mosquitto_new failed");
    return;
  }
  // Publishes from caller threads only queue; the loop thread writes (woken via wake_fd_).
  mosquitto_threaded_set(mosq_, true);
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_username_pw_set(mosq_, opts_.username.c_str(), opts_.password.c_str());
  mosquitto_connect_callback_set(mosq_, &DynsecAuthority::OnConnect);
  mosquitto_disconnect_callback_set(mosq_, &DynsecAuthority::OnDisconnect);
  mosquitto_subscribe_callback_set(mosq_, &DynsecAuthority::OnSubscribe);
  mosquitto_message_callback_set(mosq_, &DynsecAuthority::OnMessage);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    init_error_ = Error(ErrorCode::kUnavailable, std::string("eventfd: ") + std::strerror(errno));
    return;
  }
  thread_ = std::thread([this] { Run(); });
}

DynsecAuthority::~DynsecAuthority() {
  if (thread_.joinable()) {
    stop_ = true;
    Wake();
    thread_.join();
  }
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void DynsecAuthority::Wake() {
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
}

void DynsecAuthority::Run() {
  using std::chrono::milliseconds;
  using SteadyClock = std::chrono::steady_clock;
  constexpr milliseconds kMaxBackoff{2000};
  bool attempted = false;
  bool had_socket = false;
  auto next_attempt = SteadyClock::now();
  auto schedule_retry = [&] {
    next_attempt = SteadyClock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  };
  while (!stop_.load()) {
    int sock = mosquitto_socket(mosq_);
    if (sock < 0 && had_socket) {
      had_socket = false;
      schedule_retry();
    }
    if (sock < 0 && SteadyClock::now() >= next_attempt) {
      int rc = attempted ? mosquitto_reconnect_async(mosq_)
                         : mosquitto_connect_async(mosq_, opts_.host.c_str(), opts_.port, 30);
      attempted = true;
      sock = mosquitto_socket(mosq_);
      if (rc != MOSQ_ERR_SUCCESS || sock < 0) {
        log::Debug("dynsec admin connect attempt failed", {{"error", mosquitto_strerror(rc)}});
        schedule_retry();
      } else {
        had_socket = true;
      }
    }
    pollfd fds[2];
    fds[0] = {wake_fd_, POLLIN, 0};
    nfds_t nfds = 1;
    int timeout_ms = 500;
    if (sock >= 0) {
      fds[1] = {sock, static_cast<short>(POLLIN | (mosquitto_want_write(mosq_) ? POLLOUT : 0)), 0};
      nfds = 2;
    } else {
      auto until = std::chrono::duration_cast<milliseconds>(next_attempt - SteadyClock::now());
      timeout_ms = static_cast<int>(std::clamp<int64_t>(until.count() + 1, 0, 500));
    }
    int pr = ::poll(fds, nfds, timeout_ms);
    if (pr > 0 && (fds[0].revents & POLLIN)) {
      uint64_t v;
      ssize_t n = ::read(wake_fd_, &v, sizeof v);
      (void)n;
    }
    if (sock < 0) continue;
    if (pr > 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) {
      mosquitto_loop_read(mosq_, 1);
    }
    if (mosquitto_socket(mosq_) < 0) continue;
    mosquitto_loop_misc(mosq_);
    if (mosquitto_socket(mosq_) >= 0 && mosquitto_want_write(mosq_)) mosquitto_loop_write(mosq_, 1);
  }
  if (mosquitto_socket(mosq_) >= 0) {
    mosquitto_disconnect(mosq_);
    auto deadline = SteadyClock::now() + milliseconds(500);
    while (mosquitto_socket(mosq_) >= 0 && mosquitto_want_write(mosq_) &&
           SteadyClock::now() < deadline) {
      pollfd p{mosquitto_socket(mosq_), POLLOUT, 0};
      if (::poll(&p, 1, 50) > 0 && mosquitto_loop_write(mosq_, 1) != MOSQ_ERR_SUCCESS) break;
    }
  }
}

int64_t DynsecAuthority::messages_sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_sent_;
}

void DynsecAuthority::OnConnect(mosquitto* m, void* self_ptr, int rc) {
  auto* self = static_cast<DynsecAuthority*>(self_ptr);
  if (rc != 0) {
    log::Warn("dynsec admin connection refused", {{"reason", mosquitto_connack_string(rc)}});
    return;
  }
  self->backoff_ = std::chrono::milliseconds(100);
  int mid = -1;
  int src = mosquitto_subscribe(m, &mid, kResponseTopic, 1);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->subscribe_mid_ = src == MOSQ_ERR_SUCCESS ? mid : -1;
  if (src != MOSQ_ERR_SUCCESS) {
    log::Error("dynsec admin subscribe failed", {{"error", mosquitto_strerror(src)}});
  }
}

void DynsecAuthority::OnSubscribe(mosquitto*, void* self_ptr, int mid, int count,
                                  const int* granted) {
  auto* self = static_cast<DynsecAuthority*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  if (mid != self->subscribe_mid_) return;
  if (count >= 1 && granted[0] < 0x80) {
    self->ready_ = true;
  } else {
    log::Error("dynsec response topic refused: the admin role lacks $CONTROL access");
  }
  self->cv_.notify_all();
}

void DynsecAuthority::OnDisconnect(mosquitto*, void* self_ptr, int rc) {
  auto* self = static_cast<DynsecAuthority*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  if (self->ready_ && rc != 0) {
    log::Warn("dynsec admin connection lost", {{"reason", mosquitto_strerror(rc)}});
  }
  self->ready_ = false;
  ++self->generation_;
  self->cv_.notify_all();
}

void DynsecAuthority::OnMessage(mosquitto*, void* self_ptr, const mosquitto_message* msg) {
  auto* self = static_cast<DynsecAuthority*>(self_ptr);
  if (msg->payload == nullptr || msg->payloadlen <= 0) return;
  auto parsed = ParseJson(std::string_view(static_cast<const char*>(msg->payload),
                                           static_cast<size_t>(msg->payloadlen)),
                          kMaxResponseDepth);
  if (!parsed || !parsed->is_object()) {
    log::Warn("dynsec response is not a JSON object");
    return;
  }
  auto rs = parsed->find("responses");
  if (rs == parsed->end() || !rs->is_array()) return;
  std::lock_guard<std::mutex> lock(self->mu_);
  for (auto& r : *rs) {
    if (!r.is_object()) continue;
    auto c = r.find("correlationData");
    if (c == r.end() || !c->is_string()) continue;
    auto it = self->pending_.find(c->get<std::string>());
    if (it == self->pending_.end() || it->second.has_value()) continue;  // not ours / duplicate
    it->second = std::move(r);
    --self->outstanding_;
  }
  if (self->outstanding_ == 0) self->cv_.notify_all();
}

Result<void> DynsecAuthority::WaitReady() {
  return WaitReadyUntil(std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(opts_.timeout_ms));
}

Result<void> DynsecAuthority::WaitReadyUntil(std::chrono::steady_clock::time_point deadline) {
  if (init_error_) return Fail(*init_error_);
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return ready_; })) {
    return Fail(ErrorCode::kUnavailable,
                "no connection to the broker's dynamic-security plugin at " + opts_.host + ":" +
                    std::to_string(opts_.port));
  }
  return {};
}

Result<std::vector<Json>> DynsecAuthority::Execute(std::vector<Json> commands) {
  if (init_error_) return Fail(*init_error_);
  if (commands.empty()) return std::vector<Json>{};
  std::lock_guard<std::mutex> call_lock(call_mu_);
  // One deadline for the whole round trip (connection, publish, all responses).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.timeout_ms);
  LINLI_RETURN_IF_ERROR(WaitReadyUntil(deadline));

  std::vector<std::string> ids;
  ids.reserve(commands.size());
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gen = generation_;
    for (auto& c : commands) {
      if (!c.is_object() || !c.contains("command")) {
        return InvalidArgument("commands", "each command must be an object with \"command\"");
      }
      std::string id = corr_prefix_ + "-" + std::to_string(next_corr_++);
      c["correlationData"] = id;
      pending_.emplace(id, std::nullopt);
      ids.push_back(std::move(id));
    }
    outstanding_ = ids.size();
  }
  auto clear_pending = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& id : ids) pending_.erase(id);
    outstanding_ = 0;
  };
  std::string payload = DumpJson(Json{{"commands", std::move(commands)}});
  int rc = mosquitto_publish(mosq_, nullptr, kControlTopic, static_cast<int>(payload.size()),
                             payload.data(), 1, false);
  if (rc != MOSQ_ERR_SUCCESS) {
    clear_pending();
    return Fail(MosquittoError(rc, "publish to " + std::string(kControlTopic)));
  }
  Wake();
  std::unique_lock<std::mutex> lock(mu_);
  ++messages_sent_;
  bool done =
      cv_.wait_until(lock, deadline, [&] { return outstanding_ == 0 || generation_ != gen; });
  bool complete = outstanding_ == 0;
  std::vector<Json> out;
  if (complete) {
    out.reserve(ids.size());
    for (const auto& id : ids) out.push_back(std::move(*pending_[id]));
  }
  for (const auto& id : ids) pending_.erase(id);
  outstanding_ = 0;
  if (!complete) {
    return Fail(ErrorCode::kUnavailable,
                done ? "connection to the broker lost while waiting for dynamic-security"
                     : "dynamic-security did not answer within " +
                           std::to_string(opts_.timeout_ms) + " ms");
  }
  return out;
}

Result<void> DynsecAuthority::UpsertDevices(const std::vector<DeviceCredential>& devices) {
  if (init_error_) return Fail(*init_error_);
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    std::string at = "devices[" + std::to_string(i) + "]";
    LINLI_RETURN_IF_ERROR(ValidateTopicId(d.device_id, at + ".device_id"));
    LINLI_RETURN_IF_ERROR(ValidateTopicId(d.compound_id, at + ".compound_id"));
    if (d.device_id == kAdminUsername || d.device_id == kServiceUsername) {
      return InvalidArgument(at + ".device_id", "is reserved for linlid");
    }
    if (d.password.size() > 65535) return InvalidArgument(at + ".password", "too long");
    if (!seen.insert(d.device_id).second) {
      return InvalidArgument(at + ".device_id", "appears twice in one call");
    }
  }
  // Chunk by count (adaptive, see DynsecTuning) and by the size of the JSON the chunk produces.
  size_t start = 0;
  while (start < devices.size()) {
    size_t chunk = chunk_.load();
    size_t end = start;
    size_t bytes = 64;
    while (end < devices.size() && end - start < chunk) {
      const auto& d = devices[end];
      // Rough upper bound of the two commands' JSON (ACL topics repeat the ids three times).
      size_t cost = 420 + 4 * d.device_id.size() + 3 * d.compound_id.size() + d.password.size();
      if (end > start && bytes + cost > tuning_.max_message_bytes) break;
      bytes += cost;
      ++end;
    }
    std::vector<DeviceCredential> batch(devices.begin() + static_cast<std::ptrdiff_t>(start),
                                        devices.begin() + static_cast<std::ptrdiff_t>(end));
    auto t0 = std::chrono::steady_clock::now();
    LINLI_RETURN_IF_ERROR(UpsertChunk(batch, start));
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    chunk_ = NextChunkSize(chunk, end - start, ms, tuning_);
    start = end;
  }
  return {};
}

Result<void> DynsecAuthority::UpsertChunk(const std::vector<DeviceCredential>& devices,
                                          size_t first_index) {
  // Round 1: create. Each device contributes createRole then (with a password) createClient,
  // or (without) modifyClient straight away.
  std::vector<Json> cmds;
  cmds.reserve(devices.size() * 2);
  for (const auto& d : devices) {
    std::string role = DeviceRoleName(d.device_id);
    cmds.push_back({{"command", "createRole"},
                    {"rolename", role},
                    {"acls", DeviceAcls(d.compound_id, d.device_id)}});
    Json roles = Json::array({{{"rolename", role}}});
    if (!d.password.empty()) {
      cmds.push_back({{"command", "createClient"},
                      {"username", d.device_id},
                      {"clientid", d.device_id},
                      {"password", d.password},
                      {"roles", roles}});
    } else {
      cmds.push_back({{"command", "modifyClient"},
                      {"username", d.device_id},
                      {"clientid", d.device_id},
                      {"roles", roles}});
    }
  }
  LINLI_ASSIGN_OR_RETURN(std::vector<Json> res, Execute(std::move(cmds)));

  // Round 2: replace what already existed.
  std::vector<Json> fix;
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    std::string at = "devices[" + std::to_string(first_index + i) + "]";
    const Json& role_res = res[2 * i];
    const Json& client_res = res[2 * i + 1];
    std::string role_err = ErrorOf(role_res);
    std::string client_err = ErrorOf(client_res);
    std::string role = DeviceRoleName(d.device_id);
    if (role_err == "Role already exists") {
      fix.push_back({{"command", "modifyRole"},
                     {"rolename", role},
                     {"acls", DeviceAcls(d.compound_id, d.device_id)}});
    } else if (!role_err.empty()) {
      return Fail(CommandError(role_res, "createRole " + role));
    }
    if (d.password.empty()) {
      if (client_err == "Client not found") {
        return InvalidArgument(at + ".password", "required: the broker has no client for device '" +
                                                     d.device_id + "'");
      }
      if (!client_err.empty()) return Fail(CommandError(client_res, "modifyClient " + d.device_id));
    } else if (client_err == "Client already exists") {
      fix.push_back({{"command", "modifyClient"},
                     {"username", d.device_id},
                     {"clientid", d.device_id},
                     {"password", d.password},
                     {"roles", Json::array({{{"rolename", role}}})}});
    } else if (!client_err.empty()) {
      return Fail(CommandError(client_res, "createClient " + d.device_id));
    }
  }
  if (fix.empty()) return {};
  std::vector<std::string> what;
  for (const auto& f : fix) {
    what.push_back(f["command"].get<std::string>() + " " +
                   (f.contains("rolename") ? f["rolename"].get<std::string>()
                                           : f["username"].get<std::string>()));
  }
  LINLI_ASSIGN_OR_RETURN(std::vector<Json> res2, Execute(std::move(fix)));
  for (size_t i = 0; i < res2.size(); ++i) {
    if (!ErrorOf(res2[i]).empty()) return Fail(CommandError(res2[i], what[i]));
  }
  return {};
}

Result<void> DynsecAuthority::DeleteDevice(const std::string& device_id) {
  if (init_error_) return Fail(*init_error_);
  LINLI_RETURN_IF_ERROR(ValidateTopicId(device_id, "device_id"));
  if (device_id == kAdminUsername || device_id == kServiceUsername) {
    return InvalidArgument("device_id", "is reserved for linlid");
  }
  std::string role = DeviceRoleName(device_id);
  LINLI_ASSIGN_OR_RETURN(std::vector<Json> res,
                         Execute({{{"command", "deleteClient"}, {"username", device_id}},
                                  {{"command", "deleteRole"}, {"rolename", role}}}));
  std::string e0 = ErrorOf(res[0]);
  std::string e1 = ErrorOf(res[1]);
  if (!e0.empty() && e0 != "Client not found") {
    return Fail(CommandError(res[0], "deleteClient " + device_id));
  }
  if (!e1.empty() && e1 != "Role not found")
    return Fail(CommandError(res[1], "deleteRole " + role));
  return {};
}

Result<void> DynsecAuthority::SetDeviceEnabled(const std::string& device_id, bool enabled) {
  if (init_error_) return Fail(*init_error_);
  LINLI_RETURN_IF_ERROR(ValidateTopicId(device_id, "device_id"));
  if (device_id == kAdminUsername || device_id == kServiceUsername) {
    return InvalidArgument("device_id", "is reserved for linlid");
  }
  const char* cmd = enabled ? "enableClient" : "disableClient";
  LINLI_ASSIGN_OR_RETURN(std::vector<Json> res,
                         Execute({{{"command", cmd}, {"username", device_id}}}));
  std::string err = ErrorOf(res[0]);
  if (err.empty()) return {};
  if (err == "Client not found") {
    return Fail(ErrorCode::kNotFound, "the broker has no client for device '" + device_id + "'");
  }
  return Fail(CommandError(res[0], std::string(cmd) + " " + device_id));
}

std::unique_ptr<CredentialAuthority> MakeDynsecAuthority(const BrokerAdminOptions& options,
                                                         const DynsecTuning& tuning) {
  return std::make_unique<DynsecAuthority>(options, tuning);
}

std::unique_ptr<CredentialAuthority> MakeDynsecAuthority(const BrokerAdminOptions& options) {
  return std::make_unique<DynsecAuthority>(options);
}

}  // namespace linli::mqtt
