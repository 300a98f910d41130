// SqliteStore: event replay, media metadata and incident handling (alarms, work orders,
// commands, incident log, notifications, rule state). See store/store.h for the contract and
// migrations v2 for the tables.
#include <algorithm>
#include <cmath>
#include <map>

#include "common/log.h"
#include "store/sqlite/sql_util.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"

namespace linli::store::sqlite {
namespace {

constexpr size_t kMaxDocBytes = 1 << 20;  // one alarm/work order/command document
constexpr size_t kMaxCommentBytes = 4000;

model::Presence ParsePresenceName(std::string_view s) {
  if (s == "online") return model::Presence::kOnline;
  if (s == "offline") return model::Presence::kOffline;
  return model::Presence::kUnknown;
}

template <typename T>
Result<T> DecodeDoc(std::string_view text, std::string_view table, Result<T> (*from)(const Json&)) {
  auto parsed = ParseJson(text, 64);
  if (!parsed) {
    return Fail(ErrorCode::kInternal,
                "store: unreadable document in " + std::string(table) + ": " + parsed.error().message());
  }
  auto v = from(*parsed);
  if (!v) {
    return Fail(ErrorCode::kInternal,
                "store: bad document in " + std::string(table) + ": " + v.error().ToString());
  }
  return v;
}

Result<model::Alarm> AlarmDoc(const Json& j) { return model::AlarmFromJson(j); }
Result<model::WorkOrder> WorkOrderDoc(const Json& j) { return model::WorkOrderFromJson(j); }
Result<model::Command> CommandDoc(const Json& j) { return model::CommandFromJson(j); }

Result<std::string> DocText(std::string text, std::string_view what, const std::string& id) {
  if (text.size() > kMaxDocBytes) {
    return InvalidArgument(std::string(what), "document of '" + id + "' exceeds " +
                                                  std::to_string(kMaxDocBytes) + " bytes");
  }
  return text;
}

Result<std::string> DocText(const Json& j, std::string_view what, const std::string& id) {
  return DocText(DumpJson(j), what, id);
}

void AddStates(Where& where, const std::vector<std::string>& names) {
  if (names.empty()) return;
  where.Add("state IN (SELECT value FROM json_each(?))", JsonArray(names));
}

// Runs a "SELECT doc FROM table ..." statement and decodes every row.
template <typename T>
Result<std::vector<T>> ReadDocs(Stmt& s, std::string_view table, Result<T> (*from)(const Json&)) {
  std::vector<T> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    auto v = DecodeDoc<T>(s.TextView(0), table, from);
    if (!v) {
      // One corrupted row must not hide the rest: log and skip it.
      log::Warn("store: skipping unreadable row", {{"table", std::string(table)}, {"error", v.error().message()}});
      continue;
    }
    out.push_back(std::move(*v));
  }
  return out;
}

Result<int64_t> CountRows(Connection& db, const std::string& table, const Where& where) {
  LINLI_ASSIGN_OR_RETURN(Stmt s, db.Prepare("SELECT count(*) FROM " + table + where.sql()));
  where.Bind(s);
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

model::MediaObject DecodeMedia(const Stmt& s) {
  model::MediaObject m;
  m.id = s.Text(0);
  m.compound_id = s.Text(1);
  m.device_id = s.Text(2);
  m.event_id = s.Text(3);
  m.content_type = s.Text(4);
  m.size = s.Int(5);
  m.sha256 = s.Text(6);
  m.created_ms = s.Int(7);
  m.uploaded_by = s.Text(8);
  return m;
}
constexpr const char* kMediaColumns =
    "id, compound_id, device_id, event_id, content_type, size, sha256, created_ms, uploaded_by";

constexpr const char* kNotificationColumns =
    "id, compound_id, channel, target, url, topic, payload, state, attempts, created_ms, "
    "next_attempt_ms, delivered_ms, last_error";

model::Notification DecodeNotification(const Stmt& s) {
  model::Notification n;
  n.id = s.Int(0);
  n.compound_id = s.Text(1);
  n.channel = s.Text(2);
  n.target = s.Text(3);
  n.url = s.Text(4);
  n.topic = s.Text(5);
  n.payload = ParseStoredJson(s.TextView(6), "notifications", n.id);
  std::string_view st = s.TextView(7);
  n.state = st == "delivered" ? model::NotificationState::kDelivered
            : st == "failed"  ? model::NotificationState::kFailed
                              : model::NotificationState::kPending;
  n.attempts = static_cast<int>(s.Int(8));
  n.created_ms = s.Int(9);
  n.next_attempt_ms = s.Int(10);
  n.delivered_ms = s.Int(11);
  n.last_error = s.Text(12);
  return n;
}

}  // namespace

// ---- replay ----

Result<std::vector<SequencedEvent>> SqliteStore::EventsAfter(int64_t after_seq, int limit) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT rowid, id, compound_id, device_id, type, ts_ms, received_ms, "
                                            "data FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"));
  s.BindInt(1, after_seq);
  s.BindInt(2, Clamp(limit, 1, 100000));
  std::vector<SequencedEvent> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    SequencedEvent se;
    se.seq = s.Int(0);
    se.event.id = s.Text(1);
    se.event.compound_id = s.Text(2);
    se.event.device_id = s.Text(3);
    se.event.type = s.Text(4);
    se.event.ts_ms = s.Int(5);
    se.event.received_ms = s.Int(6);
    se.event.data = ParseStoredJson(s.TextView(7), "events", se.seq);
    out.push_back(std::move(se));
  }
  return out;
}

