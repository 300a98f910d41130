#include "model/incidents.h"

#include <array>
#include <utility>

namespace linli::model {
namespace {

template <typename E, size_t N>
std::optional<E> ParseName(const std::array<std::pair<E, std::string_view>, N>& names,
                           std::string_view s) {
  for (const auto& [e, n] : names) {
    if (n == s) return e;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
  for (const auto& [v, n] : names) {
    if (v == e) return n;
  }
  return "unknown";
}

constexpr std::array<std::pair<AlarmState, std::string_view>, 6> kAlarmStates = {{
    {AlarmState::kRaised, "raised"},
    {AlarmState::kAcknowledged, "acknowledged"},
    {AlarmState::kDispatched, "dispatched"},
    {AlarmState::kResolved, "resolved"},
    {AlarmState::kClosed, "closed"},
    {AlarmState::kFalseAlarm, "false_alarm"},
}};
constexpr std::array<std::pair<AlarmLevel, std::string_view>, 4> kAlarmLevels = {{
    {AlarmLevel::kInfo, "info"},
    {AlarmLevel::kWarning, "warning"},
    {AlarmLevel::kMajor, "major"},
    {AlarmLevel::kCritical, "critical"},
}};
constexpr std::array<std::pair<AlarmAction, std::string_view>, 6> kAlarmActions = {{
    {AlarmAction::kAcknowledge, "acknowledge"},
    {AlarmAction::kDispatch, "dispatch"},
    {AlarmAction::kResolve, "resolve"},
    {AlarmAction::kClose, "close"},
    {AlarmAction::kFalseAlarm, "false_alarm"},
    {AlarmAction::kReopen, "reopen"},
}};
constexpr std::array<std::pair<WorkOrderState, std::string_view>, 6> kWorkOrderStates = {{
    {WorkOrderState::kOpen, "open"},
    {WorkOrderState::kAssigned, "assigned"},
    {WorkOrderState::kInProgress, "in_progress"},
    {WorkOrderState::kDone, "done"},
    {WorkOrderState::kClosed, "closed"},
    {WorkOrderState::kCancelled, "cancelled"},
}};
constexpr std::array<std::pair<WorkOrderAction, std::string_view>, 6> kWorkOrderActions = {{
    {WorkOrderAction::kAssign, "assign"},
    {WorkOrderAction::kStart, "start"},
    {WorkOrderAction::kComplete, "complete"},
    {WorkOrderAction::kClose, "close"},
    {WorkOrderAction::kCancel, "cancel"},
    {WorkOrderAction::kReopen, "reopen"},
}};
constexpr std::array<std::pair<CommandState, std::string_view>, 5> kCommandStates = {{
    {CommandState::kPending, "pending"},
    {CommandState::kSent, "sent"},
    {CommandState::kAcked, "acked"},
    {CommandState::kFailed, "failed"},
    {CommandState::kExpired, "expired"},
}};

Json Strings(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

// Readers for the store round trip: lenient about absent members (defaults), strict about types.
class Reader {
 public:
  explicit Reader(const Json& j) : j_(j) {}
  void Str(const char* k, std::string* out) {
    auto it = j_.find(k);
    if (it == j_.end() || it->is_null()) return;
    if (!it->is_string()) return Bad(k, "must be a string");
    *out = it->get<std::string>();
  }
  void Int(const char* k, int64_t* out) {
    auto it = j_.find(k);
    if (it == j_.end() || it->is_null()) return;
    if (!it->is_number_integer()) return Bad(k, "must be an integer");
    *out = it->get<int64_t>();
  }
  void Int(const char* k, int* out) {
    int64_t v = *out;
    Int(k, &v);
    *out = static_cast<int>(v);
  }
  void List(const char* k, std::vector<std::string>* out) {
    auto it = j_.find(k);
    if (it == j_.end() || it->is_null()) return;
    if (!it->is_array()) return Bad(k, "must be an array");
    for (const auto& s : *it) {
      if (!s.is_string()) return Bad(k, "must hold strings");
      out->push_back(s.get<std::string>());
    }
  }
  void Obj(const char* k, Json* out) {
    auto it = j_.find(k);
    if (it == j_.end() || it->is_null()) return;
    if (!it->is_object()) return Bad(k, "must be an object");
    *out = *it;
  }
  template <typename E, typename F>
  void Enum(const char* k, E* out, F parse) {
    std::string s;
    Str(k, &s);
    if (s.empty()) return;
    auto v = parse(s);
    if (!v) return Bad(k, "unknown value '" + s.substr(0, 40) + "'");
    *out = *v;
  }
  Result<void> Done() const {
    if (!error_.empty()) return InvalidArgument(field_, error_);
    return {};
  }

 private:
  void Bad(const char* k, std::string msg) {
    if (error_.empty()) {
      field_ = k;
      error_ = std::move(msg);
    }
  }
  const Json& j_;
  std::string field_, error_;
};

}  // namespace

std::string_view AlarmStateName(AlarmState s) { return NameOf(kAlarmStates, s); }
std::optional<AlarmState> ParseAlarmState(std::string_view s) { return ParseName(kAlarmStates, s); }
bool IsOpen(AlarmState s) {
  return s == AlarmState::kRaised || s == AlarmState::kAcknowledged || s == AlarmState::kDispatched;
}
bool IsTerminal(AlarmState s) { return s == AlarmState::kClosed || s == AlarmState::kFalseAlarm; }

std::string_view AlarmLevelName(AlarmLevel l) { return NameOf(kAlarmLevels, l); }
std::optional<AlarmLevel> ParseAlarmLevel(std::string_view s) { return ParseName(kAlarmLevels, s); }

std::string_view AlarmActionName(AlarmAction a) { return NameOf(kAlarmActions, a); }
std::optional<AlarmAction> ParseAlarmAction(std::string_view s) {
  return ParseName(kAlarmActions, s);
}

Result<AlarmState> NextAlarmState(AlarmState from, AlarmAction action) {
  auto refuse = [&]() -> Result<AlarmState> {
    return Fail(ErrorCode::kFailedPrecondition, "cannot " + std::string(AlarmActionName(action)) +
                                                    " an alarm that is " +
                                                    std::string(AlarmStateName(from)));
  };
  switch (action) {
    case AlarmAction::kAcknowledge:
      if (from == AlarmState::kRaised) return AlarmState::kAcknowledged;
      return refuse();
    case AlarmAction::kDispatch:
      // Dispatching implies acknowledging; re-dispatching (another assignee) is allowed.
      if (IsOpen(from)) return AlarmState::kDispatched;
      return refuse();
    case AlarmAction::kResolve:
      if (IsOpen(from)) return AlarmState::kResolved;
      return refuse();
    case AlarmAction::kClose:
      if (from == AlarmState::kResolved) return AlarmState::kClosed;
      return refuse();
    case AlarmAction::kFalseAlarm:
      if (IsOpen(from) || from == AlarmState::kResolved) return AlarmState::kFalseAlarm;
      return refuse();
    case AlarmAction::kReopen:
      if (from == AlarmState::kResolved) return AlarmState::kAcknowledged;
      return refuse();
  }
  return refuse();
}

std::string_view WorkOrderStateName(WorkOrderState s) { return NameOf(kWorkOrderStates, s); }
std::optional<WorkOrderState> ParseWorkOrderState(std::string_view s) {
  return ParseName(kWorkOrderStates, s);
}
bool IsOpen(WorkOrderState s) {
  return s == WorkOrderState::kOpen || s == WorkOrderState::kAssigned ||
         s == WorkOrderState::kInProgress;
}
std::string_view WorkOrderActionName(WorkOrderAction a) { return NameOf(kWorkOrderActions, a); }
std::optional<WorkOrderAction> ParseWorkOrderAction(std::string_view s) {
  return ParseName(kWorkOrderActions, s);
}

Result<WorkOrderState> NextWorkOrderState(WorkOrderState from, WorkOrderAction action) {
  auto refuse = [&]() -> Result<WorkOrderState> {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot " + std::string(WorkOrderActionName(action)) + " a work order that is " +
                    std::string(WorkOrderStateName(from)));
  };
  switch (action) {
    case WorkOrderAction::kAssign:
      if (from == WorkOrderState::kOpen || from == WorkOrderState::kAssigned ||
          from == WorkOrderState::kInProgress)
        return from == WorkOrderState::kInProgress ? WorkOrderState::kInProgress
                                                   : WorkOrderState::kAssigned;
      return refuse();
    case WorkOrderAction::kStart:
      if (from == WorkOrderState::kOpen || from == WorkOrderState::kAssigned)
        return WorkOrderState::kInProgress;
      return refuse();
    case WorkOrderAction::kComplete:
      if (IsOpen(from)) return WorkOrderState::kDone;
      return refuse();
    case WorkOrderAction::kClose:
      if (from == WorkOrderState::kDone || IsOpen(from)) return WorkOrderState::kClosed;
      return refuse();
    case WorkOrderAction::kCancel:
      if (IsOpen(from)) return WorkOrderState::kCancelled;
      return refuse();
    case WorkOrderAction::kReopen:
      if (from == WorkOrderState::kDone) return WorkOrderState::kInProgress;
      return refuse();
  }
  return refuse();
}

std::string_view CommandStateName(CommandState s) { return NameOf(kCommandStates, s); }
std::optional<CommandState> ParseCommandState(std::string_view s) {
  return ParseName(kCommandStates, s);
}

std::string_view NotificationStateName(NotificationState s) {
  switch (s) {
    case NotificationState::kPending:
      return "pending";
    case NotificationState::kDelivered:
      return "delivered";
    case NotificationState::kFailed:
      return "failed";
  }
  return "unknown";
}

Json ToJson(const Alarm& a) {
  return Json{{"id", a.id},
              {"compound_id", a.compound_id},
              {"type", a.type},
              {"level", AlarmLevelName(a.level)},
              {"title", a.title},
              {"description", a.description},
              {"state", AlarmStateName(a.state)},
              {"source", a.source},
              {"rule_id", a.rule_id},
              {"actor", a.actor},
              {"merge_key", a.merge_key},
              {"cause_event_id", a.cause_event_id},
              {"device_id", a.device_id},
              {"building_id", a.building_id},
              {"unit_id", a.unit_id},
              {"room_id", a.room_id},
              {"location", a.location},
              {"count", a.count},
              {"raised_ms", a.raised_ms},
              {"last_ms", a.last_ms},
              {"updated_ms", a.updated_ms},
              {"acknowledged_ms", a.acknowledged_ms},
              {"dispatched_ms", a.dispatched_ms},
              {"resolved_ms", a.resolved_ms},
              {"closed_ms", a.closed_ms},
              {"acknowledged_by", a.acknowledged_by},
              {"dispatched_to", a.dispatched_to},
              {"resolved_by", a.resolved_by},
              {"closed_by", a.closed_by},
              {"ack_due_ms", a.ack_due_ms},
              {"close_due_ms", a.close_due_ms},
              {"escalation", a.escalation},
              {"escalation_step", a.escalation_step},
              {"next_escalation_ms", a.next_escalation_ms},
              {"work_order_id", a.work_order_id},
              {"attachments", Strings(a.attachments)},
              {"events", Strings(a.events)},
              {"data", a.data}};
}

Result<Alarm> AlarmFromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgument("alarm", "must be an object");
  Alarm a;
  Reader r(j);
  r.Str("id", &a.id);
  r.Str("compound_id", &a.compound_id);
  r.Str("type", &a.type);
  r.Enum("level", &a.level, ParseAlarmLevel);
  r.Str("title", &a.title);
  r.Str("description", &a.description);
  r.Enum("state", &a.state, ParseAlarmState);
  r.Str("source", &a.source);
  r.Str("rule_id", &a.rule_id);
  r.Str("actor", &a.actor);
  r.Str("merge_key", &a.merge_key);
  r.Str("cause_event_id", &a.cause_event_id);
  r.Str("device_id", &a.device_id);
  r.Str("building_id", &a.building_id);
  r.Str("unit_id", &a.unit_id);
  r.Str("room_id", &a.room_id);
  r.Str("location", &a.location);
  r.Int("count", &a.count);
  r.Int("raised_ms", &a.raised_ms);
  r.Int("last_ms", &a.last_ms);
  r.Int("updated_ms", &a.updated_ms);
  r.Int("acknowledged_ms", &a.acknowledged_ms);
  r.Int("dispatched_ms", &a.dispatched_ms);
  r.Int("resolved_ms", &a.resolved_ms);
  r.Int("closed_ms", &a.closed_ms);
  r.Str("acknowledged_by", &a.acknowledged_by);
  r.Str("dispatched_to", &a.dispatched_to);
  r.Str("resolved_by", &a.resolved_by);
  r.Str("closed_by", &a.closed_by);
  r.Int("ack_due_ms", &a.ack_due_ms);
  r.Int("close_due_ms", &a.close_due_ms);
  r.Str("escalation", &a.escalation);
  r.Int("escalation_step", &a.escalation_step);
  r.Int("next_escalation_ms", &a.next_escalation_ms);
  r.Str("work_order_id", &a.work_order_id);
  r.List("attachments", &a.attachments);
  r.List("events", &a.events);
  r.Obj("data", &a.data);
  LINLI_RETURN_IF_ERROR(r.Done());
  return a;
}

Json ToJson(const WorkOrder& w) {
  return Json{{"id", w.id},
              {"compound_id", w.compound_id},
              {"kind", w.kind},
              {"title", w.title},
              {"description", w.description},
              {"state", WorkOrderStateName(w.state)},
              {"priority", w.priority},
              {"source", w.source},
              {"rule_id", w.rule_id},
              {"actor", w.actor},
              {"assignee", w.assignee},
              {"assignee_role", w.assignee_role},
              {"alarm_id", w.alarm_id},
              {"device_id", w.device_id},
              {"room_id", w.room_id},
              {"person_id", w.person_id},
              {"clear_key", w.clear_key},
              {"created_ms", w.created_ms},
              {"updated_ms", w.updated_ms},
              {"due_ms", w.due_ms},
              {"started_ms", w.started_ms},
              {"done_ms", w.done_ms},
              {"closed_ms", w.closed_ms},
              {"result", w.result},
              {"photos", Strings(w.photos)},
              {"data", w.data}};
}

Result<WorkOrder> WorkOrderFromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgument("work_order", "must be an object");
  WorkOrder w;
  Reader r(j);
  r.Str("id", &w.id);
  r.Str("compound_id", &w.compound_id);
  r.Str("kind", &w.kind);
  r.Str("title", &w.title);
  r.Str("description", &w.description);
  r.Enum("state", &w.state, ParseWorkOrderState);
  r.Str("priority", &w.priority);
  r.Str("source", &w.source);
  r.Str("rule_id", &w.rule_id);
  r.Str("actor", &w.actor);
  r.Str("assignee", &w.assignee);
  r.Str("assignee_role", &w.assignee_role);
  r.Str("alarm_id", &w.alarm_id);
  r.Str("device_id", &w.device_id);
  r.Str("room_id", &w.room_id);
  r.Str("person_id", &w.person_id);
  r.Str("clear_key", &w.clear_key);
  r.Int("created_ms", &w.created_ms);
  r.Int("updated_ms", &w.updated_ms);
  r.Int("due_ms", &w.due_ms);
  r.Int("started_ms", &w.started_ms);
  r.Int("done_ms", &w.done_ms);
  r.Int("closed_ms", &w.closed_ms);
  r.Str("result", &w.result);
  r.List("photos", &w.photos);
  r.Obj("data", &w.data);
  LINLI_RETURN_IF_ERROR(r.Done());
  return w;
}

