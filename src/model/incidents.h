// Incident handling (闭环处置) as data: alarms with their lifecycle, work orders, device
// commands, the incident log (every transition, comment and attachment), outgoing
// notifications and uploaded media. The rules engine creates them, operators move them through
// their states over the API, the store keeps them.
//
// Alarm lifecycle:   raised → acknowledged → dispatched → resolved → closed
//                    any open state → false_alarm (a terminal state, like closed)
// "Open" means raised, acknowledged or dispatched: only open alarms merge repeated causes and
// escalate. Work orders: open → assigned → in_progress → done → closed, or cancelled.
// Commands: pending → sent → acked | failed | expired.
// Thread-safety: plain values; the owner serialises access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"

namespace linli::model {

enum class AlarmState { kRaised, kAcknowledged, kDispatched, kResolved, kClosed, kFalseAlarm };
std::string_view AlarmStateName(AlarmState s);
std::optional<AlarmState> ParseAlarmState(std::string_view s);
bool IsOpen(AlarmState s);      // raised, acknowledged, dispatched
bool IsTerminal(AlarmState s);  // closed, false_alarm

// Severity, ordered: info < warning < major < critical.
enum class AlarmLevel { kInfo, kWarning, kMajor, kCritical };
std::string_view AlarmLevelName(AlarmLevel l);
std::optional<AlarmLevel> ParseAlarmLevel(std::string_view s);

// What the user did to an alarm; the legal transitions are in NextAlarmState().
enum class AlarmAction { kAcknowledge, kDispatch, kResolve, kClose, kFalseAlarm, kReopen };
std::string_view AlarmActionName(AlarmAction a);
std::optional<AlarmAction> ParseAlarmAction(std::string_view s);
// The state `action` leads to from `from`, or FailedPrecondition naming both.
Result<AlarmState> NextAlarmState(AlarmState from, AlarmAction action);

struct Alarm {
  std::string id;
  std::string compound_id;
  std::string type;   // "gas_leak", "sos", "fire", "device_offline", "thrown_object", ...
  AlarmLevel level = AlarmLevel::kWarning;
  std::string title;
  std::string description;
  AlarmState state = AlarmState::kRaised;
  std::string source;  // "rule", "operator", "resident"
  std::string rule_id;
  std::string actor;   // who raised it: rule id, username
  // Open alarms with the same merge key are one alarm: a repeat bumps `count` and `last_ms`.
  std::string merge_key;
  std::string cause_event_id;  // the first event behind it
  std::string device_id, building_id, unit_id, room_id;
  std::string location;  // human-readable address ("3号楼 2单元 1202")
  int64_t count = 1;
  int64_t raised_ms = 0;
  int64_t last_ms = 0;     // last occurrence (merge)
  int64_t updated_ms = 0;  // last change of any kind
  int64_t acknowledged_ms = 0, dispatched_ms = 0, resolved_ms = 0, closed_ms = 0;  // 0 = not yet
  std::string acknowledged_by, dispatched_to, resolved_by, closed_by;
  // SLA: acknowledge by / close by (0 = none).
  int64_t ack_due_ms = 0;
  int64_t close_due_ms = 0;
  // Escalation chain: the policy's name, the next step to run and when (0 = nothing pending).
  std::string escalation;
  int escalation_step = 0;
  int64_t next_escalation_ms = 0;
  std::string work_order_id;             // opened on dispatch, if any
  std::vector<std::string> attachments;  // media ids (snapshots, clips, photos)
  std::vector<std::string> events;       // ids of the events merged into it (first 100)
  Json data = Json::object();            // context: contacts, persons, sensor values, ...
};

Json ToJson(const Alarm& a);
Result<Alarm> AlarmFromJson(const Json& j);  // the inverse of ToJson (store round trip)

enum class WorkOrderState { kOpen, kAssigned, kInProgress, kDone, kClosed, kCancelled };
std::string_view WorkOrderStateName(WorkOrderState s);
std::optional<WorkOrderState> ParseWorkOrderState(std::string_view s);
bool IsOpen(WorkOrderState s);  // open, assigned, in_progress

enum class WorkOrderAction { kAssign, kStart, kComplete, kClose, kCancel, kReopen };
std::string_view WorkOrderActionName(WorkOrderAction a);
std::optional<WorkOrderAction> ParseWorkOrderAction(std::string_view s);
Result<WorkOrderState> NextWorkOrderState(WorkOrderState from, WorkOrderAction action);

struct WorkOrder {
  std::string id;
  std::string compound_id;
  std::string kind;  // "repair" 维修, "inspection" 巡检, "care" 关爱, "maintenance" (device faults)
  std::string title;
  std::string description;
  WorkOrderState state = WorkOrderState::kOpen;
  std::string priority = "normal";  // low, normal, high, urgent
  std::string source;               // "rule", "operator", "resident"
  std::string rule_id;
  std::string actor;                // who opened it
  std::string assignee;             // username, empty until assigned
  std::string assignee_role;        // role expected to take it ("technician")
  std::string alarm_id, device_id, room_id, person_id;
  // Rule-opened orders with a clear key are closed automatically when the rule's condition
  // clears (a device coming back online closes its maintenance order).
  std::string clear_key;
  int64_t created_ms = 0, updated_ms = 0, due_ms = 0, started_ms = 0, done_ms = 0, closed_ms = 0;
  std::string result;
  std::vector<std::string> photos;  // media ids
  Json data = Json::object();
};

Json ToJson(const WorkOrder& w);
Result<WorkOrder> WorkOrderFromJson(const Json& j);

enum class CommandState { kPending, kSent, kAcked, kFailed, kExpired };
std::string_view CommandStateName(CommandState s);
std::optional<CommandState> ParseCommandState(std::string_view s);

struct Command {
  std::string id;
  std::string compound_id;
  std::string device_id;
  std::string name;
  Json args = Json::object();
  // Why: {"kind": "event"|"alarm"|"operator"|"rule", "id": ..., "rule": ...}.
  Json cause = Json::object();
  std::string actor;  // username or "rule:<id>"
  CommandState state = CommandState::kPending;
  int attempts = 0;
  int max_attempts = 3;
  int64_t timeout_ms = 10'000;  // per attempt, waiting for the acknowledgement
  int64_t created_ms = 0, sent_ms = 0, acked_ms = 0, updated_ms = 0;
  int64_t expires_ms = 0;   // the device must not execute it after this
  int64_t deadline_ms = 0;  // next time the command service must look at it (retry/expire)
  std::string error;
  std::string rule_id, alarm_id;
};

Json ToJson(const Command& c);
Result<Command> CommandFromJson(const Json& j);
// DumpJson(ToJson(c)) without building the document (a command is written on every send and
// acknowledgement).
std::string CommandText(const Command& c);
// The down/command payload (docs/protocol.md): {"id","ts","name","args","expires","cause"}.
std::string CommandPayload(const Command& c, int64_t now_ms);

// One line of an alarm's or work order's history.
struct IncidentLogEntry {
  int64_t id = 0;
  std::string object_kind;  // "alarm", "work_order"
  std::string object_id;
  std::string compound_id;
  int64_t ts_ms = 0;
  std::string actor;   // username, "rule:<id>", "system"
  std::string action;  // "raise", "merge", "acknowledge", ..., "comment", "attach", "escalate"
  std::string from_state, to_state;
  std::string comment;
  Json data = Json::object();
};

// An outgoing notification (webhook call) kept until delivered or given up.
enum class NotificationState { kPending, kDelivered, kFailed };
std::string_view NotificationStateName(NotificationState s);

struct Notification {
  int64_t id = 0;
  std::string compound_id;
  std::string channel = "webhook";
  std::string target;   // webhook record id or contact id
  std::string url;
  std::string topic;    // "alarm.raised", "alarm.escalated", "work_order.opened", ...
  Json payload = Json::object();
  NotificationState state = NotificationState::kPending;
  int attempts = 0;
  int64_t created_ms = 0;
  int64_t next_attempt_ms = 0;
  int64_t delivered_ms = 0;
  std::string last_error;
};

// An uploaded media object (snapshot, clip, photo). Bytes live in a BlobStore.
struct MediaObject {
  std::string id;
  std::string compound_id;
  std::string device_id;  // camera / edge box, may be empty (operator photos)
  std::string event_id;   // the event it documents, may be empty
  std::string content_type;
  int64_t size = 0;
  std::string sha256;     // hex
  int64_t created_ms = 0;
  std::string uploaded_by;
};

Json ToJson(const MediaObject& m);

}  // namespace linli::model