Result<std::vector<std::pair<int64_t, model::StatusChange>>> SqliteStore::StatusChangesAfter(int64_t after_id,
                                                                                             int limit) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT id, device_id, compound_id, status, ts_ms, reason "
                                            "FROM status_history WHERE id > ?1 ORDER BY id LIMIT ?2"));
  s.BindInt(1, after_id);
  s.BindInt(2, Clamp(limit, 1, 100000));
  std::vector<std::pair<int64_t, model::StatusChange>> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::StatusChange c;
    c.device_id = s.Text(1);
    c.compound_id = s.Text(2);
    c.status = ParsePresenceName(s.TextView(3));
    c.ts_ms = s.Int(4);
    c.reason = s.Text(5);
    out.emplace_back(s.Int(0), std::move(c));
  }
  return out;
}

// ---- media ----

Result<model::MediaObject> SqliteStore::PutMedia(const model::MediaObject& m) {
  if (!model::ValidateId(m.id)) return InvalidArgument("id", "must be 1-64 of [A-Za-z0-9_-]");
  if (m.compound_id.empty()) return InvalidArgument("compound_id", "is required");
  if (m.content_type.empty()) return InvalidArgument("content_type", "is required");
  if (m.sha256.size() != 64) return InvalidArgument("sha256", "must be 64 hex characters");
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  {
    LINLI_ASSIGN_OR_RETURN(Stmt q, writer_->Prepare(std::string("SELECT ") + kMediaColumns +
                                                    " FROM media WHERE id = ?1"));
    q.BindText(1, m.id);
    LINLI_ASSIGN_OR_RETURN(bool found, q.Step());
    if (found) {
      model::MediaObject existing = DecodeMedia(q);
      if (existing.sha256 != m.sha256) {
        return Fail(ErrorCode::kConflict, "media '" + m.id + "' exists with other content", "id");
      }
      return existing;
    }
  }
  LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO media (id, compound_id, device_id, event_id, "
                                                    "content_type, size, sha256, created_ms, uploaded_by) "
                                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  ins.BindText(1, m.id);
  ins.BindText(2, m.compound_id);
  ins.BindTextOrNull(3, m.device_id);
  ins.BindTextOrNull(4, TruncateUtf8(m.event_id, 128));
  ins.BindText(5, TruncateUtf8(m.content_type, 100));
  ins.BindInt(6, m.size);
  ins.BindText(7, m.sha256);
  ins.BindInt(8, m.created_ms);
  ins.BindText(9, TruncateUtf8(m.uploaded_by, 100));
  LINLI_RETURN_IF_ERROR(ins.Run());
  LINLI_RETURN_IF_ERROR(txn.Commit());
  return m;
}

Result<model::MediaObject> SqliteStore::GetMedia(const std::string& id) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt q, r->Prepare(std::string("SELECT ") + kMediaColumns + " FROM media WHERE id = ?1"));
  q.BindText(1, id);
  LINLI_ASSIGN_OR_RETURN(bool found, q.Step());
  if (!found) return Fail(ErrorCode::kNotFound, "no such media '" + std::string(TruncateUtf8(id, 64)) + "'");
  return DecodeMedia(q);
}

Result<std::vector<model::MediaObject>> SqliteStore::ListMedia(const MediaQuery& q) {
  std::vector<model::MediaObject> out;
  if (q.compound_ids && q.compound_ids->empty()) return out;
  Where where;
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.event_id.empty()) where.Add("event_id = ?", q.event_id);
  if (!q.device_id.empty()) where.Add("device_id = ?", q.device_id);
  const int p = where.next_param();
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare(std::string("SELECT ") + kMediaColumns + " FROM media" + where.sql() +
                                            " ORDER BY created_ms DESC, id LIMIT ?" + std::to_string(p)));
  where.Bind(s);
  s.BindInt(p, Clamp(q.limit, 1, 1000));
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(DecodeMedia(s));
  }
  return out;
}

