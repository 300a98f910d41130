#include "incidents/executor.h"

#include <gtest/gtest.h>

#include "incidents/incidents_test_util.h"

namespace linli::incidents {
namespace {

using testing::IncidentsFixture;

class ExecutorTest : public IncidentsFixture {};

TEST_F(ExecutorTest, OperatorCommandsAreCheckedTrackedAndAudited) {
  Executor ex(store_.get(), &cache_, &clock_, &publisher_, &feed_);
  OperatorCommand c;
  c.device_id = "door-1";
  c.name = "unlock";
  c.reason = "送医急救";
  auto sent = ex.SendCommand(c, "op", "10.0.0.5");
  ASSERT_TRUE(sent.has_value()) << sent.error().ToString();
  auto out = publisher_.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "linli/v1/c1/door-1/down/command");
  Json payload = Json::parse(out[0].second);
  EXPECT_EQ(payload["name"], "unlock");
  EXPECT_EQ(payload["cause"]["kind"], "operator");
  EXPECT_EQ(payload["cause"]["id"], "op");
  store::AuditQuery aq;
  aq.action = "command.send";
  auto audit = store_->ListAudit(aq);
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].remote, "10.0.0.5");

  c.name = "raise";  // a door does not take barrier commands
  EXPECT_EQ(ex.SendCommand(c, "op", "").error().code(), ErrorCode::kInvalidArgument);
  c.device_id = "nope";
  EXPECT_EQ(ex.SendCommand(c, "op", "").error().code(), ErrorCode::kNotFound);

  // Acknowledgements: the right device completes it once; others are refused.
  const std::string id = sent->first.id;
  EXPECT_EQ(ex.OnAck("door-2", Json{{"command_id", id}, {"ok", true}}).error().code(), ErrorCode::kPermissionDenied);
  auto done = ex.OnAck("door-1", Json{{"command_id", id}, {"ok", true}});
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(done->has_value());
  EXPECT_TRUE((*done)->ok);
  auto again = ex.OnAck("door-1", Json{{"command_id", id}, {"ok", true}});
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->has_value());  // duplicate
  EXPECT_EQ(store_->GetCommand(id)->state, model::CommandState::kAcked);
  EXPECT_EQ(ex.OnAck("door-1", Json{{"command_id", "unknown"}}).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ex.OnAck("door-1", Json::object()).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ExecutorTest, ACommandWhoseBrokerIsDownIsRetriedByTheTimer) {
  Executor ex(store_.get(), &cache_, &clock_, &publisher_, &feed_);
  publisher_.fail = true;
  OperatorCommand c;
  c.device_id = "siren";
  c.name = "alarm_on";
  c.timeout_ms = 1000;
  ASSERT_TRUE(ex.SendCommand(c, "op", "").has_value());
  EXPECT_TRUE(publisher_.Take().empty());
  publisher_.fail = false;
  clock_.AdvanceMs(1100);
  ASSERT_TRUE(ex.Tick().has_value());
  EXPECT_EQ(publisher_.Take().size(), 1u);
}

TEST_F(ExecutorTest, ManualAlarmsAndWorkOrdersKeepTheirHistory) {
  Executor ex(store_.get(), &cache_, &clock_, &publisher_, &feed_);
  ManualAlarm m;
  m.compound_id = "c1";
  m.type = "patrol";
  m.title = "巡逻发现消防通道堵塞";
  m.device_id = "door-1";
  auto raised = ex.RaiseAlarm(m, "guard1", "operator", "");
  ASSERT_TRUE(raised.has_value());
  EXPECT_EQ(raised->first.location, "1号楼 1单元 · door-1");
  ASSERT_EQ(raised->second.alarm_changes.size(), 1u);
  EXPECT_EQ(raised->second.alarm_changes[0].change, "raised");
  auto commented = ex.CommentAlarm(raised->first.id, "guard1", "已拍照", {"photo-1"}, "");
  ASSERT_TRUE(commented.has_value());
  EXPECT_EQ(commented->attachments, (std::vector<std::string>{"photo-1"}));
  NewWorkOrder w;
  w.compound_id = "c1";
  w.kind = "repair";
  w.title = "楼道灯坏";
  w.room_id = "r1";
  w.source = "resident";
  auto order = ex.CreateWorkOrder(w, "resident1", "");
  ASSERT_TRUE(order.has_value());
  EXPECT_EQ(ex.TransitionWorkOrder(order->id, model::WorkOrderAction::kAssign, "op", Json::object(), "").error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(ex.TransitionWorkOrder(order->id, model::WorkOrderAction::kAssign, "op", Json{{"assignee", "tech1"}}, ""));
  EXPECT_EQ(ex.TransitionWorkOrder(order->id, model::WorkOrderAction::kReopen, "op", Json::object(), "").error().code(),
            ErrorCode::kFailedPrecondition);
  auto log = store_->ListIncidentLog("work_order", order->id, 10);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[1].action, "assign");
  EXPECT_EQ((*log)[1].to_state, "assigned");
}

}  // namespace
}  // namespace linli::incidents
