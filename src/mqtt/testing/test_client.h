// Test support: a small synchronous MQTT client (libmosquitto, its own loop thread) that plays a
// device or an observer in integration tests.
//
//   TestClient::Options o{.port = broker->Port(), .client_id = "d1", .username = "d1",
//                         .password = pw};
//   auto dev = TestClient::Connect(o);              // kUnauthenticated if the broker refuses
//   (*dev)->Publish("linli/v1/c1/d1/up/event", "{}"); // QoS 1: returns after the PUBACK
//   auto granted = (*dev)->Subscribe("linli/v1/c1/d1/down/#");  // 0x80 = refused
//   auto m = (*dev)->NextMessage(std::chrono::seconds(5));
//
// Thread-safety: one test thread drives a client; callbacks run on its loop thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/result.h"
#include "mqtt/transport.h"

struct mosquitto;
struct mosquitto_message;

namespace linli::mqtt::testing {

class TestClient {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::string client_id;  // required
    std::string username;   // empty: anonymous
    std::string password;
    bool clean_session = true;
    int timeout_ms = 5000;  // for every blocking call
  };

  // Connects and waits for the CONNACK. kUnauthenticated (message names the CONNACK reason) if
  // the broker refuses, kUnavailable if it cannot be reached in time.
  static Result<std::unique_ptr<TestClient>> Connect(const Options& options);
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Publishes; for QoS > 0 waits until the broker acknowledged. Note that MQTT 3.1.1 brokers
  // acknowledge (and silently drop) publishes that an ACL denies.
  Result<void> Publish(const std::string& topic, const std::string& payload, int qos = 1,
                       bool retain = false);
  // Subscribes and returns the granted QoS (0x80 when refused).
  Result<int> Subscribe(const std::string& filter, int qos = 1);
  // The next received message, or nullopt after `timeout`.
  std::optional<Message> NextMessage(std::chrono::milliseconds timeout);
  // True once the broker has closed the connection (e.g. the client was disabled).
  bool WaitDisconnected(std::chrono::milliseconds timeout);
  // Closes cleanly (DISCONNECT). Idempotent.
  void Disconnect();

 private:
  explicit TestClient(Options o) : opts_(std::move(o)) {}
  static void OnConnect(mosquitto* m, void* self, int rc);
  static void OnDisconnect(mosquitto* m, void* self, int rc);
  static void OnPublish(mosquitto* m, void* self, int mid);
  static void OnSubscribe(mosquitto* m, void* self, int mid, int count, const int* granted);
  static void OnMessage(mosquitto* m, void* self, const mosquitto_message* msg);

  Options opts_;
  mosquitto* mosq_ = nullptr;
  bool loop_started_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<int> connack_;
  bool connected_ = false;
  bool disconnected_ = false;
  std::set<int> acked_;
  std::map<int, int> granted_;
  std::deque<Message> inbox_;
};

}  // namespace linli::mqtt::testing