// ---- incidents: writes ----

Result<IncidentWriteResult> SqliteStore::ApplyIncidentWrite(const IncidentWrite& w) {
  IncidentWriteResult result;
  if (w.empty()) return result;
  // Validate and serialise outside the lock.
  LINLI_ASSIGN_OR_RETURN(IncidentDocs docs, PrepareIncidentWrite(w));
  std::lock_guard<std::mutex> lock(write_mu_);
  LINLI_ASSIGN_OR_RETURN(WriteTransaction txn, WriteTransaction::Begin(*writer_));
  LINLI_RETURN_IF_ERROR(WriteIncidentLocked(w, docs, &result));
  LINLI_RETURN_IF_ERROR(txn.Commit());
  return result;
}

Result<SqliteStore::IncidentDocs> SqliteStore::PrepareIncidentWrite(const IncidentWrite& w) {
  IncidentDocs docs;
  std::vector<std::string>& alarm_docs = docs.alarms;
  std::vector<std::string>& order_docs = docs.work_orders;
  std::vector<std::string>& command_docs = docs.commands;
  for (size_t i = 0; i < w.alarms.size(); ++i) {
    const auto& a = w.alarms[i];
    const std::string at = "alarms[" + std::to_string(i) + "]";
    if (!model::ValidateId(a.id)) return InvalidArgument(at + ".id", "is not a valid id");
    if (a.compound_id.empty()) return InvalidArgument(at + ".compound_id", "is required");
    if (a.type.empty()) return InvalidArgument(at + ".type", "is required");
    LINLI_ASSIGN_OR_RETURN(std::string doc, DocText(model::ToJson(a), at, a.id));
    alarm_docs.push_back(std::move(doc));
  }
  for (size_t i = 0; i < w.work_orders.size(); ++i) {
    const auto& o = w.work_orders[i];
    const std::string at = "work_orders[" + std::to_string(i) + "]";
    if (!model::ValidateId(o.id)) return InvalidArgument(at + ".id", "is not a valid id");
    if (o.compound_id.empty()) return InvalidArgument(at + ".compound_id", "is required");
    if (o.kind.empty()) return InvalidArgument(at + ".kind", "is required");
    LINLI_ASSIGN_OR_RETURN(std::string doc, DocText(model::ToJson(o), at, o.id));
    order_docs.push_back(std::move(doc));
  }
  for (size_t i = 0; i < w.commands.size(); ++i) {
    const auto& c = w.commands[i];
    const std::string at = "commands[" + std::to_string(i) + "]";
    if (!model::ValidateId(c.id)) return InvalidArgument(at + ".id", "is not a valid id");
    if (c.device_id.empty()) return InvalidArgument(at + ".device_id", "is required");
    if (c.name.empty()) return InvalidArgument(at + ".name", "is required");
    LINLI_ASSIGN_OR_RETURN(std::string doc, DocText(model::CommandText(c), at, c.id));
    command_docs.push_back(std::move(doc));
  }
  for (size_t i = 0; i < w.rule_state.size(); ++i) {
    if (w.rule_state[i].rule_id.empty())
      return InvalidArgument("rule_state[" + std::to_string(i) + "].rule_id", "is required");
  }
  return docs;
}