Json ToJson(const Command& c) {
  return Json{{"id", c.id},
              {"compound_id", c.compound_id},
              {"device_id", c.device_id},
              {"name", c.name},
              {"args", c.args},
              {"cause", c.cause},
              {"actor", c.actor},
              {"state", CommandStateName(c.state)},
              {"attempts", c.attempts},
              {"max_attempts", c.max_attempts},
              {"timeout_ms", c.timeout_ms},
              {"created_ms", c.created_ms},
              {"sent_ms", c.sent_ms},
              {"acked_ms", c.acked_ms},
              {"updated_ms", c.updated_ms},
              {"expires_ms", c.expires_ms},
              {"deadline_ms", c.deadline_ms},
              {"error", c.error},
              {"rule_id", c.rule_id},
              {"alarm_id", c.alarm_id}};
}

Result<Command> CommandFromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgument("command", "must be an object");
  Command c;
  Reader r(j);
  r.Str("id", &c.id);
  r.Str("compound_id", &c.compound_id);
  r.Str("device_id", &c.device_id);
  r.Str("name", &c.name);
  r.Obj("args", &c.args);
  r.Obj("cause", &c.cause);
  r.Str("actor", &c.actor);
  r.Enum("state", &c.state, ParseCommandState);
  r.Int("attempts", &c.attempts);
  r.Int("max_attempts", &c.max_attempts);
  r.Int("timeout_ms", &c.timeout_ms);
  r.Int("created_ms", &c.created_ms);
  r.Int("sent_ms", &c.sent_ms);
  r.Int("acked_ms", &c.acked_ms);
  r.Int("updated_ms", &c.updated_ms);
  r.Int("expires_ms", &c.expires_ms);
  r.Int("deadline_ms", &c.deadline_ms);
  r.Str("error", &c.error);
  r.Str("rule_id", &c.rule_id);
  r.Str("alarm_id", &c.alarm_id);
  LINLI_RETURN_IF_ERROR(r.Done());
  return c;
}

