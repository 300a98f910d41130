// MqttPool: many libmosquitto clients driven by ONE thread through epoll.
//
// The simulator connects thousands of devices, each with its own credentials; a thread per
// device would not scale, and mosquitto_loop() uses select() (limited to 1024 descriptors).
// MqttPool keeps every client socket in one epoll set and calls mosquitto_loop_read/_write/
// _misc itself: reads when readable (until the kernel buffer is empty), writes when
// libmosquitto has queued output, keepalive and reconnects (exponential back-off) once a second.
//
// libmosquitto 2.0 gives every client a socket pair and writes one byte into it for each queued
// packet (to wake mosquitto_loop's select). Nobody reads it when we drive the loop ourselves, so
// Add() locates the read end and Poll() drains it; Add() must therefore not race with other
// threads opening descriptors (create all clients before starting other threads).
//
// Ownership: the pool owns its clients and the epoll descriptor; the listener must outlive it.
// Thread-safety: none. One thread drives a pool (Add, Connect, Publish, Poll, ...); listener
// callbacks run on that thread, inside Poll() or inside the call that caused them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

struct mosquitto;
struct mosquitto_message;

namespace linli::sim {

struct HostPort {
  std::string host = "127.0.0.1";
  int port = 1883;
};
// "host:port" or "host" (then `default_port`).
Result<HostPort> ParseHostPort(std::string_view s, int default_port = 1883);

// mosquitto_lib_init() once per process (thread-safe).
void InitMosquittoLib();

struct MqttClientOptions {
  std::string client_id;
  std::string username;  // empty: no credentials
  std::string password;
  bool clean_session = true;
  int keepalive_s = 60;
  // Will, registered before every connect. Empty topic: none.
  std::string will_topic;
  std::string will_payload;
  int will_qos = 1;
  bool will_retain = true;
  // libmosquitto's client-side QoS 1/2 in-flight window (0 = unlimited).
  int max_inflight = 20;
  // Reconnect with back-off after a lost connection or a refused CONNACK.
  bool auto_reconnect = true;
};

class MqttPoolListener {
 public:
  virtual ~MqttPoolListener() = default;
  virtual void OnConnected(size_t client) { (void)client; }
  // A TCP connect failure or a refused CONNACK (rc: MQTT v3 CONNACK code, or -1 for TCP).
  virtual void OnConnectFailed(size_t client, int rc, const std::string& reason) {
    (void)client, (void)rc, (void)reason;
  }
  // A connection that had been accepted ended (rc 0 = we disconnected cleanly).
  virtual void OnDisconnected(size_t client, int rc) { (void)client, (void)rc; }
  virtual void OnMessage(size_t client, std::string_view topic, std::string_view payload) {
    (void)client, (void)topic, (void)payload;
  }
  // A QoS 1 message was acknowledged by the broker (QoS 0: written).
  virtual void OnPublished(size_t client, int mid) { (void)client, (void)mid; }
  // The broker answered a SUBSCRIBE (granted_qos 128 = refused).
  virtual void OnSubscribed(size_t client, int mid, int granted_qos) { (void)client, (void)mid, (void)granted_qos; }
};

class MqttPool {
 public:
  MqttPool(HostPort broker, MqttPoolListener* listener, Clock& clock);
  ~MqttPool();
  MqttPool(const MqttPool&) = delete;
  MqttPool& operator=(const MqttPool&) = delete;

  // Creates a client, not yet connected. Returns its index.
  Result<size_t> Add(const MqttClientOptions& options);
  size_t size() const { return clients_.size(); }

  // TCP connect and CONNECT; the CONNACK arrives through the listener during Poll().
  Result<void> Connect(size_t client);
  // Queues and (if possible) writes a PUBLISH; returns the message id.
  Result<int> Publish(size_t client, const std::string& topic, std::string_view payload, int qos,
                      bool retain);
  // Sends SUBSCRIBE; returns the message id that OnSubscribed() will report.
  Result<int> Subscribe(size_t client, const std::string& pattern, int qos);
  // Sends DISCONNECT (the broker discards the will); never reconnects afterwards.
  void Disconnect(size_t client);
  // Closes the socket without DISCONNECT, so that the broker publishes the will; never
  // reconnects afterwards.
  void Kill(size_t client);

  bool IsConnected(size_t client) const;
  // True once a client is closed for good (Disconnect/Kill finished).
  bool IsClosed(size_t client) const;
  // QoS 1 messages published and not yet acknowledged.
  int Outstanding(size_t client) const;
  size_t ConnectedCount() const { return connected_; }

  // Waits up to `timeout_ms` for socket activity and services it, then runs keepalive and due
  // reconnects. Returns the number of sockets serviced.
  int Poll(int timeout_ms);

  struct Client;  // internal, public for the C callbacks

 private:
  friend struct PoolCallbacks;
  void AfterIo(Client& c);
  void OnSocketGone(Client& c);
  void Misc();
  void ScheduleRetry(Client& c);
  void Register(Client& c);

  HostPort broker_;
  MqttPoolListener* listener_;
  Clock& clock_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Client>> clients_;
  size_t connected_ = 0;
  std::chrono::steady_clock::time_point next_misc_;
};

}  // namespace linli::sim