Result<void> SqliteStore::WriteIncidentLocked(const IncidentWrite& w, const IncidentDocs& docs,
                                              IncidentWriteResult* result_out) {
  IncidentWriteResult& result = *result_out;
  const std::vector<std::string>& alarm_docs = docs.alarms;
  const std::vector<std::string>& order_docs = docs.work_orders;
  const std::vector<std::string>& command_docs = docs.commands;
  if (!w.alarms.empty()) {
    LINLI_ASSIGN_OR_RETURN(
        Stmt up, writer_->Prepare("INSERT INTO alarms (id, compound_id, type, level, state, is_open, rule_id, "
                                  "merge_key, device_id, raised_ms, updated_ms, acknowledged_ms, closed_ms, "
                                  "ack_due_ms, escalation_step, next_escalation_ms, doc) VALUES (?1, ?2, ?3, ?4, "
                                  "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
                                  "ON CONFLICT (id) DO UPDATE SET level = excluded.level, state = excluded.state, "
                                  "is_open = excluded.is_open, merge_key = excluded.merge_key, "
                                  "updated_ms = excluded.updated_ms, acknowledged_ms = excluded.acknowledged_ms, "
                                  "closed_ms = excluded.closed_ms, ack_due_ms = excluded.ack_due_ms, "
                                  "escalation_step = excluded.escalation_step, "
                                  "next_escalation_ms = excluded.next_escalation_ms, doc = excluded.doc"));
    for (size_t i = 0; i < w.alarms.size(); ++i) {
      const auto& a = w.alarms[i];
      const bool open = model::IsOpen(a.state);
      up.BindText(1, a.id);
      up.BindText(2, a.compound_id);
      up.BindText(3, a.type);
      up.BindText(4, model::AlarmLevelName(a.level));
      up.BindText(5, model::AlarmStateName(a.state));
      up.BindInt(6, open ? 1 : 0);
      up.BindTextOrNull(7, a.rule_id);
      up.BindTextOrNull(8, a.merge_key);
      up.BindTextOrNull(9, a.device_id);
      up.BindInt(10, a.raised_ms);
      up.BindInt(11, a.updated_ms);
      up.BindInt(12, a.acknowledged_ms);
      up.BindInt(13, a.closed_ms);
      up.BindInt(14, a.ack_due_ms);
      up.BindInt(15, a.escalation_step);
      up.BindInt(16, open ? a.next_escalation_ms : 0);
      up.BindText(17, alarm_docs[i]);
      auto r = up.Run();
      if (!r) {
        if (r.error().code() == ErrorCode::kConflict) {
          return Fail(ErrorCode::kConflict, "another open alarm has merge key '" + a.merge_key + "'",
                      "alarms[" + std::to_string(i) + "].merge_key");
        }
        return std::unexpected(r.error());
      }
      up.Reset();
    }
  }
  if (!w.work_orders.empty()) {
    LINLI_ASSIGN_OR_RETURN(
        Stmt up, writer_->Prepare("INSERT INTO work_orders (id, compound_id, kind, state, is_open, assignee, "
                                  "assignee_role, alarm_id, device_id, room_id, actor, clear_key, created_ms, "
                                  "updated_ms, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                                  "?13, ?14, ?15) ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                                  "is_open = excluded.is_open, assignee = excluded.assignee, "
                                  "assignee_role = excluded.assignee_role, updated_ms = excluded.updated_ms, "
                                  "clear_key = excluded.clear_key, doc = excluded.doc"));
    for (size_t i = 0; i < w.work_orders.size(); ++i) {
      const auto& o = w.work_orders[i];
      up.BindText(1, o.id);
      up.BindText(2, o.compound_id);
      up.BindText(3, o.kind);
      up.BindText(4, model::WorkOrderStateName(o.state));
      up.BindInt(5, model::IsOpen(o.state) ? 1 : 0);
      up.BindTextOrNull(6, o.assignee);
      up.BindTextOrNull(7, o.assignee_role);
      up.BindTextOrNull(8, o.alarm_id);
      up.BindTextOrNull(9, o.device_id);
      up.BindTextOrNull(10, o.room_id);
      up.BindTextOrNull(11, o.actor);
      up.BindTextOrNull(12, o.clear_key);
      up.BindInt(13, o.created_ms);
      up.BindInt(14, o.updated_ms);
      up.BindText(15, order_docs[i]);
      LINLI_RETURN_IF_ERROR(up.Run());
      up.Reset();
    }
  }
  if (!w.commands.empty()) {
    LINLI_ASSIGN_OR_RETURN(
        Stmt up, writer_->Prepare("INSERT INTO commands (id, compound_id, device_id, name, state, alarm_id, "
                                  "cause_id, created_ms, deadline_ms, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                  "?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                                  "deadline_ms = excluded.deadline_ms, doc = excluded.doc"));
    for (size_t i = 0; i < w.commands.size(); ++i) {
      const auto& c = w.commands[i];
      std::string cause_id;
      if (auto it = c.cause.find("id"); it != c.cause.end() && it->is_string()) cause_id = it->get<std::string>();
      up.BindText(1, c.id);
      up.BindText(2, c.compound_id);
      up.BindText(3, c.device_id);
      up.BindText(4, c.name);
      up.BindText(5, model::CommandStateName(c.state));
      up.BindTextOrNull(6, c.alarm_id);
      up.BindTextCopy(7, TruncateUtf8(cause_id, 128));
      if (cause_id.empty()) up.BindNull(7);
      up.BindInt(8, c.created_ms);
      up.BindInt(9, c.deadline_ms);
      up.BindText(10, command_docs[i]);
      LINLI_RETURN_IF_ERROR(up.Run());
      up.Reset();
    }
  }
  if (!w.log.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO incident_log (object_kind, object_id, "
                                                      "compound_id, ts_ms, actor, action, from_state, to_state, "
                                                      "comment, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    for (const auto& e : w.log) {
      std::string data = DumpJson(e.data);
      ins.BindText(1, e.object_kind);
      ins.BindText(2, e.object_id);
      ins.BindTextOrNull(3, e.compound_id);
      ins.BindInt(4, e.ts_ms);
      ins.BindText(5, TruncateUtf8(e.actor, 200));
      ins.BindText(6, TruncateUtf8(e.action, 64));
      ins.BindText(7, e.from_state);
      ins.BindText(8, e.to_state);
      ins.BindText(9, TruncateUtf8(e.comment, kMaxCommentBytes));
      ins.BindText(10, data);
      LINLI_RETURN_IF_ERROR(ins.Run());
      ins.Reset();
    }
  }
  if (!w.notifications.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO notifications (compound_id, channel, target, "
                                                      "url, topic, payload, state, attempts, created_ms, "
                                                      "next_attempt_ms, delivered_ms, last_error) VALUES (?1, ?2, "
                                                      "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    LINLI_ASSIGN_OR_RETURN(Stmt up, writer_->Prepare("UPDATE notifications SET state = ?2, attempts = ?3, "
                                                     "next_attempt_ms = ?4, delivered_ms = ?5, last_error = ?6 "
                                                     "WHERE id = ?1"));
    for (const auto& n : w.notifications) {
      const std::string_view state = model::NotificationStateName(n.state);
      if (n.id == 0) {
        std::string payload = DumpJson(n.payload);
        ins.BindTextOrNull(1, n.compound_id);
        ins.BindText(2, n.channel);
        ins.BindText(3, n.target);
        ins.BindText(4, TruncateUtf8(n.url, 1000));
        ins.BindText(5, n.topic);
        ins.BindText(6, payload);
        ins.BindText(7, state);
        ins.BindInt(8, n.attempts);
        ins.BindInt(9, n.created_ms);
        ins.BindInt(10, n.next_attempt_ms);
        ins.BindInt(11, n.delivered_ms);
        ins.BindText(12, TruncateUtf8(n.last_error, 1000));
        LINLI_RETURN_IF_ERROR(ins.Run());
        result.notification_ids.push_back(writer_->LastInsertRowid());
        ins.Reset();
      } else {
        up.BindInt(1, n.id);
        up.BindText(2, state);
        up.BindInt(3, n.attempts);
        up.BindInt(4, n.next_attempt_ms);
        up.BindInt(5, n.delivered_ms);
        up.BindText(6, TruncateUtf8(n.last_error, 1000));
        LINLI_RETURN_IF_ERROR(up.Run());
        result.notification_ids.push_back(n.id);
        up.Reset();
      }
    }
  }
  if (!w.audit.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt ins, writer_->Prepare("INSERT INTO audit_log (ts_ms, actor, action, object_kind, "
                                                      "object_id, compound_id, remote, detail) VALUES (?1, ?2, ?3, "
                                                      "?4, ?5, ?6, ?7, ?8)"));
    for (const auto& e : w.audit) {
      std::string detail = DumpJson(e.detail);
      ins.BindInt(1, e.ts_ms);
      ins.BindText(2, TruncateUtf8(e.actor, 200));
      ins.BindText(3, TruncateUtf8(e.action, 64));
      ins.BindText(4, e.object_kind);
      ins.BindText(5, TruncateUtf8(e.object_id, 200));
      ins.BindTextOrNull(6, e.compound_id);
      ins.BindText(7, TruncateUtf8(e.remote, 100));
      ins.BindText(8, detail);
      LINLI_RETURN_IF_ERROR(ins.Run());
      ins.Reset();
    }
  }
  if (!w.rule_state.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt put, writer_->Prepare("INSERT INTO rule_state (rule_id, key, state, updated_ms) "
                                                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (rule_id, key) DO UPDATE "
                                                      "SET state = excluded.state, updated_ms = excluded.updated_ms"));
    LINLI_ASSIGN_OR_RETURN(Stmt del, writer_->Prepare("DELETE FROM rule_state WHERE rule_id = ?1 AND key = ?2"));
    for (const auto& e : w.rule_state) {
      if (e.state.is_null() || (e.state.is_object() && e.state.empty())) {
        del.BindText(1, e.rule_id);
        del.BindText(2, e.key);
        LINLI_RETURN_IF_ERROR(del.Run());
        del.Reset();
        continue;
      }
      std::string state = DumpJson(e.state);
      put.BindText(1, e.rule_id);
      put.BindText(2, e.key);
      put.BindText(3, state);
      put.BindInt(4, e.updated_ms);
      LINLI_RETURN_IF_ERROR(put.Run());
      put.Reset();
    }
  }
  if (!w.meta.empty()) {
    LINLI_ASSIGN_OR_RETURN(Stmt s, writer_->Prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
    for (const auto& [k, v] : w.meta) {
      if (k.empty() || k == kSchemaVersionKey) return InvalidArgument("meta", "invalid key '" + k + "'");
      s.BindText(1, k);
      s.BindText(2, v);
      LINLI_RETURN_IF_ERROR(s.Run());
      s.Reset();
    }
  }
  return {};
}

