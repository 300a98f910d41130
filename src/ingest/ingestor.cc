#include "ingest/ingestor.h"

#include <algorithm>
#include <unordered_map>

#include "common/log.h"
#include "ingest/topic.h"

namespace linli::ingest {
namespace {

metrics::Counter& MessagesCounter(std::string_view channel) {
  return metrics::Default().GetCounter("linli_ingest_messages_total", "MQTT messages received by channel",
                                       {{"channel", std::string(channel)}});
}

metrics::Counter& DeadLetterCounter(const std::string& reason) {
  return metrics::Default().GetCounter("linli_ingest_dead_letters_total",
                                       "Messages kept as dead letters, by reason", {{"reason", reason}});
}

Json EventJson(const model::Event& e) {
  return Json{{"id", e.id},       {"compound_id", e.compound_id}, {"device_id", e.device_id},
              {"type", e.type},   {"ts_ms", e.ts_ms},             {"received_ms", e.received_ms},
              {"data", e.data}};
}

Json StatusJson(const model::StatusChange& c) {
  return Json{{"device_id", c.device_id},
              {"compound_id", c.compound_id},
              {"status", std::string(model::PresenceName(c.status))},
              {"ts_ms", c.ts_ms},
              {"reason", c.reason}};
}

const std::vector<double> kLatencyBuckets = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02,
                                             0.03,   0.05,  0.075, 0.1,   0.2,   0.5,    1,    2,     5, 10};

// Bursts with more telemetry points than this commit their events first (see Commit()).
constexpr size_t kEventsFirstTelemetry = 64;

}  // namespace

Ingestor::Ingestor(store::Store* store, DeviceDirectory* directory, Clock* clock, IngestOptions options)
    : store_(store), directory_(directory), clock_(clock), options_(options) {
  auto& m = metrics::Default();
  for (Channel c : {Channel::kTelemetry, Channel::kEvent, Channel::kStatus, Channel::kAck, Channel::kCommand}) {
    messages_by_channel_[static_cast<size_t>(c)] = &MessagesCounter(ChannelName(c));
  }
  messages_invalid_ = &MessagesCounter("invalid");
  telemetry_points_ = &m.GetCounter("linli_ingest_telemetry_points_total", "Telemetry points stored");
  events_ = &m.GetCounter("linli_ingest_events_total", "New events stored");
  events_duplicate_ =
      &m.GetCounter("linli_ingest_events_duplicate_total", "Redelivered events ignored by id");
  commits_ = &m.GetCounter("linli_ingest_commits_total", "Ingest transactions committed");
  commit_failures_ = &m.GetCounter("linli_ingest_commit_failures_total", "Ingest transactions that failed");
  status_changes_ = &m.GetCounter("linli_presence_changes_total", "Device presence transitions");
  store_latency_ = &m.GetHistogram("linli_ingest_store_latency_seconds",
                                   "From the message's device timestamp to its durable commit", kLatencyBuckets);
  commit_seconds_ = &m.GetHistogram("linli_ingest_commit_seconds", "Duration of one ingest transaction",
                                    kLatencyBuckets);
  devices_total_ = &m.GetGauge("linli_devices_registered", "Registered devices");
  devices_online_ = &m.GetGauge("linli_devices_online", "Devices currently online");
}

void Ingestor::DeadLetter(const mqtt::Message& m, std::string reason, std::string detail) {
  DeadLetterCounter(reason).Inc();
  model::DeadLetter d;
  d.received_ms = clock_->NowMs();
  d.source = "mqtt";
  d.topic = m.topic.substr(0, 512);
  d.reason = std::move(reason);
  d.detail = std::move(detail);
  d.payload_size = static_cast<int64_t>(m.payload.size());
  d.payload = m.payload.substr(0, 64 * 1024);
  batch_.dead_letters.push_back(std::move(d));
}

