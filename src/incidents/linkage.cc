#include "incidents/linkage.h"

#include <charconv>

#include "common/log.h"

namespace linli::incidents {
namespace {

constexpr const char* kEventSeqKey = "rules.event_seq";
constexpr const char* kStatusSeqKey = "rules.status_seq";
constexpr int kReplayBatch = 5000;

int64_t ParseSeq(const std::optional<std::string>& v) {
  if (!v) return 0;
  int64_t n = 0;
  std::from_chars(v->data(), v->data() + v->size(), n);
  return n;
}

const std::vector<double> kEvalBuckets = {0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001,
                                          0.002,   0.005,   0.01,    0.02,   0.05,   0.1};

}  // namespace

LinkageService::LinkageService(store::Store* store, RegistryCache* registry, Clock* clock, LinkageOptions options)
    : store_(store), registry_(registry), clock_(clock), options_(std::move(options)), library_(options_.rules_dir) {
  executor_ = std::make_unique<Executor>(store_, registry_, clock_, nullptr, nullptr);
  auto& m = metrics::Default();
  firings_total_ = &m.GetCounter("linli_rule_firings_total", "Rule firings");
  apply_failures_ = &m.GetCounter("linli_rule_apply_failures_total",
                                  "Firings whose effects could not be stored (re-evaluated later)");
  eval_seconds_ = &m.GetHistogram("linli_rule_evaluation_seconds",
                                  "Rule evaluation and execution per ingest commit", kEvalBuckets);
}

LinkageService::~LinkageService() = default;

void LinkageService::SetPublisher(CommandPublisher* publisher) {
  std::lock_guard lock(mu_);
  executor_->SetPublisher(publisher);
}

void LinkageService::SetFeed(model::FeedSink* feed) {
  std::lock_guard lock(mu_);
  executor_->SetFeed(feed);
}

Result<void> LinkageService::Start() {
  std::lock_guard lock(mu_);
  if (options_.install_builtin) LINLI_RETURN_IF_ERROR(library_.InstallBuiltinIfNew());
  LINLI_RETURN_IF_ERROR(library_.Load());
  return RebuildLocked();
}

void LinkageService::SetRulesLocked() {
  rules::Output dropped = engine_->SetRules(library_.Enabled());
  if (!dropped.state.empty()) ApplyLocked(std::move(dropped));
}

Result<void> LinkageService::RebuildLocked() {
  rules::EngineOptions eo;
  eo.utc_offset_minutes = options_.utc_offset_minutes;
  engine_ = std::make_unique<rules::Engine>(registry_, eo);
  (void)engine_->SetRules(library_.Enabled());
  LINLI_ASSIGN_OR_RETURN(auto entries, store_->LoadRuleState());
  std::vector<rules::StateChange> state;
  state.reserve(entries.size());
  for (auto& e : entries) state.push_back({std::move(e.rule_id), std::move(e.key), std::move(e.state)});
  engine_->LoadState(state);
  LINLI_ASSIGN_OR_RETURN(auto ev, store_->GetMeta(kEventSeqKey));
  LINLI_ASSIGN_OR_RETURN(auto st, store_->GetMeta(kStatusSeqKey));
  event_seq_ = saved_event_seq_ = ParseSeq(ev);
  status_seq_ = saved_status_seq_ = ParseSeq(st);
  // Replay what was stored but not (durably) evaluated.
  int64_t replayed_events = 0, replayed_status = 0;
  while (true) {
    LINLI_ASSIGN_OR_RETURN(auto events, store_->EventsAfter(event_seq_, kReplayBatch));
    if (events.empty()) break;
    rules::Output out;
    const int64_t now = clock_->NowMs();
    for (const auto& se : events) {
      out.Append(engine_->OnEvent(se.event, now));
      event_seq_ = se.seq;
    }
    replayed_events += static_cast<int64_t>(events.size());
    ApplyLocked(std::move(out));
    if (events.size() < static_cast<size_t>(kReplayBatch)) break;
  }
  while (true) {
    LINLI_ASSIGN_OR_RETURN(auto changes, store_->StatusChangesAfter(status_seq_, kReplayBatch));
    if (changes.empty()) break;
    rules::Output out;
    const int64_t now = clock_->NowMs();
    for (const auto& [id, c] : changes) {
      out.Append(engine_->OnStatus(c, now));
      status_seq_ = id;
    }
    replayed_status += static_cast<int64_t>(changes.size());
    ApplyLocked(std::move(out));
    if (changes.size() < static_cast<size_t>(kReplayBatch)) break;
  }
  // Save the positions now (nothing else may have been written).
  if (PositionsUnsavedLocked()) {
    store::IncidentWrite w;
    w.meta = CheckpointLocked();
    LINLI_RETURN_IF_ERROR(store_->ApplyIncidentWrite(w));
    saved_event_seq_ = event_seq_;
    saved_status_seq_ = status_seq_;
  }
  needs_rebuild_ = false;
  auto stats = engine_->Stats();
  log::Info("rules engine ready", {{"rules", std::to_string(stats.rules)},
                                   {"enabled", std::to_string(stats.enabled_rules)},
                                   {"refused", std::to_string(library_.errors().size())},
                                   {"state_entries", std::to_string(stats.state_entries)},
                                   {"replayed_events", std::to_string(replayed_events)},
                                   {"replayed_status_changes", std::to_string(replayed_status)}});
  return {};
}

std::vector<std::pair<std::string, std::string>> LinkageService::CheckpointLocked() {
  return {{kEventSeqKey, std::to_string(event_seq_)}, {kStatusSeqKey, std::to_string(status_seq_)}};
}

bool LinkageService::PositionsUnsavedLocked() const {
  return event_seq_ != saved_event_seq_ || status_seq_ != saved_status_seq_;
}

std::vector<std::pair<std::string, std::string>> LinkageService::CheckpointWithLocked(const rules::Output& out) {
  if (out.intents.empty() && !PositionsUnsavedLocked()) return {};
  return CheckpointLocked();
}

void LinkageService::CheckpointSavedLocked(int64_t now_ms) {
  saved_event_seq_ = event_seq_;
  saved_status_seq_ = status_seq_;
  last_checkpoint_ms_ = now_ms;
}

void LinkageService::CountFirings(const rules::Output& out) {
  std::string last_run;
  for (const auto& in : out.intents) {
    if (in.clear || in.run_id.empty() || in.run_id == last_run) continue;
    last_run = in.run_id;
    if (in.step != 0 || in.index != 0) continue;  // a run's first intent counts the firing
    auto& f = firings_[in.rule->id];
    ++f.first;
    f.second = in.ts_ms;
    firings_total_->Inc();
  }
}

void LinkageService::ApplyLocked(rules::Output out) {
  if (out.empty()) return;
  CountFirings(out);
  const auto meta = CheckpointWithLocked(out);
  auto applied = executor_->Apply(out, meta);
  if (!applied) {
    apply_failures_->Inc();
    log::Error("rule effects could not be stored; re-evaluating from the last saved position",
               {{"error", applied.error().ToString()}});
    needs_rebuild_ = true;
    return;
  }
  if (!meta.empty()) CheckpointSavedLocked(clock_->NowMs());
  FollowUpLocked(std::move(*applied), 0);
}

void LinkageService::FollowUpLocked(Applied applied, int depth) {
  if (applied.notifications_queued && notifier_ != nullptr) notifier_->Wake();
  if (applied.alarm_changes.empty() && applied.command_outcomes.empty()) return;
  if (depth >= 4) {
    log::Warn("rule chain stopped after 4 levels (alarm rules triggering alarm rules)");
    return;
  }
  const int64_t now = clock_->NowMs();
  rules::Output out;
  for (const auto& ch : applied.alarm_changes) out.Append(engine_->OnAlarm(ch, now));
  for (const auto& o : applied.command_outcomes) out.Append(engine_->OnCommandDone(o, now));
  if (out.empty()) return;
  CountFirings(out);
  auto next = executor_->Apply(out, {});
  if (!next) {
    apply_failures_->Inc();
    log::Error("follow-up rule effects could not be stored", {{"error", next.error().ToString()}});
    needs_rebuild_ = true;
    return;
  }
  FollowUpLocked(std::move(*next), depth + 1);
}

void LinkageService::OnCommitted(const std::vector<store::SequencedEvent>& events,
                                 const std::vector<model::TelemetryPoint>& telemetry,
                                 const std::vector<std::pair<int64_t, model::StatusChange>>& status,
                                 const std::vector<DeviceAck>& acks) {
  BeginIngest();
  Result<void> stored;
  if (const store::IncidentWrite* w = EvaluateIngest(events, telemetry, status, acks); w != nullptr) {
    auto r = store_->ApplyIncidentWrite(*w);
    if (!r) stored = std::unexpected(r.error());
  }
  EndIngest(true, stored);
}

void LinkageService::BeginIngest() { mu_.lock(); }

const store::IncidentWrite* LinkageService::EvaluateIngest(
    const std::vector<store::SequencedEvent>& events, const std::vector<model::TelemetryPoint>& telemetry,
    const std::vector<std::pair<int64_t, model::StatusChange>>& status, const std::vector<DeviceAck>& acks) {
  // mu_ is held (BeginIngest).
  if (ingest_pending_) executor_->FinishPending(false);  // Evaluate without End: forget the first
  ingest_pending_ = false;
  ingest_checkpoint_ = false;
  ingest_out_ = {};
  if (engine_ == nullptr || needs_rebuild_) return nullptr;  // the rebuild replays what was stored
  ingest_t0_ = clock_->Monotonic();
  const int64_t now = clock_->NowMs();
  executor_->BeginPending();
  ingest_pending_ = true;
  rules::Output out;
  if (!acks.empty()) {
    std::vector<std::pair<std::string, Json>> list;
    list.reserve(acks.size());
    for (const auto& a : acks) list.emplace_back(a.device_id, a.payload);
    auto outcomes = executor_->AckPending(list);
    if (!outcomes) {
      log::Warn("acknowledgements not recorded", {{"count", std::to_string(acks.size())}, {"error", outcomes.error().ToString()}});
    } else {
      for (const auto& o : *outcomes) out.Append(engine_->OnCommandDone(o, now));
    }
  }
  for (const auto& se : events) {
    out.Append(engine_->OnEvent(se.event, now));
    event_seq_ = std::max(event_seq_, se.seq);
  }
  for (const auto& p : telemetry) {
    if (!engine_->WantsMetric(p.metric)) continue;
    auto d = registry_->Device(p.device_id);
    if (!d) continue;
    out.Append(engine_->OnTelemetry(p, d->compound_id, now));
  }
  for (const auto& [id, c] : status) {
    out.Append(engine_->OnStatus(c, now));
    status_seq_ = std::max(status_seq_, id);
  }
  if (!out.empty()) {
    const auto meta = CheckpointWithLocked(out);
    if (auto r = executor_->ApplyPending(out, meta); !r) {
      apply_failures_->Inc();
      log::Error("rule effects could not be prepared; re-evaluating from the last saved position",
                 {{"error", r.error().ToString()}});
      needs_rebuild_ = true;
      executor_->FinishPending(false);
      ingest_pending_ = false;
      return nullptr;
    }
    ingest_checkpoint_ = !meta.empty();
  }
  ingest_out_ = std::move(out);
  return executor_->PendingWrite();
}

void LinkageService::EndIngest(bool committed, const Result<void>& effects) {
  // mu_ is held (BeginIngest); released at the end.
  if (ingest_pending_) {
    ingest_pending_ = false;
    const bool stored = committed && effects.has_value();
    Applied applied = executor_->FinishPending(stored);
    if (stored) {
      CountFirings(ingest_out_);
      if (ingest_checkpoint_) CheckpointSavedLocked(clock_->NowMs());
      FollowUpLocked(std::move(applied), 0);
    } else {
      // The engine ran ahead of the store: rebuild it from what was stored (the broker
      // redelivers a burst that was not).
      if (committed) {
        apply_failures_->Inc();
        log::Error("rule effects could not be stored; re-evaluating from the last saved position",
                   {{"error", effects.error().ToString()}});
      }
      needs_rebuild_ = true;
    }
    eval_seconds_->Observe(std::chrono::duration<double>(clock_->Monotonic() - ingest_t0_).count());
  }
  ingest_out_ = {};
  ingest_checkpoint_ = false;
  mu_.unlock();
}

void LinkageService::Tick() {
  std::lock_guard lock(mu_);
  if (engine_ == nullptr) return;
  if (needs_rebuild_) {
    auto r = RebuildLocked();
    if (!r) {
      log::Warn("rules engine rebuild failed; retrying", {{"error", r.error().ToString()}});
      return;
    }
  }
  const int64_t now = clock_->NowMs();
  ApplyLocked(engine_->Tick(now));
  auto applied = executor_->Tick();
  if (!applied) {
    log::Warn("incident timers failed", {{"error", applied.error().ToString()}});
  } else {
    FollowUpLocked(std::move(*applied), 0);
  }
  if (PositionsUnsavedLocked() && now - last_checkpoint_ms_ >= options_.checkpoint_interval_ms) {
    store::IncidentWrite w;
    w.meta = CheckpointLocked();
    if (store_->ApplyIncidentWrite(w)) CheckpointSavedLocked(now);
  }
}

// ---- rules ----

std::vector<RuleInfo> LinkageService::ListRules() {
  std::lock_guard lock(mu_);
  std::vector<RuleInfo> out;
  for (const auto& [id, e] : library_.rules()) {
    RuleInfo info{e, 0, 0};
    if (auto it = firings_.find(id); it != firings_.end()) {
      info.fired = it->second.first;
      info.last_fired_ms = it->second.second;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<rules::RuleError> LinkageService::RuleErrors() {
  std::lock_guard lock(mu_);
  return library_.errors();
}

Result<RuleInfo> LinkageService::GetRule(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = library_.rules().find(id);
  if (it == library_.rules().end()) return Fail(ErrorCode::kNotFound, "no such rule '" + id + "'");
  RuleInfo info{it->second, 0, 0};
  if (auto f = firings_.find(id); f != firings_.end()) {
    info.fired = f->second.first;
    info.last_fired_ms = f->second.second;
  }
  return info;
}

Result<RuleInfo> LinkageService::PutRule(const Json& source, bool must_be_new, const std::string& actor,
                                         const std::string& remote) {
  std::lock_guard lock(mu_);
  LINLI_ASSIGN_OR_RETURN(RuleEntry e, library_.Put(source, must_be_new));
  SetRulesLocked();
  (void)store_->AppendAudit({0, clock_->NowMs(), actor, must_be_new ? "rule.create" : "rule.update", "rule",
                             e.rule->id, "", remote, Json{{"file", e.file}}});
  return RuleInfo{e, 0, 0};
}

Result<RuleInfo> LinkageService::SetRuleEnabled(const std::string& id, bool enabled, const std::string& actor,
                                                const std::string& remote) {
  std::lock_guard lock(mu_);
  LINLI_ASSIGN_OR_RETURN(RuleEntry e, library_.SetEnabled(id, enabled));
  SetRulesLocked();
  (void)store_->AppendAudit({0, clock_->NowMs(), actor, enabled ? "rule.enable" : "rule.disable", "rule", id, "",
                             remote, Json::object()});
  return RuleInfo{e, 0, 0};
}

Result<void> LinkageService::DeleteRule(const std::string& id, const std::string& actor, const std::string& remote) {
  std::lock_guard lock(mu_);
  LINLI_RETURN_IF_ERROR(library_.Remove(id));
  SetRulesLocked();
  (void)store_->AppendAudit({0, clock_->NowMs(), actor, "rule.delete", "rule", id, "", remote, Json::object()});
  return {};
}

Result<void> LinkageService::Reload() {
  std::lock_guard lock(mu_);
  LINLI_RETURN_IF_ERROR(library_.Load());
  SetRulesLocked();
  return {};
}

// ---- incidents ----

Result<model::Alarm> LinkageService::RaiseAlarm(const ManualAlarm& m, const std::string& actor,
                                                const std::string& source, const std::string& remote) {
  std::lock_guard lock(mu_);
  LINLI_ASSIGN_OR_RETURN(auto r, executor_->RaiseAlarm(m, actor, source, remote));
  FollowUpLocked(std::move(r.second), 0);
  return std::move(r.first);
}

Result<model::Alarm> LinkageService::TransitionAlarm(const std::string& id, model::AlarmAction action,
                                                     const std::string& actor, const std::string& comment,
                                                     const Json& extra, const std::string& remote) {
  std::lock_guard lock(mu_);
  LINLI_ASSIGN_OR_RETURN(auto r, executor_->TransitionAlarm(id, action, actor, comment, extra, remote));
  FollowUpLocked(std::move(r.second), 0);
  return std::move(r.first);
}

Result<model::Alarm> LinkageService::CommentAlarm(const std::string& id, const std::string& actor,
                                                  const std::string& comment,
                                                  const std::vector<std::string>& attachments,
                                                  const std::string& remote) {
  std::lock_guard lock(mu_);
  return executor_->CommentAlarm(id, actor, comment, attachments, remote);
}

Result<model::WorkOrder> LinkageService::CreateWorkOrder(const NewWorkOrder& w, const std::string& actor,
                                                         const std::string& remote) {
  std::lock_guard lock(mu_);
  return executor_->CreateWorkOrder(w, actor, remote);
}

Result<model::WorkOrder> LinkageService::TransitionWorkOrder(const std::string& id, model::WorkOrderAction action,
                                                             const std::string& actor, const Json& body,
                                                             const std::string& remote) {
  std::lock_guard lock(mu_);
  return executor_->TransitionWorkOrder(id, action, actor, body, remote);
}

Result<model::WorkOrder> LinkageService::CommentWorkOrder(const std::string& id, const std::string& actor,
                                                          const std::string& comment,
                                                          const std::vector<std::string>& photos,
                                                          const std::string& remote) {
  std::lock_guard lock(mu_);
  return executor_->CommentWorkOrder(id, actor, comment, photos, remote);
}

Result<model::Command> LinkageService::SendCommand(const OperatorCommand& c, const std::string& actor,
                                                   const std::string& remote) {
  std::lock_guard lock(mu_);
  LINLI_ASSIGN_OR_RETURN(auto r, executor_->SendCommand(c, actor, remote));
  FollowUpLocked(std::move(r.second), 0);
  return std::move(r.first);
}

rules::EngineStats LinkageService::EngineStats() {
  std::lock_guard lock(mu_);
  return engine_ ? engine_->Stats() : rules::EngineStats{};
}

}  // namespace linli::incidents