// ---- incidents: reads ----

Result<model::Alarm> SqliteStore::GetAlarm(const std::string& id) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM alarms WHERE id = ?1"));
  s.BindText(1, id);
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such alarm '" + std::string(TruncateUtf8(id, 64)) + "'");
  return DecodeDoc<model::Alarm>(s.TextView(0), "alarms", AlarmDoc);
}

Result<Page<model::Alarm>> SqliteStore::ListAlarms(const AlarmQuery& q) {
  Page<model::Alarm> page;
  if (q.compound_ids && q.compound_ids->empty()) return page;
  Where where;
  where.Add("raised_ms >= ?", q.from_ms);
  where.Add("raised_ms < ?", q.to_ms);
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.compound_id.empty()) where.Add("compound_id = ?", q.compound_id);
  std::vector<std::string> states;
  for (auto st : q.states) states.emplace_back(model::AlarmStateName(st));
  AddStates(where, states);
  if (q.open_only) where.Add("is_open = 1");
  AddTypeFilter(where, "type", q.type);
  if (!q.rule_id.empty()) where.Add("rule_id = ?", q.rule_id);
  if (!q.device_id.empty()) where.Add("device_id = ?", q.device_id);
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(page.total, CountRows(*r, "alarms", where));
  const int p = where.next_param();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM alarms" + where.sql() +
                                            " ORDER BY raised_ms DESC, id DESC LIMIT ?" + std::to_string(p) +
                                            " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(s);
  s.BindInt(p, Clamp(q.limit, 1, 1000));
  s.BindInt(p + 1, std::max(q.offset, 0));
  LINLI_ASSIGN_OR_RETURN(page.items, ReadDocs<model::Alarm>(s, "alarms", AlarmDoc));
  return page;
}