void Ingestor::OnMessage(const mqtt::Message& m) {
  const int64_t now = clock_->NowMs();
  if (!batch_.events.empty()) ++since_first_event_;
  auto topic = ParseTopic(m.topic);
  if (!topic) {
    messages_invalid_->Inc();
    DeadLetter(m, "malformed_topic", topic.error().message());
    return;
  }
  messages_by_channel_[static_cast<size_t>(topic->channel)]->Inc();
  auto compound = directory_->CompoundOf(topic->device_id);
  if (!compound) {
    DeadLetter(m, "unknown_device", "device '" + topic->device_id + "' is not registered");
    return;
  }
  if (*compound != topic->compound_id) {
    DeadLetter(m, "compound_mismatch",
               "device '" + topic->device_id + "' belongs to compound '" + *compound + "'");
    return;
  }
  if (m.payload.size() > options_.limits.max_payload_bytes) {
    DeadLetter(m, "oversized", std::to_string(m.payload.size()) + " bytes exceeds the limit of " +
                                   std::to_string(options_.limits.max_payload_bytes));
    return;
  }
  switch (topic->channel) {
    case Channel::kTelemetry: {
      auto points = DecodeTelemetry(m.payload, topic->device_id, now, options_.limits);
      if (!points) {
        DeadLetter(m, "bad_payload", points.error().ToString());
        return;
      }
      const int64_t ts = points->front().ts_ms;
      for (auto& p : *points) batch_.telemetry.push_back(std::move(p));
      observations_.push_back({topic->device_id, std::min(ts, now), std::nullopt, "telemetry"});
      message_ts_.push_back(ts);
      return;
    }
    case Channel::kEvent: {
      auto ev = DecodeEvent(m.payload, topic->compound_id, topic->device_id, now, options_.limits);
      if (!ev) {
        DeadLetter(m, "bad_payload", ev.error().ToString());
        return;
      }
      observations_.push_back({topic->device_id, std::min(ev->ts_ms, now), std::nullopt, "event"});
      message_ts_.push_back(ev->ts_ms);
      batch_.events.push_back(std::move(*ev));
      return;
    }
    case Channel::kStatus: {
      auto st = DecodeStatus(m.payload);
      if (!st) {
        DeadLetter(m, "bad_payload", st.error().ToString());
        return;
      }
      // Retained status replayed on (re)subscription carries no time; the platform's receive
      // time is the best it has.
      observations_.push_back({topic->device_id, now, *st, "status_topic"});
      urgent_status_ = true;
      return;
    }
    case Channel::kAck: {
      auto j = ParseJson(m.payload, 8);
      if (!j || !j->is_object() || !j->contains("command_id")) {
        DeadLetter(m, "bad_payload", "ack must be an object with command_id");
        return;
      }
      observations_.push_back({topic->device_id, now, std::nullopt, "ack"});
      acks_.emplace_back(topic->device_id, std::move(*j));
      return;
    }
    case Channel::kCommand:
      DeadLetter(m, "unexpected_channel", "devices do not publish on down/command");
      return;
  }
}

Result<store::IngestResult> Ingestor::WriteWithListener(const store::IngestBatch& batch,
                                                        std::vector<std::pair<std::string, Json>> acks,
                                                        const std::vector<model::StatusChange>& changes,
                                                        Result<void>* effects) {
  if (listener_ == nullptr) return store_->WriteBatch(batch);
  listener_->Begin();
  auto follow = [&](const store::IngestResult& written) -> const store::IncidentWrite* {
    CommittedBatch cb;
    std::unordered_map<std::string_view, const model::Event*> by_id;
    for (const auto& e : batch.events) by_id.emplace(e.id, &e);
    for (size_t i = 0; i < written.new_event_ids.size() && i < written.new_event_seqs.size(); ++i) {
      auto it = by_id.find(written.new_event_ids[i]);
      if (it != by_id.end()) cb.events.push_back({written.new_event_seqs[i], *it->second});
    }
    cb.telemetry = &batch.telemetry;
    for (size_t i = 0; i < changes.size() && i < written.status_change_ids.size(); ++i)
      cb.status.emplace_back(written.status_change_ids[i], changes[i]);
    cb.acks = std::move(acks);
    return listener_->Evaluate(cb);
  };
  return store_->WriteBatch(batch, follow, effects);
}

