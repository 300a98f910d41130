// Ingestor: turns device MQTT messages into durable records.
//
// It is the MessageHandler of linlid's MQTT transport: OnMessage() decodes and buffers each
// message (or a dead letter with the reason), Commit() writes the whole burst in one store
// transaction and only then lets the transport acknowledge it. After a successful commit it
// updates presence, opens/closes device faults and publishes live feed items. Tick() runs the
// heartbeat-timeout sweep.
//
// Ownership: borrows store, directory, clock and feed; they must outlive it.
// Thread-safety: OnMessage/Commit are called from the transport thread; Tick() from a timer
// thread; both serialise on an internal presence lock. SetFeed() before starting.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "ingest/decode.h"
#include "ingest/directory.h"
#include "model/feed.h"
#include "mqtt/transport.h"
#include "store/store.h"

namespace linli::ingest {

struct IngestOptions {
  DecodeLimits limits;
};

// What one commit made durable, for the rules engine. Events are the new ones (redeliveries
// are filtered out), with their positions in the store's event log; status changes with their
// history ids; acknowledgements as received (device id, parsed payload).
struct CommittedBatch {
  std::vector<store::SequencedEvent> events;
  const std::vector<model::TelemetryPoint>* telemetry = nullptr;
  std::vector<std::pair<int64_t, model::StatusChange>> status;
  std::vector<std::pair<std::string, Json>> acks;
};

// Joins every ingest commit (the rules engine), on the thread that commits (the MQTT transport
// or the presence timer), before the broker is acknowledged. For each commit: Begin() before
// the transaction starts (the listener takes its lock here, before the store's), Evaluate()
// inside it with what the batch stored — it returns the writes that commit with the batch
// (nullptr: none) — and End() after it, always. Must not block for long.
class CommitListener {
 public:
  virtual ~CommitListener() = default;
  virtual void Begin() = 0;
  virtual const store::IncidentWrite* Evaluate(const CommittedBatch& batch) = 0;
  // `committed`: the batch is durable (false: nothing was stored, the broker will redeliver).
  // `effects`: whether the writes Evaluate() returned were stored with it.
  virtual void End(bool committed, const Result<void>& effects) = 0;
};

class Ingestor final : public mqtt::MessageHandler {
 public:
  Ingestor(store::Store* store, DeviceDirectory* directory, Clock* clock, IngestOptions options = {});

  void SetFeed(model::FeedSink* feed) { feed_ = feed; }
  void SetListener(CommitListener* listener) { listener_ = listener; }

  void OnMessage(const mqtt::Message& m) override;
  Result<void> Commit() override;
  // An event is buffered and kEventGrace more messages were read since: commit now (the rules
  // engine acts on events). The transport also commits whenever nothing more is readable, so an
  // event waits for at most kEventGrace messages already in the socket buffer — a few hundred
  // microseconds — while a stream of events under load is still committed in batches.
  static constexpr int kEventGrace = 32;
  bool CommitSoon() const override { return !batch_.events.empty() && since_first_event_ >= kEventGrace; }
  // Events, acknowledgements and status messages do not linger for a larger burst.
  bool Urgent() const override { return !batch_.events.empty() || !acks_.empty() || urgent_status_; }
  void OnConnectionChange(bool connected) override;

  // Marks devices silent for longer than their heartbeat timeout offline (durably), opens
  // their faults and publishes the changes. Call about once a second.
  Result<void> Tick();

  // Start-up: make open "offline" faults agree with persisted presence (a crash between a
  // status write and its fault write leaves them apart).
  Result<void> ReconcileFaults();

 private:
  void DeadLetter(const mqtt::Message& m, std::string reason, std::string detail);
  // Writes faults and feed items for durable status changes. Requires presence_mu_.
  void AfterStatusChanges(const std::vector<model::StatusChange>& changes);
  // store_->WriteBatch(batch) with the listener's Begin/Evaluate around it (End is the
  // caller's: after the presence and feed updates). `acks` go to the listener with the batch.
  Result<store::IngestResult> WriteWithListener(const store::IngestBatch& batch,
                                                std::vector<std::pair<std::string, Json>> acks,
                                                const std::vector<model::StatusChange>& changes,
                                                Result<void>* effects);

  store::Store* store_;
  DeviceDirectory* directory_;
  Clock* clock_;
  model::FeedSink* feed_ = nullptr;
  CommitListener* listener_ = nullptr;
  IngestOptions options_;

  std::mutex presence_mu_;

  // Pending burst (transport thread only).
  store::IngestBatch batch_;
  std::vector<Observation> observations_;
  std::vector<int64_t> message_ts_;  // device ts of each stored message, for latency
  int since_first_event_ = 0;        // messages read after the burst's first event
  bool urgent_status_ = false;       // a status-topic message is buffered
  std::vector<std::pair<std::string, Json>> acks_;  // command acknowledgements of the burst

  // linli_ingest_messages_total by channel (indexed by Channel) and for malformed topics.
  std::array<metrics::Counter*, 5> messages_by_channel_{};
  metrics::Counter* messages_invalid_;
  metrics::Counter* telemetry_points_;
  metrics::Counter* events_;
  metrics::Counter* events_duplicate_;
  metrics::Counter* commits_;
  metrics::Counter* commit_failures_;
  metrics::Counter* status_changes_;
  metrics::Histogram* store_latency_;
  metrics::Histogram* commit_seconds_;
  metrics::Gauge* devices_total_;
  metrics::Gauge* devices_online_;
};

}  // namespace linli::ingest