Result<std::optional<model::Alarm>> SqliteStore::FindOpenAlarm(const std::string& merge_key) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM alarms WHERE merge_key = ?1 AND is_open = 1"));
  s.BindText(1, merge_key);
  LINLI_ASSIGN_OR_RETURN(auto v, ReadDocs<model::Alarm>(s, "alarms", AlarmDoc));
  if (v.empty()) return std::optional<model::Alarm>();
  return std::optional<model::Alarm>(std::move(v.front()));
}

Result<std::vector<model::Alarm>> SqliteStore::DueEscalations(int64_t now_ms, int limit) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM alarms WHERE is_open = 1 AND next_escalation_ms > 0 "
                                            "AND next_escalation_ms <= ?1 ORDER BY next_escalation_ms LIMIT ?2"));
  s.BindInt(1, now_ms);
  s.BindInt(2, Clamp(limit, 1, 10000));
  return ReadDocs<model::Alarm>(s, "alarms", AlarmDoc);
}

Result<std::vector<AlarmStatsRow>> SqliteStore::AlarmStatistics(const StatsQuery& q) {
  std::vector<AlarmStatsRow> out;
  if (q.compound_ids && q.compound_ids->empty()) return out;
  Where where;
  where.Add("raised_ms >= ?", q.from_ms);
  where.Add("raised_ms < ?", q.to_ms);
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.compound_id.empty()) where.Add("compound_id = ?", q.compound_id);
  AddTypeFilter(where, "type", q.type);
  const int p = where.next_param();
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(
      Stmt s,
      r->Prepare("SELECT compound_id, type, count(*), sum(is_open), sum(acknowledged_ms > 0), "
                 "sum(state IN ('closed', 'false_alarm')), sum(state = 'false_alarm'), sum(escalation_step > 0), "
                 "avg(iif(acknowledged_ms > 0, acknowledged_ms - raised_ms, NULL)), "
                 "max(iif(acknowledged_ms > 0, acknowledged_ms - raised_ms, NULL)), "
                 "avg(iif(closed_ms > 0, closed_ms - raised_ms, NULL)), "
                 "max(iif(closed_ms > 0, closed_ms - raised_ms, NULL)), "
                 "sum(ack_due_ms > 0 AND ((acknowledged_ms > 0 AND acknowledged_ms > ack_due_ms) OR "
                 "(acknowledged_ms = 0 AND ?" +
                 std::to_string(p) + " > ack_due_ms))) FROM alarms" + where.sql() +
                 " GROUP BY compound_id, type ORDER BY compound_id, type"));
  where.Bind(s);
  s.BindInt(p, q.now_ms);
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    AlarmStatsRow a;
    a.compound_id = s.Text(0);
    a.type = s.Text(1);
    a.raised = s.Int(2);
    a.open = s.Int(3);
    a.acknowledged = s.Int(4);
    a.closed = s.Int(5);
    a.false_alarms = s.Int(6);
    a.escalated = s.Int(7);
    a.mean_ack_s = s.IsNull(8) ? 0 : s.Double(8) / 1000.0;
    a.max_ack_s = s.IsNull(9) ? 0 : s.Double(9) / 1000.0;
    a.mean_close_s = s.IsNull(10) ? 0 : s.Double(10) / 1000.0;
    a.max_close_s = s.IsNull(11) ? 0 : s.Double(11) / 1000.0;
    a.ack_overdue = s.Int(12);
    out.push_back(std::move(a));
  }
  return out;
}

