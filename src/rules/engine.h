// The linkage engine: evaluates rules against what happens (events, telemetry, presence
// changes, alarm changes, the clock) and says what to do (intents). Pure: no I/O; the caller
// executes the intents (incidents::Executor) and persists the engine's state changes in the
// same transaction as their effects, so that a restart neither loses nor repeats a firing.
//
// Evaluation is in memory and event-driven. Rules are indexed by compound and trigger (event
// type, metric), so matching one event costs a few hash lookups, not a scan of all rules.
// State (cool-downs, sliding windows, "held for" timers, absence clocks, runs waiting for
// command acknowledgements) is kept per compound, so the engine can be sharded by compound.
//
// Thread-safety: not thread-safe; the owner serialises calls (linlid holds one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/records.h"
#include "rules/registry_view.h"
#include "rules/rule.h"

namespace linli::rules {

struct EngineOptions {
  int utc_offset_minutes = 8 * 60;  // local time of the hosting centre (China: +08:00)
  size_t max_window_entries = 10'000;
  int64_t absence_check_interval_ms = 60'000;
};

// Something to do. `action` points into `rule`, which the intent keeps alive.
struct Intent {
  RulePtr rule;
  const Action* action = nullptr;  // null for clear intents
  std::string compound_id;
  std::string key;        // the rule's de-duplication key
  std::string run_id;     // the firing this belongs to
  int step = 0;
  int index = 0;          // action index within the step
  // The firing context (event, device, building, ..., key, rule), shared by the intents of a
  // step (never null).
  std::shared_ptr<const Json> context;
  std::string cause_kind; // "event", "telemetry", "presence", "schedule", "alarm", "absence", "clear"
  std::string cause_id;   // event id, device id, alarm id, ...
  int64_t ts_ms = 0;
  // Commands: the resolved target devices and their command ids (same order).
  std::vector<std::string> device_ids;
  std::vector<std::string> command_ids;
  // A clear intent: close/resolve what `clear_rule_id` started for `key`.
  bool clear = false;
  std::string clear_rule_id;
  std::string clear_comment;
};

// A persisted piece of engine state; an empty `state` means "deleted".
struct StateChange {
  std::string rule_id;
  std::string key;
  Json state;
};

struct Output {
  std::vector<Intent> intents;
  std::vector<StateChange> state;
  bool empty() const { return intents.empty() && state.empty(); }
  void Append(Output&& other);
};

// An alarm changing state, as seen by alarm triggers.
struct AlarmChange {
  Json alarm;  // model::ToJson(alarm)
  std::string change;  // "raised", "acknowledged", ..., "escalated", "merged"
};

// How a command ended, for runs that wait for acknowledgements.
struct CommandOutcome {
  std::string command_id;
  bool ok = false;
  std::string error;
};

struct EngineStats {
  size_t rules = 0;
  size_t enabled_rules = 0;
  size_t state_entries = 0;
  size_t armed_timers = 0;
  size_t waiting_runs = 0;
};

class Engine {
 public:
  Engine(const RegistryView* registry, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Replaces the rule set. State of rules that remain is kept; state of removed rules is
  // dropped (returned as deletions to persist).
  Output SetRules(std::vector<RulePtr> rules);
  std::vector<RulePtr> Rules() const;
  RulePtr FindRule(const std::string& id) const;

  // Restores persisted state (after SetRules, before the first input). Entries of unknown
  // rules are ignored.
  void LoadState(const std::vector<StateChange>& entries);

  // Inputs. `now_ms` is the platform's wall time.
  Output OnEvent(const model::Event& e, int64_t now_ms);
  Output OnTelemetry(const model::TelemetryPoint& p, const std::string& compound_id, int64_t now_ms);
  Output OnStatus(const model::StatusChange& c, int64_t now_ms);
  Output OnAlarm(const AlarmChange& change, int64_t now_ms);
  Output OnCommandDone(const CommandOutcome& outcome, int64_t now_ms);
  // Timers: "held for" durations, schedules, absences. Call about once a second.
  Output Tick(int64_t now_ms);

  // True if any telemetry rule watches `metric` (lets the caller skip the rest cheaply).
  bool WantsMetric(const std::string& metric) const;
  // For tests and benchmarks: the rules an event of this compound and type would consider
  // after indexing (before scope and conditions).
  size_t CandidateCount(const std::string& compound_id, const std::string& event_type) const;
  EngineStats Stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace linli::rules
