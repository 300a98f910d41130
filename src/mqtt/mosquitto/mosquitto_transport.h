// MosquittoTransport: the Transport of mqtt/transport.h on libmosquitto (MQTT 3.1.1).
//
// How the durability contract is kept: the handle is put in "threaded" mode
// (mosquitto_threaded_set), in which libmosquitto only *queues* outgoing packets — including
// the PUBACK it creates for every received QoS 1 PUBLISH — and never writes from inside
// mosquitto_loop_read(). The transport drives the loop itself on its own thread:
//   poll(socket, wake eventfd)
//   → mosquitto_loop_read() while the socket stays readable and < max_burst messages arrived
//     (on_message → handler->OnMessage)
//   → handler->Commit()
//   → only on success: mosquitto_loop_write(), which sends the queued PUBACKs.
// Invariant: at the top of every loop iteration every received message has been committed, so
// any write (keepalive PINGREQ, Publish()) may flush the queue. If Commit() fails, the socket
// is shut down without writing (libmosquitto has no "close without flushing" call; shutdown()
// on its fd is that), and after back-off mosquitto_reconnect_async() discards the queued
// PUBACKs; the broker redelivers the unacknowledged messages into the persistent session.
// Stop(): flushes the PUBACKs of the last committed burst, half-closes the socket and drains
// it until the broker closes (no MQTT DISCONNECT: libmosquitto would close() at once, and a
// close with unread input sends RST, on which the broker can lose PUBACKs it had not read).
// MQTT 3.1.1 (not 5) because a v5 CONNECT from libmosquitto announces Receive Maximum 20,
// which would cap a burst at 20 messages; with 3.1.1 the broker's max_inflight_messages rules.
//
// Reconnects: exponential back-off 0.1 s → 5 s; resubscribes (QoS 1) after every CONNACK.
// Metrics (metrics::Default(), label client=<client id>): linli_mqtt_messages_received_total,
// linli_mqtt_commits_total, linli_mqtt_commit_failures_total, linli_mqtt_reconnects_total
// (reconnect attempts after the first connect attempt), linli_mqtt_oversized_messages_total
// (payload > max_payload_bytes; still delivered, the handler decides), gauge
// linli_mqtt_connected.
// Thread-safety: as Transport. Start/Stop from one owner thread; Publish/Connected from any.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/metrics.h"
#include "mqtt/transport.h"

struct mosquitto;
struct mosquitto_message;

namespace linli::mqtt {

class MosquittoTransport final : public Transport {
 public:
  // `handler` must outlive the transport. `clock` paces back-off and must outlive it too.
  MosquittoTransport(MosquittoOptions options, MessageHandler* handler,
                     Clock& clock = SystemClock());
  ~MosquittoTransport() override;
  MosquittoTransport(const MosquittoTransport&) = delete;
  MosquittoTransport& operator=(const MosquittoTransport&) = delete;

  Result<void> Start() override;
  void Stop() override;
  Result<void> Publish(const std::string& topic, const std::string& payload, int qos,
                       bool retain) override;
  bool Connected() const override { return connected_.load(); }

  // Checks options without starting anything (Start() calls it).
  static Result<void> ValidateOptions(const MosquittoOptions& o);

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  void Run();
  void TryConnect();
  void ReadBurst(int sock);
  void AbortSession();
  void NoteSocketGone(bool expected);
  void ScheduleRetry();
  void Shutdown();
  void Wake();

  static void OnConnect(mosquitto* m, void* self, int rc);
  static void OnDisconnect(mosquitto* m, void* self, int rc);
  static void OnMessage(mosquitto* m, void* self, const mosquitto_message* msg);
  static void OnSubscribe(mosquitto* m, void* self, int mid, int count, const int* granted);

  const MosquittoOptions opts_;
  MessageHandler* const handler_;
  Clock& clock_;

  std::mutex lifecycle_mu_;  // guards started_/stopped_ and Start/Stop ordering
  bool started_ = false;
  bool stopped_ = false;
  mosquitto* mosq_ = nullptr;  // created in Start(), destroyed in the destructor
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> connected_{false};

  // Loop-thread state.
  bool have_socket_ = false;      // a socket existed at the end of the last iteration
  bool session_aborted_ = false;  // Commit() failed: the socket must not be read or written
  bool attempted_ = false;        // first connect attempt made
  bool reported_up_ = false;      // last state given to handler->OnConnectionChange
  int uncommitted_ = 0;           // messages delivered since the last Commit()
  int burst_ = 0;                 // messages in the current read burst
  TimePoint next_attempt_{};
  std::chrono::milliseconds backoff_{100};

  metrics::Counter& received_;
  metrics::Counter& commits_;
  metrics::Counter& commit_failures_;
  metrics::Counter& reconnects_;
  metrics::Counter& oversized_;
  metrics::Gauge& connected_gauge_;
};

}  // namespace linli::mqtt