Result<model::WorkOrder> SqliteStore::GetWorkOrder(const std::string& id) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM work_orders WHERE id = ?1"));
  s.BindText(1, id);
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such work order '" + std::string(TruncateUtf8(id, 64)) + "'");
  return DecodeDoc<model::WorkOrder>(s.TextView(0), "work_orders", WorkOrderDoc);
}

Result<Page<model::WorkOrder>> SqliteStore::ListWorkOrders(const WorkOrderQuery& q) {
  Page<model::WorkOrder> page;
  if (q.compound_ids && q.compound_ids->empty()) return page;
  Where where;
  where.Add("created_ms >= ?", q.from_ms);
  where.Add("created_ms < ?", q.to_ms);
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.compound_id.empty()) where.Add("compound_id = ?", q.compound_id);
  std::vector<std::string> states;
  for (auto st : q.states) states.emplace_back(model::WorkOrderStateName(st));
  AddStates(where, states);
  if (q.open_only) where.Add("is_open = 1");
  if (!q.kind.empty()) where.Add("kind = ?", q.kind);
  if (!q.assignee.empty()) where.Add("assignee = ?", q.assignee);
  if (!q.assignee_role.empty()) where.Add("assignee_role = ?", q.assignee_role);
  if (!q.alarm_id.empty()) where.Add("alarm_id = ?", q.alarm_id);
  if (!q.device_id.empty()) where.Add("device_id = ?", q.device_id);
  if (!q.room_id.empty()) where.Add("room_id = ?", q.room_id);
  if (!q.actor.empty()) where.Add("actor = ?", q.actor);
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(page.total, CountRows(*r, "work_orders", where));
  const int p = where.next_param();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM work_orders" + where.sql() +
                                            " ORDER BY created_ms DESC, id DESC LIMIT ?" + std::to_string(p) +
                                            " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(s);
  s.BindInt(p, Clamp(q.limit, 1, 1000));
  s.BindInt(p + 1, std::max(q.offset, 0));
  LINLI_ASSIGN_OR_RETURN(page.items, ReadDocs<model::WorkOrder>(s, "work_orders", WorkOrderDoc));
  return page;
}

Result<std::vector<model::WorkOrder>> SqliteStore::OpenWorkOrdersByClearKey(const std::string& key) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM work_orders WHERE clear_key = ?1 AND is_open = 1 "
                                            "ORDER BY created_ms"));
  s.BindText(1, key);
  return ReadDocs<model::WorkOrder>(s, "work_orders", WorkOrderDoc);
}

Result<model::Command> SqliteStore::GetCommand(const std::string& id) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM commands WHERE id = ?1"));
  s.BindText(1, id);
  LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Fail(ErrorCode::kNotFound, "no such command '" + std::string(TruncateUtf8(id, 64)) + "'");
  return DecodeDoc<model::Command>(s.TextView(0), "commands", CommandDoc);
}