Result<void> Ingestor::Commit() {
  std::lock_guard lock(presence_mu_);
  std::vector<model::StatusChange> changes = directory_->Plan(observations_);
  batch_.status_changes = changes;
  batch_.last_seen = directory_->TakeLastSeenToPersist();
  auto reset = [this] {
    batch_ = {};
    since_first_event_ = 0;
    urgent_status_ = false;
    observations_.clear();
    message_ts_.clear();
    acks_.clear();
  };
  const bool stores = !batch_.empty();
  if (!stores && (listener_ == nullptr || acks_.empty())) {
    reset();
    return {};
  }
  // Events first: when a burst holds events and much telemetry, the events (and presence
  // changes) are committed with their rules' effects before the telemetry is written, so that
  // a gas leak does not wait behind hundreds of meter readings. The broker is acknowledged only
  // after both commits; a failure of the second makes the broker redeliver the burst, which the
  // idempotent keys make harmless.
  std::vector<model::TelemetryPoint> deferred;
  if (!batch_.events.empty() && batch_.telemetry.size() > kEventsFirstTelemetry) deferred.swap(batch_.telemetry);
  const auto t0 = clock_->Monotonic();
  // One transaction: the burst, and what the rules engine makes of it (commands, alarms, the
  // acknowledgements of earlier commands).
  Result<void> effects;
  auto written = WriteWithListener(batch_, std::move(acks_), changes, &effects);
  if (!written) {
    if (listener_ != nullptr) listener_->End(false, {});
    commit_failures_->Inc();
    log::Warn("ingest commit failed; the broker will redeliver", {{"error", written.error().ToString()}});
    // Keep nothing: the transport drops the connection and the broker redelivers the burst.
    // last_seen entries taken above are re-queued by the next Apply of the redelivered traffic.
    reset();
    return std::unexpected(written.error());
  }
  const double commit_s = std::chrono::duration<double>(clock_->Monotonic() - t0).count();
  commit_seconds_->Observe(commit_s);
  commits_->Inc();
  if (stores) {
    telemetry_points_->Inc(written->telemetry_written);
    events_->Inc(written->events_written);
    events_duplicate_->Inc(written->events_duplicate);
    directory_->Apply(observations_, changes);
    AfterStatusChanges(changes);
  }
  if (feed_ != nullptr && !written->new_event_ids.empty()) {
    std::unordered_map<std::string_view, const model::Event*> by_id;
    for (const auto& e : batch_.events) by_id.emplace(e.id, &e);
    for (const auto& id : written->new_event_ids) {
      auto it = by_id.find(id);
      if (it == by_id.end()) continue;
      const model::Event& e = *it->second;
      feed_->Publish({"event", e.compound_id, e.ts_ms, EventJson(e)});
    }
  }
  if (listener_ != nullptr) listener_->End(true, effects);
  if (!deferred.empty()) {
    store::IngestBatch telemetry;
    telemetry.telemetry = std::move(deferred);
    Result<void> telemetry_effects;
    auto second = WriteWithListener(telemetry, {}, {}, &telemetry_effects);
    if (listener_ != nullptr) listener_->End(second.has_value(), telemetry_effects);
    if (!second) {
      commit_failures_->Inc();
      log::Warn("ingest commit failed; the broker will redeliver", {{"error", second.error().ToString()}});
      reset();
      return std::unexpected(second.error());
    }
    commits_->Inc();
    telemetry_points_->Inc(second->telemetry_written);
  }
  const int64_t done_ms = clock_->NowMs();
  for (int64_t ts : message_ts_) store_latency_->Observe(std::max<int64_t>(0, done_ms - ts) / 1000.0);
  reset();
  return {};
}

