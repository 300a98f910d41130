// The linkage rule (联动规则) as parsed from YAML (docs/rules.md is the language reference).
//
// A rule is: a trigger (what starts it), a scope (where it applies), conditions (when it
// applies), de-duplication (cool-down per key) and actions, run in order, with `parallel:`
// groups and commands that may wait for their acknowledgement. An optional clear condition
// ends what the rule started (a device back online closes its maintenance work order).
// Thread-safety: immutable after parsing; shared as std::shared_ptr<const Rule>.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "rules/expr.h"
#include "rules/schedule.h"

namespace linli::rules {

enum class TriggerKind {
  kEvent,      // a device event of a type ("gas.leak", "vision.*")
  kTelemetry,  // a metric condition holding for a duration ("ch4_ppm > 500 for 10s")
  kPresence,   // a device offline (or online) for a duration
  kSchedule,   // cron, per compound in scope
  kAlarm,      // an alarm changing state (raised, acknowledged, escalated, ...)
  kAbsence,    // no matching event for a key (a person) for a duration (关爱)
};
std::string_view TriggerKindName(TriggerKind k);

struct Trigger {
  TriggerKind kind = TriggerKind::kEvent;
  // kEvent / kAbsence: the event type, exact or "prefix.*" or "*".
  std::string event_type;
  // kTelemetry: the metric and the condition on `value` (and the context).
  std::string metric;
  Expr condition;
  // kPresence: "offline" or "online".
  std::string status;
  // kTelemetry / kPresence / kAbsence: how long it must hold (0 = at once).
  int64_t for_ms = 0;
  // kSchedule.
  std::optional<CronSchedule> cron;
  // kAlarm: states ("raised", "acknowledged", "escalated", ...) and alarm types (empty = any).
  std::vector<std::string> alarm_states;
  std::vector<std::string> alarm_types;
  // kAbsence: the event field naming the person ("data.person_id") and the persons watched
  // (those with any of these tags in the scope's compounds).
  std::string person_field = "data.person_id";
  std::vector<std::string> person_tags;
};

// Where a rule applies. Empty lists mean "any".
struct Scope {
  std::vector<std::string> compounds;
  std::vector<std::string> buildings;
  std::vector<std::string> device_kinds;
  std::vector<std::string> devices;
  std::vector<std::string> areas;
};

// "3 events within 1h per bin": the rule fires when `count` triggers for the same key fall
// within `within_ms`; the window then starts over.
struct CountWindow {
  int count = 0;  // 0 = no window
  int64_t within_ms = 0;
};

// How a command action addresses devices.
struct DeviceSelector {
  std::vector<std::string> ids;     // explicit device ids
  std::vector<std::string> kinds;   // device kinds
  // Relative to the trigger's device: "building", "unit", "room", "compound" (default when
  // kinds are given) — every device of `kinds` in the same place.
  std::string same;
  std::string area;                 // a named area of the compound ("物业中心")
  bool trigger_device = false;      // the device that triggered the rule
};

enum class ActionKind { kCommand, kAlarm, kWorkOrder, kNotify, kResolve };
std::string_view ActionKindName(ActionKind k);

struct EscalationStep {
  int64_t after_ms = 0;              // from the alarm being raised
  std::string unless;                // skip if the alarm reached this state: acknowledged, dispatched, resolved
  std::vector<std::string> contacts; // contact roles of the compound (fire_brigade, police_station, ...)
  std::vector<std::string> roles;    // user roles to alert on the live feed
  std::string level;                 // raise the alarm to this level
  std::string note;
};

struct CommandAction {
  DeviceSelector target;
  std::string name;
  Json args = Json::object();
  int64_t timeout_ms = 10'000;   // per attempt
  int retries = 2;               // attempts = retries + 1
  int64_t expires_ms = 60'000;   // the device must not execute it later than this after sending
  bool wait = false;             // later steps wait for the acknowledgement (or failure)
  bool stop_on_failure = false;  // with wait: a failed command stops the remaining steps
};

struct AlarmAction {
  std::string type;
  std::string level = "warning";
  Template title;
  Template description;
  Template merge_key;            // default "{rule.id}:{key}"
  int64_t ack_sla_ms = 0;
  int64_t close_sla_ms = 0;
  std::vector<EscalationStep> escalation;
  bool resolve_on_clear = false;
  bool attach_snapshots = true;  // media ids found in the event data (snapshot, clip)
};

struct WorkOrderAction {
  std::string kind = "repair";   // repair, inspection, care, maintenance
  Template title;
  Template description;
  std::string priority = "normal";
  std::string assignee_role = "technician";
  int64_t due_ms = 0;            // from opening
  bool close_on_clear = false;
  bool link_alarm = true;        // link to the alarm raised earlier in the same run
};

struct NotifyAction {
  std::vector<std::string> roles;     // live-feed audience
  std::vector<std::string> contacts;  // contact roles of the compound (their webhook)
  bool webhooks = true;               // the configured webhooks subscribed to "rule.notify"
  Template message;
  std::string level = "info";
};

// Resolves the alarms the rule raised for this key (e.g. on an "all clear" event).
struct ResolveAction {
  std::string rule;  // whose alarms/work orders (default: this rule's)
  std::string comment = "condition cleared";
};

struct Action {
  ActionKind kind = ActionKind::kNotify;
  std::string label;  // "actions[2]" for messages
  CommandAction command;
  AlarmAction alarm;
  WorkOrderAction work_order;
  NotifyAction notify;
  ResolveAction resolve;
};

// One step of a rule's plan: one action, or a group that runs at once.
struct Step {
  std::vector<Action> actions;  // size 1, or a parallel group
  bool parallel = false;
};

struct Rule {
  std::string id;
  std::string name;
  std::string description;
  bool enabled = true;
  std::string file;  // the file it came from
  int line = 0;      // where it starts
  Trigger trigger;
  Scope scope;
  Expr where;
  std::vector<TimeOfDayWindow> time_of_day;  // any of
  std::vector<int> weekdays;                 // 0 = Sunday; empty = every day
  CountWindow window;
  int64_t cooldown_ms = 0;
  // The de-duplication key; default by trigger: the device (event, telemetry, presence), the
  // person (absence), the compound (schedule), the alarm (alarm).
  Template key;
  std::vector<Step> steps;
  // Clears what the rule started: an event type that means "all clear" for the same key.
  // Presence and telemetry rules clear by themselves (back online, condition false).
  std::string clear_event;
  Json source = Json::object();  // the rule as written (for GET /api/v1/rules)
};

using RulePtr = std::shared_ptr<const Rule>;

}  // namespace linli::rules
