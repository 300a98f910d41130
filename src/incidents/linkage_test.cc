// The linkage service in process: real SQLite store, built-in rules, simulated clock. The
// MQTT and HTTP ends are exercised by tests/integration.
#include "incidents/linkage.h"

#include <gtest/gtest.h>

#include "incidents/incidents_test_util.h"

namespace linli::incidents {
namespace {

using testing::IncidentsFixture;

class LinkageTest : public IncidentsFixture {
 protected:
  void SetUp() override {
    IncidentsFixture::SetUp();
    Start();
  }
  void Start() {
    LinkageOptions o;
    o.rules_dir = dir_.File("rules");
    service_ = std::make_unique<LinkageService>(store_.get(), &cache_, &clock_, o);
    service_->SetPublisher(&publisher_);
    service_->SetFeed(&feed_);
    auto r = service_->Start();
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  // Stores events as ingest does and hands them to the service.
  void Ingest(std::vector<model::Event> events) {
    store::IngestBatch b;
    b.events = events;
    auto w = store_->WriteBatch(b);
    ASSERT_TRUE(w.has_value()) << w.error().ToString();
    std::vector<store::SequencedEvent> seq;
    for (size_t i = 0; i < w->new_event_ids.size(); ++i) {
      for (const auto& e : events) {
        if (e.id == w->new_event_ids[i]) seq.push_back({w->new_event_seqs[i], e});
      }
    }
    service_->OnCommitted(seq, {}, {}, {});
  }
  // Stores events (and acknowledgements) as linlid's ingest does: the burst and the rules'
  // effects in one transaction. `commit_fails` makes the transaction fail after the engine
  // evaluated it (a full disk): nothing is stored and the broker would redeliver.
  Result<void> IngestFused(std::vector<model::Event> events, std::vector<DeviceAck> acks = {},
                           bool commit_fails = false) {
    store::IngestBatch b;
    b.events = events;
    service_->BeginIngest();
    if (commit_fails) {
      std::vector<store::SequencedEvent> seq;
      for (size_t i = 0; i < events.size(); ++i) seq.push_back({1'000'000 + static_cast<int64_t>(i), events[i]});
      (void)service_->EvaluateIngest(seq, {}, {}, acks);
      service_->EndIngest(false, {});
      return Fail(ErrorCode::kUnavailable, "disk full");
    }
    auto follow = [&](const store::IngestResult& w) -> const store::IncidentWrite* {
      std::vector<store::SequencedEvent> seq;
      for (size_t i = 0; i < w.new_event_ids.size(); ++i) {
        for (const auto& e : events) {
          if (e.id == w.new_event_ids[i]) seq.push_back({w.new_event_seqs[i], e});
        }
      }
      return service_->EvaluateIngest(seq, {}, {}, acks);
    };
    Result<void> effects;
    auto w = store_->WriteBatch(b, follow, &effects);
    service_->EndIngest(w.has_value(), effects);
    if (!w) return std::unexpected(w.error());
    return effects;
  }
  model::Event Ev(const std::string& id, const std::string& device, const std::string& type, Json data = Json::object()) {
    return model::Event{id, "c1", device, type, clock_.NowMs(), clock_.NowMs(), std::move(data)};
  }
  std::vector<model::Alarm> Alarms() {
    store::AlarmQuery q;
    q.limit = 100;
    auto page = store_->ListAlarms(q);
    EXPECT_TRUE(page.has_value());
    return page ? page->items : std::vector<model::Alarm>{};
  }
  std::vector<model::Command> Commands() {
    store::CommandQuery q;
    q.limit = 100;
    auto page = store_->ListCommands(q);
    return page ? page->items : std::vector<model::Command>{};
  }
  std::vector<model::Notification> Notifications() {
    auto n = store_->ListNotifications(0, 100, 0);
    return n ? *n : std::vector<model::Notification>{};
  }
  int LogCount(const std::string& alarm_id, const std::string& action) {
    auto log = store_->ListIncidentLog("alarm", alarm_id, 1000);
    int n = 0;
    for (const auto& e : *log) n += e.action == action ? 1 : 0;
    return n;
  }

  std::unique_ptr<LinkageService> service_;
};

TEST_F(LinkageTest, GasLeakUnlocksTheBuildingSoundsTheSirenAndRaisesAnAlarm) {
  Ingest({Ev("ev-1", "gas-1", "gas.leak", {{"ch4_ppm", 820}})});
  auto alarms = Alarms();
  ASSERT_EQ(alarms.size(), 1u);
  const model::Alarm& a = alarms[0];
  EXPECT_EQ(a.type, "gas_leak");
  EXPECT_EQ(a.level, model::AlarmLevel::kCritical);
  EXPECT_EQ(a.state, model::AlarmState::kRaised);
  EXPECT_EQ(a.title, "燃气泄漏：1号楼 gas-1");
  EXPECT_EQ(a.cause_event_id, "ev-1");
  EXPECT_EQ(a.building_id, "b1");
  EXPECT_EQ(a.next_escalation_ms, a.raised_ms + 120'000);
  EXPECT_EQ(a.data["person_ids"], Json::array({"p1"}));

  auto sent = publisher_.Take();
  std::set<std::string> topics;
  for (const auto& [topic, payload] : sent) {
    topics.insert(topic);
    Json j = Json::parse(payload);
    EXPECT_EQ(j["cause"]["kind"], "event");
    EXPECT_EQ(j["cause"]["id"], "ev-1");
    EXPECT_GT(j["expires"].get<int64_t>(), clock_.NowMs());
  }
  EXPECT_EQ(topics, (std::set<std::string>{"linli/v1/c1/door-1/down/command", "linli/v1/c1/door-2/down/command",
                                           "linli/v1/c1/siren/down/command"}));
  for (const auto& c : Commands()) {
    EXPECT_EQ(c.state, model::CommandState::kSent);
    EXPECT_EQ(c.alarm_id, a.id);
  }
  EXPECT_GE(feed_.Count("alarm"), 1);
  EXPECT_GE(feed_.Count("notification"), 1);

  // The same leak reported again merges into the open alarm.
  clock_.AdvanceMs(10'000);
  Ingest({Ev("ev-2", "gas-1", "gas.leak", {{"ch4_ppm", 900}})});
  alarms = Alarms();
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].count, 2);
  EXPECT_EQ(alarms[0].events, (std::vector<std::string>{"ev-1", "ev-2"}));
}

TEST_F(LinkageTest, UnacknowledgedAlarmEscalatesOnceAndAcknowledgedDoesNot) {
  Ingest({Ev("ev-1", "gas-1", "gas.leak", {{"ch4_ppm", 820}})});
  const std::string id = Alarms()[0].id;
  clock_.AdvanceMs(119'000);
  service_->Tick();
  EXPECT_EQ(LogCount(id, "escalate"), 0);
  clock_.AdvanceMs(2'000);
  service_->Tick();
  service_->Tick();
  EXPECT_EQ(LogCount(id, "escalate"), 1);
  auto a = store_->GetAlarm(id);
  EXPECT_EQ(a->escalation_step, 1);
  EXPECT_EQ(a->next_escalation_ms, 0);
  // The fire brigade's webhook got a notification.
  int fire = 0;
  for (const auto& n : Notifications()) fire += n.topic == "alarm.escalated" && n.target == "fire-c1" ? 1 : 0;
  EXPECT_EQ(fire, 1);

  // A second leak elsewhere, acknowledged in time: no escalation.
  Ingest({Ev("ev-9", "sos-1", "sos.pressed")});
  std::string sos_id;
  for (const auto& al : Alarms()) {
    if (al.type == "sos") sos_id = al.id;
  }
  ASSERT_FALSE(sos_id.empty());
  ASSERT_TRUE(service_->TransitionAlarm(sos_id, model::AlarmAction::kAcknowledge, "op", "on my way", Json::object(), "")
                  .has_value());
  clock_.AdvanceMs(300'000);
  service_->Tick();
  EXPECT_EQ(LogCount(sos_id, "escalate"), 0);
}

TEST_F(LinkageTest, RestartInTheMiddleOfAnEscalationNeitherLosesNorRepeatsIt) {
  Ingest({Ev("ev-1", "gas-1", "gas.leak", {{"ch4_ppm", 820}})});
  const std::string id = Alarms()[0].id;
  clock_.AdvanceMs(60'000);
  service_->Tick();
  service_.reset();  // linlid stops (or dies) one minute in
  clock_.AdvanceMs(90'000);
  Start();
  EXPECT_EQ(Alarms().size(), 1u);  // nothing replayed twice
  service_->Tick();
  EXPECT_EQ(LogCount(id, "escalate"), 1);
  service_.reset();
  Start();
  clock_.AdvanceMs(600'000);
  service_->Tick();
  EXPECT_EQ(LogCount(id, "escalate"), 1);
}

TEST_F(LinkageTest, EventsStoredButNotEvaluatedAreReplayedAtStart) {
  // A crash after ingest committed the event, before the engine acted on it.
  store::IngestBatch b;
  b.events = {Ev("ev-lost", "gas-1", "gas.leak", {{"ch4_ppm", 999}})};
  ASSERT_TRUE(store_->WriteBatch(b).has_value());
  service_.reset();
  Start();
  ASSERT_EQ(Alarms().size(), 1u);
  EXPECT_EQ(Alarms()[0].cause_event_id, "ev-lost");
  EXPECT_EQ(publisher_.Take().size(), 3u);
  service_.reset();
  Start();
  EXPECT_EQ(Alarms().size(), 1u);
  EXPECT_TRUE(publisher_.Take().empty());
}

TEST_F(LinkageTest, FusedIngestStoresAnEventWithItsEffectsAndActsAfterTheCommit) {
  ASSERT_TRUE(IngestFused({Ev("ev-f", "gas-1", "gas.leak", {{"ch4_ppm", 820}})}).has_value());
  ASSERT_EQ(Alarms().size(), 1u);
  auto cmds = Commands();
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(publisher_.Take().size(), 3u);
  // The replay position was saved with the effects: a restart repeats nothing.
  service_.reset();
  Start();
  EXPECT_TRUE(publisher_.Take().empty());
  EXPECT_EQ(Commands().size(), 3u);
  // Acknowledgements alone (an empty ingest batch) complete their commands.
  std::vector<DeviceAck> acks;
  for (const auto& c : cmds) acks.push_back({c.device_id, Json{{"command_id", c.id}, {"ok", true}}});
  ASSERT_TRUE(IngestFused({}, acks).has_value());
  for (const auto& c : Commands()) EXPECT_EQ(c.state, model::CommandState::kAcked) << c.device_id;
  EXPECT_EQ(LogCount(Alarms()[0].id, "command_acked"), 3);  // both doors and the siren
}

TEST_F(LinkageTest, AFailedIngestCommitActsOnceOnTheRedelivery) {
  // The engine evaluates the burst, then its transaction fails: nothing is published.
  EXPECT_FALSE(IngestFused({Ev("ev-r", "gas-1", "gas.leak", {{"ch4_ppm", 820}})}, {}, true).has_value());
  EXPECT_TRUE(publisher_.Take().empty());
  EXPECT_TRUE(Alarms().empty());
  // The broker redelivers the burst; the engine, rebuilt from the store, acts on it once.
  ASSERT_TRUE(IngestFused({Ev("ev-r", "gas-1", "gas.leak", {{"ch4_ppm", 820}})}).has_value());
  service_->Tick();
  service_->Tick();
  EXPECT_EQ(Alarms().size(), 1u);
  EXPECT_EQ(Commands().size(), 3u);
  EXPECT_EQ(publisher_.Take().size(), 3u);
  EXPECT_EQ(Alarms()[0].cause_event_id, "ev-r");
}

TEST_F(LinkageTest, EffectsRefusedByTheStoreAreReEvaluatedFromTheStoredEvent) {
  // The batch was stored but its effects were not (WriteBatch wrote it alone): nothing acts,
  // the engine is rebuilt and replays the stored event once.
  store::IngestBatch b;
  b.events = {Ev("ev-x", "gas-1", "gas.leak", {{"ch4_ppm", 820}})};
  service_->BeginIngest();
  auto follow = [&](const store::IngestResult& w) -> const store::IncidentWrite* {
    (void)service_->EvaluateIngest({{w.new_event_seqs.at(0), b.events[0]}}, {}, {}, {});
    return nullptr;  // as if the write had been refused
  };
  Result<void> effects;
  ASSERT_TRUE(store_->WriteBatch(b, follow, &effects).has_value());
  service_->EndIngest(true, Fail(ErrorCode::kInvalidArgument, "refused", "alarms[0].title"));
  EXPECT_TRUE(publisher_.Take().empty());
  EXPECT_TRUE(Alarms().empty());
  service_->Tick();
  EXPECT_EQ(Alarms().size(), 1u);
  EXPECT_EQ(publisher_.Take().size(), 3u);
  service_->Tick();
  EXPECT_TRUE(publisher_.Take().empty());
}

TEST_F(LinkageTest, ADeviceThatNeverAcknowledgesIsRetriedThenFailed) {
  Ingest({Ev("ev-1", "gas-1", "gas.leak", {{"ch4_ppm", 820}})});
  publisher_.Take();
  const std::string alarm = Alarms()[0].id;
  // door-1 acknowledges, door-2 never does.
  std::string door1_cmd;
  for (const auto& c : Commands()) {
    if (c.device_id == "door-1") door1_cmd = c.id;
  }
  service_->OnCommitted({}, {}, {}, {{"door-1", Json{{"command_id", door1_cmd}, {"ok", true}}}});
  // Acks for other devices' commands are refused.
  service_->OnCommitted({}, {}, {}, {{"door-3", Json{{"command_id", door1_cmd}, {"ok", false}}}});
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceMs(5'100);
    service_->Tick();
  }
  int retries = 0;
  for (const auto& [topic, payload] : publisher_.Take()) retries += topic.find("door-2") != std::string::npos ? 1 : 0;
  EXPECT_EQ(retries, 2);  // retries: 2 → three attempts in all
  for (const auto& c : Commands()) {
    if (c.device_id == "door-1") {
      EXPECT_EQ(c.state, model::CommandState::kAcked);
    }
    if (c.device_id == "door-2") {
      EXPECT_TRUE(c.state == model::CommandState::kFailed || c.state == model::CommandState::kExpired);
      EXPECT_EQ(c.attempts, 3);
      EXPECT_FALSE(c.error.empty());
    }
  }
  EXPECT_GE(LogCount(alarm, "command_failed"), 1);
  EXPECT_EQ(LogCount(alarm, "command_acked"), 1);
}

TEST_F(LinkageTest, OfflineDeviceGetsAMaintenanceOrderClosedWhenItReturns) {
  auto status = [&](const std::string& dev, model::Presence p) {
    store::IngestBatch b;
    b.status_changes = {{dev, "c1", p, clock_.NowMs(), "test"}};
    auto w = store_->WriteBatch(b);
    ASSERT_TRUE(w.has_value());
    service_->OnCommitted({}, {}, {{w->status_change_ids[0], b.status_changes[0]}}, {});
  };
  status("door-3", model::Presence::kOffline);
  clock_.AdvanceMs(10 * 60'000 + 1000);
  service_->Tick();
  store::WorkOrderQuery q;
  auto page = store_->ListWorkOrders(q);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].kind, "maintenance");
  EXPECT_EQ(page->items[0].device_id, "door-3");
  EXPECT_EQ(page->items[0].assignee_role, "technician");
  EXPECT_EQ(page->items[0].state, model::WorkOrderState::kOpen);
  clock_.AdvanceMs(30'000);
  status("door-3", model::Presence::kOnline);
  page = store_->ListWorkOrders(q);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].state, model::WorkOrderState::kClosed);
  EXPECT_NE(page->items[0].result.find("closed automatically"), std::string::npos);
}

TEST_F(LinkageTest, OperatorsWorkAnAlarmToACloseAndStatisticsFollow) {
  Ingest({Ev("ev-1", "sos-1", "sos.pressed")});
  const std::string id = Alarms()[0].id;
  auto illegal = service_->TransitionAlarm(id, model::AlarmAction::kClose, "op", "", Json::object(), "");
  ASSERT_FALSE(illegal.has_value());
  EXPECT_EQ(illegal.error().code(), ErrorCode::kFailedPrecondition);
  clock_.AdvanceMs(30'000);
  ASSERT_TRUE(service_->TransitionAlarm(id, model::AlarmAction::kAcknowledge, "op", "", Json::object(), ""));
  auto dispatched = service_->TransitionAlarm(id, model::AlarmAction::kDispatch, "op", "派维修工",
                                              Json{{"assignee", "tech1"}}, "");
  ASSERT_TRUE(dispatched.has_value());
  ASSERT_FALSE(dispatched->work_order_id.empty());
  auto wo = store_->GetWorkOrder(dispatched->work_order_id);
  EXPECT_EQ(wo->assignee, "tech1");
  EXPECT_EQ(wo->state, model::WorkOrderState::kAssigned);
  ASSERT_TRUE(service_->TransitionWorkOrder(wo->id, model::WorkOrderAction::kStart, "tech1", Json::object(), ""));
  EXPECT_FALSE(service_->TransitionWorkOrder(wo->id, model::WorkOrderAction::kComplete, "tech1", Json::object(), "")
                   .has_value());  // a result is required
  ASSERT_TRUE(service_->TransitionWorkOrder(wo->id, model::WorkOrderAction::kComplete, "tech1",
                                            Json{{"result", "老人摔倒，已送医"}}, ""));
  clock_.AdvanceMs(60'000);
  ASSERT_TRUE(service_->TransitionAlarm(id, model::AlarmAction::kResolve, "op", "已处置", Json::object(), ""));
  ASSERT_TRUE(service_->TransitionAlarm(id, model::AlarmAction::kClose, "op", "闭环", Json::object(), ""));
  auto a = store_->GetAlarm(id);
  EXPECT_EQ(a->state, model::AlarmState::kClosed);
  EXPECT_EQ(a->acknowledged_by, "op");
  auto log = store_->ListIncidentLog("alarm", id, 100);
  std::vector<std::string> actions;
  for (const auto& e : *log) actions.push_back(e.action);
  EXPECT_EQ(actions.front(), "raise");
  EXPECT_NE(std::find(actions.begin(), actions.end(), "work_order_done"), actions.end());
  EXPECT_EQ(actions.back(), "close");

  store::StatsQuery sq;
  sq.now_ms = clock_.NowMs();
  auto stats = store_->AlarmStatistics(sq);
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].raised, 1);
  EXPECT_EQ((*stats)[0].closed, 1);
  EXPECT_DOUBLE_EQ((*stats)[0].mean_ack_s, 30.0);
  EXPECT_DOUBLE_EQ((*stats)[0].mean_close_s, 90.0);
}

TEST_F(LinkageTest, RulesAreManagedAndABadRuleIsRefused) {
  size_t builtin = service_->ListRules().size();
  EXPECT_GE(builtin, 10u);
  EXPECT_TRUE(service_->RuleErrors().empty());
  Json rule = {{"id", "water-alarm"},
               {"trigger", {{"event", "water.leak"}}},
               {"actions", Json::array({Json{{"alarm", {{"type", "water_leak"}}}}})}};
  ASSERT_TRUE(service_->PutRule(rule, true, "admin", "").has_value());
  EXPECT_EQ(service_->ListRules().size(), builtin + 1);
  EXPECT_EQ(service_->PutRule(rule, true, "admin", "").error().code(), ErrorCode::kConflict);
  Json bad = rule;
  bad["actions"][0]["alarm"]["level"] = "purple";
  auto refused = service_->PutRule(bad, false, "admin", "");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  Ingest({Ev("w1", "gas-1", "water.leak")});
  EXPECT_EQ(Alarms().size(), 1u);
  ASSERT_TRUE(service_->SetRuleEnabled("water-alarm", false, "admin", "").has_value());
  EXPECT_FALSE(service_->GetRule("water-alarm")->entry.rule->enabled);
  clock_.AdvanceMs(10'000);
  Ingest({Ev("w2", "gas-1", "water.leak")});
  EXPECT_EQ(Alarms()[0].count, 1);  // disabled: no merge
  ASSERT_TRUE(service_->DeleteRule("water-alarm", "admin", "").has_value());
  EXPECT_EQ(service_->GetRule("water-alarm").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace linli::incidents
