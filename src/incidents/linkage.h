// LinkageService: the rules engine, the incident executor and the rule files of one linlid,
// behind one lock. Ingest hands it what each commit stored; timers tick it; the API manages
// rules and works alarms, work orders and commands through it.
//
// Durability: the engine's state and its replay positions (the last event and status change
// it has evaluated) are written in the same transaction as the effects of a firing. At start
// the service loads the state and re-evaluates the events and status changes stored after those
// positions — so a crash between storing an event and acting on it loses no firing, and a
// firing whose effects were committed is never repeated. Replay positions without firings are
// saved every few seconds (re-evaluating an event that fired nothing is harmless: windows
// de-duplicate by event id).
//
// Thread-safety: every public method may be called from any thread (one mutex).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "incidents/executor.h"
#include "incidents/notifier.h"
#include "incidents/registry_cache.h"
#include "incidents/rule_library.h"
#include "rules/engine.h"
#include "store/store.h"

namespace linli::incidents {

struct LinkageOptions {
  std::string rules_dir;
  int utc_offset_minutes = 8 * 60;
  bool install_builtin = true;
  int64_t checkpoint_interval_ms = 5'000;
};

struct DeviceAck {
  std::string device_id;
  Json payload;
};

struct RuleInfo {
  RuleEntry entry;
  int64_t fired = 0;
  int64_t last_fired_ms = 0;
};

class LinkageService {
 public:
  LinkageService(store::Store* store, RegistryCache* registry, Clock* clock, LinkageOptions options);
  ~LinkageService();

  void SetPublisher(CommandPublisher* publisher);
  void SetFeed(model::FeedSink* feed);
  void SetNotifier(Notifier* notifier) { notifier_ = notifier; }

  // Installs the built-in pack on a new data dir, loads rules and state, replays what was
  // stored after the last evaluated positions. Errors: the store or the rules directory.
  Result<void> Start();

  // What one ingest commit stored: new events with their sequence numbers, telemetry,
  // status changes with their history ids, and command acknowledgements. The effects are
  // stored in a transaction of their own (BeginIngest + EvaluateIngest + EndIngest).
  void OnCommitted(const std::vector<store::SequencedEvent>& events,
                   const std::vector<model::TelemetryPoint>& telemetry,
                   const std::vector<std::pair<int64_t, model::StatusChange>>& status,
                   const std::vector<DeviceAck>& acks);

  // The same, fused with the ingest transaction (one commit for a burst and its effects).
  // BeginIngest() locks the service — before the store's write lock, always the order of the
  // two — and must be followed by EndIngest(). EvaluateIngest(), called inside the ingest
  // transaction with what it wrote, evaluates the rules and applies acknowledgements into a
  // pending write and returns it (nullptr: nothing to write). EndIngest() acts on it once it is
  // stored (publishes commands, follows up) or forgets it — `committed` false: nothing was
  // stored; `effects` an error: the batch was stored without its effects — and unlocks. In
  // both failure cases the engine is rebuilt from the store and replays what was stored.
  void BeginIngest();
  const store::IncidentWrite* EvaluateIngest(const std::vector<store::SequencedEvent>& events,
                                             const std::vector<model::TelemetryPoint>& telemetry,
                                             const std::vector<std::pair<int64_t, model::StatusChange>>& status,
                                             const std::vector<DeviceAck>& acks);
  void EndIngest(bool committed, const Result<void>& effects);
  // Timers (about once a second).
  void Tick();

  // ---- rules ----
  std::vector<RuleInfo> ListRules();
  std::vector<rules::RuleError> RuleErrors();
  Result<RuleInfo> GetRule(const std::string& id);
  Result<RuleInfo> PutRule(const Json& source, bool must_be_new, const std::string& actor, const std::string& remote);
  Result<RuleInfo> SetRuleEnabled(const std::string& id, bool enabled, const std::string& actor, const std::string& remote);
  Result<void> DeleteRule(const std::string& id, const std::string& actor, const std::string& remote);
  Result<void> Reload();

  // ---- incidents (operator and resident actions) ----
  Result<model::Alarm> RaiseAlarm(const ManualAlarm& m, const std::string& actor, const std::string& source,
                                  const std::string& remote);
  Result<model::Alarm> TransitionAlarm(const std::string& id, model::AlarmAction action, const std::string& actor,
                                       const std::string& comment, const Json& extra, const std::string& remote);
  Result<model::Alarm> CommentAlarm(const std::string& id, const std::string& actor, const std::string& comment,
                                    const std::vector<std::string>& attachments, const std::string& remote);
  Result<model::WorkOrder> CreateWorkOrder(const NewWorkOrder& w, const std::string& actor, const std::string& remote);
  Result<model::WorkOrder> TransitionWorkOrder(const std::string& id, model::WorkOrderAction action,
                                               const std::string& actor, const Json& body, const std::string& remote);
  Result<model::WorkOrder> CommentWorkOrder(const std::string& id, const std::string& actor, const std::string& comment,
                                            const std::vector<std::string>& photos, const std::string& remote);
  Result<model::Command> SendCommand(const OperatorCommand& c, const std::string& actor, const std::string& remote);

  rules::EngineStats EngineStats();

 private:
  Result<void> RebuildLocked();  // fresh engine: rules, persisted state, replay
  void ApplyLocked(rules::Output out);
  void FollowUpLocked(Applied applied, int depth);
  void CountFirings(const rules::Output& out);
  void SetRulesLocked();
  std::vector<std::pair<std::string, std::string>> CheckpointLocked();
  // Replay positions evaluated but not yet persisted.
  bool PositionsUnsavedLocked() const;
  // The checkpoint entries to write with the effects of `out`: when it has intents or the
  // positions moved since the last save (none otherwise).
  std::vector<std::pair<std::string, std::string>> CheckpointWithLocked(const rules::Output& out);
  // The checkpoint written with the current positions was stored.
  void CheckpointSavedLocked(int64_t now_ms);

  store::Store* store_;
  RegistryCache* registry_;
  Clock* clock_;
  LinkageOptions options_;
  std::mutex mu_;
  RuleLibrary library_;
  std::unique_ptr<rules::Engine> engine_;
  std::unique_ptr<Executor> executor_;
  Notifier* notifier_ = nullptr;
  int64_t event_seq_ = 0, status_seq_ = 0;                 // evaluated up to
  int64_t saved_event_seq_ = 0, saved_status_seq_ = 0;     // persisted up to
  int64_t last_checkpoint_ms_ = 0;
  bool needs_rebuild_ = false;
  // The fused ingest path, between EvaluateIngest and EndIngest.
  bool ingest_pending_ = false;
  bool ingest_checkpoint_ = false;  // the pending write holds the replay positions
  rules::Output ingest_out_;
  std::chrono::steady_clock::time_point ingest_t0_;
  std::map<std::string, std::pair<int64_t, int64_t>> firings_;  // rule → (count, last ms)
  metrics::Counter* firings_total_;
  metrics::Counter* apply_failures_;
  metrics::Histogram* eval_seconds_;
};

}  // namespace linli::incidents