void Ingestor::AfterStatusChanges(const std::vector<model::StatusChange>& changes) {
  status_changes_->Inc(static_cast<int64_t>(changes.size()));
  for (const auto& c : changes) {
    if (c.status == model::Presence::kOffline) {
      model::DeviceFault f;
      f.device_id = c.device_id;
      f.compound_id = c.compound_id;
      f.kind = "offline";
      f.opened_ms = c.ts_ms;
      f.detail = c.reason;
      auto opened = store_->OpenFault(f);
      if (!opened) {
        log::Warn("could not open device fault", {{"device", c.device_id}, {"error", opened.error().ToString()}});
      } else if (feed_ != nullptr) {
        feed_->Publish({"fault", c.compound_id, c.ts_ms,
                        Json{{"id", opened->id}, {"device_id", c.device_id}, {"kind", "offline"},
                             {"state", "open"}, {"opened_ms", opened->opened_ms}, {"detail", c.reason}}});
      }
    } else if (c.status == model::Presence::kOnline) {
      auto closed = store_->CloseFault(c.device_id, "offline", c.ts_ms);
      if (!closed) {
        log::Warn("could not close device fault", {{"device", c.device_id}, {"error", closed.error().ToString()}});
      } else if (*closed && feed_ != nullptr) {
        feed_->Publish({"fault", c.compound_id, c.ts_ms,
                        Json{{"device_id", c.device_id}, {"kind", "offline"}, {"state", "closed"},
                             {"closed_ms", c.ts_ms}}});
      }
    }
    if (feed_ != nullptr) feed_->Publish({"status", c.compound_id, c.ts_ms, StatusJson(c)});
  }
  auto totals = directory_->TotalCounts();
  devices_total_->Set(static_cast<double>(totals.total));
  devices_online_->Set(static_cast<double>(totals.online));
}

void Ingestor::OnConnectionChange(bool connected) {
  log::Info(connected ? "ingest connected to broker" : "ingest disconnected from broker");
}

Result<void> Ingestor::Tick() {
  std::lock_guard lock(presence_mu_);
  auto changes = directory_->PlanTimeouts(clock_->NowMs());
  store::IngestBatch batch;
  batch.status_changes = changes;
  if (changes.empty()) {
    auto totals = directory_->TotalCounts();
    devices_total_->Set(static_cast<double>(totals.total));
    devices_online_->Set(static_cast<double>(totals.online));
    return {};
  }
  Result<void> effects;
  auto written = WriteWithListener(batch, {}, changes, &effects);
  if (!written) {
    if (listener_ != nullptr) listener_->End(false, {});
    return std::unexpected(written.error());
  }
  directory_->Apply({}, changes);
  for (const auto& c : changes) {
    log::Info("device offline", {{"device", c.device_id}, {"compound", c.compound_id}, {"reason", c.reason}});
  }
  AfterStatusChanges(changes);
  if (listener_ != nullptr) listener_->End(true, effects);
  return {};
}

Result<void> Ingestor::ReconcileFaults() {
  std::lock_guard lock(presence_mu_);
  store::FaultQuery q;
  q.open_only = true;
  q.limit = 1000000;
  LINLI_ASSIGN_OR_RETURN(auto open, store_->ListFaults(q));
  std::unordered_map<std::string, bool> has_open;
  for (const auto& f : open) {
    if (f.kind == "offline") has_open[f.device_id] = true;
  }
  int opened = 0, closed = 0;
  for (const auto& [id, info] : directory_->Snapshot()) {
    const bool open_fault = has_open.count(id) > 0;
    if (info.status == model::Presence::kOffline && !open_fault) {
      model::DeviceFault f;
      f.device_id = id;
      f.compound_id = info.compound_id;
      f.kind = "offline";
      f.opened_ms = info.status_ms;
      f.detail = "reconciled at start-up";
      LINLI_RETURN_IF_ERROR(store_->OpenFault(f));
      ++opened;
    } else if (info.status == model::Presence::kOnline && open_fault) {
      LINLI_RETURN_IF_ERROR(store_->CloseFault(id, "offline", info.status_ms));
      ++closed;
    }
  }
  if (opened + closed > 0) {
    log::Info("reconciled device faults", {{"opened", std::to_string(opened)}, {"closed", std::to_string(closed)}});
  }
  return {};
}

}  // namespace linli::ingest
