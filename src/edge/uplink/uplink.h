// Uplink: sends the outbox to the platform and keeps the box present there.
//
// The box is an MQTT device of its own (client id = username = box id, its own password,
// MQTT 3.1.1, persistent session) and a gateway for its cameras: every event step is published
// on the box's topic linli/v1/{compound}/{box}/up/event with data.camera_id naming the camera.
//
// Sending, in outbox order:
//   1. the media thread PUTs every pending media item over HTTP (MediaUploader), entry by
//      entry in outbox order, ahead of the sender (uploads overlap with MQTT sends); a
//      retryable failure stops it and retries with exponential back-off (backoff_min_ms →
//      backoff_max_ms); a permanent refusal turns the item into a dead letter (kept in the
//      outbox, counted, logged) and the event goes out without that reference;
//   2. the sender thread publishes a step with QoS 1 and id "<event id>:<phase>:<seq>" once
//      none of its media is pending (else it waits there, so order holds); up to
//      `inflight_window` steps are in flight;
//   3. only on the broker's PUBACK (on_publish for that mid) is the entry removed; removals are
//      group-committed (a batch per burst of PUBACKs, at most ~20 ms late, after the window was
//      refilled), and before the sender starts over on a new connection.
// "In order": MQTT keeps one client's QoS 1 publishes in order, so the first arrival of each
// step id at the platform follows outbox order. A connection that drops loses nothing: the
// libmosquitto handle is discarded with whatever it had queued, and after the next CONNACK the
// sender starts again at the oldest unconfirmed entry — the platform may then see copies of
// ids it already has (same id, same bytes) before the next new step; its id de-duplication
// makes that harmless. A process kill at any point leaves unconfirmed entries in the outbox,
// which the next run sends; a power cut may also undo removals (outbox.h), with the same effect.
//
// Presence: retained `online` on up/status at every connect, the MQTT will `offline`
// (retained, QoS 1), and `offline` before a clean Stop(). Telemetry (telemetry.h) every
// telemetry_interval_ms on up/telemetry. Commands from down/command run on a command thread
// (commands.h: config.apply → hooks.apply_config) and are acknowledged on up/ack; an ack that
// did not get its PUBACK is sent again after a reconnect.
//
// Threads: a network thread (connects with back-off; probes TCP first so that Stop() is never
// stuck in a blocking connect; runs mosquitto_loop), the sender thread, the media thread and
// the command thread.
// Ownership: the Uplink owns its threads, the libmosquitto handle and the uploader; the outbox
// and the hooks' targets must outlive it. Thread-safety: Start/Stop from one owner thread;
// Connected()/Counters()/Wake() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/result.h"
#include "edge/uplink/commands.h"
#include "edge/uplink/media_uploader.h"
#include "edge/uplink/outbox.h"
#include "edge/uplink/telemetry.h"

struct mosquitto;
struct mosquitto_message;

namespace linli::edge {

struct UplinkOptions {
  std::string compound_id;
  std::string box_id;  // the box's device id: MQTT client id and username
  std::string mqtt_host = "127.0.0.1";
  int mqtt_port = 1883;
  std::string mqtt_password;
  int keepalive_s = 30;
  int connect_timeout_ms = 5000;
  int telemetry_interval_ms = 30'000;
  int inflight_window = 32;
  int backoff_min_ms = 200;
  int backoff_max_ms = 30'000;
};

// What the rest of the box plugs in. All optional.
struct UplinkHooks {
  StatsProvider camera_stats;  // edge/box.h; called on the sender thread
  // config.apply: validate and apply a new box config (YAML); an Error is sent back in the ack.
  ConfigApplier apply_config;
  // Further device commands by name (roi.enroll, ...): run on the command thread; their value
  // goes into the ack's `result`.
  std::map<std::string, CommandProcessor::ResultHandler> commands;
  // Fault injection for tests: called on the sender thread at "published" (after the publish
  // was queued), "confirmed" (PUBACK received, entry not yet removed) and "removed".
  std::function<void(std::string_view point, int64_t seq)> fault_point;
};

class Uplink {
 public:
  // `uploader` may be null when no media are expected (media then become dead letters).
  Uplink(UplinkOptions options, Outbox& outbox, std::unique_ptr<MediaUploader> uploader,
         UplinkHooks hooks = {}, Clock& clock = SystemClock());
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  // InvalidArgument naming the option ("uplink.box_id", ...).
  static Result<void> Validate(const UplinkOptions& options);

  // Starts the threads (connecting happens in the background). Errors only for bad options.
  Result<void> Start();
  // Publishes `offline`, disconnects, joins the threads. Unconfirmed entries stay queued.
  void Stop();

