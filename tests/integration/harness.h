// Test harness for integration tests: real processes (mosquitto, linlid) on loopback with
// temporary data dirs, an HTTP client, and MQTT device clients. Everything is hermetic: free
// ports, per-test temp dirs, polling with deadlines instead of sleeps.
#pragma once

#include <mosquitto.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/json.h"

namespace linli::testing {

// A temporary directory removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loopback TCP port that was free a moment ago.
int FreePort();

// Polls `pred` every 20 ms until it is true or `timeout` passes. Returns its last value.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A child process with stdout/stderr to a log file.
class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // Starts argv[0] (absolute path) with extra environment entries "K=V".
  bool Start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::vector<std::string>& env = {});
  // Sends `sig` and waits for exit (up to 10 s, then SIGKILL). Returns the exit status as
  // waitpid reports it, or -1 if not running.
  int Stop(int sig = 15);
  bool Running();
  pid_t pid() const { return pid_; }
  std::string LogTail(size_t bytes = 4000) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Paths to the binaries under test (LINLI_BIN_DIR set by CTest).
std::string BinPath(const std::string& name);
std::string MosquittoPath();

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  Json json() const;
};

// One synchronous HTTP/1.1 request to 127.0.0.1:port (Boost.Beast).
HttpResponse Http(int port, const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& token = "", const std::string& content_type = "application/json");
inline HttpResponse HttpJson(int port, const std::string& method, const std::string& target, const Json& body,
                             const std::string& token = "") {
  return Http(port, method, target, body.dump(), token);
}

// A device (or any client) on the broker through libmosquitto with its own network thread.
class MqttClient {
 public:
  MqttClient(const std::string& client_id, bool clean_session = true);
  ~MqttClient();
  // Sets a will (before Connect).
  void SetWill(const std::string& topic, const std::string& payload, int qos, bool retain);
  // Connects and waits for CONNACK. Returns the CONNACK code (0 accepted, 5 not authorised),
  // or -1 on a network failure/timeout.
  int Connect(int port, const std::string& username, const std::string& password);
  void Disconnect();
  // Drops the TCP connection without DISCONNECT so that the broker publishes the will.
  void Abort();
  // Publishes and waits for the broker's acknowledgement (QoS 1/2). True if acknowledged.
  bool Publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false);
  // Publishes without waiting; returns the message id or -1.
  int PublishAsync(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false);
  // Waits until every async publish so far is acknowledged.
  bool WaitAllAcked(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Subscribes and waits for SUBACK; returns the granted QoS (0x80 = refused), -1 on timeout.
  int Subscribe(const std::string& pattern, int qos = 1);
  // Messages received so far (topic, payload).
  std::vector<std::pair<std::string, std::string>> Received();
  bool connected() const { return connected_; }

 private:
  static void OnConnect(mosquitto*, void*, int rc);
  static void OnDisconnect(mosquitto*, void*, int rc);
  static void OnPublish(mosquitto*, void*, int mid);
  static void OnSubscribe(mosquitto*, void*, int mid, int count, const int* granted);
  static void OnMessage(mosquitto*, void*, const mosquitto_message* m);

  mosquitto* mosq_;
  std::mutex mu_;
  std::condition_variable cv_;
  int connack_ = -2;
  std::atomic<bool> connected_{false};
  std::set<int> pending_;
  std::map<int, int> suback_;
  std::vector<std::pair<std::string, std::string>> received_;
  bool loop_started_ = false;
};

// A broker configured by `linlid broker init` in `dir`, run from the real mosquitto binary.
class Broker {
 public:
  explicit Broker(const std::string& dir);
  ~Broker();
  bool Start();  // waits until it accepts connections
  void Stop();
  bool Restart() {
    Stop();
    return Start();
  }
  int port() const { return port_; }
  std::string LogTail() const { return proc_.LogTail(); }

 private:
  std::string dir_;
  int port_;
  Process proc_;
  int starts_ = 0;
};

// linlid serve on `dir` (after Broker initialised it).
class Linlid {
 public:
  Linlid(const std::string& dir, int mqtt_port, std::string admin_password = "admin-password-1");
  ~Linlid();
  bool Start();  // waits for /api/v1/health
  int Stop(int sig = 15);
  int http_port() const { return http_port_; }
  std::string LogTail() const { return proc_.LogTail(); }
  // Logs in and returns the token ("" on failure).
  std::string Login(const std::string& user, const std::string& password) const;
  std::string AdminToken() const { return Login("admin", admin_password_); }
  // Sum of a Prometheus metric (all label sets) from /metrics, or -1.
  double Metric(const std::string& token, const std::string& name) const;

 private:
  std::string dir_;
  int mqtt_port_;
  int http_port_;
  std::string admin_password_;
  Process proc_;
  int starts_ = 0;
};

}  // namespace linli::testing
