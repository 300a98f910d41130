// Executor: carries out what the rules engine decided and what operators do — the closed loop
// of incident handling (闭环处置).
//
//  - Intents become stored objects in ONE transaction together with the engine's state and
//    checkpoint: alarms (new, or merged into the open alarm with the same merge key), work
//    orders, device commands, notifications; then commands are published, live-feed items sent.
//  - Operators move alarms and work orders through their lifecycles (model/incidents.h); every
//    transition, comment and attachment is in the incident log and the audit log.
//  - Timers: escalation steps of unacknowledged alarms, command retries and expiry.
//  - Device acknowledgements complete commands.
// Alarm state changes are returned so that the caller can feed them to alarm-triggered rules.
//
// Ownership: borrows everything it is given. Thread-safety: NOT thread-safe; the owner
// (LinkageService) serialises all calls.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "incidents/registry_cache.h"
#include "model/feed.h"
#include "model/incidents.h"
#include "rules/engine.h"
#include "store/store.h"

namespace linli::incidents {

// Where device commands go (MQTT QoS 1 on the device's down/command topic).
// Thread-safety: callable from any thread.
class CommandPublisher {
 public:
  virtual ~CommandPublisher() = default;
  virtual Result<void> Publish(const std::string& topic, const std::string& payload) = 0;
};

struct ExecutorOptions {
  int max_attachments = 50;
  int64_t notification_retry_ms = 5'000;
};

// The effects of one Apply/Tick/operator action beyond what was stored.
struct Applied {
  std::vector<rules::AlarmChange> alarm_changes;  // for alarm triggers
  std::vector<rules::CommandOutcome> command_outcomes;  // commands that ended (failed/expired)
  int commands_published = 0;
  bool notifications_queued = false;
};

struct ManualAlarm {
  std::string compound_id;
  std::string type;
  std::string level = "warning";
  std::string title;
  std::string description;
  std::string device_id;
  std::string room_id;
  std::vector<std::string> attachments;
};

struct NewWorkOrder {
  std::string compound_id;
  std::string kind = "repair";
  std::string title;
  std::string description;
  std::string priority = "normal";
  std::string assignee;
  std::string assignee_role = "technician";
  std::string alarm_id, device_id, room_id, person_id;
  int64_t due_ms = 0;  // absolute; 0 = none
  std::vector<std::string> photos;
  std::string source = "operator";  // operator, resident
};

struct OperatorCommand {
  std::string device_id;
  std::string name;
  Json args = Json::object();
  std::string reason;
  int64_t timeout_ms = 10'000;
  int retries = 2;
  int64_t expires_ms = 60'000;  // relative
  std::string alarm_id;         // optional: the alarm it is part of
};

class Executor {
 public:
  Executor(store::Store* store, RegistryCache* registry, Clock* clock, CommandPublisher* publisher,
           model::FeedSink* feed, ExecutorOptions options = {});
  ~Executor();

  void SetFeed(model::FeedSink* feed) { feed_ = feed; }
  void SetPublisher(CommandPublisher* publisher) { publisher_ = publisher; }

  // Intents and engine state (+ checkpoint entries for the meta table) in one transaction.
  Result<Applied> Apply(const rules::Output& out, const std::vector<std::pair<std::string, std::string>>& meta);

  // Operator actions. `actor` is the username; `remote` the client address for the audit log.
  Result<std::pair<model::Alarm, Applied>> RaiseAlarm(const ManualAlarm& m, const std::string& actor,
                                                      const std::string& source, const std::string& remote);
  Result<std::pair<model::Alarm, Applied>> TransitionAlarm(const std::string& id, model::AlarmAction action,
                                                           const std::string& actor, const std::string& comment,
                                                           const Json& extra, const std::string& remote);
  Result<model::Alarm> CommentAlarm(const std::string& id, const std::string& actor, const std::string& comment,
                                    const std::vector<std::string>& attachments, const std::string& remote);
  Result<model::WorkOrder> CreateWorkOrder(const NewWorkOrder& w, const std::string& actor, const std::string& remote);
  Result<model::WorkOrder> TransitionWorkOrder(const std::string& id, model::WorkOrderAction action,
                                               const std::string& actor, const Json& body, const std::string& remote);
  Result<model::WorkOrder> CommentWorkOrder(const std::string& id, const std::string& actor, const std::string& comment,
                                            const std::vector<std::string>& photos, const std::string& remote);
  Result<std::pair<model::Command, Applied>> SendCommand(const OperatorCommand& c, const std::string& actor,
                                                         const std::string& remote);