  bool Connected() const { return connected_.load(); }
  UplinkCounters Counters() const;
  // Wakes the sender (new outbox entries). Safe from any thread.
  void Wake();

  std::string Topic(std::string_view channel) const;  // "linli/v1/{c}/{box}/" + channel

 private:
  struct Ack {
    uint64_t gen;
    int mid;
  };
  enum class Tracked { kEntry, kAck, kOther };
  struct Pending {
    Tracked what = Tracked::kOther;
    int64_t seq = 0;       // kEntry
    uint64_t ack_serial = 0;  // kAck
  };
  enum class Prepared { kReady, kRetry, kGone };

  void NetLoop();
  void SenderLoop();
  void CommandLoop();
  bool Probe();
  void WaitNet(std::chrono::milliseconds d);
  void GracefulClose(mosquitto* m);
  Result<int> PublishRaw(const std::string& topic, const std::string& payload, bool retain);
  void MediaLoop();
  void MediaBackOff();
  // Uploads (or dead-letters) the pending media of `e`; kRetry after a retryable failure.
  Prepared UploadMedia(const OutboxEntry& e);
  void SendEntries();
  void RemoveConfirmed();
  void WakeSender();
  void SendTelemetry();
  void SendAcks();
  bool StopRequested() const;
  void Fault(std::string_view point, int64_t seq);

  static void OnConnect(mosquitto* m, void* self, int rc);
  static void OnDisconnect(mosquitto* m, void* self, int rc);
  static void OnPublish(mosquitto* m, void* self, int mid);
  static void OnMessage(mosquitto* m, void* self, const mosquitto_message* msg);

  const UplinkOptions opts_;
  Outbox& outbox_;
  std::unique_ptr<MediaUploader> uploader_;
  UplinkHooks hooks_;
  Clock& clock_;
  std::chrono::steady_clock::time_point started_at_;

  // Handle: created/destroyed by the network thread; publishers hold handle_mu_ while using it.
  std::mutex handle_mu_;
  mosquitto* mosq_ = nullptr;

  // Shared state (mu_).
  mutable std::mutex mu_;
  std::condition_variable cv_;      // sender wake-ups
  std::condition_variable net_cv_;  // network thread back-off / stop
  std::condition_variable cmd_cv_;
  std::condition_variable media_cv_;  // media thread wake-ups
  bool media_wake_ = true;            // look for pending media (appends, retries, start)
  std::chrono::steady_clock::time_point media_retry_at_{};
  std::chrono::milliseconds media_backoff_;
  bool stop_ = false;
  bool wake_ = false;
  uint64_t gen_ = 0;                // connection generation: +1 at every accepted CONNACK
  std::vector<Ack> acked_;          // PUBACKs not yet matched by the sender
  std::deque<std::string> commands_;  // received command payloads
  struct OutAck {
    uint64_t serial = 0;
    CommandAck ack;
    uint64_t sent_gen = UINT64_MAX;  // generation it was last published in
  };
  std::deque<OutAck> acks_out_;     // acks until their PUBACK (re-published after a reconnect)
  uint64_t next_ack_serial_ = 1;
  bool refused_ = false;            // the broker refused the last CONNECT
  int offline_mid_ = -1;            // mid of the `offline` published at Stop()
  bool offline_acked_ = false;

  std::atomic<bool> connected_{false};
  std::atomic<bool> started_{false};
  std::thread net_thread_, sender_thread_, media_thread_, command_thread_;

  // Sender-thread state.
  uint64_t sender_gen_ = UINT64_MAX;
  std::map<int, Pending> pending_;   // mid → what it was
  int64_t cursor_ = 0;               // highest seq published in this generation
  int inflight_entries_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point next_telemetry_{};
  std::chrono::steady_clock::time_point next_outbox_gauge_{};
  std::vector<int64_t> to_remove_;  // confirmed entries awaiting the group commit
  std::chrono::steady_clock::time_point to_remove_since_{};

  // Media-thread state.
  bool retry_logged_ = false;

  CommandProcessor commands_proc_;

  mutable std::mutex counters_mu_;
  UplinkCounters counters_;

  metrics::Counter& published_total_;
  metrics::Counter& confirmed_total_;
  metrics::Counter& uploaded_total_;
  metrics::Counter& upload_retries_total_;
  metrics::Counter& media_dead_total_;
  metrics::Counter& bad_entries_total_;
  metrics::Counter& reconnects_total_;
  metrics::Counter& commands_dropped_total_;
  metrics::Gauge& connected_gauge_;
};

}  // namespace linli::edge