Result<Page<model::Command>> SqliteStore::ListCommands(const CommandQuery& q) {
  Page<model::Command> page;
  if (q.compound_ids && q.compound_ids->empty()) return page;
  Where where;
  where.Add("created_ms >= ?", q.from_ms);
  where.Add("created_ms < ?", q.to_ms);
  if (q.compound_ids) AddScope(where, "compound_id", *q.compound_ids);
  if (!q.device_id.empty()) where.Add("device_id = ?", q.device_id);
  if (!q.alarm_id.empty()) where.Add("alarm_id = ?", q.alarm_id);
  if (!q.cause_id.empty()) where.Add("cause_id = ?", q.cause_id);
  std::vector<std::string> states;
  for (auto st : q.states) states.emplace_back(model::CommandStateName(st));
  AddStates(where, states);
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(page.total, CountRows(*r, "commands", where));
  const int p = where.next_param();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM commands" + where.sql() +
                                            " ORDER BY created_ms DESC, id DESC LIMIT ?" + std::to_string(p) +
                                            " OFFSET ?" + std::to_string(p + 1)));
  where.Bind(s);
  s.BindInt(p, Clamp(q.limit, 1, 1000));
  s.BindInt(p + 1, std::max(q.offset, 0));
  LINLI_ASSIGN_OR_RETURN(page.items, ReadDocs<model::Command>(s, "commands", CommandDoc));
  return page;
}

Result<std::vector<model::Command>> SqliteStore::CommandsDue(int64_t now_ms, int limit) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT doc FROM commands WHERE state IN ('pending', 'sent') AND "
                                            "deadline_ms <= ?1 ORDER BY deadline_ms LIMIT ?2"));
  s.BindInt(1, now_ms);
  s.BindInt(2, Clamp(limit, 1, 10000));
  return ReadDocs<model::Command>(s, "commands", CommandDoc);
}

Result<std::vector<model::IncidentLogEntry>> SqliteStore::ListIncidentLog(const std::string& object_kind,
                                                                         const std::string& object_id, int limit) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT id, object_kind, object_id, compound_id, ts_ms, actor, action, "
                                            "from_state, to_state, comment, data FROM incident_log WHERE "
                                            "object_kind = ?1 AND object_id = ?2 ORDER BY id LIMIT ?3"));
  s.BindText(1, object_kind);
  s.BindText(2, object_id);
  s.BindInt(3, Clamp(limit, 1, 10000));
  std::vector<model::IncidentLogEntry> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    model::IncidentLogEntry e;
    e.id = s.Int(0);
    e.object_kind = s.Text(1);
    e.object_id = s.Text(2);
    e.compound_id = s.Text(3);
    e.ts_ms = s.Int(4);
    e.actor = s.Text(5);
    e.action = s.Text(6);
    e.from_state = s.Text(7);
    e.to_state = s.Text(8);
    e.comment = s.Text(9);
    e.data = ParseStoredJson(s.TextView(10), "incident_log", e.id);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<model::Notification>> SqliteStore::DueNotifications(int64_t now_ms, int limit) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare(std::string("SELECT ") + kNotificationColumns +
                                            " FROM notifications WHERE state = 'pending' AND next_attempt_ms <= ?1 "
                                            "ORDER BY next_attempt_ms, id LIMIT ?2"));
  s.BindInt(1, now_ms);
  s.BindInt(2, Clamp(limit, 1, 10000));
  std::vector<model::Notification> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(DecodeNotification(s));
  }
  return out;
}

Result<std::vector<model::Notification>> SqliteStore::ListNotifications(int64_t from_ms, int limit, int offset) {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare(std::string("SELECT ") + kNotificationColumns +
                                            " FROM notifications WHERE created_ms >= ?1 ORDER BY created_ms DESC, "
                                            "id DESC LIMIT ?2 OFFSET ?3"));
  s.BindInt(1, from_ms);
  s.BindInt(2, Clamp(limit, 1, 1000));
  s.BindInt(3, std::max(offset, 0));
  std::vector<model::Notification> out;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(DecodeNotification(s));
  }
  return out;
}

Result<std::vector<RuleStateEntry>> SqliteStore::LoadRuleState() {
  Reader r = AcquireReader();
  LINLI_ASSIGN_OR_RETURN(Stmt s, r->Prepare("SELECT rule_id, key, state, updated_ms FROM rule_state"));
  std::vector<RuleStateEntry> out;
  int64_t n = 0;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    RuleStateEntry e;
    e.rule_id = s.Text(0);
    e.key = s.Text(1);
    e.state = ParseStoredJson(s.TextView(2), "rule_state", ++n);
    e.updated_ms = s.Int(3);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace linli::store::sqlite