std::string CommandText(const Command& c) {
  // The members of ToJson(c) in key order (see JsonObjectWriter).
  JsonObjectWriter w;
  w.Int("acked_ms", c.acked_ms)
      .Str("actor", c.actor)
      .Str("alarm_id", c.alarm_id)
      .Value("args", c.args)
      .Int("attempts", c.attempts)
      .Value("cause", c.cause)
      .Str("compound_id", c.compound_id)
      .Int("created_ms", c.created_ms)
      .Int("deadline_ms", c.deadline_ms)
      .Str("device_id", c.device_id)
      .Str("error", c.error)
      .Int("expires_ms", c.expires_ms)
      .Str("id", c.id)
      .Int("max_attempts", c.max_attempts)
      .Str("name", c.name)
      .Str("rule_id", c.rule_id)
      .Int("sent_ms", c.sent_ms)
      .Str("state", CommandStateName(c.state))
      .Int("timeout_ms", c.timeout_ms)
      .Int("updated_ms", c.updated_ms);
  return std::move(w).Take();
}

std::string CommandPayload(const Command& c, int64_t now_ms) {
  JsonObjectWriter w;
  w.Value("args", c.args).Value("cause", c.cause);
  if (c.expires_ms > 0) w.Int("expires", c.expires_ms);
  w.Str("id", c.id).Str("name", c.name).Int("ts", now_ms);
  return std::move(w).Take();
}

Json ToJson(const MediaObject& m) {
  return Json{{"id", m.id},
              {"compound_id", m.compound_id},
              {"device_id", m.device_id},
              {"event_id", m.event_id},
              {"content_type", m.content_type},
              {"size", m.size},
              {"sha256", m.sha256},
              {"created_ms", m.created_ms},
              {"uploaded_by", m.uploaded_by}};
}

}  // namespace linli::model