  // A device's acknowledgement {"command_id","ok","error"}. The outcome is returned when it
  // completed a command (for runs waiting on it); nullopt for duplicates. NotFound for an
  // unknown command, PermissionDenied when another device acknowledges it.
  Result<std::optional<rules::CommandOutcome>> OnAck(const std::string& device_id, const Json& ack);
  // Many acknowledgements (one ingest burst) in one transaction. Acknowledgements that are
  // refused (unknown command, wrong device, malformed) are counted and skipped.
  Result<std::vector<rules::CommandOutcome>> OnAcks(const std::vector<std::pair<std::string, Json>>& acks);

  // Escalations due and command retries/expiry at `now`.
  Result<Applied> Tick();

  // The fused ingest path: one transaction for an ingest burst and its effects. BeginPending()
  // opens a pending write; AckPending() and ApplyPending() fill it as OnAcks() and Apply()
  // would; PendingWrite() is what the caller stores with the burst (nullptr: nothing);
  // FinishPending(true) then acts on it (caches, command publishing, live feed) and returns the
  // effects, FinishPending(false) forgets it (nothing was stored).
  void BeginPending();
  Result<std::vector<rules::CommandOutcome>> AckPending(const std::vector<std::pair<std::string, Json>>& acks);
  Result<void> ApplyPending(const rules::Output& out, const std::vector<std::pair<std::string, std::string>>& meta);
  const store::IncidentWrite* PendingWrite() const;
  Applied FinishPending(bool stored);

 private:
  struct Batch;
  // Commit = Stage (engine state and checkpoint into the write) + store + AfterCommit (caches,
  // publishing, feed); Forget undoes the in-memory marks of a batch that was not stored.
  Result<void> Commit(Batch& b, const rules::Output* out,
                      const std::vector<std::pair<std::string, std::string>>& meta, Applied* applied);
  void Stage(Batch& b, const rules::Output* out, const std::vector<std::pair<std::string, std::string>>& meta);
  void AfterCommit(Batch& b, Applied* applied);
  void Forget(Batch& b);
  Result<void> Intents(Batch& b, const rules::Output& out);
  Result<std::vector<rules::CommandOutcome>> AcksInto(Batch& b, const std::vector<std::pair<std::string, Json>>& acks);
  void RaiseFromIntent(Batch& b, const rules::Intent& in);
  void WorkOrderFromIntent(Batch& b, const rules::Intent& in);
  void CommandsFromIntent(Batch& b, const rules::Intent& in);
  void NotifyFromIntent(Batch& b, const rules::Intent& in);
  Result<void> ClearFromIntent(Batch& b, const rules::Intent& in);
  void Log(Batch& b, const std::string& kind, const std::string& id, const std::string& compound,
           const std::string& actor, const std::string& action, const std::string& from, const std::string& to,
           const std::string& comment, Json data = Json::object());
  void Webhooks(Batch& b, const std::string& topic, const std::string& compound, const Json& payload);
  void NotifyContacts(Batch& b, const std::string& compound, const std::vector<std::string>& roles,
                      const std::string& topic, const Json& payload, std::vector<std::string>* reached);
  void Feed(Batch& b, const std::string& type, const std::string& compound, Json data);
  bool FeedOn() const { return feed_ != nullptr && feed_->Active(); }
  void AlarmChanged(Batch& b, const model::Alarm& a, const std::string& change);
  Result<void> EscalateLocked(Batch& b, model::Alarm& a, int64_t now);

  store::Store* store_;
  RegistryCache* registry_;
  Clock* clock_;
  CommandPublisher* publisher_;
  model::FeedSink* feed_;
  ExecutorOptions options_;
  // The alarm raised by each recent run (so later steps link to it); bounded.
  std::unordered_map<std::string, std::string> run_alarm_;
  std::deque<std::string> run_order_;
  // Write-through caches of what the executor itself stored (it is the only writer of alarms
  // and commands): open alarms by merge key, commands still waiting for an acknowledgement.
  // Misses fall back to the store (after a restart, or when a cache was trimmed).
  std::unordered_map<std::string, model::Alarm> open_alarms_;
  std::unordered_map<std::string, model::Command> inflight_;
  std::unique_ptr<Batch> pending_;  // the fused ingest path's write, between BeginPending and FinishPending
  // A command for its acknowledgement: taken out of the cache (AfterCommit puts it back if it
  // is still waiting; a batch that is not stored leaves it to the store), else read from the store.
  Result<model::Command> TakeCommand(const std::string& id);
  // Applies one acknowledgement to `b`; nullopt for a duplicate.
  Result<std::optional<rules::CommandOutcome>> AckLocked(Batch& b, const std::string& device_id, const Json& ack);

  metrics::Counter* alarms_raised_;
  metrics::Counter* alarms_merged_;
  metrics::Counter* escalations_;
  metrics::Counter* commands_sent_;
  metrics::Counter* commands_failed_;
  metrics::Counter* work_orders_opened_;
  metrics::Counter* acks_unknown_;
};

}  // namespace linli::incidents
