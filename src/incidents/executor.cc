#include "incidents/executor.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "common/ids.h"
#include "common/log.h"
#include "rules/parse.h"

namespace linli::incidents {

struct Executor::Batch {
  store::IncidentWrite w;
  std::vector<model::FeedItem> feed;
  std::vector<size_t> publish;  // indexes into w.commands to publish after commit
  std::vector<rules::AlarmChange> alarm_changes;
  std::vector<rules::CommandOutcome> outcomes;
  std::map<std::string, size_t> alarm_by_id;   // index into w.alarms
  std::map<std::string, size_t> alarm_by_merge;
  std::vector<std::string> runs_added;  // run_alarm_ entries made for this batch (undone if it is not stored)
  std::unordered_set<std::string> acked;  // commands this batch's acknowledgements completed
  int64_t now = 0;

  model::Alarm* FindAlarm(const std::string& id) {
    auto it = alarm_by_id.find(id);
    return it == alarm_by_id.end() ? nullptr : &w.alarms[it->second];
  }
  model::Alarm& PutAlarm(model::Alarm a) {
    if (auto it = alarm_by_id.find(a.id); it != alarm_by_id.end()) {
      w.alarms[it->second] = std::move(a);
      return w.alarms[it->second];
    }
    alarm_by_id[a.id] = w.alarms.size();
    if (model::IsOpen(a.state) && !a.merge_key.empty()) alarm_by_merge[a.merge_key] = w.alarms.size();
    w.alarms.push_back(std::move(a));
    return w.alarms.back();
  }
};

namespace {

constexpr size_t kMaxMergedEvents = 100;
constexpr size_t kMaxRunMemory = 10'000;

std::string Str(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const Json& Obj(const Json& j, const char* k) {
  static const Json kEmpty = Json::object();
  auto it = j.find(k);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

model::AlarmLevel LevelOf(const std::string& s) {
  return model::ParseAlarmLevel(s).value_or(model::AlarmLevel::kWarning);
}

// Media ids that an event carries (edge boxes: data.snapshot, data.snapshot_annotated, data.clip).
std::vector<std::string> MediaOf(const Json& event_data) {
  std::vector<std::string> out;
  for (const char* k : {"snapshot", "snapshot_annotated", "clip"}) {
    std::string v = Str(event_data, k);
    if (!v.empty() && model::ValidateId(v)) out.push_back(v);
  }
  if (auto it = event_data.find("media"); it != event_data.end() && it->is_array()) {
    for (const auto& m : *it) {
      if (m.is_string() && model::ValidateId(m.get<std::string>())) out.push_back(m.get<std::string>());
    }
  }
  return out;
}

void AddUnique(std::vector<std::string>* v, const std::vector<std::string>& add, size_t cap) {
  for (const auto& s : add) {
    if (v->size() >= cap) break;
    if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
  }
}

Json EscalationJson(const rules::EscalationStep& s) {
  return Json{{"after_ms", s.after_ms}, {"unless", s.unless}, {"contacts", s.contacts},
              {"roles", s.roles},       {"level", s.level},   {"note", s.note}};
}

// The part of a firing context worth keeping on the alarm (no registry copies).
Json TrimContext(const Json& ctx) {
  Json out = Json::object();
  for (const char* k : {"event", "metric", "value", "since_ms", "status", "count", "person", "last_seen_ms",
                        "absent_hours", "window_causes", "change"}) {
    if (auto it = ctx.find(k); it != ctx.end()) out[k] = *it;
  }
  return out;
}

}  // namespace

Executor::Executor(store::Store* store, RegistryCache* registry, Clock* clock, CommandPublisher* publisher,
                   model::FeedSink* feed, ExecutorOptions options)
    : store_(store), registry_(registry), clock_(clock), publisher_(publisher), feed_(feed), options_(options) {
  auto& m = metrics::Default();
  alarms_raised_ = &m.GetCounter("linli_alarms_raised_total", "Alarms raised (rules, operators, residents)");
  alarms_merged_ = &m.GetCounter("linli_alarms_merged_total", "Repeated causes merged into an open alarm");
  escalations_ = &m.GetCounter("linli_alarm_escalations_total", "Escalation steps run");
  commands_sent_ = &m.GetCounter("linli_commands_sent_total", "Device commands published (attempts)");
  commands_failed_ = &m.GetCounter("linli_commands_failed_total", "Device commands failed or expired");
  work_orders_opened_ = &m.GetCounter("linli_work_orders_opened_total", "Work orders opened");
  acks_unknown_ = &m.GetCounter("linli_command_acks_rejected_total",
                                "Acknowledgements for unknown commands or from the wrong device");
}

Executor::~Executor() = default;

void Executor::Log(Batch& b, const std::string& kind, const std::string& id, const std::string& compound,
                   const std::string& actor, const std::string& action, const std::string& from,
                   const std::string& to, const std::string& comment, Json data) {
  model::IncidentLogEntry e;
  e.object_kind = kind;
  e.object_id = id;
  e.compound_id = compound;
  e.ts_ms = b.now;
  e.actor = actor;
  e.action = action;
  e.from_state = from;
  e.to_state = to;
  e.comment = comment;
  e.data = std::move(data);
  b.w.log.push_back(std::move(e));
}

void Executor::Feed(Batch& b, const std::string& type, const std::string& compound, Json data) {
  if (!FeedOn()) return;
  b.feed.push_back({type, compound, b.now, std::move(data)});
}

void Executor::Webhooks(Batch& b, const std::string& topic, const std::string& compound, const Json& payload) {
  for (const auto& wh : registry_->Webhooks(topic, compound)) {
    model::Notification n;
    n.compound_id = compound;
    n.channel = "webhook";
    n.target = wh.id;
    n.url = wh.url;
    n.topic = topic;
    n.payload = Json{{"topic", topic}, {"ts_ms", b.now}, {"compound_id", compound}, {"data", payload}};
    n.created_ms = b.now;
    n.next_attempt_ms = b.now;
    b.w.notifications.push_back(std::move(n));
  }
}

void Executor::NotifyContacts(Batch& b, const std::string& compound, const std::vector<std::string>& roles,
                              const std::string& topic, const Json& payload, std::vector<std::string>* reached) {
  if (roles.empty()) return;
  for (const auto& c : registry_->Contacts(compound, roles)) {
    if (reached != nullptr) reached->push_back(c.role + ":" + c.name);
    if (c.webhook_url.empty()) continue;  // shown to operators (with the phone number) on the dashboard
    model::Notification n;
    n.compound_id = compound;
    n.channel = "contact";
    n.target = c.id;
    n.url = c.webhook_url;
    n.topic = topic;
    n.payload = Json{{"topic", topic}, {"ts_ms", b.now}, {"compound_id", compound}, {"contact", {{"id", c.id}, {"role", c.role}}},
                     {"data", payload}};
    n.created_ms = b.now;
    n.next_attempt_ms = b.now;
    b.w.notifications.push_back(std::move(n));
  }
}

void Executor::AlarmChanged(Batch& b, const model::Alarm& a, const std::string& change) {
  Json j = model::ToJson(a);
  Feed(b, "alarm", a.compound_id, Json{{"change", change}, {"alarm", j}});
  Webhooks(b, "alarm." + change, a.compound_id, j);
  b.alarm_changes.push_back({std::move(j), change});
}

// ---- intents ----

void Executor::RaiseFromIntent(Batch& b, const rules::Intent& in) {
  const rules::AlarmAction& act = in.action->alarm;
  const Json& ctx = *in.context;
  std::string merge_key = act.merge_key.Render(ctx);
  if (merge_key.size() > 300) merge_key.resize(300);
  const Json& event = Obj(ctx, "event");
  std::vector<std::string> media = act.attach_snapshots ? MediaOf(Obj(event, "data")) : std::vector<std::string>{};

  // Merge into the open alarm of the same cause: in this batch, or stored.
  model::Alarm* open = nullptr;
  if (auto it = b.alarm_by_merge.find(merge_key); it != b.alarm_by_merge.end()) open = &b.w.alarms[it->second];
  std::optional<model::Alarm> stored;
  if (open == nullptr) {
    if (auto it = open_alarms_.find(merge_key); it != open_alarms_.end()) stored = it->second;
  }
  if (open == nullptr && !stored) {
    auto found = store_->FindOpenAlarm(merge_key);
    if (!found) {
      log::Warn("alarm lookup failed; raising a new alarm", {{"error", found.error().ToString()}});
    } else if (*found) {
      stored = std::move(**found);
    }
  }
  if (open == nullptr && stored) open = &b.PutAlarm(std::move(*stored));
  if (open != nullptr && model::IsOpen(open->state)) {
    model::Alarm& a = *open;
    ++a.count;
    a.last_ms = b.now;
    a.updated_ms = b.now;
    if (LevelOf(act.level) > a.level) a.level = LevelOf(act.level);
    if (in.cause_kind == "event" && a.events.size() < kMaxMergedEvents) a.events.push_back(in.cause_id);
    AddUnique(&a.attachments, media, static_cast<size_t>(options_.max_attachments));
    Log(b, "alarm", a.id, a.compound_id, "rule:" + in.rule->id, "merge", std::string(model::AlarmStateName(a.state)),
        std::string(model::AlarmStateName(a.state)), "",
        Json{{"cause", {{"kind", in.cause_kind}, {"id", in.cause_id}}}, {"count", a.count}});
    alarms_merged_->Inc();
    AlarmChanged(b, a, "merged");
    if (run_alarm_.insert_or_assign(in.run_id, a.id).second) b.runs_added.push_back(in.run_id);
    return;
  }

  model::Alarm a;
  a.id = NewUuid();
  a.compound_id = in.compound_id;
  a.type = act.type;
  a.level = LevelOf(act.level);
  a.title = act.title.Render(ctx);
  a.description = act.description.Render(ctx);
  if (a.title.size() > 300) a.title.resize(300);
  a.state = model::AlarmState::kRaised;
  a.source = "rule";
  a.rule_id = in.rule->id;
  a.actor = "rule:" + in.rule->id;
  a.merge_key = merge_key;
  if (in.cause_kind == "event") {
    a.cause_event_id = in.cause_id;
    a.events.push_back(in.cause_id);
  }
  const Json& dev = Obj(ctx, "device");
  a.device_id = Str(dev, "id");
  if (auto d = registry_->Device(a.device_id)) {
    a.building_id = d->building_id;
    a.unit_id = d->unit_id;
    a.room_id = d->room_id;
    a.location = registry_->Address(*d);
  }
  const Json& person = Obj(ctx, "person");
  if (a.room_id.empty()) a.room_id = Str(person, "room_id");
  a.raised_ms = a.last_ms = a.updated_ms = b.now;
  if (act.ack_sla_ms > 0) a.ack_due_ms = b.now + act.ack_sla_ms;
  if (act.close_sla_ms > 0) a.close_due_ms = b.now + act.close_sla_ms;
  a.attachments = media;
  a.data = Json{{"context", TrimContext(ctx)}, {"clear_key", in.key}, {"run_id", in.run_id},
                {"resolve_on_clear", act.resolve_on_clear}};
  // The residents of the room (SOS buttons, smoke in a flat): ids only — names and phone
  // numbers are resolved at read time with the reader's masking.
  if (!a.room_id.empty()) a.data["person_ids"] = registry_->PersonsInRoom(a.room_id);
  if (!Str(person, "id").empty()) a.data["person_ids"] = Json::array({Str(person, "id")});
  // The compound's escalation contacts, for the dashboard.
  Json contacts = Json::array();
  for (const auto& c : registry_->Contacts(a.compound_id, {})) contacts.push_back({{"id", c.id}, {"role", c.role}, {"name", c.name}});
  a.data["contacts"] = std::move(contacts);
  if (!act.escalation.empty()) {
    Json steps = Json::array();
    for (const auto& s : act.escalation) steps.push_back(EscalationJson(s));
    a.data["escalation_steps"] = std::move(steps);
    a.escalation = in.rule->id;
    a.escalation_step = 0;
    a.next_escalation_ms = a.raised_ms + act.escalation.front().after_ms;
  }
  model::Alarm& stored_alarm = b.PutAlarm(std::move(a));
  Log(b, "alarm", stored_alarm.id, stored_alarm.compound_id, "rule:" + in.rule->id, "raise", "", "raised",
      stored_alarm.title, Json{{"cause", {{"kind", in.cause_kind}, {"id", in.cause_id}}}, {"rule", in.rule->id}});
  alarms_raised_->Inc();
  AlarmChanged(b, stored_alarm, "raised");
  if (run_alarm_.insert_or_assign(in.run_id, stored_alarm.id).second) b.runs_added.push_back(in.run_id);
  run_order_.push_back(in.run_id);
  while (run_order_.size() > kMaxRunMemory) {
    run_alarm_.erase(run_order_.front());
    run_order_.pop_front();
  }
}

void Executor::WorkOrderFromIntent(Batch& b, const rules::Intent& in) {
  const rules::WorkOrderAction& act = in.action->work_order;
  const Json& ctx = *in.context;
  const std::string clear_key = act.close_on_clear ? in.rule->id + ":" + in.key : std::string();
  if (!clear_key.empty()) {
    // One open order per cause: a repeat adds a note instead of a second order.
    for (const auto& existing : b.w.work_orders) {
      if (existing.clear_key == clear_key && model::IsOpen(existing.state)) return;
    }
    auto open = store_->OpenWorkOrdersByClearKey(clear_key);
    if (open && !open->empty()) {
      Log(b, "work_order", open->front().id, open->front().compound_id, "rule:" + in.rule->id, "repeat",
          std::string(model::WorkOrderStateName(open->front().state)),
          std::string(model::WorkOrderStateName(open->front().state)), "the condition occurred again");
      return;
    }
  }
  model::WorkOrder w;
  w.id = NewUuid();
  w.compound_id = in.compound_id;
  w.kind = act.kind;
  w.title = act.title.Render(ctx);
  w.description = act.description.Render(ctx);
  if (w.title.size() > 300) w.title.resize(300);
  w.priority = act.priority;
  w.source = "rule";
  w.rule_id = in.rule->id;
  w.actor = "rule:" + in.rule->id;
  w.assignee_role = act.assignee_role;
  if (act.link_alarm) {
    if (auto it = run_alarm_.find(in.run_id); it != run_alarm_.end()) w.alarm_id = it->second;
  }
  w.device_id = Str(Obj(ctx, "device"), "id");
  const Json& person = Obj(ctx, "person");
  w.person_id = Str(person, "id");
  w.room_id = Str(person, "room_id");
  if (auto d = registry_->Device(w.device_id); d && w.room_id.empty()) w.room_id = d->room_id;
  w.clear_key = clear_key;
  w.created_ms = w.updated_ms = b.now;
  if (act.due_ms > 0) w.due_ms = b.now + act.due_ms;
  w.data = Json{{"context", TrimContext(ctx)}, {"run_id", in.run_id}};
  Log(b, "work_order", w.id, w.compound_id, w.actor, "open", "", "open", w.title, Json{{"rule", in.rule->id}});
  Json j = model::ToJson(w);
  Feed(b, "work_order", w.compound_id, Json{{"change", "opened"}, {"work_order", j}});
  Webhooks(b, "work_order.opened", w.compound_id, j);
  work_orders_opened_->Inc();
  // The alarm learns about its work order.
  if (!w.alarm_id.empty()) {
    model::Alarm* a = b.FindAlarm(w.alarm_id);
    if (a == nullptr) {
      auto got = store_->GetAlarm(w.alarm_id);
      if (got) a = &b.PutAlarm(std::move(*got));
    }
    if (a != nullptr && a->work_order_id.empty()) a->work_order_id = w.id;
  }
  b.w.work_orders.push_back(std::move(w));
}

void Executor::CommandsFromIntent(Batch& b, const rules::Intent& in) {
  const rules::CommandAction& act = in.action->command;
  std::string alarm_id;
  if (auto it = run_alarm_.find(in.run_id); it != run_alarm_.end()) alarm_id = it->second;
  if (in.device_ids.empty()) {
    log::Warn("rule command matched no device", {{"rule", in.rule->id}, {"command", act.name}, {"label", in.action->label}});
    if (!alarm_id.empty()) {
      Log(b, "alarm", alarm_id, in.compound_id, "rule:" + in.rule->id, "command", "", "",
          "no device matched for " + act.name);
    }
    return;
  }
  for (size_t k = 0; k < in.device_ids.size(); ++k) {
    model::Command c;
    c.id = in.command_ids[k];
    c.compound_id = in.compound_id;
    c.device_id = in.device_ids[k];
    c.name = act.name;
    c.args = act.args;
    c.cause = Json{{"kind", in.cause_kind}, {"id", in.cause_id}, {"rule", in.rule->id}, {"run", in.run_id}};
    if (!alarm_id.empty()) c.cause["alarm"] = alarm_id;
    c.actor = "rule:" + in.rule->id;
    c.rule_id = in.rule->id;
    c.alarm_id = alarm_id;
    c.max_attempts = act.retries + 1;
    c.timeout_ms = act.timeout_ms;
    c.created_ms = c.updated_ms = b.now;
    c.expires_ms = b.now + act.expires_ms;
    auto dev = registry_->Device(c.device_id);
    if (!dev || dev->compound_id != c.compound_id) {
      c.state = model::CommandState::kFailed;
      c.error = "device is not registered in this compound";
    } else if (!rules::KnownCommand(dev->kind, c.name)) {
      c.state = model::CommandState::kFailed;
      c.error = "a " + dev->kind + " does not accept '" + c.name + "'";
    } else {
      c.state = model::CommandState::kSent;
      c.attempts = 1;
      c.sent_ms = b.now;
      c.deadline_ms = b.now + c.timeout_ms;
      b.publish.push_back(b.w.commands.size());
    }
    if (c.state == model::CommandState::kFailed) {
      commands_failed_->Inc();
      b.outcomes.push_back({c.id, false, c.error});
    }
    if (FeedOn()) Feed(b, "command", c.compound_id, model::ToJson(c));
    b.w.commands.push_back(std::move(c));
  }
}

void Executor::NotifyFromIntent(Batch& b, const rules::Intent& in) {
  const rules::NotifyAction& act = in.action->notify;
  std::string message = act.message.Render(*in.context);
  if (message.size() > 1000) message.resize(1000);
  Json payload = Json{{"rule_id", in.rule->id}, {"message", message}, {"level", act.level},
                      {"roles", act.roles},     {"key", in.key},      {"cause", {{"kind", in.cause_kind}, {"id", in.cause_id}}}};
  if (auto it = run_alarm_.find(in.run_id); it != run_alarm_.end()) payload["alarm_id"] = it->second;
  std::vector<std::string> reached;
  NotifyContacts(b, in.compound_id, act.contacts, "rule.notify", payload, &reached);
  payload["contacts"] = reached;
  Feed(b, "notification", in.compound_id, payload);
  if (act.webhooks) Webhooks(b, "rule.notify", in.compound_id, payload);
}

Result<void> Executor::ClearFromIntent(Batch& b, const rules::Intent& in) {
  const std::string actor = "rule:" + in.clear_rule_id;
  // Work orders the rule opened for this key and asked to close when it clears.
  LINLI_ASSIGN_OR_RETURN(auto orders, store_->OpenWorkOrdersByClearKey(in.clear_rule_id + ":" + in.key));
  for (auto& w : orders) {
    const std::string from(model::WorkOrderStateName(w.state));
    w.state = model::WorkOrderState::kClosed;
    w.closed_ms = w.updated_ms = b.now;
    if (w.result.empty()) w.result = "closed automatically: " + in.clear_comment;
    Log(b, "work_order", w.id, w.compound_id, actor, "auto_close", from, "closed", in.clear_comment);
    Json j = model::ToJson(w);
    Feed(b, "work_order", w.compound_id, Json{{"change", "closed"}, {"work_order", j}});
    Webhooks(b, "work_order.closed", w.compound_id, j);
    b.w.work_orders.push_back(std::move(w));
  }
  // Alarms of the rule for this key: resolved if the rule says so, otherwise annotated.
  store::AlarmQuery q;
  q.open_only = true;
  q.rule_id = in.clear_rule_id;
  q.compound_id = in.compound_id;
  q.limit = 1000;
  LINLI_ASSIGN_OR_RETURN(auto page, store_->ListAlarms(q));
  for (auto& stored : page.items) {
    if (Str(stored.data, "clear_key") != in.key) continue;
    model::Alarm* a = b.FindAlarm(stored.id);
    if (a == nullptr) a = &b.PutAlarm(std::move(stored));
    if (!model::IsOpen(a->state)) continue;
    if (a->data.value("resolve_on_clear", false)) {
      const std::string from(model::AlarmStateName(a->state));
      a->state = model::AlarmState::kResolved;
      a->resolved_ms = a->updated_ms = b.now;
      a->resolved_by = actor;
      a->next_escalation_ms = 0;
      Log(b, "alarm", a->id, a->compound_id, actor, "resolve", from, "resolved", in.clear_comment);
      AlarmChanged(b, *a, "resolved");
    } else {
      a->updated_ms = b.now;
      a->data["cleared_ms"] = b.now;
      Log(b, "alarm", a->id, a->compound_id, actor, "condition_cleared", std::string(model::AlarmStateName(a->state)),
          std::string(model::AlarmStateName(a->state)), in.clear_comment);
      AlarmChanged(b, *a, "cleared");
    }
  }
  return {};
}

void Executor::Stage(Batch& b, const rules::Output* out, const std::vector<std::pair<std::string, std::string>>& meta) {
  if (out != nullptr) {
    for (const auto& s : out->state) b.w.rule_state.push_back({s.rule_id, s.key, s.state, b.now});
  }
  for (const auto& m : meta) b.w.meta.push_back(m);
}

void Executor::Forget(Batch& b) {
  for (const auto& run : b.runs_added) run_alarm_.erase(run);
}

Result<void> Executor::Commit(Batch& b, const rules::Output* out,
                              const std::vector<std::pair<std::string, std::string>>& meta, Applied* applied) {
  Stage(b, out, meta);
  if (!b.w.empty()) {
    auto r = store_->ApplyIncidentWrite(b.w);
    if (!r) {
      Forget(b);
      return std::unexpected(r.error());
    }
  }
  AfterCommit(b, applied);
  return {};
}

void Executor::AfterCommit(Batch& b, Applied* applied) {
  constexpr size_t kMaxCached = 100'000;
  for (const auto& a : b.w.alarms) {
    if (a.merge_key.empty()) continue;
    if (model::IsOpen(a.state)) {
      if (open_alarms_.size() >= kMaxCached) open_alarms_.clear();
      open_alarms_[a.merge_key] = a;
    } else if (auto it = open_alarms_.find(a.merge_key); it != open_alarms_.end() && it->second.id == a.id) {
      open_alarms_.erase(it);
    }
  }
  // Durable: now act.
  for (size_t idx : b.publish) {
    const model::Command& c = b.w.commands[idx];
    const std::string topic = "linli/v1/" + c.compound_id + "/" + c.device_id + "/down/command";
    auto p = publisher_ != nullptr ? publisher_->Publish(topic, model::CommandPayload(c, b.now))
                                   : Result<void>(Fail(ErrorCode::kUnavailable, "no broker"));
    if (!p) {
      // Stays "sent" with its deadline: the retry timer publishes it again.
      log::Warn("command publish failed; will retry", {{"command", c.id}, {"error", p.error().ToString()}});
    } else {
      commands_sent_->Inc();
      ++applied->commands_published;
    }
  }
  if (feed_ != nullptr) {
    for (const auto& item : b.feed) feed_->Publish(item);
  }
  // Commands still waiting for their acknowledgement stay at hand (moved: the batch is done).
  for (auto& c : b.w.commands) {
    if (c.state == model::CommandState::kSent || c.state == model::CommandState::kPending) {
      if (inflight_.size() >= kMaxCached) inflight_.clear();
      std::string id = c.id;
      inflight_.insert_or_assign(std::move(id), std::move(c));
    } else {
      inflight_.erase(c.id);
    }
  }
  applied->alarm_changes = std::move(b.alarm_changes);
  applied->command_outcomes = std::move(b.outcomes);
  applied->notifications_queued = !b.w.notifications.empty();
}

Result<Applied> Executor::Apply(const rules::Output& out, const std::vector<std::pair<std::string, std::string>>& meta) {
  Batch b;
  b.now = clock_->NowMs();
  if (auto r = Intents(b, out); !r) {
    Forget(b);
    return std::unexpected(r.error());
  }
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, &out, meta, &applied));
  return applied;
}

Result<void> Executor::Intents(Batch& b, const rules::Output& out) {
  for (const auto& in : out.intents) {
    if (in.clear) {
      LINLI_RETURN_IF_ERROR(ClearFromIntent(b, in));
      continue;
    }
    if (in.action == nullptr) continue;
    switch (in.action->kind) {
      case rules::ActionKind::kAlarm:
        RaiseFromIntent(b, in);
        break;
      case rules::ActionKind::kWorkOrder:
        WorkOrderFromIntent(b, in);
        break;
      case rules::ActionKind::kCommand:
        CommandsFromIntent(b, in);
        break;
      case rules::ActionKind::kNotify:
        NotifyFromIntent(b, in);
        break;
      case rules::ActionKind::kResolve:
        break;  // the engine marks resolves as clear intents
    }
  }
  return {};
}

// ---- the fused ingest path ----

void Executor::BeginPending() {
  pending_ = std::make_unique<Batch>();
  pending_->now = clock_->NowMs();
}

Result<std::vector<rules::CommandOutcome>> Executor::AckPending(const std::vector<std::pair<std::string, Json>>& acks) {
  if (pending_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "no pending write");
  return AcksInto(*pending_, acks);
}

Result<void> Executor::ApplyPending(const rules::Output& out,
                                    const std::vector<std::pair<std::string, std::string>>& meta) {
  if (pending_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "no pending write");
  LINLI_RETURN_IF_ERROR(Intents(*pending_, out));
  Stage(*pending_, &out, meta);
  return {};
}

const store::IncidentWrite* Executor::PendingWrite() const {
  return pending_ != nullptr && !pending_->w.empty() ? &pending_->w : nullptr;
}

Applied Executor::FinishPending(bool stored) {
  Applied applied;
  if (pending_ == nullptr) return applied;
  if (stored) {
    AfterCommit(*pending_, &applied);
  } else {
    Forget(*pending_);
  }
  pending_.reset();
  return applied;
}

// ---- operator actions ----

Result<std::pair<model::Alarm, Applied>> Executor::RaiseAlarm(const ManualAlarm& m, const std::string& actor,
                                                              const std::string& source, const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  model::Alarm a;
  a.id = NewUuid();
  a.compound_id = m.compound_id;
  a.type = m.type;
  a.level = LevelOf(m.level);
  a.title = m.title.empty() ? m.type : m.title;
  a.description = m.description;
  a.source = source;
  a.actor = actor;
  a.device_id = m.device_id;
  a.room_id = m.room_id;
  if (auto d = registry_->Device(m.device_id)) {
    a.building_id = d->building_id;
    a.unit_id = d->unit_id;
    if (a.room_id.empty()) a.room_id = d->room_id;
    a.location = registry_->Address(*d);
  }
  a.raised_ms = a.last_ms = a.updated_ms = b.now;
  a.attachments = m.attachments;
  if (!a.room_id.empty()) a.data["person_ids"] = registry_->PersonsInRoom(a.room_id);
  model::Alarm& stored = b.PutAlarm(std::move(a));
  Log(b, "alarm", stored.id, stored.compound_id, actor, "raise", "", "raised", stored.title, Json{{"source", source}});
  model::AuditEntry e{0, b.now, actor, "alarm.raise", "alarm", stored.id, stored.compound_id, remote, Json{{"type", stored.type}}};
  b.w.audit.push_back(e);
  alarms_raised_->Inc();
  AlarmChanged(b, stored, "raised");
  model::Alarm copy = stored;
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return std::make_pair(std::move(copy), std::move(applied));
}

Result<std::pair<model::Alarm, Applied>> Executor::TransitionAlarm(const std::string& id, model::AlarmAction action,
                                                                   const std::string& actor, const std::string& comment,
                                                                   const Json& extra, const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(model::Alarm a, store_->GetAlarm(id));
  LINLI_ASSIGN_OR_RETURN(model::AlarmState next, model::NextAlarmState(a.state, action));
  const std::string from(model::AlarmStateName(a.state));
  a.state = next;
  a.updated_ms = b.now;
  switch (action) {
    case model::AlarmAction::kAcknowledge:
      a.acknowledged_ms = b.now;
      a.acknowledged_by = actor;
      break;
    case model::AlarmAction::kDispatch: {
      if (a.acknowledged_ms == 0) {
        a.acknowledged_ms = b.now;
        a.acknowledged_by = actor;
      }
      a.dispatched_ms = b.now;
      a.dispatched_to = Str(extra, "assignee");
      if (a.dispatched_to.empty()) a.dispatched_to = Str(extra, "assignee_role");
      // Dispatching opens (or re-assigns) the alarm's work order.
      if (extra.value("work_order", true)) {
        model::WorkOrder w;
        bool existing = false;
        if (!a.work_order_id.empty()) {
          auto got = store_->GetWorkOrder(a.work_order_id);
          if (got && model::IsOpen(got->state)) {
            w = std::move(*got);
            existing = true;
          }
        }
        if (!existing) {
          w.id = NewUuid();
          w.compound_id = a.compound_id;
          w.kind = extra.value("kind", std::string("repair"));
          w.title = a.title;
          w.description = a.description;
          w.priority = a.level >= model::AlarmLevel::kMajor ? "urgent" : "high";
          w.source = "operator";
          w.actor = actor;
          w.alarm_id = a.id;
          w.device_id = a.device_id;
          w.room_id = a.room_id;
          w.created_ms = b.now;
          Log(b, "work_order", w.id, w.compound_id, actor, "open", "", "open", w.title, Json{{"alarm", a.id}});
        }
        const std::string wfrom(model::WorkOrderStateName(w.state));
        w.assignee = Str(extra, "assignee");
        w.assignee_role = extra.value("assignee_role", w.assignee_role.empty() ? std::string("technician") : w.assignee_role);
        if (!w.assignee.empty() && w.state == model::WorkOrderState::kOpen) w.state = model::WorkOrderState::kAssigned;
        if (auto due = extra.find("due_ms"); due != extra.end() && due->is_number_integer()) w.due_ms = due->get<int64_t>();
        w.updated_ms = b.now;
        if (!w.assignee.empty())
          Log(b, "work_order", w.id, w.compound_id, actor, "assign", wfrom, std::string(model::WorkOrderStateName(w.state)),
              comment, Json{{"assignee", w.assignee}});
        a.work_order_id = w.id;
        Json wj = model::ToJson(w);
        Feed(b, "work_order", w.compound_id, Json{{"change", existing ? "assigned" : "opened"}, {"work_order", wj}});
        Webhooks(b, existing ? "work_order.assigned" : "work_order.opened", w.compound_id, wj);
        if (!existing) work_orders_opened_->Inc();
        b.w.work_orders.push_back(std::move(w));
      }
      break;
    }
    case model::AlarmAction::kResolve:
      if (a.acknowledged_ms == 0) {
        a.acknowledged_ms = b.now;
        a.acknowledged_by = actor;
      }
      a.resolved_ms = b.now;
      a.resolved_by = actor;
      break;
    case model::AlarmAction::kClose:
      a.closed_ms = b.now;
      a.closed_by = actor;
      break;
    case model::AlarmAction::kFalseAlarm:
      if (a.acknowledged_ms == 0) {
        a.acknowledged_ms = b.now;
        a.acknowledged_by = actor;
      }
      a.closed_ms = b.now;
      a.closed_by = actor;
      break;
    case model::AlarmAction::kReopen:
      a.resolved_ms = 0;
      a.resolved_by.clear();
      break;
  }
  if (!model::IsOpen(a.state)) a.next_escalation_ms = 0;
  const std::string to(model::AlarmStateName(a.state));
  Log(b, "alarm", a.id, a.compound_id, actor, std::string(model::AlarmActionName(action)), from, to, comment, extra);
  b.w.audit.push_back({0, b.now, actor, "alarm." + std::string(model::AlarmActionName(action)), "alarm", a.id,
                       a.compound_id, remote, Json{{"from", from}, {"to", to}}});
  model::Alarm& stored = b.PutAlarm(std::move(a));
  const std::string change = action == model::AlarmAction::kFalseAlarm ? "false_alarm"
                             : action == model::AlarmAction::kReopen   ? "reopened"
                                                                       : to;
  AlarmChanged(b, stored, change);
  model::Alarm copy = stored;
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return std::make_pair(std::move(copy), std::move(applied));
}

Result<model::Alarm> Executor::CommentAlarm(const std::string& id, const std::string& actor,
                                            const std::string& comment, const std::vector<std::string>& attachments,
                                            const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(model::Alarm a, store_->GetAlarm(id));
  if (static_cast<int>(a.attachments.size() + attachments.size()) > options_.max_attachments)
    return InvalidArgument("attachments", "an alarm holds at most " + std::to_string(options_.max_attachments));
  AddUnique(&a.attachments, attachments, static_cast<size_t>(options_.max_attachments));
  a.updated_ms = b.now;
  const std::string st(model::AlarmStateName(a.state));
  Log(b, "alarm", a.id, a.compound_id, actor, attachments.empty() ? "comment" : "attach", st, st, comment,
      Json{{"attachments", attachments}});
  b.w.audit.push_back({0, b.now, actor, "alarm.comment", "alarm", a.id, a.compound_id, remote, Json::object()});
  model::Alarm& stored = b.PutAlarm(std::move(a));
  Feed(b, "alarm", stored.compound_id, Json{{"change", "commented"}, {"alarm", model::ToJson(stored)}});
  model::Alarm copy = stored;
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return copy;
}

Result<model::WorkOrder> Executor::CreateWorkOrder(const NewWorkOrder& n, const std::string& actor,
                                                   const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  model::WorkOrder w;
  w.id = NewUuid();
  w.compound_id = n.compound_id;
  w.kind = n.kind;
  w.title = n.title;
  w.description = n.description;
  w.priority = n.priority;
  w.source = n.source;
  w.actor = actor;
  w.assignee = n.assignee;
  w.assignee_role = n.assignee_role;
  w.alarm_id = n.alarm_id;
  w.device_id = n.device_id;
  w.room_id = n.room_id;
  w.person_id = n.person_id;
  w.due_ms = n.due_ms;
  w.photos = n.photos;
  w.state = w.assignee.empty() ? model::WorkOrderState::kOpen : model::WorkOrderState::kAssigned;
  w.created_ms = w.updated_ms = b.now;
  Log(b, "work_order", w.id, w.compound_id, actor, "open", "", std::string(model::WorkOrderStateName(w.state)), w.title,
      Json{{"source", n.source}});
  b.w.audit.push_back({0, b.now, actor, "work_order.open", "work_order", w.id, w.compound_id, remote, Json{{"kind", w.kind}}});
  Json j = model::ToJson(w);
  Feed(b, "work_order", w.compound_id, Json{{"change", "opened"}, {"work_order", j}});
  Webhooks(b, "work_order.opened", w.compound_id, j);
  work_orders_opened_->Inc();
  b.w.work_orders.push_back(w);
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return w;
}

Result<model::WorkOrder> Executor::TransitionWorkOrder(const std::string& id, model::WorkOrderAction action,
                                                       const std::string& actor, const Json& body,
                                                       const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(model::WorkOrder w, store_->GetWorkOrder(id));
  LINLI_ASSIGN_OR_RETURN(model::WorkOrderState next, model::NextWorkOrderState(w.state, action));
  const std::string from(model::WorkOrderStateName(w.state));
  w.state = next;
  w.updated_ms = b.now;
  const std::string comment = Str(body, "comment");
  switch (action) {
    case model::WorkOrderAction::kAssign:
      w.assignee = Str(body, "assignee");
      if (w.assignee.empty()) return InvalidArgument("assignee", "is required");
      break;
    case model::WorkOrderAction::kStart:
      w.started_ms = b.now;
      if (w.assignee.empty()) w.assignee = actor;
      break;
    case model::WorkOrderAction::kComplete:
      w.done_ms = b.now;
      w.result = Str(body, "result");
      if (w.result.empty()) return InvalidArgument("result", "say what was done");
      if (w.result.size() > 4000) return InvalidArgument("result", "must be at most 4000 bytes");
      break;
    case model::WorkOrderAction::kClose:
    case model::WorkOrderAction::kCancel:
      w.closed_ms = b.now;
      break;
    case model::WorkOrderAction::kReopen:
      w.done_ms = 0;
      break;
  }
  if (auto photos = body.find("photos"); photos != body.end() && photos->is_array()) {
    std::vector<std::string> add;
    for (const auto& p : *photos) {
      if (!p.is_string() || !model::ValidateId(p.get<std::string>())) return InvalidArgument("photos", "must be media ids");
      add.push_back(p.get<std::string>());
    }
    AddUnique(&w.photos, add, 50);
  }
  const std::string to(model::WorkOrderStateName(w.state));
  Log(b, "work_order", w.id, w.compound_id, actor, std::string(model::WorkOrderActionName(action)), from, to, comment,
      Json{{"assignee", w.assignee}});
  b.w.audit.push_back({0, b.now, actor, "work_order." + std::string(model::WorkOrderActionName(action)), "work_order",
                       w.id, w.compound_id, remote, Json{{"from", from}, {"to", to}}});
  Json j = model::ToJson(w);
  Feed(b, "work_order", w.compound_id, Json{{"change", to}, {"work_order", j}});
  Webhooks(b, "work_order." + to, w.compound_id, j);
  // Completing the alarm's work order records it on the alarm.
  if (!w.alarm_id.empty() && action == model::WorkOrderAction::kComplete) {
    auto a = store_->GetAlarm(w.alarm_id);
    if (a) {
      Log(b, "alarm", a->id, a->compound_id, actor, "work_order_done", std::string(model::AlarmStateName(a->state)),
          std::string(model::AlarmStateName(a->state)), w.result, Json{{"work_order", w.id}});
      a->updated_ms = b.now;
      AddUnique(&a->attachments, w.photos, static_cast<size_t>(options_.max_attachments));
      b.PutAlarm(std::move(*a));
    }
  }
  b.w.work_orders.push_back(w);
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return w;
}

Result<model::WorkOrder> Executor::CommentWorkOrder(const std::string& id, const std::string& actor,
                                                    const std::string& comment, const std::vector<std::string>& photos,
                                                    const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(model::WorkOrder w, store_->GetWorkOrder(id));
  if (w.photos.size() + photos.size() > 50) return InvalidArgument("photos", "a work order holds at most 50");
  AddUnique(&w.photos, photos, 50);
  w.updated_ms = b.now;
  const std::string st(model::WorkOrderStateName(w.state));
  Log(b, "work_order", w.id, w.compound_id, actor, photos.empty() ? "comment" : "attach", st, st, comment,
      Json{{"photos", photos}});
  b.w.audit.push_back({0, b.now, actor, "work_order.comment", "work_order", w.id, w.compound_id, remote, Json::object()});
  b.w.work_orders.push_back(w);
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return w;
}

Result<std::pair<model::Command, Applied>> Executor::SendCommand(const OperatorCommand& oc, const std::string& actor,
                                                                 const std::string& remote) {
  Batch b;
  b.now = clock_->NowMs();
  auto dev = registry_->Device(oc.device_id);
  if (!dev) return Fail(ErrorCode::kNotFound, "no such device '" + oc.device_id + "'");
  if (!rules::KnownCommand(dev->kind, oc.name))
    return InvalidArgument("name", "a " + dev->kind + " does not accept the command '" + oc.name + "'");
  model::Command c;
  c.id = NewUuid();
  c.compound_id = dev->compound_id;
  c.device_id = dev->id;
  c.name = oc.name;
  c.args = oc.args;
  c.cause = Json{{"kind", "operator"}, {"id", actor}, {"reason", oc.reason}};
  if (!oc.alarm_id.empty()) c.cause["alarm"] = oc.alarm_id;
  c.actor = actor;
  c.alarm_id = oc.alarm_id;
  c.state = model::CommandState::kSent;
  c.attempts = 1;
  c.max_attempts = oc.retries + 1;
  c.timeout_ms = oc.timeout_ms;
  c.created_ms = c.updated_ms = c.sent_ms = b.now;
  c.expires_ms = b.now + oc.expires_ms;
  c.deadline_ms = b.now + oc.timeout_ms;
  b.w.audit.push_back({0, b.now, actor, "command.send", "device", c.device_id, c.compound_id, remote,
                       Json{{"command_id", c.id}, {"name", c.name}, {"reason", oc.reason}}});
  if (!oc.alarm_id.empty()) {
    Log(b, "alarm", oc.alarm_id, c.compound_id, actor, "command", "", "", oc.reason,
        Json{{"command_id", c.id}, {"device_id", c.device_id}, {"name", c.name}});
  }
  if (FeedOn()) Feed(b, "command", c.compound_id, model::ToJson(c));
  b.publish.push_back(0);
  b.w.commands.push_back(c);
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return std::make_pair(std::move(c), std::move(applied));
}

Result<model::Command> Executor::TakeCommand(const std::string& id) {
  if (auto node = inflight_.extract(id); !node.empty()) return std::move(node.mapped());
  return store_->GetCommand(id);
}

Result<std::optional<rules::CommandOutcome>> Executor::AckLocked(Batch& b, const std::string& device_id,
                                                                 const Json& ack) {
  const std::string id = Str(ack, "command_id");
  if (id.empty()) return InvalidArgument("command_id", "is required");
  // A command already changed in this batch (a duplicate ack in the same burst).
  // (Commands made in this batch are not published yet: nothing acknowledges them.)
  if (b.acked.contains(id)) return std::optional<rules::CommandOutcome>();
  auto got = TakeCommand(id);
  if (!got) {
    if (got.error().code() == ErrorCode::kNotFound) acks_unknown_->Inc();
    return std::unexpected(got.error());
  }
  model::Command c = std::move(*got);
  if (c.device_id != device_id) {
    acks_unknown_->Inc();
    inflight_.emplace(c.id, std::move(c));  // still waiting for its own device
    return Fail(ErrorCode::kPermissionDenied, "command '" + id + "' was not sent to '" + device_id + "'");
  }
  if (c.state != model::CommandState::kSent && c.state != model::CommandState::kPending) {
    return std::optional<rules::CommandOutcome>();  // duplicate or late acknowledgement
  }
  b.acked.insert(id);
  const bool ok = ack.value("ok", false);
  c.state = ok ? model::CommandState::kAcked : model::CommandState::kFailed;
  c.acked_ms = c.updated_ms = b.now;
  c.deadline_ms = 0;
  if (!ok) {
    auto e = ack.find("error");
    c.error = e != ack.end() && e->is_string() ? e->get<std::string>().substr(0, 500) : "refused by the device";
    commands_failed_->Inc();
  }
  if (!c.alarm_id.empty()) {
    Log(b, "alarm", c.alarm_id, c.compound_id, "device:" + device_id, ok ? "command_acked" : "command_failed", "", "",
        c.name + (ok ? " done" : " failed: " + c.error), Json{{"command_id", c.id}, {"device_id", device_id}});
  }
  if (FeedOn()) Feed(b, "command", c.compound_id, model::ToJson(c));
  if (!ok) Webhooks(b, "command.failed", c.compound_id, model::ToJson(c));
  rules::CommandOutcome outcome{c.id, ok, c.error};
  b.w.commands.push_back(std::move(c));
  return std::optional<rules::CommandOutcome>(std::move(outcome));
}

Result<std::optional<rules::CommandOutcome>> Executor::OnAck(const std::string& device_id, const Json& ack) {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(auto outcome, AckLocked(b, device_id, ack));
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return outcome;
}

Result<std::vector<rules::CommandOutcome>> Executor::OnAcks(const std::vector<std::pair<std::string, Json>>& acks) {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(auto outcomes, AcksInto(b, acks));
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return outcomes;
}

Result<std::vector<rules::CommandOutcome>> Executor::AcksInto(Batch& b,
                                                              const std::vector<std::pair<std::string, Json>>& acks) {
  std::vector<rules::CommandOutcome> outcomes;
  for (const auto& [device, ack] : acks) {
    auto r = AckLocked(b, device, ack);
    if (!r) {
      if (r.error().code() != ErrorCode::kNotFound && r.error().code() != ErrorCode::kPermissionDenied &&
          r.error().code() != ErrorCode::kInvalidArgument)
        return std::unexpected(r.error());
      log::Debug("acknowledgement refused", {{"device", device}, {"error", r.error().ToString()}});
      continue;
    }
    if (*r) outcomes.push_back(std::move(**r));
  }
  return outcomes;
}

// ---- timers ----

Result<void> Executor::EscalateLocked(Batch& b, model::Alarm& a, int64_t now) {
  const Json steps = a.data.value("escalation_steps", Json::array());
  if (!steps.is_array() || a.escalation_step >= static_cast<int>(steps.size())) {
    a.next_escalation_ms = 0;
    return {};
  }
  const Json& step = steps[static_cast<size_t>(a.escalation_step)];
  const std::string unless = step.value("unless", std::string("acknowledged"));
  bool skip = false;
  if (unless == "acknowledged") skip = a.acknowledged_ms > 0 || a.state != model::AlarmState::kRaised;
  if (unless == "dispatched") skip = a.state == model::AlarmState::kDispatched || a.state == model::AlarmState::kResolved;
  if (unless == "resolved") skip = a.state == model::AlarmState::kResolved;
  const int ran = a.escalation_step;
  if (!skip) {
    std::vector<std::string> contacts, roles;
    for (const auto& c : step.value("contacts", Json::array())) {
      if (c.is_string()) contacts.push_back(c.get<std::string>());
    }
    for (const auto& r : step.value("roles", Json::array())) {
      if (r.is_string()) roles.push_back(r.get<std::string>());
    }
    std::string level = step.value("level", std::string());
    if (!level.empty() && LevelOf(level) > a.level) a.level = LevelOf(level);
    Json payload = model::ToJson(a);
    std::vector<std::string> reached;
    NotifyContacts(b, a.compound_id, contacts, "alarm.escalated", payload, &reached);
    Json record{{"step", ran}, {"ts_ms", now}, {"contacts", contacts}, {"reached", reached}, {"roles", roles}};
    if (!a.data.contains("escalations") || !a.data["escalations"].is_array()) a.data["escalations"] = Json::array();
    a.data["escalations"].push_back(record);
    std::string note = step.value("note", std::string());
    std::string text = "escalated (step " + std::to_string(ran + 1) + ")";
    if (!contacts.empty()) {
      text += " to";
      for (const auto& c : contacts) text += " " + c;
    }
    if (reached.empty() && !contacts.empty()) text += " — no such contact registered for this compound";
    if (!note.empty()) text += ": " + note;
    Log(b, "alarm", a.id, a.compound_id, "system", "escalate", std::string(model::AlarmStateName(a.state)),
        std::string(model::AlarmStateName(a.state)), text, record);
    Feed(b, "notification", a.compound_id,
         Json{{"message", a.title + " — " + text}, {"level", std::string(model::AlarmLevelName(a.level))},
              {"roles", roles}, {"alarm_id", a.id}});
    escalations_->Inc();
  }
  a.escalation_step = ran + 1;
  a.updated_ms = now;
  a.next_escalation_ms = a.escalation_step < static_cast<int>(steps.size())
                             ? a.raised_ms + steps[static_cast<size_t>(a.escalation_step)].value("after_ms", int64_t{0})
                             : 0;
  if (!skip) AlarmChanged(b, a, "escalated");
  return {};
}

Result<Applied> Executor::Tick() {
  Batch b;
  b.now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(auto due, store_->DueEscalations(b.now, 200));
  for (auto& stored : due) {
    model::Alarm& a = b.PutAlarm(std::move(stored));
    // Several steps may be due at once (after a restart): run them in order.
    for (int guard = 0; guard < 20 && a.next_escalation_ms > 0 && a.next_escalation_ms <= b.now; ++guard) {
      LINLI_RETURN_IF_ERROR(EscalateLocked(b, a, b.now));
    }
  }
  LINLI_ASSIGN_OR_RETURN(auto cmds, store_->CommandsDue(b.now, 500));
  for (auto& c : cmds) {
    if (c.state == model::CommandState::kSent && c.attempts < c.max_attempts &&
        (c.expires_ms == 0 || b.now < c.expires_ms)) {
      ++c.attempts;
      c.sent_ms = c.updated_ms = b.now;
      c.deadline_ms = b.now + c.timeout_ms;
      b.publish.push_back(b.w.commands.size());
      b.w.commands.push_back(std::move(c));
      continue;
    }
    const bool expired = c.expires_ms > 0 && b.now >= c.expires_ms;
    c.state = expired ? model::CommandState::kExpired : model::CommandState::kFailed;
    c.error = expired ? "not acknowledged before it expired (" + std::to_string(c.attempts) + " attempts)"
                      : "no acknowledgement after " + std::to_string(c.attempts) + " attempts";
    c.updated_ms = b.now;
    c.deadline_ms = 0;
    commands_failed_->Inc();
    if (!c.alarm_id.empty()) {
      Log(b, "alarm", c.alarm_id, c.compound_id, "system", "command_failed", "", "", c.name + " to " + c.device_id + ": " + c.error,
          Json{{"command_id", c.id}, {"device_id", c.device_id}});
    }
    Json j = model::ToJson(c);
    Feed(b, "command", c.compound_id, j);
    Webhooks(b, "command.failed", c.compound_id, j);
    b.outcomes.push_back({c.id, false, c.error});
    b.w.commands.push_back(std::move(c));
  }
  Applied applied;
  LINLI_RETURN_IF_ERROR(Commit(b, nullptr, {}, &applied));
  return applied;
}

}  // namespace linli::incidents
