#include "mqtt/testing/test_client.h"

#include <mosquitto.h>

#include <map>

#include "mqtt/mosquitto/mosq_util.h"

namespace linli::mqtt::testing {

Result<std::unique_ptr<TestClient>> TestClient::Connect(const Options& options) {
  if (options.client_id.empty()) return InvalidArgument("client_id", "required");
  EnsureMosquittoLibInit();
  std::unique_ptr<TestClient> c(new TestClient(options));
  c->mosq_ = mosquitto_new(options.client_id.c_str(), options.clean_session, c.get());
  if (c->mosq_ == nullptr) return Fail(ErrorCode::kInternal, "mosquitto_new failed");
  mosquitto_int_option(c->mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  if (!options.username.empty()) {
    mosquitto_username_pw_set(c->mosq_, options.username.c_str(),
                              options.password.empty() ? nullptr : options.password.c_str());
  }
  mosquitto_max_inflight_messages_set(c->mosq_, 0);  // unlimited: tests publish in bulk
  mosquitto_connect_callback_set(c->mosq_, &TestClient::OnConnect);
  mosquitto_disconnect_callback_set(c->mosq_, &TestClient::OnDisconnect);
  mosquitto_publish_callback_set(c->mosq_, &TestClient::OnPublish);
  mosquitto_subscribe_callback_set(c->mosq_, &TestClient::OnSubscribe);
  mosquitto_message_callback_set(c->mosq_, &TestClient::OnMessage);
  int rc = mosquitto_connect(c->mosq_, options.host.c_str(), options.port, 30);
  if (rc != MOSQ_ERR_SUCCESS) return Fail(MosquittoError(rc, "connect"));
  rc = mosquitto_loop_start(c->mosq_);
  if (rc != MOSQ_ERR_SUCCESS) return Fail(MosquittoError(rc, "loop_start"));
  c->loop_started_ = true;
  std::unique_lock<std::mutex> lock(c->mu_);
  bool got = c->cv_.wait_for(lock, std::chrono::milliseconds(options.timeout_ms),
                             [&] { return c->connack_.has_value(); });
  if (!got) return Fail(ErrorCode::kUnavailable, "no CONNACK within the timeout");
  int code = *c->connack_;
  lock.unlock();
  if (code != 0) {
    return Fail(ErrorCode::kUnauthenticated, "connection refused (" + std::to_string(code) +
                                                 "): " + mosquitto_connack_string(code));
  }
  return c;
}

TestClient::~TestClient() {
  Disconnect();
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
}

void TestClient::Disconnect() {
  if (mosq_ == nullptr || !loop_started_) return;
  mosquitto_disconnect(mosq_);
  mosquitto_loop_stop(mosq_, false);
  loop_started_ = false;
}

void TestClient::OnConnect(mosquitto* m, void* self_ptr, int rc) {
  auto* self = static_cast<TestClient*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  if (!self->connack_) self->connack_ = rc;
  if (rc != 0) {
    // Do not let the loop thread keep retrying a refused connection.
    mosquitto_disconnect(m);
  } else {
    self->connected_ = true;
  }
  self->cv_.notify_all();
}

void TestClient::OnDisconnect(mosquitto*, void* self_ptr, int) {
  auto* self = static_cast<TestClient*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->disconnected_ = true;
  self->connected_ = false;
  self->cv_.notify_all();
}

void TestClient::OnPublish(mosquitto*, void* self_ptr, int mid) {
  auto* self = static_cast<TestClient*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->acked_.insert(mid);
  self->cv_.notify_all();
}

void TestClient::OnSubscribe(mosquitto*, void* self_ptr, int mid, int count, const int* granted) {
  auto* self = static_cast<TestClient*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->granted_[mid] = count > 0 ? granted[0] : 0x80;
  self->cv_.notify_all();
}

void TestClient::OnMessage(mosquitto*, void* self_ptr, const mosquitto_message* msg) {
  auto* self = static_cast<TestClient*>(self_ptr);
  Message m;
  m.topic = msg->topic ? msg->topic : "";
  if (msg->payload && msg->payloadlen > 0) {
    m.payload.assign(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
  }
  m.qos = msg->qos;
  m.retain = msg->retain;
  std::lock_guard<std::mutex> lock(self->mu_);
  self->inbox_.push_back(std::move(m));
  self->cv_.notify_all();
}

Result<void> TestClient::Publish(const std::string& topic, const std::string& payload, int qos,
                                 bool retain) {
  int mid = 0;
  int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), qos, retain);
  if (rc != MOSQ_ERR_SUCCESS) return Fail(MosquittoError(rc, "publish"));
  std::unique_lock<std::mutex> lock(mu_);
  bool ok = cv_.wait_for(lock, std::chrono::milliseconds(opts_.timeout_ms),
                         [&] { return acked_.count(mid) > 0 || disconnected_; });
  if (!ok || !acked_.count(mid)) {
    return Fail(ErrorCode::kUnavailable, "publish not acknowledged");
  }
  acked_.erase(mid);
  return {};
}

Result<int> TestClient::Subscribe(const std::string& filter, int qos) {
  int mid = 0;
  int rc = mosquitto_subscribe(mosq_, &mid, filter.c_str(), qos);
  if (rc != MOSQ_ERR_SUCCESS) return Fail(MosquittoError(rc, "subscribe"));
  std::unique_lock<std::mutex> lock(mu_);
  bool ok = cv_.wait_for(lock, std::chrono::milliseconds(opts_.timeout_ms),
                         [&] { return granted_.count(mid) > 0 || disconnected_; });
  if (!ok || !granted_.count(mid)) return Fail(ErrorCode::kUnavailable, "no SUBACK");
  int g = granted_[mid];
  granted_.erase(mid);
  return g;
}

std::optional<Message> TestClient::NextMessage(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !inbox_.empty(); })) return std::nullopt;
  Message m = std::move(inbox_.front());
  inbox_.pop_front();
  return m;
}

bool TestClient::WaitDisconnected(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return disconnected_; });
}

}  // namespace linli::mqtt::testing
